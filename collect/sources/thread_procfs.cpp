// Per-thread sampling (--threads): CPU, faults, last CPU, context switches and
// scheduler time of every thread of every watched process, from
// /proc/PID/task/TID/stat, kept open, and one taskstats query per thread
// (see taskstats.hpp), or /proc/PID/task/TID/{status,schedstat} where
// taskstats is refused. Records carry the
// thread id as subject and the owning process in a field; they are the raw
// material for per-thread views (the per-rank rows of the job file come from
// the process sources, so threads are never counted twice).
#include <array>
#include <unordered_map>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"
#include "collect/taskstats.hpp"

namespace jobperf::collect {
namespace {

using stream::Aggregation;
using stream::FieldType;

enum Field : std::size_t { kPid, kUser, kSystem, kMinflt, kMajflt, kProcessor, kVoluntary, kInvoluntary, kRun, kWait, kSlices, kCount };

struct ThreadFiles {
  std::uint32_t pid;
  KeptOpenFile stat, status, schedstat;
  std::uint64_t seen = 0;
};

class ThreadProcfsSource final : public MetricSource {
 public:
  explicit ThreadProcfsSource(const SourceConfig& config)
      : root_(config.proc_root), try_taskstats_(config.taskstats && config.proc_root == "/proc") {}
  std::string open() override {
    // taskstats answers about the live kernel's tasks: never for a fixture
    // tree. When it is refused, the process source has said why, once.
    use_taskstats_ = try_taskstats_ && taskstats_.open().empty() && taskstats_.has_scheduler_times();
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
          ThreadFiles files{p.pid, KeptOpenFile(dir + "stat"), {}, {}};
          if (!use_taskstats_) {
            files.status = KeptOpenFile(dir + "status");
            files.schedstat = KeptOpenFile(dir + "schedstat");
          }
          it = threads_.emplace(tid, std::move(files)).first;
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
        if (use_taskstats_) {
          TaskCounters task;
          if (!taskstats_.query(tid, TaskQuery::Thread, task)) continue;  // gone since the stat read
          v[kUser] = task.user_ns;  // microseconds, where stat counts clock ticks
          v[kSystem] = task.system_ns;
          v[kVoluntary] = task.voluntary_ctxt;
          v[kInvoluntary] = task.involuntary_ctxt;
          v[kRun] = task.run_ns;
          v[kWait] = task.wait_ns;
          v[kSlices] = task.timeslices;
        } else if (auto status = t.status.read(buffer_); !status.empty()) {
          std::size_t hint = status.size() / 2;
          keyed_value(status, "voluntary_ctxt_switches", v[kVoluntary], hint);
          keyed_value(status, "nonvoluntary_ctxt_switches", v[kInvoluntary], hint);
        }
        if (auto sched = t.schedstat.read(buffer_); !sched.empty()) {
          Tokens s(sched);
          v[kRun] = to_u64(s.next());
          v[kWait] = to_u64(s.next());
          v[kSlices] = to_u64(s.next());
        }
        sink(tid, v);
      }
    }
    std::erase_if(threads_, [&](const auto& kv) { return kv.second.seen != generation_; });
  }

 private:
  std::string root_;
  bool try_taskstats_, use_taskstats_ = false;
  TaskstatsClient taskstats_;
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
