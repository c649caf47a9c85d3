#include "collect/event_loop.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "formats/raw_stream.hpp"

namespace jobperf::collect {

SignalEvents::SignalEvents(const std::vector<int>& signals) {
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

// One poll per wait: the signal file is read only when poll says a signal
// is there, or when the deadline has passed already (a collector running
// late must still see its signals).
int SignalEvents::wait_until(std::int64_t deadline_ns) {
  auto pending = [&] {
    signalfd_siginfo info{};
    return read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
  };
  for (;;) {
    std::int64_t left_ns = deadline_ns - stream::monotonic_ns();
    if (left_ns <= 0) return pending();
    pollfd p{fd_, POLLIN, 0};
    int timeout_ms = static_cast<int>((left_ns + 999'999) / 1'000'000);  // rounded up: a timeout is the deadline
    int ready = poll(&p, 1, timeout_ms);
    if (ready == 0) return 0;
    if (ready > 0) {
      if (int signal = pending()) return signal;
    } else if (errno != EINTR) {
      return 0;
    }
  }
}

}  // namespace jobperf::collect
