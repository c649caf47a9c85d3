#!/usr/bin/env bash
# /ranks and the process sources' /samples in chunks of many rows where every
# reducer rank holds whole aligned blocks of them (ranks placed on their nodes
# in blocks, as Slurm does), one row where it does not, or where the job is
# reduced in several windows; the same data whatever the chunks. The writer
# refuses rows that split a chunk, so a reduce that cut its groups across
# chunks would fail here.
source "$(dirname "$0")/lib.sh"

"$bin/jobperf-test-make-streams" --dir "$work/blocks" --ranks 256 --hosts 4 --block 1 --samples 60 \
  --job-id blocks >/dev/null
reduce() {  # NAME NP [options]: reduces the streams into NAME.h5
  local name=$1 np=$2
  shift 2
  expect_status 0 "reduce at np $np $*" "${mpirun[@]}" -np "$np" "$bin/jobperf-reduce" --quiet --timing --threads 1 \
    -o "$work/$name.h5" "$@" "$work/blocks"
  grep -o "[0-9]* window(s) of [0-9]* group(s)" "$work/last.out"
}
reduce np1 1 --window 0.05  # one window, groups of 128 rows: 61 samples a row, 128 x 61 < 8192
reduce np2 2
reduce np3 3
reduce np4 4
reduce windows 2 --window 0.001
"$python" - "$work" <<'PY'
import sys
import h5py
work = sys.argv[1]
def chunk_rows(name):
    with h5py.File(f"{work}/{name}.h5") as f:
        series = f["ranks/cpu_utilization"].chunks[0]
        assert f["samples/procfs.process/cpu_user"].chunks[0] == series, name
        assert f["nodes/cpu_busy"].chunks[0] == 1, name
        return series
# np 3: thirds of 256 rows are not blocks of 64; the reducer ranks' runs
# start at rows 80 and 168 instead of 84 and 170 (a node leader's stream is
# larger), blocks of 8, within a 16th of a third of the bytes.
want = {"np1": 128, "np2": 128, "np3": 8, "np4": 64, "windows": 1}
got = {name: chunk_rows(name) for name in ("np1", "np2", "np3", "np4", "windows")}
assert got == want, got
print("ok: rows per chunk", got)
PY
for name in np2 np3 np4 windows; do
  expect_status 0 "$name holds the same data as np1" "$python" "$tests/mpi/same_job_file.py" "$work/$name.h5" "$work/np1.h5"
done
echo "chunks: all checks passed"
