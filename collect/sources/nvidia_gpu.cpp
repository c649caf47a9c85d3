// NVIDIA GPUs of the node through NVML: utilisation, memory, power, energy,
// clocks, temperature, PCIe throughput, ECC errors, throttling. One record
// for the node (subject 0: sums, means or maxima over GPUs) and one per GPU
// (subject = GPU index + 1).
#include <algorithm>
#include <array>
#include <cmath>

#include "collect/metric_source.hpp"
#include "collect/nvml.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

using stream::Aggregation;
using stream::FieldType;

class NvidiaGpuSource final : public MetricSource {
 public:
  explicit NvidiaGpuSource(const SourceConfig&) {}
  std::string open() override { return nvml::open(); }

  stream::SourceSpec describe() const override {
    constexpr auto F = FieldType::F64;
    constexpr auto G = Aggregation::Gauge, C = Aggregation::Counter;
    stream::SourceSpec s;
    s.name = "nvidia_gpu";
    s.scope = stream::Scope::Node;
    s.fields = {
        {"gpus", "1", "GPUs", F, G},
        {"utilization", "%", "time a kernel ran, mean over GPUs", F, G},
        {"memory_utilization", "%", "time memory was read or written, mean over GPUs", F, G},
        {"memory_used", "bytes", "GPU memory in use, the driver's reserve left out, all GPUs", F, G},
        {"memory_total", "bytes", "GPU memory, all GPUs", F, G},
        {"power", "W", "power draw, all GPUs", F, G},
        {"energy", "J", "energy since the driver loaded, all GPUs (NaN if unsupported)", F, C},
        {"sm_clock", "MHz", "SM clock, mean over GPUs", F, G},
        {"memory_clock", "MHz", "memory clock, mean over GPUs", F, G},
        {"temperature", "Cel", "GPU temperature, hottest GPU", F, G},
        {"pcie_tx", "bytes/s", "PCIe bytes sent per second, all GPUs", F, G},
        {"pcie_rx", "bytes/s", "PCIe bytes received per second, all GPUs", F, G},
        {"ecc_corrected", "1", "corrected ECC errors since the driver loaded, all GPUs", F, C},
        {"ecc_uncorrected", "1", "uncorrected ECC errors since the driver loaded, all GPUs", F, C},
        {"throttled_gpus", "1", "GPUs slowed for power, heat or other reasons", F, G},
    };
    return s;
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    auto gpus = nvml::sample_gpus();
    if (gpus.empty()) return;
    std::array<double, 15> node{};
    node[0] = static_cast<double>(gpus.size());
    double energy = 0;
    bool any_energy = false;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
      const auto& g = gpus[i];
      std::array<double, 15> one = {1, g.utilization, g.memory_utilization, g.memory_used, g.memory_total, g.power_w,
                                    g.energy_j, g.sm_clock_mhz, g.memory_clock_mhz, g.temperature_c, g.pcie_tx,
                                    g.pcie_rx, g.ecc_corrected, g.ecc_uncorrected, g.throttled ? 1.0 : 0.0};
      emit(static_cast<std::uint32_t>(i + 1), one, sink);
      for (std::size_t f : {3, 4, 5, 10, 11, 12, 13, 14}) node[f] += one[f];
      for (std::size_t f : {1, 2, 7, 8}) node[f] += one[f] / static_cast<double>(gpus.size());
      node[9] = std::max(node[9], one[9]);
      if (!std::isnan(g.energy_j)) energy += g.energy_j, any_energy = true;
    }
    node[6] = any_energy ? energy : std::nan("");
    emit(0, node, sink);
  }

 private:
  static void emit(std::uint32_t subject, const std::array<double, 15>& v, const RecordSink& sink) {
    std::array<std::uint64_t, 15> raw;
    for (std::size_t i = 0; i < v.size(); ++i) raw[i] = stream::to_raw(v[i]);
    sink(subject, raw);
  }
};

}  // namespace

std::unique_ptr<MetricSource> make_nvidia_gpu_source(const SourceConfig& config) {
  return std::make_unique<NvidiaGpuSource>(config);
}

}  // namespace jobperf::collect
