// The two ways jobperf-collect runs: wrapping a command, or beside the job.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect/collector.hpp"
#include "collect/event_loop.hpp"

namespace jobperf::collect {

// The signals each mode waits for, as `events` of the calls below: the
// wrapper, its command's end and the signals a batch system or user sends to
// stop, pause or poke the job (forwarded to the command); the sidecar, those
// that stop it.
inline const std::vector<int> kWrapperSignals = {SIGCHLD, SIGTERM, SIGINT,   SIGHUP,   SIGQUIT,
                                                 SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH, SIGALRM};
inline const std::vector<int> kSidecarSignals = {SIGTERM, SIGINT, SIGHUP};

// Runs `command` as a child, samples it and its descendants until it exits,
// forwards signals to it, and returns what the wrapper must exit with (a
// signal death is re-raised so the launcher sees the same death).
// `collector` may be null: the command then runs without collection.
int run_wrapper(SignalEvents& events, std::unique_ptr<Collector> collector, const std::vector<std::string>& command);

// Samples until SIGTERM/SIGINT/SIGHUP, `jobperf-collect --stop`, or until the
// job's processes, once seen, are all gone; calls `at_stop` (the clock
// measurement, when the sidecars are an MPI job) before closing the stream.
// Returns the exit status.
int run_sidecar(SignalEvents& events, Collector& collector, const std::string& pid_file,
                const std::function<void()>& at_stop);

// Signals the sidecar whose pid file is `pid_file` and waits for it to finish.
int stop_sidecar(const std::string& pid_file, double timeout_s);

}  // namespace jobperf::collect
