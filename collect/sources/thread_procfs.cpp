// Per-thread sampling (--threads): CPU, faults, last CPU, context switches and
// scheduler time of every thread of every watched process, from
// /proc/PID/task/TID/stat, kept open, and one taskstats query per thread
// or its status and schedstat files (scheduler_counters.hpp). Records carry
// the thread id as subject and the owning process in a field; they are the raw
// material for per-thread views (the per-rank rows of the job file come from
// the process sources, so threads are never counted twice).
#include <array>
#include <unordered_map>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"
#include "collect/scheduler_counters.hpp"

namespace jobperf::collect {
namespace {

using stream::Aggregation;
using stream::FieldType;

enum Field : std::size_t { kPid, kUser, kSystem, kMinflt, kMajflt, kProcessor, kVoluntary, kInvoluntary, kRun, kWait, kSlices, kCount };

struct ThreadFiles {
  std::uint32_t pid;
  KeptOpenFile stat;
  SchedulerCounters::TaskFiles scheduler;
  std::uint64_t seen = 0;
};

class ThreadProcfsSource final : public MetricSource {
 public:
  explicit ThreadProcfsSource(const SourceConfig& config)
      : root_(config.proc_root), live_(config.taskstats && config.proc_root == "/proc") {}
  std::string open() override {
    scheduler_.open(live_);  // where taskstats is refused, the process source has said why, once
    return "";
  }

  stream::SourceSpec describe() const override {
    constexpr auto U = FieldType::U64;
    constexpr auto C = Aggregation::Counter;
    stream::SourceSpec s;
    s.name = "procfs.thread";
    s.scope = stream::Scope::Process;
    s.fields = {
        {"pid", "1", "process the thread belongs to", U, Aggregation::Attribute},
        {"cpu_user", "ns", "user CPU time of the thread", U, C},
        {"cpu_system", "ns", "system CPU time of the thread", U, C},
        {"minflt", "1", "minor page faults of the thread", U, C},
        {"majflt", "1", "major page faults of the thread", U, C},
        {"processor", "1", "CPU the thread last ran on", U, Aggregation::Attribute},
        {"voluntary_ctxt_switches", "1", "voluntary context switches", U, C},
        {"nonvoluntary_ctxt_switches", "1", "involuntary context switches", U, C},
        {"run_time", "ns", "time on CPU (schedstat)", U, C},
        {"wait_time", "ns", "time runnable but waiting for a CPU (schedstat)", U, C},
        {"timeslices", "1", "timeslices run", U, C},
    };
    return s;
  }

  void sample(const SampleContext& ctx, const RecordSink& sink) override {
    ++generation_;
    const std::uint64_t ns_per_tick = 1'000'000'000ull / static_cast<std::uint64_t>(clock_ticks_per_second());
    for (const auto& p : ctx.processes) {
      const std::string task_dir = root_ + "/" + std::to_string(p.pid) + "/task/";
      for (const auto& task : list_directory(task_dir)) {
        auto tid = static_cast<std::uint32_t>(std::stoul(task));
        auto it = threads_.find(tid);
        if (it == threads_.end()) {
          const std::string dir = task_dir + task + "/";
          it = threads_.emplace(tid, ThreadFiles{p.pid, KeptOpenFile(dir + "stat"), scheduler_.open_files(dir)}).first;
        }
        auto& t = it->second;
        t.seen = generation_;
        std::array<std::uint64_t, kCount> v{};
        ProcStat stat;
        if (!parse_proc_stat(t.stat.read(buffer_), stat)) continue;  // gone: not an error
        const auto& f = stat.field;
        v[kPid] = p.pid;
        v[kMinflt] = f[10];
        v[kMajflt] = f[12];
        v[kUser] = f[14] * ns_per_tick;
        v[kSystem] = f[15] * ns_per_tick;
        v[kProcessor] = f[39];
        TaskCounters counters;
        if (!scheduler_.read(tid, TaskQuery::Thread, t.scheduler, counters)) continue;  // gone since the stat read
        if (scheduler_.origin() != SchedulerCounters::Origin::Procfs) {
          v[kUser] = counters.user_ns;  // microseconds, where stat counts clock ticks
          v[kSystem] = counters.system_ns;
        }
        v[kVoluntary] = counters.voluntary_ctxt;
        v[kInvoluntary] = counters.involuntary_ctxt;
        v[kRun] = counters.run_ns;
        v[kWait] = counters.wait_ns;
        v[kSlices] = counters.timeslices;
        sink(tid, v);
      }
    }
    std::erase_if(threads_, [&](const auto& kv) { return kv.second.seen != generation_; });
  }

 private:
  std::string root_;
  bool live_;
  SchedulerCounters scheduler_;
  std::string buffer_;
  std::unordered_map<std::uint32_t, ThreadFiles> threads_;
  std::uint64_t generation_ = 0;
};

}  // namespace

std::unique_ptr<MetricSource> make_thread_procfs_source(const SourceConfig& config) {
  if (!config.threads) return nullptr;  // off unless asked for: a thread-heavy job makes many records
  return std::make_unique<ThreadProcfsSource>(config);
}

}  // namespace jobperf::collect
