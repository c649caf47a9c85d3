// The HDF5 layer's crash note: a crash while a file is read names the file,
// then goes on to whatever handled the signal before; a read that loops on
// the CPU ends the program naming the file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "formats/hdf5_io.hpp"
#include "tests/unit/fixtures.hpp"

namespace {

// Runs fn in a child with its stderr into the returned text.
template <typename Fn>
std::string stderr_of_child(Fn&& fn, int& status) {
  return jobperf::test::output_of_child([&](int out) {
    dup2(out, STDERR_FILENO);
    fn();
  }, status);
}

extern "C" void ignore_signal(int) {}

}  // namespace

TEST_CASE("a crash while reading a file names the file, and still crashes") {
  int status = 0;
  auto text = stderr_of_child([] {
    jobperf::h5::NameFileInCrash note("/campaign/job-1234.h5");
    raise(SIGSEGV);
  }, status);
  CHECK(text.find("crashed while reading /campaign/job-1234.h5 (SIGSEGV)") != std::string::npos);
  // Not a clean exit: the signal went on to the default action (or to a sanitizer's handler, which exits non-zero).
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("glibc's abort on a heap that libhdf5 overran names the file too") {
  int status = 0;
  auto text = stderr_of_child([] {
    jobperf::h5::NameFileInCrash note("/campaign/job-1011.h5");
    std::abort();  // as glibc's "munmap_chunk(): invalid pointer" does (seen on 1 % of damaged metadata)
  }, status);
  CHECK(text.find("crashed while reading /campaign/job-1011.h5 (SIGABRT)") != std::string::npos);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT));
}

TEST_CASE("a crash outside a read says nothing of files, and the handlers before are back") {
  struct sigaction mine {}, seen {};
  mine.sa_handler = ignore_signal;
  sigemptyset(&mine.sa_mask);
  struct sigaction before {};
  sigaction(SIGBUS, &mine, &before);
  {
    jobperf::h5::NameFileInCrash outer("/a.h5");
    jobperf::h5::NameFileInCrash inner("/b.h5");  // a read within a read: the outer file stays named
    sigaction(SIGBUS, nullptr, &seen);
    CHECK(seen.sa_handler != ignore_signal);
  }
  sigaction(SIGBUS, nullptr, &seen);
  CHECK(seen.sa_handler == ignore_signal);
  sigaction(SIGBUS, &before, nullptr);

  int status = 0;
  auto text = stderr_of_child([] {
    { jobperf::h5::NameFileInCrash note("/done.h5"); }
    signal(SIGFPE, SIG_DFL);
    raise(SIGFPE);
  }, status);
  CHECK(text.find("crashed while reading") == std::string::npos);
  CHECK(WIFSIGNALED(status));
}

TEST_CASE("a nested read's crash names the outer file") {
  int status = 0;
  auto text = stderr_of_child([] {
    jobperf::h5::NameFileInCrash outer("/outer.h5");
    jobperf::h5::NameFileInCrash inner("/inner.h5");
    raise(SIGBUS);
  }, status);
  CHECK(text.find("/outer.h5 (SIGBUS)") != std::string::npos);
}

TEST_CASE("a read that loops on the CPU ends the program, naming what it read and the file") {
  int status = 0;
  auto text = stderr_of_child([] {
    jobperf::h5::NameFileInCrash note("/campaign/job-7.h5");
    jobperf::h5::EndLoopingRead guard("attribute units", 0.05);
    std::atomic<unsigned long> spins{0};
    for (;;) spins.fetch_add(1, std::memory_order_relaxed);  // as libhdf5 does on a global heap object of size 0
  }, status);
  CHECK(text.find("spent 0.05 s of CPU reading attribute units of /campaign/job-7.h5") != std::string::npos);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 1));
}

TEST_CASE("a read waiting for its storage is not ended, and the handler before is back") {
  int status = 0;
  auto text = stderr_of_child([] {
    struct sigaction mine {}, seen {};
    mine.sa_handler = ignore_signal;
    sigemptyset(&mine.sa_mask);
    sigaction(SIGXCPU, &mine, nullptr);
    {
      jobperf::h5::EndLoopingRead guard("attribute units", 0.05);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // wall time, not CPU time
    }
    sigaction(SIGXCPU, nullptr, &seen);
    _exit(seen.sa_handler == ignore_signal ? 0 : 2);
  }, status);
  CHECK(text.empty());
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
