// jobperf-test-list-exits STREAM: one line per process-exit record,
// "kind pid ppid rank exit_code signal generation exe", for the tests.
#include <cstdio>

#include "formats/raw_stream.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: jobperf-test-list-exits STREAM\n");
    return 2;
  }
  try {
    auto s = jobperf::stream::read_stream(argv[1]);
    const char* kinds[] = {"?", "exited", "killed", "thread"};
    for (const auto& x : s.process_exits)
      std::printf("%s %u %u %d %d %d %u %s\n", kinds[static_cast<int>(x.kind) & 3], x.pid, x.ppid, x.rank, x.exit_code,
                  x.signal, x.exec_generation, x.exe.c_str());
    return s.damage.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
