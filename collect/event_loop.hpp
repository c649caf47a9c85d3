// Signals as file descriptor events, so a collector waits for "next tick or
// a signal" in one poll() and never runs logic inside a signal handler.
#pragma once
#include <signal.h>

#include <cstdint>
#include <vector>

namespace jobperf::collect {

class SignalEvents {
 public:
  // Blocks `signals` in the calling thread and in every thread it starts
  // later. Construct it before anything starts a thread (NVML and MPI do):
  // the kernel gives a process-wide signal to any thread that does not block
  // it, and the signalfd would never see it.
  explicit SignalEvents(const std::vector<int>& signals);
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
