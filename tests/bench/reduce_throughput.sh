#!/usr/bin/env bash
# jobperf-reduce throughput against this machine's parallel-HDF5 write limit,
# measured in the same run: synthetic streams of RANKS ranks x HOURS of 1 Hz
# samples, reduced at np 1, 2 and 4, compressed and not. The limit writes the
# same (rows x steps) series volume with the same layout and nothing else.
# Throughput counts MiB of raw stream in; the ratio is reduce / limit (goal 70 %).
#
#   tests/bench/reduce_throughput.sh BUILD_DIR [RANKS [HOURS]]      e.g. build 64 1, build 1024 1
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [RANKS [HOURS]]}" && pwd)
ranks=${2:-64} hours=${3:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/jobperf-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
steps=$((hours * 3600))
"$build/bin/jobperf-test-make-streams" --dir "$work/streams" --ranks "$ranks" --hosts $(((ranks + 15) / 16)) \
  --samples "$steps" --job-id bench
echo "streams: $ranks ranks x $steps samples, $(du -sm "$work/streams" | cut -f1) MiB"
for np in 1 2 4; do
  for mode in compressed uncompressed; do
    flag=$([ $mode = uncompressed ] && echo --no-compress || true)
    out=$(mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np $np "$build/bin/jobperf-reduce" -q --timing --force $flag \
          -o "$work/job.h5" "$work/streams")
    metrics=$(/usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1]); print(sum(1 for k in f['ranks'] if f['ranks'][k].ndim == 2))" "$work/job.h5")
    limit=$(mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np $np "$build/bin/jobperf-bench-h5-write" "$ranks" $((steps + 1)) \
            "$metrics" "$work/limit.h5" $flag)
    reduce_rate=$(sed -n 's/.*= \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out" | head -1)
    limit_rate=$(sed -n 's/.*= \([0-9.]*\) MiB\/s.*/\1/p' <<<"$limit")
    rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' <<<"$out")
    printf "np %d %-12s reduce %7.1f MiB/s  limit %7.1f MiB/s  ratio %5.1f %%  peak RSS %6.1f MiB/rank  file %s MiB\n" \
      $np $mode "$reduce_rate" "$limit_rate" "$(echo "100 * $reduce_rate / $limit_rate" | bc -l)" "$rss" \
      "$(du -m "$work/job.h5" | cut -f1)"
    echo "    $out"
  done
done
