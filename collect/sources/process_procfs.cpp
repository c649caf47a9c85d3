// Per-process source: CPU, memory, faults, I/O, context switches, open
// files and scheduler time of every watched process, from
// /proc/PID/{stat,statm,io,fd} and, for context switches and scheduler
// time, one taskstats query per process (all threads summed) or, where
// taskstats is refused, /proc/PID/{status,schedstat} (main thread only, and
// slower; scheduler_counters.hpp). Files stay open between samples and are
// re-read with pread.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"
#include "collect/scheduler_counters.hpp"

namespace jobperf::collect {
namespace {

using stream::Aggregation;
using stream::FieldType;

enum Field : std::size_t {
  kCpuUser, kCpuSystem, kMinflt, kMajflt, kRss, kVms, kShared, kThreads, kProcessor,
  kReadBytes, kWriteBytes, kCancelledWriteBytes, kRchar, kWchar, kSyscr, kSyscw,
  kVoluntaryCtxt, kInvoluntaryCtxt, kOpenFds, kRunTime, kWaitTime, kTimeslices, kFieldCount
};

// The field descriptions say where context switches and scheduler times come from.
stream::SourceSpec process_spec(SchedulerCounters::Origin origin) {
  using Origin = SchedulerCounters::Origin;
  const std::string switches = origin == Origin::Procfs ? " (main thread)" : " (all threads, taskstats)";
  const std::string times = origin == Origin::Taskstats ? " (all threads, taskstats)" : " (main thread, schedstat)";
  constexpr auto U = FieldType::U64;
  constexpr auto G = Aggregation::Gauge, C = Aggregation::Counter, T = Aggregation::TreeCounter;
  stream::SourceSpec s;
  s.name = "procfs.process";
  s.scope = stream::Scope::Process;
  s.fields = {
      {"cpu_user", "ns", "user CPU time, including reaped children", U, T},
      {"cpu_system", "ns", "system CPU time, including reaped children", U, T},
      {"minflt", "1", "minor page faults, including reaped children", U, T},
      {"majflt", "1", "major page faults, including reaped children", U, T},
      {"rss", "bytes", "resident set size", U, G},
      {"vms", "bytes", "virtual memory size", U, G},
      {"shared", "bytes", "resident shared (file-backed) memory", U, G},
      {"num_threads", "1", "threads", U, G},
      {"processor", "1", "CPU the process last ran on", U, Aggregation::Attribute},
      {"read_bytes", "bytes", "bytes read from storage", U, T},
      {"write_bytes", "bytes", "bytes sent to storage", U, T},
      {"cancelled_write_bytes", "bytes", "written bytes later truncated before reaching storage", U, T},
      {"rchar", "bytes", "bytes read by read-like system calls", U, T},
      {"wchar", "bytes", "bytes written by write-like system calls", U, T},
      {"syscr", "1", "read-like system calls", U, T},
      {"syscw", "1", "write-like system calls", U, T},
      {"voluntary_ctxt_switches", "1", "voluntary context switches" + switches, U, C},
      {"nonvoluntary_ctxt_switches", "1", "involuntary context switches" + switches, U, C},
      {"open_fds", "1", "open file descriptors", U, G},
      {"run_time", "ns", "time on CPU" + times, U, C},
      {"wait_time", "ns", "time runnable but waiting for a CPU" + times, U, C},
      {"timeslices", "1", "timeslices run" + times, U, C},
  };
  return s;
}

struct ProcessFiles {
  std::uint64_t start_ticks = 0;
  KeptOpenFile stat, statm, io, fd_dir;
  SchedulerCounters::TaskFiles scheduler;
};

class ProcessProcfsSource final : public MetricSource {
 public:
  explicit ProcessProcfsSource(const SourceConfig& config)
      : root_(config.proc_root), live_(config.taskstats && config.proc_root == "/proc") {}
  stream::SourceSpec describe() const override { return process_spec(scheduler_.origin()); }
  std::vector<std::string> warnings() const override { return warnings_; }
  std::string open() override {
    if (access((root_ + "/self/stat").c_str(), R_OK) != 0 && access(root_.c_str(), R_OK) != 0)
      return root_ + ": cannot read the proc filesystem";
    // taskstats answers about the live kernel's tasks: never for a fixture tree.
    if (auto note = scheduler_.open(live_); !note.empty()) warnings_.push_back(note);
    return "";
  }

  void sample(const SampleContext& ctx, const RecordSink& sink) override {
    ++generation_;
    for (const auto& p : ctx.processes) {
      auto& files = files_for(p);
      std::array<std::uint64_t, kFieldCount> v{};
      if (!sample_one(p.pid, files, v, ctx)) continue;  // gone since discovery: not an error
      sink(p.pid, v);
      seen_[p.pid] = generation_;
      last_[p.pid] = v;
    }
    std::erase_if(files_, [&](const auto& kv) { return seen_[kv.first] != generation_; });
    std::erase_if(seen_, [&](const auto& kv) { return kv.second != generation_; });
    std::erase_if(last_, [&](const auto& kv) { return !seen_.count(kv.first); });
  }

  // Final counters from wait4: exact where the last sample was up to one
  // interval old. Gauges go to zero; a process that has ended holds nothing.
  void process_reaped(const ReapedProcess& r, const RecordSink& sink) override {
    std::array<std::uint64_t, kFieldCount> v{};
    if (auto it = last_.find(r.pid); it != last_.end()) v = it->second;
    for (auto f : {kRss, kVms, kShared, kThreads, kOpenFds}) v[f] = 0;
    v[kCpuUser] = std::max(v[kCpuUser], r.user_ns);
    v[kCpuSystem] = std::max(v[kCpuSystem], r.system_ns);
    v[kMinflt] = std::max(v[kMinflt], r.minflt);
    v[kMajflt] = std::max(v[kMajflt], r.majflt);
    v[kRchar] = std::max(v[kRchar], r.rchar);
    v[kWchar] = std::max(v[kWchar], r.wchar);
    v[kSyscr] = std::max(v[kSyscr], r.syscr);
    v[kSyscw] = std::max(v[kSyscw], r.syscw);
    v[kReadBytes] = std::max(v[kReadBytes], r.read_bytes);
    v[kWriteBytes] = std::max(v[kWriteBytes], r.write_bytes);
    v[kCancelledWriteBytes] = std::max(v[kCancelledWriteBytes], r.cancelled_write_bytes);
    sink(r.pid, v);
    last_.erase(r.pid);
  }

 private:
  ProcessFiles& files_for(const WatchedProcess& p) {
    auto it = files_.find(p.pid);
    if (it != files_.end() && it->second.start_ticks == p.start_ticks) return it->second;
    std::string dir = root_ + "/" + std::to_string(p.pid) + "/";
    ProcessFiles f;
    f.start_ticks = p.start_ticks;
    f.stat = KeptOpenFile(dir + "stat");
    f.statm = KeptOpenFile(dir + "statm");
    f.io = KeptOpenFile(dir + "io");
    f.scheduler = scheduler_.open_files(dir);
    f.fd_dir = KeptOpenFile(dir + "fd");
    return files_[p.pid] = std::move(f);
  }

  bool sample_one(std::uint32_t pid, ProcessFiles& f, std::array<std::uint64_t, kFieldCount>& v,
                  const SampleContext& ctx) {
    ProcStat stat;
    if (!parse_proc_stat(f.stat.read(buffer_), stat)) return false;
    from_stat(stat, v);

    if (auto statm = f.statm.read(buffer_); !statm.empty()) {
      Tokens t(statm);
      t.next();
      t.next();
      v[kShared] = to_u64(t.next()) * static_cast<std::uint64_t>(page_size());
    }
    if (auto text = f.io.read(buffer_); !text.empty()) {
      const auto io = parse_proc_io(text);
      v[kRchar] = io.rchar;
      v[kWchar] = io.wchar;
      v[kSyscr] = io.syscr;
      v[kSyscw] = io.syscw;
      v[kReadBytes] = io.read_bytes;
      v[kWriteBytes] = io.write_bytes;
      v[kCancelledWriteBytes] = io.cancelled_write_bytes;
    } else {
      warn_once(ctx, io_warned_, "/proc/PID/io is not readable (" + errno_name(f.io.error()) +
                                     "): I/O counters of such processes are reported as 0");
    }
    TaskCounters task;
    if (!scheduler_.read(pid, TaskQuery::Process, f.scheduler, task)) return false;  // gone since the stat read
    v[kVoluntaryCtxt] = task.voluntary_ctxt;
    v[kInvoluntaryCtxt] = task.involuntary_ctxt;
    v[kRunTime] = task.run_ns;
    v[kWaitTime] = task.wait_ns;
    v[kTimeslices] = task.timeslices;
    std::uint64_t open_fds = 0;
    if (scan_directory(f.fd_dir.fd(), [&](std::string_view) { ++open_fds; })) v[kOpenFds] = open_fds;
    return true;
  }

  static void from_stat(const ProcStat& stat, std::array<std::uint64_t, kFieldCount>& v) {
    const std::uint64_t ns_per_tick = 1'000'000'000ull / static_cast<std::uint64_t>(clock_ticks_per_second());
    const auto& field = stat.field;
    v[kMinflt] = field[10] + field[11];
    v[kMajflt] = field[12] + field[13];
    v[kCpuUser] = (field[14] + field[16]) * ns_per_tick;
    v[kCpuSystem] = (field[15] + field[17]) * ns_per_tick;
    v[kThreads] = field[20];
    v[kVms] = field[23];
    v[kRss] = field[24] * static_cast<std::uint64_t>(page_size());
    v[kProcessor] = field[39];
  }

  static void warn_once(const SampleContext& ctx, bool& warned, const std::string& text) {
    if (warned || !ctx.warn) return;
    warned = true;
    ctx.warn(text);
  }
  static std::string errno_name(int e) { return e ? std::string(strerror(e)) : "empty"; }

  std::string root_;
  bool live_;
  SchedulerCounters scheduler_;
  std::vector<std::string> warnings_;
  std::string buffer_;
  std::unordered_map<std::uint32_t, ProcessFiles> files_;
  std::unordered_map<std::uint32_t, std::uint64_t> seen_;
  std::unordered_map<std::uint32_t, std::array<std::uint64_t, kFieldCount>> last_;
  std::uint64_t generation_ = 0;
  bool io_warned_ = false;
};

}  // namespace

std::unique_ptr<MetricSource> make_process_procfs_source(const SourceConfig& config) {
  return std::make_unique<ProcessProcfsSource>(config);
}

}  // namespace jobperf::collect
