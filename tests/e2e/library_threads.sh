#!/usr/bin/env bash
# Libraries the collector loads start threads of their own: NVML in nvmlInit,
# MPI in MPI_Init. The kernel gives a process-wide signal to any thread that
# does not block it, and the collector's event loop reads its signals from a
# signalfd, which sees only signals that every thread blocks. On an H100 the
# driver's NVML threads took SIGCHLD, and the wrapper never saw its command
# end. The fake NVML starts such a thread, as the driver's does.
source "$(dirname "$0")/lib.sh"
export JOBPERF_NVML_LIBRARY=${JOBPERF_FAKE_NVML:?set JOBPERF_FAKE_NVML to the fake libnvidia-ml}

# 1. The wrapper returns when its command ends, with the command's status, and the GPUs were sampled.
expect_status 3 "the wrapper sees its command end" timeout 60 \
  "$bin/jobperf-collect" --quiet --job-id threads1 --interval 0.1 -- sh -c 'sleep 0.5; exit 3'
"${mpirun[@]}" -np 1 "$bin/jobperf-reduce" --quiet --job-id threads1 -o "$work/threads1.h5"
"$python" - "$work/threads1.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1])
assert f["gpus/gpu_utilization"].shape[0] == 2, f["gpus/gpu_utilization"].shape
print("ok: the fake NVML's two GPUs were sampled")
PY

# 2. A sidecar ends cleanly on --stop: its SIGTERM reaches the event loop, not NVML's thread.
sidecar_stops_cleanly threads2
echo "library_threads: all checks passed"
