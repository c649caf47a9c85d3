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

// Where a row's bins fall among its samples. Every field of the row has the
// same sample times, so this is worked out once per row and each field is
// then a straight gather (the per-field sweep, with a division per bin, was
// the reducer's largest own cost).
struct BinPositions {
  std::size_t begin = 0, end = 0;  // bins where the row existed
  // Counters: bin edge k (bin_start(begin + k), end - begin + 1 of them)
  // lies at fraction frac[k] between samples lo[k] and hi[k].
  std::vector<std::uint32_t> lo, hi;
  std::vector<double> frac;
  // Gauges: the last sample at or before each bin's end, or -1.
  std::vector<std::int64_t> last;
};

// Bins ending after the row's first sample and starting at or before its last.
void span_bins(const std::vector<std::int64_t>& t, const Timeline& tl, BinPositions& p) {
  const auto first = t.front(), last = t.back();
  p.begin = std::min(tl.bins, static_cast<std::size_t>(std::max<std::int64_t>(0, (first - tl.start_ns) / tl.bin_ns)));
  while (p.begin < tl.bins && tl.bin_start(p.begin) + tl.bin_ns <= first) ++p.begin;
  p.end = p.begin;
  while (p.end < tl.bins && tl.bin_start(p.end) <= last) ++p.end;
}

// The cumulative value at each edge: linear between samples, flat outside them.
void locate_edges(const std::vector<std::int64_t>& t, const Timeline& tl, BinPositions& p) {
  const std::size_t edges = p.end - p.begin + 1, n = t.size();
  p.lo.resize(edges), p.hi.resize(edges), p.frac.resize(edges);
  std::size_t next = 0;  // edges only move forward: one pass over the samples
  for (std::size_t k = 0; k < edges; ++k) {
    const auto at = tl.bin_start(p.begin + k);
    while (next < n && t[next] <= at) ++next;  // t[next - 1] <= at < t[next]
    if (next == 0 || next == n) {
      p.lo[k] = p.hi[k] = static_cast<std::uint32_t>(next == 0 ? 0 : n - 1), p.frac[k] = 0;
    } else {
      p.lo[k] = static_cast<std::uint32_t>(next - 1), p.hi[k] = static_cast<std::uint32_t>(next);
      p.frac[k] = static_cast<double>(at - t[next - 1]) / static_cast<double>(t[next] - t[next - 1]);
    }
  }
}

void locate_bin_ends(const std::vector<std::int64_t>& t, const Timeline& tl, BinPositions& p) {
  p.last.resize(p.end - p.begin);
  std::size_t next = 0;
  for (std::size_t b = p.begin; b < p.end; ++b) {
    const auto at = tl.bin_start(b) + tl.bin_ns - 1;
    while (next < t.size() && t[next] <= at) ++next;
    p.last[b - p.begin] = static_cast<std::int64_t>(next) - 1;
  }
}

// Counter increments per bin, as rates.
void counter_bins(const std::vector<double>& v, const BinPositions& p, double seconds, std::vector<double>& bins) {
  double low = v[p.lo[0]] + p.frac[0] * (v[p.hi[0]] - v[p.lo[0]]);
  for (std::size_t k = 1; k <= p.end - p.begin; ++k) {
    const double high = v[p.lo[k]] + p.frac[k] * (v[p.hi[k]] - v[p.lo[k]]);
    bins[p.begin + k - 1] = high - low;
    low = high;
  }
  // A loop of its own, which the compiler vectorises.
  for (std::size_t b = p.begin; b < p.end; ++b) bins[b] /= seconds;
}

void gauge_bins(const std::vector<double>& v, const BinPositions& p, std::vector<double>& bins) {
  for (std::size_t b = p.begin; b < p.end; ++b) {
    const auto at = p.last[b - p.begin];
    bins[b] = at < 0 ? kNaN : v[static_cast<std::size_t>(at)];
  }
}

}  // namespace

void resample_into(const StepSeries& s, const Timeline& tl, const std::set<std::string>* wanted, BinnedSource& out) {
  out.names.clear();
  out.is_counter.clear();
  BinPositions positions;
  bool edges_located = false, ends_located = false;
  if (!s.time_ns.empty()) span_bins(s.time_ns, tl, positions);
  std::size_t used = 0;
  for (std::size_t f = 0; f < s.spec.fields.size(); ++f) {
    const auto& field = s.spec.fields[f];
    if (wanted && !wanted->count(field.name)) continue;
    bool counter = field.aggregation == Aggregation::Counter || field.aggregation == Aggregation::TreeCounter;
    out.names.push_back(field.name);
    out.is_counter.push_back(counter);
    if (out.values.size() <= used) out.values.emplace_back();
    auto& bins = out.values[used++];
    bins.resize(tl.bins);
    std::fill(bins.begin(), bins.begin() + static_cast<std::ptrdiff_t>(positions.begin), kNaN);
    std::fill(bins.begin() + static_cast<std::ptrdiff_t>(positions.end), bins.end(), kNaN);
    if (positions.end == positions.begin) continue;
    if (counter) {
      if (!edges_located) locate_edges(s.time_ns, tl, positions), edges_located = true;
      counter_bins(s.fields[f], positions, tl.bin_seconds(), bins);
    } else {
      if (!ends_located) locate_bin_ends(s.time_ns, tl, positions), ends_located = true;
      gauge_bins(s.fields[f], positions, bins);
    }
  }
}

BinnedSource resample(const StepSeries& s, const Timeline& tl, const std::set<std::string>* wanted) {
  BinnedSource out;
  resample_into(s, tl, wanted, out);
  return out;
}

}  // namespace jobperf::reduce
