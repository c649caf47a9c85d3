#include "reduce/aggregate.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <tuple>

namespace jobperf::reduce {
namespace {

using stream::Aggregation;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();

std::int64_t exit_code(std::int32_t wait_status) {
  if (wait_status < 0) return -1;
  if ((wait_status & 0x7f) == 0) return (wait_status >> 8) & 0xff;  // WIFEXITED
  return 128 + (wait_status & 0x7f);                                  // WTERMSIG
}

std::int32_t rank_of(const stream::SubjectBegin& b, const stream::Header& h) { return b.rank >= 0 ? b.rank : h.rank; }


// The first pass, fed blocks in stream order: counts each row's samples
// exactly as RowCombiner will produce them, and finds when each reaped
// process's tree counters move into its parent (which needs the parent's
// samples after the process's last: the future, for the second pass).
class Outliner {
 public:
  explicit Outliner(const stream::Header& header) : header_(header) {}

  void add(const stream::DecodedStream& blocks) {
    for (const auto& s : blocks.sources) sources_.push_back(s);
    for (const auto& b : blocks.subjects) begin(b);
    for (const auto& r : blocks.records) record(r);
  }

  StreamOutline finish(const stream::DecodedStream& skeleton) {
    StreamOutline out;
    std::map<std::int32_t, std::size_t> by_rank;  // rows by rank
    for (auto& [rank, row] : ranks_) by_rank[rank] = 0;
    for (auto& [rank, index] : by_rank) index = out.ranks.size(), out.ranks.push_back({rank, -1, -1, {}});
    for (const auto& e : skeleton.subject_ends) {
      auto it = processes_.find(e.pid);
      if (it == processes_.end()) continue;
      it->second.end_ns = std::min(it->second.end_ns, e.time_ns);
      it->second.wait_status = std::max(it->second.wait_status, e.wait_status);
    }
    std::vector<std::uint32_t> pids;
    for (const auto& [pid, p] : processes_) pids.push_back(pid);
    std::sort(pids.begin(), pids.end());
    for (auto& [rank, row] : ranks_) {
      auto& o = out.ranks[by_rank[rank]];
      for (auto pid : pids) {  // the command the collector itself started and reaped is the rank's command
        const auto& p = processes_[pid];
        if (p.rank == rank && p.ppid == static_cast<std::uint32_t>(header_.pid) && p.wait_status >= 0)
          o.exit_status = exit_code(p.wait_status);
      }
      const std::int64_t start = rank_start(rank);
      for (const auto& spec : sources_) {
        if (spec.scope != stream::Scope::Process) continue;
        SourceSpan span{spec.name, static_cast<std::uint32_t>(spec.fields.size()), 0, kNever, kNone};
        if (auto it = row.find(spec.id); it != row.end()) {
          span.samples = it->second.samples, span.first_ns = it->second.first_ns, span.last_ns = it->second.last_ns;
          if (start < span.first_ns) ++span.samples, span.first_ns = start;  // the combination starts from zero
        }
        o.sources.push_back(span);
      }
    }
    auto node_row = [&](const std::map<std::uint16_t, Span>& spans, std::int32_t device) {
      RowOutline row{-1, device, -1, {}};
      for (const auto& spec : sources_) {
        auto it = spans.find(spec.id);
        if (spec.scope != stream::Scope::Node || it == spans.end()) continue;
        row.sources.push_back({spec.name, static_cast<std::uint32_t>(spec.fields.size()), it->second.samples,
                               it->second.first_ns, it->second.last_ns});
      }
      return row;
    };
    if (!node_.empty()) out.nodes.push_back(node_row(node_, -1));
    for (const auto& [subject, spans] : devices_) out.devices.push_back(node_row(spans, static_cast<std::int32_t>(subject) - 1));
    for (const auto& spec : sources_) {
      bool tree = std::any_of(spec.fields.begin(), spec.fields.end(),
                              [](auto& f) { return f.aggregation == Aggregation::TreeCounter; });
      if (spec.scope != stream::Scope::Process || !tree) continue;
      std::map<std::uint32_t, std::int64_t> memo;
      for (auto pid : pids)
        if (auto when = absorbed_at(pid, spec.id, memo); when != kNever) out.absorbed_at[{pid, spec.id}] = when;
    }
    return out;
  }

 private:
  struct Seen {  // one process's records of one source
    std::int64_t first = kNone, last = kNone;
    std::int64_t parent_after_last = kNever;  // the parent's first record after `last`
    bool waiting = false;                     // on its parent's list, for that record
  };
  struct Process {
    std::int32_t rank = -1;
    std::uint32_t ppid = 0;
    std::int64_t start_ns = 0;
    std::int64_t end_ns = kNever;
    std::int32_t wait_status = -1;
    std::map<std::uint16_t, Seen> seen;
  };
  struct Span {
    std::int64_t samples = 0, first_ns = kNever, last_ns = kNone;
  };

  void begin(const stream::SubjectBegin& b) {
    auto& p = processes_[b.pid];
    p.rank = rank_of(b, header_);
    p.ppid = b.ppid;
    p.start_ns = b.start_ns;
    ranks_[p.rank];
  }

  void record(const stream::Record& r) {
    const std::int64_t t = now_ = std::max(now_, r.time_ns);
    const stream::SourceSpec* spec = nullptr;
    for (const auto& s : sources_)
      if (s.id == r.source) spec = &s;
    if (!spec) return;
    if (spec->scope == stream::Scope::Node) {  // subject 0: the node; 1, 2, ...: its devices (GPUs)
      if (r.value_count == spec->fields.size()) count(r.subject == 0 ? node_[r.source] : devices_[r.subject][r.source], t, true);
      return;
    }
    auto it = processes_.find(r.subject);
    if (it == processes_.end()) return;
    auto& p = it->second;
    count(ranks_[p.rank][r.source], t, false);
    // This process's children waiting for its first record after theirs.
    auto& waiting = waiting_[{r.subject, r.source}];
    std::erase_if(waiting, [&](std::uint32_t child) {
      auto& c = processes_[child].seen[r.source];
      if (c.last >= t) return false;
      c.parent_after_last = t;
      c.waiting = false;
      return true;
    });
    auto& mine = p.seen[r.source];
    if (mine.first == kNone) mine.first = t;
    mine.last = t;
    mine.parent_after_last = kNever;
    if (!mine.waiting) waiting_[{p.ppid, r.source}].push_back(r.subject), mine.waiting = true;
  }

  static void count(Span& s, std::int64_t t, bool every_record) {
    if (every_record || s.last_ns != t) ++s.samples;
    s.first_ns = std::min(s.first_ns, t);
    s.last_ns = t;
  }

  std::int64_t rank_start(std::int32_t rank) const {
    std::int64_t start = kNever;
    for (const auto& [pid, p] : processes_)
      if (p.rank == rank) start = std::min(start, p.start_ns);
    return start;
  }

  // A process that ended without the collector reaping it was reaped by its
  // watched parent, unless the parent was gone first (then it was orphaned).
  // Its value moves into the parent's tree counters, visible at the parent's
  // first sample after the process's last one (had it still lived, it would
  // have been sampled in that tick too). A parent with no later sample has
  // ended as well: the value travels on with the parent, and leaves the sum
  // when the parent's does.
  std::int64_t absorbed_at(std::uint32_t pid, std::uint16_t source, std::map<std::uint32_t, std::int64_t>& memo) {
    if (auto it = memo.find(pid); it != memo.end()) return it->second;
    memo[pid] = kNever;  // a pid loop (reused pids) ends here
    const auto& p = processes_[pid];
    auto parent = processes_.find(p.ppid);
    std::int64_t when = kNever;
    const Seen* own = p.seen.count(source) ? &p.seen.at(source) : nullptr;
    const std::int64_t last = own ? own->last : kNone;
    if (p.end_ns != kNever && p.wait_status < 0 && parent != processes_.end() && parent->second.end_ns > last) {
      const auto& q = parent->second;
      if (own) when = own->parent_after_last;
      else if (q.seen.count(source)) when = q.seen.at(source).first;
      if (when == kNever && q.wait_status < 0) when = absorbed_at(p.ppid, source, memo);
    }
    return memo[pid] = when;
  }

  struct PairHash {
    std::size_t operator()(const std::pair<std::uint32_t, std::uint16_t>& k) const {
      return std::hash<std::uint64_t>()((std::uint64_t{k.first} << 16) | k.second);
    }
  };

  const stream::Header& header_;
  std::vector<stream::SourceSpec> sources_;
  std::unordered_map<std::uint32_t, Process> processes_;
  std::map<std::int32_t, std::map<std::uint16_t, Span>> ranks_;  // rank -> source id -> its samples
  std::map<std::uint16_t, Span> node_;
  std::map<std::uint32_t, std::map<std::uint16_t, Span>> devices_;  // subject -> source id -> its samples
  std::unordered_map<std::pair<std::uint32_t, std::uint16_t>, std::vector<std::uint32_t>, PairHash> waiting_;
  std::int64_t now_ = kNone;
};

}  // namespace

StreamOutline outline_stream(stream::StreamReader& reader, const std::string& path, stream::DecodedStream& skeleton) {
  stream::DecodedStream blocks;
  skeleton = {};
  skeleton.path = path;
  skeleton.size = reader.size();
  skeleton.header = reader.header();
  skeleton.blocks_read = 1;
  Outliner outliner(skeleton.header);
  reader.decode_values(false);  // the outline needs when and whose, not what
  while (reader.next(blocks)) {
    outliner.add(blocks);
    // Keep all but the samples; damage offsets and block counts carry over.
    auto move_all = [](auto& from, auto& to) {
      to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
      from.clear();
    };
    move_all(blocks.sources, skeleton.sources);
    move_all(blocks.subjects, skeleton.subjects);
    move_all(blocks.subject_ends, skeleton.subject_ends);
    move_all(blocks.notes, skeleton.notes);
    move_all(blocks.metadata, skeleton.metadata);
    move_all(blocks.anchors, skeleton.anchors);
    move_all(blocks.process_exits, skeleton.process_exits);
    move_all(blocks.clock_offsets, skeleton.clock_offsets);
    move_all(blocks.utc_errors, skeleton.utc_errors);
    move_all(blocks.damage, skeleton.damage);
    if (blocks.closed) skeleton.closed = true, skeleton.end = blocks.end;
    skeleton.blocks_read += blocks.blocks_read;
    blocks.blocks_read = 0;
    blocks.records.clear();
    blocks.values.clear();
  }
  return outliner.finish(skeleton);
}

StreamOutline outline_stream(const stream::DecodedStream& whole) {
  Outliner outliner(whole.header);
  outliner.add(whole);
  return outliner.finish(whole);
}

// ---------------------------------------------------------------- RowCombiner

namespace {
constexpr std::size_t kNoSource = std::numeric_limits<std::size_t>::max();  // in a table by source id

std::size_t at(const std::vector<std::size_t>& table, std::uint16_t id) {
  return id < table.size() ? table[id] : kNoSource;
}
void set_at(std::vector<std::size_t>& table, std::uint16_t id, std::size_t value) {
  if (table.size() <= id) table.resize(std::size_t{id} + 1, kNoSource);
  table[id] = value;
}
}  // namespace

RowCombiner::RowCombiner(const stream::DecodedStream& s, const StreamOutline& outline, const ClockMap* clock)
    : clock_(clock) {
  for (const auto& spec : s.sources) {
    if (spec.scope == stream::Scope::Process) set_at(process_index_, spec.id, process_specs_.size()), process_specs_.push_back(spec);
  }
  auto series_of = [](const stream::SourceSpec& spec) {
    StepSeries series;
    series.spec = spec;
    series.fields.assign(spec.fields.size(), {});
    return series;
  };
  std::map<std::int32_t, std::size_t> row_of_rank;
  for (const auto& o : outline.ranks) {
    row_of_rank[o.rank] = ranks.size();
    RankRow row;
    row.rank = o.rank;
    row.host = s.header.host;
    row.stream = s.path.substr(s.path.find_last_of('/') + 1);
    row.exit_status = o.exit_status;
    for (const auto& spec : process_specs_) row.sources.push_back(series_of(spec));
    ranks.push_back(std::move(row));
    rows_.push_back({{}, kNever, std::vector<std::int64_t>(process_specs_.size(), kNone)});
  }
  for (const auto& spec : s.sources)
    if (spec.scope == stream::Scope::Node) set_at(node_fields_, spec.id, spec.fields.size());
  auto node_row = [&](const RowOutline& o) {
    NodeRow row;
    row.host = s.header.host;
    row.device = o.device;
    for (const auto& span : o.sources)
      for (const auto& spec : s.sources)
        if (spec.name == span.source && spec.scope == stream::Scope::Node) row.sources.push_back(series_of(spec));
    return row;
  };
  for (const auto& o : outline.nodes) nodes.push_back(node_row(o));
  for (const auto& o : outline.devices) devices.push_back(node_row(o));
  if (!nodes.empty()) node_rows_[0] = &nodes[0];
  for (auto& d : devices) node_rows_[static_cast<std::uint32_t>(d.device) + 1] = &d;
  std::map<std::uint32_t, const stream::SubjectBegin*> begins;  // by pid, as the first pass keeps them
  for (const auto& b : s.subjects) begins[b.pid] = &b;
  for (const auto& [pid, b] : begins) {
    auto& p = processes_[pid];
    p.row = row_of_rank.at(rank_of(*b, s.header));
    p.sources.resize(process_specs_.size());
    for (std::size_t k = 0; k < process_specs_.size(); ++k)
      if (auto it = outline.absorbed_at.find({pid, process_specs_[k].id}); it != outline.absorbed_at.end())
        p.sources[k].absorbed_at = it->second;
    auto& row = rows_[p.row];
    row.members.push_back(&p);
    row.start_ns = std::min(row.start_ns, b->start_ns);
  }
  for (const auto& e : s.subject_ends)
    if (auto it = processes_.find(e.pid); it != processes_.end()) it->second.end_ns = std::min(it->second.end_ns, e.time_ns);
}

void RowCombiner::add(const stream::DecodedStream& blocks) {
  for (const auto& b : blocks.subjects)
    if (auto it = processes_.find(b.pid); it != processes_.end()) it->second.begun = true;
  for (const auto& r : blocks.records) {
    if (r.time_ns > now_) emit(now_), now_ = r.time_ns;  // the samples at now_ are complete
    if (const auto fields = at(node_fields_, r.source); fields != kNoSource) {
      auto row = node_rows_.find(r.subject);
      if (r.value_count != fields || row == node_rows_.end()) continue;
      for (auto& series : row->second->sources) {
        if (series.spec.id != r.source) continue;
        series.time_ns.push_back(utc(now_));
        auto v = blocks.values_of(r);
        for (std::size_t f = 0; f < series.fields.size(); ++f)
          series.fields[f].push_back(stream::raw_to_double(v[f], series.spec.fields[f].type));
      }
      continue;
    }
    const auto k = at(process_index_, r.source);
    if (r.subject != last_pid_) {  // a rank's records mostly follow one another: one lookup per run
      auto p = processes_.find(r.subject);
      last_pid_ = r.subject;
      last_process_ = p == processes_.end() ? nullptr : &p->second;
    }
    auto* p = last_process_;
    if (k == kNoSource || !p || !p->begun) continue;
    auto& state = p->sources[k];
    auto v = blocks.values_of(r);
    state.sampled = true;
    state.last.assign(v.begin(), v.end());
    auto& touched = rows_[p->row].touched[k];
    if (touched != now_) touched = now_, pending_.emplace_back(p->row, k);
  }
}

void RowCombiner::finish() { emit(now_); }

void RowCombiner::drop_node_rows() {
  node_rows_.clear();
  nodes.clear();
  devices.clear();
}

void RowCombiner::emit(std::int64_t t) {
  if (pending_.empty()) return;  // t may be the "no sample yet" sentinel: not a time to convert
  std::sort(pending_.begin(), pending_.end());
  const std::int64_t t_utc = utc(t);  // once per tick, not per row and source
  for (auto [r, k] : pending_) {
    auto& series = ranks[r].sources[k];
    const auto& row = rows_[r];
    const auto& fields = process_specs_[k].fields;
    const std::size_t nf = fields.size();
    if (series.time_ns.empty() && row.start_ns < t) {  // the rank's counters start at zero; its gauges are not known yet
      series.time_ns.push_back(utc(row.start_ns));
      for (std::size_t f = 0; f < nf; ++f) {
        const auto a = fields[f].aggregation;
        series.fields[f].push_back(a == Aggregation::Counter || a == Aggregation::TreeCounter ? 0.0 : kNaN);
      }
    }
    series.time_ns.push_back(t_utc);
    if (const auto* only = row.members.size() == 1 ? &row.members[0]->sources[k] : nullptr;
        only && only->sampled && only->last.size() >= nf && row.members[0]->end_ns > t && t < only->absorbed_at) {
      // One live process, the usual rank: every kind of field is its value.
      for (std::size_t f = 0; f < nf; ++f) series.fields[f].push_back(stream::raw_to_double(only->last[f], fields[f].type));
      continue;
    }
    // Member by member, each one's values in order: the inner loop reads one array.
    sums_.resize(nf);
    for (std::size_t f = 0; f < nf; ++f) sums_[f] = fields[f].aggregation == Aggregation::Attribute ? kNaN : 0.0;
    bool any_alive = false;
    for (const auto* p : row.members) {
      const auto& st = p->sources[k];
      if (!st.sampled) continue;
      const bool alive = p->end_ns > t, not_absorbed = t < st.absorbed_at;
      any_alive = any_alive || alive;
      const std::size_t n = std::min(nf, st.last.size());
      for (std::size_t f = 0; f < n; ++f) {
        const double v = stream::raw_to_double(st.last[f], fields[f].type);
        switch (fields[f].aggregation) {
          case Aggregation::Gauge:
            if (alive) sums_[f] += v;
            break;
          case Aggregation::Counter: sums_[f] += v; break;
          case Aggregation::TreeCounter:
            if (not_absorbed) sums_[f] += v;
            break;
          case Aggregation::Attribute:
            if (alive && std::isnan(sums_[f])) sums_[f] = v;
            break;
        }
      }
    }
    // With none of its processes alive, the rank has no memory or threads
    // to speak of: missing, not zero, or its minimum and mean would be 0's.
    for (std::size_t f = 0; f < nf; ++f)
      series.fields[f].push_back(!any_alive && fields[f].aggregation == Aggregation::Gauge ? kNaN : sums_[f]);
  }
  pending_.clear();
}

// Top processes first: a start is known to the kernel's tick only, so a
// child forked in the same tick ties with its parent, and pids wrap (CI saw
// a stress-ng worker named before the stress-ng it came from).
std::string rank_command(const stream::DecodedStream& s, std::int32_t rank) {
  std::set<std::uint32_t> pids;
  for (const auto& b : s.subjects)
    if (b.rank == rank) pids.insert(b.pid);
  auto key = [&](const stream::SubjectBegin& b) { return std::tuple(pids.count(b.ppid) > 0, b.start_ns, b.pid); };
  const stream::SubjectBegin* first = nullptr;
  for (const auto& b : s.subjects)
    if (b.rank == rank && (!first || key(b) < key(*first))) first = &b;
  return first ? first->command : std::string();
}

std::vector<RankRow> rank_rows(const stream::DecodedStream& s) {
  RowCombiner c(s, outline_stream(s), nullptr);
  c.add(s);
  c.finish();
  return std::move(c.ranks);
}

}  // namespace jobperf::reduce
