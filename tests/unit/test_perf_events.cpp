// The perf_event source: multiplex scaling, every shipped event set (encoded
// with libpfm4 for its own PMU, whatever this machine's CPU), software
// events counting a real process, threads started later included, and
// user-level counting where kernel code may not be counted.
#include <linux/capability.h>
#include <perfmon/pfmlib_perf_event.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "collect/sources/perf_events.hpp"
#include "collect/sources/sources.hpp"
#include "formats/locations.hpp"
#include "reduce/formulas.hpp"
#include "tests/unit/fixtures.hpp"

using namespace jobperf;
using namespace jobperf::collect;

TEST_CASE("perf: counts are scaled by enabled/running time") {
  CHECK(scale_multiplexed(100, 1000, 1000) == 100);
  CHECK(scale_multiplexed(100, 1000, 250) == 400);  // ran a quarter of the time
  CHECK(std::isnan(scale_multiplexed(0, 1000, 0)));  // never scheduled: unknown
  CHECK(scale_multiplexed(0, 0, 0) == 0);            // its task has not run yet
}

TEST_CASE("perf: PAPI presets map to libpfm4 names") {
  CHECK(papi_to_libpfm("PAPI_TOT_INS") == "perf::INSTRUCTIONS");
  CHECK(papi_to_libpfm("INST_RETIRED:ANY_P") == "INST_RETIRED:ANY_P");
}

namespace {

// Encodes every event of `set` for its PMU in a child process: libpfm4 keeps
// per-model state across re-initialisation, so each PMU gets a fresh one.
// The child may inherit a libpfm4 that an earlier test started for the host
// (the forced PMU would then never be read), so it ends that one first.
// Returns the events that failed, one per line.
std::string encode_in_child(const EventSet& set) {
  int status = 0;
  auto failed = jobperf::test::output_of_child([&](int out) {
    pfm_terminate();
    setenv("LIBPFM_FORCE_PMU", set.pmu.c_str(), 1);  // as if on that CPU
    std::string failed = pfm_initialize() == PFM_SUCCESS ? "" : "libpfm4 does not start\n";
    for (const auto& [field, event] : set.events) {
      perf_event_attr attr{};
      pfm_perf_encode_arg_t arg{};
      arg.attr = &attr;
      arg.size = sizeof arg;
      int rc = pfm_get_os_event_encoding(event.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
      if (rc != PFM_SUCCESS) failed += event + ": " + pfm_strerror(rc) + "\n";
    }
    if (write(out, failed.data(), failed.size()) < 0) _exit(2);
  }, status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed += "the encoding child failed\n";
  return failed;
}

}  // namespace

TEST_CASE("every event set encodes for its PMU and its formulas use only its events") {
  std::size_t sets = 0;
  for (const auto& dir : share_directories()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir + "/events", ec)) {
      if (entry.path().extension() != ".events") continue;
      auto set = read_event_set(entry.path().string());
      INFO(set.path << " (pmu " << set.pmu << ")");
      REQUIRE_FALSE(set.pmu.empty());
      REQUIRE_FALSE(set.events.empty());
      if (set.pmu == "kernel") {  // kernel PMU event names (uncore.events), encoded from sysfs where they run
        for (const auto& [field, event] : set.events) CHECK(event.find('/') != std::string::npos);
      } else {
        CHECK(encode_in_child(set) == "");
      }
      auto metrics = reduce::parse_metrics_file(set.path);
      REQUIRE_FALSE(metrics.empty());
      for (const auto& m : metrics)
        for (const auto& [field, rate] : m.inputs) {
          INFO(m.name << " uses " << field);
          CHECK(rate);  // perf events are counters
          CHECK(std::any_of(set.events.begin(), set.events.end(), [&](auto& e) { return e.first == field; }));
        }
      ++sets;
    }
    if (sets) break;  // the first share directory that has them
  }
  CHECK(sets >= 8);
}

TEST_CASE("perf: the Skylake-X DP MFLOP/s formula gives LIKWID's answer exactly") {
  auto metrics = reduce::parse_metrics_file(find_share_file("events/skylake-x.events"));
  auto dp = std::find_if(metrics.begin(), metrics.end(), [](auto& m) { return m.name == "dp_mflops"; });
  REQUIRE(dp != metrics.end());
  // Per second: 1e6 scalar, 2e6 128-bit (x2), 3e6 256-bit (x4), 4e6 512-bit (x8) -> 1 + 4 + 12 + 32 = 49 MFLOP/s.
  std::map<std::string, std::vector<double>> rates = {{"fp_scalar_double", {1e6}},
                                                      {"fp_128b_packed_double", {2e6}},
                                                      {"fp_256b_packed_double", {3e6}},
                                                      {"fp_512b_packed_double", {4e6}}};
  auto out = reduce::evaluate(*dp, 1, [&](const std::string& f, bool) { return &rates.at(f); });
  CHECK(out[0] == Approx(49.0));
}

TEST_CASE("perf: software events count a process and the threads it starts later") {
  auto source = make_perf_events_source(SourceConfig{});
  const auto why = source->open();
  INFO("perf_event_open is refused here: " << why);
  REQUIRE(why.empty());  // software events need no PMU: this must work on any Linux >= 5.13
  auto spec = source->describe();

  int go[2], done[2];
  REQUIRE(pipe(go) == 0);
  REQUIRE(pipe(done) == 0);
  pid_t child = fork();
  if (child == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    auto burn = [] {  // 200 ms of this thread's CPU time, however busy the machine is
      volatile double x = 0;
      timespec ts{};
      do {
        for (int i = 0; i < 10000; ++i) x = x + 1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      } while (ts.tv_sec * 1'000'000'000L + ts.tv_nsec < 200'000'000L);
    };
    burn();
    std::thread t(burn);  // started after the counters were opened
    t.join();
    std::vector<char> pages(4096 * 1000);
    for (std::size_t i = 0; i < pages.size(); i += 4096) pages[i] = 1;
    if (write(done[1], "x", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  std::map<std::string, double> last;
  auto sample = [&] {
    std::vector<WatchedProcess> watched = {{static_cast<std::uint32_t>(child), 0}};
    SampleContext ctx;
    ctx.processes = watched;
    source->sample(ctx, [&](std::uint32_t, std::span<const std::uint64_t> v) {
      for (std::size_t i = 0; i < v.size(); ++i) last[spec.fields[i].name] = stream::raw_to_double(v[i], spec.fields[i].type);
    });
  };
  sample();  // attaches
  REQUIRE(write(go[1], "x", 1) == 1);
  char c;
  REQUIRE(read(done[0], &c, 1) == 1);
  sample();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK(last["task_clock"] >= 0.39e9);  // 0.2 s of CPU in the main thread + 0.2 s in the later thread
  CHECK(last["page_faults"] >= 1000);
  // Counted in kernel code (where allowed): the join blocked, a switch. At user level alone it would read 0.
  if (last.contains("context_switches")) CHECK(last["context_switches"] >= 1);
}

namespace {
// Drops the capabilities that allow counting kernel code (CAP_PERFMON, and
// CAP_SYS_ADMIN, which implies it), as an unprivileged user lacks them.
void drop_perf_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return;
  for (unsigned cap : {unsigned{CAP_SYS_ADMIN}, unsigned{CAP_PERFMON}}) {
    data[cap / 32].effective &= ~(1u << (cap % 32));
    data[cap / 32].permitted &= ~(1u << (cap % 32));
  }
  syscall(SYS_capset, &header, data);
}
}  // namespace

TEST_CASE("perf: where kernel code may not be counted, the events only it has are left out, not read as 0") {
  int paranoid = 2;
  std::ifstream("/proc/sys/kernel/perf_event_paranoid") >> paranoid;
  int status = 0;
  auto said = test::output_of_child([](int out) {
    drop_perf_capabilities();
    auto source = make_perf_events_source(SourceConfig{});
    std::string text = "why: " + source->open() + "\nfields:";
    for (const auto& f : source->describe().fields) text += " " + f.name;
    text += "\n";
    for (const auto& w : source->warnings()) text += "warning: " + w + "\n";
    if (write(out, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(1);
  }, status);
  INFO(said);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  const auto from = said.find("fields:");
  const auto fields = from == std::string::npos ? "" : said.substr(from, said.find('\n', from) - from);
  if (paranoid >= 3) {  // Debian's level: no perf_event_open at all without CAP_PERFMON
    CHECK(said.find("why: \n") == std::string::npos);
  } else if (paranoid == 2) {  // user level only
    CHECK(said.find("why: \n") != std::string::npos);
    CHECK(fields.rfind("fields: task_clock page_faults", 0) == 0);  // then the CPU's hardware events, if any
    CHECK(fields.find("context_switches") == std::string::npos);
    CHECK(fields.find("cpu_migrations") == std::string::npos);
    CHECK(said.find("warning: user-level counts only (perf_event_paranoid 2, no CAP_PERFMON): task_clock leaves out "
                    "system time; left out, as they happen only in kernel code: context_switches cpu_migrations") !=
          std::string::npos);
  } else {  // kernel code may be counted by anyone
    CHECK(fields.find(" context_switches") != std::string::npos);
    CHECK(said.find("user-level counts only") == std::string::npos);
  }
}

TEST_CASE("perf: an event set's flags are read, and an unknown one is refused") {
  const auto path = (std::filesystem::temp_directory_path() / ("jobperf-flags-" + std::to_string(getpid()) + ".events")).string();
  std::ofstream(path) << "pmu perf\n[events]\ncs perf::CONTEXT-SWITCHES kernel-only\npf perf::PAGE-FAULTS\n";
  auto set = read_event_set(path);
  CHECK(set.events.size() == 2);
  CHECK(set.kernel_only == std::vector<std::string>{"cs"});
  std::ofstream(path) << "pmu perf\n[events]\ncs perf::CONTEXT-SWITCHES kernel_only\n";
  CHECK_THROWS_WITH(read_event_set(path), Catch::Contains("unknown flag 'kernel_only'"));
  std::filesystem::remove(path);
}
