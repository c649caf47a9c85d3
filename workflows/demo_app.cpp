// jobperf-demo-app: a small, honest MPI workload for the quickstart and the
// end-to-end tests. Each rank computes (a dense dot-product loop) for about
// --seconds, synchronises with MPI_Allreduce every step, and writes
// --write-mib MiB to a file of its own, which a short-lived child process
// (cksum, tagged "checksum") then reads back: what the exit records of
// jobperf-collect --preload are for. --slow-rank R gives rank R
// --slow-factor times the work, to show in-job imbalance.
#include <fcntl.h>
#include <mpi.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

double compute(double seconds) {
  std::vector<double> a(4096, 1.000001), b(4096, 0.999999);
  double acc = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until)
    for (int rep = 0; rep < 200; ++rep)
      for (std::size_t i = 0; i < a.size(); ++i) acc += a[i] * b[i];
  return acc;
}

// Checksums the file in a child process, as a job's post-processing step
// would; its output is not wanted, only its existence in the exit records.
void checksum_in_child(const std::string& path) {
  setenv("JOBPERF_TAGS", "checksum", 1);  // for the child: a process keeps the tags it started with
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  char* argv[] = {const_cast<char*>("cksum"), const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = 0;
  int status = 0;
  if (posix_spawnp(&pid, "cksum", &actions, nullptr, argv, environ) != 0 || waitpid(pid, &status, 0) != pid ||
      !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "jobperf-demo-app: cksum %s failed\n", path.c_str());
  posix_spawn_file_actions_destroy(&actions);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double seconds = 2, slow_factor = 3;
  int steps = 4, slow_rank = -1;
  long write_mib = 8;
  std::string dir = ".";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string opt = argv[i];
    if (opt == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (opt == "--steps") steps = std::atoi(argv[i + 1]);
    else if (opt == "--write-mib") write_mib = std::atol(argv[i + 1]);
    else if (opt == "--slow-rank") slow_rank = std::atoi(argv[i + 1]);
    else if (opt == "--slow-factor") slow_factor = std::atof(argv[i + 1]);
    else if (opt == "--dir") dir = argv[i + 1];
    else {
      if (rank == 0) std::fprintf(stderr, "jobperf-demo-app: unknown option %s\n", opt.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  const double share = seconds / steps * (rank == slow_rank ? slow_factor : 1.0);
  double acc = 0;
  for (int s = 0; s < steps; ++s) {
    acc += compute(share);
    double sum = 0;
    MPI_Allreduce(&acc, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  if (write_mib > 0) {
    std::string path = dir + "/jobperf-demo-rank" + std::to_string(rank) + ".dat";
    std::vector<char> block(1 << 20, static_cast<char>(rank));
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      for (long m = 0; m < write_mib; ++m) std::fwrite(block.data(), 1, block.size(), f);
      std::fclose(f);
      checksum_in_child(path);
      std::remove(path.c_str());
    }
  }
  if (rank == 0) std::printf("jobperf-demo-app: %d ranks, %.1f s of work each, checksum %.3g\n", size, seconds, acc);
  MPI_Finalize();
  return 0;
}
