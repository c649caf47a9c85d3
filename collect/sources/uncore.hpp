// Pieces of the uncore source that tests use directly.
#pragma once
#include <linux/perf_event.h>

#include <string>

namespace jobperf::collect {

// Encodes a kernel PMU event ("cas_count_read") from the PMU's sysfs
// directory, as `perf stat -e pmu/event/` does: type from `type`, the
// event's terms ("event=0x04,umask=0x03") from events/<name>, placed into
// config/config1/config2 by the bit ranges in format/<term> ("config:8-15").
// Empty on success, else why not.
std::string encode_pmu_event(const std::string& pmu_dir, const std::string& event, perf_event_attr& attr);

}  // namespace jobperf::collect
