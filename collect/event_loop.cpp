#include "collect/event_loop.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "formats/raw_stream.hpp"

namespace jobperf::collect {

SignalEvents::SignalEvents(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &original_);
  fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

SignalEvents::~SignalEvents() {
  if (fd_ >= 0) close(fd_);
  sigprocmask(SIG_SETMASK, &original_, nullptr);
}

int SignalEvents::wait_until(std::int64_t deadline_ns) {
  for (;;) {
    signalfd_siginfo info{};
    if (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    std::int64_t left_ns = deadline_ns - stream::monotonic_ns();
    if (left_ns <= 0) return 0;
    pollfd p{fd_, POLLIN, 0};
    int timeout_ms = static_cast<int>((left_ns + 999'999) / 1'000'000);
    if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR) return 0;
  }
}

}  // namespace jobperf::collect
