#!/usr/bin/env bash
# jobperf-export: CSV files and a JSON document that say what the job file
# says (checked value by value with h5py), and clear errors on bad input.
source "$(dirname "$0")/lib.sh"

"$bin/jobperf-test-make-streams" --dir "$work/streams" --ranks 8 --hosts 4 --samples 60 --job-id exp \
  --imbalance 5 --stall 2:20:30
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet -o "$work/exp.h5" "$work/streams"
expect_status 0 "--csv writes the tables" "$bin/jobperf-export" "$work/exp.h5" --csv "$work/csv"
expect_status 0 "--json writes one document" "$bin/jobperf-export" "$work/exp.h5" --json "$work/exp.json"
"$python" - "$work/exp.h5" "$work/csv" "$work/exp.json" <<'PY'
import csv, json, math, sys
import h5py, numpy as np
h5, d, js = h5py.File(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))
rows = list(csv.DictReader(open(f"{d}/ranks.csv")))
assert [int(r["rank"]) for r in rows] == list(range(8))
got = [float(r["cpu_utilization.sum [core-s]"]) for r in rows]
assert np.allclose(got, h5["summary/ranks/cpu_utilization"][:, 3]), got
series = list(csv.DictReader(open(f"{d}/ranks_series.csv")))
assert len(series) == 8 * h5["ranks/time"].shape[0]
assert math.isclose(float(series[0]["cpu_utilization [cores]"]), h5["ranks/cpu_utilization"][0, 0])
outliers = list(csv.DictReader(open(f"{d}/outliers.csv")))
assert {o["kind"] for o in outliers} == {"rank", "stall"}, outliers
summary = {r["metric"]: r for r in csv.DictReader(open(f"{d}/summary.csv"))}
assert math.isclose(float(summary["cpu_utilization"]["sum"]), h5["summary/job/cpu_utilization"][3])
assert summary["cpu_utilization"]["sum_units"] == "core-s" and summary["rss"]["sum_units"] == "bytes s"
assert js["job"]["job_id"] == "exp" and js["job"]["ranks"] == 8
assert math.isclose(js["summary"]["cpu_utilization"]["sum"], h5["summary/job/cpu_utilization"][3])
assert js["summary"]["write_call_bandwidth"]["sum_units"] == "bytes"
assert js["ranks"][5]["cpu_utilization"]["mean"] < 0.5
values = js["series"]["ranks"]["metrics"]["cpu_utilization"]["values"]
assert len(values) == 8 and values[0][0] == h5["ranks/cpu_utilization"][0, 0]
assert [o["kind"] for o in js["outliers"]] == [o["kind"] for o in outliers]
print("ok: CSV and JSON agree with the job file")
PY
# A job longer than a chunk (8192 steps): the series are read a chunk of a
# row at a time, and every value is written so that it reads back exactly.
"$bin/jobperf-test-make-streams" --dir "$work/long" --ranks 2 --hosts 2 --samples 9000 --job-id long
"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet -o "$work/long.h5" "$work/long"
expect_status 0 "--csv of a job longer than a chunk" "$bin/jobperf-export" "$work/long.h5" --csv "$work/long-csv"
expect_status 0 "--json of a job longer than a chunk" "$bin/jobperf-export" "$work/long.h5" --json "$work/long.json"
"$python" - "$work/long.h5" "$work/long-csv/ranks_series.csv" "$work/long.json" <<'PY'
import csv, json, sys
import h5py, numpy as np
h5 = h5py.File(sys.argv[1])
steps = h5["ranks/time"].shape[0]
assert steps > 8192, steps
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 2 * steps, len(rows)
js = json.load(open(sys.argv[3]))["series"]["ranks"]
for name in ("cpu_utilization", "rss", "write_call_bandwidth"):
    want = h5["ranks/" + name][:]
    got = np.array([float(r[f"{name} [{h5['ranks/' + name].attrs['units']}]"] or "nan") for r in rows]).reshape(want.shape)
    assert np.array_equal(got, want, equal_nan=True), name
    got = np.array(js["metrics"][name]["values"], dtype=float)
    assert np.array_equal(got, want, equal_nan=True), name
print("ok: every value of a", steps, "step series, in CSV and JSON, reads back exactly")
PY
expect_status 1 "a file that is not a job file" "$bin/jobperf-export" "$work/exp.json" --csv "$work/x"
expect_message "not an HDF5 file" "export names the problem"
expect_status 2 "neither --csv nor --json" "$bin/jobperf-export" "$work/exp.h5"
echo "export: all checks passed"
