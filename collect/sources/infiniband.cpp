// InfiniBand and Omni-Path port counters from
// /sys/class/infiniband/<device>/ports/<port>/counters, summed over every
// port of every device. The data counters count 4-byte words (IBTA), so
// they are multiplied by 4 to give bytes.
#include <array>
#include <cstring>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

struct Counter {
  const char* file;
  const char* field;
  const char* units;
  const char* description;
  std::uint64_t scale;
};

constexpr std::array<Counter, 8> kCounters = {{
    {"port_rcv_data", "ib_rx_bytes", "bytes", "bytes received, all ports", 4},
    {"port_xmit_data", "ib_tx_bytes", "bytes", "bytes sent, all ports", 4},
    {"port_rcv_packets", "ib_rx_packets", "1", "packets received, all ports", 1},
    {"port_xmit_packets", "ib_tx_packets", "1", "packets sent, all ports", 1},
    {"port_rcv_errors", "ib_rx_errors", "1", "received packets with errors", 1},
    {"symbol_error", "ib_symbol_errors", "1", "minor link errors", 1},
    {"link_downed", "ib_link_downed", "1", "times the link went down", 1},
    {"port_xmit_discards", "ib_tx_discards", "1", "outbound packets discarded", 1},
}};

class InfinibandSource final : public MetricSource {
 public:
  explicit InfinibandSource(const SourceConfig& config) : root_(config.sys_root + "/class/infiniband") {}

  std::string open() override {
    for (const auto& device : list_directory(root_))
      for (const auto& port : list_directory(root_ + "/" + device + "/ports")) {
        const std::string dir = root_ + "/" + device + "/ports/" + port + "/counters/";
        Port p;
        bool any = false;
        for (std::size_t c = 0; c < kCounters.size(); ++c) {
          p.files[c] = KeptOpenFile(dir + kCounters[c].file);
          any = any || p.files[c].is_open();
        }
        if (any) ports_.push_back(std::move(p));
      }
    return ports_.empty() ? "no InfiniBand or Omni-Path ports under " + root_ : "";
  }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = "infiniband";
    s.scope = stream::Scope::Node;
    for (const auto& c : kCounters)
      s.fields.push_back({c.field, c.units, c.description, stream::FieldType::U64, stream::Aggregation::Counter});
    return s;
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    std::array<std::uint64_t, kCounters.size()> v{};
    for (auto& p : ports_)
      for (std::size_t c = 0; c < kCounters.size(); ++c)
        if (auto text = p.files[c].read(buffer_); !text.empty()) v[c] += to_u64(text) * kCounters[c].scale;
    sink(0, v);
  }

 private:
  struct Port {
    std::array<KeptOpenFile, kCounters.size()> files;
  };
  std::string root_;
  std::string buffer_;
  std::vector<Port> ports_;
};

}  // namespace

std::unique_ptr<MetricSource> make_infiniband_source(const SourceConfig& config) {
  return std::make_unique<InfinibandSource>(config);
}

}  // namespace jobperf::collect
