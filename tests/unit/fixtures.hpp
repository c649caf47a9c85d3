// What the unit tests share: where the fixture trees are, a configuration
// pointing the sources at them, and a way to run code in a child process.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "collect/metric_source.hpp"

namespace jobperf::test {

inline const std::string kProc = std::string(JOBPERF_FIXTURES) + "/proc";
inline const std::string kSys = std::string(JOBPERF_FIXTURES) + "/sys";

inline collect::SourceConfig fixture_config(const std::string& proc, const std::string& sys) {
  collect::SourceConfig c;
  c.proc_root = proc;
  c.sys_root = sys;
  return c;
}

// Runs body(fd) in a forked child that then exits 0, and returns all it
// wrote to fd; `status` gets its wait status. For what must not touch the
// test process: a crash, or a library's per-process state.
template <typename Body>
std::string output_of_child(Body&& body, int& status) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    body(pipe_fds[1]);
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  if (child < 0 || waitpid(child, &status, 0) != child) status = -1;
  return text;
}

}  // namespace jobperf::test
