// Sidecar mode: `jobperf-collect` beside the job, one per node. It writes a
// pid file so that `jobperf-collect --stop` (on the same node, same job id)
// can end it, and always closes its stream cleanly.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "collect/event_loop.hpp"
#include "collect/modes.hpp"

namespace jobperf::collect {

int run_sidecar(SignalEvents& events, Collector& collector, const std::string& pid_file,
                const std::function<void()>& at_stop) {
  {
    std::ofstream out(pid_file);
    out << getpid() << "\n";
    if (!out) {
      std::fprintf(stderr, "jobperf-collect: cannot write %s: %s\n", pid_file.c_str(), std::strerror(errno));
      return 1;
    }
  }
  std::string reason = "job processes gone";
  std::int64_t next_tick = stream::monotonic_ns();
  for (;;) {
    int sig = events.wait_until(next_tick);
    if (sig != 0) {
      reason = std::string("stopped by ") + sigabbrev_np(sig);
      break;
    }
    collector.tick();
    if (collector.has_watched() && !collector.watching()) break;
    const std::int64_t now = stream::monotonic_ns();
    while (next_tick <= now) next_tick += collector.interval_ns();
  }
  unlink(pid_file.c_str());  // stopped: a second --stop must not wait on the clock measurement
  if (at_stop) at_stop();
  collector.finish(reason, {});
  return 0;
}

int stop_sidecar(const std::string& pid_file, double timeout_s) {
  std::ifstream in(pid_file);
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) {
    std::fprintf(stderr, "jobperf-collect: no running sidecar to stop: cannot read %s\n", pid_file.c_str());
    return 1;
  }
  if (kill(pid, SIGTERM) != 0) {
    std::fprintf(stderr, "jobperf-collect: cannot signal sidecar %d (from %s): %s\n", pid, pid_file.c_str(),
                 std::strerror(errno));
    return 1;
  }
  // Wait until it has closed its stream: the pid file goes when it is done.
  for (int waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 20) {
    if (access(pid_file.c_str(), F_OK) != 0 || kill(pid, 0) != 0) return 0;
    usleep(20'000);
  }
  std::fprintf(stderr, "jobperf-collect: sidecar %d did not stop within %.0f s\n", pid, timeout_s);
  return 1;
}

}  // namespace jobperf::collect
