// Context switches and scheduler time of one task, process or thread, for
// the process and thread sources: one taskstats query where the kernel
// allows it (a process's threads summed), else the task's /proc status and
// schedstat files (one thread: a process's main thread). Where taskstats
// keeps no scheduler times (delay accounting off), switches come from
// taskstats and times from schedstat.
#pragma once
#include <cstdint>
#include <string>

#include "collect/procfs.hpp"
#include "collect/taskstats.hpp"

namespace jobperf::collect {

class SchedulerCounters {
 public:
  enum class Origin { Taskstats, TaskstatsAndSchedstat, Procfs };

  // Tries taskstats when `live` (the machine's own /proc, not a fixture
  // tree). Returns a one-line note where it falls back to procfs, else "".
  std::string open(bool live);
  Origin origin() const;

  // The files of one task that its reads need, under its /proc directory.
  struct TaskFiles {
    KeptOpenFile status, schedstat;
  };
  TaskFiles open_files(const std::string& task_dir) const;

  // Fills the switch and scheduler fields of `out` (and, from taskstats,
  // CPU times and faults); false if the task has gone.
  bool read(std::uint32_t id, TaskQuery kind, TaskFiles& files, TaskCounters& out);

 private:
  TaskstatsClient taskstats_;
  std::string buffer_;
};

}  // namespace jobperf::collect
