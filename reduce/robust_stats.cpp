#include "reduce/robust_stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace jobperf::reduce {

double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double median_without(const std::vector<double>& sorted, double value) {
  const bool drop = !std::isnan(value);
  const std::size_t n = sorted.size() - (drop && !sorted.empty() ? 1 : 0);
  if (n == 0) return std::nan("");
  const auto skip = drop ? static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), value) - sorted.begin())
                         : sorted.size();
  auto at = [&](std::size_t i) { return sorted[i < skip ? i : i + 1]; };
  const double pos = 0.5 * static_cast<double>(n - 1);  // as quantile(v, 0.5)
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, n - 1);
  return at(lo) + (pos - static_cast<double>(lo)) * (at(hi) - at(lo));
}

std::vector<double> modified_z_scores(const std::vector<double>& x) {
  const double m = median(x);
  std::vector<double> deviation(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) deviation[i] = std::fabs(x[i] - m);
  const double mad = median(deviation);
  const double mean_ad = x.empty() ? 0 : std::accumulate(deviation.begin(), deviation.end(), 0.0) / static_cast<double>(x.size());
  std::vector<double> out(x.size(), 0.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (mad > 0) out[i] = 0.6745 * deviation[i] / mad;
    else if (mean_ad > 0) out[i] = deviation[i] / (1.253314 * mean_ad);
  }
  return out;
}

}  // namespace jobperf::reduce
