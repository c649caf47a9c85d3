// Node clock offsets by ping-pong over MPI (Jones & Koenig; Hunold &
// Carpen-Amarie): for each pair, `exchanges` round trips, keeping the one
// with the shortest round trip, whose midpoint bounds the offset error by
// half that round trip. Ranks are grouped by host name; the lowest rank of
// each host measures for it, against the host of rank 0 (the reference).
//
// Up to kDirectHosts hosts, every host is measured directly against the
// reference, one after another. Beyond, in a binomial tree of ceil(log2 H)
// rounds with the pairs of a round measured at the same time; offsets then
// add up along the tree, and so do their error bounds.
//
// Used by sidecar collectors (an MPI job: at start and at stop) and by
// jobperf-reduce in wrapper mode (after the job).
#pragma once
#include <mpi.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/raw_stream.hpp"

namespace jobperf::clocksync {

inline constexpr int kDefaultExchanges = 100;
inline constexpr std::size_t kDirectHosts = 16;

// Collective over `comm`. Returns one measurement per host, in order of
// each host's lowest rank (the reference first, with offset 0), on every rank.
std::vector<stream::ClockOffset> measure_host_offsets(MPI_Comm comm, const std::string& my_host,
                                                      const std::string& phase,
                                                      int exchanges = kDefaultExchanges);

}  // namespace jobperf::clocksync

namespace jobperf::clocksync {

// Sidecar collectors started by an MPI launcher (mpirun, srun) form an MPI
// job of their own, used only to measure clock offsets at start and stop.
class CollectorSync {
 public:
  // Joins that MPI job when the launcher started more than one collector;
  // null otherwise (one node needs no alignment).
  static std::unique_ptr<CollectorSync> join_if_launched();
  ~CollectorSync();
  CollectorSync(const CollectorSync&) = delete;
  CollectorSync& operator=(const CollectorSync&) = delete;

  // Collective: waits up to `timeout_s` for every collector to arrive (they
  // stop at slightly different times), then measures. Returns this host's
  // measurement, or nothing with `why` set when some collector never came.
  std::optional<stream::ClockOffset> measure(const std::string& host, const std::string& phase, double timeout_s,
                                             std::string& why);

 private:
  CollectorSync() = default;
  bool abandoned_ = false;  // a wait timed out: MPI_Finalize could hang
};

}  // namespace jobperf::clocksync
