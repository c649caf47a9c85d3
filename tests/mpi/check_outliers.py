"""Checks /outliers of a job reduced from jobperf-test-make-streams --imbalance
--stall: the slow rank and the stalled node's window, and nothing else."""
import sys

import h5py
import numpy as np

path, slow_rank, stalled_host, first, last = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
f = h5py.File(path, "r")
o = f["outliers"]
kinds = list(o["kind"].asstr()[:])
rows = list(zip(kinds, o["rank"][:], o["host"].asstr()[:], o["metric"].asstr()[:]))
assert ("rank", slow_rank) in [(k, r) for k, r, _, m in rows if m == "cpu_utilization"], rows
stalls = [i for i, k in enumerate(kinds) if k == "stall"]
assert len(stalls) == 1 and o["host"].asstr()[stalls[0]] == stalled_host, rows
start = f.attrs["start_time_ns"]
window = ((o["start_time"][stalls[0]] - start) / 1e9, (o["end_time"][stalls[0]] - start) / 1e9)
assert np.allclose(window, (first, last)), window
assert len(rows) == 2, rows  # nothing else stands out
for reason in o["reason"].asstr()[:]:
    print("ok:", reason)
