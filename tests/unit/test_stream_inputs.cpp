// Which reducer rank reads which stream.
#include <catch2/catch.hpp>
#include <numeric>

#include "reduce/stream_inputs.hpp"

using jobperf::reduce::assign_streams;
using jobperf::reduce::drop_copies;
using jobperf::reduce::StreamFile;

namespace {

// `sizes` bytes each, readable by the ranks in `readers` (all of them if empty).
std::vector<StreamFile> streams(const std::vector<std::uint64_t>& sizes, int ranks,
                                const std::vector<std::vector<int>>& readers = {}) {
  std::vector<StreamFile> out;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    StreamFile f{"s" + std::to_string(i) + ".jps", sizes[i], {}, static_cast<std::int32_t>(i), "node",
                 "rank " + std::to_string(i) + " on node", 1750000000000000000};
    if (readers.empty()) {
      f.readers.resize(static_cast<std::size_t>(ranks));
      std::iota(f.readers.begin(), f.readers.end(), 0);
    } else {
      f.readers = readers[i];
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

TEST_CASE("streams of equal size go to the ranks in contiguous runs of equal length", "[inputs]") {
  CHECK(assign_streams(streams(std::vector<std::uint64_t>(8, 1000), 4), 4) == std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3});
  CHECK(assign_streams(streams(std::vector<std::uint64_t>(3, 1000), 1), 1) == std::vector<int>{0, 0, 0});
}

TEST_CASE("runs balance bytes, not streams", "[inputs]") {
  // One stream as large as the other six together: it is a run of its own.
  CHECK(assign_streams(streams({6000, 1000, 1000, 1000, 1000, 1000, 1000}, 2), 2) ==
        std::vector<int>{0, 1, 1, 1, 1, 1, 1});
}

TEST_CASE("a stream on node-local scratch goes to a rank that can see it, the least loaded", "[inputs]") {
  // Ranks 0 and 1 on one node, 2 and 3 on another; each node sees its own streams only.
  const std::vector<std::vector<int>> readers{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {2, 3}, {2, 3}, {2, 3}, {2, 3}};
  CHECK(assign_streams(streams(std::vector<std::uint64_t>(8, 1000), 4, readers), 4) ==
        std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3});
  // All streams on the second node: the first node's ranks have nothing to
  // read, and the second node's two share the work evenly.
  const std::vector<std::vector<int>> second{{2, 3}, {2, 3}, {2, 3}, {2, 3}};
  CHECK(assign_streams(streams(std::vector<std::uint64_t>(4, 1000), 4, second), 4) == std::vector<int>{2, 3, 2, 3});
}

TEST_CASE("runs of one-rank streams start on aligned blocks of rows when that costs a 16th of a run", "[inputs]") {
  // 250 streams in thirds: runs of 83.3 streams, cut instead at 80 (a block
  // of 16 rows) and 168 (of 8), each run within a 16th of its share.
  const auto owner = assign_streams(streams(std::vector<std::uint64_t>(250, 1000), 3), 3);
  std::vector<std::size_t> runs(3, 0);
  for (std::size_t i = 0; i < owner.size(); ++i) {
    ++runs[static_cast<std::size_t>(owner[i])];
    if (i > 0) CHECK(owner[i] >= owner[i - 1]);
  }
  CHECK(runs == std::vector<std::size_t>{80, 88, 82});
  // Streams of a node's ranks each: their rows are not known, the split is by bytes alone.
  auto nodes = streams(std::vector<std::uint64_t>(250, 1000), 3);
  for (auto& f : nodes) f.rank = -1;
  runs.assign(3, 0);
  for (int r : assign_streams(nodes, 3)) ++runs[static_cast<std::size_t>(r)];
  CHECK(runs == std::vector<std::size_t>{83, 84, 83});
}

TEST_CASE("a run's start moves to an aligned block only with streams its rank can read", "[inputs]") {
  // Two nodes of 98 streams on node-local scratch, two reducer ranks each.
  // Run 2 would start better aligned at stream 96 (a block of 32) than at
  // 98 (of 2), but ranks 2 and 3 cannot read the first node's streams: it
  // starts at 98, and every rank's streams stay one contiguous run.
  std::vector<std::vector<int>> readers(196, {0, 1});
  std::fill(readers.begin() + 98, readers.end(), std::vector<int>{2, 3});
  const auto owner = assign_streams(streams(std::vector<std::uint64_t>(196, 1000), 4, readers), 4);
  std::vector<std::size_t> first(4, owner.size()), count(4, 0);
  for (std::size_t i = 0; i < owner.size(); ++i) {
    const auto r = static_cast<std::size_t>(owner[i]);
    first[r] = std::min(first[r], i);
    ++count[r];
  }
  CHECK(first == std::vector<std::size_t>{0, 48, 98, 144});  // blocks of 16 near 49 and 147
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t i = first[r]; i < first[r] + count[r]; ++i) CHECK(owner[i] == static_cast<int>(r));
}

TEST_CASE("a stream given twice is read once, from the larger copy", "[inputs]") {
  auto files = streams({1000, 1000, 1000}, 1);
  auto copy = files[1];
  copy.path = "copy/s1.jps";
  copy.size = 1500;  // copied later than s1.jps was
  files.insert(files.begin() + 2, copy);
  auto again = files[0];
  again.path = "./s0.jps";
  files.push_back(again);
  auto restarted = files[2];  // the same rank and collector pid, another start: not a copy
  restarted.path = "restarted.jps";
  restarted.collector_start += 1;
  files.push_back(restarted);
  auto unreadable = files[0];  // no header: nothing to compare
  unreadable.path = "unreadable.jps";
  unreadable.collector.clear();
  files.push_back(unreadable);
  const auto notes = drop_copies(files);
  std::vector<std::string> kept;
  for (const auto& f : files) kept.push_back(f.path);
  CHECK(kept == std::vector<std::string>{"s0.jps", "copy/s1.jps", "s2.jps", "restarted.jps", "unreadable.jps"});
  CHECK(notes == std::vector<std::string>{"s1.jps: left out, the same stream as copy/s1.jps (rank 1 on node)",
                                          "./s0.jps: left out, the same stream as s0.jps (rank 0 on node)"});
}
