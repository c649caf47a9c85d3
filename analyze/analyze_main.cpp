// jobperf-analyze: finds outlier jobs across a campaign of job files.
#include <mpi.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "analyze/campaign.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  jobperf::analyze::AnalyzeOptions o;
  po::options_description visible("Options");
  visible.add_options()
      ("out,o", po::value(&o.output)->default_value("campaign.h5"), "campaign file to write")
      ("force", po::bool_switch(&o.force), "replace an existing campaign file")
      ("min-deviation", po::value(&o.min_deviation)->default_value(0.1, "0.1"),
       "a vote counts only beyond this fraction from the group median (0: EPMT exactly)")
      ("quiet,q", po::bool_switch(&o.quiet), "do not print the table")
      ("help,h", "print this help")
      ("version", "print the version");
  po::options_description all;
  all.add(visible).add_options()("input", po::value(&o.inputs)->composing());
  po::positional_options_description positional;
  positional.add("input", -1);
  int status = 0;
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      if (rank == 0)
        std::cout << "Usage: mpirun jobperf-analyze [options] JOB.h5|DIR ...\n"
                     "Groups jobs by name and flags outliers with EPMT's classifiers (modified z-score > 3.5,\n"
                     "z-score > 3.0, Tukey's 1.5 IQR fences; two votes of three), in groups of at least 4 jobs,\n"
                     "counting only jobs more than --min-deviation from the group median.\n\n"
                  << visible;
    } else if (vm.count("version")) {
      if (rank == 0) std::printf("jobperf-analyze %s\n", JOBPERF_VERSION);
    } else if (o.inputs.empty()) {
      throw po::error("give job files or directories to analyse");
    } else if (!(o.min_deviation >= 0 && o.min_deviation < 1e6)) {  // NaN fails too
      throw po::error("--min-deviation must be a fraction of the median, 0 or more, not " + std::to_string(o.min_deviation));
    } else {
      status = jobperf::analyze::analyze_campaign(o, MPI_COMM_WORLD);
    }
  } catch (const po::error& e) {
    if (rank == 0) std::fprintf(stderr, "jobperf-analyze: %s\nTry 'jobperf-analyze --help'.\n", e.what());
    status = 2;
  }
  MPI_Finalize();
  return status;
}
