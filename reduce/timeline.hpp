// Time in the reducer: each stream's CLOCK_MONOTONIC samples are mapped to
// UTC through its clock anchors, then every row is resampled onto one
// job-wide timeline of equal bins, so ranks and nodes line up bin by bin.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "formats/raw_stream.hpp"

namespace jobperf::reduce {

// A host's REALTIME minus the reference host's, as a function of the host's
// CLOCK_MONOTONIC: linear between measurements (start and stop: a drifting
// clock is followed) and extended linearly beyond them (samples taken while
// the measurements ran); constant with one measurement, zero without.
class HostOffset {
 public:
  HostOffset() = default;
  explicit HostOffset(std::vector<stream::ClockOffset> measurements);
  std::int64_t at(std::int64_t mono_ns) const;

 private:
  std::vector<stream::ClockOffset> points_;  // by mono_ns
};

// CLOCK_MONOTONIC -> the reference timeline (UTC as the reference host's
// clock tells it): the host's own REALTIME-MONOTONIC offset interpolated
// linearly between the stream's anchors (start, periodic, end), so an NTP
// step or slew during the job is followed; minus the host's offset to the
// reference, so hosts whose clocks disagree line up.
class ClockMap {
 public:
  explicit ClockMap(const stream::DecodedStream& s, HostOffset host_offset = {});
  std::int64_t to_utc(std::int64_t mono_ns) const;

 private:
  std::vector<std::int64_t> mono_;
  std::vector<std::int64_t> offset_;
  HostOffset host_offset_;
};

// A row's samples before resampling: cumulative values for counters, the
// value for gauges, at increasing UTC times.
struct StepSeries {
  stream::SourceSpec spec;
  std::vector<std::int64_t> time_ns;
  std::vector<std::vector<double>> fields;  // [field][sample]
  std::size_t dropped = 0;                  // samples before time_ns[0], no longer held
};

// Maps a row's sample times from its stream's CLOCK_MONOTONIC onto the reference timeline.
void move_to_timeline(std::vector<StepSeries>& sources, const ClockMap& clock);

struct Timeline {
  std::int64_t start_ns = 0;
  std::int64_t bin_ns = 1'000'000'000;
  std::size_t bins = 0;
  double bin_seconds() const { return static_cast<double>(bin_ns) * 1e-9; }
  std::int64_t bin_start(std::size_t i) const { return start_ns + static_cast<std::int64_t>(i) * bin_ns; }
};

// Per-bin series of each field: rates for counters (the cumulative value is
// interpolated linearly at bin edges, so totals are kept exactly), the last
// value at or before the bin's end for gauges. NaN where the row did not exist.
struct BinnedSource {
  std::vector<std::string> names;
  std::vector<bool> is_counter;
  std::vector<std::vector<double>> values;  // [field][bin]; may hold spare arrays beyond names.size()
  const std::vector<double>* find(const std::string& field, bool rate) const;
};
// `wanted` (if given) limits it to the fields some formula reads.
BinnedSource resample(const StepSeries& series, const Timeline& timeline,
                      const std::set<std::string>* wanted = nullptr);
// The same into `out`, whose arrays are reused: a row's bins are then written
// into memory already in cache, not into fresh allocations.
void resample_into(const StepSeries& series, const Timeline& timeline, const std::set<std::string>* wanted,
                   BinnedSource& out);

}  // namespace jobperf::reduce
