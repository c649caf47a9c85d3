#include "collect/clock_sync.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

namespace jobperf::clocksync {
namespace {

constexpr int kTag = 7301;
constexpr std::size_t kHostChars = 256;

struct Pair {
  std::size_t parent, child;  // host indices
};

// Which pairs are measured, round by round.
std::vector<std::vector<Pair>> schedule(std::size_t hosts) {
  std::vector<std::vector<Pair>> rounds;
  if (hosts <= kDirectHosts) {
    for (std::size_t h = 1; h < hosts; ++h) rounds.push_back({{0, h}});
    return rounds;
  }
  for (std::size_t step = 1; step < hosts; step *= 2) {
    rounds.emplace_back();
    for (std::size_t child = step; child < hosts; child += 2 * step) rounds.back().push_back({child - step, child});
  }
  return rounds;
}

// The child's clock minus the parent's, as the parent sees it.
struct Exchange {
  std::int64_t delta_ns = 0;
  std::int64_t rtt_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t child_mono_ns = 0;  // the child's clock at the kept exchange
};

Exchange measure_as_parent(int child, int exchanges, MPI_Comm comm) {
  Exchange best;
  char ping = 0;
  for (int i = 0; i < exchanges; ++i) {
    std::int64_t child_time = 0;
    const std::int64_t sent = stream::monotonic_ns();
    MPI_Send(&ping, 1, MPI_CHAR, child, kTag, comm);
    MPI_Recv(&child_time, 1, MPI_INT64_T, child, kTag, comm, MPI_STATUS_IGNORE);
    const std::int64_t received = stream::monotonic_ns();
    if (received - sent < best.rtt_ns) {
      best.rtt_ns = received - sent;
      best.delta_ns = child_time - (sent + (received - sent) / 2);
      best.child_mono_ns = child_time;
    }
  }
  return best;
}

void answer_as_child(int parent, int exchanges, MPI_Comm comm) {
  char ping = 0;
  for (int i = 0; i < exchanges; ++i) {
    MPI_Recv(&ping, 1, MPI_CHAR, parent, kTag, comm, MPI_STATUS_IGNORE);
    const std::int64_t now = stream::monotonic_ns();
    MPI_Send(&now, 1, MPI_INT64_T, parent, kTag, comm);
  }
}

// Host names of all ranks; the leader (lowest rank) and name of each host.
struct Hosts {
  std::vector<std::string> names;
  std::vector<int> leaders;
  std::size_t mine = 0;
};

Hosts group_by_host(MPI_Comm comm, const std::string& my_host) {
  int size = 0, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  std::vector<char> mine(kHostChars, '\0'), all(kHostChars * static_cast<std::size_t>(size));
  std::memcpy(mine.data(), my_host.data(), std::min(my_host.size(), kHostChars - 1));
  MPI_Allgather(mine.data(), static_cast<int>(kHostChars), MPI_CHAR, all.data(), static_cast<int>(kHostChars), MPI_CHAR,
                comm);
  Hosts h;
  std::map<std::string, std::size_t> index;
  for (int r = 0; r < size; ++r) {
    std::string name(all.data() + static_cast<std::size_t>(r) * kHostChars);
    auto [it, fresh] = index.emplace(name, h.names.size());
    if (fresh) {
      h.names.push_back(name);
      h.leaders.push_back(r);
    }
    if (r == rank) h.mine = it->second;
  }
  return h;
}

}  // namespace

std::vector<stream::ClockOffset> measure_host_offsets(MPI_Comm comm, const std::string& my_host,
                                                      const std::string& phase, int exchanges) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const Hosts hosts = group_by_host(comm, my_host);
  const bool leader = hosts.leaders[hosts.mine] == rank;
  const auto rounds = schedule(hosts.names.size());

  // Each leader walks the rounds in order; a round's pairs are disjoint, so
  // blocking exchanges cannot deadlock. Parents keep what they measured:
  // child host, delta, round trip, child's clock.
  std::vector<std::int64_t> measured;
  if (leader) {
    for (const auto& round : rounds) {
      for (const auto& p : round) {
        if (p.parent == hosts.mine) {
          auto e = measure_as_parent(hosts.leaders[p.child], exchanges, comm);
          measured.insert(measured.end(),
                          {static_cast<std::int64_t>(p.child), e.delta_ns, e.rtt_ns, e.child_mono_ns});
        } else if (p.child == hosts.mine) {
          answer_as_child(hosts.leaders[p.parent], exchanges, comm);
        }
      }
    }
  }
  // Every leader's REALTIME - MONOTONIC turns monotonic offsets into REALTIME ones.
  const auto anchor = stream::read_clock_anchor();
  std::int64_t me[3] = {leader ? static_cast<std::int64_t>(hosts.mine) : -1, anchor.realtime_minus_mono(),
                        anchor.mono_mid()};
  int size = 0;
  MPI_Comm_size(comm, &size);
  std::vector<std::int64_t> everyone(3 * static_cast<std::size_t>(size));
  MPI_Allgather(me, 3, MPI_INT64_T, everyone.data(), 3, MPI_INT64_T, comm);
  std::vector<std::int64_t> realtime_minus_mono(hosts.names.size()), mono_at(hosts.names.size());
  for (int r = 0; r < size; ++r) {
    auto* e = &everyone[3 * static_cast<std::size_t>(r)];
    if (e[0] >= 0) realtime_minus_mono[static_cast<std::size_t>(e[0])] = e[1], mono_at[static_cast<std::size_t>(e[0])] = e[2];
  }
  int count = static_cast<int>(measured.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  std::vector<std::int64_t> pairs(static_cast<std::size_t>(offsets.back() + counts.back()));
  MPI_Allgatherv(measured.data(), count, MPI_INT64_T, pairs.data(), counts.data(), offsets.data(), MPI_INT64_T, comm);

  // Compose along the tree: a child's offset to the reference is its
  // parent's plus its own. Rounds with the largest steps hang off the root:
  // walking the rounds backwards reaches every parent before its children.
  const std::size_t n = hosts.names.size();
  std::vector<std::int64_t> delta(n, 0), rtt(n, 0), bound(n, 0), child_mono(n, 0);
  std::vector<std::int32_t> hops(n, 0);
  std::map<std::size_t, const std::int64_t*> pair_of;
  for (std::size_t i = 0; i < pairs.size(); i += 4) pair_of[static_cast<std::size_t>(pairs[i])] = &pairs[i];
  for (auto round = rounds.rbegin(); round != rounds.rend(); ++round) {
    for (const auto& p : *round) {
      const std::int64_t* m = pair_of.at(p.child);
      delta[p.child] = delta[p.parent] + m[1];
      rtt[p.child] = m[2];
      bound[p.child] = bound[p.parent] + (m[2] + 1) / 2;
      child_mono[p.child] = m[3];
      hops[p.child] = hops[p.parent] + 1;
    }
  }
  child_mono[0] = mono_at[0];
  std::vector<stream::ClockOffset> out;
  for (std::size_t h = 0; h < n; ++h) {
    stream::ClockOffset c;
    c.host = hosts.names[h];
    c.reference_host = hosts.names[0];
    c.phase = phase;
    c.mono_ns = child_mono[h];
    c.realtime_ns = child_mono[h] + realtime_minus_mono[h];
    c.offset_ns = delta[h] + realtime_minus_mono[h] - realtime_minus_mono[0];
    c.rtt_ns = rtt[h];
    c.bound_ns = bound[h];
    c.exchanges = exchanges;
    c.hops = hops[h];
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace jobperf::clocksync

namespace jobperf::clocksync {

std::unique_ptr<CollectorSync> CollectorSync::join_if_launched() {
  const char* size = nullptr;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (!size) size = std::getenv(name);
  if (!size || std::atoi(size) < 2) return nullptr;
  MPI_Init(nullptr, nullptr);
  return std::unique_ptr<CollectorSync>(new CollectorSync);
}

CollectorSync::~CollectorSync() {
  // After an abandoned wait another collector may never finalize: leave
  // without MPI_Finalize rather than hang the job's end.
  if (!abandoned_) MPI_Finalize();
}

std::optional<stream::ClockOffset> CollectorSync::measure(const std::string& host, const std::string& phase,
                                                          double timeout_s, std::string& why) {
  if (abandoned_) return std::nullopt;
  MPI_Request arrived;
  MPI_Ibarrier(MPI_COMM_WORLD, &arrived);
  const std::int64_t deadline = stream::monotonic_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
  for (int done = 0;;) {
    MPI_Test(&arrived, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (stream::monotonic_ns() > deadline) {
      abandoned_ = true;
      why = "clock offset at " + phase + " not measured: not every collector arrived within " +
            std::to_string(static_cast<int>(timeout_s)) + " s";
      return std::nullopt;
    }
    usleep(1000);  // a collector waiting for the others must not steal their CPU
  }
  for (auto& c : measure_host_offsets(MPI_COMM_WORLD, host, phase))
    if (c.host == host) return c;
  return std::nullopt;
}

}  // namespace jobperf::clocksync
