// GPU memory held by each watched process, summed over the node's GPUs
// (NVML's compute-process list).
#include <unordered_map>

#include "collect/metric_source.hpp"
#include "collect/nvml.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

class NvidiaProcessSource final : public MetricSource {
 public:
  explicit NvidiaProcessSource(const SourceConfig&) {}
  std::string open() override { return nvml::open(); }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = "nvidia_process";
    s.scope = stream::Scope::Process;
    s.fields = {{"gpu_memory", "bytes", "GPU memory held, all GPUs", stream::FieldType::U64, stream::Aggregation::Gauge}};
    return s;
  }

  // Every watched process gets a value each tick (0 when it holds none), so
  // memory it frees shows as freed.
  void sample(const SampleContext& ctx, const RecordSink& sink) override {
    std::unordered_map<std::uint32_t, std::uint64_t> held;
    for (auto [pid, bytes] : nvml::process_memory()) held[pid] = bytes;
    for (const auto& p : ctx.processes) {
      std::uint64_t v[1] = {held.count(p.pid) ? held[p.pid] : 0};
      sink(p.pid, v);
    }
  }
};

}  // namespace

std::unique_ptr<MetricSource> make_nvidia_process_source(const SourceConfig& config) {
  return std::make_unique<NvidiaProcessSource>(config);
}

}  // namespace jobperf::collect
