#!/usr/bin/env bash
# A campaign of five synthetic jobs of one name, one with a slow rank and a
# stalled node: jobperf-analyze (2 ranks) flags that job, and its reasons end
# with what the job's own reduce found inside it, in the printed table, in
# campaign.h5 and in the campaign report. A job given twice counts once.
source "$(dirname "$0")/lib.sh"

make_job() {  # JOB_ID [make-streams options]
  local job=$1
  shift
  "$bin/jobperf-test-make-streams" --dir "$work/streams/$job" --ranks 8 --hosts 4 --samples 60 --job-id "$job" "$@" >/dev/null
  "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet -o "$work/jobs/$job.h5" "$work/streams/$job"
}
mkdir -p "$work/jobs"
for job in normal1 normal2 normal3 normal4; do make_job $job; done
make_job slow --imbalance 5 --stall 2:20:30

expect_status 0 "analyze the campaign" "${mpirun[@]}" -np 2 "$bin/jobperf-analyze" --out "$work/campaign.h5" "$work/jobs"
slow_row=$(grep -E '^synthetic +slow +YES ' "$work/last.out") || fail "the slow job is not flagged: $(cat "$work/last.out")"
grep -q "cpu_time_s 418.00 against 216.00 to 216.00 in the group's normal jobs (modified z 4.0; the normal jobs' are all 0)" <<<"$slow_row" ||
  fail "the reason does not give the job's value against the normal jobs': $slow_row"
grep -q "; in the job: rank 5 (node1): mean CPU use .*; in the job: node node2 stalled for 10 s" <<<"$slow_row" ||
  fail "the reasons do not end with the job's in-job outliers: $slow_row"
grep -E '^synthetic +normal' "$work/last.out" | grep -q "in the job" && fail "a normal job has reasons"

"$python" - "$work/campaign.h5" <<'PY'
import sys, h5py
jobs = h5py.File(sys.argv[1])["jobs"]
found = dict(zip(jobs["job_id"].asstr()[:], jobs["in_job_outliers"].asstr()[:]))
assert found["slow"].startswith("rank 5 (node1): mean CPU use") and "\nnode node2 stalled" in found["slow"], found
assert all(found[f"normal{i}"] == "" for i in range(1, 5)), found
print("ok: campaign.h5 keeps each job's in-job outliers")
PY
# A copy of a job file, and a file given again by another path: each job once.
mkdir -p "$work/more" && cp "$work/jobs/normal1.h5" "$work/more/copy.h5"
expect_status 0 "analyze with a copy" "${mpirun[@]}" -np 2 "$bin/jobperf-analyze" --force --out "$work/again.h5" \
  "$work/jobs" "$work/jobs/../jobs/slow.h5" "$work/more"
expect_message "more/copy.h5: left out, job normal1 is already in the campaign ($work/jobs/normal1.h5)" "the copy is named"
grep -q "^jobperf-analyze: 5 jobs in 1 group(s), 1 outlier(s)" "$work/last.out" || fail "a job counted twice: $(head -1 "$work/last.out")"
expect_status 0 "report the campaign" "$bin/jobperf-report" "$work/campaign.h5" -o "$work/campaign.html"
grep -q "<br>in the job: rank 5 (node1): mean CPU use" "$work/campaign.html" || fail "the campaign report lacks the in-job reasons"
echo "campaign: all checks passed"
