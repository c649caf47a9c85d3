#!/usr/bin/env bash
# Sidecar mode: the collector runs beside the job, finds its processes by
# environment (as it would by SLURM_JOB_ID), records their MPI ranks, stops
# by itself when they are gone, or when told with --stop.
source "$(dirname "$0")/lib.sh"

# 1. Discovery by environment; the collector stops when the job's processes are gone.
"$bin/jobperf-collect" --quiet --job-id side1 --match-env JOBPERF_TEST_JOB=side1 --interval 0.1 &
collector=$!
sleep 0.3
for rank in 0 1; do
  env JOBPERF_TEST_JOB=side1 OMPI_COMM_WORLD_RANK=$rank sh -c 'stress-ng --cpu 1 --cpu-ops 400 --quiet' &
done
env JOBPERF_TEST_JOB=other OMPI_COMM_WORLD_RANK=7 sh -c 'sleep 1' &  # another job: must not be watched
wait "$collector" || fail "the sidecar exited with $?"
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet --job-id side1 -o "$work/side1.h5"
"$python" - "$work/side1.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1])
assert f.attrs["collection_mode"] == "sidecar", f.attrs["collection_mode"]
assert list(f["ranks/rank"][:]) == [0, 1], f["ranks/rank"][:]
cpu = f["summary/ranks/cpu_utilization"][:, 3]
assert all(c > 0.15 for c in cpu), cpu  # 400 cpu ops: about 0.25 s of CPU, however busy
assert f["nodes/node"].shape == (1,)
command = f.attrs["command"]  # rank 0's first process: the sh, or the stress-ng it became
assert "stress-ng --cpu 1 --cpu-ops 400" in command, command
print("ok: sidecar found ranks 0 and 1 by environment, CPU seconds", cpu, "command", command)
PY
"$bin/jobperf-report" "$work/side1.h5" -o "$work/side1.html" >/dev/null
grep -q "exit status</td><td[^>]*>not seen (a sidecar is not the ranks' parent: exit records" "$work/side1.html" ||
  fail "the report should say that a sidecar sees no exit status, not print -1"
# The same streams in windows of 16 bins (processes start, are reaped by their
# parents and end between windows) give the same job file as in one window,
# also when the node's one stream holds rows of two groups and each group is
# written on a thread of its own while the next is read (--threads 2).
"${mpirun[@]}" -np 1 "$bin/jobperf-reduce" --quiet --bin 0.01 -o "$work/side1-whole.h5" "$JOBPERF_SCRATCH/jobperf/side1"
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --timing --threads 2 --bin 0.01 --window 0.00001 -o "$work/side1-windows.h5" \
  "$JOBPERF_SCRATCH/jobperf/side1" | tee "$work/side1-windows.txt"
grep -Eq " ([3-9]|[1-9][0-9]+) window\(s\) of [2-9] group\(s\); 2 thread\(s\), writes overlapped" \
  "$work/side1-windows.txt" || fail "expected several windows of several groups, writes overlapped"
"$python" "$tests/mpi/same_job_file.py" "$work/side1-windows.h5" "$work/side1-whole.h5"

# 2. With exit records on (a job script's eval), the ranks' exit statuses, which
#    a sidecar cannot see (it is not their parent), come from their records:
#    rank 1's top process, the sh, exits 3 after its child sleep exits 0.
(
  "$bin/jobperf-collect" --quiet --job-id side3 --match-env JOBPERF_TEST_JOB=side3 --interval 0.1 &
  sleep 0.3
  eval "$("$bin/jobperf-collect" --env --job-id side3)"
  env JOBPERF_TEST_JOB=side3 OMPI_COMM_WORLD_RANK=0 sh -c 'sleep 0.3' &
  env JOBPERF_TEST_JOB=side3 OMPI_COMM_WORLD_RANK=1 sh -c 'sleep 0.3; exit 3' &
  wait
)
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet --job-id side3 -o "$work/side3.h5"
"$python" - "$work/side3.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1])
assert f.attrs["collection_mode"] == "preload,sidecar", f.attrs["collection_mode"]
assert list(f["ranks/exit_status"][:]) == [0, 3], f["ranks/exit_status"][:]
assert f.attrs["exit_status"] == 3, f.attrs["exit_status"]
print("ok: a sidecar's job file has the ranks' exit statuses from their exit records")
PY

# 3. Discovery by pid; jobperf-collect --stop ends the sidecar cleanly.
sidecar_stops_cleanly side2
expect_status 1 "--stop with no sidecar running" "$bin/jobperf-collect" --stop --job-id side2
expect_message "no running sidecar" "--stop says there is nothing to stop"
echo "sidecar: all checks passed"
