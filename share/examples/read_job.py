#!/usr/bin/env python3
"""Reading a jobperf job file downstream: h5py for attributes and summaries,
xarray for labelled time series, pandas for tables.

usage: read_job.py job.h5
"""
import sys

import h5py
import xarray as xr

path = sys.argv[1]
with h5py.File(path, "r") as f:
    print(f"job {f.attrs['job_id']} ({f.attrs['job_name']}): {f.attrs['n_ranks']} ranks on "
          f"{f.attrs['n_nodes']} node(s), {f.attrs['duration_s']:.1f} s, status {f.attrs['status']}")
    stats = list(f["summary/job/stat"].asstr()[:])
    for metric in ["cpu_utilization", "write_call_bandwidth", "rss"]:
        values = dict(zip(stats, f[f"summary/job/{metric}"][:]))
        print(f"  {metric} [{f['summary/job'][metric].attrs['units']}]: {values}")

ranks = xr.open_dataset(path, engine="h5netcdf", group="ranks")
print(ranks.cpu_utilization.mean("time").to_series().rename("mean cores per rank"))
print(ranks[["cpu_utilization", "rss"]].to_dataframe().head())
