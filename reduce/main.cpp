// jobperf-reduce: an MPI program that turns a job's raw streams into one
// parallel-HDF5 job file. Run it after the job, inside the allocation.
#include <mpi.h>

#include <filesystem>

#include "formats/command_line.hpp"
#include "formats/locations.hpp"
#include "reduce/reduce_job.hpp"

namespace po = boost::program_options;
namespace jr = jobperf::reduce;
static_assert(jr::kUsage == jobperf::CommandLine::kUsageError, "the exit statuses --help lists");

namespace {

int run(int argc, char** argv, bool speaking) {
  jr::ReduceOptions o;
  std::string job_id;
  double window_mib = static_cast<double>(o.window_bytes >> 20);
  long threads = 0;  // signed: a negative count is refused, not wrapped
  jobperf::CommandLine cli("jobperf-reduce",
                           "Usage: mpirun jobperf-reduce [options] [STREAM|DIR ...]\n"
                           "Reads the raw streams (default: $JOBPERF_SCRATCH/jobperf/<job id>/) and writes one job file.\n"
                           "Exit status: 0 complete, 1 failed, 2 usage, 3 partial (file written; problems listed in it).\n");
  cli.options()
      ("output,o", po::value(&o.output), "job file to write (default: job-<job id>.h5)")
      ("job-id", po::value(&job_id), "job whose streams to reduce, from the default scratch location")
      ("bin", po::value(&o.bin_seconds), "seconds per bin of the job timeline (default: the sampling interval)")
      ("force", po::bool_switch(&o.force), "replace an existing job file")
      ("timing", po::bool_switch(&o.timing), "print throughput, phase times and peak memory")
      ("no-compress", "store time series and samples uncompressed (default: shuffle+deflate)")
      ("window", po::value(&window_mib)->default_value(window_mib, "256"),
       "MiB of raw stream each reducer rank holds at once: its rows go in groups (of at most 64 ranks), "
       "and long jobs in time windows, of about this much (peak memory about 60 MiB + 2x this, 3x with "
       "overlapped writes, + 0.1 MiB per rank of the job)")
      ("threads", po::value(&threads),
       "threads per reducer rank (default, or 0: the CPUs it may run on, over the node's ranks that share them); "
       "with 2 or more, each group's writes overlap the next group's reading (give ranks two CPUs: mpirun "
       "--map-by slot:PE=2, srun -c 2)")
      ("quiet,q", po::bool_switch(&o.quiet), "print only problems");
  cli.inputs(po::value(&o.inputs)->composing(), -1);
  if (int stop = cli.parse(argc, argv, speaking); stop != cli.kGoOn) return stop;
  o.compress = !cli.given("no-compress");
  if (job_id.empty()) job_id = jobperf::batch_job_id().first;
  if (o.inputs.empty()) {
    if (job_id.empty()) return cli.usage_error("give stream directories, --job-id, or run inside a batch job", speaking);
    o.inputs.push_back(jobperf::stream_directory(jobperf::default_scratch(), job_id));
  }
  // Each written so that NaN fails too.
  std::string wrong;
  if (!(window_mib > 0 && window_mib <= 1 << 20)) wrong = "--window must be more than 0 and at most 1048576 MiB";
  if (cli.given("bin") && !(o.bin_seconds >= 1e-3 && o.bin_seconds <= 1e7))
    wrong = "--bin must be between 0.001 and 1e7 seconds";
  if (!(threads >= 0 && threads <= 4096)) wrong = "--threads must be between 1 and 4096 (0: as many as the rank's CPUs)";
  if (!wrong.empty()) return cli.usage_error(wrong, speaking);
  o.window_bytes = static_cast<std::uint64_t>(window_mib * (1 << 20));
  o.threads = static_cast<std::size_t>(threads);
  if (o.output.empty()) {
    std::string id = !job_id.empty() ? job_id : std::filesystem::path(o.inputs.front()).filename().string();
    o.output = "job-" + jobperf::safe_file_name(id) + ".h5";
  }
  return jr::reduce_job(o, MPI_COMM_WORLD);
}

}  // namespace

int main(int argc, char** argv) {
  int provided = MPI_THREAD_SINGLE;  // reduce_job asks MPI which it got
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int status = run(argc, argv, rank == 0);
  MPI_Finalize();
  return status;
}
