#include "reduce/summary.hpp"

#include <cmath>
#include <limits>

namespace jobperf::reduce {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

jobfile::Stats summarize(const std::vector<double>& bins, double bin_seconds) {
  PartialStats p;
  p.add_row(bins, bin_seconds);
  auto s = p.stats();
  return s;
}

PartialStats::PartialStats() : min(kInf), max(-kInf) {}

void PartialStats::add_row(const std::vector<double>& bins, double bin_seconds) {
  double last = kNaN;
  for (double v : bins) {
    if (std::isnan(v)) continue;
    min = std::min(min, v);
    max = std::max(max, v);
    value_sum += v;
    count += 1;
    integral += v * bin_seconds;
    last = v;
  }
  if (!std::isnan(last)) last_sum += last;
}

jobfile::Stats PartialStats::stats() const {
  if (count == 0) return {kNaN, kNaN, kNaN, kNaN, kNaN};
  jobfile::Stats s{};
  s[jobfile::kMin] = min;
  s[jobfile::kMean] = value_sum / count;
  s[jobfile::kMax] = max;
  s[jobfile::kSum] = integral;
  s[jobfile::kLast] = last_sum;
  return s;
}

void merge_across(std::vector<PartialStats>& partials, MPI_Comm comm) {
  const int n = static_cast<int>(partials.size());
  std::vector<double> mins(partials.size()), maxes(partials.size()), sums(partials.size() * 4);
  for (std::size_t i = 0; i < partials.size(); ++i) {
    mins[i] = partials[i].min;
    maxes[i] = partials[i].max;
    sums[i * 4 + 0] = partials[i].value_sum;
    sums[i * 4 + 1] = partials[i].count;
    sums[i * 4 + 2] = partials[i].integral;
    sums[i * 4 + 3] = partials[i].last_sum;
  }
  MPI_Allreduce(MPI_IN_PLACE, mins.data(), n, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(MPI_IN_PLACE, maxes.data(), n, MPI_DOUBLE, MPI_MAX, comm);
  MPI_Allreduce(MPI_IN_PLACE, sums.data(), n * 4, MPI_DOUBLE, MPI_SUM, comm);
  for (std::size_t i = 0; i < partials.size(); ++i) {
    partials[i].min = mins[i];
    partials[i].max = maxes[i];
    partials[i].value_sum = sums[i * 4 + 0];
    partials[i].count = sums[i * 4 + 1];
    partials[i].integral = sums[i * 4 + 2];
    partials[i].last_sum = sums[i * 4 + 3];
  }
}

}  // namespace jobperf::reduce
