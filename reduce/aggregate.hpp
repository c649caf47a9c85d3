// From a stream to rows: each MPI rank's processes combined into one series
// per source, and the node's own series. Two passes, so that a stream of any
// length is combined a piece at a time: outline_stream() reads it once and
// keeps no samples; a RowCombiner then turns its records into samples as
// they are read again, carrying each process's last values forward.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
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

// The node's own samples, or one of its devices' (a GPU's).
struct NodeRow {
  std::string host;
  std::int32_t device = -1;  // -1: the node; else the device's index on the node
  std::vector<StepSeries> sources;
};

// One source of one row, as the first pass counts it: the samples the
// combination will give and their span, in the stream's clock.
struct SourceSpan {
  std::string source;
  std::uint32_t fields = 0;
  std::int64_t samples = 0;
  std::int64_t first_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_ns = std::numeric_limits<std::int64_t>::min();
};

struct RowOutline {
  std::int32_t rank = -1;
  std::int32_t device = -1;  // device rows: the device's index
  std::int64_t exit_status = -1;
  std::vector<SourceSpan> sources;  // every source of the row's scope, in stream order
};

// What each row of a stream will hold.
struct StreamOutline {
  std::vector<RowOutline> ranks;   // by rank
  std::vector<RowOutline> nodes;   // none, or the node's own row (sources with samples only)
  std::vector<RowOutline> devices; // one per device with samples (node sources' subjects 1, 2, ...), by index
  // When a watched parent reaped a process and carries its tree counters: (pid, source id) -> time.
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::int64_t> absorbed_at;
};

// The first pass: reads the rest of the stream a block at a time into
// `skeleton`, everything the stream holds except its samples.
StreamOutline outline_stream(stream::StreamReader& reader, const std::string& path, stream::DecodedStream& skeleton);
StreamOutline outline_stream(const stream::DecodedStream& whole);

// How processes add up to a rank, field by field (stream::Aggregation):
//  - gauges: the sum over the rank's live processes;
//  - counters: the sum over its processes, each held at its last value once
//    ended;
//  - tree counters (the kernel folds a reaped child into its parent, like
//    utime+cutime): as counters, except that a process reaped by a watched
//    parent stops counting once the parent has been sampled again, since the
//    parent's value now includes it;
//  - attributes: the value of the rank's earliest (lowest pid) live process.
// A rank's counters start from zero at its first process's start, so work
// done before the first sample is counted. A record counts from its
// process's begin block on, and one stamped earlier than the record before
// it counts at that record's time: both passes see the same samples.
class RowCombiner {
 public:
  // `clock`: samples go onto the job timeline; null: they keep the stream's CLOCK_MONOTONIC.
  RowCombiner(const stream::DecodedStream& skeleton, const StreamOutline& outline, const ClockMap* clock);
  RowCombiner(const RowCombiner&) = delete;  // it points into itself
  RowCombiner& operator=(const RowCombiner&) = delete;
  // The blocks read since the last call (subject begins, then records, in stream order).
  void add(const stream::DecodedStream& blocks);
  // The stream has ended: its last sample time is complete.
  void finish();
  // Another stream gives this host's node and device samples: skip them here.
  void drop_node_rows();

  // Samples so far, appended as each sample time completes; the caller may take them.
  std::vector<RankRow> ranks;    // as outline.ranks
  std::vector<NodeRow> nodes;    // as outline.nodes
  std::vector<NodeRow> devices;  // as outline.devices

 private:
  struct SourceState {
    bool sampled = false;
    std::vector<std::uint64_t> last;  // the process's last values of the source
    std::int64_t absorbed_at = std::numeric_limits<std::int64_t>::max();
  };
  struct Process {
    std::size_t row = 0;
    bool begun = false;
    std::int64_t end_ns = std::numeric_limits<std::int64_t>::max();
    std::vector<SourceState> sources;  // per process-scope source
  };
  struct Row {
    std::vector<Process*> members;  // by pid
    std::int64_t start_ns = 0;      // its first process's start
    std::vector<std::int64_t> touched;  // per source: the sample time it last had records at
  };
  void emit(std::int64_t time_ns);
  std::int64_t utc(std::int64_t t) const { return clock_ ? clock_->to_utc(t) : t; }

  const ClockMap* clock_;
  std::vector<stream::SourceSpec> process_specs_;
  // Indexed by source id (the collector numbers its sources from 1): looked
  // up for every record, so tables, not hash maps; SIZE_MAX where not such a source.
  std::vector<std::size_t> process_index_;  // process-scope source id -> its index in process_specs_
  std::vector<std::size_t> node_fields_;    // node-scope source id -> its fields
  std::unordered_map<std::uint32_t, NodeRow*> node_rows_;          // subject -> the node's or a device's row
  std::unordered_map<std::uint32_t, Process> processes_;
  std::uint32_t last_pid_ = 0;         // add()'s last lookup in processes_ (pid 0 is never watched)
  Process* last_process_ = nullptr;
  std::vector<Row> rows_;
  std::vector<std::pair<std::size_t, std::size_t>> pending_;  // (row, source) with records at now_
  std::vector<double> sums_;  // emit()'s per-field sums, kept to spare an allocation per sample
  std::int64_t now_ = std::numeric_limits<std::int64_t>::min();
};

// Both passes over a stream held whole (tests).
std::vector<RankRow> rank_rows(const stream::DecodedStream& stream);

// The command line of the rank's first process: a top process of the rank
// (its parent is not one of the rank's), the earliest, the lowest pid.
std::string rank_command(const stream::DecodedStream& stream, std::int32_t rank);

}  // namespace jobperf::reduce
