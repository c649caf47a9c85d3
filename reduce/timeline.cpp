#include "reduce/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace jobperf::reduce {

using stream::Aggregation;

HostOffset::HostOffset(std::vector<stream::ClockOffset> measurements) : points_(std::move(measurements)) {
  std::sort(points_.begin(), points_.end(), [](auto& a, auto& b) { return a.mono_ns < b.mono_ns; });
}

std::int64_t HostOffset::at(std::int64_t t) const {
  if (points_.empty()) return 0;
  if (points_.size() == 1 || points_.front().mono_ns == points_.back().mono_ns) return points_.front().offset_ns;
  auto hi = static_cast<std::size_t>(
      std::upper_bound(points_.begin(), points_.end(), t, [](std::int64_t v, auto& p) { return v < p.mono_ns; }) -
      points_.begin());
  hi = std::clamp<std::size_t>(hi, 1, points_.size() - 1);  // outside: the nearest segment, extended
  const auto &a = points_[hi - 1], &b = points_[hi];
  double f = static_cast<double>(t - a.mono_ns) / static_cast<double>(b.mono_ns - a.mono_ns);
  return a.offset_ns + std::llround(f * static_cast<double>(b.offset_ns - a.offset_ns));
}

ClockMap::ClockMap(const stream::DecodedStream& s, HostOffset host_offset) : host_offset_(std::move(host_offset)) {
  auto add = [&](const stream::ClockAnchor& a) {
    if (a.realtime == 0) return;
    mono_.push_back(a.mono_mid());
    offset_.push_back(a.realtime_minus_mono());
  };
  add(s.header.start);
  for (const auto& a : s.anchors) add(a);
  if (s.closed) add(s.end.anchor);
}

std::int64_t ClockMap::to_utc(std::int64_t t) const {
  const std::int64_t to_reference = host_offset_.at(t);
  if (mono_.empty()) return t - to_reference;
  if (mono_.size() == 1 || t <= mono_.front()) return t + offset_.front() - to_reference;
  if (t >= mono_.back()) return t + offset_.back() - to_reference;
  auto hi = static_cast<std::size_t>(std::upper_bound(mono_.begin(), mono_.end(), t) - mono_.begin());
  auto lo = hi - 1;
  double f = static_cast<double>(t - mono_[lo]) / static_cast<double>(mono_[hi] - mono_[lo]);
  return t + offset_[lo] + std::llround(f * static_cast<double>(offset_[hi] - offset_[lo])) - to_reference;
}

const std::vector<double>* BinnedSource::find(const std::string& field, bool rate) const {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == field && is_counter[i] == rate) return &values[i];
  return nullptr;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Cumulative value at time t, linear between samples, held flat outside them.
double cumulative_at(const std::vector<std::int64_t>& t, const std::vector<double>& c, std::int64_t at) {
  if (at <= t.front()) return c.front();
  if (at >= t.back()) return c.back();
  auto hi = static_cast<std::size_t>(std::upper_bound(t.begin(), t.end(), at) - t.begin());
  auto lo = hi - 1;
  double f = static_cast<double>(at - t[lo]) / static_cast<double>(t[hi] - t[lo]);
  return c[lo] + f * (c[hi] - c[lo]);
}

}  // namespace

BinnedSource resample(const StepSeries& s, const Timeline& tl) {
  BinnedSource out;
  for (std::size_t f = 0; f < s.spec.fields.size(); ++f) {
    const auto& field = s.spec.fields[f];
    bool counter = field.aggregation == Aggregation::Counter || field.aggregation == Aggregation::TreeCounter;
    out.names.push_back(field.name);
    out.is_counter.push_back(counter);
    std::vector<double> bins(tl.bins, kNaN);
    if (!s.time_ns.empty()) {
      const auto first = s.time_ns.front(), last = s.time_ns.back();
      for (std::size_t b = 0; b < tl.bins; ++b) {
        const auto lo = tl.bin_start(b), hi = lo + tl.bin_ns;
        if (hi <= first || lo > last) continue;  // the row did not exist in this bin
        if (counter) {
          bins[b] = (cumulative_at(s.time_ns, s.fields[f], hi) - cumulative_at(s.time_ns, s.fields[f], lo)) /
                    tl.bin_seconds();
        } else {
          auto at = std::upper_bound(s.time_ns.begin(), s.time_ns.end(), hi - 1);
          if (at != s.time_ns.begin()) bins[b] = s.fields[f][static_cast<std::size_t>(at - s.time_ns.begin()) - 1];
        }
      }
    }
    out.values.push_back(std::move(bins));
  }
  return out;
}

}  // namespace jobperf::reduce
