// Raw stream v1: round trip, and recovery from every truncation and bit flip.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "formats/crc32c.hpp"
#include "formats/raw_stream.hpp"

using namespace jobperf::stream;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("jobperf-test-" + std::to_string(getpid()) + "-" + name)).string();
}

std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A small stream of every block type the collector writes: header, schema,
// 3 record blocks of 2 records, subjects, a note, UTC errors, an anchor, a
// clock offset, metadata, end.
std::string write_sample_stream(const std::string& path) {
  Header h;
  h.host = "node7";
  h.job_id = "job-42";
  h.rank = 3;
  h.local_rank = 1;
  h.pid = 999;
  h.mode = "wrapper";
  h.interval_ns = 250'000'000;
  h.collector_version = "test";
  h.start = {100, 1'700'000'000'000'000'000, 102};
  StreamWriter w(path, h, true);
  SourceSpec s{0, "test.source", Scope::Process,
               {{"cpu", "ns", "cpu time", FieldType::U64, Aggregation::TreeCounter},
                {"load", "1", "a float", FieldType::F64, Aggregation::Gauge}}};
  s.id = 1;
  w.add_source(s);
  w.subject_begin({150, 4242, 999, 3, 120, "./app --size 100"});
  for (int block = 0; block < 3; ++block) {
    for (int r = 0; r < 2; ++r) {
      std::uint64_t v[2] = {static_cast<std::uint64_t>(block * 10 + r), to_raw(0.5 * block + r)};
      w.record(1000 + block * 100 + r, 1, 4242, v);
    }
    w.flush();
  }
  w.note({2000, NoteLevel::Warning, "test.source", "something unavailable"});
  w.utc_error({2050, 1'500'000});
  w.utc_error({2060, -1});
  w.subject_end({2100, 4242, 0});
  w.anchor({2200, 1'700'000'000'000'002'200, 2201});
  w.clock_offset({"node7", "node0", "stop", 2300, 1'700'000'000'000'002'300, -1500, 800, 450, 100, 2});
  w.metadata({{"command", "./app"}, {"user", "alice"}});
  w.close({{3000, 1'700'000'000'000'003'000, 3002}, "command exited"});
  return path;
}

}  // namespace

TEST_CASE("crc32c matches the Castagnoli check value") {
  REQUIRE(jobperf::crc32c("123456789", 9) == 0xE3069283u);
  REQUIRE(jobperf::crc32c("", 0) == 0u);
  // Incremental equals one-shot.
  std::uint32_t part = jobperf::crc32c("12345", 5);
  REQUIRE(jobperf::crc32c("6789", 4, part) == 0xE3069283u);
}

TEST_CASE("crc32c's three-lane path agrees with the bitwise definition at every length and alignment") {
  auto bitwise = [](const unsigned char* p, std::size_t n) {
    std::uint32_t c = ~0u;
    for (std::size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
  };
  std::vector<unsigned char> data(28000);  // the longest length below, from the furthest start
  std::uint32_t x = 12345;
  for (auto& b : data) b = static_cast<unsigned char>((x = x * 1103515245u + 12345u) >> 24);
  // Either side of the long (3 x 4096) and short (3 x 256) strides, from odd addresses too.
  for (std::size_t n : {0, 1, 7, 8, 9, 767, 768, 769, 1000, 12287, 12288, 12289, 13000, 24576, 27000}) {
    for (std::size_t at : {0, 1, 3}) {
      INFO("length " << n << " at " << at);
      REQUIRE(jobperf::crc32c(data.data() + at, n) == bitwise(data.data() + at, n));
    }
  }
  // In pieces, as a block header and payload are checked.
  REQUIRE(jobperf::crc32c(data.data() + 12, 20000, jobperf::crc32c(data.data(), 12)) == bitwise(data.data(), 20012));
}

TEST_CASE("a stream round-trips every block type") {
  auto path = write_sample_stream(temp_path("roundtrip.jps"));
  auto s = read_stream(path);
  CHECK(s.damage.empty());
  CHECK(s.header.host == "node7");
  CHECK(s.header.job_id == "job-42");
  CHECK(s.header.rank == 3);
  CHECK(s.header.local_rank == 1);
  CHECK(s.header.interval_ns == 250'000'000);
  CHECK(s.header.start.realtime == 1'700'000'000'000'000'000);
  REQUIRE(s.sources.size() == 1);
  CHECK(s.sources[0].fields[0].aggregation == Aggregation::TreeCounter);
  CHECK(s.sources[0].fields[1].units == "1");
  REQUIRE(s.records.size() == 6);
  CHECK(s.records[5].time_ns == 1201);
  CHECK(s.values_of(s.records[5])[0] == 21);
  CHECK(raw_to_double(s.values_of(s.records[5])[1], FieldType::F64) == 2.0);
  REQUIRE(s.subjects.size() == 1);
  CHECK(s.subjects[0].command == "./app --size 100");
  REQUIRE(s.subject_ends.size() == 1);
  CHECK(s.subject_ends[0].wait_status == 0);
  REQUIRE(s.notes.size() == 1);
  CHECK(s.notes[0].level == NoteLevel::Warning);
  REQUIRE(s.utc_errors.size() == 2);
  CHECK(s.utc_errors[0].mono_ns == 2050);
  CHECK(s.utc_errors[0].bound_ns == 1'500'000);
  CHECK(s.utc_errors[1].bound_ns == -1);
  REQUIRE(s.anchors.size() == 1);
  CHECK(s.anchors[0].mono_after == 2201);
  REQUIRE(s.clock_offsets.size() == 1);
  CHECK(s.clock_offsets[0].reference_host == "node0");
  CHECK(s.clock_offsets[0].offset_ns == -1500);
  CHECK(s.clock_offsets[0].hops == 2);
  CHECK(s.metadata.size() == 2);
  CHECK(s.closed);
  CHECK(s.end.reason == "command exited");
  std::remove(path.c_str());
}

TEST_CASE("a simulated node's clock skew and UTC error bound parse, and unparsable ones are refused") {
  CHECK(parse_clock_skew("2500") == ClockSkew{2500, 0, {}});
  CHECK(parse_clock_skew("-7,90.5") == ClockSkew{-7, 90.5, {}});
  CHECK(parse_clock_skew("0,0,300000") == ClockSkew{0, 0, 300000});
  CHECK(parse_clock_skew("0,0,-1") == ClockSkew{0, 0, -1});
  for (auto bad : {"", "x", "1,", "1,2,", "1,2,3,", "1,2,-2", "1;2"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_clock_skew(bad), std::invalid_argument);
  }
  const auto was = clock_skew();
  set_clock_skew({0, 0, 250'000});
  CHECK(utc_error_bound_ns() == 250'000);
  set_clock_skew({0, 0, -1});
  CHECK(utc_error_bound_ns() == -1);
  set_clock_skew({0, 0, {}});  // the host's own: a bound of at least 0, or -1 unsynchronised
  CHECK(utc_error_bound_ns() >= -1);
  set_clock_skew(was);
}

TEST_CASE("an existing stream is not replaced without force") {
  auto path = write_sample_stream(temp_path("exists.jps"));
  Header h;
  REQUIRE_THROWS_WITH(StreamWriter(path, h, false), Catch::Contains("already exists") && Catch::Contains(path));
  REQUIRE_NOTHROW(StreamWriter(path, h, true));
  std::remove(path.c_str());
}

TEST_CASE("truncation at every offset keeps every complete block and reports the torn one") {
  auto path = write_sample_stream(temp_path("truncate.jps"));
  auto bytes = slurp(path);
  auto full = read_stream(path);
  // Offsets where blocks end: decode each prefix that ends exactly there.
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    std::span<const char> prefix(bytes.data(), cut);
    if (cut < 16 + 16) {  // prologue or header block incomplete: unreadable as a whole
      REQUIRE_THROWS_AS(decode_stream("cut", prefix), StreamError);
      continue;
    }
    DecodedStream s;
    try {
      s = decode_stream("cut", prefix);
    } catch (const StreamError& e) {
      // Only a torn header block may make the whole stream unreadable.
      REQUIRE(std::string(e.what()).find("header block damaged") != std::string::npos);
      continue;
    }
    REQUIRE(s.records.size() <= full.records.size());
    REQUIRE(s.blocks_read <= full.blocks_read);
    if (s.blocks_read < full.blocks_read) {
      bool at_boundary = s.damage.empty();
      if (!at_boundary) {
        REQUIRE(s.damage.size() == 1);
        REQUIRE(s.damage[0].offset + s.damage[0].length == cut);
        REQUIRE(s.damage[0].what.find("truncated") != std::string::npos);
      }
      REQUIRE_FALSE(s.closed);
    }
  }
  std::remove(path.c_str());
}

TEST_CASE("a flipped bit damages one block and the rest is recovered") {
  auto path = write_sample_stream(temp_path("flip.jps"));
  auto bytes = slurp(path);
  auto full = read_stream(path);
  const std::size_t first_after_header = 16 + 16 + 100;  // somewhere past the header block
  for (std::size_t at = first_after_header; at < bytes.size(); ++at) {
    auto damaged = bytes;
    damaged[at] ^= 0x10;
    auto s = decode_stream("flip", damaged);
    REQUIRE(s.damage.size() >= 1);
    REQUIRE(s.damage[0].offset <= at);
    REQUIRE(s.damage[0].offset + s.damage[0].length > at);
    // Exactly one block was lost: at most two records.
    REQUIRE(s.records.size() + 2 >= full.records.size());
    REQUIRE(s.blocks_read + 1 == full.blocks_read);
  }
  std::remove(path.c_str());
}

TEST_CASE("foreign and unsupported files are refused with the file named") {
  auto path = temp_path("foreign.jps");
  {
    std::ofstream out(path);
    out << "this is a CSV file, not a stream\n";
  }
  REQUIRE_THROWS_WITH(read_stream(path), Catch::Contains(path) && Catch::Contains("not a jobperf stream"));
  auto stream = write_sample_stream(temp_path("version.jps"));
  auto bytes = slurp(stream);
  bytes[8] = 7;  // format version 7
  REQUIRE_THROWS_WITH(decode_stream("v7", bytes), Catch::Contains("version 7 is not supported"));
  REQUIRE_THROWS_WITH(read_stream(temp_path("missing.jps")), Catch::Contains("cannot open"));
  std::remove(path.c_str());
  std::remove(stream.c_str());
}

TEST_CASE("a stream longer than the reader's buffer reads as it does from memory, damage and all") {
  auto path = temp_path("long.jps");
  {
    Header h;
    h.host = "n";
    h.job_id = "j";
    StreamWriter w(path, h, true);
    w.add_source({1, "s", Scope::Node, {{"v", "1", "", FieldType::U64, Aggregation::Gauge}}});
    for (int block = 0; block < 300; ++block) {  // about 3 MiB: blocks straddle the 1 MiB reads
      for (int r = 0; r < 400; ++r) {
        std::uint64_t v[] = {static_cast<std::uint64_t>(block * 400 + r)};
        w.record(block * 400 + r, 1, 0, v);
      }
      w.flush();
    }
    w.close({{}, "done"});
  }
  auto bytes = slurp(path);
  REQUIRE(bytes.size() > (2u << 20));
  auto from_file = read_stream(path);
  auto from_memory = decode_stream(path, bytes);
  CHECK(from_file.records.size() == 120000);
  CHECK(from_file.values == from_memory.values);
  CHECK(from_file.damage.empty());
  CHECK(from_file.closed);

  bytes[(3u << 19) + 7] ^= 0x40;  // 1.5 MiB in: one record block
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto damaged = read_stream(path);
  REQUIRE(damaged.damage.size() == 1);
  CHECK(damaged.damage[0].offset <= (3u << 19) + 7);
  CHECK(damaged.damage[0].offset + damaged.damage[0].length > (3u << 19) + 7);
  CHECK(damaged.records.size() == 120000 - 400);
  CHECK(damaged.values == decode_stream(path, bytes).values);
  CHECK(damaged.closed);
  std::remove(path.c_str());
}

TEST_CASE("a second pass may trust the first pass's CRC checks, and knows a changed file") {
  auto path = write_sample_stream(temp_path("trust.jps"));
  auto identity = [&] { return StreamReader(path).identity(); };
  const auto first = identity();
  CHECK(first == identity());  // opened again, unchanged
  const auto whole = read_stream(path);
  // The second block's stored CRC made wrong: damage when checked, none when trusted.
  auto bytes = slurp(path);
  std::uint32_t header_length = 0;
  std::memcpy(&header_length, bytes.data() + 16 + 8, 4);  // prologue, then sync, type, flags, length, CRC
  bytes[16 + 16 + header_length + 12] ^= 0x01;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto read_all = [&](bool trust) {
    StreamReader reader(path);
    if (trust) reader.trust_crcs();
    DecodedStream s;
    while (reader.next(s)) {
    }
    return s;
  };
  auto checked = read_all(false), trusted = read_all(true);
  REQUIRE(checked.damage.size() == 1);
  CHECK(checked.damage[0].what == "CRC mismatch");
  CHECK(trusted.damage.empty());
  CHECK(trusted.records.size() == whole.records.size());
  CHECK(trusted.values == whole.values);
  // Collectors only append: a changed stream is a longer one, and another file.
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << 'x';
  }
  CHECK_FALSE(first == identity());
  std::remove(path.c_str());
}

TEST_CASE("the v1 layout is pinned: the same content gives the same bytes as when v1 was fixed") {
  // Streams outlive the reducer that reads them: a change to any block's
  // layout must come with a new format version, not go unnoticed.
  auto path = write_sample_stream(temp_path("pinned.jps"));
  ProcessExit x;  // what libjobperf-preload.so appends
  x.kind = ExitKind::Killed;
  x.pid = 4242, x.tid = 4243, x.ppid = 999, x.pgid = 4242, x.sid = 1, x.exec_generation = 2;
  x.rank = 3, x.exit_code = -1, x.signal = 9, x.start_ns = 120, x.end_ns = 2090;
  x.exe = "/bin/app", x.args = "./app --size 100", x.tags = "op:solve";
  std::uint64_t n = 1;
  for (auto* v : {&x.user_ns, &x.system_ns, &x.maxrss_kb, &x.minflt, &x.majflt, &x.inblock, &x.oublock,
                  &x.voluntary_ctxt, &x.involuntary_ctxt, &x.rchar, &x.wchar, &x.syscr, &x.syscw, &x.read_bytes,
                  &x.write_bytes, &x.cancelled_write_bytes, &x.run_ns, &x.wait_ns, &x.timeslices,
                  &x.perf_task_clock_ns, &x.perf_instructions, &x.perf_cycles})
    *v = n *= 3;
  auto exit_block = encode_process_exit_block(x);
  std::ofstream(path, std::ios::binary | std::ios::app).write(exit_block.data(), static_cast<std::streamsize>(exit_block.size()));
  auto bytes = slurp(path);
  CHECK(bytes.size() == 1214);
  CHECK(jobperf::crc32c(bytes.data(), bytes.size()) == 0x77e184e3u);
  auto s = read_stream(path);
  CHECK(s.damage.empty());
  REQUIRE(s.process_exits.size() == 1);
  const auto& y = s.process_exits[0];
  CHECK((y.kind == ExitKind::Killed && y.signal == 9 && y.tags == "op:solve" && y.exec_generation == 2));
  CHECK(y.perf_cycles == x.perf_cycles);
  std::remove(path.c_str());
}
