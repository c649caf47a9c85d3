#!/usr/bin/env bash
# jobperf-reduce throughput against this machine's parallel-HDF5 write limit,
# measured in the same run: synthetic streams of RANKS ranks x HOURS of 1 Hz
# samples, reduced at np 1, 2 and 4, compressed and not. The limit is the time
# to write the job file's own arrays again (series and raw samples, already in
# memory, same chunks and filters, collective I/O) and nothing else: the
# fastest of four sizes of collective write. The reduce's time is the fastest
# of three runs (this VM's timings vary by a third from run to run). The ratio
# is limit over reduce (goal 70 %): how close making the job file from the
# streams comes to merely writing it. Throughput counts MiB of raw stream in.
# Ranks are not bound to cores (--bind-to none): each reducer rank counts on
# the node's CPUs over its ranks, so at np 1 on two cores it writes on a
# second thread while it reads; np 1 with --threads 1 shows the reduce on one
# core. The limit is one thread per rank at every np (HDF5 compresses in the
# thread that writes). Compressed, the limit is parallel HDF5's with its own
# filters, which the ratio is against; jobperf-reduce writes through its own
# faster shuffle and deflate (the same bytes), and the limit with those is
# printed beside it (ratio "own"). The read floor is the time to read the
# streams once and do nothing with them (cat, the fastest of three): with
# one CPU the reduce pays it on top of the writes, so limit / (limit + floor)
# bounds the ratio there even if deriving cost nothing.
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
floor=""
for run in 1 2 3; do
  start=$(date +%s.%N)
  cat "$work"/streams/* >/dev/null
  this=$(echo "$(date +%s.%N) - $start" | bc)
  if [ -z "$floor" ] || (($(echo "$this < $floor" | bc))); then floor=$this; fi
done
printf "read floor: %.3f s to read the streams once, nothing else (%.0f MiB/s)\n" "$floor" \
  "$(echo "$(du -sm "$work/streams" | cut -f1) / $floor" | bc -l)"
seconds() { sed -n 's/.* in \([0-9.]*\) s = .*/\1/p' <<<"$1" | head -1; }  # "... in S s = ..."
# The last run's files deleted and every dirty page written back, outside the
# timed runs: replacing a file still being written back waits for the disk.
settle() { rm -f "$work/limit.h5"; sync; }
on_np() { mpirun --bind-to none --oversubscribe --mca mpi_yield_when_idle 1 -np "$np" "$@"; }
limit_of() { settle; on_np "$build/bin/jobperf-bench-h5-write" "$@" "$work/job.h5" "$work/limit.h5"; }
for run_as in "1 1" "1 0" "2 0" "4 0"; do  # np, threads (0: as many as the rank's CPUs)
  read -r np threads <<<"$run_as"
  for mode in compressed uncompressed; do
    flag=$([ $mode = uncompressed ] && echo --no-compress || true)
    out=""
    for run in 1 2 3; do
      rm -f "$work/job.h5"
      settle  # no run pays for another's writeback
      this=$(on_np "$build/bin/jobperf-reduce" -q \
             --timing --force --threads $threads $flag -o "$work/job.h5" "$work/streams")
      if [ -z "$out" ] || (($(echo "$(seconds "$this") < $(seconds "$out")" | bc))); then out=$this; fi
    done
    limit=$(limit_of)
    own=""
    [ $mode = uncompressed ] || own=$(limit_of --jobperf-filters)
    reduce_s=$(seconds "$out") limit_s=$(seconds "$limit")
    reduce_rate=$(sed -n 's/.*= \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out" | head -1)
    rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' <<<"$out")
    used=$(sed -n 's/.* \([0-9]*\) thread(s).*/\1/p' <<<"$out")
    own_ratio=""
    [ -n "$own" ] && own_ratio=$(printf "  (own filters: limit %.2f s, ratio %.1f %%)" "$(seconds "$own")" \
                                 "$(echo "100 * $(seconds "$own") / $reduce_s" | bc -l)")
    printf "np %d x %s thread(s) %-12s reduce %6.2f s (%6.1f MiB/s of streams)  limit %6.2f s  ratio %5.1f %%  peak RSS %6.1f MiB/rank  file %s MiB%s\n" \
      $np "$used" $mode "$reduce_s" "$reduce_rate" "$limit_s" "$(echo "100 * $limit_s / $reduce_s" | bc -l)" "$rss" \
      "$(du -m "$work/job.h5" | cut -f1)" "$own_ratio"
    echo "    $limit"
    [ -z "$own" ] || echo "    $own"
    echo "    $out"
  done
done
