// jobperf-analyze as a library call: job files in, a ranked outlier table
// and campaign.h5 out. Files are read in parallel over the ranks of `comm`.
#pragma once
#include <mpi.h>

#include <string>
#include <vector>

#include "formats/job_file.hpp"

namespace jobperf::analyze {

struct AnalyzeOptions {
  std::vector<std::string> inputs;  // job files or directories (searched recursively for *.h5)
  std::string output = "campaign.h5";
  bool force = false;
  bool quiet = false;
  double min_deviation = 0.1;  // see outliers.hpp
};

struct Feature {
  const char* name;
  const char* units;
};
// EPMT's defaults (duration, CPU time, processes) plus memory and I/O.
const std::vector<Feature>& campaign_features();
std::vector<double> features_of(const jobfile::JobSummary& job);

// Groups by job name, classifies each group of at least kMinComparableJobs.
jobfile::Campaign build_campaign(const std::vector<jobfile::JobSummary>& jobs, double min_deviation = 0.1);
// Whether feature f of a job is an outlier (its votes, as stored in the campaign).
bool feature_is_outlier(const jobfile::CampaignJob& job, std::size_t f);
// The features that make a job an outlier, strongest first: "cpu_time_s 1200.00
// against 398.00 to 405.00 in the group's normal jobs (modified z 179.4: ...)",
// then what its reduce found inside it: "in the job: rank 2 (n1): ...".
std::vector<std::string> explain(const jobfile::Campaign& campaign, const jobfile::CampaignJob& job);

// Collective; returns the exit status (0 ok, 1 some inputs unreadable or nothing to analyse).
int analyze_campaign(const AnalyzeOptions& options, MPI_Comm comm);

}  // namespace jobperf::analyze
