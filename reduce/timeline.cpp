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

void move_to_timeline(std::vector<StepSeries>& sources, const ClockMap& clock) {
  for (auto& series : sources)
    for (auto& t : series.time_ns) t = clock.to_utc(t);
}

const std::vector<double>* BinnedSource::find(const std::string& field, bool rate) const {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == field && is_counter[i] == rate) return &values[i];
  return nullptr;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Reads a sample series at increasing times, in one pass: bin edges only
// move forward, so each lookup resumes where the last one stopped.
class Sweep {
 public:
  Sweep(const std::vector<std::int64_t>& t, const std::vector<double>& v) : t_(t), v_(v) {}
  // Cumulative value at `at`, linear between samples, held flat outside them.
  double cumulative_at(std::int64_t at) {
    if (at <= t_.front()) return v_.front();
    if (at >= t_.back()) return v_.back();
    advance_past(at);  // t_[next_ - 1] <= at < t_[next_]
    const auto lo = next_ - 1;
    const double f = static_cast<double>(at - t_[lo]) / static_cast<double>(t_[next_] - t_[lo]);
    return v_[lo] + f * (v_[next_] - v_[lo]);
  }
  // The last value at or before `at`; NaN before the first sample.
  double last_at(std::int64_t at) {
    advance_past(at);
    return next_ == 0 ? kNaN : v_[next_ - 1];
  }

 private:
  void advance_past(std::int64_t at) {
    while (next_ < t_.size() && t_[next_] <= at) ++next_;
  }
  const std::vector<std::int64_t>& t_;
  const std::vector<double>& v_;
  std::size_t next_ = 0;
};

}  // namespace

BinnedSource resample(const StepSeries& s, const Timeline& tl, const std::set<std::string>* wanted) {
  BinnedSource out;
  for (std::size_t f = 0; f < s.spec.fields.size(); ++f) {
    const auto& field = s.spec.fields[f];
    if (wanted && !wanted->count(field.name)) continue;
    bool counter = field.aggregation == Aggregation::Counter || field.aggregation == Aggregation::TreeCounter;
    out.names.push_back(field.name);
    out.is_counter.push_back(counter);
    std::vector<double> bins(tl.bins, kNaN);
    if (!s.time_ns.empty()) {
      const auto first = s.time_ns.front(), last = s.time_ns.back();
      Sweep sweep(s.time_ns, s.fields[f]);
      // Bins where the row existed: those ending after its first sample and starting at or before its last.
      const auto begin = static_cast<std::size_t>(std::max<std::int64_t>(0, (first - tl.start_ns) / tl.bin_ns));
      double low_edge = counter ? sweep.cumulative_at(tl.bin_start(begin)) : 0;
      std::size_t end = begin;
      for (std::size_t b = begin; b < tl.bins; ++b) {
        const auto lo = tl.bin_start(b), hi = lo + tl.bin_ns;
        if (lo > last) break;
        end = b + 1;
        if (hi <= first) continue;
        if (counter) {
          const double high_edge = sweep.cumulative_at(hi);
          bins[b] = high_edge - low_edge;
          low_edge = high_edge;
        } else {
          bins[b] = sweep.last_at(hi - 1);
        }
      }
      // Increments to rates in a loop of its own, which the compiler
      // vectorises: one division per bin inside the sweep stalled it.
      const double seconds = tl.bin_seconds();
      if (counter)
        for (std::size_t b = begin; b < end; ++b) bins[b] /= seconds;
    }
    out.values.push_back(std::move(bins));
  }
  return out;
}

}  // namespace jobperf::reduce
