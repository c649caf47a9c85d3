#include "collect/options.hpp"

#include <boost/program_options.hpp>
#include <cstring>
#include <sstream>

namespace po = boost::program_options;

namespace jobperf::collect {
namespace {

std::string shortest(double seconds) {  // "1e+300", not three hundred digits
  std::ostringstream text;
  text << seconds;
  return text.str();
}

po::options_description describe_options(CollectOptions& o) {
  po::options_description d("Options");
  d.add_options()
      ("interval,i", po::value(&o.interval_s)->default_value(1.0, "1"), "seconds between samples (0.01 to 3600)")
      ("out,o", po::value(&o.out_base), "scratch directory; streams go to OUT/jobperf/<job id>/ "
                                         "(default: $JOBPERF_SCRATCH, else $TMPDIR, else /tmp)")
      ("job-id", po::value(&o.job_id), "job id (default: from Slurm/PBS/OAR/LSF, else generated)")
      ("job-name", po::value(&o.job_name), "job name used to group jobs in analyses (default: from the batch system)")
      ("host", po::value(&o.host), "host name to record (default: $JOBPERF_HOSTNAME, else the host name)")
      ("pid", po::value(&o.pids)->composing(), "sidecar: watch this process and its descendants (repeatable)")
      ("job", po::value(&o.job_namespace), "sidecar: watch processes of this PMIx/Open MPI namespace")
      ("match-env", po::value(&o.env_match), "sidecar: watch processes whose environment has NAME=VALUE")
      ("cgroup", po::value(&o.cgroup), "sidecar: watch the processes of this cgroup directory and its sub-cgroups "
                                       "(found by itself for Slurm, PBS and OAR jobs)")
      ("events", po::value(&o.events), "perf events to count instead of the CPU's default set: libpfm4 names "
                                         "or PAPI presets, comma-separated (e.g. INST_RETIRED:ANY_P,PAPI_L1_DCM)")
      ("threads", po::bool_switch(&o.threads), "also sample every thread of the watched processes (/proc/PID/task)")
      ("flush", po::value(&o.flush_s)->default_value(1.0, "1"), "seconds between writes to the stream")
      ("force", po::bool_switch(&o.force), "replace an existing stream")
      ("stop", po::bool_switch(&o.stop), "stop the sidecar of this job on this node, and wait for it")
      ("preload", po::bool_switch(&o.preload), "wrapper: record every process and thread at its end (libjobperf-preload.so)")
      ("env", po::bool_switch(&o.print_env), "print the settings that record every process at its end, to eval in a job script")
      ("shell", po::value(&o.shell)->default_value("bash"), "with --env: bash (also sh, zsh) or csh (also tcsh)")
      ("quiet,q", po::bool_switch(&o.quiet), "print only errors")
      ("proc-root", po::value(&o.proc_root)->default_value("/proc"), "procfs root (tests use fixture trees)")
      ("sys-root", po::value(&o.sys_root)->default_value("/sys"), "sysfs root (tests use fixture trees)")
      ("version", po::bool_switch(&o.version), "print the version")
      ("help,h", po::bool_switch(&o.help), "print this help");
  return d;
}

}  // namespace

std::string collect_usage() {
  CollectOptions unused;
  std::ostringstream out;
  out << "Usage:\n"
         "  jobperf-collect [options] -- command [args...]   wrap a command (e.g. each MPI rank)\n"
         "  jobperf-collect [options]                        sidecar: watch the job's processes on this node\n"
         "  jobperf-collect --stop [--job-id ID]             stop this node's sidecar\n"
         "  eval $(jobperf-collect --env [--shell csh])      record every process of a job script at its end\n\n"
      << describe_options(unused);
  return out.str();
}

CollectOptions parse_collect_options(int argc, const char* const* argv) {
  CollectOptions o;
  int own = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      own = i;
      for (int j = i + 1; j < argc; ++j) o.command.emplace_back(argv[j]);
      if (o.command.empty()) throw UsageError("'--' must be followed by a command to run");
      break;
    }
  }
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(own, argv).options(describe_options(o)).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (o.help || o.version) return o;
  // Written so that NaN fails too.
  if (!(o.interval_s >= 0.01 && o.interval_s <= 3600))
    throw UsageError("--interval must be between 0.01 and 3600 seconds, not " + shortest(o.interval_s));
  if (!(o.flush_s >= 0.01 && o.flush_s <= 3600))
    throw UsageError("--flush must be between 0.01 and 3600 seconds, not " + shortest(o.flush_s));
  if (!o.command.empty() && (!o.pids.empty() || !o.job_namespace.empty() || !o.env_match.empty() || !o.cgroup.empty() || o.stop))
    throw UsageError("--pid, --job, --match-env, --cgroup and --stop are for sidecar mode, not with a command");
  if (o.preload && o.command.empty()) throw UsageError("--preload goes with a command (wrapper mode); in job scripts use --env");
  if (o.shell != "bash" && o.shell != "sh" && o.shell != "zsh" && o.shell != "csh" && o.shell != "tcsh")
    throw UsageError("--shell takes bash, sh, zsh, csh or tcsh, not '" + o.shell + "'");
  if (!o.env_match.empty() && o.env_match.find('=') == std::string::npos)
    throw UsageError("--match-env wants NAME=VALUE, not '" + o.env_match + "'");
  return o;
}

}  // namespace jobperf::collect
