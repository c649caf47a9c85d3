// EPMT's classifiers on hand-computed data.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>

#include "analyze/campaign.hpp"
#include "analyze/outliers.hpp"
#include "reduce/in_job_outliers.hpp"

using namespace jobperf::analyze;

TEST_CASE("quantiles interpolate like numpy") {
  CHECK(quantile({1, 2, 3, 4}, 0.25) == 1.75);
  CHECK(quantile({4, 1, 3, 2}, 0.75) == 3.25);
  CHECK(median({5, 1, 3}) == 3);
}

TEST_CASE("the median without one element matches the median of the rest") {
  std::vector<double> v{7, 1, 3, 3, 9, 4, 4, 2};
  for (std::size_t n = 0; n <= v.size(); ++n) {
    std::vector<double> sorted(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    std::sort(sorted.begin(), sorted.end());
    if (n == 0) CHECK(std::isnan(jobperf::reduce::median_without(sorted, std::nan(""))));
    else CHECK(jobperf::reduce::median_without(sorted, std::nan("")) == median(sorted));
    for (std::size_t k = 0; k < n; ++k) {
      auto rest = sorted;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(k));
      const double got = jobperf::reduce::median_without(sorted, sorted[k]);
      if (rest.empty()) CHECK(std::isnan(got));
      else CHECK(got == median(rest));
    }
  }
}

TEST_CASE("modified z-score, z-score and Tukey fences on a clear outlier") {
  std::vector<double> x = {10, 11, 12, 13, 50};
  // median 12, |x - 12| = 2 1 0 1 38, MAD = 1
  auto mz = modified_z_scores(x);
  CHECK(mz[4] == Approx(0.6745 * 38));
  CHECK(mz[2] == 0);
  // mean 19.2, population sd = sqrt((9.2^2 + 8.2^2 + 7.2^2 + 6.2^2 + 30.8^2) / 5) = 15.4
  auto z = z_scores(x);
  CHECK(z[4] == Approx(30.8 / std::sqrt((9.2 * 9.2 + 8.2 * 8.2 + 7.2 * 7.2 + 6.2 * 6.2 + 30.8 * 30.8) / 5)));
  CHECK(z[4] < 3.0);  // with 5 jobs a z-score cannot exceed (n-1)/sqrt(n) = 1.79
  // Q1 = 11, Q3 = 13, fences [8, 16]
  auto out = outside_tukey_fences(x);
  CHECK(out == std::vector<bool>{false, false, false, false, true});
  auto verdicts = classify({{10}, {11}, {12}, {13}, {50}});
  CHECK(verdicts[4][0].votes == 2);
  CHECK(verdicts[4][0].outlier());
  CHECK_FALSE(verdicts[0][0].outlier());
}

TEST_CASE("a zero MAD falls back to the mean absolute deviation") {
  auto mz = modified_z_scores({5, 5, 5, 5, 9});
  // mean |x - 5| = 0.8: 4 / (1.253314 * 0.8)
  CHECK(mz[4] == Approx(4 / (1.253314 * 0.8)));
  CHECK(modified_z_scores({2, 2, 2, 2}) == std::vector<double>{0, 0, 0, 0});
}

namespace {
jobperf::jobfile::JobSummary job(const std::string& id, const std::string& name, double seconds, double cpu) {
  jobperf::jobfile::JobSummary j;
  j.path = id + ".h5";
  j.info.job_id = id;
  j.info.job_name = name;
  j.info.start_ns = 0;
  j.info.end_ns = static_cast<std::int64_t>(seconds * 1e9);
  j.rank_count = 4;
  j.job_stats["cpu_utilization"] = {0, 0, 0, cpu, 0};
  return j;
}
}  // namespace

TEST_CASE("a campaign flags the slow job of a group and explains it, and skips small groups") {
  std::vector<jobperf::jobfile::JobSummary> jobs = {
      job("a1", "cfd", 100, 400), job("a2", "cfd", 102, 405), job("a3", "cfd", 98, 398),
      job("a4", "cfd", 101, 402), job("a5", "cfd", 300, 1200), job("b1", "md", 10, 10), job("b2", "md", 50, 10)};
  jobs[4].in_job_outliers = {"rank 3 (n1): mean CPU use 4 is 300 % above the median 1 of 4 ranks"};
  auto c = build_campaign(jobs);
  REQUIRE(c.jobs.size() == 7);
  CHECK(c.jobs[4].outlier);
  CHECK(c.jobs[4].compared);
  for (int i = 0; i < 4; ++i) CHECK_FALSE(c.jobs[i].outlier);
  CHECK_FALSE(c.jobs[5].compared);  // group "md" has 2 jobs: fewer than 4
  CHECK_FALSE(c.jobs[6].outlier);
  auto why = explain(c, c.jobs[4]);
  // cpu: modified z 0.6745*798/3 = 179.4 against the reference's 0.6745*4/3 (x199.5);
  // duration: 0.6745*199/1 = 134.2 against 0.6745*3/1 (x66.3): CPU time ranks first;
  // then what the job's reduce found inside it.
  REQUIRE(why.size() == 3);
  CHECK(why[0].find("cpu_time_s") != std::string::npos);
  CHECK(why[0].find("cpu_time_s 1200.00 against 398.00 to 405.00 in the group's normal jobs "
                    "(modified z 179.4: 199.5x their largest, 0.90)") != std::string::npos);
  CHECK(why[1].find("duration_s") != std::string::npos);
  CHECK(why[2] == "in the job: rank 3 (n1): mean CPU use 4 is 300 % above the median 1 of 4 ranks");
  CHECK(explain(c, c.jobs[0]).empty());

  // A job whose nodes all differ can hold hundreds of findings: the first three, then how many more.
  c.jobs[4].in_job_outliers.assign(200, "node n7 stalled for 10 s");
  why = explain(c, c.jobs[4]);
  REQUIRE(why.size() == 2 + 3 + 1);
  CHECK(why[4] == "in the job: node n7 stalled for 10 s");
  CHECK(why[5] == "in the job: 197 more findings (its /outliers)");
}

TEST_CASE("a vote needs a material deviation from the median, unless the floor is 0") {
  // Near-identical jobs: the fifth is 5 % above the others, far out in z terms only.
  std::vector<std::vector<double>> x = {{100}, {100.1}, {99.9}, {100}, {105}};
  auto strict = classify(x);  // default 10 % floor
  CHECK(strict[4][0].votes == 0);
  CHECK(strict[4][0].modified_z > 3.5);  // the scores are still computed and stored
  auto epmt = classify(x, 0.0);
  CHECK(epmt[4][0].outlier());
}

TEST_CASE("a node stall is found whole when time windows split it") {
  using jobperf::reduce::StallFinder;
  using jobperf::reduce::stall_windows;
  const std::vector<std::string> hosts = {"a", "b", "c"};
  const std::int64_t bin = 1'000'000'000;
  // b stalls in bins 3..6 (0.1 cores against 2), and briefly in bin 9 (one bin: not a stall).
  std::vector<std::vector<double>> cpu(3, std::vector<double>(12, 2.0));
  for (int b : {3, 4, 5, 6, 9}) cpu[1][b] = 0.1;
  std::vector<std::int64_t> starts;
  for (int b = 0; b < 12; ++b) starts.push_back(100 * bin + b * bin);
  const auto at_once = stall_windows(hosts, cpu, starts, bin);
  REQUIRE(at_once.size() == 1);
  CHECK(at_once[0].host == "b");
  CHECK(at_once[0].start_ns == 103 * bin);
  CHECK(at_once[0].end_ns == 107 * bin);
  CHECK(at_once[0].value == Approx(0.1));
  StallFinder windows(hosts, bin);
  for (auto [from, to] : {std::pair{0, 4}, {4, 5}, {5, 12}}) {
    std::vector<std::vector<double>> piece;
    for (const auto& host : cpu) piece.emplace_back(host.begin() + from, host.begin() + to);
    windows.add(piece, std::vector<std::int64_t>(starts.begin() + from, starts.begin() + to));
  }
  const auto split = windows.finish();
  REQUIRE(split.size() == 1);
  CHECK(split[0].start_ns == at_once[0].start_ns);
  CHECK(split[0].end_ns == at_once[0].end_ns);
  CHECK(split[0].reason == at_once[0].reason);
}

TEST_CASE("a rank with more work stands out on user CPU where the waiting ranks' time goes to the kernel") {
  using jobperf::reduce::ComparedRow;
  using jobperf::reduce::kRankComparisons;
  using jobperf::reduce::spread_outliers;
  // CPU use and user CPU; the other compared metrics missing (NaN).
  auto rank = [](std::int32_t r, double cpu, double user) {
    ComparedRow row{r, "n0", -1, {}};
    for (const auto& c : kRankComparisons)
      row.values.push_back(c.metric == std::string("cpu_utilization") ? cpu
                           : c.metric == std::string("cpu_user")      ? user
                                                                        : std::nan(""));
    return row;
  };
  // The demo's slow rank, oversubscribed: the others spin in the kernel as long as it computes.
  auto found = spread_outliers("rank", kRankComparisons,
                               {rank(0, 0.45, 0.15), rank(1, 0.43, 0.15), rank(2, 0.80, 0.80), rank(3, 0.18, 0.12)}, 0, 1);
  REQUIRE(found.size() == 1);
  CHECK(found[0].rank == 2);
  CHECK(found[0].metric == "cpu_user");
  // Where CPU use already singles the rank out, user CPU says it once, not twice.
  found = spread_outliers("rank", kRankComparisons,
                          {rank(0, 0.2, 0.15), rank(1, 0.21, 0.15), rank(2, 0.9, 0.80), rank(3, 0.2, 0.14)}, 0, 1);
  REQUIRE(found.size() == 1);
  CHECK(found[0].metric == "cpu_utilization");
}
