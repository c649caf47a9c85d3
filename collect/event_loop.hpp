// Signals as file descriptor events, so a collector waits for "next tick or
// a signal" in one poll() and never runs logic inside a signal handler.
#pragma once
#include <signal.h>

#include <cstdint>
#include <initializer_list>

namespace jobperf::collect {

class SignalEvents {
 public:
  explicit SignalEvents(std::initializer_list<int> signals);
  ~SignalEvents();
  SignalEvents(const SignalEvents&) = delete;
  SignalEvents& operator=(const SignalEvents&) = delete;

  // Waits until `deadline_ns` (CLOCK_MONOTONIC) or a signal; returns the
  // signal number, or 0 at the deadline.
  int wait_until(std::int64_t deadline_ns);
  // The signal mask to restore in a child before exec.
  const sigset_t& original_mask() const { return original_; }

 private:
  int fd_ = -1;
  sigset_t original_{};
};

}  // namespace jobperf::collect
