// Test helper: starts N threads (argv[1], default 3) that each burn 50 ms of
// their own CPU time, joins them, and exits with status argv[2] (default 0).
// The threads end together, as a parallel loop's do: their exits race.
#include <barrier>
#include <ctime>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 3;
  std::barrier all_done(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&all_done] {
      volatile double x = 0;
      timespec ts{};
      do {
        for (int k = 0; k < 10000; ++k) x = x + 1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      } while (ts.tv_sec * 1'000'000'000L + ts.tv_nsec < 50'000'000L);
      all_done.arrive_and_wait();
    });
  for (auto& t : threads) t.join();
  return argc > 2 ? std::atoi(argv[2]) : 0;
}
