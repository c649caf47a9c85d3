"""A downstream reader's view of a job file: h5py for the raw layout, xarray
(h5netcdf engine) for named dimensions and datetime64 time. Also checks the
end-to-end workload: CPU time against /usr/bin/time (5 %), bytes written
against dd (1 %).

usage: consumer_check.py JOB.h5 WORK_DIR RANKS DD_MIB
"""
import pathlib
import sys

import h5py
import numpy as np
import xarray as xr

path, work, ranks, dd_mib = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

# HDF5 1.10's format (superblock version 3), whose metadata carries checksums.
with open(path, "rb") as raw:
    signature = raw.read(9)
assert signature[:8] == b"\x89HDF\r\n\x1a\n" and signature[8] == 3, signature
with h5py.File(path, "r") as f:
    assert f.attrs["file_kind"] == "jobperf-job"
    assert f.attrs["schema_version"] == 8
    assert f.attrs["n_ranks"] == ranks and f.attrs["status"] == "complete", (f.attrs["n_ranks"], f.attrs["problems"])
    assert f.attrs["exit_status"] == 0 and f.attrs["job_name"] == "pipeline"
    cpu = f["ranks/cpu_utilization"]
    assert cpu.attrs["units"] == "cores" and "rate(cpu_user)" in cpu.attrs["formula"]
    job_cpu = f["summary/job/cpu_utilization"][3]
    rank_cpu = f["summary/ranks/cpu_utilization"][:, 3]
    written = f["summary/ranks/write_call_bandwidth"][:, 3]
    assert list(f["ranks/exit_status"][:]) == [0] * ranks

timed = [sum(map(float, (work / f"time.{r}").read_text().split())) for r in range(ranks)]
print(f"CPU seconds per rank: jobperf {np.round(rank_cpu, 3)}, /usr/bin/time {timed}")
assert abs(job_cpu - sum(timed)) <= 0.05 * sum(timed), (job_cpu, sum(timed))
for got, want in zip(rank_cpu, timed):
    assert abs(got - want) <= max(0.05 * want, 0.03), (got, want)
want_bytes = dd_mib * 2**20
print(f"bytes written per rank: {written} (dd wrote {want_bytes})")
assert all(abs(w - want_bytes) <= 0.01 * want_bytes for w in written), written

ds = xr.open_dataset(path, engine="h5netcdf", group="ranks")
assert ds.cpu_utilization.dims == ("rank", "time")
assert np.issubdtype(ds.time.dtype, np.datetime64)
assert list(ds["rank"].values) == list(range(ranks))
assert ds.cpu_utilization.attrs["units"] == "cores"
frame = ds.cpu_utilization.to_dataframe()
assert len(frame) == ranks * ds.sizes["time"]
# The time integral of the rates equals the summary's sum.
integral = float(ds.cpu_utilization.sum(skipna=True)) * float(ds.time.attrs["interval_s"])
assert abs(integral - job_cpu) < 1e-6 * max(job_cpu, 1), (integral, job_cpu)
nodes = xr.open_dataset(path, engine="h5netcdf", group="nodes")
assert "cpu_busy" in nodes and nodes.cpu_busy.dims == ("node", "time")
summary = xr.open_dataset(path, engine="h5netcdf", group="summary/ranks")
assert [s.decode() if isinstance(s, bytes) else s for s in summary.stat.values] == ["min", "mean", "max", "sum", "last", "std"]
# The raw samples: (rank, sample), padded after each row's count; the last
# cumulative CPU time of a rank is what its binned rates add up to.
raw = xr.open_dataset(path, engine="h5netcdf", group="samples/procfs.process")
assert raw.cpu_user.dims == ("rank", "sample") and np.issubdtype(raw.time.dtype, np.datetime64)
for r in range(ranks):
    n = int(raw["count"].values[r])
    row = raw.isel(rank=r, sample=slice(0, n))
    assert not row.time.isnull().any() and raw.time.isel(rank=r, sample=slice(n, None)).isnull().all()
    last_cpu = float(row.cpu_user[-1] + row.cpu_system[-1]) / 1e9
    assert abs(last_cpu - rank_cpu[r]) <= 1e-6 * max(last_cpu, 1), (r, last_cpu, rank_cpu[r])
print("consumer: h5py and xarray views agree with the workload")
