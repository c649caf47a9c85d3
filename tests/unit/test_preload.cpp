// libjobperf-preload.so on real processes: 200 short processes, some exiting
// non-zero, some killed by a signal, give 200 records with the right exit
// codes and signals; threads record themselves when asked to.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "formats/clock.hpp"
#include "formats/raw_stream.hpp"

using namespace jobperf::stream;
namespace fs = std::filesystem;

namespace {

std::string temp_stream(const std::string& name) {
  auto path = fs::temp_directory_path() / ("jobperf-preload-" + std::to_string(getpid()) + "-" + name + ".jps");
  fs::remove(path);
  return path.string();
}

int run_preloaded(const std::string& stream, const std::string& extra_env, const std::string& command) {
  std::string line = "env LD_PRELOAD=" JOBPERF_PRELOAD_LIBRARY " JOBPERF_PRELOAD_STREAM=" + stream +
                     " JOBPERF_JOB_ID=preload-test JOBPERF_TAGS=op:test " + extra_env + " " + command +
                     " >/dev/null 2>&1";
  return std::system(line.c_str());
}

}  // namespace

TEST_CASE("preload: 200 short processes give 200 records with their exit codes and signals") {
  auto stream = temp_stream("200");
  // Every 4th: a clean exit, an exit code 1..7, a death by SIGTERM, a short sleep.
  const std::string script =
      "for ((i = 1; i <= 200; i++)); do case $((i % 4)) in"
      "  0) /bin/true ;;"
      "  1) /bin/sh -c \"exit $((i % 7 + 1))\" ;;"
      "  2) /bin/sh -c 'kill -TERM $$' ;;"
      "  3) /bin/sleep 0 ;;"
      " esac; done";
  run_preloaded(stream, "", "/bin/bash -c '" + std::string(script).replace(script.find("'kill"), 16, "\"kill -TERM \\$\\$\"") + "'");
  auto s = read_stream(stream);
  REQUIRE(s.damage.empty());
  CHECK(s.header.mode == "preload");
  CHECK(s.header.job_id == "preload-test");

  // The bash running the loop recorded itself too; its children are the 200.
  std::uint32_t bash = 0;
  for (const auto& x : s.process_exits)
    if (x.kind == ExitKind::Exited && x.args.rfind("/bin/bash -c", 0) == 0) bash = x.pid;
  REQUIRE(bash != 0);
  std::map<int, int> exit_codes, signals;
  int children = 0;
  for (const auto& x : s.process_exits) {
    if (x.ppid != bash) continue;
    ++children;
    if (x.kind == ExitKind::Killed) {
      ++signals[x.signal];
      continue;
    }
    ++exit_codes[x.exit_code];
    if (x.args.rfind("/bin/sh -c exit ", 0) == 0) CHECK(x.exit_code == std::atoi(x.args.c_str() + 16));
    CHECK(x.exec_generation == 1);  // bash forked, then exec'd the command
    CHECK(x.tags == "op:test");
    CHECK(x.end_ns >= x.start_ns);
  }
  CHECK(children == 200);
  CHECK(signals[15] == 50);
  CHECK(exit_codes[0] == 100);  // /bin/true and /bin/sleep
  int nonzero = 0;
  for (int code = 1; code <= 7; ++code) nonzero += exit_codes[code];
  CHECK(nonzero == 50);
  fs::remove(stream);
}

TEST_CASE("preload: threads record themselves when asked, and rusage is the thread's own") {
  auto stream = temp_stream("threads");
  CHECK(run_preloaded(stream, "JOBPERF_PRELOAD_THREADS=1", JOBPERF_SPAWN_THREADS " 3 4") >> 8 == 4);
  auto s = read_stream(stream);
  int threads = 0, processes = 0;
  std::uint64_t thread_cpu = 0, process_cpu = 0;
  for (const auto& x : s.process_exits) {
    if (x.kind == ExitKind::ThreadExit) {
      ++threads;
      CHECK(x.tid != x.pid);
      CHECK(x.user_ns + x.system_ns >= 40'000'000);  // each burned 50 ms of CPU (rusage has tick granularity)
      thread_cpu += x.user_ns + x.system_ns;
    } else if (x.kind == ExitKind::Exited) {
      ++processes;
      CHECK(x.exit_code == 4);
      process_cpu = x.user_ns + x.system_ns;
    }
  }
  CHECK(threads == 3);
  CHECK(processes == 1);
  CHECK(process_cpu >= thread_cpu);  // the process's usage includes its threads' (RUSAGE_THREAD is each one's own)
  fs::remove(stream);
}

TEST_CASE("preload: threads ending together, before the stream exists, each leave their record") {
  // Sixteen threads that meet at a barrier race to create the stream; with the
  // private file named by pid, the losers found no stream yet and lost their
  // records (15 of 16 in most rounds here, 8 in one).
  for (int round = 0; round < 5; ++round) {
    auto stream = temp_stream("thread-race");
    run_preloaded(stream, "JOBPERF_PRELOAD_THREADS=1", JOBPERF_SPAWN_THREADS " 16 0");
    auto s = read_stream(stream);
    CHECK(s.damage.empty());
    int threads = 0;
    for (const auto& x : s.process_exits) threads += x.kind == ExitKind::ThreadExit;
    CHECK(threads == 16);
    fs::remove(stream);
  }
}

TEST_CASE("preload: perf counters of the process, its threads included, on request") {
  auto stream = temp_stream("perf");
  CHECK(run_preloaded(stream, "JOBPERF_PRELOAD_PERF=1", JOBPERF_SPAWN_THREADS " 2 0") >> 8 == 0);
  auto s = read_stream(stream);
  REQUIRE(s.process_exits.size() == 1);
  const auto& x = s.process_exits[0];
  // The task clock counts the threads' CPU time too (two burners of 50 ms of CPU each),
  // and never more than the process's own rusage, within a scheduler tick or so. It
  // may count less: rusage also holds what ran before the library's constructor
  // opened the counters (the loader; a sanitizer runtime's set-up, 100 ms on a loaded CI).
  CHECK(x.perf_task_clock_ns >= 100'000'000);
  CHECK(static_cast<double>(x.perf_task_clock_ns) < static_cast<double>(x.user_ns + x.system_ns) + 30e6);
  fs::remove(stream);
}

TEST_CASE("preload: many processes starting the stream at once leave one header and every record") {
  for (int round = 0; round < 5; ++round) {
    auto stream = temp_stream("race");
    run_preloaded(stream, "", "/bin/bash -c 'for i in $(seq 40); do /bin/true & done; wait'");
    auto s = read_stream(stream);  // throws on a stream whose header lost the race
    CHECK(s.damage.empty());
    int trues = 0;
    for (const auto& x : s.process_exits) trues += x.exe == "/usr/bin/true";
    CHECK(trues == 40);
    fs::remove(stream);
  }
}

TEST_CASE("preload: a process's tags and peak memory are its own, not its parent's") {
  // The parent holds 100 MB and then retags itself before it ends; the
  // /bin/true it starts inherits the old tags. rusage's ru_maxrss of the
  // exec'd child counts the parent's memory (the kernel carries the mm it
  // replaced into it): /bin/true "used" 100 MB.
  auto stream = temp_stream("own");
  run_preloaded(stream, "",
                "/bin/bash -c 'x=$(head -c 100000000 /dev/zero | tr \"\\0\" a); /bin/true; "
                "export JOBPERF_TAGS=op:changed; echo ${#x}'");
  auto s = read_stream(stream);
  const ProcessExit *parent = nullptr, *child = nullptr;
  for (const auto& x : s.process_exits) {
    if (x.exe == "/usr/bin/true") child = &x;
    if (x.exe == "/usr/bin/bash" && x.args.find("head -c") != std::string::npos) parent = &x;
  }
  REQUIRE(parent);
  REQUIRE(child);
  CHECK(parent->maxrss_kb > 90'000);
  CHECK(child->maxrss_kb < 20'000);
  CHECK(parent->tags == "op:test");  // as it started, whatever it set later
  CHECK(child->tags == "op:test");
  fs::remove(stream);
}

TEST_CASE("preload: a process starts when it began, to the microsecond, and exec keeps its start") {
  // The kernel's start of a process is a clock tick (10 ms) at or before its
  // fork: bash, forked right after `before`, read as started before it in
  // about nine runs in ten. bash then runs /bin/true and execs sleep, which
  // is the same process (one generation on, whatever a stale value from
  // elsewhere in the environment says) with the same start.
  auto stream = temp_stream("start");
  const auto before = jobperf::stream::monotonic_ns();
  run_preloaded(stream, "JOBPERF_PRELOAD_EXEC='1 5 7'", "/bin/bash -c '/bin/true; exec /bin/sleep 0.05'");
  const auto after = jobperf::stream::monotonic_ns();
  auto s = read_stream(stream);
  const ProcessExit *sleep = nullptr, *child = nullptr;
  for (const auto& x : s.process_exits) {
    CHECK(x.start_ns >= before);
    CHECK(x.start_ns <= x.end_ns);
    CHECK(x.end_ns <= after);
    if (x.exe == "/usr/bin/sleep") sleep = &x;
    if (x.exe == "/usr/bin/true") child = &x;
  }
  REQUIRE(sleep);
  REQUIRE(child);
  CHECK(sleep->exec_generation == 1);
  CHECK(child->exec_generation == 1);  // bash forked, then exec'd it
  CHECK(child->ppid == sleep->pid);
  CHECK(sleep->start_ns < child->start_ns);  // bash's start: before it forked /bin/true
  CHECK(sleep->end_ns - sleep->start_ns >= 50'000'000);
  fs::remove(stream);
}

TEST_CASE("preload: without a stream to write it does nothing") {
  CHECK(std::system("env LD_PRELOAD=" JOBPERF_PRELOAD_LIBRARY " /bin/sh -c 'exit 3'") >> 8 == 3);
}
