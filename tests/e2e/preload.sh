#!/usr/bin/env bash
# Per-process exit records through the collector: --preload in wrapper mode
# (2 MPI ranks), and `eval $(jobperf-collect --env)` in a job script.
source "$(dirname "$0")/lib.sh"
list="$bin/jobperf-test-list-exits"

# 1. Wrapper mode: every process of both ranks lands in the node's exits stream.
"${mpirun[@]}" -np 2 "$bin/jobperf-collect" --quiet --preload --job-id pre1 -- \
  bash -c 'for i in 1 2 3; do /bin/true; done; sh -c "exit 2"; sh -c "kill -KILL \$\$"; true'
"$list" "$JOBPERF_SCRATCH/jobperf/pre1/$(hostname -s).exits.jps" >"$work/exits1"
cat "$work/exits1"
[ "$(grep -c '/usr/bin/true$' "$work/exits1")" -eq 6 ] || fail "want 3 /bin/true per rank"
[ "$(awk '$1 == "exited" && $5 == 2' "$work/exits1" | wc -l)" -eq 2 ] || fail "want one exit code 2 per rank"
[ "$(awk '$1 == "killed" && $6 == 9' "$work/exits1" | wc -l)" -eq 2 ] || fail "want one SIGKILL death per rank"
[ "$(awk '$4 == 0' "$work/exits1" | wc -l)" -eq "$(awk '$4 == 1' "$work/exits1" | wc -l)" ] || fail "ranks differ"
expect_status 0 "reduce accepts a job with an exits stream" "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --job-id pre1 -o "$work/pre1.h5"
expect_message "status complete" "an exits stream is not a damaged stream"
"$python" - "$work/pre1.h5" <<'PY'
import sys, h5py, collections
p = h5py.File(sys.argv[1])["processes"]
exe, kind, rank = p["exe"].asstr()[:], p["kind"].asstr()[:], p["rank"][:]
assert len(exe) == 2 * 6, list(exe)  # per rank: the wrapped bash, 3 true, 2 sh
assert collections.Counter(kind)["killed"] == 2 and sorted(p["signal"][kind == "killed"]) == [9, 9]
assert sorted(p["exit_code"][:][p["exe"].asstr()[:] == "/usr/bin/dash"].tolist()).count(2) == 2
# Tree: each /bin/true's parent is the rank's bash, one generation down.
for i in [i for i, e in enumerate(exe) if e == "/usr/bin/true"]:
    parent = p["parent"][i]
    assert parent >= 0 and exe[parent] == "/usr/bin/bash" and rank[parent] == rank[i], (i, parent)
    assert p["depth"][i] == p["depth"][parent] + 1
tags = h5py.File(sys.argv[1])["processes/by_tag"]
assert tags["processes"][:].sum() == len(exe)
print(f"ok: /processes has {len(exe)} rows with their parents; /processes/by_tag adds them up")
PY
expect_status 0 "report draws a job with processes" "$bin/jobperf-report" "$work/pre1.h5" -o "$work/pre1.html"
grep -q "12 process(es) recorded, 2 exited with a non-zero code, 2 killed by a signal" "$work/pre1.html" ||
  fail "the report does not count the processes, failed and killed"
grep -q "<td class='l'>(untagged)</td><td>12</td>" "$work/pre1.html" || fail "the report has no operations table"
[ "$(grep -o "<tr class='outlier'>" "$work/pre1.html" | wc -l)" -eq 4 ] || fail "the report does not mark the 4 failed processes"

# 2. A job script: eval the settings; what it starts from then on is recorded
#    (the script's own shell was running before: it is not).
bash -c "eval \"\$('$bin/jobperf-collect' --env --job-id pre2)\"; /bin/true; bash -c 'exit 7'; sh -c 'exit 5'" || true  # it ends with that 5
"$list" "$JOBPERF_SCRATCH/jobperf/pre2/$(hostname -s).exits.jps" >"$work/exits2"
cat "$work/exits2"
[ "$(wc -l <"$work/exits2")" -eq 3 ] || fail "want 3 records"
grep -q '^exited .* 0 0 0 /usr/bin/true$' "$work/exits2" || fail "/bin/true not recorded"
grep -q '^exited .* 7 0 0 /usr/bin/bash$' "$work/exits2" || fail "bash -c 'exit 7' not recorded with its code"
grep -q '^exited .* 5 0 0 /usr/bin/dash$' "$work/exits2" || fail "sh -c 'exit 5' not recorded with its code"
expect_status 2 "--preload needs a command" "$bin/jobperf-collect" --preload --job-id x
echo "preload: all checks passed"
