#include "reduce/in_job_outliers.hpp"

#include <cmath>
#include <cstdio>

#include "reduce/robust_stats.hpp"

namespace jobperf::reduce {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string row_name(const std::string& kind, const ComparedRow& row) {
  return kind == "rank" ? "rank " + std::to_string(row.rank) + " (" + row.host + ")" : "node " + row.host;
}

}  // namespace

std::vector<jobfile::Outlier> spread_outliers(const std::string& kind, const std::vector<std::string>& metrics,
                                              const std::vector<std::string>& whats,
                                              const std::vector<ComparedRow>& rows, std::int64_t start_ns,
                                              std::int64_t end_ns) {
  std::vector<jobfile::Outlier> out;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    std::vector<double> x;
    std::vector<std::size_t> which;
    for (std::size_t r = 0; r < rows.size(); ++r)
      if (std::isfinite(rows[r].values[m])) x.push_back(rows[r].values[m]), which.push_back(r);
    if (x.size() < kMinRows) continue;
    const double mid = median(x);
    const auto scores = modified_z_scores(x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double deviation = x[i] - mid;
      if (scores[i] <= kOutlierScore || std::fabs(deviation) <= kMinDeviation * std::fabs(mid)) continue;
      const auto& row = rows[which[i]];
      jobfile::Outlier o{kind, row.rank, row.host, metrics[m], x[i], mid, scores[i], start_ns, end_ns, ""};
      std::string how = mid != 0 ? number(std::fabs(deviation) / std::fabs(mid) * 100) + " % " : "";
      o.reason = row_name(kind, row) + ": " + whats[m] + " " + number(x[i]) + " is " + how +
                 (deviation < 0 ? "below" : "above") + " the median " + number(mid) + " of " +
                 std::to_string(x.size()) + " " + kind + "s (modified z-score " + number(scores[i]) + ")";
      out.push_back(std::move(o));
    }
  }
  return out;
}

std::vector<jobfile::Outlier> stall_windows(const std::vector<std::string>& hosts,
                                            const std::vector<std::vector<double>>& cpu,
                                            const std::vector<std::int64_t>& bin_start_ns, std::int64_t bin_ns) {
  std::vector<jobfile::Outlier> out;
  if (hosts.size() < 2) return out;
  const std::size_t bins = bin_start_ns.size();
  for (std::size_t h = 0; h < hosts.size(); ++h) {
    std::size_t run = 0;
    double value_sum = 0, others_sum = 0;
    auto close_run = [&](std::size_t end_bin) {
      if (run >= kStallBins) {
        const auto first = end_bin - run;
        const double value = value_sum / static_cast<double>(run), others = others_sum / static_cast<double>(run);
        jobfile::Outlier o{"stall", -1, hosts[h], "cpu_utilization", value, others, value / others,
                           bin_start_ns[first], bin_start_ns[end_bin - 1] + bin_ns, ""};
        o.reason = "node " + hosts[h] + " stalled for " + number(static_cast<double>(run * static_cast<std::size_t>(bin_ns)) * 1e-9) +
                   " s: its ranks used " + number(value) + " cores while the other nodes' used a median of " +
                   number(others);
        out.push_back(std::move(o));
      }
      run = 0;
      value_sum = others_sum = 0;
    };
    for (std::size_t b = 0; b < bins; ++b) {
      std::vector<double> others;
      for (std::size_t o = 0; o < hosts.size(); ++o)
        if (o != h && !std::isnan(cpu[o][b])) others.push_back(cpu[o][b]);
      const double mine = cpu[h][b], busy = others.empty() ? 0 : median(others);
      if (!std::isnan(mine) && busy >= kBusyCores && mine < kStallFraction * busy) {
        ++run;
        value_sum += mine;
        others_sum += busy;
      } else {
        close_run(b);
      }
    }
    close_run(bins);
  }
  return out;
}

}  // namespace jobperf::reduce
