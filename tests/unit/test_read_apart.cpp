// Reading files apart: a read that crashes or loops costs that file, named,
// and the reads before and after it still come back, in order.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "analyze/read_apart.hpp"
#include "formats/hdf5_io.hpp"

using jobperf::analyze::read_apart;

namespace {
std::vector<char> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// As libhdf5 does on damaged metadata: crash, or loop (ended by the CPU-time guard).
std::vector<char> read_like_libhdf5(const std::string& path) {
  if (path == "crashes.h5") raise(SIGSEGV);
  if (path == "loops.h5") {
    jobperf::h5::EndLoopingRead guard("attribute units", 0.05);
    std::atomic<unsigned long> spins{0};
    for (;;) spins.fetch_add(1, std::memory_order_relaxed);
  }
  return bytes_of("read " + path);
}
}  // namespace

TEST_CASE("read apart: a file that kills its reader is left out, named, and the others are read") {
  const std::vector<std::string> paths = {"a.h5", "crashes.h5", "b.h5", "loops.h5", "crashes.h5", "c.h5"};
  auto reads = read_apart(paths, read_like_libhdf5);
  REQUIRE(reads.size() == paths.size());
  for (std::size_t k : {0, 2, 5}) {
    CHECK(reads[k].died.empty());
    CHECK(reads[k].message == bytes_of("read " + paths[k]));
  }
  for (std::size_t k : {1, 3, 4}) {
    INFO(reads[k].died);
    CHECK(reads[k].message.empty());
    CHECK(reads[k].died.rfind(paths[k] + ": left out: its reader died on it (", 0) == 0);
  }
  // Under AddressSanitizer, whose handler ends a SIGSEGV with exit 1, the signal is not seen.
  CHECK((reads[1].died.find("Segmentation fault") != std::string::npos || reads[1].died.find("exit 1") != std::string::npos));
  CHECK(reads[3].died.find("(exit 1)") != std::string::npos);  // the guard's exit
}

TEST_CASE("read apart: no files, no children") {
  CHECK(read_apart({}, read_like_libhdf5).empty());
}
