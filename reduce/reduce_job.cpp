#include "reduce/reduce_job.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "formats/byte_codec.hpp"
#include "formats/job_file.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/aggregate.hpp"
#include "reduce/clock_alignment.hpp"
#include "reduce/exchange.hpp"
#include "reduce/formulas.hpp"
#include "reduce/in_job_outliers.hpp"
#include "reduce/job_plan.hpp"
#include "reduce/process_table.hpp"
#include "reduce/stream_inputs.hpp"
#include "reduce/summary.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {
namespace {

namespace fs = std::filesystem;
using stream::Aggregation;

// ---------------------------------------------------------------- derived metrics

// Source -> the fields some formula of `plan` reads: the only ones worth resampling.
using FieldsBySource = std::map<std::string, std::set<std::string>>;
FieldsBySource inputs_of(const std::vector<MetricPlan>& plan) {
  FieldsBySource wanted;
  for (const auto& p : plan)
    for (const auto& [field, rate] : p.metric.inputs) wanted[p.source].insert(field);
  return wanted;
}

// All metrics of one row into out[metric], from `at` on.
// `binned` is scratch, kept from row to row.
void derive(const std::vector<StepSeries>& sources, const std::vector<MetricPlan>& plan, const FieldsBySource& wanted,
            const Timeline& timeline, std::map<std::string, BinnedSource>& binned,
            std::vector<std::vector<double>>& out, std::size_t at) {
  static const std::set<std::string> none;
  for (auto& [source, bins] : binned) bins.names.clear();  // the last row's sources: not this row's
  for (const auto& s : sources) {
    auto it = wanted.find(s.spec.name);
    resample_into(s, timeline, it == wanted.end() ? &none : &it->second, binned[s.spec.name]);
  }
  for (std::size_t m = 0; m < plan.size(); ++m) {
    auto it = binned.find(plan[m].source);
    evaluate_into(plan[m].metric, [&](const std::string& field, bool rate) {
      return it == binned.end() ? nullptr : it->second.find(field, rate);
    }, std::span(out[m]).subspan(at, timeline.bins));
  }
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

// The streams this rank reduces. A first pass reads each once and keeps
// everything but its samples (`streams`) and what its rows will hold
// (`outlines`); then each time window reads each stream again from where the
// last window stopped, and its combiner turns the records into samples.
// Memory is bounded by a window's worth of samples, whatever the job's
// length or the number of ranks.
struct Local {
  std::vector<std::size_t> files;  // index into the job's stream list, per stream
  std::vector<stream::DecodedStream> streams;  // without records
  std::vector<StreamOutline> outlines;
  std::vector<ClockMap> clocks;  // per stream, once the hosts' clocks are aligned
  std::vector<std::unique_ptr<RowCombiner>> combiners;  // per stream, once the clocks are aligned
  std::vector<std::uint64_t> resume_at;  // where the next window reads on
  std::vector<std::int64_t> read_to;     // the end of the last window read
  std::vector<std::optional<stream::StreamReader::Identity>> intact;  // as the first pass found it, when undamaged
  std::vector<char> ended;  // not vector<bool>: streams are read on several threads
  std::vector<RowEntry> row_entries;  // every row of every stream; spans in stream time until aligned
  std::vector<std::size_t> row_stream;
  std::vector<NodeEntry> node_entries;
  std::vector<std::size_t> node_stream;
  std::vector<jobfile::ProcessRow> processes;
  std::vector<std::string> unreadable;  // streams that cannot be read at all, each with why
};

std::vector<SampleCount> counts_of(const RowOutline& row) {
  std::vector<SampleCount> out;
  for (const auto& s : row.sources) out.push_back({s.source, s.fields, s.samples});
  return out;
}

void span_of(const RowOutline& row, std::int64_t& first, std::int64_t& last) {
  first = std::numeric_limits<std::int64_t>::max();
  last = std::numeric_limits<std::int64_t>::min();
  for (const auto& s : row.sources)
    if (s.samples > 0) first = std::min(first, s.first_ns), last = std::max(last, s.last_ns);
}

// One stream's first pass: everything but its samples, and where its records begin.
struct Outlined {
  std::uint64_t records_at = 0;
  std::optional<stream::StreamReader::Identity> intact;  // the file, when every block passed its CRC
  stream::DecodedStream skeleton;
  StreamOutline outline;
  std::string error;  // the stream cannot be read at all
};

Outlined outline_file(const std::string& path, std::vector<char>& buffer) {
  Outlined out;
  try {
    stream::StreamReader reader(path, &buffer);
    out.records_at = reader.offset();
    out.outline = outline_stream(reader, path, out.skeleton);
    if (out.skeleton.damage.empty()) out.intact = reader.identity();
  } catch (const stream::StreamError& e) {
    out.error = e.what();
  }
  return out;
}

// fn(k, worker) for every k below `count`, on `threads` threads (worker 0 is
// the caller's), each taking the next k when done with its last, so that a
// thread that loses its CPU for a while (to the writes' thread) holds up no
// other; the first exception is rethrown. For work on independent streams or
// rows, which calls neither MPI nor HDF5.
template <typename Fn>
void for_each_parallel(std::size_t count, std::size_t threads, Fn&& fn) {
  threads = std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(count, 1));
  std::atomic<std::size_t> next{0};
  auto work = [&](std::size_t worker) {
    for (std::size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < count;) fn(k, worker);
  };
  std::vector<std::future<void>> others;
  for (std::size_t t = 1; t < threads; ++t) others.push_back(std::async(std::launch::async, work, t));
  work(0);
  for (auto& f : others) f.get();
}

// The first pass over these streams, on `threads` threads: streams are
// read and outlined independently of each other.
std::vector<Outlined> outline_files(const std::vector<std::string>& paths, std::size_t threads) {
  std::vector<Outlined> out(paths.size());
  std::vector<std::vector<char>> buffers(std::max<std::size_t>(threads, 1));
  for_each_parallel(paths.size(), threads,
                    [&](std::size_t k, std::size_t worker) { out[k] = outline_file(paths[k], buffers[worker]); });
  return out;
}

std::string file_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// Lists the rows of one stream's first pass.
void add_stream(Local& local, std::size_t file, const std::string& path, Outlined&& outlined) {
  const std::size_t index = local.streams.size();
  local.resume_at.push_back(outlined.records_at);
  local.intact.push_back(outlined.intact);
  auto& skeleton = outlined.skeleton;
  auto& outline = outlined.outline;
  for (const auto& r : outline.ranks) {
    RowEntry e{r.rank, skeleton.header.host, r.exit_status, 0, 0, file_name(path), counts_of(r)};
    span_of(r, e.first_ns, e.last_ns);
    local.row_entries.push_back(std::move(e));
    local.row_stream.push_back(index);
  }
  for (const auto* rows : {&outline.nodes, &outline.devices})
    for (const auto& n : *rows) {
      NodeEntry e{skeleton.header.host, n.device, 0, 0, path, counts_of(n)};
      span_of(n, e.first_ns, e.last_ns);
      local.node_entries.push_back(std::move(e));
      local.node_stream.push_back(index);
    }
  local.files.push_back(file);
  local.streams.push_back(std::move(skeleton));
  local.outlines.push_back(std::move(outline));
  local.read_to.push_back(std::numeric_limits<std::int64_t>::min());
  local.ended.push_back(false);
}

// Puts everything this rank listed on the reference timeline.
void align_local(Local& local, const ClockAlignment& alignment) {
  local.clocks.reserve(local.streams.size());  // the combiners keep pointers to them
  for (const auto& s : local.streams) local.clocks.emplace_back(s, alignment.offset_of(s.header.host));
  auto to_utc = [&](auto& entry, std::size_t stream) {
    if (entry.first_ns > entry.last_ns) return;  // no samples
    entry.first_ns = local.clocks[stream].to_utc(entry.first_ns);
    entry.last_ns = local.clocks[stream].to_utc(entry.last_ns);
  };
  for (std::size_t i = 0; i < local.row_entries.size(); ++i) to_utc(local.row_entries[i], local.row_stream[i]);
  for (std::size_t i = 0; i < local.node_entries.size(); ++i) to_utc(local.node_entries[i], local.node_stream[i]);
  for (std::size_t i = 0; i < local.streams.size(); ++i) {
    local.combiners.push_back(std::make_unique<RowCombiner>(local.streams[i], local.outlines[i], &local.clocks[i]));
    for (auto* rows : {&local.outlines[i].ranks, &local.outlines[i].nodes, &local.outlines[i].devices})
      for (auto& row : *rows)
        for (auto& span : row.sources)
          if (span.samples > 0) to_utc(span, i);  // windows read on until their end
    const auto first_process = static_cast<std::int64_t>(local.processes.size());
    for (auto& p : process_rows(local.streams[i], local.clocks[i])) {
      if (p.parent >= 0) p.parent += first_process;
      local.processes.push_back(std::move(p));
    }
  }
}

Catalog catalog_of(const Local& local) {
  Catalog c;
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
  c.rows = local.row_entries;
  c.nodes = local.node_entries;
  c.unreadable = local.unreadable;
  for (auto [rank, status] : rank_exit_statuses(local.processes)) c.recorded_exits.push_back({rank, status});
  return c;
}

// The metadata of the stream of the lowest rank (ranks before rows without
// one), sent by its owner to all, with that rank's command.
stream::Metadata primary_metadata(const Local& local, const Catalog& all, const std::vector<int>& owner,
                                  const std::vector<StreamFile>& files, MPI_Comm comm) {
  std::string primary = all.streams.empty() ? "" : file_name(all.streams.front().path);
  std::int32_t lowest = -1;
  auto key = [](std::int32_t rank) { return rank >= 0 ? rank : std::numeric_limits<std::int32_t>::max(); };
  for (std::size_t k = 0; k < all.rows.size(); ++k)
    if (k == 0 || key(all.rows[k].rank) < key(lowest)) lowest = all.rows[k].rank, primary = all.rows[k].stream;
  int root = 0;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (file_name(files[i].path) == primary) root = owner[i];
  std::vector<char> bytes;
  Encoder e(bytes);
  for (const auto& s : local.streams) {
    if (file_name(s.path) != primary) continue;
    auto m = s.metadata;
    auto command = std::find_if(m.begin(), m.end(), [](auto& kv) { return kv.first == "command"; });
    if (command == m.end()) command = m.insert(m.end(), {"command", ""});
    if (command->second.empty()) command->second = rank_command(s, lowest);
    e(m);
  }
  broadcast(bytes, root, comm);
  stream::Metadata m;
  Decoder d(bytes.data(), bytes.size());
  d(m);
  return m;
}

// ---------------------------------------------------------------- windows

// A time window of the job's bins: every reducer rank reads, derives,
// summarises and writes one window before the next, so memory holds a
// window's samples, whatever the job's length.
struct Window {
  std::size_t first_bin = 0;
  Timeline timeline;                      // the window's bins
  std::int64_t start_ns = 0, end_ns = 0;  // its samples: [start, end); the last window's run on to the end
  bool last = false;
};

constexpr std::size_t kMinWindowBins = 16;

// Windows of at most kChunkSteps bins (a row's chunk: written whole, never
// inflated and deflated again), shorter if a single stream's window would
// exceed `budget` bytes; the same on every rank. `chunk_steps` is set to fit.
std::vector<Window> windows_of(const Timeline& tl, std::uint64_t largest_stream, std::uint64_t budget, MPI_Comm comm,
                               std::size_t& chunk_steps) {
  budget = std::max<std::uint64_t>(budget, 1);
  unsigned long long mine = std::max<std::uint64_t>((tl.bins + jobfile::kChunkSteps - 1) / jobfile::kChunkSteps,
                                                    (largest_stream + budget - 1) / budget);
  unsigned long long most = 1;
  MPI_Allreduce(&mine, &most, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  const std::size_t bins = std::max<std::size_t>(kMinWindowBins, (tl.bins + most - 1) / std::max(most, 1ull));
  // One window holds the whole job: rows of samples of any length (up to kChunkSteps) are one chunk.
  chunk_steps = bins >= tl.bins ? jobfile::kChunkSteps : std::min(bins, jobfile::kChunkSteps);
  std::vector<Window> out;
  for (std::size_t first = 0; first < tl.bins; first += bins) {
    Window w;
    w.first_bin = first;
    w.timeline = {tl.bin_start(first), tl.bin_ns, std::min(bins, tl.bins - first)};
    w.start_ns = w.timeline.start_ns;
    w.end_ns = w.timeline.bin_start(w.timeline.bins);
    w.last = first + bins >= tl.bins;
    if (w.last) w.end_ns = std::numeric_limits<std::int64_t>::max();
    out.push_back(w);
  }
  return out;
}

// One row this rank reduces (a RankRow or NodeRow of a combiner, holding
// the samples read so far), and what it has gathered over the windows.
template <typename Row>
struct Held {
  Row* row;
  std::size_t index;   // its row of /ranks, /nodes or /gpus
  std::size_t stream;  // of Local
  std::uint64_t bytes; // its share of the stream
  std::vector<PartialStats> stats;  // per metric, over the windows so far
  std::vector<std::size_t> written; // samples written, per table of /samples (Plan::sample_tables)
};

// At most this many rank rows per group, whatever --window allows: smaller
// groups reuse the same memory from group to group (fewer page faults, more
// of it still in cache when it is next read), and their collective writes
// are of the size that writes fastest. At 1024 ranks, 64 rows per group:
// derive+summarise 0.6 s, against 0.85-0.97 s with 342.
constexpr std::size_t kGroupRows = 64;

// This rank's rows in row order, in groups of about `budget` bytes of
// stream per window and at most kGroupRows rows (or a chunk's): in each
// window, the groups are read, derived and written one after the other.
struct LocalRows {
  std::vector<Held<RankRow>> ranks;
  std::vector<Held<NodeRow>> nodes, gpus;
  std::vector<std::size_t> group_starts;  // into ranks; the nodes and GPUs are shared out evenly
  std::size_t chunk_rows = 1;             // a group starts only where a chunk of /ranks does
  bool may_start_group(std::size_t k) const { return ranks[k].index % chunk_rows == 0; }
  std::size_t most_per_group() const { return std::max(kGroupRows, chunk_rows); }
};

struct Group {
  std::span<Held<RankRow>> ranks;
  std::span<Held<NodeRow>> nodes, gpus;
};

// The streams that hold a group's rows, each once (a sidecar's stream holds
// its node's rows and its ranks').
std::vector<std::size_t> streams_of(const Group& g) {
  std::vector<std::size_t> out;
  for (const auto& held : g.ranks) out.push_back(held.stream);
  for (const auto& held : g.nodes) out.push_back(held.stream);
  for (const auto& held : g.gpus) out.push_back(held.stream);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// This rank's rows, in row order; cut_groups then groups them.
LocalRows local_rows(const Plan& plan, Local& local, const std::vector<StreamFile>& files) {
  LocalRows out;
  const auto& hosts = plan.layout.nodes;
  const std::size_t metrics = plan.rank_metrics.size(), node_metrics = plan.node_metrics.size();
  const std::size_t tables = plan.sample_tables.size();
  for (std::size_t i = 0; i < local.combiners.size(); ++i) {
    auto& c = *local.combiners[i];
    const auto& host = local.streams[i].header.host;
    if (!plan.gives_node_samples(host, local.streams[i].path)) {
      c.drop_node_rows();  // another stream of this host gives them (or none does)
      local.outlines[i].nodes.clear();
      local.outlines[i].devices.clear();
    }
    const auto share = files[local.files[i]].size / std::max<std::size_t>(1, c.ranks.size());
    for (auto& r : c.ranks)
      out.ranks.push_back({&r, plan.rank_row.at({r.rank, r.host, r.stream}), i, share, std::vector<PartialStats>(metrics),
                           std::vector<std::size_t>(tables, 0)});
    for (auto& n : c.nodes)
      out.nodes.push_back({&n, static_cast<std::size_t>(std::lower_bound(hosts.begin(), hosts.end(), n.host) - hosts.begin()),
                           i, 0, std::vector<PartialStats>(node_metrics), std::vector<std::size_t>(tables, 0)});
    for (auto& d : c.devices)
      out.gpus.push_back({&d, plan.gpu_row.at({d.host, d.device}), i, 0, std::vector<PartialStats>(plan.gpu_metrics.size()),
                          std::vector<std::size_t>(tables, 0)});
  }
  auto by_index = [](auto& a, auto& b) { return a.index < b.index; };
  std::sort(out.ranks.begin(), out.ranks.end(), by_index);
  std::sort(out.nodes.begin(), out.nodes.end(), by_index);
  std::sort(out.gpus.begin(), out.gpus.end(), by_index);
  return out;
}

// Columns of the widest table of /ranks' rows: its series or a process
// source's samples.
std::size_t widest_rank_table(const jobfile::JobLayout& layout) {
  std::size_t widest = layout.time_ns.size();
  for (const auto& source : layout.samples)
    if (source.row_kind == jobfile::Rows::Ranks)
      for (auto count : source.counts) widest = std::max(widest, static_cast<std::size_t>(count));
  return widest;
}

// Rows of /ranks per chunk (JobLayout::rank_chunk_rows): a power of two, as
// many as make a chunk of about kChunkSteps values (a row of a job of 60
// steps is 480 bytes: as chunks, 16384 ranks took 4.8 s to write, 17x
// longer than 64 rows a chunk, and their index was half the file), where
// every reducer rank holds whole aligned blocks of that many rows, the same
// on every rank. 1 in a job of several windows: there a row's samples are
// written a window's piece at a time, and pieces of rows of one chunk would
// not line up.
std::size_t rank_chunk_rows(const LocalRows& rows, std::size_t row_count, std::size_t columns, bool one_window,
                            MPI_Comm comm) {
  unsigned long long mine = 1;
  while (one_window && mine * 2 * std::max<std::size_t>(columns, 1) <= jobfile::kChunkSteps) mine *= 2;
  std::vector<std::size_t> indices;
  for (const auto& held : rows.ranks) indices.push_back(held.index);
  while (mine > 1 && !jobfile::whole_blocks(indices, row_count, mine)) mine /= 2;
  unsigned long long all = 1;
  MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm);  // powers of two: a block of the
  return all;                                                              // smaller is within one of the larger
}

// Cuts this rank's rows into groups of about `budget` bytes of stream per
// window, at most kGroupRows rows or a chunk's, each starting a chunk.
void cut_groups(LocalRows& rows, std::uint64_t budget, double window_fraction) {
  double bytes = 0;
  rows.group_starts.assign(1, 0);
  for (std::size_t k = 0; k < rows.ranks.size(); ++k) {
    const double row = static_cast<double>(rows.ranks[k].bytes) * window_fraction;
    const bool full =
        bytes + row > static_cast<double>(budget) || k - rows.group_starts.back() >= rows.most_per_group();
    if (k > 0 && full && rows.may_start_group(k)) rows.group_starts.push_back(k), bytes = 0;
    bytes += row;
  }
}

// Cuts this rank's rows again into `rounds` groups (the most any rank
// has) of about equal shares of its stream bytes. The groups' collective
// writes keep the ranks in step, so each round goes at its slowest rank's
// pace: cut by row count, a rank whose first rows hold the node samples (ranks
// placed round-robin over the nodes) had one heavy round and the others waited.
// A row goes to the round its middle byte falls in; groups start chunks and
// hold at most kGroupRows rows (or a chunk's).
void even_out_groups(LocalRows& rows, std::size_t rounds) {
  double total = 0, before = 0;
  for (const auto& r : rows.ranks) total += static_cast<double>(r.bytes);
  rows.group_starts.assign(1, 0);
  for (std::size_t k = 0; k < rows.ranks.size(); ++k) {
    const double bytes = static_cast<double>(rows.ranks[k].bytes);
    const auto round = total > 0 ? std::min(rounds - 1, static_cast<std::size_t>((before + bytes / 2) / total *
                                                                                   static_cast<double>(rounds)))
                                 : 0;
    if (rows.may_start_group(k)) {
      while (rows.group_starts.size() <= round) rows.group_starts.push_back(k);  // an empty round, if a row spans it
      if (k - rows.group_starts.back() >= rows.most_per_group()) rows.group_starts.push_back(k);
    }
    before += bytes;
  }
}

Group group_of(LocalRows& rows, std::size_t g) {
  Group out;
  if (g >= rows.group_starts.size()) return out;  // this rank has fewer groups: it joins the writes with none
  const std::size_t begin = rows.group_starts[g];
  const std::size_t end = g + 1 < rows.group_starts.size() ? rows.group_starts[g + 1] : rows.ranks.size();
  out.ranks = std::span(rows.ranks).subspan(begin, end - begin);
  // The node and GPU rows spread evenly over the groups: with all of them in
  // one group, a job of many nodes held them all at once (64 nodes' rows at
  // 1024 ranks: 170 MiB at --window 16).
  const std::size_t groups = rows.group_starts.size();
  auto share = [&](std::vector<Held<NodeRow>>& all) {
    const std::size_t from = all.size() * g / groups, to = all.size() * (g + 1) / groups;
    return std::span(all).subspan(from, to - from);
  };
  out.nodes = share(rows.nodes), out.gpus = share(rows.gpus);
  return out;
}

// True when every source of the row that has samples from the window's end
// on holds one of them: the last bin edge can be interpolated.
bool reaches(const std::vector<StepSeries>& series, const RowOutline& row, std::int64_t end_ns) {
  for (std::size_t k = 0; k < series.size() && k < row.sources.size(); ++k)
    if (row.sources[k].samples > 0 && row.sources[k].last_ns >= end_ns &&
        (series[k].time_ns.empty() || series[k].time_ns.back() < end_ns))
      return false;
  return true;
}

// Room for a window's samples at once, estimated from the outline: no
// series grows by doubling (copying itself and faulting in new pages).
template <typename Row>
void make_room(std::vector<Row>& rows, const std::vector<RowOutline>& outlines, const Window& w) {
  for (std::size_t r = 0; r < rows.size() && r < outlines.size(); ++r)
    for (std::size_t k = 0; k < rows[r].sources.size() && k < outlines[r].sources.size(); ++k) {
      const auto& span = outlines[r].sources[k];
      auto& s = rows[r].sources[k];
      if (span.samples <= 0) continue;
      const double part = w.last || span.last_ns <= span.first_ns
                              ? 1.0
                              : std::clamp(static_cast<double>(w.end_ns - span.first_ns) /
                                               static_cast<double>(span.last_ns - span.first_ns), 0.0, 1.0);
      const auto until_end = std::min<std::size_t>(static_cast<std::size_t>(part * static_cast<double>(span.samples)) + 2,
                                                   static_cast<std::size_t>(span.samples));
      if (until_end <= s.dropped || until_end - s.dropped <= s.time_ns.capacity()) continue;
      s.time_ns.reserve(until_end - s.dropped);
      for (auto& f : s.fields) f.reserve(until_end - s.dropped);
    }
}

// Reads stream i on from where the last window stopped, until its rows reach
// the window's end. Once per window: the stream's rows may lie in several
// groups, and an earlier group's may be being written meanwhile.
// `buffer`: the reading thread's, kept from stream to stream.
void read_window(Local& local, std::size_t i, const std::string& path, const Window& w, std::vector<char>& buffer) {
  if (local.read_to[i] >= w.end_ns) return;
  local.read_to[i] = w.end_ns;
  auto& c = *local.combiners[i];
  const auto& outline = local.outlines[i];
  make_room(c.ranks, outline.ranks, w);
  make_room(c.nodes, outline.nodes, w);
  make_room(c.devices, outline.devices, w);
  auto enough = [&] {
    if (w.last) return false;
    for (std::size_t r = 0; r < c.ranks.size(); ++r)
      if (!reaches(c.ranks[r].sources, outline.ranks[r], w.end_ns)) return false;
    for (std::size_t n = 0; n < c.nodes.size(); ++n)
      if (!reaches(c.nodes[n].sources, outline.nodes[n], w.end_ns)) return false;
    for (std::size_t n = 0; n < c.devices.size(); ++n)
      if (!reaches(c.devices[n].sources, outline.devices[n], w.end_ns)) return false;
    return true;
  };
  if (local.ended[i] || enough()) return;
  stream::StreamReader reader(path, &buffer);
  if (local.intact[i] == reader.identity()) reader.trust_crcs();  // checked in the first pass, unchanged since
  reader.seek(local.resume_at[i]);
  while (!enough()) {
    stream::DecodedStream blocks;
    if (!reader.next(blocks)) {
      c.finish();
      local.ended[i] = true;
      break;
    }
    c.add(blocks);
  }
  local.resume_at[i] = reader.offset();
}

// The window's derived metrics, per metric: rows × bins, rows in row order.
struct Derived {
  std::vector<std::vector<double>> rank_values, node_values, gpu_values;
};

// Into `out`, kept from group to group: its memory is written, not
// allocated, zeroed and faulted in again. Rows on `threads` threads.
template <typename Row>
void derive_all(std::span<Held<Row>> rows, const std::vector<MetricPlan>& metrics, const Timeline& timeline,
                std::vector<std::vector<double>>& out, std::size_t threads) {
  out.resize(metrics.size());
  for (auto& values : out) values.resize(rows.size() * timeline.bins);
  const auto wanted = inputs_of(metrics);
  std::vector<std::map<std::string, BinnedSource>> binned(std::max<std::size_t>(threads, 1));  // each thread's
  for_each_parallel(rows.size(), threads, [&](std::size_t r, std::size_t worker) {
    derive(rows[r].row->sources, metrics, wanted, timeline, binned[worker], out, r * timeline.bins);
  });
}

// ---------------------------------------------------------------- summarise, compare

std::size_t metric_index(const std::vector<MetricPlan>& plan, const std::string& name) {
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (plan[i].metric.name == name) return i;
  return plan.size();
}

// What one window gathers across its groups, then across reducer ranks.
struct WindowSummary {
  std::vector<PartialStats> steps;  // [metric × bin]: each step across ranks
  std::vector<double> host_cpu;     // (host, bin): CPU of the host's ranks, and how many ran
};

WindowSummary start_window(const Plan& plan, const Window& w) {
  return {std::vector<PartialStats>(plan.rank_metrics.size() * w.timeline.bins),
          std::vector<double>(plan.layout.info.hosts.size() * w.timeline.bins * 2, 0.0)};
}

template <typename Row>
void extend_rows(std::span<Held<Row>> rows, const std::vector<std::vector<double>>& values, std::size_t bins, double dt,
                 std::size_t threads) {
  for_each_parallel(rows.size(), threads, [&](std::size_t r, std::size_t) {
    for (std::size_t m = 0; m < values.size(); ++m)
      rows[r].stats[m].extend_row(std::span(values[m]).subspan(r * bins, bins), dt);
  });
}

// Adds one group's bins: to its rows' stats (row by row on `threads`
// threads), to the steps across ranks (metric by metric), to the hosts' CPU.
void summarise_group(const Plan& plan, const Group& g, const Derived& d, const Window& w, WindowSummary& s,
                     std::size_t threads) {
  const double dt = plan.timeline.bin_seconds();
  const std::size_t bins = w.timeline.bins;
  extend_rows(g.ranks, d.rank_values, bins, dt, threads);
  extend_rows(g.nodes, d.node_values, bins, dt, threads);
  extend_rows(g.gpus, d.gpu_values, bins, dt, threads);
  for_each_parallel(d.rank_values.size(), threads, [&](std::size_t m, std::size_t) {
    add_columns(std::span(s.steps).subspan(m * bins, bins), d.rank_values[m], g.ranks.size(), dt);
  });
  const auto m = metric_index(plan.rank_metrics, "cpu_utilization");
  const auto& hosts = plan.layout.info.hosts;
  for (std::size_t r = 0; r < g.ranks.size() && m < plan.rank_metrics.size(); ++r) {
    const auto* row = g.ranks[r].row;
    if (row->rank < 0) continue;
    auto h = static_cast<std::size_t>(std::find(hosts.begin(), hosts.end(), row->host) - hosts.begin());
    for (std::size_t b = 0; b < bins && h < hosts.size(); ++b)
      if (double v = d.rank_values[m][r * bins + b]; !std::isnan(v))
        s.host_cpu[(h * bins + b) * 2] += v, s.host_cpu[(h * bins + b) * 2 + 1] += 1;
  }
}

// The window's steps across all ranks, and its stalls (searched on rank 0).
void end_window(const Plan& plan, const Window& w, WindowSummary& s, StallFinder& stalls, MPI_Comm comm) {
  merge_across(s.steps, comm);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  auto& cpu = s.host_cpu;
  MPI_Reduce(rank == 0 ? MPI_IN_PLACE : cpu.data(), cpu.data(), static_cast<int>(cpu.size()), MPI_DOUBLE, MPI_SUM, 0, comm);
  if (rank != 0) return;
  const auto& hosts = plan.layout.info.hosts;
  const std::size_t bins = w.timeline.bins;
  std::vector<std::vector<double>> per_host(hosts.size(), std::vector<double>(bins));
  for (std::size_t h = 0; h < hosts.size(); ++h)
    for (std::size_t b = 0; b < bins; ++b)
      per_host[h][b] = cpu[(h * bins + b) * 2 + 1] > 0 ? cpu[(h * bins + b) * 2] : std::nan("");
  std::vector<std::int64_t> starts;
  for (std::size_t b = 0; b < bins; ++b) starts.push_back(w.timeline.bin_start(b));
  stalls.add(per_host, starts);
}

// The rows complete: each row's stats, [metric][row × stat], and the job-wide partials.
template <typename Row>
std::vector<std::vector<double>> end_rows(std::vector<Held<Row>>& rows, std::size_t metrics,
                                          const std::vector<double>& labels, std::vector<PartialStats>& job) {
  std::vector<std::vector<double>> out(metrics);
  job.assign(metrics, PartialStats{});
  for (std::size_t m = 0; m < metrics; ++m)
    for (std::size_t r = 0; r < rows.size(); ++r) {
      auto& p = rows[r].stats[m];
      p.end_row(labels[r]);
      auto st = p.stats();
      out[m].insert(out[m].end(), st.begin(), st.end());
      job[m].merge(p);
    }
  return out;
}

template <typename Comparisons>
std::vector<ComparedRow> compared_rows(const Comparisons& comparisons, const std::vector<MetricPlan>& plan,
                                       const std::vector<std::vector<double>>& stats,
                                       const std::vector<std::int32_t>& ranks, const std::vector<std::string>& hosts,
                                       const std::vector<std::int32_t>& devices = {}) {
  std::vector<ComparedRow> out;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    ComparedRow row{ranks[r], hosts[r], devices.empty() ? -1 : devices[r], {}};
    for (const auto& c : comparisons) {
      auto m = metric_index(plan, c.metric);
      row.values.push_back(m < plan.size() ? stats[m][r * jobfile::kStatCount + c.stat] : std::nan(""));
    }
    out.push_back(std::move(row));
  }
  return out;
}

void transfer(auto& io, MessageOf<ComparedRow> auto& row) { io(row.rank, row.host, row.device, row.values); }

void transfer(auto& io, MessageOf<jobfile::Outlier> auto& o) {
  io(o.kind, o.host, o.metric, o.reason, o.rank, o.value, o.median, o.score, o.start_ns, o.end_ns);
}

// Rank 0 finds them from every rank's compared rows and the stalls; every
// rank gets the list, since /outliers is created collectively.
std::vector<jobfile::Outlier> find_outliers(const Plan& plan, const std::vector<ComparedRow>& ranks,
                                            const std::vector<ComparedRow>& nodes, const std::vector<ComparedRow>& gpus,
                                            StallFinder& stalls, MPI_Comm comm) {
  const auto& L = plan.layout;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::vector<char> mine;
  Encoder e(mine);
  for (const auto* rows : {&ranks, &nodes, &gpus}) e.each(*rows, [&](auto& row) { transfer(e, row); });
  auto gathered = gather_to_root(mine, comm);

  std::vector<char> found;
  if (rank == 0) {
    std::vector<ComparedRow> rank_rows, node_rows, gpu_rows;
    for (const auto& blob : gathered) {
      Decoder d(blob.data(), blob.size());
      for (auto* rows : {&rank_rows, &node_rows, &gpu_rows}) d.each(*rows, [&](auto& row) { transfer(d, row); });
    }
    auto outliers = spread_outliers("rank", kRankComparisons, rank_rows, L.info.start_ns, L.info.end_ns);
    auto by_node = spread_outliers("node", kNodeComparisons, node_rows, L.info.start_ns, L.info.end_ns);
    auto by_gpu = spread_outliers("gpu", kGpuComparisons, gpu_rows, L.info.start_ns, L.info.end_ns);
    auto stalled = stalls.finish();
    outliers.insert(outliers.end(), by_node.begin(), by_node.end());
    outliers.insert(outliers.end(), by_gpu.begin(), by_gpu.end());
    outliers.insert(outliers.end(), stalled.begin(), stalled.end());
    Encoder out(found);
    out.each(outliers, [&](auto& o) { transfer(out, o); });
  }
  broadcast(found, 0, comm);
  Decoder d(found.data(), found.size());
  std::vector<jobfile::Outlier> outliers;
  d.each(outliers, [&](auto& o) { transfer(d, o); });
  return outliers;
}

// ---------------------------------------------------------------- write

const StepSeries* series_of(const std::vector<StepSeries>& sources, const stream::SourceSpec& spec) {
  for (const auto& s : sources)
    if (s.spec.name == spec.name && s.spec.fields.size() == spec.fields.size()) return &s;
  return nullptr;
}

template <typename Row>
std::vector<std::size_t> indices_of(std::span<Held<Row>> rows) {
  std::vector<std::size_t> out;
  for (const auto& held : rows) out.push_back(held.index);
  return out;
}

void write_group_series(jobfile::JobFileWriter& writer, const Plan& plan, const Group& g, const Derived& d,
                        const Window& w) {
  using jobfile::Rows;
  const auto ranks = indices_of(g.ranks), nodes = indices_of(g.nodes), gpus = indices_of(g.gpus);
  for (std::size_t m = 0; m < plan.rank_metrics.size(); ++m)
    writer.write_series(Rows::Ranks, m, ranks, d.rank_values[m], w.first_bin, w.timeline.bins);
  for (std::size_t m = 0; m < plan.node_metrics.size(); ++m)
    writer.write_series(Rows::Nodes, m, nodes, d.node_values[m], w.first_bin, w.timeline.bins);
  for (std::size_t m = 0; m < plan.gpu_metrics.size(); ++m)
    writer.write_series(Rows::Gpus, m, gpus, d.gpu_values[m], w.first_bin, w.timeline.bins);
}

void write_step_summaries(jobfile::JobFileWriter& writer, const Plan& plan, const Window& w, const WindowSummary& s) {
  const std::size_t bins = w.timeline.bins;
  for (std::size_t m = 0; m < plan.rank_metrics.size(); ++m) {
    std::vector<double> steps;
    for (std::size_t b = 0; b < bins; ++b) {
      auto st = s.steps[m * bins + b].step_stats();
      steps.insert(steps.end(), st.begin(), st.end());
    }
    writer.write_step_summary(m, w.first_bin, steps);
  }
}

// The samples of each source read so far and not yet written, in whole
// chunks (HDF5 would inflate and deflate a chunk written in two pieces);
// after the last window, all, and each row's padding.
void write_group_samples(jobfile::JobFileWriter& writer, const Plan& plan, const Group& g, const Window& w) {
  const std::size_t chunk = plan.layout.chunk_steps;
  for (std::size_t t = 0; t < plan.sample_tables.size(); ++t) {
    const auto& spec = plan.sources[plan.sample_tables[t].source];
    std::vector<jobfile::RowSamples> pieces;
    auto add = [&](auto& held) {
      const auto* s = series_of(held.row->sources, spec);
      jobfile::RowSamples piece{held.index, held.written[t], {}, nullptr, 0};
      if (s) {
        const std::size_t from = held.written[t] - s->dropped, held_now = s->time_ns.size();
        const std::size_t to = w.last ? held_now : std::max(from, (s->dropped + held_now) / chunk * chunk - s->dropped);
        piece.time_ns = std::span(s->time_ns).subspan(from, to - from);
        piece.values = &s->fields;
        piece.first = from;
      }
      held.written[t] += piece.time_ns.size();
      pieces.push_back(piece);
    };
    switch (plan.sample_tables[t].rows) {
      case jobfile::Rows::Ranks: std::for_each(g.ranks.begin(), g.ranks.end(), add); break;
      case jobfile::Rows::Nodes: std::for_each(g.nodes.begin(), g.nodes.end(), add); break;
      case jobfile::Rows::Gpus: std::for_each(g.gpus.begin(), g.gpus.end(), add); break;
    }
    writer.write_samples(t, pieces, w.last);
  }
}

// Drops what the next windows no longer need: the samples written (rows
// whose samples go to /samples), but the last one before the window's end
// (the next window interpolates from it).
template <typename Row>
void drop_done(const Plan& plan, std::span<Held<Row>> rows, jobfile::Rows kind, const Window& w) {
  for (auto& held : rows)
    for (auto& s : held.row->sources) {
      const auto before = static_cast<std::size_t>(std::lower_bound(s.time_ns.begin(), s.time_ns.end(), w.end_ns) - s.time_ns.begin());
      std::size_t n = before > 0 ? before - 1 : 0;
      for (std::size_t t = 0; t < plan.sample_tables.size(); ++t)
        if (plan.sample_tables[t].rows == kind && series_of(held.row->sources, plan.sources[plan.sample_tables[t].source]) == &s)
          n = std::min(n, held.written[t] - s.dropped);
      auto drop_front = [n](auto& v) {
        v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
        if (v.size() < v.capacity() / 4) v.shrink_to_fit();  // give the window's memory back
      };
      drop_front(s.time_ns);
      for (auto& f : s.fields) drop_front(f);
      s.dropped += n;
    }
}

// After the last window: the rows' and the job's summaries, the outliers, the processes.
std::vector<jobfile::Outlier> write_totals(jobfile::JobFileWriter& writer, const Plan& plan, LocalRows& rows,
                                           StallFinder& stalls, const Local& local, MPI_Comm comm) {
  using jobfile::Rows;
  std::vector<double> rank_labels, node_labels;
  std::vector<std::int32_t> ranks, node_ranks(rows.nodes.size(), -1);
  std::vector<std::string> rank_hosts, node_hosts;
  for (const auto& held : rows.ranks) {
    ranks.push_back(held.row->rank), rank_hosts.push_back(held.row->host);
    rank_labels.push_back(held.row->rank >= 0 ? held.row->rank : std::nan(""));
  }
  for (const auto& held : rows.nodes)
    node_hosts.push_back(held.row->host), node_labels.push_back(static_cast<double>(held.index));
  std::vector<std::string> gpu_hosts;
  std::vector<std::int32_t> gpu_devices;
  for (const auto& held : rows.gpus) gpu_hosts.push_back(held.row->host), gpu_devices.push_back(held.row->device);
  std::vector<PartialStats> job, job_nodes;
  auto rank_stats = end_rows(rows.ranks, plan.rank_metrics.size(), rank_labels, job);
  auto node_stats = end_rows(rows.nodes, plan.node_metrics.size(), node_labels, job_nodes);
  std::vector<PartialStats> job_gpus;  // not written: the GPUs' row summaries and the nodes' sums are
  auto gpu_stats = end_rows(rows.gpus, plan.gpu_metrics.size(), std::vector<double>(rows.gpus.size(), std::nan("")), job_gpus);
  merge_across(job, comm);
  merge_across(job_nodes, comm);
  const auto rank_index = indices_of(std::span(rows.ranks)), node_index = indices_of(std::span(rows.nodes));
  const auto gpu_index = indices_of(std::span(rows.gpus));
  for (std::size_t m = 0; m < plan.gpu_metrics.size(); ++m) writer.write_row_summary(Rows::Gpus, m, gpu_index, gpu_stats[m]);
  for (std::size_t m = 0; m < plan.rank_metrics.size(); ++m) {
    writer.write_row_summary(Rows::Ranks, m, rank_index, rank_stats[m]);
    writer.write_job_summary(Rows::Ranks, m, job[m].job_stats());
  }
  for (std::size_t m = 0; m < plan.node_metrics.size(); ++m) {
    writer.write_row_summary(Rows::Nodes, m, node_index, node_stats[m]);
    writer.write_job_summary(Rows::Nodes, m, job_nodes[m].job_stats());
  }
  auto outliers = find_outliers(plan, compared_rows(kRankComparisons, plan.rank_metrics, rank_stats, ranks, rank_hosts),
                                compared_rows(kNodeComparisons, plan.node_metrics, node_stats, node_ranks, node_hosts),
                                compared_rows(kGpuComparisons, plan.gpu_metrics, gpu_stats,
                                              std::vector<std::int32_t>(rows.gpus.size(), -1), gpu_hosts, gpu_devices),
                                stalls, comm);
  writer.write_outliers(outliers);
  writer.write_processes(local.processes);
  writer.write_tag_sums(tag_sums(local.processes, comm));
  return outliers;
}

// Where the time went (--timing): phases on the slowest rank, input volume,
// peak memory. Steady clock, not MPI_Wtime: a writer thread may be inside MPI.
struct Timing {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now(), last = start;
  std::vector<std::pair<const char*, double>> phases;

  // Adds the time since the last mark to `phase` (phases repeat once per group).
  void mark(const char* phase) {
    const auto now = Clock::now();
    add(phase, std::chrono::duration<double>(now - last).count());
    last = now;
  }
  // Counts the time since the last mark nowhere (it was counted elsewhere).
  void skip() { last = Clock::now(); }
  void add(const char* phase, double seconds) {
    auto it = std::find_if(phases.begin(), phases.end(), [&](auto& p) { return std::string(p.first) == phase; });
    if (it == phases.end()) phases.emplace_back(phase, 0.0), it = phases.end() - 1;
    it->second += seconds;
  }
  // The total is the time since the start, not the phases' sum: overlapped
  // writes run beside the reading.
  void report(const Timing& writes, std::size_t threads, bool overlapped, const std::string& compression,
              const std::vector<StreamFile>& files, std::size_t windows, std::size_t groups, MPI_Comm comm) {
    auto all = *this;
    for (const auto& [name, seconds] : writes.phases) all.add(name, seconds);
    std::vector<double> mine;
    for (const auto& [name, seconds] : all.phases) mine.push_back(seconds);
    mine.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    mine.push_back(static_cast<double>(usage.ru_maxrss) / 1024);  // MiB
    std::vector<double> worst(mine.size());
    MPI_Reduce(mine.data(), worst.data(), static_cast<int>(mine.size()), MPI_DOUBLE, MPI_MAX, 0, comm);
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank != 0) return;
    double bytes = 0;
    for (const auto& f : files) bytes += static_cast<double>(f.size);
    const double total = worst[all.phases.size()];
    std::printf("jobperf-reduce: timing: %.1f MiB of streams in %.3f s = %.1f MiB/s; peak RSS %.1f MiB per rank; "
                "%zu window(s) of %zu group(s); %zu thread(s), writes %s; compression %s;",
                bytes / (1 << 20), total, bytes / (1 << 20) / total, worst.back(), windows, groups, threads,
                overlapped ? "overlapped" : "in turn", compression.c_str());
    for (std::size_t i = 0; i < all.phases.size(); ++i) std::printf(" %s %.3f s", all.phases[i].first, worst[i]);
    std::printf("\n");
  }
};

// A group's writes: on a thread of their own where that can pay, while the
// main thread reads and derives the next group; else at once. One at a time:
// HDF5 and MPI are called by one thread at a time (MPI_THREAD_SERIALIZED),
// and the main thread calls neither until wait() has returned.
// (Destroyed while writes are pending, say on an exception, it waits for
// them: a std::async future does.)
class GroupWrites {
 public:
  explicit GroupWrites(bool overlap) : overlap_(overlap) {}
  bool overlapped() const { return overlap_; }
  // Waits for the last group's writes, then starts `write`, which marks its
  // phases on the Timing it is given.
  void start(std::function<void(Timing&)> write) {
    wait();
    auto run = [this, write = std::move(write)] {
      timing_.skip();
      write(timing_);
    };
    if (overlap_) pending_ = std::async(std::launch::async, std::move(run));
    else run();
  }
  // The writes' phases so far; read once wait() has returned.
  const Timing& timing() const { return timing_; }
  // Rethrows what the writes threw.
  void wait() {
    if (pending_.valid()) pending_.get();
  }

 private:
  bool overlap_;
  Timing timing_;
  std::future<void> pending_;
};

// The CPUs this rank may count on: those it may run on, over the ranks of
// its node that may run on them too. Bound to a core each: 1; not bound: the
// node's CPUs over its ranks; mpirun --map-by slot:PE=n: n.
std::size_t cpus_of_rank(MPI_Comm comm) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  // Unknown, it stays empty (one CPU) and the rank still joins the collectives below.
  if (sched_getaffinity(0, sizeof mine, &mine) != 0) CPU_ZERO(&mine);
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int ranks = 1;
  MPI_Comm_size(node, &ranks);
  std::vector<cpu_set_t> all(static_cast<std::size_t>(ranks));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, node);
  MPI_Comm_free(&node);
  int sharing = 0;
  for (auto& other : all) {
    cpu_set_t both;
    CPU_AND(&both, &mine, &other);
    sharing += CPU_COUNT(&both) > 0;
  }
  return static_cast<std::size_t>(std::max(1, CPU_COUNT(&mine) / std::max(1, sharing)));
}

// Writes on a thread of their own need a second CPU, and MPI's leave for
// that thread to call in (HDF5 does).
bool can_overlap(std::size_t threads) {
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  return threads >= 2 && provided >= MPI_THREAD_SERIALIZED;
}

// The first pass over this rank's streams, on `threads` threads: everything
// but the samples, and the rows they hold.
Local outline_mine(const std::vector<StreamFile>& files, const std::vector<int>& owner, int rank, std::size_t threads) {
  std::vector<std::size_t> mine;
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (owner[i] == rank) mine.push_back(i), paths.push_back(files[i].path);
  auto outlined = outline_files(paths, threads);
  Local local;
  for (std::size_t k = 0; k < mine.size(); ++k)
    if (outlined[k].error.empty()) add_stream(local, mine[k], paths[k], std::move(outlined[k]));
    else local.unreadable.push_back(outlined[k].error);
  return local;
}

// Sets how many rows of /ranks share a chunk, cuts this rank's rows into
// groups of about a window's budget each, and returns how many rounds of
// collective writes every rank joins.
std::size_t group_rows(LocalRows& rows, Plan& plan, const std::vector<Window>& windows, const ReduceOptions& options,
                       MPI_Comm comm) {
  rows.chunk_rows = plan.layout.rank_chunk_rows =
      rank_chunk_rows(rows, plan.layout.ranks.size(), widest_rank_table(plan.layout), windows.size() == 1, comm);
  cut_groups(rows, options.window_bytes,
             static_cast<double>(windows.front().timeline.bins) / static_cast<double>(plan.timeline.bins));
  unsigned long long groups = rows.group_starts.size(), rounds = 0;
  MPI_Allreduce(&groups, &rounds, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  even_out_groups(rows, rounds);
  groups = rows.group_starts.size();  // more, where a round would have had more than most_per_group() rows
  MPI_Allreduce(&groups, &rounds, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  return rounds;
}

// Window by window, group by group: read on, derive, summarise, write; then
// the job-wide results. Returns the in-job outliers.
std::vector<jobfile::Outlier> write_job_file(const ReduceOptions& options, Plan& plan, Local& local,
                                             const std::vector<StreamFile>& files, std::size_t threads, Timing& timing,
                                             MPI_Comm comm) {
  std::uint64_t largest = 0;
  for (auto i : local.files) largest = std::max(largest, files[i].size);
  const auto windows = windows_of(plan.timeline, largest, options.window_bytes, comm, plan.layout.chunk_steps);
  auto rows = local_rows(plan, local, files);
  const auto rounds = group_rows(rows, plan, windows, options, comm);
  std::optional<jobfile::JobFileWriter> file;
  std::array<Derived, 2> derived;  // a group's derived metrics: one being written while the next is derived
  GroupWrites writes(can_overlap(threads));
  // Groups are read and derived on the rank's CPUs but the one its writes take.
  const std::size_t workers = writes.overlapped() ? threads - 1 : threads;
  std::vector<std::vector<char>> read_buffers(workers);
  writes.start([&](Timing& t) {  // while the first group is read and derived
    file.emplace(options.output, comm, options.force, plan.layout);
    t.mark("create file");
  });
  timing.skip();  // created at once (not overlapped): counted by the writes' timing
  StallFinder stalls(plan.layout.info.hosts, plan.timeline.bin_ns);
  for (const auto& w : windows) {
    auto summary = start_window(plan, w);
    for (std::size_t round = 0; round < rounds; ++round) {  // collective writes: every rank joins every round
      auto g = group_of(rows, round);
      auto& d = derived[writes.overlapped() ? round % 2 : 0];
      const auto streams = streams_of(g);
      for_each_parallel(streams.size(), workers, [&](std::size_t k, std::size_t worker) {
        read_window(local, streams[k], files[local.files[streams[k]]].path, w, read_buffers[worker]);
      });
      timing.mark("read+rows");
      derive_all(g.ranks, plan.rank_metrics, w.timeline, d.rank_values, workers);
      derive_all(g.nodes, plan.node_metrics, w.timeline, d.node_values, workers);
      derive_all(g.gpus, plan.gpu_metrics, w.timeline, d.gpu_values, workers);
      summarise_group(plan, g, d, w, summary, workers);
      timing.mark("derive+summarise");
      writes.wait();
      timing.mark("wait for writes");
      // From here the group's rows and `d` are the writes' alone: later
      // groups read other streams (read_window reads each once per window).
      writes.start([&file, &plan, &d, &w, g](Timing& t) {
        write_group_series(*file, plan, g, d, w);
        t.mark("write series");
        write_group_samples(*file, plan, g, w);
        drop_done(plan, g.ranks, jobfile::Rows::Ranks, w);
        drop_done(plan, g.nodes, jobfile::Rows::Nodes, w);
        drop_done(plan, g.gpus, jobfile::Rows::Gpus, w);
        t.mark("write samples");
      });
      timing.skip();  // written at once (not overlapped): counted by the writes' timing
    }
    writes.wait();
    timing.mark("wait for writes");
    end_window(plan, w, summary, stalls, comm);
    timing.mark("derive+summarise");
    write_step_summaries(*file, plan, w, summary);
    timing.mark("write series");
  }
  auto outliers = write_totals(*file, plan, rows, stalls, local, comm);
  file->close();
  timing.mark("write totals");
  if (options.timing)
    timing.report(writes.timing(), threads, writes.overlapped(), file->compression(), files, windows.size(), rounds, comm);
  return outliers;
}

// What the user reads at the end (rank 0): the file, its problems and the first outliers.
void print_result(const ReduceOptions& options, const Plan& plan, const std::vector<jobfile::Outlier>& outliers) {
  const auto& info = plan.layout.info;
  std::printf("jobperf-reduce: wrote %s: job %s, %zu rank rows on %zu node(s), %zu bins of %.3g s, status %s\n",
              options.output.c_str(), info.job_id.c_str(), plan.layout.ranks.size(), info.hosts.size(),
              plan.timeline.bins, plan.timeline.bin_seconds(), info.status.c_str());
  for (const auto& p : info.problems) std::printf("  problem: %s\n", p.c_str());
  // The first few: a job whose nodes all differ can have hundreds, all in the file.
  constexpr std::size_t kPrinted = 20;
  for (std::size_t i = 0; i < std::min(kPrinted, outliers.size()); ++i)
    std::printf("  outlier: %s\n", outliers[i].reason.c_str());
  if (outliers.size() > kPrinted)
    std::printf("  ... and %zu more outliers, all in %s's /outliers\n", outliers.size() - kPrinted, options.output.c_str());
}

int reduce_or_throw(const ReduceOptions& options, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Barrier(comm);
  Timing timing;

  // 1. Every rank lists what it can see; all plan the same distribution.
  std::vector<std::string> errors;
  if (rank == 0 && fs::is_directory(options.output))
    errors.push_back(options.output + ": is a directory (-o names the job file to write)");
  else if (rank == 0 && !options.force && fs::exists(options.output))
    errors.push_back(options.output + ": already exists (use --force to replace it)");
  auto files = list_streams(options.inputs, comm, errors);
  if (rank != 0) errors.clear();  // every rank found the same: rank 0 reports
  if (any_failed(errors, comm)) return kFailed;
  for (const auto& note : drop_copies(files))
    if (rank == 0) std::fprintf(stderr, "jobperf-reduce: note: %s\n", note.c_str());
  const auto owner = assign_streams(files, size);
  timing.mark("list");

  // 2. A first pass over this rank's streams; the hosts' clocks aligned.
  const std::size_t threads = options.threads > 0 ? options.threads : cpus_of_rank(comm);
  auto local = outline_mine(files, owner, rank, threads);
  timing.mark("outline");
  auto clocks = align_clocks(local.streams, comm);
  align_local(local, clocks);
  timing.mark("align");

  // 3. Agree on the layout.
  const Catalog all = gather_catalogs(catalog_of(local), comm);
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
  timing.mark("plan");

  // 4. The job file.
  std::vector<jobfile::Outlier> outliers;
  try {
    outliers = write_job_file(options, plan, local, files, threads, timing, comm);
  } catch (const jobfile::JobFileError& e) {
    if (rank == 0) std::fprintf(stderr, "jobperf-reduce: %s\n", e.what());
    return kFailed;
  }
  if (rank == 0 && !options.quiet) print_result(options, plan, outliers);
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
