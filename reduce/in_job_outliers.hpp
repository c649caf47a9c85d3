// In-job outliers: ranks or nodes far from the others on a metric, and time
// windows where one node stalls while the others run.
//
// Across rows (ranks, or nodes) the rule is the campaign analysis's
// modified z-score: 0.6745·|x − median| / MAD > 3.5, with at least
// kMinRows rows, and only when the row is also more than kMinDeviation
// away from the median (a 5 % wobble among near-identical ranks is not an
// outlier just because their spread is tiny).
//
// A stall: a node whose ranks use less than kStallFraction of the median CPU
// of the other nodes, while those use at least kBusyCores, for at least
// kStallBins consecutive time steps.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/job_file.hpp"

namespace jobperf::reduce {

inline constexpr std::size_t kMinRows = 4;
inline constexpr double kOutlierScore = 3.5;
inline constexpr double kMinDeviation = 0.1;
inline constexpr double kStallFraction = 0.25;
inline constexpr double kBusyCores = 0.1;
inline constexpr std::size_t kStallBins = 2;

// Which summary of which metric is compared across rows.
struct ComparedMetric {
  const char* metric;
  jobfile::Stat stat;
  const char* what;               // "mean CPU utilisation"
  const char* refines = nullptr;  // an earlier metric: a row that stands out there is not reported again here
};
inline constexpr ComparedMetric kRankComparisons[] = {
    {"cpu_utilization", jobfile::kMean, "mean CPU use"},
    // Where MPI's waits yield the CPU (oversubscribed, or blocking progress),
    // the ranks that wait spend their time in the kernel: user time is the work.
    {"cpu_user", jobfile::kMean, "mean CPU use in user code", "cpu_utilization"},
    {"dp_mflops", jobfile::kMean, "mean DP MFLOP/s"},
    {"cpu_wait", jobfile::kMean, "mean I/O and run-queue wait"},
    {"rss", jobfile::kMax, "peak memory"},
};
inline constexpr ComparedMetric kGpuComparisons[] = {
    {"gpu_utilization", jobfile::kMean, "mean utilisation"},
    {"gpu_memory_used", jobfile::kMax, "peak memory used"},
};
inline constexpr ComparedMetric kNodeComparisons[] = {
    {"cpu_busy", jobfile::kMean, "mean CPU busy fraction"},
    {"cpu_iowait", jobfile::kMean, "mean I/O wait"},
    {"mem_used", jobfile::kMax, "peak memory used"},
};

struct ComparedRow {
  std::int32_t rank = -1;  // -1 for nodes and GPUs
  std::string host;
  std::int32_t device = -1;  // GPUs: the index on the host
  std::vector<double> values;  // one per compared metric; NaN when the row lacks it
};

// Rows far from the others on each metric (kind "rank", "node" or "gpu").
std::vector<jobfile::Outlier> spread_outliers(const std::string& kind, std::span<const ComparedMetric> compared,
                                              const std::vector<ComparedRow>& rows, std::int64_t start_ns,
                                              std::int64_t end_ns);

// Stalls found a time window of bins at a time; a stall may span windows.
class StallFinder {
 public:
  StallFinder(std::vector<std::string> hosts, std::int64_t bin_ns);
  // cpu[host][bin]: CPU cores used by the host's ranks (NaN: none running),
  // for the bins that start at bin_start_ns, in time order.
  void add(const std::vector<std::vector<double>>& cpu, const std::vector<std::int64_t>& bin_start_ns);
  // The stalls, by host (in `hosts` order) and time.
  std::vector<jobfile::Outlier> finish();

 private:
  struct Run {
    std::size_t bins = 0;
    double value_sum = 0, others_sum = 0;
    std::int64_t start_ns = 0, end_ns = 0;
  };
  void close(std::size_t host);
  std::vector<std::string> hosts_;
  std::int64_t bin_ns_;
  std::vector<Run> runs_;  // per host: the stall under way
  std::vector<std::pair<std::size_t, jobfile::Outlier>> found_;
};

// All bins at once.
std::vector<jobfile::Outlier> stall_windows(const std::vector<std::string>& hosts,
                                            const std::vector<std::vector<double>>& cpu,
                                            const std::vector<std::int64_t>& bin_start_ns, std::int64_t bin_ns);

}  // namespace jobperf::reduce
