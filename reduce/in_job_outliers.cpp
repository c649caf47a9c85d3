#include "reduce/in_job_outliers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "reduce/robust_stats.hpp"

namespace jobperf::reduce {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string row_name(const std::string& kind, const ComparedRow& row) {
  if (kind == "rank") return "rank " + std::to_string(row.rank) + " (" + row.host + ")";
  if (kind == "gpu") return "GPU " + std::to_string(row.device) + " of " + row.host;
  return "node " + row.host;
}

}  // namespace

std::vector<jobfile::Outlier> spread_outliers(const std::string& kind, std::span<const ComparedMetric> compared,
                                              const std::vector<ComparedRow>& rows, std::int64_t start_ns,
                                              std::int64_t end_ns) {
  std::vector<jobfile::Outlier> out;
  std::set<std::pair<std::string, std::size_t>> flagged;  // (metric, row)
  for (std::size_t m = 0; m < compared.size(); ++m) {
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
      if (compared[m].refines && flagged.count({compared[m].refines, which[i]})) continue;
      flagged.insert({compared[m].metric, which[i]});
      const auto& row = rows[which[i]];
      jobfile::Outlier o{kind, row.rank, row.host, compared[m].metric, x[i], mid, scores[i], start_ns, end_ns, ""};
      std::string how = mid != 0 ? number(std::fabs(deviation) / std::fabs(mid) * 100) + " % " : "";
      o.reason = row_name(kind, row) + ": " + compared[m].what + " " + number(x[i]) + " is " + how +
                 (deviation < 0 ? "below" : "above") + " the median " + number(mid) + " of " +
                 std::to_string(x.size()) + " " + kind + "s (modified z-score " + number(scores[i]) + ")";
      out.push_back(std::move(o));
    }
  }
  return out;
}

StallFinder::StallFinder(std::vector<std::string> hosts, std::int64_t bin_ns)
    : hosts_(std::move(hosts)), bin_ns_(bin_ns), runs_(hosts_.size()) {}

void StallFinder::add(const std::vector<std::vector<double>>& cpu, const std::vector<std::int64_t>& bin_start_ns) {
  if (hosts_.size() < 2) return;
  std::vector<double> running;  // the bin's hosts with ranks running, sorted
  for (std::size_t b = 0; b < bin_start_ns.size(); ++b) {
    running.clear();
    for (const auto& host : cpu)
      if (!std::isnan(host[b])) running.push_back(host[b]);
    std::sort(running.begin(), running.end());
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
      const double mine = cpu[h][b], others = median_without(running, mine), busy = std::isnan(others) ? 0 : others;
      if (!std::isnan(mine) && busy >= kBusyCores && mine < kStallFraction * busy) {
        auto& run = runs_[h];
        if (run.bins++ == 0) run.start_ns = bin_start_ns[b];
        run.end_ns = bin_start_ns[b] + bin_ns_;
        run.value_sum += mine;
        run.others_sum += busy;
      } else {
        close(h);
      }
    }
  }
}

void StallFinder::close(std::size_t h) {
  auto& run = runs_[h];
  if (run.bins >= kStallBins) {
    const double n = static_cast<double>(run.bins), value = run.value_sum / n, others = run.others_sum / n;
    jobfile::Outlier o{"stall", -1, hosts_[h], "cpu_utilization", value, others, value / others,
                       run.start_ns, run.end_ns, ""};
    o.reason = "node " + hosts_[h] + " stalled for " + number(static_cast<double>(run.end_ns - run.start_ns) * 1e-9) +
               " s: its ranks used " + number(value) + " cores while the other nodes' used a median of " +
               number(others);
    found_.emplace_back(h, std::move(o));
  }
  run = Run{};
}

std::vector<jobfile::Outlier> StallFinder::finish() {
  for (std::size_t h = 0; h < hosts_.size(); ++h) close(h);
  std::stable_sort(found_.begin(), found_.end(), [](auto& a, auto& b) {
    return std::tie(a.first, a.second.start_ns) < std::tie(b.first, b.second.start_ns);
  });
  std::vector<jobfile::Outlier> out;
  for (auto& [host, o] : found_) out.push_back(std::move(o));
  found_.clear();
  return out;
}

std::vector<jobfile::Outlier> stall_windows(const std::vector<std::string>& hosts,
                                            const std::vector<std::vector<double>>& cpu,
                                            const std::vector<std::int64_t>& bin_start_ns, std::int64_t bin_ns) {
  StallFinder finder(hosts, bin_ns);
  finder.add(cpu, bin_start_ns);
  return finder.finish();
}

}  // namespace jobperf::reduce
