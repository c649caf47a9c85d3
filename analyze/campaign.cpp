#include "analyze/campaign.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <map>

#include "analyze/outliers.hpp"
#include "analyze/read_apart.hpp"
#include "formats/byte_codec.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::analyze {
namespace {

namespace fs = std::filesystem;
using reduce::gather_to_root;

struct Inputs {
  std::vector<std::string> files;
  std::vector<std::string> errors;
};

Inputs list_job_files(const std::vector<std::string>& inputs) {
  Inputs out;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".h5") out.files.push_back(it->path().string());
      if (ec) out.errors.push_back(input + ": cannot list directory: " + ec.message());
    } else if (fs::exists(input, ec)) {
      out.files.push_back(input);
    } else {
      out.errors.push_back(input + ": no such file or directory");
    }
  }
  // One file reached by two paths (a directory and a file in it) is read once.
  std::map<fs::path, std::string> by_file;
  std::error_code ec;
  for (const auto& f : out.files) {
    auto file = fs::weakly_canonical(f, ec);
    by_file.try_emplace(ec ? fs::path(f) : file, f);
  }
  out.files.clear();
  for (const auto& [file, path] : by_file) out.files.push_back(path);
  std::sort(out.files.begin(), out.files.end());
  return out;
}

// Leaves out job files of a job already in `jobs` (sorted by path): a copy
// of a file, or the job reduced twice, would otherwise be its own peer and
// weigh twice in its group. A job is its id and its start and end: ids
// repeat across clusters. Says which files were left out.
std::vector<std::string> drop_repeated_jobs(std::vector<jobfile::JobSummary>& jobs) {
  std::map<std::tuple<std::string, std::int64_t, std::int64_t>, std::string> first;  // job -> its first file
  std::vector<std::string> notes;
  std::vector<jobfile::JobSummary> once;
  for (auto& j : jobs) {
    auto [it, is_first] = first.try_emplace({j.info.job_id, j.info.start_ns, j.info.end_ns}, j.path);
    if (is_first) once.push_back(std::move(j));
    else notes.push_back(j.path + ": left out, job " + j.info.job_id + " is already in the campaign (" + it->second + ")");
  }
  jobs = std::move(once);
  return notes;
}

// What a rank sends to rank 0 about each job it read.
void transfer(auto& io, MessageOf<jobfile::JobSummary> auto& j) {
  io(j.path, j.info.job_id, j.info.job_name, j.info.start_ns, j.info.end_ns, j.rank_count, j.job_stats, j.in_job_outliers);
}

// One file's read, as the reading child sends it: a job's summary, why the
// file cannot be read, or nothing (an earlier analysis in the same tree).
enum class Read : std::uint8_t { Job, Error, Skipped };

std::vector<char> read_one(const std::string& path) {
  std::vector<char> bytes;
  Encoder e(bytes);
  try {
    if (jobfile::is_campaign_file(path)) {
      e(Read::Skipped);
    } else {
      auto job = jobfile::read_job_summary(path);
      e(Read::Job);
      transfer(e, job);
    }
  } catch (const std::exception& ex) {
    bytes.clear();
    e(Read::Error, std::string(ex.what()));
  }
  return bytes;
}

// These files' summaries, and why some could not be read; read apart, so
// that a file which crashes libhdf5 is left out rather than ending the analysis.
std::pair<std::vector<jobfile::JobSummary>, std::vector<std::string>> read_summaries(const std::vector<std::string>& paths) {
  std::vector<jobfile::JobSummary> jobs;
  std::vector<std::string> errors;
  for (const auto& [bytes, died] : read_apart(paths, read_one)) {
    if (!died.empty()) {
      errors.push_back(died);
      continue;
    }
    Decoder d(bytes.data(), bytes.size());
    Read kind{};
    d(kind);
    if (kind == Read::Job) transfer(d, jobs.emplace_back());
    if (kind == Read::Error) d(errors.emplace_back());
  }
  return {std::move(jobs), std::move(errors)};
}

double stat_or_zero(const jobfile::JobSummary& job, const std::string& metric, jobfile::Stat stat) {
  auto it = job.job_stats.find(metric);
  if (it == job.job_stats.end() || std::isnan(it->second[stat])) return 0.0;
  return it->second[stat];
}

std::string format_value(double v) {
  char buf[32];
  if (std::fabs(v) >= 1e6 || (std::fabs(v) < 1e-2 && v != 0)) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

void print_table(const jobfile::Campaign& c) {
  std::vector<const jobfile::CampaignJob*> order;
  for (const auto& j : c.jobs) order.push_back(&j);
  std::stable_sort(order.begin(), order.end(), [](auto a, auto b) {
    return std::tie(b->outlier, b->votes) < std::tie(a->outlier, a->votes);
  });
  std::printf("%-16s %-20s %-8s %5s", "group", "job", "outlier", "votes");
  for (const auto& f : c.feature_names) std::printf(" %13s", f.c_str());
  std::printf("  why\n");
  for (const auto* j : order) {
    std::printf("%-16s %-20s %-8s %5lld", j->group.c_str(), j->job_id.c_str(),
                !j->compared ? "n/a" : j->outlier ? "YES" : "no", static_cast<long long>(j->votes));
    for (double v : j->features) std::printf(" %13s", format_value(v).c_str());
    std::string why;
    for (const auto& w : explain(c, *j)) why += (why.empty() ? "" : "; ") + w;
    std::printf("  %s\n", why.c_str());
  }
}

}  // namespace

const std::vector<Feature>& campaign_features() {
  static const std::vector<Feature> features = {
      {"duration_s", "s"}, {"cpu_time_s", "s"}, {"ranks", "1"}, {"max_rss_bytes", "bytes"}, {"io_bytes", "bytes"}};
  return features;
}

std::vector<double> features_of(const jobfile::JobSummary& job) {
  return {
      static_cast<double>(job.info.end_ns - job.info.start_ns) * 1e-9,
      stat_or_zero(job, "cpu_utilization", jobfile::kSum),
      static_cast<double>(job.rank_count),
      stat_or_zero(job, "rss", jobfile::kMax),
      stat_or_zero(job, "read_call_bandwidth", jobfile::kSum) + stat_or_zero(job, "write_call_bandwidth", jobfile::kSum),
  };
}

jobfile::Campaign build_campaign(const std::vector<jobfile::JobSummary>& jobs, double min_deviation) {
  jobfile::Campaign c;
  for (const auto& f : campaign_features()) {
    c.feature_names.push_back(f.name);
    c.feature_units.push_back(f.units);
  }
  c.classifiers = {"modified_z>3.5", "z>3.0", "tukey_1.5iqr"};
  c.min_deviation = min_deviation;
  c.min_group_size = static_cast<std::int64_t>(kMinComparableJobs);
  std::map<std::string, std::vector<std::size_t>> groups;
  for (const auto& j : jobs) {
    jobfile::CampaignJob cj;
    cj.path = j.path;
    cj.job_id = j.info.job_id;
    cj.job_name = j.info.job_name;
    cj.group = j.info.job_name.empty() ? "(unnamed)" : j.info.job_name;
    cj.features = features_of(j);
    cj.in_job_outliers = j.in_job_outliers;
    const std::size_t nf = cj.features.size();
    cj.modified_z.assign(nf, std::nan(""));
    cj.z.assign(nf, std::nan(""));
    cj.outside_iqr.assign(nf, 0);
    cj.feature_votes.assign(nf, 0);
    groups[cj.group].push_back(c.jobs.size());
    c.jobs.push_back(std::move(cj));
  }
  for (const auto& [name, members] : groups) {
    if (members.size() < kMinComparableJobs) continue;
    std::vector<std::vector<double>> features;
    for (auto i : members) features.push_back(c.jobs[i].features);
    auto verdicts = classify(features, min_deviation);
    for (std::size_t k = 0; k < members.size(); ++k) {
      auto& j = c.jobs[members[k]];
      j.compared = true;
      for (std::size_t f = 0; f < verdicts[k].size(); ++f) {
        const auto& v = verdicts[k][f];
        j.modified_z[f] = v.modified_z;
        j.z[f] = v.z;
        j.outside_iqr[f] = v.outside_iqr;
        j.feature_votes[f] = static_cast<std::int8_t>(v.votes);
        j.votes += v.votes;
        j.outlier = j.outlier || v.outlier();
      }
    }
  }
  return c;
}

bool feature_is_outlier(const jobfile::CampaignJob& job, std::size_t f) {
  return f < job.feature_votes.size() && job.feature_votes[f] >= kVotesForOutlier;
}

// EPMT's root-cause ranking: the job's modified z-score on a feature divided
// by the largest one among the group's non-outlier jobs. The text leads with
// the values a user compares (the job's against the normal jobs' range).
// Then the job's in-job outliers.
std::vector<std::string> explain(const jobfile::Campaign& c, const jobfile::CampaignJob& job) {
  if (!job.outlier) return {};
  std::vector<std::pair<double, std::string>> ranked;
  for (std::size_t f = 0; f < c.feature_names.size(); ++f) {
    if (!feature_is_outlier(job, f)) continue;
    double reference = 0;
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const auto& other : c.jobs) {
      if (other.group != job.group || other.outlier) continue;
      reference = std::max(reference, other.modified_z[f]);
      low = std::min(low, other.features[f]), high = std::max(high, other.features[f]);
    }
    double ratio = reference > 0 ? job.modified_z[f] / reference : std::numeric_limits<double>::infinity();
    // The ratio is of scores, not of values: say so, with the score it is against.
    char score[100];
    if (reference > 0)
      std::snprintf(score, sizeof score, "modified z %.1f: %.1fx their largest, %.2f", job.modified_z[f], ratio, reference);
    else
      std::snprintf(score, sizeof score, "modified z %.1f; the normal jobs' are all 0", job.modified_z[f]);
    char buf[300];
    std::snprintf(buf, sizeof buf, "%s %s against %s to %s in the group's normal jobs (%s)", c.feature_names[f].c_str(),
                  format_value(job.features[f]).c_str(), format_value(low).c_str(), format_value(high).c_str(), score);
    ranked.emplace_back(ratio, buf);
  }
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& [ratio, text] : ranked) out.push_back(std::move(text));
  // What the reduce found inside the job often says where its time went:
  // the first few findings (a job whose nodes all differ can have hundreds).
  constexpr std::size_t kInJob = 3;
  const auto& found = job.in_job_outliers;
  for (std::size_t i = 0; i < std::min(kInJob, found.size()); ++i) out.push_back("in the job: " + found[i]);
  if (found.size() > kInJob)
    out.push_back("in the job: " + std::to_string(found.size() - kInJob) + " more findings (its /outliers)");
  return out;
}

namespace {

// Rank 0 lists the inputs (a campaign's directory tree is listed once, not
// by every rank, on a parallel file system too) and tells every rank.
Inputs list_on_root(const AnalyzeOptions& options, int rank, MPI_Comm comm) {
  std::vector<char> listed;
  if (rank == 0) {
    const auto found = list_job_files(options.inputs);
    Encoder e(listed);
    e(found.files, found.errors);
  }
  reduce::broadcast(listed, 0, comm);
  Inputs inputs;
  Decoder d(listed.data(), listed.size());
  d(inputs.files, inputs.errors);
  return inputs;
}

// Each rank reads its share of the files (every size-th); rank 0 gets every
// rank's summaries and problems, one message per rank.
std::vector<std::vector<char>> read_shares(const Inputs& inputs, int rank, int size, MPI_Comm comm) {
  std::vector<std::string> paths;
  for (std::size_t i = static_cast<std::size_t>(rank); i < inputs.files.size(); i += static_cast<std::size_t>(size))
    paths.push_back(inputs.files[i]);
  auto [read, errors] = read_summaries(paths);
  std::vector<char> mine;
  Encoder e(mine);
  e.each(read, [&](auto& j) { transfer(e, j); });
  e(errors);
  return gather_to_root(mine, comm);
}

void print_campaign(const jobfile::Campaign& campaign, const std::string& output) {
  std::size_t outliers = 0;
  std::map<std::string, std::size_t> group_sizes;
  for (const auto& j : campaign.jobs) outliers += j.outlier, ++group_sizes[j.group];
  std::printf("jobperf-analyze: %zu jobs in %zu group(s), %zu outlier(s); wrote %s\n", campaign.jobs.size(),
              group_sizes.size(), outliers, output.c_str());
  for (const auto& [group, n] : group_sizes)
    if (n < kMinComparableJobs)
      std::printf("  group %s: %zu job(s), fewer than %zu comparable jobs: not classified\n", group.c_str(), n,
                  kMinComparableJobs);
  print_table(campaign);
}

// Rank 0: the campaign from every rank's summaries, written and printed; the exit status.
int analyze_on_root(const AnalyzeOptions& options, const Inputs& inputs, const std::vector<std::vector<char>>& blobs) {
  std::vector<jobfile::JobSummary> jobs;
  std::vector<std::string> problems = inputs.errors;
  for (const auto& blob : blobs) {
    Decoder d(blob.data(), blob.size());
    d.each(jobs, [&](auto& j) { transfer(d, j); });
    d(problems);
  }
  for (const auto& p : problems) std::fprintf(stderr, "jobperf-analyze: %s\n", p.c_str());
  int status = problems.empty() ? 0 : 1;
  if (jobs.empty()) {
    std::fprintf(stderr, "jobperf-analyze: no job files to analyse\n");
    return 1;
  }
  std::sort(jobs.begin(), jobs.end(), [](auto& a, auto& b) { return a.path < b.path; });
  for (const auto& note : drop_repeated_jobs(jobs)) std::fprintf(stderr, "jobperf-analyze: note: %s\n", note.c_str());
  auto campaign = build_campaign(jobs, options.min_deviation);
  try {
    jobfile::write_campaign(options.output, options.force, campaign);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "jobperf-analyze: %s\n", ex.what());
    status = 1;
  }
  if (!options.quiet) print_campaign(campaign, options.output);
  return status;
}

}  // namespace

int analyze_campaign(const AnalyzeOptions& options, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto inputs = list_on_root(options, rank, comm);
  const auto blobs = read_shares(inputs, rank, size, comm);
  int status = rank == 0 ? analyze_on_root(options, inputs, blobs) : 0;
  MPI_Bcast(&status, 1, MPI_INT, 0, comm);
  return status;
}

}  // namespace jobperf::analyze
