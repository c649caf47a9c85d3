#!/usr/bin/env bash
# Slowdown of a CPU-bound 4-rank MPI workload (fixed work: stress-ng cpu ops)
# under jobperf-collect at 1 Hz and 10 Hz, against the same workload with no
# collection, interleaved over repeated runs. Prints mean wall times and
# ratios. A benchmark, not a test: it never fails on its figures.
# usage: tests/bench/slowdown.sh [BUILD_DIR] [REPEATS] [CPU_OPS_PER_RANK]
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
repeats=${2:-5}
ops=${3:-1500}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mpirun=(mpirun -np 4 --oversubscribe --mca mpi_yield_when_idle 1)
workload=(stress-ng --cpu 1 --cpu-ops "$ops" --quiet)

run() {  # mode -> wall seconds
  local start end
  start=$(date +%s%N)
  case $1 in
    none) "${mpirun[@]}" "${workload[@]}" ;;
    1hz) "${mpirun[@]}" "$build/bin/jobperf-collect" --quiet --force --out "$scratch" --job-id bench --interval 1 -- "${workload[@]}" ;;
    10hz) "${mpirun[@]}" "$build/bin/jobperf-collect" --quiet --force --out "$scratch" --job-id bench --interval 0.1 -- "${workload[@]}" ;;
  esac
  end=$(date +%s%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }' 
}

declare -A total
for mode in none 1hz 10hz; do total[$mode]=0; done
run none >/dev/null  # warm the caches
for ((i = 1; i <= repeats; i++)); do
  for mode in none 1hz 10hz; do
    t=$(run "$mode")
    total[$mode]=$(awk -v a="${total[$mode]}" -v b="$t" 'BEGIN { printf "%.4f", a + b }')
    printf '  run %d %-5s %s s\n' "$i" "$mode" "$t"
  done
done
echo "CPU-bound 4-rank workload ($ops stress-ng cpu ops per rank), mean of $repeats interleaved runs:"
for mode in none 1hz 10hz; do
  awk -v mode="$mode" -v t="${total[$mode]}" -v none="${total[none]}" -v n="$repeats" \
    'BEGIN { printf "  %-5s %7.3f s   ratio %.4f\n", mode, t / n, t / none }'
done
