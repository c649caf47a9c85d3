// Collector cost per process-sample, against floors measured in the same run
// on the same processes and files:
//   floor    the reads the source cannot avoid: pread of kept-open
//            /proc/PID/{stat,statm,io} and a getdents of /proc/PID/fd, plus
//            one taskstats round trip per process (context switches and
//            scheduler time of all threads) where the kernel allows it, or
//            pread of /proc/PID/{status,schedstat} where it does not
//   procfs   the all-procfs floor (stat,statm,io,status,schedstat + fd)
//   reopen   the all-procfs reads with open+read+close each time (the naive way)
//   psutil   what ska-sdp-perfmon and similar Python samplers do for the same
//            fields (cpu_times, memory_info, io_counters, num_threads,
//            num_ctx_switches, num_fds), when python3-psutil is installed
//   jobperf  the procfs.process source: read, parse, encode into the stream,
//            write a block per tick (to a file in $TMPDIR); once as it runs
//            (taskstats where allowed) and once with taskstats off
// CPU time of this process (CLOCK_PROCESS_CPUTIME_ID), median of rounds.
// Not a test: it prints figures, and never fails on them.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "collect/sources/sources.hpp"
#include "collect/taskstats.hpp"
#include "formats/raw_stream.hpp"

using namespace jobperf;

namespace {

const std::vector<std::string> kAlwaysRead = {"stat", "statm", "io"};
const std::vector<std::string> kSchedulerFiles = {"status", "schedstat"};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Median over rounds of CPU microseconds per process-sample.
double measure(int rounds, int ticks, std::size_t processes, const std::function<void()>& tick) {
  std::vector<double> per_sample;
  for (int r = 0; r < rounds; ++r) {
    double start = cpu_seconds();
    for (int t = 0; t < ticks; ++t) tick();
    per_sample.push_back((cpu_seconds() - start) * 1e6 / (ticks * static_cast<double>(processes)));
  }
  std::sort(per_sample.begin(), per_sample.end());
  return per_sample[per_sample.size() / 2];
}

void count_fds(int dir_fd) {
  alignas(8) char buffer[4096];
  lseek(dir_fd, 0, SEEK_SET);
  while (syscall(SYS_getdents64, dir_fd, buffer, sizeof buffer) > 0) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t processes = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 16;
  const int ticks = argc > 2 ? std::atoi(argv[2]) : 400, rounds = 7;
  std::vector<pid_t> children;
  for (std::size_t i = 0; i < processes; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    children.push_back(pid);
  }

  // Floors: kept-open files, pread only, plus the taskstats round trips.
  collect::TaskstatsClient taskstats;
  const std::string taskstats_refused = taskstats.open();
  const bool with_taskstats = taskstats_refused.empty() && taskstats.has_scheduler_times();
  auto open_files = [&](const std::vector<std::string>& names) {
    std::vector<int> fds;
    for (auto pid : children)
      for (const auto& f : names) fds.push_back(open(("/proc/" + std::to_string(pid) + "/" + f).c_str(), O_RDONLY));
    return fds;
  };
  const auto always_fds = open_files(kAlwaysRead), scheduler_fds = open_files(kSchedulerFiles);
  std::vector<int> dir_fds;
  for (auto pid : children)
    dir_fds.push_back(open(("/proc/" + std::to_string(pid) + "/fd").c_str(), O_RDONLY | O_DIRECTORY));
  char buffer[4096];
  auto pread_all = [&](const std::vector<int>& fds) {
    for (int fd : fds)
      if (pread(fd, buffer, sizeof buffer, 0) < 0) std::abort();
  };
  double procfs_floor = measure(rounds, ticks, processes, [&] {
    pread_all(always_fds);
    pread_all(scheduler_fds);
    for (int fd : dir_fds) count_fds(fd);
  });
  double floor = procfs_floor;
  if (with_taskstats)
    floor = measure(rounds, ticks, processes, [&] {
      pread_all(always_fds);
      collect::TaskCounters counters;
      for (auto pid : children) taskstats.query(static_cast<std::uint32_t>(pid), collect::TaskQuery::Process, counters);
      for (int fd : dir_fds) count_fds(fd);
    });

  double reopen = measure(rounds, ticks / 4, processes, [&] {
    for (auto pid : children) {
      std::string dir = "/proc/" + std::to_string(pid) + "/";
      for (const auto* names : {&kAlwaysRead, &kSchedulerFiles})
        for (const auto& f : *names) {
          int fd = open((dir + f).c_str(), O_RDONLY);
          if (read(fd, buffer, sizeof buffer) < 0) std::abort();
          close(fd);
        }
      int d = open((dir + "fd").c_str(), O_RDONLY | O_DIRECTORY);
      count_fds(d);
      close(d);
    }
  });

  // jobperf: the real source, records encoded into a real stream.
  std::vector<collect::WatchedProcess> watched;
  for (auto pid : children) watched.push_back({static_cast<std::uint32_t>(pid), 0});
  auto run_source = [&](bool use_taskstats) {
    auto path = (std::filesystem::temp_directory_path() / ("jobperf-bench-" + std::to_string(getpid()) + ".jps")).string();
    stream::Header header;
    header.host = "bench";
    stream::StreamWriter writer(path, header, true);
    collect::SourceConfig config;
    config.taskstats = use_taskstats;
    auto source = collect::make_process_procfs_source(config);
    if (auto why = source->open(); !why.empty()) std::abort();
    auto spec = source->describe();
    spec.id = 1;
    writer.add_source(spec);
    collect::SampleContext ctx;
    ctx.processes = watched;
    std::int64_t now = 0;
    double cost = measure(rounds, ticks, processes, [&] {
      ctx.time_ns = ++now;
      source->sample(ctx, [&](std::uint32_t subject, std::span<const std::uint64_t> values) {
        writer.record(now, 1, subject, values);
      });
      writer.flush();  // one block per tick, as at 1 s flushes with a 1 s interval
    });
    writer.close({});
    std::remove(path.c_str());
    return cost;
  };
  const double jobperf = run_source(true), jobperf_procfs = run_source(false);

  // psutil, in its own process: its CPU time per process-sample, as it measures it.
  std::string pids;
  for (auto pid : children) pids += " " + std::to_string(pid);
  const std::string script =
      "import sys, time, psutil\n"
      "ps = [psutil.Process(int(p)) for p in sys.argv[1:]]\n"
      "def tick():\n"
      "    for p in ps:\n"
      "        p.cpu_times(); p.memory_info(); p.io_counters(); p.num_threads(); p.num_ctx_switches(); p.num_fds()\n"
      "tick()\n"
      "best = []\n"
      "for r in range(7):\n"
      "    t = time.process_time()\n"
      "    for i in range(" + std::to_string(ticks / 4) + "): tick()\n"
      "    best.append((time.process_time() - t) * 1e6 / (" + std::to_string(ticks / 4) + " * len(ps)))\n"
      "print(sorted(best)[3])\n";
  double psutil = -1;
  if (FILE* py = popen(("/usr/bin/python3 -c '" + script + "'" + pids + " 2>/dev/null").c_str(), "r")) {
    if (std::fscanf(py, "%lf", &psutil) != 1) psutil = -1;
    pclose(py);
  }

  for (auto pid : children) kill(pid, SIGKILL);
  for (auto pid : children) waitpid(pid, nullptr, 0);

  std::printf("collector cost per process-sample (%zu processes, median of %d rounds, CPU time)\n", processes, rounds);
  if (with_taskstats)
    std::printf("  floor: pread of kept-open stat,statm,io + getdents fd + taskstats query %7.2f us\n", floor);
  else
    std::printf("  (taskstats not used: %s)\n",
                taskstats_refused.empty() ? "the kernel keeps no scheduler times" : taskstats_refused.c_str());
  std::printf("  procfs floor: pread of kept-open stat,statm,io,status,schedstat + fd   %7.2f us\n", procfs_floor);
  std::printf("  naive: open+read+close of the procfs files                             %7.2f us  (%.2fx procfs floor)\n",
              reopen, reopen / procfs_floor);
  std::printf("  jobperf procfs.process: read, parse, encode, write                      %7.2f us  (%.2fx floor)\n",
              jobperf, jobperf / floor);
  std::printf("  jobperf procfs.process, taskstats off                                   %7.2f us  (%.2fx procfs floor)\n",
              jobperf_procfs, jobperf_procfs / procfs_floor);
  if (psutil > 0)
    std::printf("  psutil (same fields)                                                    %7.2f us  (%.2fx procfs floor; jobperf is %.1fx cheaper, %.1fx with taskstats off)\n",
                psutil, psutil / procfs_floor, psutil / jobperf, psutil / jobperf_procfs);
  else
    std::printf("  psutil: not installed (python3-psutil), not compared\n");
  std::printf("  goals: <= 1.5x floor -> %s; >= 5x cheaper than psutil -> %s\n", jobperf / floor <= 1.5 ? "met" : "NOT met",
              psutil <= 0 ? "not measured" : psutil / jobperf >= 5 ? "met" : "NOT met");
  return 0;
}
