#include "reduce/aggregate.hpp"

#include <algorithm>
#include <functional>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

namespace jobperf::reduce {
namespace {

using stream::Aggregation;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

struct Process {
  const stream::SubjectBegin* begin = nullptr;
  std::int64_t end_ns = kNever;
  std::int32_t wait_status = -1;
  std::vector<const stream::Record*> records;  // in time order
};

std::int64_t exit_code(std::int32_t wait_status) {
  if (wait_status < 0) return -1;
  if ((wait_status & 0x7f) == 0) return (wait_status >> 8) & 0xff;  // WIFEXITED
  return 128 + (wait_status & 0x7f);                                  // WTERMSIG
}

std::map<std::uint32_t, Process> processes_of(const stream::DecodedStream& s) {
  std::map<std::uint32_t, Process> out;
  for (const auto& b : s.subjects) out[b.pid].begin = &b;
  for (const auto& e : s.subject_ends) {
    auto it = out.find(e.pid);
    if (it == out.end()) continue;
    it->second.end_ns = std::min(it->second.end_ns, e.time_ns);
    it->second.wait_status = std::max(it->second.wait_status, e.wait_status);
  }
  for (const auto& r : s.records) {
    auto it = out.find(r.subject);
    if (it != out.end()) it->second.records.push_back(&r);
  }
  return out;
}

std::int32_t rank_of(const Process& p, const stream::Header& h) {
  return p.begin->rank >= 0 ? p.begin->rank : h.rank;
}

// One source's series for one rank, in CLOCK_MONOTONIC time.
StepSeries combine(const stream::DecodedStream& s, const stream::SourceSpec& spec,
                   const std::vector<const Process*>& members, const std::map<std::uint32_t, Process>& all) {
  StepSeries out;
  out.spec = spec;
  const std::size_t nf = spec.fields.size();
  out.fields.assign(nf, {});

  std::vector<std::int64_t> times;
  for (const auto* p : members)
    for (const auto* r : p->records)
      if (r->source == spec.id) times.push_back(r->time_ns);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  if (times.empty()) return out;

  // A process that ended without the collector reaping it was reaped by its
  // watched parent, unless the parent was gone first (then it was orphaned).
  // Its value moves into the parent's tree counters, visible at the parent's
  // first sample after the process's last one (had it still lived, it would
  // have been sampled in that tick too). A parent with no later sample has
  // ended as well: the value travels on with the parent, and leaves the sum
  // when the parent's does.
  auto last_record = [&](const Process* p) {
    std::int64_t last = std::numeric_limits<std::int64_t>::min();
    for (const auto* r : p->records)
      if (r->source == spec.id) last = r->time_ns;
    return last;
  };
  std::map<const Process*, std::int64_t> memo;
  std::function<std::int64_t(const Process*)> absorbed_at = [&](const Process* p) -> std::int64_t {
    if (auto it = memo.find(p); it != memo.end()) return it->second;
    std::int64_t when = kNever;
    auto parent = all.find(p->begin->ppid);
    const std::int64_t last = last_record(p);
    if (p->end_ns != kNever && p->wait_status < 0 && parent != all.end() && parent->second.begin &&
        parent->second.end_ns > last) {
      const Process* q = &parent->second;
      for (const auto* r : q->records)
        if (r->source == spec.id && r->time_ns > last) {
          when = r->time_ns;
          break;
        }
      if (when == kNever && q->wait_status < 0) when = absorbed_at(q);
    }
    return memo[p] = when;
  };
  struct State {
    const Process* p;
    std::int64_t absorbed_at;
    std::size_t next = 0;  // next record to apply
    const stream::Record* last = nullptr;
  };
  std::vector<State> states;
  for (const auto* p : members) states.push_back(State{p, absorbed_at(p)});

  // The rank's counters start at zero when its first process starts.
  std::int64_t start = times.front();
  for (const auto* p : members) start = std::min(start, p->begin->start_ns);
  if (start < times.front()) {
    out.time_ns.push_back(start);
    for (std::size_t f = 0; f < nf; ++f)
      out.fields[f].push_back(spec.fields[f].aggregation == Aggregation::Attribute ? kNaN : 0.0);
  }

  for (auto t : times) {
    for (auto& st : states) {
      const auto& recs = st.p->records;
      while (st.next < recs.size() && recs[st.next]->time_ns <= t) {
        if (recs[st.next]->source == spec.id) st.last = recs[st.next];
        ++st.next;
      }
    }
    out.time_ns.push_back(t);
    for (std::size_t f = 0; f < nf; ++f) {
      const auto agg = spec.fields[f].aggregation;
      const auto type = spec.fields[f].type;
      double sum = 0;
      double attribute = kNaN;
      for (const auto& st : states) {
        if (!st.last || st.last->value_count <= f) continue;
        const bool alive = st.p->end_ns > t;
        double v = stream::raw_to_double(s.values_of(*st.last)[f], type);
        switch (agg) {
          case Aggregation::Gauge:
            if (alive) sum += v;
            break;
          case Aggregation::Counter: sum += v; break;
          case Aggregation::TreeCounter:
            if (t < st.absorbed_at) sum += v;
            break;
          case Aggregation::Attribute:
            if (alive && std::isnan(attribute)) attribute = v;
            break;
        }
      }
      out.fields[f].push_back(agg == Aggregation::Attribute ? attribute : sum);
    }
  }
  return out;
}

}  // namespace

std::vector<RankRow> rank_rows(const stream::DecodedStream& s) {
  auto all = processes_of(s);
  std::map<std::int32_t, std::vector<const Process*>> by_rank;
  for (const auto& [pid, p] : all)
    if (p.begin) by_rank[rank_of(p, s.header)].push_back(&p);

  std::vector<RankRow> rows;
  for (const auto& [rank, members] : by_rank) {
    RankRow row;
    row.rank = rank;
    row.host = s.header.host;
    row.stream = s.path.substr(s.path.find_last_of('/') + 1);
    // The command the collector itself started and reaped is the rank's command.
    for (const auto* p : members)
      if (p->begin->ppid == static_cast<std::uint32_t>(s.header.pid) && p->wait_status >= 0)
        row.exit_status = exit_code(p->wait_status);
    for (const auto& spec : s.sources) {
      if (spec.scope != stream::Scope::Process) continue;
      row.sources.push_back(combine(s, spec, members, all));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<NodeRow> node_rows(const stream::DecodedStream& s) {
  NodeRow row;
  row.host = s.header.host;
  for (const auto& spec : s.sources) {
    if (spec.scope != stream::Scope::Node) continue;
    StepSeries series;
    series.spec = spec;
    series.fields.assign(spec.fields.size(), {});
    for (const auto& r : s.records) {
      // Subject 0 is the node; other subjects are devices (GPUs), kept in the stream for now.
      if (r.source != spec.id || r.subject != 0 || r.value_count != spec.fields.size()) continue;
      series.time_ns.push_back(r.time_ns);
      auto v = s.values_of(r);
      for (std::size_t f = 0; f < spec.fields.size(); ++f)
        series.fields[f].push_back(stream::raw_to_double(v[f], spec.fields[f].type));
    }
    if (!series.time_ns.empty()) row.sources.push_back(std::move(series));
  }
  if (row.sources.empty()) return {};
  return {row};
}

}  // namespace jobperf::reduce
