// Reduce logic without MPI: how processes add up to ranks, clock mapping,
// resampling onto the job timeline, summaries, formulas.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "collect/sources/sources.hpp"
#include "formats/locations.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/aggregate.hpp"
#include "reduce/clock_alignment.hpp"
#include "reduce/formulas.hpp"
#include "reduce/summary.hpp"
#include "reduce/timeline.hpp"

using namespace jobperf;
using namespace jobperf::reduce;
using stream::Aggregation;
using stream::FieldType;

namespace {

constexpr std::int64_t kS = 1'000'000'000;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("jobperf-test-" + std::to_string(getpid()) + "-" + name)).string();
}

const stream::SourceSpec kSpec{1, "test.process", stream::Scope::Process,
                               {{"cpu", "ns", "", FieldType::U64, Aggregation::TreeCounter},
                                {"mem", "bytes", "", FieldType::U64, Aggregation::Gauge},
                                {"own", "1", "", FieldType::U64, Aggregation::Counter},
                                {"where", "1", "", FieldType::U64, Aggregation::Attribute}}};

// Wrapper-mode story: collector (pid 100) runs R (pid 200); R forks C (pid 300).
// C ends between t=2 and t=3 and R reaps it, so R's cpu at t=3 includes C's.
// The collector reaps R at t=3.5 and records R's final values.
std::string write_story(const std::string& path) {
  stream::Header h;
  h.host = "n1";
  h.job_id = "j";
  h.rank = 5;
  h.pid = 100;
  h.mode = "wrapper";
  h.interval_ns = kS;
  h.start = {0, 1000 * kS, 0};  // UTC = monotonic + 1000 s
  {
    stream::StreamWriter w(path, h, true);
    w.add_source(kSpec);
    w.subject_begin({0, 200, 100, -1, kS / 2, "R"});
    w.subject_begin({kS, 300, 200, -1, kS, "C"});
    auto rec = [&](std::int64_t t, std::uint32_t pid, std::uint64_t cpu, std::uint64_t mem, std::uint64_t own,
                   std::uint64_t where) {
      std::uint64_t v[4] = {cpu, mem, own, where};
      w.record(t, 1, pid, v);
    };
    rec(1 * kS, 200, 1, 10, 1, 7);
    rec(1 * kS, 300, 2, 20, 5, 8);
    rec(2 * kS, 200, 1, 10, 1, 7);
    rec(2 * kS, 300, 4, 20, 6, 8);
    w.subject_end({3 * kS, 300, -1});
    rec(3 * kS, 200, 6, 10, 2, 6);
    rec(3 * kS + kS / 2, 200, 7, 0, 2, 6);
    w.subject_end({3 * kS + kS / 2, 200, 3 << 8});  // exited with code 3
    w.close({{4 * kS, 1004 * kS, 4 * kS}, "done"});
  }
  return path;
}

stream::DecodedStream story() {
  auto path = write_story(temp_path("story.jps"));
  auto s = stream::read_stream(path);
  std::remove(path.c_str());
  return s;
}

}  // namespace

TEST_CASE("processes add up to a rank without counting a reaped child twice") {
  auto s = story();
  auto rows = rank_rows(s);
  REQUIRE(rows.size() == 1);
  move_to_timeline(rows[0].sources, ClockMap(s));
  const auto& row = rows[0];
  CHECK(row.rank == 5);  // from the header: the processes' environment named none
  CHECK(row.host == "n1");
  CHECK(row.exit_status == 3);
  REQUIRE(row.sources.size() == 1);
  const auto& series = row.sources[0];
  // Starts from zero when R started (0.5 s), then one point per sample time.
  std::vector<std::int64_t> times = {1000 * kS + kS / 2, 1001 * kS, 1002 * kS, 1003 * kS, 1003 * kS + kS / 2};
  CHECK(series.time_ns == times);
  CHECK(series.fields[0] == std::vector<double>{0, 3, 5, 6, 7});      // tree counter: C absorbed into R at t=3
  const auto& gauge = series.fields[1];  // live processes only; before the first sample and with none alive: missing
  REQUIRE(gauge.size() == 5);
  CHECK(std::isnan(gauge.front()));
  CHECK(std::vector<double>(gauge.begin() + 1, gauge.end() - 1) == std::vector<double>{30, 30, 10});
  CHECK(std::isnan(gauge.back()));
  CHECK(series.fields[2] == std::vector<double>{0, 6, 7, 8, 8});      // counter: C's last value kept
  CHECK(series.fields[3][1] == 7);                                    // attribute: R, the earliest live process
  CHECK(series.fields[3][3] == 6);
}

TEST_CASE("a stream combined a block at a time, resumed where the last read stopped, gives the whole's rows") {
  auto path = write_story(temp_path("pieces.jps"));
  const auto whole = rank_rows(stream::read_stream(path));
  stream::StreamReader first(path);
  std::uint64_t offset = first.offset();
  stream::DecodedStream skeleton;
  const auto outline = outline_stream(first, path, skeleton);
  REQUIRE(outline.ranks.size() == 1);
  CHECK(outline.ranks[0].exit_status == 3);
  CHECK(outline.ranks[0].sources[0].samples == static_cast<std::int64_t>(whole[0].sources[0].time_ns.size()));
  CHECK(outline.ranks[0].sources[0].first_ns == whole[0].sources[0].time_ns.front());
  CHECK(outline.ranks[0].sources[0].last_ns == whole[0].sources[0].time_ns.back());
  CHECK(skeleton.records.empty());
  CHECK(skeleton.subjects.size() == 2);
  CHECK(skeleton.closed);

  RowCombiner combiner(skeleton, outline, nullptr);
  for (int blocks = 0;; ++blocks) {  // one block per reader, as time windows read on
    stream::StreamReader reader(path);
    reader.seek(offset);
    stream::DecodedStream block;
    if (!reader.next(block)) {
      combiner.finish();
      CHECK(blocks > 4);
      break;
    }
    combiner.add(block);
    offset = reader.offset();
  }
  REQUIRE(combiner.ranks.size() == 1);
  const auto& got = combiner.ranks[0].sources[0];
  CHECK(got.time_ns == whole[0].sources[0].time_ns);
  const auto& want = whole[0].sources[0].fields;
  REQUIRE(got.fields.size() == want.size());
  for (std::size_t f = 0; f < want.size(); ++f) {
    REQUIRE(got.fields[f].size() == want[f].size());
    for (std::size_t k = 0; k < want[f].size(); ++k)
      CHECK((got.fields[f][k] == want[f][k] || (std::isnan(got.fields[f][k]) && std::isnan(want[f][k]))));
  }
  std::remove(path.c_str());
}

TEST_CASE("the clock map interpolates the UTC offset between anchors") {
  stream::DecodedStream s;
  s.header.start = {0, 100 * kS, 0};
  s.closed = true;
  s.end.anchor = {10 * kS, 110 * kS + 1000, 10 * kS};  // the offset grew by 1 us over 10 s
  ClockMap clock(s);
  CHECK(clock.to_utc(0) == 100 * kS);
  CHECK(clock.to_utc(5 * kS) == 105 * kS + 500);
  CHECK(clock.to_utc(20 * kS) == 120 * kS + 1000);  // held flat after the last anchor
}

TEST_CASE("an offset measured after the job is bounded by the time daemons' own UTC error bounds") {
  constexpr std::int64_t kMs = 1'000'000;
  UtcErrors e{2 * kMs, 3 * kMs, 5 * kMs, 7 * kMs};
  // Measured at the reduce to within 40 us: each clock may have moved by its
  // error then plus its error during the job.
  CHECK(bound_without_collector_sync(40'000, e) == 40'000 + 17 * kMs);
  // Never measured: the node's own time against the reference's, during the job only.
  CHECK(bound_without_collector_sync(-1, e) == 5 * kMs);
  for (int unsynchronised = 0; unsynchronised < 4; ++unsynchronised) {
    auto one_off = e;
    std::int64_t* clocks[] = {&one_off.node_in_job, &one_off.reference_in_job, &one_off.node_at_reduce,
                              &one_off.reference_at_reduce};
    *clocks[unsynchronised] = -1;
    CHECK(bound_without_collector_sync(40'000, one_off) == -1);
  }
  e.node_at_reduce = -1;  // the reduce's own clocks do not matter to a node it did not measure
  CHECK(bound_without_collector_sync(-1, e) == 5 * kMs);
}

TEST_CASE("counters resample to rates that keep the total exactly") {
  StepSeries s;
  s.spec = kSpec;
  s.time_ns = {0, 1 * kS, 2 * kS, 3 * kS};
  s.fields = {{0, 1, 3, 6}, {5, 6, 7, 8}, {0, 0, 0, 0}, {1, 1, 1, 1}};
  Timeline whole{0, kS, 3};
  auto b = resample(s, whole);
  CHECK(*b.find("cpu", true) == std::vector<double>{1, 2, 3});
  CHECK(*b.find("mem", false) == std::vector<double>{5, 6, 7});  // the last sample in each [start, end) bin
  CHECK(b.find("cpu", false) == nullptr);                         // a counter has no gauge view

  Timeline shifted{-kS / 4, kS / 2, 8};  // bins that straddle samples and overhang both ends
  auto r = *resample(s, shifted).find("cpu", true);
  double total = 0;
  for (double v : r)
    if (!std::isnan(v)) total += v * shifted.bin_seconds();
  CHECK(total == Approx(6.0).epsilon(1e-12));
  CHECK(r[1] == Approx(1.0).margin(1e-12));  // [0.25, 0.75): 0.5 units in 0.5 s
}

TEST_CASE("bins outside a row's life are missing, not zero") {
  StepSeries s;
  s.spec = kSpec;
  s.time_ns = {2 * kS, 3 * kS};
  s.fields = {{0, 4}, {1, 1}, {0, 0}, {0, 0}};
  auto b = resample(s, Timeline{0, kS, 5});
  const auto& cpu = *b.find("cpu", true);
  CHECK(std::isnan(cpu[0]));
  CHECK(std::isnan(cpu[1]));
  CHECK(cpu[2] == 4);
  CHECK(std::isnan(cpu[4]));

  // A row wholly after or before the window (windowed reduce): every bin missing.
  for (auto start : {10 * kS, -10 * kS}) {
    BinnedSource reused = resample(s, Timeline{0, kS, 5});
    resample_into(s, Timeline{start, kS, 3}, nullptr, reused);
    for (const auto& bins : {*reused.find("cpu", true), *reused.find("mem", false)}) {
      REQUIRE(bins.size() == 3);
      for (double v : bins) CHECK(std::isnan(v));
    }
  }
}

TEST_CASE("resampling into reused arrays gives what fresh ones do") {
  StepSeries a, b;
  a.spec = b.spec = kSpec;
  a.time_ns = {0, 1 * kS, 2 * kS, 3 * kS};
  a.fields = {{0, 1, 3, 6}, {5, 6, 7, 8}, {0, 0, 0, 0}, {1, 1, 1, 1}};
  b.time_ns = {kS / 2, 2 * kS};
  b.fields = {{10, 13}, {2, 3}, {0, 0}, {0, 0}};
  const Timeline tl{0, kS / 2, 7};
  BinnedSource reused;
  resample_into(a, tl, nullptr, reused);
  resample_into(b, tl, nullptr, reused);
  const auto fresh = resample(b, tl);
  REQUIRE(reused.names == fresh.names);
  for (std::size_t f = 0; f < fresh.names.size(); ++f)
    for (std::size_t k = 0; k < tl.bins; ++k)
      CHECK((reused.values[f][k] == fresh.values[f][k] || (std::isnan(reused.values[f][k]) && std::isnan(fresh.values[f][k]))));
  CHECK(std::isnan(reused.find("cpu", true)->front()));  // before b's first sample, though a had one there
}

TEST_CASE("summaries: min, mean, max, time integral and last over present bins") {
  std::vector<double> bins = {1, std::nan(""), 3, 2};
  auto s = summarize(bins, 0.5);
  CHECK(s[jobfile::kMin] == 1);
  CHECK(s[jobfile::kMean] == 2);
  CHECK(s[jobfile::kMax] == 3);
  CHECK(s[jobfile::kSum] == 3);  // (1 + 3 + 2) x 0.5 s
  CHECK(s[jobfile::kLast] == 2);
  CHECK(s[jobfile::kStd] == Approx(std::sqrt(2.0 / 3)));
  PartialStats p;
  p.add_row(std::vector<double>{1, 2}, 1, 0);
  p.add_row(std::vector<double>{5}, 1, 1);
  auto j = p.job_stats();
  CHECK(j[jobfile::kMean] == Approx(8.0 / 3));
  CHECK(j[jobfile::kLast] == 7);  // the rows' last values, summed
  CHECK(j[jobfile::kLowestRow] == 0);   // integral 3
  CHECK(j[jobfile::kHighestRow] == 1);  // integral 5
  CHECK(std::isnan(summarize({std::nan("")}, 1)[jobfile::kMin]));
}

TEST_CASE("a metric's time integral is a rate's total, else its units times seconds") {
  CHECK(jobfile::sum_units("cores") == "core-s");
  CHECK(jobfile::sum_units("bytes/s") == "bytes");
  CHECK(jobfile::sum_units("MFLOP/s") == "MFLOP");
  CHECK(jobfile::sum_units("1/s") == "1");
  CHECK(jobfile::sum_units("W") == "J");
  CHECK(jobfile::sum_units("bytes") == "bytes s");
  CHECK(jobfile::sum_units("1") == "s");
  CHECK(jobfile::sum_units("MHz") == "MHz s");
  CHECK(jobfile::is_rate("1/s"));
  CHECK(!jobfile::is_rate("bytes"));
  CHECK(!jobfile::is_rate("/s"));
}

TEST_CASE("summaries merge exactly in any grouping (parallel variance), as the tree merge does") {
  std::vector<std::vector<double>> rows = {{1, 4, 9}, {2, std::nan(""), 8}, {100}, {3, 3}, {-7, 0.5}};
  PartialStats all;
  for (std::size_t r = 0; r < rows.size(); ++r) all.add_row(rows[r], 2, static_cast<double>(r));
  // ((0 1) (2)) ((3) (4)): the tree's pairing at 5 ranks
  std::vector<PartialStats> parts(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) parts[r].add_row(rows[r], 2, static_cast<double>(r));
  parts[0].merge(parts[1]);
  parts[2].merge(parts[3]);
  parts[0].merge(parts[2]);
  parts[0].merge(parts[4]);
  auto a = all.job_stats(), b = parts[0].job_stats();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]));
  std::vector<double> flat = {1, 4, 9, 2, 8, 100, 3, 3, -7, 0.5};
  double mean = 0, var = 0;
  for (double v : flat) mean += v / 10;
  for (double v : flat) var += (v - mean) * (v - mean) / 10;
  CHECK(b[jobfile::kStd] == Approx(std::sqrt(var)));
  CHECK(b[jobfile::kSum] == Approx(2 * 123.5));
  CHECK(b[jobfile::kLowestRow] == 4);   // integral -13
  CHECK(b[jobfile::kHighestRow] == 2);  // integral 200
}

TEST_CASE("a row's stats gathered over time windows are its stats at once") {
  const double nan = std::nan("");
  const std::vector<double> bins = {nan, 1, 2, 4, nan, 8, 3, 1, nan, nan};
  PartialStats at_once;
  at_once.add_row(bins, 0.5, 7);
  PartialStats windows;
  for (auto [from, to] : {std::pair{0, 3}, {3, 4}, {4, 9}, {9, 10}})
    windows.extend_row(std::span(bins).subspan(from, to - from), 0.5);
  windows.end_row(7);
  auto a = at_once.job_stats(), b = windows.job_stats();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-12));
  CHECK(b[jobfile::kLast] == 1);  // the row's latest value, not a sum over windows
  CHECK(b[jobfile::kLowestRow] == 7);
}

TEST_CASE("time steps across rows: columns of a rows x bins block add up as their values would one by one") {
  // Three rows, two steps; a NaN (a rank not running) is left out of its step.
  const std::vector<double> block = {1, 10, 2, std::nan(""), 6, 30};
  std::vector<PartialStats> steps(2);
  add_columns(steps, block, 3, 1);
  auto first = steps[0].step_stats(), second = steps[1].step_stats();
  CHECK(first[jobfile::kStepTotal] == 9);
  CHECK(first[jobfile::kStepMean] == 3);
  CHECK(first[jobfile::kStepStd] == Approx(std::sqrt(14.0 / 3)));
  CHECK(second[jobfile::kStepMin] == 10);
  CHECK(second[jobfile::kStepMax] == 30);
  CHECK(second[jobfile::kStepStd] == Approx(10));
  // A second batch of rows merges into the same steps exactly.
  add_columns(steps, std::vector<double>{3, 20}, 1, 1);
  CHECK(steps[0].step_stats()[jobfile::kStepMean] == 3);
  CHECK(steps[1].step_stats()[jobfile::kStepStd] == Approx(std::sqrt(200.0 / 3)));
}

TEST_CASE("formulas parse, evaluate elementwise and report errors with their place") {
  auto m = parse_metric("x", "1", "rate(a) * 2 - b / (c - 1) + -1", "test");
  std::vector<double> a = {1, 2}, b = {4, 6}, c = {3, 1};
  auto out = evaluate(m, 2, [&](const std::string& f, bool rate) -> const std::vector<double>* {
    if (f == "a" && rate) return &a;
    if (f == "b" && !rate) return &b;
    if (f == "c" && !rate) return &c;
    return nullptr;
  });
  CHECK(out[0] == 2 - 2 - 1);
  CHECK(std::isnan(out[1]));  // division by zero gives a gap, not infinity
  REQUIRE(m.inputs.size() == 3);
  CHECK(m.inputs[0] == std::pair<std::string, bool>{"a", true});
  CHECK_THROWS_WITH(parse_metric("x", "1", "rate(a", ""), Catch::Contains("rate() takes one field name"));
  CHECK_THROWS_WITH(parse_metric("x", "1", "log(a)", ""), Catch::Contains("unknown function 'log'"));
  CHECK_THROWS_WITH(parse_metric("x", "1", "a +", ""), Catch::Contains("formula ends early"));
  CHECK_THROWS_WITH(parse_metrics_text("f.metrics", "a | 1 | b | x\na | 1 | c | y\n"),
                    Catch::Contains("f.metrics:2") && Catch::Contains("defined twice"));
  CHECK_THROWS_WITH(parse_metrics_text("g.metrics", "# c\n\nbad line\n"), Catch::Contains("g.metrics:3"));
}

TEST_CASE("every source's metrics parse and use only its fields, correctly") {
  collect::SourceConfig config;
  std::vector<collect::SourceFactory> factories = collect::process_source_factories();
  for (auto& f : collect::node_source_factories()) factories.push_back(f);
  std::size_t checked = 0;
  for (const auto& make : factories) {
    auto source = make(config);
    if (!source) continue;  // switched off by default (per-thread sampling)
    source->open();  // fields may depend on what open() finds; absent hardware keeps the fixed ones
    auto spec = source->describe();
    INFO("source " << spec.name);
    auto metrics = metrics_for_source(spec);
    if (spec.fields.empty()) continue;  // nothing this machine can count for it
    REQUIRE_FALSE(metrics.empty());
    for (const auto& m : metrics) {
      for (const auto& [field, rate] : m.inputs) {
        INFO(m.name << " uses " << field);
        auto it = std::find_if(spec.fields.begin(), spec.fields.end(), [&](auto& f) { return f.name == field; });
        REQUIRE(it != spec.fields.end());
        bool counter = it->aggregation == Aggregation::Counter || it->aggregation == Aggregation::TreeCounter;
        CHECK(rate == counter);  // rate() of counters, bare gauges
      }
    }
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("every formula file gives its known answer on synthetic counts") {
  // Inputs are per-second rates for rate(counter), values for gauges: one bin of one second.
  struct Case {
    const char* file;
    const char* metric;
    std::map<std::string, double> inputs;
    double expected;
  };
  const std::map<std::string, double> skx_fp = {{"fp_scalar_double", 1e9}, {"fp_128b_packed_double", 1e9},
                                                {"fp_256b_packed_double", 1e9}, {"fp_512b_packed_double", 1e9},
                                                {"fp_scalar_single", 1e9}, {"fp_128b_packed_single", 1e9},
                                                {"fp_256b_packed_single", 1e9}, {"fp_512b_packed_single", 1e9}};
  const Case cases[] = {
      {"metrics/procfs.process.metrics", "cpu_utilization", {{"cpu_user", 6e8}, {"cpu_system", 2e8}}, 0.8},
      {"metrics/procfs.node.metrics", "cpu_busy",
       {{"cpu_user", 3e9}, {"cpu_nice", 0}, {"cpu_system", 1e9}, {"cpu_idle", 4e9}, {"cpu_iowait", 0}, {"cpu_irq", 0},
        {"cpu_softirq", 0}, {"cpu_steal", 0}},
       0.5},
      {"metrics/rapl.metrics", "package_power", {{"package_energy", 212.5}}, 212.5},  // J/s = W
      {"metrics/infiniband.metrics", "ib_rx_bandwidth", {{"ib_rx_bytes", 12.5e9}}, 12.5e9},
      {"metrics/lustre.metrics", "lustre_write_bandwidth", {{"write_bytes", 3e9}}, 3e9},
      {"metrics/nvidia_gpu.metrics", "gpu_power", {{"power", 700}}, 700},
      {"metrics/nvidia_gpu.metrics", "gpu_utilization", {{"utilization", 87}}, 87},
      {"metrics/nvidia_process.metrics", "gpu_memory", {{"gpu_memory", 4e9}}, 4e9},
      {"events/software.events", "task_clock_cores", {{"task_clock", 3.5e9}}, 3.5},
      // LIKWID's FLOPS_DP/FLOPS_SP: 1e-6 x (scalar + 2·128b + 4·256b + 8·512b) and (1, 4, 8, 16) per second
      {"events/skylake-x.events", "dp_mflops", skx_fp, 15000},
      {"events/icelake-x.events", "dp_mflops", skx_fp, 15000},
      {"events/icelake-x.events", "sp_mflops", skx_fp, 29000},
      {"events/sapphirerapids.events", "sp_mflops", skx_fp, 29000},
      {"events/broadwell-x.events", "dp_mflops", skx_fp, 7000},
      {"events/haswell-x.events", "ipc", {{"instructions", 3e9}, {"cycles", 2e9}}, 1.5},
      {"events/zen2.events", "mflops", {{"fp_flops", 4e9}}, 4000},
      {"events/zen3.events", "mflops", {{"fp_flops", 4e9}}, 4000},
      {"events/zen4.events", "mflops", {{"fp_flops", 4e9}}, 4000},
      // LIKWID's MEM group: 1e-6 x (CAS reads + CAS writes) x 64 bytes per second
      {"events/uncore.events", "memory_bandwidth", {{"cas_count_read", 1e9}, {"cas_count_write", 0.5e9}}, 96000},
      {"events/uncore.events", "memory_read_bandwidth", {{"cas_count_read", 1e9}}, 64000},
  };
  std::set<std::string> files;
  for (const auto& c : cases) {
    INFO(c.file << ": " << c.metric);
    auto path = find_share_file(c.file);
    REQUIRE_FALSE(path.empty());
    files.insert(c.file);
    const DerivedMetric* metric = nullptr;
    auto metrics = parse_metrics_file(path);
    for (const auto& m : metrics)
      if (m.name == c.metric) metric = &m;
    REQUIRE(metric != nullptr);
    std::map<std::string, std::vector<double>> bins;
    for (const auto& [name, v] : c.inputs) bins[name] = {v};
    auto got = evaluate(*metric, 1, [&](const std::string& field, bool) {
      auto it = bins.find(field);
      return it == bins.end() ? nullptr : &it->second;
    });
    CHECK(got[0] == Approx(c.expected));
  }
  // Every formula file of share/ has a case here.
  for (const auto& dir : {"metrics", "events"})
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(find_share_file("schema.md")).parent_path() / dir)) {
      auto ext = entry.path().extension();
      if (ext != ".metrics" && ext != ".events") continue;
      INFO(entry.path());
      CHECK(files.count(std::string(dir) + "/" + entry.path().filename().string()) == 1);
    }
}

TEST_CASE("a rank's command is its top process's, even where a child has the lower pid and the same start") {
  stream::DecodedStream s;
  // pids wrapped: the worker (pid 100) was forked by the job's command (pid 32000) in the same tick.
  s.subjects = {{0, 100, 32000, 0, 5 * kS, "stress-ng-cpu [run]"},
                {0, 32000, 1, 0, 5 * kS, "stress-ng --cpu 1"},
                {0, 50, 1, 1, 4 * kS, "rank one"},
                {0, 7, 1, 0, 6 * kS, "a later top process"}};
  CHECK(rank_command(s, 0) == "stress-ng --cpu 1");
  CHECK(rank_command(s, 1) == "rank one");
  CHECK(rank_command(s, 2).empty());
}
