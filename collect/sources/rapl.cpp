// RAPL energy through the powercap sysfs interface: package, core, uncore,
// DRAM and platform (psys) domains, each summed over sockets. energy_uj
// wraps at max_energy_range_uj; the source unwraps it, so the stream holds a
// monotonic energy in joules since collection started (valid while samples
// are closer than one wrap, minutes at full power).
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

constexpr std::array<const char*, 5> kDomains = {"package", "core", "uncore", "dram", "psys"};

struct Zone {
  std::size_t domain;
  KeptOpenFile energy;
  std::uint64_t range_uj = 0;
  std::uint64_t last_uj = 0;
  bool primed = false;
  double total_j = 0;
};

// "package-0" -> package, "dram" -> dram; -1 for a domain we do not know.
int domain_of(const std::string& name) {
  for (std::size_t d = 0; d < kDomains.size(); ++d)
    if (name.rfind(kDomains[d], 0) == 0) return static_cast<int>(d);
  return -1;
}

class RaplSource final : public MetricSource {
 public:
  explicit RaplSource(const SourceConfig& config) : root_(config.sys_root + "/class/powercap") {}

  std::string open() override {
    std::string refused;
    for (const auto& entry : list_directory(root_)) {
      if (entry.find("rapl:") == std::string::npos) continue;  // zones only, not the control type
      const std::string dir = root_ + "/" + entry;
      int domain = domain_of(read_line(dir + "/name"));
      if (domain < 0) continue;
      Zone z{static_cast<std::size_t>(domain), KeptOpenFile(dir + "/energy_uj")};
      z.range_uj = to_u64(read_line(dir + "/max_energy_range_uj"));
      if (!z.energy.is_open()) {
        refused = dir + "/energy_uj: " + std::strerror(z.energy.error()) +
                  (z.energy.error() == EACCES ? " (root only since Linux 5.10; a udev rule or root can open it)" : "");
        continue;
      }
      present_[z.domain] = true;
      zones_.push_back(std::move(z));
    }
    if (!zones_.empty()) return "";
    return refused.empty() ? "no RAPL zones under " + root_ : refused;
  }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = "rapl";
    s.scope = stream::Scope::Node;
    for (auto* d : kDomains)
      s.fields.push_back({std::string(d) + "_energy", "J", std::string("RAPL ") + d + " energy, all sockets",
                          stream::FieldType::F64, stream::Aggregation::Counter});
    return s;
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    std::array<double, kDomains.size()> energy;
    for (std::size_t d = 0; d < kDomains.size(); ++d)
      energy[d] = present_[d] ? 0.0 : std::numeric_limits<double>::quiet_NaN();
    for (auto& z : zones_) {
      auto text = z.energy.read(buffer_);
      if (text.empty()) continue;
      std::uint64_t now = to_u64(text);
      if (z.primed) z.total_j += static_cast<double>(now >= z.last_uj ? now - z.last_uj : now + z.range_uj - z.last_uj) * 1e-6;
      z.last_uj = now;
      z.primed = true;
      energy[z.domain] += z.total_j;
    }
    std::array<std::uint64_t, kDomains.size()> raw;
    for (std::size_t d = 0; d < kDomains.size(); ++d) raw[d] = stream::to_raw(energy[d]);
    sink(0, raw);
  }

 private:
  std::string root_;
  std::string buffer_;
  std::vector<Zone> zones_;
  std::array<bool, kDomains.size()> present_{};
};

}  // namespace

std::unique_ptr<MetricSource> make_rapl_source(const SourceConfig& config) {
  return std::make_unique<RaplSource>(config);
}

}  // namespace jobperf::collect
