// The job file's plan from gathered catalogs: the refusals, the timeline,
// the rows, and what makes a job file "partial".
#include <catch2/catch.hpp>

#include "formats/job_file.hpp"
#include "reduce/job_plan.hpp"
#include "reduce/process_table.hpp"

using namespace jobperf;
using namespace jobperf::reduce;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

stream::SourceSpec process_source() {
  stream::SourceSpec s;
  s.id = 1;
  s.name = "test.source";  // no formula file: its counters' rates are its metrics
  s.scope = stream::Scope::Process;
  s.fields = {{"work", "1", "work done", stream::FieldType::U64, stream::Aggregation::Counter}};
  return s;
}

// A wrapper-mode job of `ranks` ranks on two hosts, 60 samples a second apart,
// as the ranks' catalogs gather; `world` is the size the launcher announced.
Catalog wrapper_job(int ranks, int world) {
  Catalog c;
  c.sources = {process_source()};
  for (int r = 0; r < ranks; ++r) {
    const std::string host = "node" + std::to_string(r % 2), stream = host + ".rank" + std::to_string(r) + ".jps";
    c.rows.push_back({r, host, 0, 100 * kSecond, 159 * kSecond, stream, {{"test.source", 1, 60}}});
    c.streams.push_back({"/scratch/" + stream, "job-7", "wrapper", host, r, kSecond, std::to_string(world), {}});
  }
  return c;
}

ReduceOptions options() {
  ReduceOptions o;
  o.output = "job.h5";
  return o;
}

}  // namespace

TEST_CASE("plan: a whole job gets one row per rank, sorted, over bins of the sampling interval", "[plan]") {
  auto all = wrapper_job(4, 4);
  std::swap(all.rows[0], all.rows[3]);
  all.rows[2].exit_status = 3;
  const auto plan = plan_job(all, options());
  REQUIRE(plan.errors.empty());
  CHECK(plan.layout.ranks == std::vector<std::int32_t>{0, 1, 2, 3});
  CHECK(plan.layout.rank_hosts == std::vector<std::string>{"node0", "node1", "node0", "node1"});
  CHECK(plan.timeline.start_ns == 100 * kSecond);
  CHECK(plan.timeline.bin_ns == kSecond);
  CHECK(plan.timeline.bins == 59);
  CHECK(plan.layout.info.job_id == "job-7");
  CHECK(plan.layout.info.hosts == std::vector<std::string>{"node0", "node1"});
  CHECK(plan.layout.info.exit_status == 3);
  CHECK(plan.layout.info.status == "complete");
  REQUIRE(plan.layout.samples.size() == 1);
  CHECK(plan.layout.samples[0].counts == std::vector<std::int64_t>{60, 60, 60, 60});
  CHECK_FALSE(plan.rank_metrics.empty());
}

TEST_CASE("plan: --bin sets the bins, and a sample on the last edge closes the last bin", "[plan]") {
  auto o = options();
  o.bin_seconds = 10;
  const auto plan = plan_job(wrapper_job(2, 2), o);
  CHECK(plan.timeline.bin_ns == 10 * kSecond);
  CHECK(plan.timeline.bins == 6);  // 59 s of samples
}

TEST_CASE("plan: ranks the launcher announced but no stream holds make the job partial", "[plan]") {
  const auto plan = plan_job(wrapper_job(3, 5), options());
  REQUIRE(plan.errors.empty());
  CHECK(plan.layout.info.status == "partial");
  REQUIRE(plan.layout.info.problems.size() == 1);
  CHECK(plan.layout.info.problems[0] == "ranks missing (no stream holds them; the job had 5): 3,4");
}

TEST_CASE("plan: an unreadable stream is left out, named, and makes the job partial", "[plan]") {
  auto all = wrapper_job(2, 2);
  all.unreadable = {"/scratch/node0.rank2.jps: header block damaged at byte 16: CRC mismatch"};
  const auto plan = plan_job(all, options());
  REQUIRE(plan.errors.empty());
  CHECK(plan.layout.info.status == "partial");
  CHECK_THAT(plan.layout.info.problems.at(0), Catch::EndsWith("CRC mismatch; the stream is left out"));
}

TEST_CASE("plan: streams that cannot make one job file are refused, saying why", "[plan]") {
  SECTION("two jobs") {
    auto all = wrapper_job(2, 2);
    all.streams[1].job_id = "job-8";
    const auto plan = plan_job(all, options());
    REQUIRE(plan.errors.size() == 1);
    CHECK_THAT(plan.errors[0], Catch::StartsWith("streams of 2 different jobs given") && Catch::Contains("job-8"));
  }
  SECTION("a rank on two hosts") {
    auto all = wrapper_job(2, 2);
    all.rows[1].rank = 0;
    CHECK_THAT(plan_job(all, options()).errors.at(0), Catch::Equals("rank 0 appears on hosts node0 and node1"));
  }
  SECTION("no samples, with the streams' damage as the likely reason") {
    auto all = wrapper_job(1, 1);
    all.rows[0].first_ns = std::numeric_limits<std::int64_t>::max();
    all.rows[0].last_ns = std::numeric_limits<std::int64_t>::min();
    all.streams[0].problems = {"node0.rank0.jps: damaged at byte 900 (40 bytes): CRC mismatch"};
    const auto errors = plan_job(all, options()).errors;
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::StartsWith("empty job: the streams hold no process samples") &&
                              Catch::Contains("CRC mismatch"));
  }
  SECTION("no readable stream at all") {
    Catalog all;
    all.unreadable = {"a.jps: not a jobperf stream (bad magic)"};
    CHECK(plan_job(all, options()).errors == all.unreadable);
  }
}

TEST_CASE("plan: a host's node samples come from one of its streams, not from each", "[plan]") {
  auto all = wrapper_job(2, 2);
  stream::SourceSpec node = process_source();
  node.id = 2, node.name = "test.node", node.scope = stream::Scope::Node;
  all.sources.push_back(node);
  for (const auto* stream : {"/scratch/node0.step2.jps", "/scratch/node0.step1.jps"})
    all.nodes.push_back({"node0", -1, 100 * kSecond, 159 * kSecond, stream, {{"test.node", 1, 60}}});
  const auto plan = plan_job(all, options());
  REQUIRE(plan.errors.empty());
  CHECK(plan.layout.nodes == std::vector<std::string>{"node0"});
  CHECK(plan.gives_node_samples("node0", "/scratch/node0.step1.jps"));
  CHECK_FALSE(plan.gives_node_samples("node0", "/scratch/node0.step2.jps"));
  REQUIRE(plan.layout.samples.size() == 2);
  CHECK(plan.layout.samples[1].counts == std::vector<std::int64_t>{60});  // one row, not two
}

TEST_CASE("plan: ranks whose end the collector did not see take their exit status from the exit records", "[plan]") {
  auto all = wrapper_job(3, 3);
  for (auto& r : all.rows) r.exit_status = -1;  // a sidecar's: it is not the ranks' parent
  all.rows[0].exit_status = 0;                  // seen: the records do not override it
  all.recorded_exits = {{0, 9}, {1, 0}};        // rank 2 has no record
  const auto plan = plan_job(all, options());
  REQUIRE(plan.errors.empty());
  CHECK(plan.layout.rank_exit_status == std::vector<std::int64_t>{0, 0, -1});
  CHECK(plan.layout.info.exit_status == -1);
  all.recorded_exits.push_back({2, 137});  // killed by SIGKILL
  CHECK(plan_job(all, options()).layout.info.exit_status == 137);
}

TEST_CASE("a rank's exit status is its top process's, from the exit records", "[plan]") {
  auto row = [](std::int32_t rank, std::int64_t parent, const char* kind, std::int64_t code, std::int64_t signal) {
    jobfile::ProcessRow p;
    p.rank = rank, p.parent = parent, p.kind = kind, p.exit_code = code, p.signal = signal;
    return p;
  };
  const std::vector<jobfile::ProcessRow> rows = {
      row(-1, -1, "exited", 0, 0),     // the launcher: no rank
      row(0, 0, "exited", 0, 0),       // rank 0's top process, under the launcher
      row(0, 1, "exited", 5, 0),       // its child: not the rank's status
      row(1, -1, "killed", -1, 9),     // rank 1, killed: 128 + 9
      row(2, -1, "exited", 0, 0),      // rank 2: two top processes (job steps),
      row(2, -1, "exited", 4, 0),      //   the non-zero one counts
  };
  CHECK(rank_exit_statuses(rows) == std::map<std::int32_t, std::int64_t>{{0, 0}, {1, 137}, {2, 4}});
}

TEST_CASE("rows are whole chunks only where every aligned block of them is all there") {
  using jobperf::jobfile::whole_blocks;
  const std::vector<std::size_t> first_half = {0, 1, 2, 3}, middle = {2, 3, 4, 5}, tail = {8, 9};
  CHECK(whole_blocks(first_half, 10, 4));
  CHECK(whole_blocks(first_half, 10, 2));
  CHECK_FALSE(whole_blocks(first_half, 10, 8));  // rows 4-7 of the block are another writer's
  CHECK_FALSE(whole_blocks(middle, 10, 4));       // starts inside a block
  CHECK(whole_blocks(middle, 10, 2));
  CHECK(whole_blocks(tail, 10, 4));               // the table's last block is short: 8, 9
  CHECK(whole_blocks(tail, 10, 8));
  CHECK_FALSE(whole_blocks(std::vector<std::size_t>{0, 1, 3}, 10, 2));  // a gap: row 2 missing
  CHECK_FALSE(whole_blocks(std::vector<std::size_t>{0, 1, 2, 3}, 3, 4));  // beyond the table
  CHECK(whole_blocks(std::vector<std::size_t>{}, 10, 64));  // a writer with no rows shares none
  CHECK(whole_blocks(std::vector<std::size_t>{4, 9}, 10, 1));
}
