// One collector: the sources, the process tracker and the stream they feed.
// Wrapper and sidecar modes drive it from their own event loops.
#pragma once
#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "collect/metric_source.hpp"
#include "collect/process_tracker.hpp"
#include "formats/raw_stream.hpp"

namespace jobperf::collect {

struct CollectorConfig {
  std::string stream_path;
  bool force = false;
  stream::Header header;
  std::int64_t flush_interval_ns = 1'000'000'000;
  std::int64_t anchor_interval_ns = 60'000'000'000;
  bool sample_node = true;  // one collector per node samples node-wide sources
  SourceConfig sources;
  Selection selection;
  stream::Metadata metadata;
  bool quiet = false;
};

class Collector {
 public:
  // Creates the stream and opens every source; throws stream::StreamError
  // when the stream cannot be created.
  explicit Collector(CollectorConfig config);

  // Discovers started/ended processes and samples every source once.
  void tick();
  void adopt(const TrackedProcess& process);
  // The collector reaped `pid` itself (wrapper mode).
  void reaped(const ReapedProcess& process, int wait_status);
  // This node's clock measured against the reference node (sidecar mode).
  void clock_offset(const stream::ClockOffset& offset) { writer_.clock_offset(offset); }
  void note(stream::NoteLevel level, const std::string& source, const std::string& text);
  // Final sample, final metadata, End block, close.
  void finish(const std::string& reason, const stream::Metadata& final_metadata);

  std::int64_t interval_ns() const { return config_.header.interval_ns; }
  bool has_watched() const { return tracker_.ever_watched() > 0; }
  bool watching() const { return !tracker_.watched().empty(); }
  const std::string& stream_path() const { return config_.stream_path; }
  std::uint64_t ticks() const { return ticks_; }

 private:
  struct ActiveSource {
    std::uint16_t id;
    std::string name;
    std::unique_ptr<MetricSource> source;
  };
  void open_sources(const std::vector<SourceFactory>& factories, std::vector<ActiveSource>& into);
  void begin_subject(const TrackedProcess& p, std::int64_t now);
  void check_writer();
  void record_utc_error();
  stream::Metadata own_cost() const;

  CollectorConfig config_;
  stream::StreamWriter writer_;
  ProcessTracker tracker_;
  std::vector<ActiveSource> process_sources_, node_sources_;
  std::uint16_t next_source_id_ = 1;
  std::int64_t started_ns_ = 0, last_flush_ns_ = 0, last_anchor_ns_ = 0;
  std::uint64_t ticks_ = 0;
  bool write_failure_reported_ = false;
};

}  // namespace jobperf::collect
