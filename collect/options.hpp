// Command line of jobperf-collect.
#pragma once
#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace jobperf::collect {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CollectOptions {
  double interval_s = 1.0;
  double flush_s = 1.0;
  std::string out_base;     // scratch; streams go to <out_base>/jobperf/<job id>/
  std::string job_id;
  std::string job_name;
  std::string host;
  std::vector<pid_t> pids;  // sidecar: watch these and their descendants
  std::string job_namespace;  // sidecar: watch processes in this PMIx namespace
  std::string env_match;      // sidecar: NAME=VALUE in the process environment
  std::string cgroup;         // sidecar: processes in this cgroup directory
  std::string events;         // perf events replacing the CPU's default set
  bool threads = false;       // sample every thread of the watched processes
  bool force = false;
  bool stop = false;
  bool print_env = false;     // --env: print what to eval for per-process exit records
  std::string shell = "bash";
  bool preload = false;       // wrapper: load libjobperf-preload.so into the command
  bool quiet = false;
  bool help = false;
  bool version = false;
  std::string proc_root = "/proc";
  std::string sys_root = "/sys";
  std::vector<std::string> command;  // after "--": wrapper mode
};

CollectOptions parse_collect_options(int argc, const char* const* argv);
std::string collect_usage();

}  // namespace jobperf::collect
