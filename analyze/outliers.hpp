// EPMT's univariate outlier classifiers, run together so each feature of
// each job collects votes:
//   modified z-score  0.6745·|x − median| / MAD > 3.5   (MAD = 0: |x − median| / (1.253314·mean absolute deviation))
//   z-score           |x − mean| / σ > 3.0
//   Tukey fences      x outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR]
// A feature is an outlier when at least two of the three agree. jobperf adds
// one condition EPMT lacks: a vote counts only when the job is also more than
// `min_deviation` (a fraction, 0.1 by default) away from the group's median,
// so that a 5 % wobble among near-identical jobs is not called an outlier
// just because their spread is tiny. 0 gives EPMT's behaviour exactly.
#pragma once
#include <cstdint>
#include <vector>

#include "reduce/robust_stats.hpp"

namespace jobperf::analyze {

inline constexpr double kModifiedZThreshold = 3.5;
inline constexpr double kZThreshold = 3.0;
inline constexpr double kIqrFactor = 1.5;
inline constexpr int kVotesForOutlier = 2;
inline constexpr std::size_t kMinComparableJobs = 4;
inline constexpr double kDefaultMinDeviation = 0.1;

using reduce::median;
using reduce::modified_z_scores;
using reduce::quantile;
std::vector<double> z_scores(const std::vector<double>& x);
std::vector<bool> outside_tukey_fences(const std::vector<double>& x);

struct FeatureVerdict {
  double modified_z = 0;
  double z = 0;
  bool outside_iqr = false;
  int votes = 0;
  bool outlier() const { return votes >= kVotesForOutlier; }
};

// verdicts[job][feature] for one group of comparable jobs.
std::vector<std::vector<FeatureVerdict>> classify(const std::vector<std::vector<double>>& features,
                                                  double min_deviation = kDefaultMinDeviation);

}  // namespace jobperf::analyze
