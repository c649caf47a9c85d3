#!/usr/bin/env bash
# Installs the dependencies, builds jobperf, and runs the whole test suite
# (unit, MPI integration, end to end); ends with ctest's summary.
# Environment: JOBPERF_BUILD_DIR (default build/), JOBPERF_SANITIZE=ON for an
# AddressSanitizer + UBSan build.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${JOBPERF_BUILD_DIR:-$repo/build}"
sanitize="${JOBPERF_SANITIZE:-OFF}"

bash "$repo/share/install-deps.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBPERF_SANITIZE="$sanitize" >/dev/null
log="$build/build.log"
mkdir -p "$build"
cmake --build "$build" -j "$(nproc)" >"$log" 2>&1 || { cat "$log"; exit 1; }
if grep "warning:" "$log"; then echo "tests/run.sh: the build must be free of warnings" >&2; exit 1; fi
cd "$build"
# Open MPI's sanitizer-unfriendly allocations are known leaks, not ours.
[ "$sanitize" = ON ] && export ASAN_OPTIONS=detect_leaks=0
ctest --output-on-failure -j "$(nproc)"
