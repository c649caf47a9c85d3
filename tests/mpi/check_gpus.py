# The per-GPU rows of a job file from jobperf-test-make-streams --gpus G:
# GPU g of each host busy 10·(g+1) % and drawing 100+g W, the node's row
# their sum; the raw samples GPU by GPU; named (gpu, time) dimensions through xarray.
#   python3 check_gpus.py JOB.h5 HOSTS GPUS
import sys

import h5py
import numpy as np
import xarray as xr

path, hosts, gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
f = h5py.File(path, "r")
g = f["gpus"]
assert g["host"].shape == (hosts * gpus,), g["host"].shape
assert [h.decode() for h in g["host"][:]] == [f"node{h}" for h in range(hosts) for _ in range(gpus)]
assert list(g["index"][:]) == list(range(gpus)) * hosts, g["index"][:]
for row in range(hosts * gpus):
    index = row % gpus
    assert np.allclose(g["gpu_utilization"][row], 10.0 * (index + 1)), (row, g["gpu_utilization"][row])
    assert np.allclose(g["gpu_power"][row], 100.0 + index), (row, g["gpu_power"][row])
    assert f["summary/gpus/gpu_power"][row, 1] == 100.0 + index  # mean
for node in range(hosts):
    assert np.allclose(f["nodes/gpu_power"][node], sum(100.0 + i for i in range(gpus)))
assert g["gpu_power"].attrs["units"] == "W"
# The raw samples, GPU by GPU, beside the node's totals.
raw, totals = f["samples/nvidia_gpu.gpus"], f["samples/nvidia_gpu"]
assert [h.decode() for h in raw["host"][:]] == [h.decode() for h in g["host"][:]]
assert list(raw["index"][:]) == list(g["index"][:])
samples = int(totals["count"][0])
assert samples > 0 and list(raw["count"][:]) == [samples] * (hosts * gpus), (samples, raw["count"][:])
for row in range(hosts * gpus):
    assert np.all(raw["utilization"][row, :samples] == 10.0 * (row % gpus + 1)), (row, raw["utilization"][row])
    assert np.all(raw["power"][row, :samples] == 100.0 + row % gpus), (row, raw["power"][row])
    assert np.array_equal(raw["time"][row, :samples], totals["time"][row // gpus, :samples])
assert np.all(totals["power"][0, :samples] == sum(100.0 + i for i in range(gpus)))
ds = xr.open_dataset(path, group="samples/nvidia_gpu.gpus", engine="h5netcdf")
assert ds["power"].dims == ("gpu", "sample"), ds["power"].dims
ds = xr.open_dataset(path, group="gpus", engine="h5netcdf")
assert ds["gpu_power"].dims == ("gpu", "time"), ds["gpu_power"].dims
assert np.issubdtype(ds["time"].dtype, np.datetime64)
print(f"ok: {hosts * gpus} GPU rows, utilisation and power per GPU, node sums, raw samples per GPU")
