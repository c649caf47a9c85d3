// jobperf-collect: samples a job's processes and the node into a raw stream.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "collect/batch_env.hpp"
#include "collect/clock_sync.hpp"
#include "collect/modes.hpp"
#include "collect/options.hpp"
#include "collect/preload_setup.hpp"
#include "collect/procfs.hpp"
#include "formats/locations.hpp"

extern char** environ;

namespace jc = jobperf::collect;
namespace fs = std::filesystem;

namespace {

// How long a sidecar waits for the others at start and stop before giving up on the clock measurement.
constexpr double kClockSyncWait_s = 120;

// The collector itself and the processes that launched it are never "the job".
std::unordered_set<pid_t> self_and_ancestors() {
  std::unordered_set<pid_t> out;
  for (pid_t pid = getpid(); pid > 1 && !out.count(pid);) {
    out.insert(pid);
    std::string text;
    jc::ProcStat stat;
    if (!jc::read_file("/proc/" + std::to_string(pid) + "/stat", text) || !jc::parse_proc_stat(text, stat)) break;
    pid = static_cast<pid_t>(stat.field[4]);
  }
  return out;
}

// `posed_host`: the node this machine poses as (--host, $JOBPERF_HOSTNAME), or empty.
jc::Selection sidecar_selection(const jc::CollectOptions& o, const jc::BatchContext& batch,
                                const std::string& posed_host) {
  jc::Selection s;
  s.roots = o.pids;
  if (!o.job_namespace.empty()) {
    s.env_name = "PMIX_NAMESPACE";
    s.env_value = o.job_namespace;
  } else if (!o.env_match.empty()) {
    s.env_name = o.env_match.substr(0, o.env_match.find('='));
    s.env_value = o.env_match.substr(o.env_match.find('=') + 1);
  } else if (o.pids.empty() && !batch.job_id_variable.empty()) {
    // In a batch job: its processes by environment, and by the job's cgroups where it has them
    // (they also hold processes whose environment was cleared).
    s.env_name = batch.job_id_variable;
    s.env_value = batch.job_id;
    s.cgroups = jc::job_cgroups(o.sys_root, batch);
    // One machine posing as several nodes sees the whole job on each: a node's processes name it.
    s.posing_as = posed_host;
  }
  if (!o.cgroup.empty()) s.cgroups.push_back(o.cgroup);
  if (s.roots.empty() && s.env_name.empty() && s.cgroups.empty())
    throw jc::UsageError("sidecar mode needs --pid, --job, --match-env, --cgroup, or a batch job (SLURM_JOB_ID, PBS_JOBID, "
                         "OAR_JOB_ID) to find the job's processes; or give a command after '--'");
  s.excluded = self_and_ancestors();
  return s;
}

jc::CollectorConfig collector_config(const jc::CollectOptions& o, const jc::BatchContext& batch,
                                     const std::string& dir, const std::string& host, const std::string& job_id) {
  const bool wrapper = !o.command.empty();
  jc::CollectorConfig c;
  auto& h = c.header;
  h.host = host;
  h.job_id = job_id;
  h.rank = wrapper ? batch.rank : -1;
  h.local_rank = wrapper ? batch.local_rank : -1;
  h.pid = getpid();
  h.mode = wrapper ? "wrapper" : "sidecar";
  h.interval_ns = std::llround(o.interval_s * 1e9);
  h.collector_version = JOBPERF_VERSION;
  h.start = jobperf::stream::read_clock_anchor();
  std::string name = wrapper ? (h.rank >= 0 ? "rank" + std::to_string(h.rank) : "pid" + std::to_string(h.pid)) : "node";
  c.stream_path = dir + "/" + jobperf::safe_file_name(host) + "." + name + jobperf::stream::kStreamSuffix;
  c.force = o.force;
  c.flush_interval_ns = std::llround(o.flush_s * 1e9);
  // One collector per node samples the node: the sidecar, or the wrapper of local rank 0.
  c.sample_node = !wrapper || batch.local_rank <= 0;
  c.sources.proc_root = o.proc_root;
  c.sources.sys_root = o.sys_root;
  c.sources.perf_events = o.events;
  c.sources.threads = o.threads;
  c.quiet = o.quiet;
  std::string job_name = !o.job_name.empty() ? o.job_name : batch.job_name;
  if (job_name.empty() && wrapper) job_name = fs::path(o.command[0]).filename();
  std::string command;
  for (const auto& w : o.command) command += (command.empty() ? "" : " ") + w;
  c.metadata = {{"job_name", job_name}, {"user", jc::user_name()}, {"command", command},
                {"cwd", fs::current_path().string()}};
  auto env = jc::environment_metadata(environ);
  c.metadata.insert(c.metadata.end(), env.begin(), env.end());
  auto scheduler = jc::batch_metadata(environ, batch);
  c.metadata.insert(c.metadata.end(), scheduler.begin(), scheduler.end());
  return c;
}

int run(const jc::CollectOptions& o) {
  if (const char* skew = std::getenv("JOBPERF_CLOCK_SKEW")) {
    try {
      jobperf::stream::parse_clock_skew(skew);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "jobperf-collect: %s; ignored\n", e.what());
    }
  }
  const auto batch = jc::batch_context(environ);
  const std::string posed_host = o.host.empty() ? jobperf::posed_host_name() : o.host;
  const std::string host = posed_host.empty() ? jobperf::host_name() : posed_host;
  std::string job_id = !o.job_id.empty() ? o.job_id : batch.job_id;
  if (job_id.empty()) {
    if (o.stop || o.print_env) throw jc::UsageError("--stop and --env need --job-id outside a batch job");
    job_id = jc::generated_job_id(host);
    if (!o.quiet) std::fprintf(stderr, "jobperf-collect: no batch job id; using job id %s\n", job_id.c_str());
  }
  const std::string dir = jobperf::stream_directory(o.out_base.empty() ? jobperf::default_scratch() : o.out_base, job_id);
  const std::string pid_file = dir + "/" + jobperf::safe_file_name(host) + ".collect.pid";
  if (o.stop) return jc::stop_sidecar(pid_file, 60);
  if (o.print_env || o.preload) {
    const auto library = jc::preload_library();
    if (library.empty()) throw std::runtime_error("libjobperf-preload.so is not installed (neither in the install libdir nor in the build tree)");
    auto variables = jc::preload_environment(library, dir, job_id, host);
    if (o.print_env) {
      std::fputs(jc::shell_exports(variables, o.shell).c_str(), stdout);
      return 0;
    }
    for (const auto& [name, value] : variables) setenv(name.c_str(), value.c_str(), 1);  // the command inherits them
  }

  const bool wrapper = !o.command.empty();
  jc::SignalEvents events(wrapper ? jc::kWrapperSignals : jc::kSidecarSignals);  // before MPI or NVML start threads
  // Sidecars started by mpirun/srun measure their node clocks against each other.
  auto sync = wrapper ? nullptr : jobperf::clocksync::CollectorSync::join_if_launched();
  std::string sync_problem;
  auto start_offset = sync ? sync->measure(host, "start", kClockSyncWait_s, sync_problem) : std::nullopt;
  jc::Selection selection;
  if (!wrapper) selection = sidecar_selection(o, batch, posed_host);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::unique_ptr<jc::Collector> collector;
  try {
    if (ec) throw jobperf::stream::StreamError(dir + ": cannot create directory: " + ec.message());
    auto config = collector_config(o, batch, dir, host, job_id);
    config.selection = std::move(selection);
    collector = std::make_unique<jc::Collector>(std::move(config));
  } catch (const jobperf::stream::StreamError& e) {
    if (!wrapper) {
      std::fprintf(stderr, "jobperf-collect: %s\n", e.what());
      return 1;
    }
    // The application must run whatever happens to its collector.
    std::fprintf(stderr, "jobperf-collect: %s; running %s without collection\n", e.what(), o.command[0].c_str());
  }
  if (wrapper) return jc::run_wrapper(events, std::move(collector), o.command);
  if (!o.quiet) std::fprintf(stderr, "jobperf-collect: sidecar writing %s\n", collector->stream_path().c_str());
  auto record = [&](const std::optional<jobperf::stream::ClockOffset>& offset) {
    if (offset) collector->clock_offset(*offset);
    if (!sync_problem.empty()) collector->note(jobperf::stream::NoteLevel::Warning, "clock", sync_problem);
    sync_problem.clear();
  };
  record(start_offset);
  return jc::run_sidecar(events, *collector, pid_file, [&] {
    if (sync) record(sync->measure(host, "stop", kClockSyncWait_s, sync_problem));
  });
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (a full quota, RLIMIT_FSIZE) must fail our writes, not kill us.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    auto options = jc::parse_collect_options(argc, argv);
    if (options.help) {
      std::fputs(jc::collect_usage().c_str(), stdout);
      return 0;
    }
    if (options.version) {
      std::printf("jobperf-collect %s\n", JOBPERF_VERSION);
      return 0;
    }
    return run(options);
  } catch (const jc::UsageError& e) {
    std::fprintf(stderr, "jobperf-collect: %s\nTry 'jobperf-collect --help'.\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobperf-collect: %s\n", e.what());
    return 1;
  }
}
