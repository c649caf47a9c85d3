// The NVML sources through their real dlopen path, against a fake
// libnvidia-ml (tests/fakes/fake_nvml.cpp), and without any.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <map>

#include "collect/node_facts.hpp"
#include "collect/nvml.hpp"
#include "collect/sources/sources.hpp"

using namespace jobperf::collect;

namespace {
using Values = std::map<std::uint32_t, std::map<std::string, double>>;
Values sample(MetricSource& source, std::vector<WatchedProcess> processes = {}) {
  auto spec = source.describe();
  Values out;
  SampleContext ctx;
  ctx.processes = processes;
  source.sample(ctx, [&](std::uint32_t subject, std::span<const std::uint64_t> v) {
    for (std::size_t i = 0; i < v.size(); ++i)
      out[subject][spec.fields[i].name] = jobperf::stream::raw_to_double(v[i], spec.fields[i].type);
  });
  return out;
}
constexpr double GiB = 1u << 30;
}  // namespace

TEST_CASE("nvidia: without libnvidia-ml the sources say so, and nothing else breaks") {
  setenv("JOBPERF_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  auto source = make_nvidia_gpu_source({});
  CHECK(source->open() == "/nonexistent/libnvidia-ml.so.1 not found (no NVIDIA driver on this node)");
}

TEST_CASE("nvidia: node totals and per-GPU records from NVML") {
  setenv("JOBPERF_NVML_LIBRARY", JOBPERF_FAKE_NVML, 1);
  auto source = make_nvidia_gpu_source({});
  REQUIRE(source->open().empty());
  CHECK(nvml::gpu_names() == std::vector<std::string>{"NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"});
  auto v = sample(*source);
  REQUIRE(v.size() == 3);  // the node and two GPUs
  auto& node = v[0];
  CHECK(node["gpus"] == 2);
  CHECK(node["utilization"] == 50);  // mean of 80 and 20
  CHECK(node["memory_utilization"] == 25);
  CHECK(node["memory_used"] == 12 * GiB);
  CHECK(node["memory_total"] == 80 * GiB);
  CHECK(node["power"] == 350);  // 250 + 100 W
  CHECK(node["energy"] == v[1]["energy"]);  // only GPU 0 can tell
  CHECK(std::isnan(v[2]["energy"]));
  CHECK(node["sm_clock"] == 1205);
  CHECK(node["temperature"] == 70);  // the hottest
  CHECK(node["pcie_tx"] == 1000 * 1024.0);
  CHECK(node["pcie_rx"] == 2000 * 1024.0);
  CHECK(node["ecc_corrected"] == 4);
  CHECK(node["ecc_uncorrected"] == 2);
  CHECK(node["throttled_gpus"] == 1);  // GPU 1 is power-capped; GPU 0 is only idle
  CHECK(v[1]["throttled_gpus"] == 0);
  auto again = sample(*source);
  CHECK(again[0]["energy"] - node["energy"] == Approx(250.0));  // 250 J between reads
}

TEST_CASE("nvidia: GPU memory per watched process, 0 when it holds none") {
  setenv("JOBPERF_NVML_LIBRARY", JOBPERF_FAKE_NVML, 1);
  auto source = make_nvidia_process_source({});
  REQUIRE(source->open().empty());
  auto v = sample(*source, {{4242, 0}, {5000, 0}, {6000, 0}});
  CHECK(v[4242]["gpu_memory"] == 1.5 * GiB);
  CHECK(v[5000]["gpu_memory"] == 0.25 * GiB);
  CHECK(v[6000]["gpu_memory"] == 0);
}

TEST_CASE("nvidia: on a live node the hardware facts name every GPU as NVML does") {
  setenv("JOBPERF_NVML_LIBRARY", JOBPERF_FAKE_NVML, 1);
  REQUIRE(nvml::open().empty());
  auto facts = node_facts(SourceConfig{});
  std::map<std::string, std::string> f(facts.begin(), facts.end());
  CHECK(f["hw.gpus"] == "NVIDIA A100-SXM4-40GB, NVIDIA A100-SXM4-40GB");
}
