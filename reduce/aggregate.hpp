// From one decoded stream to rows: each MPI rank's processes combined into
// one series per source, and the node's own series.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/raw_stream.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {

struct RankRow {
  std::int32_t rank = -1;  // -1: processes without an MPI rank
  std::string host;
  std::string stream;  // file name of the stream it came from
  std::int64_t exit_status = -1;  // exit code or 128+signal of the rank's command, if the collector saw it
  std::vector<StepSeries> sources;
};

struct NodeRow {
  std::string host;
  std::vector<StepSeries> sources;
};

// How processes add up to a rank, field by field (stream::Aggregation):
//  - gauges: the sum over the rank's live processes;
//  - counters: the sum over its processes, each held at its last value once
//    ended;
//  - tree counters (the kernel folds a reaped child into its parent, like
//    utime+cutime): as counters, except that a process reaped by a watched
//    parent stops counting once the parent has been sampled again, since the
//    parent's value now includes it;
//  - attributes: the value of the rank's earliest live process.
// A rank's counters start from zero at its first process's start, so work
// done before the first sample is counted. Times are the stream's own
// CLOCK_MONOTONIC: move_to_timeline() maps them once the clocks are aligned.
std::vector<RankRow> rank_rows(const stream::DecodedStream& stream);
std::vector<NodeRow> node_rows(const stream::DecodedStream& stream);

}  // namespace jobperf::reduce
