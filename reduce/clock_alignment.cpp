#include "reduce/clock_alignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "collect/clock_sync.hpp"
#include "formats/byte_codec.hpp"
#include "formats/locations.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

struct Gathered {
  std::set<std::string> hosts;  // of every stream
  std::vector<stream::ClockOffset> offsets;
};

Gathered gather(const std::vector<stream::DecodedStream>& local, MPI_Comm comm) {
  std::vector<char> bytes;
  Encoder e(bytes);
  e.put(static_cast<std::uint32_t>(local.size()));
  for (const auto& s : local) {
    e.put_string(s.header.host);
    e.put(static_cast<std::uint32_t>(s.clock_offsets.size()));
    for (const auto& c : s.clock_offsets) stream::encode_clock_offset(e, c);
  }
  Gathered g;
  std::set<std::tuple<std::string, std::string, std::int64_t>> seen;  // streams of one host repeat its measurements
  for (const auto& blob : all_gather(bytes, comm)) {
    Decoder d(blob.data(), blob.size());
    for (auto n = d.get<std::uint32_t>(); n > 0; --n) {
      g.hosts.insert(d.get_string());
      for (auto m = d.get<std::uint32_t>(); m > 0; --m) {
        auto c = stream::decode_clock_offset(d);
        if (seen.emplace(c.host, c.phase, c.mono_ns).second) g.offsets.push_back(std::move(c));
      }
    }
  }
  return g;
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

}  // namespace

HostOffset ClockAlignment::offset_of(const std::string& host) const {
  auto it = by_host.find(host);
  return it == by_host.end() ? HostOffset{} : HostOffset(it->second);
}

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

ClockAlignment align_clocks(const std::vector<stream::DecodedStream>& local_streams, MPI_Comm comm) {
  auto g = gather(local_streams, comm);
  ClockAlignment a;
  auto& info = a.info;
  std::string unmeasured_note;
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
    info.method = "reduce";
    info.guarantee = "jobperf-reduce measured each node's clock against " + info.reference_host + " by " +
                     exchanges_text(info.exchanges) +
                     " after the job; samples are mapped to UTC by each stream's own MONOTONIC/REALTIME anchors "
                     "(NTP steps followed), then shifted by that offset. Error per node at most bound_ns plus how "
                     "far the nodes' clocks drifted apart between the job and the reduce, which is not measured: "
                     "run the collectors as sidecars under mpirun to measure at start and stop.";
  } else {
    info.method = "single-host";
    info.guarantee = "All streams come from one host, hence one clock: no alignment needed.";
  }
  for (const auto& host : g.hosts) {
    auto it = a.by_host.find(host);
    info.nodes.push_back(describe_host(host, it == a.by_host.end() ? std::vector<stream::ClockOffset>{} : it->second));
    if (info.method != "single-host" && !info.nodes.back().measured)
      unmeasured_note += (unmeasured_note.empty() ? "" : ",") + host;
  }
  if (!unmeasured_note.empty())
    info.guarantee += " Not measured (their own NTP time is used): " + unmeasured_note + ".";
  return a;
}

}  // namespace jobperf::reduce
