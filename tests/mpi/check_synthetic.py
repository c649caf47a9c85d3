"""Checks a job file reduced from jobperf-test-make-streams output: shapes,
dimension scales, and the values the generator put in (exactly)."""
import sys

import h5py
import numpy as np

path, ranks, hosts, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
f = h5py.File(path, "r")
bins = f["ranks/time"].shape[0]
assert samples <= bins <= samples + 1, (bins, samples)
assert f.attrs["n_ranks"] == ranks and f.attrs["n_nodes"] == hosts
assert f.attrs["status"] == "complete", f.attrs["problems"]
assert list(f["ranks/rank"][:]) == list(range(ranks))
cpu = f["ranks/cpu_utilization"]
assert cpu.shape == (ranks, bins), cpu.shape
assert f["nodes/net_rx_bandwidth"].shape == (hosts, bins)
assert f["summary/ranks/cpu_utilization"].shape == (ranks, 6)
assert f["summary/job/cpu_utilization"].shape == (8,)
assert f["summary/nodes/net_rx_bandwidth"].shape == (hosts, 6)
assert f["summary/job_nodes/net_rx_bandwidth"].shape == (8,)
assert f["summary/time/cpu_utilization"].shape == (bins, 5)
for r in range(ranks):
    row = cpu[r, :samples]
    assert np.allclose(row, (r + 1) / 10, rtol=1e-9), (r, row[:5])
    assert f["ranks/host"][r].decode() == f"node{r % hosts}"
    assert np.allclose(f["ranks/write_call_bandwidth"][r, :samples], 2**20)
    assert np.allclose(f["summary/ranks/rss"][r, 2], (r + 1) * 2**20)
assert np.allclose(f["nodes/net_rx_bandwidth"][:, :samples], 1e9)
total_cpu = sum((r + 1) / 10 for r in range(ranks)) * samples
assert np.isclose(f["summary/job/cpu_utilization"][3], total_cpu, rtol=1e-9), f["summary/job/cpu_utilization"][:]
job = dict(zip(f["summary/job/stat"].asstr()[:], f["summary/job/cpu_utilization"][:]))
assert job["lowest_rank"] == 0 and job["highest_rank"] == ranks - 1, job  # rank r uses (r + 1) / 10 cores
values = [(r + 1) / 10 for r in range(ranks)]
assert np.isclose(job["std"], np.std(values), rtol=1e-9), job
assert np.allclose(f["summary/ranks/cpu_utilization"][:, 5], 0, atol=1e-12)  # constant per rank
steps = dict(zip(f["summary/time/stat"].asstr()[:], f["summary/time/cpu_utilization"][:samples].T))
assert np.allclose(steps["total"], sum(values), rtol=1e-9) and np.allclose(steps["max"], values[-1])
assert f["outliers/kind"].shape == (0,), f["outliers/reason"][:]  # an even spread: nothing stands out
raw = f["samples/procfs.process"]  # the samples before binning, (rank, sample): every rank's, exactly as generated
assert raw["time"].shape == (ranks, samples + 1) and list(raw["count"][:]) == [samples + 1] * ranks
assert list(raw["rank"][:]) == list(range(ranks))
for r in range(ranks):
    assert np.allclose(np.diff(raw["cpu_user"][r]), (r + 1) * 1e8), r  # (r+1)/10 core for 1 s, in ns
assert np.all(np.diff(raw["time"][0]) == 10**9)
node_raw = f["samples/procfs.node"]
assert [n.decode() for n in node_raw["node"][:]] == [f"node{h}" for h in range(hosts)]
assert node_raw["time"].shape[0] == hosts and np.all(node_raw["count"][:] == samples + 1)
clock = f["clock"]
assert clock.attrs["method"] in ("reduce", "single-host"), clock.attrs["method"]
assert [n.decode() for n in clock["node"][:]] == [f"node{h}" for h in range(hosts)]
print(f"ok: {ranks} ranks x {bins} bins on {hosts} nodes, job CPU {total_cpu:.3f} s")
