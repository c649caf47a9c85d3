// System-wide uncore counters: the memory controllers' CAS commands (DRAM
// bandwidth), from share/events/uncore.events. One node record: every
// socket and every instance of each PMU summed. Each event is opened once
// per CPU in its PMU's cpumask (the kernel lists one CPU per socket), with
// pid -1: counting the whole socket needs perf_event_paranoid <= 0 or
// CAP_PERFMON. Counts are scaled when the kernel multiplexed them.
#include "collect/sources/uncore.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/perf_events.hpp"
#include "collect/sources/sources.hpp"
#include "formats/locations.hpp"

namespace jobperf::collect {
namespace {

std::uint64_t parse_number(std::string_view text) {
  std::uint64_t v = 0;
  const bool hex = text.starts_with("0x") || text.starts_with("0X");
  if (hex) text.remove_prefix(2);
  std::from_chars(text.data(), text.data() + text.size(), v, hex ? 16 : 10);
  return v;
}

// Places `value` into the bits a format file names: "config:0-7",
// "config1:3", "config:0-7,32-35" (low bits of the value go to the first range).
bool place_bits(const std::string& format, std::uint64_t value, perf_event_attr& attr) {
  auto colon = format.find(':');
  if (colon == std::string::npos) return false;
  const std::string target = format.substr(0, colon);
  __u64* word = target == "config" ? &attr.config : target == "config1" ? &attr.config1
                      : target == "config2" ? &attr.config2 : nullptr;
  if (!word) return false;
  std::string_view ranges(format);
  ranges.remove_prefix(colon + 1);
  while (!ranges.empty()) {
    auto comma = ranges.find(',');
    auto range = ranges.substr(0, comma);
    auto dash = range.find('-');
    const auto low = parse_number(range.substr(0, dash));
    const auto high = dash == std::string_view::npos ? low : parse_number(range.substr(dash + 1));
    if (high < low || high > 63) return false;
    const unsigned width = static_cast<unsigned>(high - low + 1);
    const std::uint64_t mask = width == 64 ? ~0ull : (1ull << width) - 1;
    *word |= (value & mask) << low;
    value = width == 64 ? 0 : value >> width;
    ranges = comma == std::string_view::npos ? std::string_view{} : ranges.substr(comma + 1);
  }
  return true;
}

// The CPUs of a cpumask file: "0,28" or "0-1" (the latter is rare for uncore PMUs).
std::vector<int> cpus_of(const std::string& cpumask) {
  std::vector<int> cpus;
  std::string list(cpumask);
  std::replace(list.begin(), list.end(), ',', ' ');
  Tokens parts(list);
  for (auto part = parts.next(); !part.empty(); part = parts.next()) {
    auto dash = part.find('-');
    const auto low = static_cast<int>(to_u64(part.substr(0, dash)));
    const auto high = dash == std::string_view::npos ? low : static_cast<int>(to_u64(part.substr(dash + 1)));
    for (int c = low; c <= high; ++c) cpus.push_back(c);
  }
  return cpus;
}

// "uncore_imc_*" matches uncore_imc_0, uncore_imc_12; not uncore_imc_free_running_0.
bool matches_instance(const std::string& pattern, const std::string& name) {
  auto star = pattern.find('*');
  if (star == std::string::npos) return name == pattern;
  if (name.size() <= star || name.compare(0, star, pattern, 0, star) != 0) return false;
  auto suffix = pattern.substr(star + 1);
  if (name.size() < star + 1 + suffix.size() || !name.ends_with(suffix)) return false;
  auto digits = name.substr(star, name.size() - star - suffix.size());
  return !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos;
}

struct Counter {
  std::size_t field;
  int fd;
};

class UncoreSource final : public MetricSource {
 public:
  explicit UncoreSource(const SourceConfig& config)
      : devices_(config.sys_root + "/bus/event_source/devices"),
        paranoid_(std::atoi(read_line(config.proc_root + "/sys/kernel/perf_event_paranoid").c_str())) {
    if (auto path = find_share_file("events/uncore.events"); !path.empty()) events_ = read_event_set(path).events;
  }
  ~UncoreSource() override {
    for (const auto& c : counters_) close(c.fd);
  }

  std::string open() override {
    if (events_.empty()) return "no share/events/uncore.events";
    std::string last_problem;
    for (std::size_t f = 0; f < events_.size(); ++f) {
      const auto& [field, spec] = events_[f];
      const auto slash = spec.find('/');
      const std::string pattern = spec.substr(0, slash), event = spec.substr(slash + 1);
      for (const auto& pmu : list_directory(devices_)) {
        if (!matches_instance(pattern, pmu)) continue;
        if (auto why = open_event(f, devices_ + "/" + pmu, event); !why.empty()) last_problem = pmu + "/" + event + ": " + why;
      }
    }
    if (counters_.empty())
      return last_problem.empty() ? "no uncore memory-controller PMU under " + devices_ + " (not an Intel server CPU, or a VM)"
                                  : last_problem;
    if (!last_problem.empty()) warnings_.push_back("some uncore counters left out: " + last_problem);
    return "";
  }

  std::vector<std::string> warnings() const override { return warnings_; }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = "uncore";
    s.scope = stream::Scope::Node;
    for (const auto& [field, spec] : events_)
      s.fields.push_back({field, "1", "uncore event " + spec + ", all sockets and instances", stream::FieldType::F64,
                          stream::Aggregation::Counter});
    return s;
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    std::vector<double> totals(events_.size(), 0.0);
    for (const auto& c : counters_) {
      std::uint64_t value[3] = {};  // count, time enabled, time running
      if (read(c.fd, value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
        totals[c.field] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      totals[c.field] += scale_multiplexed(value[0], value[1], value[2]);
    }
    std::vector<std::uint64_t> raw;
    for (double v : totals) raw.push_back(stream::to_raw(v));
    sink(0, raw);
  }

 private:
  std::string open_event(std::size_t field, const std::string& pmu_dir, const std::string& event) {
    perf_event_attr attr{};
    if (auto why = encode_pmu_event(pmu_dir, event, attr); !why.empty()) return why;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    const auto cpus = cpus_of(read_line(pmu_dir + "/cpumask"));
    if (cpus.empty()) return "no cpumask";
    for (int cpu : cpus) {
      int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
      if (fd < 0) {
        const int error = errno;
        std::string why = std::strerror(error);
        if (error == EACCES || error == EPERM)
          why += " (system-wide counting needs perf_event_paranoid <= 0, it is " + std::to_string(paranoid_) +
                 ", or CAP_PERFMON)";
        return why;
      }
      counters_.push_back({field, fd});
    }
    return "";
  }

  std::string devices_;
  int paranoid_;
  std::vector<std::pair<std::string, std::string>> events_;
  std::vector<Counter> counters_;
  std::vector<std::string> warnings_;
};

}  // namespace

std::string encode_pmu_event(const std::string& pmu_dir, const std::string& event, perf_event_attr& attr) {
  attr = {};
  attr.size = sizeof attr;
  const auto type = read_line(pmu_dir + "/type");
  if (type.empty()) return "no PMU at " + pmu_dir;
  attr.type = static_cast<std::uint32_t>(to_u64(type));
  std::string terms = read_line(pmu_dir + "/events/" + event);
  if (terms.empty()) return "the kernel does not describe " + event + " for this PMU";
  std::replace(terms.begin(), terms.end(), ',', ' ');
  Tokens t(terms);
  for (auto term = t.next(); !term.empty(); term = t.next()) {
    auto eq = term.find('=');
    const std::string name(term.substr(0, eq));
    const std::uint64_t value = eq == std::string_view::npos ? 1 : parse_number(term.substr(eq + 1));
    const auto format = read_line(pmu_dir + "/format/" + name);
    if (format.empty() || !place_bits(format, value, attr)) return "cannot place term '" + name + "' (format/" + name + ")";
  }
  return "";
}

std::unique_ptr<MetricSource> make_uncore_source(const SourceConfig& config) {
  return std::make_unique<UncoreSource>(config);
}

}  // namespace jobperf::collect
