// The one interface every metric source implements (like a Caliper service
// or a node_exporter collector). A source declares its fields once, says at
// open() whether it can run here, and appends records when asked to sample.
// Adding a source means adding one file under sources/ and one line in
// source_registry.cpp; nothing else changes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/raw_stream.hpp"

namespace jobperf::collect {

struct SourceConfig {
  std::string proc_root = "/proc";  // fixture trees stand in for these in tests
  std::string sys_root = "/sys";
  std::string perf_events;  // --events: a comma-separated list replacing the CPU's event set
  bool threads = false;     // --threads: sample every thread too
  bool taskstats = true;    // per-task counters by netlink where allowed (live /proc only)
};

// A process the collector watches, as sources see it.
struct WatchedProcess {
  std::uint32_t pid;
  std::uint64_t start_ticks;  // from /proc/PID/stat: with pid, identifies the process
  // Wrapper mode: the command the collector started, watched from before its
  // exec, so counters inherited by all its descendants see the whole tree;
  // and the descendants such counters already cover.
  bool subtree_root = false;
  bool covered_by_root = false;
};

struct SampleContext {
  std::int64_t time_ns = 0;                   // CLOCK_MONOTONIC of this tick
  std::span<const WatchedProcess> processes;  // for process-scope sources
  std::function<void(const std::string&)> warn;  // a one-line note into the stream
};

// Receives one record: the subject (pid, or 0 for the node) and its values,
// in the order of the declared fields.
// A watched process that the collector itself reaped (wrapper mode): wait4's
// rusage and the growth of the collector's own /proc/self/io across the
// wait4 call (the kernel folds a reaped child's I/O into its reaper).
struct ReapedProcess {
  std::uint32_t pid = 0;
  std::uint64_t user_ns = 0, system_ns = 0;
  std::uint64_t minflt = 0, majflt = 0;
  std::uint64_t voluntary_ctxt = 0, involuntary_ctxt = 0;
  std::uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;
  std::uint64_t read_bytes = 0, write_bytes = 0, cancelled_write_bytes = 0;
};

using RecordSink = std::function<void(std::uint32_t subject, std::span<const std::uint64_t> values)>;

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  // Empty if the source can sample on this machine, else a one-line reason.
  virtual std::string open() = 0;
  // Name, scope and fields, fixed from open() on (a source may shape its
  // fields by what open() found); the source id is assigned by the collector.
  virtual stream::SourceSpec describe() const = 0;
  // One-line notes from open() about what works only in part (events left out).
  virtual std::vector<std::string> warnings() const { return {}; }
  virtual void sample(const SampleContext& context, const RecordSink& sink) = 0;
  // Last word on a process the collector reaped: process-scope sources may
  // record its final counters. Sources that cannot say more do nothing.
  virtual void process_reaped(const ReapedProcess&, const RecordSink&) {}
};

// A factory may return nullptr: the source is switched off by the configuration.
using SourceFactory = std::function<std::unique_ptr<MetricSource>(const SourceConfig&)>;

}  // namespace jobperf::collect
