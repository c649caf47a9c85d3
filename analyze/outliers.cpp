#include "analyze/outliers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace jobperf::analyze {

std::vector<double> z_scores(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double mean = x.empty() ? 0 : std::accumulate(x.begin(), x.end(), 0.0) / n;
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  const double sd = x.empty() ? 0 : std::sqrt(var / n);
  std::vector<double> out(x.size(), 0.0);
  if (sd > 0)
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = std::fabs(x[i] - mean) / sd;
  return out;
}

std::vector<bool> outside_tukey_fences(const std::vector<double>& x) {
  const double q1 = quantile(x, 0.25), q3 = quantile(x, 0.75), iqr = q3 - q1;
  std::vector<bool> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] < q1 - kIqrFactor * iqr || x[i] > q3 + kIqrFactor * iqr;
  return out;
}

std::vector<std::vector<FeatureVerdict>> classify(const std::vector<std::vector<double>>& features,
                                                  double min_deviation) {
  const std::size_t jobs = features.size(), nf = jobs ? features[0].size() : 0;
  std::vector<std::vector<FeatureVerdict>> out(jobs, std::vector<FeatureVerdict>(nf));
  for (std::size_t f = 0; f < nf; ++f) {
    std::vector<double> column(jobs);
    for (std::size_t j = 0; j < jobs; ++j) column[j] = features[j][f];
    auto mz = modified_z_scores(column);
    auto z = z_scores(column);
    auto fences = outside_tukey_fences(column);
    const double m = median(column);
    for (std::size_t j = 0; j < jobs; ++j) {
      auto& v = out[j][f];
      v.modified_z = mz[j];
      v.z = z[j];
      v.outside_iqr = fences[j];
      const bool material = std::fabs(column[j] - m) > min_deviation * std::fabs(m);
      v.votes = material ? (mz[j] > kModifiedZThreshold) + (z[j] > kZThreshold) + fences[j] : 0;
    }
  }
  return out;
}

}  // namespace jobperf::analyze
