#include "reduce/clock_alignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "collect/clock_sync.hpp"
#include "formats/byte_codec.hpp"
#include "formats/clock.hpp"
#include "formats/locations.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

constexpr std::int64_t kNotSaid = -2;  // a stream without UTC error records (process exits, older collectors)

// The worse of two UTC error bounds: any unsynchronised moment (-1) spoils the bound.
std::int64_t worse(std::int64_t a, std::int64_t b) {
  if (a == kNotSaid || b == kNotSaid) return a == kNotSaid ? b : a;
  return a < 0 || b < 0 ? -1 : std::max(a, b);
}

// Keeps the worse of the host's bound so far and `bound`.
void keep_worse(std::map<std::string, std::int64_t>& bounds, const std::string& host, std::int64_t bound) {
  auto it = bounds.emplace(host, kNotSaid).first;
  it->second = worse(it->second, bound);
}

std::int64_t worst_utc_error(const stream::DecodedStream& s) {
  std::int64_t w = kNotSaid;
  for (const auto& u : s.utc_errors) w = worse(w, u.bound_ns);
  return w;
}

struct Gathered {
  std::set<std::string> hosts;  // of every stream
  std::vector<stream::ClockOffset> offsets;
  std::map<std::string, std::int64_t> utc_error;  // per host, its worst during the job
};

// What one stream says of its host's clock, as ranks exchange it.
struct StreamClock {
  std::string host;
  std::int64_t utc_error_ns;
  std::vector<stream::ClockOffset> offsets;
};

void transfer(auto& io, MessageOf<StreamClock> auto& s) {
  io(s.host, s.utc_error_ns);
  io.each(s.offsets, [&](auto& c) { io.with(c, stream::encode_clock_offset, stream::decode_clock_offset); });
}

Gathered gather(const std::vector<stream::DecodedStream>& local, MPI_Comm comm) {
  std::vector<StreamClock> mine;
  for (const auto& s : local) mine.push_back({s.header.host, worst_utc_error(s), s.clock_offsets});
  std::vector<char> bytes;
  Encoder e(bytes);
  e.each(mine, [&](auto& s) { transfer(e, s); });
  Gathered g;
  std::set<std::tuple<std::string, std::string, std::int64_t>> seen;  // streams of one host repeat its measurements
  for (const auto& blob : all_gather(bytes, comm)) {
    std::vector<StreamClock> theirs;
    Decoder d(blob.data(), blob.size());
    d.each(theirs, [&](auto& s) { transfer(d, s); });
    for (auto& s : theirs) {
      g.hosts.insert(s.host);
      keep_worse(g.utc_error, s.host, s.utc_error_ns);
      for (auto& c : s.offsets)
        if (seen.emplace(c.host, c.phase, c.mono_ns).second) g.offsets.push_back(std::move(c));
    }
  }
  for (auto& [host, error] : g.utc_error)
    if (error == kNotSaid) error = -1;
  return g;
}

// Each reducer host's own UTC error bound now, on every rank.
std::map<std::string, std::int64_t> utc_errors_now(MPI_Comm comm) {
  std::vector<char> bytes;
  Encoder e(bytes);
  e(host_name(), stream::utc_error_bound_ns());
  std::map<std::string, std::int64_t> out;
  for (const auto& blob : all_gather(bytes, comm)) {
    std::string host;
    std::int64_t bound = 0;
    Decoder d(blob.data(), blob.size());
    d(host, bound);
    keep_worse(out, host, bound);
  }
  return out;
}

std::int64_t value_or_none(const std::map<std::string, std::int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

// Several sidecar jobs may have measured against different references: keep the commonest.
std::string commonest_reference(const std::vector<stream::ClockOffset>& offsets) {
  std::map<std::string, int> votes;
  for (const auto& c : offsets) ++votes[c.reference_host];
  return std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

std::string exchanges_text(int exchanges) {
  return "ping-pong (" + std::to_string(exchanges) + " exchanges per pair, the shortest round trip kept)";
}

// /clock's summary of one host's measurements.
jobfile::ClockNode describe_host(const std::string& host, const std::vector<stream::ClockOffset>& measurements) {
  jobfile::ClockNode n;
  n.host = host;
  if (measurements.empty()) return n;
  auto [first, last] = std::minmax_element(measurements.begin(), measurements.end(),
                                           [](auto& a, auto& b) { return a.mono_ns < b.mono_ns; });
  n.measured = true;
  n.start_offset_ns = first->offset_ns;
  n.stop_offset_ns = last->offset_ns;
  n.start_mono_ns = first->mono_ns;
  n.stop_mono_ns = last->mono_ns;
  n.start_time_ns = first->realtime_ns - first->offset_ns;
  n.stop_time_ns = last->realtime_ns - last->offset_ns;
  n.start_rtt_ns = first->rtt_ns;
  n.stop_rtt_ns = last->rtt_ns;
  n.bound_ns = std::max(first->bound_ns, last->bound_ns);
  n.hops = last->hops;
  if (last->mono_ns > first->mono_ns)
    n.drift_ppm = static_cast<double>(last->offset_ns - first->offset_ns) /
                  static_cast<double>(last->mono_ns - first->mono_ns) * 1e6;
  return n;
}

}  // namespace

std::int64_t bound_without_collector_sync(std::int64_t measured_bound_ns, const UtcErrors& e) {
  std::vector<std::int64_t> terms = {e.node_in_job, e.reference_in_job};
  if (measured_bound_ns >= 0) terms.insert(terms.end(), {measured_bound_ns, e.node_at_reduce, e.reference_at_reduce});
  std::int64_t bound = 0;
  for (auto t : terms) {
    if (t < 0) return -1;
    bound += t;
  }
  return bound;
}

HostOffset ClockAlignment::offset_of(const std::string& host) const {
  auto it = by_host.find(host);
  return it == by_host.end() ? HostOffset{} : HostOffset(it->second);
}

ClockAlignment align_clocks(const std::vector<stream::DecodedStream>& local_streams, MPI_Comm comm) {
  auto g = gather(local_streams, comm);
  ClockAlignment a;
  auto& info = a.info;
  std::map<std::string, std::int64_t> utc_error_at_reduce;
  if (!g.offsets.empty()) {
    info.reference_host = commonest_reference(g.offsets);
    for (auto& c : g.offsets)
      if (c.reference_host == info.reference_host) a.by_host[c.host].push_back(c), info.exchanges = c.exchanges;
    info.method = "collectors";
    info.guarantee = "The sidecar collectors measured each node's clock against " + info.reference_host + " by " +
                     exchanges_text(info.exchanges) +
                     " at start and at stop; each sample is corrected by the offset interpolated linearly between "
                     "the two, so a constant drift is followed. Error per node at most bound_ns, plus any "
                     "non-linear wander of its clock between the measurements.";
  } else if (g.hosts.size() > 1) {
    // Wrapper mode: measure now, among this reducer's ranks, and lean on the streams' anchors.
    for (auto& c : clocksync::measure_host_offsets(comm, host_name(), "reduce")) {
      info.reference_host = c.reference_host;
      info.exchanges = c.exchanges;
      if (g.hosts.count(c.host)) a.by_host[c.host].push_back(std::move(c));
    }
    utc_error_at_reduce = utc_errors_now(comm);
    info.method = "reduce";
    info.guarantee = "jobperf-reduce measured each node's clock against " + info.reference_host + " by " +
                     exchanges_text(info.exchanges) +
                     " after the job; samples are mapped to UTC by each stream's own MONOTONIC/REALTIME anchors "
                     "(NTP steps followed), then shifted by that offset. The offset held during the job only as "
                     "far as the two clocks kept their distance, which their time daemons bound: each node's "
                     "bound_ns adds to the measurement's error the node's and the reference's own bounds on their "
                     "distance from UTC, during the job (utc_error_ns) and at the reduce (reduce_utc_error_ns). "
                     "For microseconds, run the collectors as sidecars under mpirun: they measure at start and stop.";
  } else {
    info.method = "single-host";
    info.guarantee = "All streams come from one host, hence one clock: no alignment needed.";
  }
  std::string unmeasured, unbounded;
  auto add_to = [](std::string& list, const std::string& host) { list += (list.empty() ? "" : ",") + host; };
  for (const auto& host : g.hosts) {
    auto it = a.by_host.find(host);
    auto n = describe_host(host, it == a.by_host.end() ? std::vector<stream::ClockOffset>{} : it->second);
    n.utc_error_ns = value_or_none(g.utc_error, host);
    n.reduce_utc_error_ns = value_or_none(utc_error_at_reduce, host);
    if (info.method != "single-host" && host != info.reference_host) {
      if (!n.measured) add_to(unmeasured, host);
      if (!n.measured || info.method == "reduce") {
        UtcErrors e{n.utc_error_ns, value_or_none(g.utc_error, info.reference_host), n.reduce_utc_error_ns,
                    value_or_none(utc_error_at_reduce, info.reference_host)};
        n.bound_ns = bound_without_collector_sync(n.measured ? n.bound_ns : -1, e);
        if (n.bound_ns < 0) add_to(unbounded, host);
      }
    }
    info.nodes.push_back(std::move(n));
  }
  if (!unmeasured.empty()) info.guarantee += " Not measured (their own NTP time is used): " + unmeasured + ".";
  if (!unbounded.empty())
    info.guarantee += " No bound (bound_ns -1: a clock, theirs or the reference's, not synchronised or not saying): " +
                      unbounded + ".";
  return a;
}

}  // namespace jobperf::reduce
