#!/usr/bin/env bash
# Slowdown of a CPU-bound 4-rank MPI workload (fixed work: stress-ng cpu ops)
# under jobperf-collect at 1 Hz and 10 Hz, against the same workload with no
# collection, interleaved over repeated runs. Prints mean wall times and
# ratios, and the collectors' own CPU time (each reports it at its end) as a
# share of the machine's CPU over the run: on a machine whose cores the job
# keeps busy, that share is the slowdown the collectors can cause, measured
# without the run-to-run noise of wall times. A benchmark, not a test: it
# never fails on its figures.
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
    1hz) "${mpirun[@]}" "$build/bin/jobperf-collect" --force --out "$scratch" --job-id bench --interval 1 -- "${workload[@]}" 2>"$scratch/cost" ;;
    10hz) "${mpirun[@]}" "$build/bin/jobperf-collect" --force --out "$scratch" --job-id bench --interval 0.1 -- "${workload[@]}" 2>"$scratch/cost" ;;
  esac
  end=$(date +%s%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'
  if [[ $1 != none ]]; then  # the collectors' CPU seconds, summed over the ranks
    sed -n 's/.*collection cost \([0-9.]*\) s of CPU.*/\1/p' "$scratch/cost" | awk '{ s += $1 } END { printf " %.4f", s }'
  fi
}
cores=$(nproc)

declare -A total cost
for mode in none 1hz 10hz; do total[$mode]=0; cost[$mode]=0; done
run none >/dev/null  # warm the caches
for ((i = 1; i <= repeats; i++)); do
  for mode in none 1hz 10hz; do
    read -r t c <<<"$(run "$mode")"
    total[$mode]=$(awk -v a="${total[$mode]}" -v b="$t" 'BEGIN { printf "%.4f", a + b }')
    cost[$mode]=$(awk -v a="${cost[$mode]}" -v b="${c:-0}" 'BEGIN { printf "%.4f", a + b }')
    printf '  run %d %-5s %s s  collectors %s s CPU\n' "$i" "$mode" "$t" "${c:--}"
  done
done
echo "CPU-bound 4-rank workload ($ops stress-ng cpu ops per rank) on $cores cores, mean of $repeats interleaved runs:"
for mode in none 1hz 10hz; do
  awk -v mode="$mode" -v t="${total[$mode]}" -v none="${total[none]}" -v n="$repeats" -v c="${cost[$mode]}" -v cores="$cores" \
    'BEGIN { printf "  %-5s %7.3f s   ratio %.4f", mode, t / n, t / none
             if (mode != "none") printf "   collectors: %.3f s CPU per run = %.3f %% of the %d cores", c / n, 100 * c / (t * cores), cores
             printf "\n" }'
done
