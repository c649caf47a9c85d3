// Robust statistics shared by in-job outliers (reduce) and campaign
// outliers (analyze).
#pragma once
#include <vector>

namespace jobperf::reduce {

double median(std::vector<double> values);
// Linear interpolation between closest ranks (numpy's default).
double quantile(std::vector<double> values, double q);
// The median of `sorted` less one element equal to `value` (NaN: less none),
// without copying: each of n rows against the others costs O(n), not O(n log n).
double median_without(const std::vector<double>& sorted, double value);
// 0.6745·|x − median| / MAD; when MAD is 0, |x − median| / (1.253314·mean absolute deviation) (EPMT's rule).
std::vector<double> modified_z_scores(const std::vector<double>& x);

}  // namespace jobperf::reduce
