// Node sources for hardware this machine may lack, against fixture trees:
// RAPL (with a counter wrap), InfiniBand/Omni-Path, Lustre.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "tests/unit/fixtures.hpp"
#include "collect/node_facts.hpp"
#include "collect/sources/sources.hpp"

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
