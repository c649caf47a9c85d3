// The HDF5 layer's crash note: a crash while a file is read names the file,
// then goes on to whatever handled the signal before.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

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
