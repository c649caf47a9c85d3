// Per-task accounting from the kernel's taskstats interface (generic
// netlink), as colmet reads it: one binary reply per process or thread
// instead of the text of /proc/PID/{status,schedstat}, which the kernel
// formats on every read (status alone costs about twice a taskstats round
// trip; tests/bench/collector_cost.cpp measures both).
//
// A process query (TGID) sums context switches and scheduler time over all
// the process's threads; a thread query (PID) gives that one thread, with
// CPU times and faults too. Queries need CAP_NET_ADMIN: without it, or on a
// kernel without CONFIG_TASKSTATS, open() says why and callers read procfs.
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace jobperf::collect {

struct TaskCounters {
  std::uint64_t user_ns = 0, system_ns = 0;  // thread queries only (older kernels leave them 0 for processes)
  std::uint64_t minflt = 0, majflt = 0;      // thread queries only
  std::uint64_t voluntary_ctxt = 0, involuntary_ctxt = 0;
  std::uint64_t run_ns = 0, wait_ns = 0, timeslices = 0;  // 0 when the kernel keeps no scheduler statistics
};

enum class TaskQuery { Process, Thread };

// The counters in one taskstats reply (a generic netlink message, as
// received); false for an error reply (the task has gone) or a malformed one.
bool parse_taskstats_reply(std::span<const char> message, TaskCounters& out);

class TaskstatsClient {
 public:
  TaskstatsClient() = default;
  TaskstatsClient(const TaskstatsClient&) = delete;
  TaskstatsClient& operator=(const TaskstatsClient&) = delete;
  ~TaskstatsClient();

  // Empty if queries work here, else a one-line reason.
  std::string open();
  bool is_open() const { return socket_ >= 0; }
  // Whether the kernel fills the scheduler times (delay accounting or
  // schedstats on); known after open().
  bool has_scheduler_times() const { return scheduler_times_; }
  // False if the task has gone or the query failed.
  bool query(std::uint32_t id, TaskQuery kind, TaskCounters& out);

 private:
  bool send_request(std::uint16_t type, std::uint8_t command, std::uint16_t attribute, const void* data,
                    std::size_t size);
  long receive();

  int socket_ = -1;
  std::uint16_t family_ = 0;
  std::uint32_t sequence_ = 0;
  bool scheduler_times_ = false;
  alignas(8) char reply_[2048];
};

}  // namespace jobperf::collect
