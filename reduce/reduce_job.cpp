#include "reduce/reduce_job.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "formats/byte_codec.hpp"
#include "formats/job_file.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/aggregate.hpp"
#include "reduce/clock_alignment.hpp"
#include "reduce/exchange.hpp"
#include "reduce/formulas.hpp"
#include "reduce/in_job_outliers.hpp"
#include "reduce/process_table.hpp"
#include "reduce/summary.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {
namespace {

namespace fs = std::filesystem;
using stream::Aggregation;

struct ReduceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- inputs

struct StreamFile {
  std::string path;
  std::uint64_t size;
  std::vector<int> readers;  // ranks that can see it: scratch may be node-local
};

// The streams this rank can see, and the inputs it cannot.
std::pair<std::vector<StreamFile>, std::vector<std::string>> list_visible(const std::vector<std::string>& inputs) {
  std::vector<StreamFile> found;
  std::vector<std::string> missing;
  for (const auto& input : inputs) {
    std::error_code ec;
    auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) {
      missing.push_back(input);
    } else if (fs::is_directory(status)) {
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (entry.is_regular_file() && entry.path().extension() == stream::kStreamSuffix)
          found.push_back({entry.path().string(), static_cast<std::uint64_t>(entry.file_size()), {}});
    } else {
      found.push_back({input, static_cast<std::uint64_t>(fs::file_size(input, ec)), {}});
    }
  }
  return {found, missing};
}

// Every rank lists the inputs; the union is every stream of the job, each
// readable by the ranks that saw it. Identical on every rank.
std::vector<StreamFile> list_streams(const std::vector<std::string>& inputs, MPI_Comm comm,
                                     std::vector<std::string>& errors) {
  auto [found, missing] = list_visible(inputs);
  std::vector<char> mine;
  Encoder e(mine);
  e.put(static_cast<std::uint32_t>(found.size()));
  for (const auto& f : found) e.put_string(f.path), e.put(f.size);
  e.put(static_cast<std::uint32_t>(missing.size()));
  for (const auto& m : missing) e.put_string(m);

  std::map<std::string, StreamFile> streams;
  std::map<std::string, int> missing_count;
  int size = 0, rank = 0;
  for (const auto& blob : all_gather(mine, comm)) {
    Decoder d(blob.data(), blob.size());
    for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
      auto path = d.get_string();
      auto& f = streams[path];
      f.path = path;
      f.size = d.get<std::uint64_t>();
      f.readers.push_back(rank);
    }
    for (auto n = d.get<std::uint32_t>(); n > 0; --n) ++missing_count[d.get_string()];
    ++rank;
  }
  MPI_Comm_size(comm, &size);
  for (const auto& [input, n] : missing_count)
    if (n == size) errors.push_back(input + ": no such file or directory");
  auto normal = [](const fs::path& p) { return (p / "").parent_path().lexically_normal(); };
  for (const auto& input : inputs) {
    bool any = std::any_of(streams.begin(), streams.end(), [&](auto& kv) {
      return kv.first == input || normal(fs::path(kv.first).parent_path()) == normal(input);
    });
    if (!any && missing_count[input] < size)
      errors.push_back(input + ": no jobperf streams (*" + stream::kStreamSuffix + ") in this directory");
  }
  std::vector<StreamFile> out;
  for (auto& [path, f] : streams) out.push_back(std::move(f));
  return out;
}

// Largest first onto the least-loaded rank that can read it.
std::vector<int> assign_streams(const std::vector<StreamFile>& files, int ranks) {
  std::vector<std::size_t> order(files.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return files[a].size > files[b].size; });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owner(files.size());
  for (auto i : order) {
    int best = files[i].readers.front();
    for (int r : files[i].readers)
      if (load[static_cast<std::size_t>(r)] < load[static_cast<std::size_t>(best)]) best = r;
    owner[i] = best;
    load[static_cast<std::size_t>(best)] += files[i].size + 1;
  }
  return owner;
}

// ---------------------------------------------------------------- catalog

// What one reducer rank found, exchanged so that all agree on the layout.
struct RowEntry {
  std::int32_t rank;
  std::string host;
  std::int64_t exit_status;
  std::int64_t first_ns, last_ns;
  std::string stream;
};
struct NodeEntry {
  std::string host;
  std::int64_t first_ns, last_ns;
  std::string stream;
};
struct StreamEntry {
  std::string path, job_id, mode, host;
  std::int32_t rank;
  std::int64_t interval_ns;
  std::string world_size;  // OMPI_COMM_WORLD_SIZE etc. as the collector saw it
  std::vector<std::string> problems;
};
struct Catalog {
  std::vector<RowEntry> rows;
  std::vector<NodeEntry> nodes;
  std::vector<stream::SourceSpec> sources;
  std::vector<StreamEntry> streams;
};

std::vector<char> encode(const Catalog& c) {
  std::vector<char> out;
  Encoder e(out);
  e.put(static_cast<std::uint32_t>(c.rows.size()));
  for (const auto& r : c.rows) {
    e.put(r.rank);
    e.put_string(r.host);
    e.put(r.exit_status);
    e.put(r.first_ns);
    e.put(r.last_ns);
    e.put_string(r.stream);
  }
  e.put(static_cast<std::uint32_t>(c.nodes.size()));
  for (const auto& n : c.nodes) {
    e.put_string(n.host);
    e.put(n.first_ns);
    e.put(n.last_ns);
    e.put_string(n.stream);
  }
  e.put(static_cast<std::uint32_t>(c.sources.size()));
  for (const auto& s : c.sources) stream::encode_source(e, s);
  e.put(static_cast<std::uint32_t>(c.streams.size()));
  for (const auto& s : c.streams) {
    e.put_string(s.path);
    e.put_string(s.job_id);
    e.put_string(s.mode);
    e.put_string(s.host);
    e.put(s.rank);
    e.put(s.interval_ns);
    e.put_string(s.world_size);
    e.put(static_cast<std::uint32_t>(s.problems.size()));
    for (const auto& p : s.problems) e.put_string(p);
  }
  return out;
}

void decode_into(const std::vector<char>& bytes, Catalog& c) {
  Decoder d(bytes.data(), bytes.size());
  for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
    RowEntry r;
    r.rank = d.get<std::int32_t>();
    r.host = d.get_string();
    r.exit_status = d.get<std::int64_t>();
    r.first_ns = d.get<std::int64_t>();
    r.last_ns = d.get<std::int64_t>();
    r.stream = d.get_string();
    c.rows.push_back(std::move(r));
  }
  for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
    NodeEntry e;
    e.host = d.get_string();
    e.first_ns = d.get<std::int64_t>();
    e.last_ns = d.get<std::int64_t>();
    e.stream = d.get_string();
    c.nodes.push_back(std::move(e));
  }
  for (auto n = d.get<std::uint32_t>(); n > 0; --n) {  // every rank may list a source: keep one
    auto s = stream::decode_source(d);
    if (std::none_of(c.sources.begin(), c.sources.end(), [&](auto& k) { return k.name == s.name; }))
      c.sources.push_back(std::move(s));
  }
  for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
    StreamEntry s;
    s.path = d.get_string();
    s.job_id = d.get_string();
    s.mode = d.get_string();
    s.host = d.get_string();
    s.rank = d.get<std::int32_t>();
    s.interval_ns = d.get<std::int64_t>();
    s.world_size = d.get_string();
    for (auto p = d.get<std::uint32_t>(); p > 0; --p) s.problems.push_back(d.get_string());
    c.streams.push_back(std::move(s));
  }
}

// ---------------------------------------------------------------- metrics

struct MetricPlan {
  std::string source;
  DerivedMetric metric;
};

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

// All metrics of one row: [metric][bin].
std::vector<std::vector<double>> derive(const std::vector<StepSeries>& sources, const std::vector<MetricPlan>& plan,
                                        const Timeline& timeline) {
  std::map<std::string, BinnedSource> binned;
  for (const auto& s : sources) binned.emplace(s.spec.name, resample(s, timeline));
  std::vector<std::vector<double>> out;
  for (const auto& p : plan) {
    auto it = binned.find(p.source);
    out.push_back(evaluate(p.metric, timeline.bins, [&](const std::string& field, bool rate) {
      return it == binned.end() ? nullptr : it->second.find(field, rate);
    }));
  }
  return out;
}

// ---------------------------------------------------------------- the job

std::string metadata_value(const stream::Metadata& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return "";
}

std::string world_size_of(const stream::Metadata& m) {
  for (auto key : {"env.OMPI_COMM_WORLD_SIZE", "env.PMI_SIZE", "env.SLURM_NTASKS"})
    if (auto v = metadata_value(m, key); !v.empty()) return v;
  return "";
}

struct Local {
  std::vector<stream::DecodedStream> streams;
  std::vector<RankRow> rank_rows;
  std::vector<NodeRow> node_rows;
  std::vector<jobfile::ProcessRow> processes;
};

Catalog catalog_of(const Local& local) {
  Catalog c;
  auto span_of = [](const std::vector<StepSeries>& sources, std::int64_t& first, std::int64_t& last) {
    first = std::numeric_limits<std::int64_t>::max();
    last = std::numeric_limits<std::int64_t>::min();
    for (const auto& s : sources)
      if (!s.time_ns.empty()) {
        first = std::min(first, s.time_ns.front());
        last = std::max(last, s.time_ns.back());
      }
  };
  for (const auto& s : local.streams) {
    StreamEntry e{s.path, s.header.job_id, s.header.mode, s.header.host, s.header.rank, s.header.interval_ns,
                  world_size_of(s.metadata), {}};
    for (const auto& d : s.damage) e.problems.push_back(s.path + ": " + stream::describe(d));
    // Process-exit streams are appended to by every process and never closed.
    if (!s.closed && s.header.mode != "preload")
      e.problems.push_back(s.path + ": no end block (the collector did not finish: killed, or still running)");
    c.streams.push_back(std::move(e));
    for (const auto& spec : s.sources) {
      bool known = std::any_of(c.sources.begin(), c.sources.end(), [&](auto& k) { return k.name == spec.name; });
      if (!known) c.sources.push_back(spec);
    }
  }
  for (const auto& r : local.rank_rows) {
    RowEntry e{r.rank, r.host, r.exit_status, 0, 0, r.stream};
    span_of(r.sources, e.first_ns, e.last_ns);
    c.rows.push_back(e);
  }
  for (const auto& n : local.node_rows) {
    NodeEntry e{n.host, 0, 0, ""};
    span_of(n.sources, e.first_ns, e.last_ns);
    c.nodes.push_back(e);
  }
  return c;
}

struct Plan {
  jobfile::JobLayout layout;
  Timeline timeline;
  std::vector<MetricPlan> rank_metrics, node_metrics;
  std::vector<stream::SourceSpec> sources;  // every source of the job, same order on every rank
  std::vector<std::string> errors;
};

Plan plan_job(const Catalog& all, const ReduceOptions& options) {
  Plan plan;
  std::set<std::string> job_ids;
  for (const auto& s : all.streams) job_ids.insert(s.job_id);
  if (job_ids.size() > 1) {
    std::string listing;
    for (const auto& s : all.streams) listing += "\n  " + s.path + ": job " + s.job_id;
    plan.errors.push_back("streams of " + std::to_string(job_ids.size()) + " different jobs given; reduce one job at a time:" + listing);
    return plan;
  }
  std::map<std::int32_t, const RowEntry*> seen_rank;
  for (const auto& r : all.rows) {
    if (r.rank < 0) continue;
    auto [it, fresh] = seen_rank.emplace(r.rank, &r);
    if (!fresh && it->second->host != r.host)
      plan.errors.push_back("rank " + std::to_string(r.rank) + " appears on hosts " + it->second->host + " and " + r.host);
  }
  std::int64_t first = std::numeric_limits<std::int64_t>::max(), last = std::numeric_limits<std::int64_t>::min();
  for (const auto& r : all.rows) first = std::min(first, r.first_ns), last = std::max(last, r.last_ns);
  for (const auto& n : all.nodes) first = std::min(first, n.first_ns), last = std::max(last, n.last_ns);
  if (all.rows.empty() || first > last) {
    plan.errors.push_back("empty job: the streams hold no process samples");
    return plan;
  }
  if (!plan.errors.empty()) return plan;

  std::int64_t interval = 0;
  for (const auto& s : all.streams) interval = std::max(interval, s.interval_ns);
  auto& tl = plan.timeline;
  tl.bin_ns = options.bin_seconds > 0 ? std::llround(options.bin_seconds * 1e9) : std::max<std::int64_t>(interval, 1'000'000);
  tl.start_ns = first;
  // Bins cover [first, last]; a sample exactly on the last edge closes the last bin.
  tl.bins = static_cast<std::size_t>(std::max<std::int64_t>(1, (last - first + tl.bin_ns - 1) / tl.bin_ns));

  auto& L = plan.layout;
  L.compress = options.compress;
  L.bin_seconds = tl.bin_seconds();
  for (std::size_t b = 0; b < tl.bins; ++b) L.time_ns.push_back(tl.bin_start(b));
  auto rows = all.rows;
  // One row per rank and stream: a rank whose work several streams hold (wrapped steps of one
  // batch script) has a row for each, told apart by /ranks/stream.
  std::sort(rows.begin(), rows.end(),
            [](auto& a, auto& b) { return std::tie(a.rank, a.host, a.stream) < std::tie(b.rank, b.host, b.stream); });
  std::int64_t exit_status = 0;
  for (const auto& r : rows) {
    L.ranks.push_back(r.rank);
    L.rank_hosts.push_back(r.host);
    L.rank_streams.push_back(r.stream);
    L.rank_exit_status.push_back(r.exit_status);
    if (r.rank < 0) continue;
    if (r.exit_status < 0 && exit_status == 0) exit_status = -1;
    if (r.exit_status > 0 && exit_status <= 0) exit_status = r.exit_status;
  }
  std::set<std::string> node_hosts;
  for (const auto& n : all.nodes) node_hosts.insert(n.host);
  L.nodes.assign(node_hosts.begin(), node_hosts.end());
  plan.sources = all.sources;
  plan.rank_metrics = plan_metrics(all.sources, stream::Scope::Process);
  plan.node_metrics = plan_metrics(all.sources, stream::Scope::Node);
  L.rank_metrics = infos(plan.rank_metrics);
  L.node_metrics = infos(plan.node_metrics);

  auto& info = L.info;
  info.job_id = *job_ids.begin();
  info.start_ns = first;
  info.end_ns = last;
  info.sample_interval_s = static_cast<double>(interval) * 1e-9;
  info.exit_status = exit_status;
  std::set<std::string> hosts, modes;
  for (const auto& s : all.streams) {
    hosts.insert(s.host);
    modes.insert(s.mode);
    info.problems.insert(info.problems.end(), s.problems.begin(), s.problems.end());
  }
  info.hosts.assign(hosts.begin(), hosts.end());
  for (const auto& m : modes) info.collection_mode += (info.collection_mode.empty() ? "" : ",") + m;
  // Ranks the launcher announced but no stream holds: a node died, or a collector never ran.
  for (const auto& s : all.streams) {
    // A sidecar's launcher variables count the sidecars, not the job's ranks.
    if (s.world_size.empty() || s.mode != "wrapper") continue;
    std::vector<std::string> missing;
    for (int r = 0; r < std::atoi(s.world_size.c_str()); ++r)
      if (!seen_rank.count(r)) missing.push_back(std::to_string(r));
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ",") + m;
      info.problems.push_back("ranks missing (no stream holds them; the job had " + s.world_size + "): " + list);
    }
    break;
  }
  if (!info.problems.empty()) info.status = "partial";
  return plan;
}

// The metadata of the stream of the lowest rank, sent by its owner to all.
stream::Metadata primary_metadata(const Local& local, const Catalog& all, const std::vector<int>& owner,
                                  const std::vector<StreamFile>& files, MPI_Comm comm) {
  std::string primary;
  std::int32_t best = std::numeric_limits<std::int32_t>::max();
  for (const auto& s : all.streams) {
    std::int32_t key = s.rank >= 0 ? s.rank : std::numeric_limits<std::int32_t>::max() - 1;
    if (primary.empty() || key < best) best = key, primary = s.path;
  }
  int root = 0;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (files[i].path == primary) root = owner[i];
  std::vector<char> bytes;
  for (const auto& s : local.streams) {
    if (s.path != primary) continue;
    Encoder e(bytes);
    e.put(static_cast<std::uint32_t>(s.metadata.size()));
    for (const auto& [k, v] : s.metadata) e.put_string(k), e.put_string(v);
  }
  auto n = static_cast<long long>(bytes.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, root, comm);
  bytes.resize(static_cast<std::size_t>(n));
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_CHAR, root, comm);
  stream::Metadata m;
  Decoder d(bytes.data(), bytes.size());
  for (auto count = d.get<std::uint32_t>(); count > 0; --count) {
    auto k = d.get_string();
    m.emplace_back(std::move(k), d.get_string());
  }
  return m;
}

// ---------------------------------------------------------------- raw samples

// One stream per host supplies the node's rows: the first this rank holds.
std::vector<const NodeRow*> node_row_per_host(const Local& local) {
  std::set<std::string> hosts;
  std::vector<const NodeRow*> out;
  for (const auto& n : local.node_rows)
    if (hosts.insert(n.host).second) out.push_back(&n);
  return out;
}

// The rows' samples before binning, one table per source (/samples).
std::vector<jobfile::SampleTable> raw_samples(const Plan& plan, const Local& local) {
  std::vector<jobfile::SampleTable> out;
  auto append = [](jobfile::SampleTable& t, const StepSeries& s, std::int32_t rank, const std::string& host) {
    for (std::size_t k = 0; k < s.time_ns.size(); ++k) {
      t.ranks.push_back(rank);
      t.hosts.push_back(host);
      t.time_ns.push_back(s.time_ns[k]);
      for (std::size_t f = 0; f < t.fields.size(); ++f) t.values[f].push_back(s.fields[f][k]);
    }
  };
  const auto nodes = node_row_per_host(local);
  for (const auto& spec : plan.sources) {
    jobfile::SampleTable t;
    t.source = spec.name;
    t.row_kind = spec.scope == stream::Scope::Process ? jobfile::Rows::Ranks : jobfile::Rows::Nodes;
    for (const auto& f : spec.fields) t.fields.push_back({f.name, f.units, f.description, ""});
    t.values.resize(t.fields.size());
    for (const auto& row : local.rank_rows)
      for (const auto& s : row.sources)
        if (s.spec.name == spec.name && s.spec.fields.size() == t.fields.size()) append(t, s, row.rank, row.host);
    for (const auto* row : nodes)
      for (const auto& s : row->sources)
        if (s.spec.name == spec.name && s.spec.fields.size() == t.fields.size()) append(t, s, -1, row->host);
    out.push_back(std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------- derive, summarise, compare

// This rank's rows and their derived metrics, [row][metric][bin].
struct Derived {
  std::vector<std::size_t> rank_index, node_index;  // rows of /ranks and /nodes
  std::vector<std::vector<std::vector<double>>> rank_values, node_values;
};

Derived derive_rows(const Plan& plan, const Local& local) {
  const auto& L = plan.layout;
  Derived d;
  for (const auto& r : local.rank_rows) {
    for (std::size_t i = 0; i < L.ranks.size(); ++i)
      if (L.ranks[i] == r.rank && L.rank_hosts[i] == r.host && L.rank_streams[i] == r.stream) d.rank_index.push_back(i);
    d.rank_values.push_back(derive(r.sources, plan.rank_metrics, plan.timeline));
  }
  for (const auto* n : node_row_per_host(local)) {
    d.node_index.push_back(static_cast<std::size_t>(std::find(L.nodes.begin(), L.nodes.end(), n->host) - L.nodes.begin()));
    d.node_values.push_back(derive(n->sources, plan.node_metrics, plan.timeline));
  }
  return d;
}

struct Summaries {
  std::vector<std::vector<double>> rank_rows, node_rows;  // per metric: this rank's rows × kStatCount
  std::vector<PartialStats> job, job_nodes;              // per metric, over all rows of all ranks
  std::vector<PartialStats> steps;                       // per metric and bin, across ranks
};

Summaries summarise(const Plan& plan, const Derived& d, MPI_Comm comm) {
  const auto& L = plan.layout;
  const double dt = plan.timeline.bin_seconds();
  const std::size_t bins = plan.timeline.bins, metrics = plan.rank_metrics.size();
  Summaries s;
  s.rank_rows.resize(metrics);
  s.job.resize(metrics);
  s.steps.resize(metrics * bins);
  for (std::size_t r = 0; r < d.rank_values.size(); ++r) {
    const auto rank = L.ranks[d.rank_index[r]];
    for (std::size_t m = 0; m < metrics; ++m) {
      const auto& values = d.rank_values[r][m];
      auto row = summarize(values, dt);
      s.rank_rows[m].insert(s.rank_rows[m].end(), row.begin(), row.end());
      s.job[m].add_row(values, dt, rank >= 0 ? rank : std::nan(""));
      for (std::size_t b = 0; b < bins; ++b)
        if (!std::isnan(values[b])) s.steps[m * bins + b].add(values[b], dt);
    }
  }
  s.node_rows.resize(plan.node_metrics.size());
  s.job_nodes.resize(plan.node_metrics.size());
  for (std::size_t r = 0; r < d.node_values.size(); ++r) {
    for (std::size_t m = 0; m < plan.node_metrics.size(); ++m) {
      auto row = summarize(d.node_values[r][m], dt);
      s.node_rows[m].insert(s.node_rows[m].end(), row.begin(), row.end());
      s.job_nodes[m].add_row(d.node_values[r][m], dt, static_cast<double>(d.node_index[r]));
    }
  }
  merge_across(s.job, comm);
  merge_across(s.job_nodes, comm);
  merge_across(s.steps, comm);
  return s;
}

std::size_t metric_index(const std::vector<MetricPlan>& plan, const std::string& name) {
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (plan[i].metric.name == name) return i;
  return plan.size();
}

// The compared summaries of this rank's rows, encoded for rank 0.
template <typename Comparisons>
void encode_compared(Encoder& e, const Comparisons& comparisons, const std::vector<MetricPlan>& plan,
                     const std::vector<std::vector<double>>& row_stats, const std::vector<std::int32_t>& ranks,
                     const std::vector<std::string>& hosts) {
  e.put(static_cast<std::uint32_t>(ranks.size()));
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    e.put(ranks[r]);
    e.put_string(hosts[r]);
    for (const auto& c : comparisons) {
      auto m = metric_index(plan, c.metric);
      e.put(m < plan.size() ? row_stats[m][r * jobfile::kStatCount + c.stat] : std::nan(""));
    }
  }
}

template <typename Comparisons>
std::vector<ComparedRow> decode_compared(Decoder& d, const Comparisons& comparisons) {
  std::vector<ComparedRow> rows;
  for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
    ComparedRow row;
    row.rank = d.get<std::int32_t>();
    row.host = d.get_string();
    for (std::size_t c = 0; c < std::size(comparisons); ++c) row.values.push_back(d.get<double>());
    rows.push_back(std::move(row));
  }
  return rows;
}

template <typename Comparisons>
std::pair<std::vector<std::string>, std::vector<std::string>> names_of(const Comparisons& comparisons) {
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const auto& c : comparisons) out.first.push_back(c.metric), out.second.push_back(c.what);
  return out;
}

void encode_outlier(Encoder& e, const jobfile::Outlier& o) {
  for (const auto* t : {&o.kind, &o.host, &o.metric, &o.reason}) e.put_string(*t);
  e.put(o.rank);
  for (double v : {o.value, o.median, o.score}) e.put(v);
  e.put(o.start_ns);
  e.put(o.end_ns);
}

jobfile::Outlier decode_outlier(Decoder& d) {
  jobfile::Outlier o;
  for (auto* t : {&o.kind, &o.host, &o.metric, &o.reason}) *t = d.get_string();
  o.rank = d.get<std::int32_t>();
  for (double* v : {&o.value, &o.median, &o.score}) *v = d.get<double>();
  o.start_ns = d.get<std::int64_t>();
  o.end_ns = d.get<std::int64_t>();
  return o;
}

// Rank 0 finds them from every rank's row summaries and the per-node CPU
// (hosts × bins, summed in a reduction); every rank gets the list, since
// /outliers is created collectively.
std::vector<jobfile::Outlier> find_outliers(const Plan& plan, const Derived& d, const Summaries& s, MPI_Comm comm) {
  const auto& L = plan.layout;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::vector<std::int32_t> ranks;
  std::vector<std::string> rank_hosts;
  for (auto i : d.rank_index) ranks.push_back(L.ranks[i]), rank_hosts.push_back(L.rank_hosts[i]);
  std::vector<std::string> node_hosts;
  for (auto i : d.node_index) node_hosts.push_back(L.nodes[i]);
  std::vector<char> mine;
  Encoder e(mine);
  encode_compared(e, kRankComparisons, plan.rank_metrics, s.rank_rows, ranks, rank_hosts);
  encode_compared(e, kNodeComparisons, plan.node_metrics, s.node_rows, std::vector<std::int32_t>(node_hosts.size(), -1),
                  node_hosts);
  auto gathered = gather_to_root(mine, comm);

  // CPU per host and bin: NaN-free sums plus a count of contributing ranks.
  const auto& hosts = L.info.hosts;
  const std::size_t bins = plan.timeline.bins;
  std::vector<double> cpu(hosts.size() * bins * 2, 0.0);
  if (auto m = metric_index(plan.rank_metrics, "cpu_utilization"); m < plan.rank_metrics.size()) {
    for (std::size_t r = 0; r < d.rank_values.size(); ++r) {
      if (ranks[r] < 0) continue;
      auto h = static_cast<std::size_t>(std::find(hosts.begin(), hosts.end(), rank_hosts[r]) - hosts.begin());
      for (std::size_t b = 0; b < bins && h < hosts.size(); ++b)
        if (double v = d.rank_values[r][m][b]; !std::isnan(v)) cpu[(h * bins + b) * 2] += v, cpu[(h * bins + b) * 2 + 1] += 1;
    }
  }
  MPI_Reduce(rank == 0 ? MPI_IN_PLACE : cpu.data(), cpu.data(), static_cast<int>(cpu.size()), MPI_DOUBLE, MPI_SUM, 0, comm);

  std::vector<char> found;
  if (rank == 0) {
    std::vector<ComparedRow> rank_rows, node_rows;
    for (const auto& blob : gathered) {
      Decoder dec(blob.data(), blob.size());
      for (auto& r : decode_compared(dec, kRankComparisons)) rank_rows.push_back(std::move(r));
      for (auto& r : decode_compared(dec, kNodeComparisons)) node_rows.push_back(std::move(r));
    }
    auto [rank_metrics, rank_whats] = names_of(kRankComparisons);
    auto [node_metrics, node_whats] = names_of(kNodeComparisons);
    auto outliers = spread_outliers("rank", rank_metrics, rank_whats, rank_rows, L.info.start_ns, L.info.end_ns);
    auto nodes = spread_outliers("node", node_metrics, node_whats, node_rows, L.info.start_ns, L.info.end_ns);
    std::vector<std::vector<double>> per_host(hosts.size(), std::vector<double>(bins));
    for (std::size_t h = 0; h < hosts.size(); ++h)
      for (std::size_t b = 0; b < bins; ++b)
        per_host[h][b] = cpu[(h * bins + b) * 2 + 1] > 0 ? cpu[(h * bins + b) * 2] : std::nan("");
    auto stalls = stall_windows(hosts, per_host, L.time_ns, plan.timeline.bin_ns);
    outliers.insert(outliers.end(), nodes.begin(), nodes.end());
    outliers.insert(outliers.end(), stalls.begin(), stalls.end());
    Encoder out(found);
    out.put(static_cast<std::uint32_t>(outliers.size()));
    for (const auto& o : outliers) encode_outlier(out, o);
  }
  auto n = static_cast<long long>(found.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm);
  found.resize(static_cast<std::size_t>(n));
  MPI_Bcast(found.data(), static_cast<int>(n), MPI_CHAR, 0, comm);
  Decoder dec(found.data(), found.size());
  std::vector<jobfile::Outlier> outliers;
  for (auto count = dec.get<std::uint32_t>(); count > 0; --count) outliers.push_back(decode_outlier(dec));
  return outliers;
}

void write_job(const Plan& plan, const Local& local, const Derived& d, const Summaries& s, const ReduceOptions& options,
               MPI_Comm comm) {
  const auto& L = plan.layout;
  jobfile::JobFileWriter writer(options.output, comm, options.force, L);
  auto flatten = [&](const auto& values, std::size_t metric) {
    std::vector<double> out;
    for (const auto& row : values) out.insert(out.end(), row[metric].begin(), row[metric].end());
    return out;
  };
  const std::size_t bins = plan.timeline.bins;
  for (std::size_t m = 0; m < plan.rank_metrics.size(); ++m) {
    writer.write_series(jobfile::Rows::Ranks, m, d.rank_index, flatten(d.rank_values, m));
    writer.write_row_summary(jobfile::Rows::Ranks, m, d.rank_index, s.rank_rows[m]);
    writer.write_job_summary(jobfile::Rows::Ranks, m, s.job[m].job_stats());
    std::vector<double> steps;
    for (std::size_t b = 0; b < bins; ++b) {
      auto st = s.steps[m * bins + b].step_stats();
      steps.insert(steps.end(), st.begin(), st.end());
    }
    writer.write_step_summary(m, steps);
  }
  for (std::size_t m = 0; m < plan.node_metrics.size(); ++m) {
    writer.write_series(jobfile::Rows::Nodes, m, d.node_index, flatten(d.node_values, m));
    writer.write_row_summary(jobfile::Rows::Nodes, m, d.node_index, s.node_rows[m]);
    writer.write_job_summary(jobfile::Rows::Nodes, m, s.job_nodes[m].job_stats());
  }
  writer.write_samples(raw_samples(plan, local));
  writer.write_processes(local.processes);
  writer.write_tag_sums(tag_sums(local.processes, comm));
  writer.close();
}

// Where the time went (--timing): phases on the slowest rank, input volume, peak memory.
struct Timing {
  std::vector<std::pair<const char*, double>> phases;
  double last = MPI_Wtime();
  void mark(const char* phase) {
    const double now = MPI_Wtime();
    phases.emplace_back(phase, now - last);
    last = now;
  }
  void report(const std::vector<StreamFile>& files, MPI_Comm comm) const {
    std::vector<double> mine;
    for (const auto& [name, seconds] : phases) mine.push_back(seconds);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    mine.push_back(static_cast<double>(usage.ru_maxrss) / 1024);  // MiB
    std::vector<double> worst(mine.size());
    MPI_Reduce(mine.data(), worst.data(), static_cast<int>(mine.size()), MPI_DOUBLE, MPI_MAX, 0, comm);
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank != 0) return;
    double bytes = 0, total = 0;
    for (const auto& f : files) bytes += static_cast<double>(f.size);
    for (std::size_t i = 0; i < phases.size(); ++i) total += worst[i];
    std::printf("jobperf-reduce: timing: %.1f MiB of streams in %.3f s = %.1f MiB/s; peak RSS %.1f MiB per rank;",
                bytes / (1 << 20), total, bytes / (1 << 20) / total, worst.back());
    for (std::size_t i = 0; i < phases.size(); ++i) std::printf(" %s %.3f s", phases[i].first, worst[i]);
    std::printf("\n");
  }
};

int reduce_or_throw(const ReduceOptions& options, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Barrier(comm);
  Timing timing;

  // 1. Every rank lists what it can see; all plan the same distribution.
  std::vector<std::string> errors;
  if (rank == 0 && !options.force && fs::exists(options.output))
    errors.push_back(options.output + ": already exists (use --force to replace it)");
  auto files = list_streams(options.inputs, comm, errors);
  if (rank != 0) errors.clear();  // every rank found the same: rank 0 reports
  if (any_failed(errors, comm)) return kFailed;
  auto owner = assign_streams(files, size);

  // 2. Decode this rank's streams; agree on the clock corrections; build rows.
  Local local;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (owner[i] != rank) continue;
    try {
      local.streams.push_back(stream::read_stream(files[i].path));
    } catch (const stream::StreamError& e) {
      errors.push_back(e.what());
    }
  }
  if (any_failed(errors, comm)) return kFailed;
  timing.mark("read");
  auto clocks = align_clocks(local.streams, comm);
  for (auto& s : local.streams) {
    ClockMap clock(s, clocks.offset_of(s.header.host));
    auto ranks = rank_rows(s, clock);
    auto nodes = node_rows(s, clock);
    const auto first_process = static_cast<std::int64_t>(local.processes.size());
    for (auto& p : process_rows(s, clock)) {
      if (p.parent >= 0) p.parent += first_process;
      local.processes.push_back(std::move(p));
    }
    local.rank_rows.insert(local.rank_rows.end(), std::make_move_iterator(ranks.begin()), std::make_move_iterator(ranks.end()));
    local.node_rows.insert(local.node_rows.end(), std::make_move_iterator(nodes.begin()), std::make_move_iterator(nodes.end()));
    // Values are in the rows now; keep only what the catalog and metadata need.
    s.records.clear();
    s.values.clear();
  }

  timing.mark("align+rows");

  // 3. Agree on the layout.
  Catalog all;
  for (const auto& blob : all_gather(encode(catalog_of(local)), comm)) decode_into(blob, all);
  Plan plan;
  try {
    plan = plan_job(all, options);
  } catch (const FormulaError& e) {
    plan.errors.push_back(e.what());
  }
  if (rank == 0) errors = plan.errors;
  if (any_failed(errors, comm)) return kFailed;
  plan.layout.clock = std::move(clocks.info);
  auto metadata = primary_metadata(local, all, owner, files, comm);
  auto& info = plan.layout.info;
  info.job_name = metadata_value(metadata, "job_name");
  info.user = metadata_value(metadata, "user");
  info.command = metadata_value(metadata, "command");
  info.metadata = std::move(metadata);

  // 4. Derive, summarise, compare, write.
  auto derived = derive_rows(plan, local);
  auto summaries = summarise(plan, derived, comm);
  plan.layout.outliers = find_outliers(plan, derived, summaries, comm);
  timing.mark("derive+summarise");
  try {
    write_job(plan, local, derived, summaries, options, comm);
    timing.mark("write");
    if (options.timing) timing.report(files, comm);
  } catch (const jobfile::JobFileError& e) {
    if (rank == 0) std::fprintf(stderr, "jobperf-reduce: %s\n", e.what());
    return kFailed;
  }
  if (rank == 0 && !options.quiet) {
    std::printf("jobperf-reduce: wrote %s: job %s, %zu rank rows on %zu node(s), %zu bins of %.3g s, status %s\n",
                options.output.c_str(), info.job_id.c_str(), plan.layout.ranks.size(), info.hosts.size(),
                plan.timeline.bins, plan.timeline.bin_seconds(), info.status.c_str());
    for (const auto& p : info.problems) std::printf("  problem: %s\n", p.c_str());
    for (const auto& o : plan.layout.outliers) std::printf("  outlier: %s\n", o.reason.c_str());
  }
  return info.status == "complete" ? kComplete : kPartial;
}

}  // namespace

int reduce_job(const ReduceOptions& options, MPI_Comm comm) {
  try {
    return reduce_or_throw(options, comm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobperf-reduce: %s\n", e.what());
    MPI_Abort(comm, kFailed);
    return kFailed;
  }
}

}  // namespace jobperf::reduce
