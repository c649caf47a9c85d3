// Test helper: starts N threads (argv[1], default 3) that each burn ~50 ms of
// CPU, joins them, and exits with status argv[2] (default 0).
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 3;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([] {
      volatile double x = 0;
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      while (std::chrono::steady_clock::now() < until) x = x + 1;
    });
  for (auto& t : threads) t.join();
  return argc > 2 ? std::atoi(argv[2]) : 0;
}
