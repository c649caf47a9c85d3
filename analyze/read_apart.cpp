#include "analyze/read_apart.hpp"

#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace jobperf::analyze {
namespace {

bool write_all(int fd, const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const auto n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const auto n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // the end: the child is gone
    p += n, size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The child: one message per path from `first` on, each its length, then its bytes.
[[noreturn]] void read_in_child(const std::vector<std::string>& paths, std::size_t first, const ReadOne& read_one,
                                int out) {
  for (std::size_t k = first; k < paths.size(); ++k) {
    const auto message = read_one(paths[k]);
    const std::uint64_t size = message.size();
    if (!write_all(out, &size, sizeof size) || !write_all(out, message.data(), message.size())) _exit(1);
  }
  _exit(0);  // not exit(): the parent's atexit handlers (MPI's, HDF5's) are not the child's to run
}

std::string how_it_died(int status) {
  if (WIFSIGNALED(status)) return strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::vector<ReadApart> read_apart(const std::vector<std::string>& paths, const ReadOne& read_one) {
  std::vector<ReadApart> out(paths.size());
  // Started here, once: parallel HDF5's start-up calls MPI, which a forked child must not.
  H5open();
  for (std::size_t next = 0; next < paths.size();) {
    int pipe_fds[2];
    const pid_t child = pipe(pipe_fds) == 0 ? fork() : -1;
    if (child < 0) {  // no child to be had: read here, unprotected
      for (; next < paths.size(); ++next) out[next].message = read_one(paths[next]);
      break;
    }
    if (child == 0) {
      close(pipe_fds[0]);
      read_in_child(paths, next, read_one, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    for (std::uint64_t size; next < paths.size() && read_all(pipe_fds[0], &size, sizeof size); ++next) {
      std::vector<char> message(size);
      if (!read_all(pipe_fds[0], message.data(), message.size())) break;
      out[next].message = std::move(message);
    }
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (next < paths.size()) {  // the child died reading paths[next]
      out[next].died = paths[next] + ": left out: its reader died on it (" + how_it_died(status) +
                       "), as libhdf5 does on damaged metadata";
      ++next;
    }
  }
  return out;
}

}  // namespace jobperf::analyze
