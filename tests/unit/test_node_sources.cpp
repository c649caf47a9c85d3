// Node sources for hardware this machine may lack, against fixture trees:
// RAPL (with a counter wrap), InfiniBand/Omni-Path, Lustre, uncore PMUs.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "tests/unit/fixtures.hpp"
#include "collect/node_facts.hpp"
#include "collect/sources/sources.hpp"
#include "collect/sources/uncore.hpp"

using namespace jobperf::collect;
using namespace jobperf::test;
namespace fs = std::filesystem;

namespace {


std::map<std::string, double> sample(MetricSource& source) {
  auto spec = source.describe();
  std::map<std::string, double> out;
  source.sample({}, [&](std::uint32_t, std::span<const std::uint64_t> values) {
    REQUIRE(values.size() == spec.fields.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      out[spec.fields[i].name] = jobperf::stream::raw_to_double(values[i], spec.fields[i].type);
  });
  return out;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("rapl: energy summed per domain over sockets, unwrapped, absent domains NaN") {
  auto dir = fs::temp_directory_path() / ("jobperf-sys-" + std::to_string(getpid()));
  fs::copy(kSys, dir, fs::copy_options::recursive);
  auto source = make_rapl_source(fixture_config(kProc, dir.string()));
  REQUIRE(source->open().empty());
  auto first = sample(*source);
  CHECK(first["package_energy"] == 0);  // energy since collection started
  CHECK(first["dram_energy"] == 0);
  CHECK(std::isnan(first["uncore_energy"]));
  CHECK(std::isnan(first["psys_energy"]));

  write(dir / "class/powercap/intel-rapl:0/energy_uj", "1500000\n");  // +0.5 J
  write(dir / "class/powercap/intel-rapl:1/energy_uj", "1000\n");     // wrapped past 262143328850
  write(dir / "class/powercap/intel-rapl:0:2/energy_uj", "1200000\n");
  auto second = sample(*source);
  CHECK(second["package_energy"] == Approx(0.5 + (1000 + 262143328850.0 - 3000000) * 1e-6));
  CHECK(second["dram_energy"] == Approx(1.0));
  CHECK(second["core_energy"] == 0);
  fs::remove_all(dir);
}

TEST_CASE("rapl: no zones means unavailable, with the place looked at") {
  auto source = make_rapl_source(fixture_config(kProc, "/nonexistent"));
  CHECK(source->open() == "no RAPL zones under /nonexistent/class/powercap");
}

TEST_CASE("infiniband: all ports summed, data counters in 4-byte words") {
  auto source = make_infiniband_source(fixture_config(kProc, kSys));
  REQUIRE(source->open().empty());
  auto v = sample(*source);
  CHECK(v["ib_rx_bytes"] == (1000 + 500) * 4);
  CHECK(v["ib_tx_bytes"] == 2 * 2000 * 4);
  CHECK(v["ib_rx_packets"] == 20);
  CHECK(v["ib_tx_packets"] == 40);
  CHECK(v["ib_symbol_errors"] == 4);
  CHECK(v["ib_tx_discards"] == 6);
  CHECK(make_infiniband_source(fixture_config(kProc, "/nonexistent"))->open().find("no InfiniBand") == 0);
}

TEST_CASE("lustre: llite and osc stats from /proc and debugfs, summed") {
  auto source = make_lustre_source(fixture_config(kProc, kSys));
  REQUIRE(source->open().empty());
  auto v = sample(*source);
  CHECK(v["read_bytes"] == 2101248 + 30);
  CHECK(v["reads"] == 6 + 2);
  CHECK(v["write_bytes"] == 1048578);
  CHECK(v["writes"] == 3);
  CHECK(v["opens"] == 12);
  CHECK(v["closes"] == 11);
  CHECK(v["getattrs"] == 30);
  CHECK(v["seeks"] == 4);  // a line without min/max/sum still counts
  CHECK(v["fsyncs"] == 1);
  CHECK(v["ost_read_rpcs"] == 7);
  CHECK(v["ost_write_rpcs"] == 5);
  CHECK(make_lustre_source(fixture_config("/nonexistent", "/nonexistent"))->open().find("no Lustre client") == 0);
}

TEST_CASE("node facts: CPU, microarchitecture, topology, memory, kernel, GPUs") {
  auto facts = node_facts(fixture_config(kProc, kSys));
  std::map<std::string, std::string> f(facts.begin(), facts.end());
  CHECK(f["hw.cpu_vendor"] == "GenuineIntel");
  CHECK(f["hw.cpu_model"] == "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz");
  CHECK(f["hw.microarchitecture"] == "skylake-x");
  CHECK(f["hw.sockets"] == "2");
  CHECK(f["hw.cores"] == "4");
  CHECK(f["hw.threads"] == "4");
  CHECK(f["hw.numa_nodes"] == "2");
  CHECK(f["hw.memory_bytes"] == std::to_string(16000000ull * 1024));
  CHECK(f["hw.kernel"] == "6.1.0-hpc");
  CHECK(f["hw.gpus"] == "NVIDIA A100-SXM4-40GB");
  CHECK(microarchitecture("AuthenticAMD", 25, 1) == "zen3");
  CHECK(microarchitecture("GenuineIntel", 6, 1).empty());
}

TEST_CASE("uncore: events are encoded from the kernel's own PMU descriptions") {
  perf_event_attr attr;
  const std::string imc = kSys + "/bus/event_source/devices/uncore_imc_1";
  REQUIRE(encode_pmu_event(imc, "cas_count_write", attr).empty());
  CHECK(attr.type == 14);
  CHECK(attr.config == 0x0c04);  // umask 0x0c in bits 8-15, event 0x04 in bits 0-7
  CHECK(encode_pmu_event(imc, "no_such_event", attr) == "the kernel does not describe no_such_event for this PMU");
  CHECK(encode_pmu_event(kSys + "/nonexistent", "cas_count_read", attr).find("no PMU at") == 0);

  // A term split over two bit ranges, a flag term without a value, and config1.
  auto dir = fs::temp_directory_path() / ("jobperf-pmu-" + std::to_string(getpid()));
  fs::create_directories(dir / "format");
  fs::create_directories(dir / "events");
  write(dir / "type", "25\n");
  write(dir / "format" / "event", "config:0-3,8-11\n");
  write(dir / "format" / "edge", "config:18\n");
  write(dir / "format" / "filter", "config1:0-15\n");
  write(dir / "events" / "split", "event=0xab,edge,filter=0x1234\n");
  REQUIRE(encode_pmu_event(dir.string(), "split", attr).empty());
  CHECK(attr.config == ((0xbull) | (0xaull << 8) | (1ull << 18)));
  CHECK(attr.config1 == 0x1234);
  write(dir / "events" / "unknown_term", "colour=3\n");
  CHECK(encode_pmu_event(dir.string(), "unknown_term", attr) == "cannot place term 'colour' (format/colour)");
  fs::remove_all(dir);
}

TEST_CASE("uncore: without memory-controller PMUs the source says so; with them it opens each per socket") {
  CHECK(make_uncore_source(fixture_config(kProc, "/nonexistent"))->open() ==
        "no uncore memory-controller PMU under /nonexistent/bus/event_source/devices (not an Intel server CPU, or a VM)");
  auto fixture = make_uncore_source(fixture_config(kProc, kSys));
  const auto spec = fixture->describe();
  REQUIRE(spec.fields.size() == 2);
  CHECK(spec.fields[0].name == "cas_count_read");
  CHECK(spec.scope == jobperf::stream::Scope::Node);
  // The fixture's PMU types are made up: on this machine they are refused (or
  // belong to some other PMU), and a refusal names the PMU and event.
  const auto why = fixture->open();
  if (!why.empty()) CHECK((why.find("uncore_imc_0/") == 0 || why.find("uncore_imc_1/") == 0));
}

TEST_CASE("uncore: the counting path, with the software PMU posing as a memory controller") {
  // type 1 is PERF_TYPE_SOFTWARE and config 0 its cpu-clock: counted
  // system-wide on CPU 0 it advances by the nanoseconds that pass.
  auto root = fs::temp_directory_path() / ("jobperf-uncore-" + std::to_string(getpid()));
  const auto pmu = root / "bus/event_source/devices/uncore_imc_0";
  fs::create_directories(pmu / "format");
  fs::create_directories(pmu / "events");
  write(pmu / "type", "1\n");
  write(pmu / "cpumask", "0\n");
  write(pmu / "format" / "config", "config:0-63\n");
  write(pmu / "events" / "cas_count_read", "config=0\n");
  write(pmu / "events" / "cas_count_write", "config=0\n");
  auto source = make_uncore_source(fixture_config("/proc", root.string()));
  const auto why = source->open();
  fs::remove_all(root);
  if (!why.empty()) {
    CHECK(why.find("perf_event_paranoid") != std::string::npos);  // not root here: say why, as users see it
    WARN("uncore counting path not run: " << why);
    return;
  }
  auto first = sample(*source);
  usleep(50'000);
  auto second = sample(*source);
  const double elapsed = second["cas_count_read"] - first["cas_count_read"];
  CHECK(elapsed > 40e6);
  CHECK(elapsed < 1e9);
}
