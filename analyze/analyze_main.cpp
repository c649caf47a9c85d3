// jobperf-analyze: finds outlier jobs across a campaign of job files.
#include <mpi.h>

#include "analyze/campaign.hpp"
#include "formats/command_line.hpp"

namespace po = boost::program_options;

namespace {

int run(int argc, char** argv, bool speaking) {
  jobperf::analyze::AnalyzeOptions o;
  jobperf::CommandLine cli("jobperf-analyze",
                           "Usage: mpirun jobperf-analyze [options] JOB.h5|DIR ...\n"
                           "Groups jobs by name and flags outliers with EPMT's classifiers (modified z-score > 3.5,\n"
                           "z-score > 3.0, Tukey's 1.5 IQR fences; two votes of three), in groups of at least 4 jobs,\n"
                           "counting only jobs more than --min-deviation from the group median.\n");
  cli.options()
      ("out,o", po::value(&o.output)->default_value("campaign.h5"), "campaign file to write")
      ("force", po::bool_switch(&o.force), "replace an existing campaign file")
      ("min-deviation", po::value(&o.min_deviation)->default_value(0.1, "0.1"),
       "a vote counts only beyond this fraction from the group median (0: EPMT exactly)")
      ("quiet,q", po::bool_switch(&o.quiet), "do not print the table");
  cli.inputs(po::value(&o.inputs)->composing(), -1);
  if (int stop = cli.parse(argc, argv, speaking); stop != cli.kGoOn) return stop;
  if (o.inputs.empty()) return cli.usage_error("give job files or directories to analyse", speaking);
  if (!(o.min_deviation >= 0 && o.min_deviation < 1e6))  // NaN fails too
    return cli.usage_error("--min-deviation must be a fraction of the median, 0 or more, not " +
                               std::to_string(o.min_deviation), speaking);
  return jobperf::analyze::analyze_campaign(o, MPI_COMM_WORLD);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int status = run(argc, argv, rank == 0);
  MPI_Finalize();
  return status;
}
