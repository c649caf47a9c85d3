// Pieces of the perf_event source that tests and tools use directly.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace jobperf::collect {

// A counter the kernel ran `running` of `enabled` ns, scaled to the whole
// time; NaN if it was enabled but never scheduled (unknown, not zero); 0 if
// its task has not run yet.
double scale_multiplexed(std::uint64_t raw, std::uint64_t enabled, std::uint64_t running);

// share/events/<name>.events: the libpfm4 PMU it is for, and its events as
// (field, libpfm4 event string); the fields marked `kernel-only`, whose
// events happen only in kernel code (a count of user level alone is always
// 0). The [metrics] section is the reducer's.
struct EventSet {
  std::string path;
  std::string pmu;
  std::vector<std::pair<std::string, std::string>> events;
  std::vector<std::string> kernel_only;
};
EventSet read_event_set(const std::string& path);

// PAPI_TOT_CYC -> perf::CYCLES (share/events/papi-presets.txt); other names unchanged.
std::string papi_to_libpfm(const std::string& name);

}  // namespace jobperf::collect
