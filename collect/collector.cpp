#include "collect/collector.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "collect/node_facts.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {

Collector::Collector(CollectorConfig config)
    : config_(std::move(config)),
      writer_(config_.stream_path, config_.header, config_.force),
      tracker_(config_.sources.proc_root, config_.selection) {
  writer_.metadata(config_.metadata);
  if (config_.sample_node) writer_.metadata(node_facts(config_.sources));
  open_sources(process_source_factories(), process_sources_);
  if (config_.sample_node) open_sources(node_source_factories(), node_sources_);
  started_ns_ = last_flush_ns_ = last_anchor_ns_ = stream::monotonic_ns();
  record_utc_error();
}

// How far this node's REALTIME may then be from UTC: in wrapper mode the
// reduce's clock alignment is only as good as the nodes' time daemons.
void Collector::record_utc_error() { writer_.utc_error({stream::monotonic_ns(), stream::utc_error_bound_ns()}); }

void Collector::open_sources(const std::vector<SourceFactory>& factories, std::vector<ActiveSource>& into) {
  for (const auto& make : factories) {
    auto source = make(config_.sources);
    if (!source) continue;
    auto why = source->open();
    auto spec = source->describe();
    if (!why.empty()) {
      note(stream::NoteLevel::Warning, spec.name, "unavailable: " + why);
      continue;
    }
    for (const auto& warning : source->warnings()) note(stream::NoteLevel::Warning, spec.name, warning);
    spec.id = next_source_id_++;
    writer_.add_source(spec);
    into.push_back({spec.id, spec.name, std::move(source)});
  }
}

void Collector::note(stream::NoteLevel level, const std::string& source, const std::string& text) {
  writer_.note({stream::monotonic_ns(), level, source, text});
  if (!config_.quiet) std::fprintf(stderr, "jobperf-collect: %s: %s\n", source.c_str(), text.c_str());
}

void Collector::begin_subject(const TrackedProcess& p, std::int64_t now) {
  writer_.subject_begin({now, p.pid, p.ppid, p.rank, p.start_ns, p.command});
}

void Collector::adopt(const TrackedProcess& process) {
  tracker_.adopt(process);
  begin_subject(process, stream::monotonic_ns());
}

void Collector::tick() {
  const std::int64_t now = stream::monotonic_ns();
  auto changes = tracker_.scan();
  for (const auto& p : changes.started) begin_subject(p, now);
  for (auto pid : changes.ended) writer_.subject_end({now, pid, -1});

  SampleContext ctx;
  ctx.time_ns = now;
  ctx.processes = tracker_.watched();
  for (auto* sources : {&process_sources_, &node_sources_}) {
    for (auto& [id, name, source] : *sources) {
      ctx.warn = [&, &name = name](const std::string& text) { note(stream::NoteLevel::Warning, name, text); };
      source->sample(ctx, [&, id = id](std::uint32_t subject, std::span<const std::uint64_t> values) {
        writer_.record(now, id, subject, values);
      });
    }
  }
  ++ticks_;
  if (now - last_anchor_ns_ >= config_.anchor_interval_ns) {
    writer_.anchor(stream::read_clock_anchor());
    record_utc_error();
    last_anchor_ns_ = now;
  }
  // Half an interval of slack: ticks jitter, and a flush due "now" must not wait a whole tick.
  if (now - last_flush_ns_ + interval_ns() / 2 >= config_.flush_interval_ns) {
    writer_.flush();
    last_flush_ns_ = now;
  }
  check_writer();
}

void Collector::reaped(const ReapedProcess& process, int wait_status) {
  const std::int64_t now = stream::monotonic_ns();
  if (!tracker_.find(process.pid)) {  // ended before any scan saw it
    TrackedProcess p;
    p.pid = process.pid;
    p.ppid = static_cast<std::uint32_t>(getpid());
    p.rank = config_.header.rank;
    p.start_ns = now;
    p.command = "(ended before its first sample)";
    begin_subject(p, now);
  }
  for (auto& [id, name, source] : process_sources_)
    source->process_reaped(process, [&, id = id](std::uint32_t subject, std::span<const std::uint64_t> values) {
      writer_.record(now, id, subject, values);
    });
  writer_.subject_end({now, process.pid, wait_status});
  tracker_.forget(process.pid);
  check_writer();
}

// What collecting cost, as Darshan and EPMT report theirs: this process's own
// CPU time and memory (children, the application in wrapper mode, excluded).
stream::Metadata Collector::own_cost() const {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  const double cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                       static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) * 1e-6;
  const double wall_s = static_cast<double>(stream::monotonic_ns() - started_ns_) * 1e-9;
  char cpu[32], wall[32];
  std::snprintf(cpu, sizeof cpu, "%.6f", cpu_s);
  std::snprintf(wall, sizeof wall, "%.3f", wall_s);
  if (!config_.quiet)
    std::fprintf(stderr, "jobperf-collect: collection cost %.3f s of CPU in %.1f s (%.3f %% of a core), %ld kB peak RSS\n",
                 cpu_s, wall_s, wall_s > 0 ? 100 * cpu_s / wall_s : 0.0, self.ru_maxrss);
  return {{"collector.cpu_s", cpu}, {"collector.wall_s", wall}, {"collector.max_rss_kb", std::to_string(self.ru_maxrss)}};
}

void Collector::finish(const std::string& reason, const stream::Metadata& final_metadata) {
  tick();
  auto closing = final_metadata;
  closing.emplace_back("batch.end_time", stream::iso_utc(stream::read_clock_anchor().realtime, 0));
  for (auto& cost : own_cost()) closing.push_back(std::move(cost));
  writer_.metadata(closing);
  record_utc_error();
  writer_.close({stream::read_clock_anchor(), reason});
  check_writer();
  if (writer_.failed())
    std::fprintf(stderr, "jobperf-collect: %s: %llu records lost after the write failure; the stream ends there\n",
                 writer_.path().c_str(), static_cast<unsigned long long>(writer_.records_lost()));
}

// A full or failing scratch must never disturb the job: say so once, then
// the writer drops further data and the application runs on.
void Collector::check_writer() {
  if (writer_.failed() && !write_failure_reported_) {
    write_failure_reported_ = true;
    std::fprintf(stderr, "jobperf-collect: %s; collection stops, the application is not affected\n",
                 writer_.error().c_str());
  }
}

}  // namespace jobperf::collect
