// Wrapper mode: `jobperf-collect [options] -- command args...`. The
// application's exit status and signals pass through untouched; nothing the
// collector does (or fails to do) may change what the application sees.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>

#include "collect/event_loop.hpp"
#include "collect/modes.hpp"
#include "collect/procfs.hpp"

namespace jobperf::collect {
namespace {

IoCounters read_self_io() {
  std::string text;
  return read_file("/proc/self/io", text) ? parse_proc_io(text) : IoCounters{};
}

std::uint64_t to_ns(const timeval& tv) {
  return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(tv.tv_usec) * 1000ull;
}

ReapedProcess describe_reaped(pid_t pid, const rusage& ru, const IoCounters& before, const IoCounters& after) {
  ReapedProcess r;
  r.pid = static_cast<std::uint32_t>(pid);
  r.user_ns = to_ns(ru.ru_utime);
  r.system_ns = to_ns(ru.ru_stime);
  r.minflt = static_cast<std::uint64_t>(ru.ru_minflt);
  r.majflt = static_cast<std::uint64_t>(ru.ru_majflt);
  r.voluntary_ctxt = static_cast<std::uint64_t>(ru.ru_nvcsw);
  r.involuntary_ctxt = static_cast<std::uint64_t>(ru.ru_nivcsw);
  r.rchar = after.rchar - before.rchar;
  r.wchar = after.wchar - before.wchar;
  r.syscr = after.syscr - before.syscr;
  r.syscw = after.syscw - before.syscw;
  r.read_bytes = after.read_bytes - before.read_bytes;
  r.write_bytes = after.write_bytes - before.write_bytes;
  r.cancelled_write_bytes = after.cancelled_write_bytes - before.cancelled_write_bytes;
  return r;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The child waits until the collector has set up its counters (the pipe
// closes), so that inherited perf counters see the command from its first
// instruction.
[[noreturn]] void exec_child(const std::vector<std::string>& command, const sigset_t& mask, int go) {
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  std::signal(SIGXFSZ, SIG_DFL);  // the collector ignores it; the command gets the default back
  char byte;
  while (read(go, &byte, 1) < 0 && errno == EINTR) {
  }
  close(go);
  std::vector<char*> argv;
  for (const auto& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  int error = errno;
  std::fprintf(stderr, "jobperf-collect: cannot run %s: %s\n", argv[0], std::strerror(error));
  _exit(error == ENOENT ? 127 : 126);  // as shells do
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Dies of the same signal as the child, so mpirun and the batch system see
// exactly what they would have seen without the wrapper.
int pass_through(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    std::signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    prctl(PR_SET_DUMPABLE, 0);  // the child dumped core already, if it was going to
    raise(sig);
  }
  return exit_code_of(status);
}

}  // namespace

int run_wrapper(SignalEvents& events, std::unique_ptr<Collector> collector, const std::vector<std::string>& command) {
  // Orphaned descendants are re-parented to us, so their time is not lost to init.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const std::int64_t spawned_ns = stream::monotonic_ns();
  int go[2];
  pid_t root = pipe2(go, O_CLOEXEC) == 0 ? fork() : -1;
  if (root < 0) {
    std::fprintf(stderr, "jobperf-collect: cannot start %s: %s\n", command[0].c_str(), std::strerror(errno));
    return 126;
  }
  if (root == 0) {
    close(go[1]);
    exec_child(command, events.original_mask(), go[0]);
  }
  close(go[0]);

  auto guarded = [&](auto&& step) {  // a collector failure never stops the wrapper
    if (!collector) return;
    try {
      step();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "jobperf-collect: collection stopped: %s\n", e.what());
      collector.reset();
    }
  };
  guarded([&] {
    TrackedProcess p;
    p.pid = static_cast<std::uint32_t>(root);
    p.ppid = static_cast<std::uint32_t>(getpid());
    p.rank = -1;
    p.start_ns = spawned_ns;
    p.command = join(command);
    collector->adopt(p);
    collector->tick();
  });
  close(go[1]);  // counters are in place: let the command run

  int root_status = 0;
  bool root_running = true;
  auto reap_children = [&] {
    for (;;) {
      siginfo_t ended{};  // a look first, so a tick with nothing to reap reads no /proc/self/io
      if (waitid(P_ALL, 0, &ended, WEXITED | WNOHANG | WNOWAIT) != 0 || ended.si_pid == 0) return;
      int status = 0;
      rusage ru{};
      IoCounters before = read_self_io();
      pid_t pid = wait4(-1, &status, WNOHANG, &ru);
      if (pid <= 0) return;
      IoCounters after = read_self_io();
      guarded([&] { collector->reaped(describe_reaped(pid, ru, before, after), status); });
      if (pid == root) {
        root_status = status;
        root_running = false;
      }
    }
  };
  std::int64_t next_tick = stream::monotonic_ns() + (collector ? collector->interval_ns() : 1'000'000'000);
  while (root_running) {
    int sig = events.wait_until(next_tick);
    if (sig == 0) {
      guarded([&] { collector->tick(); });
      // Also at each tick: should a thread of some library unblock SIGCHLD and
      // take it, the command's end is seen one interval late, not never.
      reap_children();
      const std::int64_t interval = collector ? collector->interval_ns() : 1'000'000'000;
      const std::int64_t now = stream::monotonic_ns();
      while (next_tick <= now) next_tick += interval;  // skip ticks missed while busy
    } else if (sig == SIGCHLD) {
      reap_children();
    } else {
      kill(root, sig);
    }
  }
  guarded([&] {
    collector->finish(WIFSIGNALED(root_status) ? "command killed by signal" : "command exited",
                      {{"exit_status", std::to_string(exit_code_of(root_status))}});
  });
  return pass_through(root_status);
}

}  // namespace jobperf::collect
