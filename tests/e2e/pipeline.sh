#!/usr/bin/env bash
# The whole pipeline on a known workload: 4 ranks under jobperf-collect, each
# running /usr/bin/time around a multi-process CPU load (stress-ng) and a dd
# of 32 MiB. The job file must agree with time's CPU figures within 5 % and
# with dd's byte count within 1 %; analyze and report must accept it.
source "$(dirname "$0")/lib.sh"

"${mpirun[@]}" -np 4 "$bin/jobperf-collect" --quiet --job-id e2e --job-name pipeline --interval 0.1 -- \
  sh -c '/usr/bin/time -f "%U %S" -o "'"$work"'/time.$OMPI_COMM_WORLD_RANK" sh -c "stress-ng --cpu 1 --timeout 2.5 --quiet; dd if=/dev/zero of='"$work"'/dd.\$OMPI_COMM_WORLD_RANK bs=1M count=32 conv=fsync status=none"'
ls "$JOBPERF_SCRATCH/jobperf/e2e/"*.jps >/dev/null || fail "no streams written"

"${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --job-id e2e -o "$work/e2e.h5"
"$python" "$tests/python/consumer_check.py" "$work/e2e.h5" "$work" 4 32

expect_status 0 "analyze accepts the job" "${mpirun[@]}" -np 2 "$bin/jobperf-analyze" --out "$work/campaign.h5" "$work/e2e.h5"
expect_message "fewer than 4 comparable jobs" "analyze says one job cannot be classified"
expect_status 0 "report draws the job" "$bin/jobperf-report" "$work/e2e.h5" -o "$work/e2e.html"
grep -q "<svg" "$work/e2e.html" || fail "the report has no chart"
grep -q "rank 3" "$work/e2e.html" || fail "the report does not show rank 3"
grep -q "one host, one clock" "$work/e2e.html" || fail "the report does not say how the clocks were aligned"
expect_status 0 "report draws the campaign" "$bin/jobperf-report" "$work/campaign.h5"
echo "pipeline: all checks passed"
