// Finds the job's processes on this node and follows them as they start and
// end: descendants of given pids (wrapper mode, --pid), or every process whose
// environment carries a given VAR=value (SLURM_JOB_ID, PBS_JOBID, OAR_JOB_ID,
// a PMIx namespace), or by cgroup. Descendants are found by walking
// /proc/PID/task/TID/children from the watched processes: a few reads per
// watched process, where listing /proc reads every process on the node (the
// largest part of a 10 Hz collector's cost). Selections by environment or
// cgroup, and kernels without the children files, list /proc once per tick.
// Only new pids are read in full.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"

namespace jobperf::collect {

struct Selection {
  std::vector<pid_t> roots;                 // these processes and their descendants
  std::string env_name, env_value;          // or: processes whose environment has this
  std::vector<std::string> cgroups;         // or: processes in these cgroups (and their sub-cgroups)
  std::unordered_set<pid_t> excluded;       // never watched (the collector, its launcher; nor any jobperf tool)
  // Where one machine poses as several nodes of a batch job (--host,
  // JOBPERF_HOSTNAME), each sees the whole job: the node this collector is.
  // The job's processes are then those that name it (their JOBPERF_HOSTNAME),
  // and their children that name no other.
  std::string posing_as;
};

struct TrackedProcess {
  std::uint32_t pid = 0;
  std::uint32_t ppid = 0;
  std::uint64_t start_ticks = 0;
  std::int32_t rank = -1;
  std::int64_t start_ns = 0;  // CLOCK_MONOTONIC
  std::string command;
  bool adopted = false;          // started by the collector (see WatchedProcess::subtree_root)
  bool covered_by_root = false;  // a descendant of an adopted process
};

// The MPI rank a process's environment names (Open MPI, PMIx, PMI, Slurm), if any.
std::optional<std::int32_t> rank_from_environment(std::string_view environ_block);

class ProcessTracker {
 public:
  ProcessTracker(std::string proc_root, Selection selection);

  struct Changes {
    std::vector<TrackedProcess> started;
    std::vector<std::uint32_t> ended;
  };
  Changes scan();
  // Start following a process the collector knows already (the command it
  // spawned), so that it is described with what the collector knows.
  void adopt(const TrackedProcess& process);
  // Stop following a process (the collector reaped it itself).
  void forget(std::uint32_t pid);

  const std::vector<WatchedProcess>& watched() const { return watched_; }
  const TrackedProcess* find(std::uint32_t pid) const;
  std::size_t ever_watched() const { return ever_watched_; }

 private:
  struct Known {
    std::uint32_t ppid = 0;
    std::uint64_t start_ticks = 0;
    bool member = false;
  };
  // A watched process's task directory and its threads' children files,
  // kept open between ticks.
  struct WalkFiles {
    KeptOpenFile task_dir;
    std::unordered_map<std::uint32_t, KeptOpenFile> children;
  };
  std::vector<std::uint32_t> live_candidates();
  std::vector<std::uint32_t> walk_descendants();
  bool read_children(std::uint32_t pid, std::vector<std::uint32_t>& out);
  bool read_stat(std::uint32_t pid, Known& out, std::string& command) const;
  // What a process's environment says: whether it is the job's, its rank, its simulated node.
  struct EnvironmentFacts {
    bool of_the_job = false;
    std::optional<std::int32_t> rank;
    std::optional<std::string> node;  // JOBPERF_HOSTNAME
  };
  EnvironmentFacts read_environment(std::uint32_t pid) const;
  std::unordered_set<std::uint32_t> cgroup_members() const;
  // A process seen for the first time in this scan.
  struct Candidate {
    std::uint32_t pid;
    std::string command;
    std::optional<std::int32_t> rank;
    bool never = false;  // not even as a watched process's child
  };
  void drop_ended(const std::vector<std::uint32_t>& pids, Changes& changes);
  std::vector<Candidate> classify_new(const std::vector<std::uint32_t>& pids);
  void take_in_descendants(const std::vector<Candidate>& fresh);
  void start_members(std::vector<Candidate>& fresh, Changes& changes);
  void rebuild_watched();

  std::string root_;
  Selection selection_;
  bool walk_children_ = false;
  std::unordered_map<std::uint32_t, WalkFiles> walk_files_;
  std::string buffer_;
  std::unordered_map<std::uint32_t, Known> known_;
  std::unordered_map<std::uint32_t, TrackedProcess> members_;
  std::vector<WatchedProcess> watched_;
  std::size_t ever_watched_ = 0;
};

}  // namespace jobperf::collect
