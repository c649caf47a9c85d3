// Node-wide procfs source: CPU time by mode (/proc/stat), memory
// (/proc/meminfo), network (/proc/net/dev, all interfaces but loopback),
// block I/O (/proc/diskstats, whole disks only) and load (/proc/loadavg).
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

using stream::Aggregation;
using stream::FieldType;

enum Field : std::size_t {
  kCpuUser, kCpuNice, kCpuSystem, kCpuIdle, kCpuIowait, kCpuIrq, kCpuSoftirq, kCpuSteal,
  kContextSwitches, kForks, kProcsRunning, kProcsBlocked,
  kMemTotal, kMemFree, kMemAvailable, kBuffers, kCached, kSwapTotal, kSwapFree, kDirty,
  kNetRxBytes, kNetTxBytes, kNetRxPackets, kNetTxPackets,
  kDiskReads, kDiskReadBytes, kDiskWrites, kDiskWriteBytes, kDiskBusy,
  kLoad1, kLoad5, kLoad15,
  kFieldCount
};

stream::SourceSpec node_spec() {
  constexpr auto U = FieldType::U64, F = FieldType::F64;
  constexpr auto G = Aggregation::Gauge, C = Aggregation::Counter;
  stream::SourceSpec s;
  s.name = "procfs.node";
  s.scope = stream::Scope::Node;
  s.fields = {
      {"cpu_user", "ns", "CPU time in user mode, all CPUs", U, C},
      {"cpu_nice", "ns", "CPU time in user mode at low priority, all CPUs", U, C},
      {"cpu_system", "ns", "CPU time in kernel mode, all CPUs", U, C},
      {"cpu_idle", "ns", "idle CPU time, all CPUs", U, C},
      {"cpu_iowait", "ns", "idle CPU time waiting for I/O, all CPUs", U, C},
      {"cpu_irq", "ns", "CPU time serving interrupts, all CPUs", U, C},
      {"cpu_softirq", "ns", "CPU time serving softirqs, all CPUs", U, C},
      {"cpu_steal", "ns", "CPU time stolen by the hypervisor, all CPUs", U, C},
      {"context_switches", "1", "context switches", U, C},
      {"forks", "1", "processes and threads created", U, C},
      {"procs_running", "1", "runnable tasks", U, G},
      {"procs_blocked", "1", "tasks blocked on I/O", U, G},
      {"mem_total", "bytes", "MemTotal", U, G},
      {"mem_free", "bytes", "MemFree", U, G},
      {"mem_available", "bytes", "MemAvailable", U, G},
      {"buffers", "bytes", "Buffers", U, G},
      {"cached", "bytes", "Cached (page cache)", U, G},
      {"swap_total", "bytes", "SwapTotal", U, G},
      {"swap_free", "bytes", "SwapFree", U, G},
      {"dirty", "bytes", "Dirty (waiting for writeback)", U, G},
      {"net_rx_bytes", "bytes", "bytes received, all interfaces but loopback", U, C},
      {"net_tx_bytes", "bytes", "bytes sent, all interfaces but loopback", U, C},
      {"net_rx_packets", "1", "packets received, all interfaces but loopback", U, C},
      {"net_tx_packets", "1", "packets sent, all interfaces but loopback", U, C},
      {"disk_reads", "1", "reads completed, whole disks", U, C},
      {"disk_read_bytes", "bytes", "bytes read, whole disks", U, C},
      {"disk_writes", "1", "writes completed, whole disks", U, C},
      {"disk_write_bytes", "bytes", "bytes written, whole disks", U, C},
      {"disk_busy", "ns", "time disks were busy, summed over disks", U, C},
      {"load1", "1", "load average, 1 minute", F, G},
      {"load5", "1", "load average, 5 minutes", F, G},
      {"load15", "1", "load average, 15 minutes", F, G},
  };
  return s;
}

using Values = std::array<std::uint64_t, kFieldCount>;

void parse_stat(std::string_view text, Values& v) {
  const std::uint64_t ns_per_tick = 1'000'000'000ull / static_cast<std::uint64_t>(clock_ticks_per_second());
  Tokens t(text);
  if (t.next() != "cpu") return;
  for (std::size_t f = kCpuUser; f <= kCpuSteal; ++f) v[f] = to_u64(t.next()) * ns_per_tick;
  std::size_t hint = 0;
  auto keyed = [&](std::string_view key, std::size_t field) {
    auto pos = text.find(std::string("\n").append(key).append(" "), hint);
    if (pos == std::string_view::npos) return;
    Tokens rest(text.substr(pos + key.size() + 2));
    v[field] = to_u64(rest.next());
    hint = pos;
  };
  keyed("ctxt", kContextSwitches);
  keyed("processes", kForks);
  keyed("procs_running", kProcsRunning);
  keyed("procs_blocked", kProcsBlocked);
}

void parse_meminfo(std::string_view text, Values& v) {
  std::size_t hint = 0;
  const std::pair<std::string_view, std::size_t> keys[] = {
      {"MemTotal", kMemTotal}, {"MemFree", kMemFree},     {"MemAvailable", kMemAvailable}, {"Buffers", kBuffers},
      {"Cached", kCached},     {"SwapTotal", kSwapTotal}, {"SwapFree", kSwapFree},         {"Dirty", kDirty}};
  for (auto [key, field] : keys)
    if (keyed_value(text, key, v[field], hint)) v[field] *= 1024;  // meminfo is in kB
}

void parse_net_dev(std::string_view text, Values& v) {
  std::size_t line_start = 0;
  for (int line = 0; line_start < text.size(); ++line) {
    auto end = text.find('\n', line_start);
    if (end == std::string_view::npos) end = text.size();
    auto row = text.substr(line_start, end - line_start);
    line_start = end + 1;
    auto colon = row.find(':');
    if (line < 2 || colon == std::string_view::npos) continue;  // two header lines
    Tokens name(row.substr(0, colon));
    if (name.next() == "lo") continue;
    Tokens t(row.substr(colon + 1));
    std::uint64_t c[16];
    for (auto& x : c) x = to_u64(t.next());
    v[kNetRxBytes] += c[0];
    v[kNetRxPackets] += c[1];
    v[kNetTxBytes] += c[8];
    v[kNetTxPackets] += c[9];
  }
}

class NodeProcfsSource final : public MetricSource {
 public:
  explicit NodeProcfsSource(const SourceConfig& config) : proc_(config.proc_root), sys_(config.sys_root) {}
  stream::SourceSpec describe() const override { return node_spec(); }

  std::string open() override {
    stat_ = KeptOpenFile(proc_ + "/stat");
    meminfo_ = KeptOpenFile(proc_ + "/meminfo");
    loadavg_ = KeptOpenFile(proc_ + "/loadavg");
    net_dev_ = KeptOpenFile(proc_ + "/net/dev");
    diskstats_ = KeptOpenFile(proc_ + "/diskstats");
    if (!stat_.is_open()) return proc_ + "/stat: cannot open: " + std::strerror(stat_.error());
    return "";
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    Values v{};
    parse_stat(stat_.read(buffer_), v);
    parse_meminfo(meminfo_.read(buffer_), v);
    parse_net_dev(net_dev_.read(buffer_), v);
    parse_diskstats(diskstats_.read(buffer_), v);
    Tokens load(loadavg_.read(buffer_));
    for (std::size_t f = kLoad1; f <= kLoad15; ++f) v[f] = stream::to_raw(std::strtod(std::string(load.next()).c_str(), nullptr));
    sink(0, v);
  }

 private:
  // Partitions would count their disk's I/O twice: only devices that
  // /sys/block lists (whole disks) are summed; loop and ram devices are not.
  bool is_whole_disk(std::string_view name) {
    std::string key(name);
    auto it = whole_disk_.find(key);
    if (it != whole_disk_.end()) return it->second;
    bool whole = !key.starts_with("loop") && !key.starts_with("ram") && access((sys_ + "/block/" + key).c_str(), F_OK) == 0;
    return whole_disk_[key] = whole;
  }

  void parse_diskstats(std::string_view text, Values& v) {
    std::size_t line_start = 0;
    while (line_start < text.size()) {
      auto end = text.find('\n', line_start);
      if (end == std::string_view::npos) end = text.size();
      Tokens t(text.substr(line_start, end - line_start));
      line_start = end + 1;
      t.next();
      t.next();
      auto name = t.next();
      if (name.empty() || !is_whole_disk(name)) continue;
      std::uint64_t c[10];
      for (auto& x : c) x = to_u64(t.next());
      v[kDiskReads] += c[0];
      v[kDiskReadBytes] += c[2] * 512;  // sectors are always 512 bytes in diskstats
      v[kDiskWrites] += c[4];
      v[kDiskWriteBytes] += c[6] * 512;
      v[kDiskBusy] += c[9] * 1'000'000;  // ms
    }
  }

  std::string proc_, sys_;
  std::string buffer_;
  KeptOpenFile stat_, meminfo_, loadavg_, net_dev_, diskstats_;
  std::unordered_map<std::string, bool> whole_disk_;
};

}  // namespace

std::unique_ptr<MetricSource> make_node_procfs_source(const SourceConfig& config) {
  return std::make_unique<NodeProcfsSource>(config);
}

}  // namespace jobperf::collect
