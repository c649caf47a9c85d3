#!/usr/bin/env bash
# jobperf quickstart: installs the dependencies, builds, and measures a real
# 4-rank MPI job end to end on this machine:
#   collect (wrapper mode, every process recorded at its end) -> reduce
#   (parallel HDF5) -> analyze (a campaign of 6 runs, one of them slow) ->
#   report (HTML).
# Usage: workflows/quickstart.sh [OUTPUT_DIR]   (default: ./jobperf-demo)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$PWD/jobperf-demo}" && cd "${1:-$PWD/jobperf-demo}" && pwd)
build="${JOBPERF_BUILD_DIR:-$repo/build}"

echo "== installing dependencies (Debian packages)"
bash "$repo/share/install-deps.sh"
echo "== building in $build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
bin="$build/bin"

# Open MPI refuses root unless told; oversubscribe so 4 ranks run on any machine.
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpirun=(mpirun --oversubscribe --mca mpi_yield_when_idle 1)
export JOBPERF_SCRATCH="$out/scratch"
rm -rf "$JOBPERF_SCRATCH" "$out"/demo-*.h5 "$out"/*.html "$out/campaign.h5"

echo "== running 6 demo jobs of 4 MPI ranks under jobperf-collect (job 6 has a slow rank)"
for i in 1 2 3 4 5 6; do
  slow=()
  [ "$i" -eq 6 ] && slow=(--slow-rank 2 --slow-factor 4)
  "${mpirun[@]}" -np 4 -x JOBPERF_TAGS=solver "$bin/jobperf-collect" --quiet --preload \
    --job-id "demo-$i" --job-name demo --interval 0.25 -- \
    "$bin/jobperf-demo-app" --seconds 1.5 --write-mib 16 --dir "$out" "${slow[@]}"
  "${mpirun[@]}" -np 2 "$bin/jobperf-reduce" --quiet --job-id "demo-$i" -o "$out/demo-$i.h5"
done

echo "== analysing the campaign"
"${mpirun[@]}" -np 2 "$bin/jobperf-analyze" --out "$out/campaign.h5" "$out"
"$bin/jobperf-report" "$out/demo-6.h5" -o "$out/demo-6.html"
"$bin/jobperf-report" "$out/campaign.h5" -o "$out/campaign.html"

cat <<DONE

== done. Outputs in $out:
  raw streams     $out/scratch/jobperf/demo-*/
  job files       $out/demo-1.h5 ... demo-6.h5   (h5dump -A $out/demo-6.h5 | less)
  campaign        $out/campaign.h5
  reports         $out/demo-6.html  $out/campaign.html
DONE
