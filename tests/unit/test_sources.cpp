// Metric sources and process discovery against the fixture procfs/sysfs tree.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_set>

#include "tests/unit/fixtures.hpp"
#include "collect/batch_env.hpp"
#include "collect/process_tracker.hpp"
#include "collect/sources/sources.hpp"

using namespace jobperf::collect;
using namespace jobperf::test;
using namespace std::string_view_literals;
namespace fs = std::filesystem;

namespace {

Selection by_roots(std::vector<pid_t> roots) {
  Selection s;
  s.roots = std::move(roots);
  return s;
}
Selection by_environment(const std::string& name, const std::string& value, std::unordered_set<pid_t> excluded = {}) {
  Selection s;
  s.env_name = name;
  s.env_value = value;
  s.excluded = std::move(excluded);
  return s;
}


// Samples `source` once and returns field name -> value of each subject.
std::map<std::uint32_t, std::map<std::string, double>> sample_once(MetricSource& source,
                                                                   std::vector<WatchedProcess> processes = {}) {
  REQUIRE(source.open().empty());
  auto spec = source.describe();
  std::map<std::uint32_t, std::map<std::string, double>> out;
  SampleContext ctx;
  ctx.processes = processes;
  source.sample(ctx, [&](std::uint32_t subject, std::span<const std::uint64_t> values) {
    REQUIRE(values.size() == spec.fields.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      out[subject][spec.fields[i].name] = jobperf::stream::raw_to_double(values[i], spec.fields[i].type);
  });
  return out;
}

}  // namespace

TEST_CASE("the process source reads stat, statm, io, status, schedstat and fd of each process") {
  REQUIRE(sysconf(_SC_CLK_TCK) == 100);  // the expected values below assume USER_HZ = 100
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto source = make_process_procfs_source(fixture_config(kProc, kSys));
  auto v = sample_once(*source, {{4242, 12345}})[4242];
  CHECK(v["cpu_user"] == (200 + 30) * 1e7);   // utime + cutime, ticks -> ns
  CHECK(v["cpu_system"] == (50 + 10) * 1e7);  // stime + cstime
  CHECK(v["minflt"] == 175);
  CHECK(v["majflt"] == 4);
  CHECK(v["num_threads"] == 2);
  CHECK(v["vms"] == 104857600);
  CHECK(v["rss"] == 2560 * page);
  CHECK(v["shared"] == 512 * page);
  CHECK(v["processor"] == 1);
  CHECK(v["rchar"] == 1000000);
  CHECK(v["wchar"] == 2000000);
  CHECK(v["syscr"] == 300);
  CHECK(v["syscw"] == 400);
  CHECK(v["read_bytes"] == 4096);
  CHECK(v["write_bytes"] == 8192);
  CHECK(v["voluntary_ctxt_switches"] == 77);
  CHECK(v["nonvoluntary_ctxt_switches"] == 8);
  CHECK(v["run_time"] == 123456789);
  CHECK(v["wait_time"] == 2345678);
  CHECK(v["timeslices"] == 99);
  CHECK(v["open_fds"] == 3);
}

TEST_CASE("a process that is gone before sampling is skipped silently") {
  auto source = make_process_procfs_source(fixture_config(kProc, kSys));
  auto out = sample_once(*source, {{4242, 12345}, {99999, 1}});
  CHECK(out.size() == 1);
  CHECK(out.count(4242) == 1);
}

TEST_CASE("the process source records final values of a process the collector reaped") {
  auto source = make_process_procfs_source(fixture_config(kProc, kSys));
  sample_once(*source, {{4242, 12345}});
  ReapedProcess r;
  r.pid = 4242;
  r.user_ns = 5'000'000'000;  // more than the last sample: the process ran on
  r.wchar = 3'000'000;
  std::map<std::string, double> v;
  auto spec = source->describe();
  source->process_reaped(r, [&](std::uint32_t, std::span<const std::uint64_t> values) {
    for (std::size_t i = 0; i < values.size(); ++i) v[spec.fields[i].name] = static_cast<double>(values[i]);
  });
  CHECK(v["cpu_user"] == 5e9);
  CHECK(v["cpu_system"] == 60 * 1e7);  // rusage says less than sampled: the sample stands
  CHECK(v["wchar"] == 3e6);
  CHECK(v["rss"] == 0);  // an ended process holds no memory
  CHECK(v["voluntary_ctxt_switches"] == 77);
}

TEST_CASE("the node source reads stat, meminfo, net/dev, diskstats and loadavg") {
  auto source = make_node_procfs_source(fixture_config(kProc, kSys));
  auto v = sample_once(*source)[0];
  CHECK(v["cpu_user"] == 1000 * 1e7);
  CHECK(v["cpu_idle"] == 5000 * 1e7);
  CHECK(v["cpu_steal"] == 7 * 1e7);
  CHECK(v["context_switches"] == 987654);
  CHECK(v["forks"] == 4321);
  CHECK(v["procs_running"] == 3);
  CHECK(v["procs_blocked"] == 1);
  CHECK(v["mem_total"] == 16000000.0 * 1024);
  CHECK(v["cached"] == 3000000.0 * 1024);  // not SwapCached
  CHECK(v["swap_free"] == 900000.0 * 1024);
  CHECK(v["dirty"] == 512.0 * 1024);
  CHECK(v["net_rx_bytes"] == 5100);  // eth0 + ib0, not lo
  CHECK(v["net_tx_bytes"] == 7200);
  CHECK(v["net_tx_packets"] == 72);
  CHECK(v["disk_reads"] == 110);  // sda + nvme0n1; not sda1, not loop0
  CHECK(v["disk_read_bytes"] == (2000 + 80) * 512.0);
  CHECK(v["disk_write_bytes"] == (4000 + 160) * 512.0);
  CHECK(v["disk_busy"] == (300 + 30) * 1e6);
  CHECK(v["load1"] == 1.5);
  CHECK(v["load15"] == 0.25);
}

TEST_CASE("a missing proc tree makes the node source unavailable with a reason") {
  auto source = make_node_procfs_source(fixture_config("/nonexistent/proc", kSys));
  auto why = source->open();
  CHECK(why.find("/nonexistent/proc/stat") != std::string::npos);
}

TEST_CASE("the tracker follows descendants of a root and inherits ranks") {
  ProcessTracker tracker(kProc, by_roots({4242}));
  auto changes = tracker.scan();
  REQUIRE(changes.started.size() == 2);
  REQUIRE(tracker.find(4242));
  CHECK(tracker.find(4242)->rank == 3);
  CHECK(tracker.find(4242)->command == "./app --size 100");
  REQUIRE(tracker.find(4243));
  CHECK(tracker.find(4243)->rank == 3);  // no rank variable: the parent's
  CHECK_FALSE(tracker.find(5000));
  CHECK(tracker.scan().started.empty());  // nothing new the second time
}

TEST_CASE("the tracker finds a batch job's processes by environment, minus excluded ones") {
  ProcessTracker tracker(kProc, by_environment("SLURM_JOB_ID", "77", {6000}));
  tracker.scan();
  CHECK(tracker.find(4242));
  CHECK(tracker.find(4243));
  CHECK_FALSE(tracker.find(5000));  // job 78
  CHECK_FALSE(tracker.find(6000));  // excluded
  ProcessTracker all(kProc, by_environment("SLURM_JOB_ID", "77"));
  all.scan();
  REQUIRE(all.find(6000));
  CHECK(all.find(6000)->rank == 0);  // from PMIX_RANK
}

TEST_CASE("the tracker never watches jobperf's own tools, though their environment is the job's") {
  // 4243, a child of the job's 4242, is `jobperf-collect --stop` run as a
  // step of the job (Slurm gives it a rank's SLURM_PROCID).
  auto dir = fs::temp_directory_path() / ("jobperf-tools-" + std::to_string(getpid()));
  fs::copy(kProc, dir, fs::copy_options::recursive);
  std::string stat;
  REQUIRE(jobperf::collect::read_file((dir / "4243" / "stat").string(), stat));
  stat.replace(stat.find("(helper)"), 8, "(jobperf-collect)");
  std::ofstream(dir / "4243" / "stat") << stat;
  ProcessTracker tracker(dir.string(), by_environment("SLURM_JOB_ID", "77"));
  tracker.scan();
  CHECK(tracker.find(4242));
  CHECK_FALSE(tracker.find(4243));
  fs::remove_all(dir);
}

TEST_CASE("a collector posing as a node leaves out the processes of the other nodes it poses beside") {
  // Two simulated nodes on one machine: 4242 says it is n2's, its child
  // 4243 n1's (not n2's, though its parent is watched there); 6000 names no
  // node (as a Slurm task prolog, run before it names its task's node), so
  // it is no simulated node's.
  auto dir = fs::temp_directory_path() / ("jobperf-nodes-" + std::to_string(getpid()));
  fs::copy(kProc, dir, fs::copy_options::recursive);
  std::ofstream(dir / "4242" / "environ", std::ios::app) << "JOBPERF_HOSTNAME=n2" << '\0';
  std::ofstream(dir / "4243" / "environ", std::ios::app) << "JOBPERF_HOSTNAME=n1" << '\0';
  auto on = [&](const std::string& node) {
    auto selection = by_environment("SLURM_JOB_ID", "77");
    selection.posing_as = node;
    ProcessTracker tracker(dir.string(), selection);
    tracker.scan();
    std::vector<std::uint32_t> found;
    for (std::uint32_t pid : {4242u, 4243u, 5000u, 6000u})
      if (tracker.find(pid)) found.push_back(pid);
    return found;
  };
  CHECK(on("n1") == std::vector<std::uint32_t>{4243});
  CHECK(on("n2") == std::vector<std::uint32_t>{4242});
  CHECK(on("") == std::vector<std::uint32_t>{4242, 4243, 6000});  // one node: every process of the job
  fs::remove_all(dir);
}

TEST_CASE("the tracker reports processes that end") {
  auto dir = fs::temp_directory_path() / ("jobperf-proc-" + std::to_string(getpid()));
  fs::copy(kProc, dir, fs::copy_options::recursive);
  ProcessTracker tracker(dir.string(), by_roots({4242}));
  tracker.scan();
  fs::remove_all(dir / "4243");
  auto changes = tracker.scan();
  REQUIRE(changes.ended.size() == 1);
  CHECK(changes.ended[0] == 4243);
  CHECK(tracker.watched().size() == 1);
  fs::remove_all(dir);
}

TEST_CASE("the tracker walks each thread's children, and follows a member whose parent ended") {
  auto dir = fs::temp_directory_path() / ("jobperf-proc-" + std::to_string(getpid()));
  fs::copy(kProc, dir, fs::copy_options::recursive);
  ProcessTracker tracker(dir.string(), by_roots({4242}));
  CHECK(tracker.scan().started.size() == 2);  // 4243 is a child of 4242's second thread
  fs::remove_all(dir / "4242");
  auto changes = tracker.scan();
  REQUIRE(changes.ended == std::vector<std::uint32_t>{4242});
  CHECK(tracker.find(4243));  // reparented, still watched
  // Without the children files (a kernel without CONFIG_PROC_CHILDREN), /proc is listed.
  fs::remove_all(dir / "thread-self");
  ProcessTracker listing(dir.string(), by_roots({4243}));
  CHECK(listing.scan().started.size() == 1);
  fs::remove_all(dir);
}

TEST_CASE("ranks come from the launcher's environment in a fixed order of preference") {
  CHECK(rank_from_environment("A=1\0PMIX_RANK=5\0OMPI_COMM_WORLD_RANK=2\0"sv) == 2);
  CHECK(rank_from_environment("SLURM_PROCID=7\0"sv) == 7);
  CHECK_FALSE(rank_from_environment("PMIX_RANK=x\0"sv).has_value());
  const char* env[] = {"SLURM_JOB_ID=123", "SLURM_JOB_NAME=cfd", "OMPI_COMM_WORLD_RANK=4",
                       "OMPI_COMM_WORLD_LOCAL_RANK=0", "MY_API_TOKEN=x", "AWS_SECRET_ACCESS_KEY=y", "HOME=/h", nullptr};
  auto batch = batch_context(env);
  CHECK(batch.job_id == "123");
  CHECK(batch.job_id_variable == "SLURM_JOB_ID");
  CHECK(batch.job_name == "cfd");
  CHECK(batch.rank == 4);
  CHECK(batch.local_rank == 0);
  auto meta = environment_metadata(env);
  CHECK(meta.size() == 5);  // the token and the secret key are dropped
  for (const auto& [k, v] : meta) CHECK((k.find("TOKEN") == std::string::npos && k.find("SECRET") == std::string::npos));
}

TEST_CASE("the thread source is off by default and samples every thread when asked") {
  CHECK(make_thread_procfs_source(fixture_config(kProc, kSys)) == nullptr);
  auto config = fixture_config(kProc, kSys);
  config.threads = true;
  auto source = make_thread_procfs_source(config);
  auto out = sample_once(*source, {{4242, 12345}});
  REQUIRE(out.size() == 2);  // the main thread and one more
  CHECK(out[4250]["pid"] == 4242);
  CHECK(out[4250]["cpu_user"] == 80 * 1e7);
  CHECK(out[4250]["cpu_system"] == 20 * 1e7);
  CHECK(out[4242]["cpu_user"] == 150 * 1e7);  // its own share, not the process total
  CHECK(out[4250]["processor"] == 0);
  CHECK(out[4250]["voluntary_ctxt_switches"] == 50);
  CHECK(out[4250]["run_time"] == 80 * 1e7);
  CHECK(out[4250]["timeslices"] == 7);
}

TEST_CASE("the tracker finds a job's processes by its cgroup, sub-cgroups included") {
  Selection s;
  s.cgroups = {kSys + "/fs/cgroup/system.slice/slurmstepd.scope/job_77"};
  ProcessTracker tracker(kProc, s);
  tracker.scan();
  CHECK(tracker.find(4242));  // in step_0
  CHECK(tracker.find(4243));  // its child
  CHECK(tracker.find(6000));  // in the batch step
  CHECK_FALSE(tracker.find(5000));
}

TEST_CASE("batch systems: job cgroups are found, schedulers' output is parsed") {
  BatchContext slurm;
  slurm.job_id = "77";
  slurm.job_id_variable = "SLURM_JOB_ID";
  auto dirs = job_cgroups(kSys, slurm);
  REQUIRE(dirs.size() == 1);
  CHECK(dirs[0].ends_with("/system.slice/slurmstepd.scope/job_77"));
  BatchContext oar;
  oar.job_id = "4711";
  oar.job_id_variable = "OAR_JOB_ID";
  REQUIRE(job_cgroups(kSys, oar).size() == 1);
  CHECK(job_cgroups(kSys, oar)[0].ends_with("/cpuset/oar/alice_4711"));

  auto words = parse_key_equals_value_words(
      "JobId=77 JobName=cfd UserId=alice(1000) SubmitTime=2026-11-21T10:00:00 StartTime=2026-11-21T10:05:00 "
      "NodeList=node[01-04] Command=/home/alice/run.sh");
  std::map<std::string, std::string> w(words.begin(), words.end());
  CHECK(w["NodeList"] == "node[01-04]");
  CHECK(w["Command"] == "/home/alice/run.sh");
  auto lines = parse_key_equals_value_lines("Job Id: 123.pbs\n    Job_Name = cfd\n    qtime = Sat Nov 21 10:00:00 2026\n"
                                            "    exec_host = node01/0*4+node02/0*4\n");
  std::map<std::string, std::string> l(lines.begin(), lines.end());
  CHECK(l["qtime"] == "Sat Nov 21 10:00:00 2026");
  CHECK(l["exec_host"] == "node01/0*4+node02/0*4");
}

TEST_CASE("batch systems: scheduler times, printed in the node's local time, become UTC") {
  const char* saved = std::getenv("TZ");
  const std::string before = saved ? saved : "";
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);  // Central Europe, no tzdata needed
  tzset();
  CHECK(scheduler_time_utc("2026-11-21T10:00:00") == "2026-11-21T09:00:00Z");  // Slurm, winter: UTC+1
  CHECK(scheduler_time_utc("2026-07-01T10:00:00") == "2026-07-01T08:00:00Z");  // summer: UTC+2
  CHECK(scheduler_time_utc("2026-11-21 10:05:00") == "2026-11-21T09:05:00Z");  // OAR
  CHECK(scheduler_time_utc("Sat Nov 21 10:00:00 2026") == "2026-11-21T09:00:00Z");  // PBS
  CHECK(scheduler_time_utc("1795251600") == "2026-11-21T09:00:00Z");  // seconds since 1970: no zone
  CHECK(scheduler_time_utc("Unknown").empty());  // Slurm, before the job starts
  CHECK(scheduler_time_utc("2026-11-21T10:00:00 trailing").empty());
  if (saved)
    setenv("TZ", before.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}
