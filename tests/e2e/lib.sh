# Helpers for the end-to-end tests: set -e scripts that print what failed.
set -euo pipefail
bin=${JOBPERF_BIN:?set JOBPERF_BIN to the build/bin directory}
python=${JOBPERF_PYTHON:-/usr/bin/python3}
tests=${JOBPERF_TESTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --mca mpi_yield_when_idle 1)
work=${1:?usage: $0 WORK_DIR}
rm -rf "$work" && mkdir -p "$work"
export JOBPERF_SCRATCH="$work/scratch"

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_status N "description" command...: runs the command, checks its exit status.
expect_status() {
  local want=$1 what=$2; shift 2
  local got=0
  "$@" >"$work/last.out" 2>"$work/last.err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$work/last.out" "$work/last.err" >&2; fail "$what: exit $got, want $want"; }
  echo "ok: $what (exit $got)"
}
# expect_message "text" "description": the last command's stderr or stdout says it.
expect_message() {
  grep -qF -- "$1" "$work/last.err" "$work/last.out" || { cat "$work/last.err" >&2; fail "$2: no '$1' in the output"; }
}
# sidecar_stops_cleanly JOB_ID: a sidecar watching a process by pid ends on
# `jobperf-collect --stop`, and its stream reduces as complete.
sidecar_stops_cleanly() {
  local job=$1 sleeper collector
  sleep 30 &
  sleeper=$!
  "$bin/jobperf-collect" --quiet --job-id "$job" --pid "$sleeper" --interval 0.1 &
  collector=$!
  sleep 0.5
  expect_status 0 "--stop ends the sidecar" "$bin/jobperf-collect" --stop --job-id "$job"
  kill "$sleeper"
  wait "$collector" || fail "the stopped sidecar exited with $?"
  expect_status 0 "the stopped sidecar's stream is complete" "${mpirun[@]}" -np 1 "$bin/jobperf-reduce" --job-id "$job" \
    -o "$work/$job.h5"
  expect_message "status complete" "the sidecar closed its stream"
}
