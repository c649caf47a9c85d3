// taskstats: replies are parsed from messages built here (the fixture for
// netlink), and the live client is checked against the kernel's own procfs
// figures where this process may query (CAP_NET_ADMIN; CI runs as root).
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"
#include "collect/taskstats.hpp"

using namespace jobperf::collect;

namespace {

void append_attribute(std::vector<char>& out, std::uint16_t type, const void* data, std::size_t size) {
  nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + size), type};
  const auto* bytes = reinterpret_cast<const char*>(&a);
  out.insert(out.end(), bytes, bytes + NLA_HDRLEN);
  out.insert(out.end(), static_cast<const char*>(data), static_cast<const char*>(data) + size);
  out.resize(NLA_ALIGN(out.size()));
}

// A reply as the kernel sends it: AGGR_TGID { PID, STATS }; `stats_size`
// lets a test send an older, shorter structure.
std::vector<char> reply(const taskstats& stats, std::size_t stats_size = sizeof(taskstats)) {
  std::vector<char> nest;
  const std::uint32_t pid = 4242;
  append_attribute(nest, TASKSTATS_TYPE_PID, &pid, sizeof pid);
  append_attribute(nest, TASKSTATS_TYPE_STATS, &stats, stats_size);
  std::vector<char> message(NLMSG_HDRLEN + GENL_HDRLEN);
  append_attribute(message, TASKSTATS_TYPE_AGGR_TGID, nest.data(), nest.size());
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(message.size());
  header.nlmsg_type = 31;
  std::memcpy(message.data(), &header, sizeof header);
  return message;
}

std::uint64_t status_value(const std::string& path, const char* key) {
  std::string text;
  std::uint64_t value = 0;
  std::size_t hint = 0;
  if (read_file(path, text)) keyed_value(text, key, value, hint);
  return value;
}

}  // namespace

TEST_CASE("a taskstats reply gives CPU, faults, context switches and scheduler times") {
  taskstats stats{};
  stats.version = TASKSTATS_VERSION;
  stats.ac_utime = 1500;  // microseconds
  stats.ac_stime = 250;
  stats.ac_minflt = 77;
  stats.ac_majflt = 3;
  stats.nvcsw = 120;
  stats.nivcsw = 7;
  stats.cpu_count = 130;
  stats.cpu_delay_total = 4'000'000;
  stats.cpu_run_real_total = 1'750'000;
  TaskCounters c;
  REQUIRE(parse_taskstats_reply(reply(stats), c));
  CHECK(c.user_ns == 1'500'000);
  CHECK(c.system_ns == 250'000);
  CHECK(c.minflt == 77);
  CHECK(c.majflt == 3);
  CHECK(c.voluntary_ctxt == 120);
  CHECK(c.involuntary_ctxt == 7);
  CHECK(c.timeslices == 130);
  CHECK(c.wait_ns == 4'000'000);
  CHECK(c.run_ns == 1'750'000);
}

TEST_CASE("taskstats replies: an older kernel's shorter structure is read, damage and errors are refused") {
  taskstats stats{};
  stats.nvcsw = 5;
  stats.nivcsw = 6;
  TaskCounters c;
  // Version 1 ended before the context switch counts; those after nivcsw are optional.
  CHECK(parse_taskstats_reply(reply(stats, offsetof(taskstats, nivcsw) + sizeof stats.nivcsw), c));
  CHECK(c.involuntary_ctxt == 6);
  CHECK_FALSE(parse_taskstats_reply(reply(stats, offsetof(taskstats, nvcsw)), c));

  auto truncated = reply(stats);
  truncated.resize(truncated.size() / 2);  // nlmsg_len now says more than there is
  CHECK_FALSE(parse_taskstats_reply(truncated, c));

  std::vector<char> error(NLMSG_HDRLEN + sizeof(nlmsgerr));
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(error.size());
  header.nlmsg_type = NLMSG_ERROR;
  std::memcpy(error.data(), &header, sizeof header);
  CHECK_FALSE(parse_taskstats_reply(error, c));
  CHECK_FALSE(parse_taskstats_reply({}, c));
}

TEST_CASE("live taskstats: a process query sums all threads; a thread query gives one thread") {
  TaskstatsClient client;
  if (auto why = client.open(); !why.empty()) {
    WARN("taskstats not checked live here: " << why);
    return;
  }
  // A second thread that sleeps (voluntary switches) and spins (CPU time).
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread worker([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    for (int i = 0; i < 20; ++i) usleep(1000);
    volatile double x = 0;
    for (int i = 0; i < 20'000'000; ++i) x = x + i;
    done = true;
    while (done) usleep(1000);
  });
  while (!done) usleep(1000);

  const auto self = static_cast<std::uint32_t>(getpid());
  const std::string worker_status = "/proc/self/task/" + std::to_string(tid.load()) + "/status";
  const std::uint64_t worker_switches = status_value(worker_status, "voluntary_ctxt_switches");
  const std::uint64_t main_switches = status_value("/proc/self/status", "voluntary_ctxt_switches");
  TaskCounters process, thread;
  REQUIRE(client.query(self, TaskQuery::Process, process));
  REQUIRE(client.query(static_cast<std::uint32_t>(tid.load()), TaskQuery::Thread, thread));
  done = false;
  worker.join();

  CHECK(worker_switches >= 20);
  CHECK(thread.voluntary_ctxt >= worker_switches);
  CHECK(thread.voluntary_ctxt <= worker_switches + 2);
  CHECK(process.voluntary_ctxt >= main_switches + worker_switches);
  CHECK(thread.user_ns + thread.system_ns > 1'000'000);  // it spun for milliseconds
  if (client.has_scheduler_times()) {
    CHECK(thread.run_ns > 1'000'000);
    CHECK(process.run_ns > thread.run_ns);
    CHECK(process.timeslices >= thread.timeslices);
  }
  TaskCounters gone;
  CHECK_FALSE(client.query(0x7ffffff0u, TaskQuery::Process, gone));  // no such task
}

TEST_CASE("the process source takes context switches of all threads from taskstats on the live /proc") {
  auto switches_description = [](MetricSource& source) {
    for (const auto& f : source.describe().fields)
      if (f.name == "voluntary_ctxt_switches") return f.description;
    return std::string();
  };
  auto source = make_process_procfs_source({});
  REQUIRE(source->open().empty());
  TaskstatsClient probe;
  if (probe.open().empty()) {
    CHECK(source->warnings().size() == (probe.has_scheduler_times() ? 0u : 1u));
    CHECK(switches_description(*source) == "voluntary context switches (all threads, taskstats)");
  } else {
    REQUIRE(source->warnings().size() == 1);
    CHECK(source->warnings()[0].find("(main thread only)") != std::string::npos);
    CHECK(switches_description(*source) == "voluntary context switches (main thread)");
  }
  SourceConfig procfs_only;
  procfs_only.taskstats = false;
  auto fallback = make_process_procfs_source(procfs_only);
  REQUIRE(fallback->open().empty());
  CHECK(fallback->warnings().empty());
  CHECK(switches_description(*fallback) == "voluntary context switches (main thread)");
}
