// The byte codec's symmetric interface: one field list sends and receives.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "formats/byte_codec.hpp"

namespace {

struct Count {
  std::string source;
  std::int64_t samples = 0;
};

enum class Kind : std::uint8_t { Rank = 1, Node = 2 };

struct Row {
  std::int32_t rank = -1;
  Kind kind = Kind::Rank;
  std::string host;
  std::vector<double> values;
  std::map<std::string, std::array<double, 3>> stats;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Count> counts;
};

void transfer(auto& io, jobperf::MessageOf<Row> auto& r) {
  io(r.rank, r.kind, r.host, r.values, r.stats, r.metadata);
  io.each(r.counts, [&](auto& c) { io(c.source, c.samples); });
}

std::vector<char> encoded(const std::vector<Row>& rows) {
  std::vector<char> bytes;
  jobperf::Encoder e(bytes);
  e.each(rows, [&](const Row& r) { transfer(e, r); });
  return bytes;
}

void decode_into(const std::vector<char>& bytes, std::vector<Row>& rows) {
  jobperf::Decoder d(bytes.data(), bytes.size());
  d.each(rows, [&](Row& r) { transfer(d, r); });
  REQUIRE(d.remaining() == 0);
}

Row sample_row(std::int32_t rank) {
  Row r;
  r.rank = rank;
  r.kind = rank < 0 ? Kind::Node : Kind::Rank;
  r.host = "node" + std::to_string(rank);
  r.values = {1.5, -2.0, 1e300};
  r.stats = {{"cpu", {0.25, 0.5, 0.75}}, {"io", {1, 2, 3}}};
  r.metadata = {{"job_name", "lammps"}, {"user", ""}};
  r.counts = {{"procfs", 3600}, {"perf", 0}};
  return r;
}

bool same(const Row& a, const Row& b) {
  if (a.counts.size() != b.counts.size()) return false;
  for (std::size_t i = 0; i < a.counts.size(); ++i)
    if (a.counts[i].source != b.counts[i].source || a.counts[i].samples != b.counts[i].samples) return false;
  return a.rank == b.rank && a.kind == b.kind && a.host == b.host && a.values == b.values && a.stats == b.stats &&
         a.metadata == b.metadata;
}

}  // namespace

TEST_CASE("codec: one field list sends and receives every kind of field", "[codec]") {
  const std::vector<Row> sent{sample_row(0), sample_row(-1), Row{}};
  std::vector<Row> received;
  decode_into(encoded(sent), received);
  REQUIRE(received.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) CHECK(same(received[i], sent[i]));
}

TEST_CASE("codec: several ranks' messages gather into one list", "[codec]") {
  std::vector<Row> gathered;
  decode_into(encoded({sample_row(0)}), gathered);
  decode_into(encoded({sample_row(1), sample_row(2)}), gathered);
  REQUIRE(gathered.size() == 3);
  CHECK(gathered[2].rank == 2);
  CHECK(gathered[2].counts.size() == 2);
}

TEST_CASE("codec: a message cut short or of the wrong shape is refused, not read past", "[codec]") {
  auto bytes = encoded({sample_row(7)});
  for (std::size_t cut : {std::size_t{0}, std::size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<Row> rows;
    jobperf::Decoder d(bytes.data(), cut);
    CHECK_THROWS_AS(d.each(rows, [&](Row& r) { transfer(d, r); }), jobperf::DecodeError);
  }
  std::vector<char> wrong;
  jobperf::Encoder e(wrong);
  e(std::vector<double>{1, 2});  // two values where an array of three is expected
  std::array<double, 3> three{};
  jobperf::Decoder d(wrong.data(), wrong.size());
  CHECK_THROWS_AS(d(three), jobperf::DecodeError);
}
