#include "collect/scheduler_counters.hpp"

namespace jobperf::collect {

std::string SchedulerCounters::open(bool live) {
  if (!live) return "";
  if (auto why = taskstats_.open(); !why.empty())
    return why + "; context switches and scheduler times from /proc/PID/{status,schedstat} (main thread only)";
  if (!taskstats_.has_scheduler_times())
    return "taskstats keeps no scheduler times on this kernel (delay accounting off): run and wait times from "
           "/proc/PID/schedstat (main thread only)";
  return "";
}

SchedulerCounters::Origin SchedulerCounters::origin() const {
  if (!taskstats_.is_open()) return Origin::Procfs;
  return taskstats_.has_scheduler_times() ? Origin::Taskstats : Origin::TaskstatsAndSchedstat;
}

SchedulerCounters::TaskFiles SchedulerCounters::open_files(const std::string& task_dir) const {
  TaskFiles files;
  if (origin() == Origin::Procfs) files.status = KeptOpenFile(task_dir + "status");
  if (origin() != Origin::Taskstats) files.schedstat = KeptOpenFile(task_dir + "schedstat");
  return files;
}

bool SchedulerCounters::read(std::uint32_t id, TaskQuery kind, TaskFiles& files, TaskCounters& out) {
  if (taskstats_.is_open()) {
    if (!taskstats_.query(id, kind, out)) return false;
  } else if (auto status = files.status.read(buffer_); !status.empty()) {
    std::size_t hint = status.size() / 2;  // the switch counts are the last lines
    keyed_value(status, "voluntary_ctxt_switches", out.voluntary_ctxt, hint);
    keyed_value(status, "nonvoluntary_ctxt_switches", out.involuntary_ctxt, hint);
  }
  if (auto sched = files.schedstat.read(buffer_); !sched.empty()) {
    Tokens t(sched);
    out.run_ns = to_u64(t.next());
    out.wait_ns = to_u64(t.next());
    out.timeslices = to_u64(t.next());
  }
  return true;
}

}  // namespace jobperf::collect
