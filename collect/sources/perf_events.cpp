// perf_event counters per watched process. Software events (task clock,
// context switches, migrations, page faults) always; hardware events from
// share/events/<microarchitecture>.events (or --events) where the PMU
// answers. Events are named as libpfm4 strings (PAPI presets accepted) and
// encoded with libpfm4. Kernel and user code are counted where that is
// allowed, else user code alone, leaving out the events that happen only in
// kernel code (share/events marks them kernel-only): they would read 0.
//
// Wrapper mode: the command the collector starts gets its groups before its
// exec, with inherit: every descendant process and thread is counted from its
// first instruction, into the command's counters (its descendants get none).
// Sidecar mode: each thread of a process gets its groups when the process is
// first seen, with inherit + inherit_thread: threads started later are counted
// by their creator's counters, child processes are not (they are watched, and
// counted, on their own; what they did before they were seen is not counted). Groups are read with PERF_FORMAT_GROUP and the
// enabled/running times, and scaled when the kernel multiplexed them. A
// process that ends is read one last time (the counters outlive the task).
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "collect/metric_source.hpp"
#include "collect/node_facts.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/perf_events.hpp"
#include "collect/sources/sources.hpp"
#include "formats/locations.hpp"

namespace jobperf::collect {

double scale_multiplexed(std::uint64_t raw, std::uint64_t enabled, std::uint64_t running) {
  if (enabled == 0) return 0.0;  // the task has not run since the counter was opened
  if (running == 0) return std::numeric_limits<double>::quiet_NaN();  // enabled, never scheduled: unknown, not zero
  if (running >= enabled) return static_cast<double>(raw);
  return static_cast<double>(raw) * static_cast<double>(enabled) / static_cast<double>(running);
}

EventSet read_event_set(const std::string& path) {
  EventSet set;
  set.path = path;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::string section;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line.substr(0, line.find('#')));
    std::string first, second;
    if (!(words >> first)) continue;
    if (first.front() == '[') {
      section = first;
      continue;
    }
    if (section.empty() && first == "pmu" && words >> second) set.pmu = second;
    if (section == "[events]") {
      if (!(words >> second))
        throw std::runtime_error(path + ": event line '" + line + "' wants 'field libpfm4-event [kernel-only]'");
      set.events.push_back({first, second});
      if (std::string flag; words >> flag) {
        if (flag != "kernel-only") throw std::runtime_error(path + ": event line '" + line + "': unknown flag '" + flag + "'");
        set.kernel_only.push_back(first);
      }
    }
  }
  return set;
}

std::string papi_to_libpfm(const std::string& name) {
  if (name.rfind("PAPI_", 0) != 0) return name;
  std::ifstream in(find_share_file("events/papi-presets.txt"));
  for (std::string preset, event; in >> preset;) {
    std::getline(in >> std::ws, event);
    if (preset == name) return event.substr(0, event.find_first_of(" \t#"));
  }
  return name;
}

namespace {

std::string field_name_of(const std::string& event) {
  std::string f;
  for (char c : event.substr(event.rfind("::") == std::string::npos ? 0 : event.rfind("::") + 2))
    f += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
  return f;
}

std::string pfm_error(int code) { return pfm_strerror(code); }

int perf_event_open(perf_event_attr* attr, pid_t pid, int group_fd) {
  return static_cast<int>(syscall(SYS_perf_event_open, attr, pid, -1, group_fd, PERF_FLAG_FD_CLOEXEC));
}

constexpr std::size_t kMaxGroup = 4;  // general-purpose counters per hardware thread, conservatively

struct Group {
  std::vector<int> fds;  // leader first
  ~Group() {
    for (int fd : fds) close(fd);
  }
  Group() = default;
  Group(Group&& o) noexcept : fds(std::move(o.fds)) { o.fds.clear(); }
  Group& operator=(Group&&) = delete;
};

class PerfEventsSource final : public MetricSource {
 public:
  explicit PerfEventsSource(const SourceConfig& config) : config_(config) {}

  std::string open() override {
    static std::once_flag once;
    static int init = PFM_SUCCESS;
    std::call_once(once, [] { init = pfm_initialize(); });
    if (init != PFM_SUCCESS) return "libpfm4 cannot start: " + pfm_error(init);
    paranoid_ = std::atoi(read_line(config_.proc_root + "/sys/kernel/perf_event_paranoid").c_str());

    auto software = read_event_set(find_share_file("events/software.events"));
    add_events(software.events, software_);
    if (software_.empty()) return "no software event could be encoded";
    if (!probe(software_).empty()) {  // kernel code may not be counted here: user level, then
      kernel_too_ = false;
      software_.clear();
      std::erase_if(software.events, [&](const auto& e) { return std::ranges::count(software.kernel_only, e.first) > 0; });
      add_events(software.events, software_);
      if (auto why = probe(software_); !why.empty()) return why;
      warnings_.push_back(user_level_only_note(software.kernel_only));
    }

    add_events(requested_hardware(), hardware_);
    if (!hardware_.empty()) {
      if (auto why = probe(hardware_); !why.empty()) {
        warnings_.push_back("hardware events unavailable: " + why + "; software events only");
        hardware_.clear();
      }
    }
    return "";
  }

  std::vector<std::string> warnings() const override { return warnings_; }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = arch_.empty() || hardware_.empty() ? "perf" : "perf." + arch_;
    s.scope = stream::Scope::Process;
    for (const auto* events : {&software_, &hardware_})
      for (const auto& e : *events)
        s.fields.push_back({e.field, e.field == "task_clock" ? "ns" : "1", "perf event " + e.name,
                            stream::FieldType::F64, stream::Aggregation::Counter});
    return s;
  }

  void sample(const SampleContext& ctx, const RecordSink& sink) override {
    ++generation_;
    for (const auto& p : ctx.processes) {
      if (p.covered_by_root) continue;
      auto it = processes_.find(p.pid);
      if (it == processes_.end()) it = processes_.emplace(p.pid, attach(p, ctx)).first;
      it->second.seen = generation_;
      emit(p.pid, it->second, sink);
    }
    // Ended since the last tick: one last read, then let the counters go.
    for (auto it = processes_.begin(); it != processes_.end();) {
      if (it->second.seen == generation_) {
        ++it;
        continue;
      }
      emit(it->first, it->second, sink);
      it = processes_.erase(it);
    }
  }

 private:
  struct Event {
    std::string field, name;
    perf_event_attr attr;
  };
  struct Process {
    std::vector<Group> software, hardware;  // per thread, groups in event order
    std::uint64_t seen = 0;
  };

  std::vector<std::pair<std::string, std::string>> requested_hardware() {
    if (!config_.perf_events.empty()) {  // --events: a comma-separated list
      std::vector<std::pair<std::string, std::string>> out;
      std::stringstream list(config_.perf_events);
      for (std::string name; std::getline(list, name, ',');)
        if (!name.empty()) out.emplace_back(field_name_of(papi_to_libpfm(name)), papi_to_libpfm(name));
      arch_ = "custom";
      return out;
    }
    auto facts = node_facts(config_);
    for (const auto& [k, v] : facts)
      if (k == "hw.microarchitecture" && v != "unknown") arch_ = v;
    if (arch_.empty()) {
      warnings_.push_back("unknown CPU model: no hardware event set (share/events/cpu-models.txt); software events only");
      return {};
    }
    auto path = find_share_file("events/" + arch_ + ".events");
    if (path.empty()) {
      warnings_.push_back("no event set for " + arch_ + " in share/events; software events only");
      return {};
    }
    return read_event_set(path).events;
  }

  // Counting kernel code too needs perf_event_paranoid <= 1 or CAP_PERFMON
  // (root has it), so it is what open() tries first; user level always works.
  std::string user_level_only_note(const std::vector<std::string>& left_out) const {
    std::string note = "user-level counts only (perf_event_paranoid " + std::to_string(paranoid_) +
                       ", no CAP_PERFMON): task_clock leaves out system time";
    if (!left_out.empty()) {
      note += "; left out, as they happen only in kernel code:";
      for (const auto& field : left_out) note += " " + field;
      note += " (procfs's voluntary and involuntary switches still count context switches)";
    }
    return note;
  }

  void add_events(const std::vector<std::pair<std::string, std::string>>& wanted, std::vector<Event>& into) {
    const int plm = kernel_too_ ? PFM_PLM0 | PFM_PLM3 : PFM_PLM3;
    for (const auto& [field, name] : wanted) {
      Event e{field, name, {}};
      pfm_perf_encode_arg_t arg{};
      arg.attr = &e.attr;
      arg.size = sizeof arg;
      int rc = pfm_get_os_event_encoding(name.c_str(), plm, PFM_OS_PERF_EVENT, &arg);
      if (rc != PFM_SUCCESS) {
        warnings_.push_back("event " + name + ": " + pfm_error(rc) + "; left out");
        continue;
      }
      into.push_back(std::move(e));
    }
  }

  // Opens the events as groups; fills `groups` (none on failure) and says why not.
  enum class Inherit { None, Threads, Everything };
  // Why an event could not be opened: its name and errno; error 0 if all opened.
  struct OpenFailure {
    std::string event;
    int error = 0;
  };

  OpenFailure open_groups(const std::vector<Event>& events, pid_t tid, Inherit inherit, std::vector<Group>& groups) {
    for (std::size_t first = 0; first < events.size(); first += kMaxGroup) {
      Group g;
      for (std::size_t i = first; i < std::min(events.size(), first + kMaxGroup); ++i) {
        perf_event_attr attr = events[i].attr;
        attr.size = sizeof attr;
        attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
        attr.disabled = 0;
        attr.inherit = inherit != Inherit::None;
        attr.inherit_thread = inherit == Inherit::Threads;
        int fd = perf_event_open(&attr, tid, g.fds.empty() ? -1 : g.fds.front());
        if (fd < 0) {
          int error = errno;
          groups.clear();
          return {events[i].name, error};
        }
        g.fds.push_back(fd);
      }
      groups.push_back(std::move(g));
    }
    return {};
  }

  std::string describe(const OpenFailure& f) const {
    if (f.error == 0) return "";
    std::string why = f.event + ": " + std::strerror(f.error);
    if (f.error == ENOENT || f.error == EOPNOTSUPP) why += " (no such event on this CPU, or no PMU: a VM?)";
    if (f.error == EACCES || f.error == EPERM)
      why += " (perf_event_paranoid is " + std::to_string(paranoid_) + "; watching other users' processes needs <= 0 or CAP_PERFMON)";
    return why;
  }

  // Can these events be opened and scheduled at all? Tried on the collector itself.
  std::string probe(const std::vector<Event>& events) {
    std::vector<Group> groups;
    return describe(open_groups(events, 0, Inherit::None, groups));
  }

  Process attach(const WatchedProcess& watched, const SampleContext& ctx) {
    Process p;
    const auto pid = std::to_string(watched.pid);
    // A subtree root has one thread yet (it has not exec'd); its counters inherit to everything.
    auto tasks = watched.subtree_root ? std::vector<std::string>{pid} : list_directory(config_.proc_root + "/" + pid + "/task");
    const auto inherit = watched.subtree_root ? Inherit::Everything : Inherit::Threads;
    for (const auto& task : tasks) {
      auto tid = static_cast<pid_t>(std::atoi(task.c_str()));
      std::vector<Group> software, hardware;
      auto failure = open_groups(software_, tid, inherit, software);
      if (failure.error == 0 && !hardware_.empty()) failure = open_groups(hardware_, tid, inherit, hardware);
      // A thread that ended since it was listed (ESRCH) is no failure: a Slurm step's helpers come and go.
      if (failure.error != 0 && failure.error != ESRCH && !attach_warned_ && ctx.warn) {
        ctx.warn("cannot count thread " + task + ": " + describe(failure));
        attach_warned_ = true;
      }
      if (failure.error != 0) continue;  // the others are still counted
      for (auto& g : software) p.software.push_back(std::move(g));
      for (auto& g : hardware) p.hardware.push_back(std::move(g));
    }
    return p;
  }

  // Sums, over threads, each event's count scaled for multiplexing.
  void add_counts(const std::vector<Group>& groups, std::size_t events, double* out) {
    std::uint64_t buffer[3 + kMaxGroup];
    const std::size_t groups_per_thread = (events + kMaxGroup - 1) / kMaxGroup;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::size_t first = (g % groups_per_thread) * kMaxGroup;
      ssize_t n = read(groups[g].fds.front(), buffer, sizeof buffer);
      if (n < static_cast<ssize_t>(3 * sizeof(std::uint64_t))) continue;
      const std::uint64_t count = buffer[0], enabled = buffer[1], running = buffer[2];
      for (std::uint64_t i = 0; i < count && first + i < events; ++i)
        out[first + i] += scale_multiplexed(buffer[3 + i], enabled, running);
    }
  }

  void emit(std::uint32_t pid, const Process& p, const RecordSink& sink) {
    std::vector<double> values(software_.size() + hardware_.size(), 0.0);
    add_counts(p.software, software_.size(), values.data());
    add_counts(p.hardware, hardware_.size(), values.data() + software_.size());
    std::vector<std::uint64_t> raw;
    for (double v : values) raw.push_back(stream::to_raw(v));
    sink(pid, raw);
  }

  SourceConfig config_;
  int paranoid_ = 2;
  bool kernel_too_ = true;  // count kernel code as well as user code
  std::string arch_;
  std::vector<Event> software_, hardware_;
  std::vector<std::string> warnings_;
  std::map<std::uint32_t, Process> processes_;
  std::uint64_t generation_ = 0;
  bool attach_warned_ = false;
};

}  // namespace

std::unique_ptr<MetricSource> make_perf_events_source(const SourceConfig& config) {
  return std::make_unique<PerfEventsSource>(config);
}

}  // namespace jobperf::collect
