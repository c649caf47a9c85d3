#include "reduce/job_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

#include "formats/byte_codec.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

// A catalog as one rank sends it and every rank receives it: received into
// one that holds others' already, it adds to them.
void transfer(auto& io, MessageOf<Catalog> auto& c) {
  auto counts = [&](auto& n) { io(n.source, n.fields, n.samples); };
  io.each(c.rows, [&](auto& r) {
    io(r.rank, r.host, r.exit_status, r.first_ns, r.last_ns, r.stream);
    io.each(r.samples, counts);
  });
  io.each(c.nodes, [&](auto& n) {
    io(n.host, n.device, n.first_ns, n.last_ns, n.stream);
    io.each(n.samples, counts);
  });
  io.each(c.sources, [&](auto& s) { io.with(s, stream::encode_source, stream::decode_source); });
  io.each(c.streams, [&](auto& s) { io(s.path, s.job_id, s.mode, s.host, s.rank, s.interval_ns, s.world_size, s.problems); });
  io(c.unreadable);
  io.each(c.recorded_exits, [&](auto& e) { io(e.rank, e.exit_status); });
}

std::vector<MetricPlan> plan_metrics(const std::vector<stream::SourceSpec>& sources, stream::Scope scope) {
  std::vector<MetricPlan> out;
  std::set<std::string> names;
  for (const auto& s : sources) {
    if (s.scope != scope) continue;
    for (auto& m : metrics_for_source(s)) {
      if (!names.insert(m.name).second) m.name = s.name + "." + m.name;  // keep both when sources clash
      out.push_back({s.name, std::move(m)});
    }
  }
  return out;
}

std::vector<jobfile::MetricInfo> infos(const std::vector<MetricPlan>& plan) {
  std::vector<jobfile::MetricInfo> out;
  for (const auto& p : plan) out.push_back({p.metric.name, p.metric.units, p.metric.long_name, p.metric.formula});
  return out;
}

std::int64_t count_of(const std::vector<SampleCount>& counts, const stream::SourceSpec& spec) {
  for (const auto& c : counts)
    if (c.source == spec.name && c.fields == spec.fields.size()) return c.samples;
  return 0;
}

// /samples: one (row, sample) table per source, rows as in /ranks or /nodes;
// and one by GPU (as in /gpus) per node source that GPUs have samples of.
void plan_samples(Plan& plan, const std::vector<RowEntry>& sorted_rows, const std::vector<NodeEntry>& nodes,
                  const std::set<std::string>& device_sources) {
  auto table = [&](std::size_t source, jobfile::Rows rows, const std::string& name) {
    jobfile::SampleSource t;
    t.source = name;
    t.row_kind = rows;
    for (const auto& f : plan.sources[source].fields) t.fields.push_back({f.name, f.units, f.description, ""});
    plan.sample_tables.push_back({source, rows});
    return t;
  };
  auto chosen = [&](const NodeEntry& n) { return plan.gives_node_samples(n.host, n.stream); };
  for (std::size_t i = 0; i < plan.sources.size(); ++i) {
    const auto& spec = plan.sources[i];
    if (spec.scope == stream::Scope::Process) {
      auto t = table(i, jobfile::Rows::Ranks, spec.name);
      for (const auto& r : sorted_rows) t.counts.push_back(count_of(r.samples, spec));
      plan.layout.samples.push_back(std::move(t));
      continue;
    }
    auto t = table(i, jobfile::Rows::Nodes, spec.name);
    for (const auto& host : plan.layout.nodes)
      for (const auto& n : nodes)
        if (n.host == host && n.device < 0 && chosen(n)) t.counts.push_back(count_of(n.samples, spec));
    plan.layout.samples.push_back(std::move(t));
    if (!device_sources.count(spec.name)) continue;
    auto by_gpu = table(i, jobfile::Rows::Gpus, spec.name + ".gpus");
    by_gpu.counts.assign(plan.gpu_row.size(), 0);
    for (const auto& n : nodes)
      if (n.device >= 0 && chosen(n)) by_gpu.counts[plan.gpu_row.at({n.host, n.device})] = count_of(n.samples, spec);
    plan.layout.samples.push_back(std::move(by_gpu));
  }
}

// The first and the last sample of the job, of any row; first > last if none.
std::pair<std::int64_t, std::int64_t> sample_span(const Catalog& all) {
  std::int64_t first = std::numeric_limits<std::int64_t>::max(), last = std::numeric_limits<std::int64_t>::min();
  for (const auto& r : all.rows) first = std::min(first, r.first_ns), last = std::max(last, r.last_ns);
  for (const auto& n : all.nodes) first = std::min(first, n.first_ns), last = std::max(last, n.last_ns);
  return {first, last};
}

std::int64_t sampling_interval_ns(const Catalog& all) {
  std::int64_t interval = 0;
  for (const auto& s : all.streams) interval = std::max(interval, s.interval_ns);
  return interval;
}

// Why these streams cannot make one job file, if they cannot: none readable,
// several jobs, a rank on two hosts, or no samples at all.
std::vector<std::string> refusals(const Catalog& all) {
  if (all.streams.empty() && !all.unreadable.empty()) return all.unreadable;  // nothing to make a job file of
  std::set<std::string> job_ids;
  for (const auto& s : all.streams) job_ids.insert(s.job_id);
  if (job_ids.size() > 1) {
    std::string listing;
    for (const auto& s : all.streams) listing += "\n  " + s.path + ": job " + s.job_id;
    return {"streams of " + std::to_string(job_ids.size()) + " different jobs given; reduce one job at a time:" + listing};
  }
  std::vector<std::string> errors;
  std::map<std::int32_t, const RowEntry*> seen_rank;
  for (const auto& r : all.rows) {
    if (r.rank < 0) continue;
    auto [it, fresh] = seen_rank.emplace(r.rank, &r);
    if (!fresh && it->second->host != r.host)
      errors.push_back("rank " + std::to_string(r.rank) + " appears on hosts " + it->second->host + " and " + r.host);
  }
  if (auto [first, last] = sample_span(all); all.rows.empty() || first > last) {
    std::string why;  // a collector killed early, or damage, is usually the reason
    for (const auto& s : all.streams)
      for (const auto& p : s.problems) why += "\n  " + p;
    for (const auto& u : all.unreadable) why += "\n  " + u;
    errors.push_back("empty job: the streams hold no process samples" + why);
  }
  return errors;
}

// Bins of --bin seconds (default: the sampling interval) over the job's
// samples, first to last; a sample exactly on the last edge closes the last bin.
Timeline timeline_of(const Catalog& all, const ReduceOptions& options) {
  const auto [first, last] = sample_span(all);
  Timeline tl;
  tl.bin_ns = options.bin_seconds > 0 ? std::llround(options.bin_seconds * 1e9)
                                      : std::max<std::int64_t>(sampling_interval_ns(all), 1'000'000);
  tl.start_ns = first;
  tl.bins = static_cast<std::size_t>(std::max<std::int64_t>(1, (last - first + tl.bin_ns - 1) / tl.bin_ns));
  return tl;
}

// /ranks: one row per rank and stream, sorted. A rank whose work several
// streams hold (wrapped steps of one batch script) has a row for each, told
// apart by /ranks/stream.
std::vector<RowEntry> plan_rank_rows(Plan& plan, const Catalog& all) {
  auto rows = all.rows;
  std::map<std::int32_t, std::int64_t> recorded;  // by rank: thousands of ranks, thousands of records
  for (const auto& e : all.recorded_exits) recorded[e.rank] = e.exit_status;
  for (auto& r : rows)  // what the collector did not see end (a sidecar's ranks), the exit records may have
    if (auto it = recorded.find(r.rank); r.exit_status < 0 && it != recorded.end()) r.exit_status = it->second;
  std::sort(rows.begin(), rows.end(),
            [](auto& a, auto& b) { return std::tie(a.rank, a.host, a.stream) < std::tie(b.rank, b.host, b.stream); });
  auto& L = plan.layout;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    L.ranks.push_back(r.rank);
    L.rank_hosts.push_back(r.host);
    L.rank_streams.push_back(r.stream);
    L.rank_exit_status.push_back(r.exit_status);
    plan.rank_row[{r.rank, r.host, r.stream}] = i;
  }
  plan.rank_metrics = plan_metrics(all.sources, stream::Scope::Process);
  L.rank_metrics = infos(plan.rank_metrics);
  return rows;
}

// /nodes and /gpus. A host's node samples come from one stream: several (job
// steps) would count them twice. Its devices (GPUs) come from that stream
// too, with the metrics of the node sources they have samples of; returns
// those sources.
std::set<std::string> plan_node_and_gpu_rows(Plan& plan, const Catalog& all) {
  auto& L = plan.layout;
  for (const auto& n : all.nodes) {
    if (n.device >= 0) continue;
    if (auto [it, fresh] = plan.node_stream.emplace(n.host, n.stream); !fresh) it->second = std::min(it->second, n.stream);
  }
  for (const auto& [host, stream] : plan.node_stream) L.nodes.push_back(host);
  plan.node_metrics = plan_metrics(all.sources, stream::Scope::Node);
  L.node_metrics = infos(plan.node_metrics);
  std::set<std::string> device_sources;
  for (const auto& n : all.nodes) {
    if (n.device < 0 || !plan.gives_node_samples(n.host, n.stream)) continue;
    plan.gpu_row[{n.host, n.device}] = 0;
    for (const auto& c : n.samples) device_sources.insert(c.source);
  }
  for (auto& [key, row] : plan.gpu_row) {
    row = L.gpu_hosts.size();
    L.gpu_hosts.push_back(key.first);
    L.gpu_indices.push_back(key.second);
  }
  for (const auto& m : plan.node_metrics)
    if (device_sources.count(m.source)) plan.gpu_metrics.push_back(m);
  L.gpu_metrics = infos(plan.gpu_metrics);
  return device_sources;
}

// The job's exit status from its ranks': the first non-zero one, else -1 if
// a rank was killed, else 0.
std::int64_t job_exit_status(const std::vector<RowEntry>& rows) {
  std::int64_t status = 0;
  for (const auto& r : rows) {
    if (r.rank < 0) continue;
    if (r.exit_status < 0 && status == 0) status = -1;
    if (r.exit_status > 0 && status <= 0) status = r.exit_status;
  }
  return status;
}

// Ranks the launcher announced but no stream holds: a node died, or a
// collector never ran. (A sidecar's launcher variables count the sidecars,
// not the job's ranks.)
std::optional<std::string> missing_ranks(const Catalog& all) {
  std::set<std::int32_t> seen;
  for (const auto& r : all.rows) seen.insert(r.rank);
  for (const auto& s : all.streams) {
    if (s.world_size.empty() || s.mode != "wrapper") continue;
    std::string list;
    for (int r = 0; r < std::atoi(s.world_size.c_str()); ++r)
      if (!seen.count(r)) list += (list.empty() ? "" : ",") + std::to_string(r);
    if (list.empty()) return std::nullopt;
    return "ranks missing (no stream holds them; the job had " + s.world_size + "): " + list;
  }
  return std::nullopt;
}

// /job: who, when, where, how collected, and what went wrong.
jobfile::JobInfo describe_job(const Catalog& all, const std::vector<RowEntry>& rows) {
  jobfile::JobInfo info;
  info.job_id = all.streams.front().job_id;
  std::tie(info.start_ns, info.end_ns) = sample_span(all);
  info.sample_interval_s = static_cast<double>(sampling_interval_ns(all)) * 1e-9;
  info.exit_status = job_exit_status(rows);
  std::set<std::string> hosts, modes;
  for (const auto& s : all.streams) {
    hosts.insert(s.host);
    modes.insert(s.mode);
    info.problems.insert(info.problems.end(), s.problems.begin(), s.problems.end());
  }
  // One damaged stream (a node's disk, a collector killed as it started) costs its ranks, not the job file.
  for (const auto& u : all.unreadable) info.problems.push_back(u + "; the stream is left out");
  if (auto missing = missing_ranks(all)) info.problems.push_back(*missing);
  info.hosts.assign(hosts.begin(), hosts.end());
  for (const auto& m : modes) info.collection_mode += (info.collection_mode.empty() ? "" : ",") + m;
  if (!info.problems.empty()) info.status = "partial";
  return info;
}

}  // namespace

Catalog gather_catalogs(const Catalog& mine, MPI_Comm comm) {
  std::vector<char> bytes;
  Encoder e(bytes);
  transfer(e, mine);
  Catalog all;
  for (const auto& blob : all_gather(bytes, comm)) {
    Decoder d(blob.data(), blob.size());
    transfer(d, all);
  }
  std::set<std::string> listed;  // every rank may list a source: keep one
  std::erase_if(all.sources, [&](const auto& s) { return !listed.insert(s.name).second; });
  return all;
}

Plan plan_job(const Catalog& all, const ReduceOptions& options) {
  Plan plan;
  plan.errors = refusals(all);
  if (!plan.errors.empty()) return plan;
  plan.timeline = timeline_of(all, options);
  plan.sources = all.sources;
  auto& L = plan.layout;
  L.compress = options.compress;
  L.bin_seconds = plan.timeline.bin_seconds();
  for (std::size_t b = 0; b < plan.timeline.bins; ++b) L.time_ns.push_back(plan.timeline.bin_start(b));
  const auto rows = plan_rank_rows(plan, all);
  const auto device_sources = plan_node_and_gpu_rows(plan, all);
  plan_samples(plan, rows, all.nodes, device_sources);
  L.info = describe_job(all, rows);
  return plan;
}

}  // namespace jobperf::reduce
