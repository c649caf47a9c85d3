#include "reduce/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace jobperf::reduce {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kTag = 7302;

// PartialStats travel as plain doubles.
static_assert(std::is_standard_layout_v<PartialStats> && sizeof(PartialStats) == 11 * sizeof(double));
constexpr int kDoubles = sizeof(PartialStats) / sizeof(double);
}  // namespace

PartialStats::PartialStats()
    : min(kInf), max(-kInf), lowest_integral(kInf), lowest_row(kNaN), highest_integral(-kInf), highest_row(kNaN) {}

namespace {

// Sums in four interleaved lanes, added up at the end: four independent
// chains of additions instead of one, which the compiler also vectorises
// (a single running sum is bound by the latency of each addition). NaN is absent.
constexpr std::size_t kLanes = 4;

struct RowPass {
  double count = 0, sum = 0, min = kInf, max = -kInf;
};

// Calls add(lane, value) for each value, lane by lane in turn.
template <typename Add>
void in_lanes(std::span<const double> bins, Add add) {
  std::size_t i = 0;
  for (; i + kLanes <= bins.size(); i += kLanes)
    for (std::size_t k = 0; k < kLanes; ++k) add(k, bins[i + k]);
  for (std::size_t k = 0; i < bins.size(); ++i, ++k) add(k, bins[i]);
}

RowPass first_pass(std::span<const double> bins) {
  double count[kLanes] = {}, sum[kLanes] = {}, lo[kLanes], hi[kLanes];
  std::fill(lo, lo + kLanes, kInf), std::fill(hi, hi + kLanes, -kInf);
  in_lanes(bins, [&](std::size_t k, double v) {
    const bool present = v == v;
    count[k] += present ? 1.0 : 0.0;
    sum[k] += present ? v : 0.0;
    lo[k] = std::min(lo[k], v);  // keeps lo[k] when v is NaN
    hi[k] = std::max(hi[k], v);
  });
  RowPass p;
  for (std::size_t k = 0; k < kLanes; ++k)
    p.count += count[k], p.sum += sum[k], p.min = std::min(p.min, lo[k]), p.max = std::max(p.max, hi[k]);
  return p;
}

double squared_deviations(std::span<const double> bins, double mean) {
  double m2[kLanes] = {};
  in_lanes(bins, [&](std::size_t k, double v) {
    const double d = v - mean;
    m2[k] += d == d ? d * d : 0.0;
  });
  double total = 0;
  for (double lane : m2) total += lane;
  return total;
}

double last_present(std::span<const double> bins) {
  for (auto it = bins.rbegin(); it != bins.rend(); ++it)
    if (!std::isnan(*it)) return *it;
  return kNaN;
}

}  // namespace

void PartialStats::add_row(std::span<const double> bins, double bin_seconds, double row) {
  // Two passes (sum, then squared deviations from the row's mean), merged as one partial.
  const RowPass first = first_pass(bins);
  if (first.count == 0) return;
  PartialStats p;
  p.count = first.count;
  p.min = first.min;
  p.max = first.max;
  p.mean = first.sum / first.count;
  p.m2 = squared_deviations(bins, p.mean);
  p.integral = first.sum * bin_seconds;
  p.last_sum = last_present(bins);
  if (!std::isnan(row)) p.lowest_integral = p.highest_integral = p.integral, p.lowest_row = p.highest_row = row;
  merge(p);
}

void PartialStats::extend_row(std::span<const double> bins, double bin_seconds) {
  PartialStats next;
  next.add_row(bins, bin_seconds, kNaN);
  const double last = next.count > 0 ? next.last_sum : last_sum;
  merge(next);
  last_sum = last;
}

void PartialStats::end_row(double row) {
  if (count == 0 || std::isnan(row)) return;
  lowest_integral = highest_integral = integral;
  lowest_row = highest_row = row;
}

void PartialStats::merge(const PartialStats& o) {
  if (o.count > 0) {
    const double n = count + o.count, d = o.mean - mean;
    mean += d * o.count / n;
    m2 += o.m2 + d * d * count * o.count / n;
    count = n;
  }
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  integral += o.integral;
  last_sum += o.last_sum;
  // Ties go to the lower row, whatever the merge order; integrals that agree
  // to 12 digits tie (summed in another grouping, equal rows differ in the last bits).
  auto tie = [](double a, double b) {
    return a == b || (std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b)));
  };
  if (tie(o.lowest_integral, lowest_integral) ? o.lowest_row < lowest_row : o.lowest_integral < lowest_integral)
    lowest_integral = o.lowest_integral, lowest_row = o.lowest_row;
  if (tie(o.highest_integral, highest_integral) ? o.highest_row < highest_row : o.highest_integral > highest_integral)
    highest_integral = o.highest_integral, highest_row = o.highest_row;
}

jobfile::Stats PartialStats::stats() const {
  if (count == 0) return {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  return {min, mean, max, integral, last_sum, std::sqrt(m2 / count)};
}

jobfile::JobStats PartialStats::job_stats() const {
  auto s = stats();
  return {s[0], s[1], s[2], s[3], s[4], s[5], lowest_row, highest_row};
}

jobfile::StepStats PartialStats::step_stats() const {
  if (count == 0) return {kNaN, kNaN, kNaN, kNaN, kNaN};
  return {min, mean, max, std::sqrt(m2 / count), mean * count};
}

jobfile::Stats summarize(const std::vector<double>& bins, double bin_seconds) {
  PartialStats p;
  p.add_row(bins, bin_seconds, kNaN);
  return p.stats();
}

void add_columns(std::span<PartialStats> columns, std::span<const double> values, std::size_t rows,
                 double bin_seconds) {
  const std::size_t n = columns.size();
  std::vector<double> count(n, 0), sum(n, 0), lo(n, kInf), hi(n, -kInf), mean(n, 0), m2(n, 0);
  // Without branches, so the compiler vectorises across columns (each
  // column's own order of additions is kept: the results do not change).
  // std::min and std::max keep the old value when v is NaN.
  for (std::size_t r = 0; r < rows; ++r) {
    const double* row = values.data() + r * n;
    for (std::size_t c = 0; c < n; ++c) {
      const double v = row[c];
      const bool present = v == v;
      count[c] += present ? 1.0 : 0.0;
      sum[c] += present ? v : 0.0;
      lo[c] = std::min(lo[c], v);
      hi[c] = std::max(hi[c], v);
    }
  }
  for (std::size_t c = 0; c < n; ++c) mean[c] = count[c] > 0 ? sum[c] / count[c] : 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const double* row = values.data() + r * n;
    for (std::size_t c = 0; c < n; ++c) {
      const double d = row[c] - mean[c];
      m2[c] += d == d ? d * d : 0.0;
    }
  }
  for (std::size_t c = 0; c < n; ++c) {
    if (count[c] == 0) continue;
    PartialStats p;
    p.count = count[c];
    p.mean = mean[c];
    p.m2 = m2[c];
    p.min = lo[c];
    p.max = hi[c];
    p.integral = sum[c] * bin_seconds;
    columns[c].merge(p);
  }
}

void merge_across(std::vector<PartialStats>& partials, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int n = static_cast<int>(partials.size()) * kDoubles;
  std::vector<PartialStats> incoming(partials.size());
  // Round k: ranks with bit k set send to the partner below and drop out.
  for (int step = 1; step < size; step *= 2) {
    if (rank & step) {
      MPI_Send(partials.data(), n, MPI_DOUBLE, rank - step, kTag, comm);
      break;
    }
    if (rank + step < size) {
      MPI_Recv(incoming.data(), n, MPI_DOUBLE, rank + step, kTag, comm, MPI_STATUS_IGNORE);
      for (std::size_t i = 0; i < partials.size(); ++i) partials[i].merge(incoming[i]);
    }
  }
  MPI_Bcast(partials.data(), n, MPI_DOUBLE, 0, comm);
}

}  // namespace jobperf::reduce
