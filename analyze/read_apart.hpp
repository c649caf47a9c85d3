// Reading job files in a child process. libhdf5 1.10 trusts a file's
// metadata: some damage crashes it, some makes it loop (which
// formats/hdf5_io.hpp's EndLoopingRead ends). Read apart, such a file costs
// a campaign's analysis that one file, named among its problems, instead of
// the whole analysis.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace jobperf::analyze {

// What one file's read gives back to the parent: a message, in bytes.
using ReadOne = std::function<std::vector<char>(const std::string& path)>;

struct ReadApart {
  std::vector<char> message;  // what read_one returned
  std::string died;           // else "PATH: ..." where the child did not survive the read
};

// Calls read_one on every path, in order, in a forked child, and returns
// what each gave, per path; where the child dies on a path, a new child goes
// on with the next. Where fork fails, reads here. The children call no MPI
// (forking an MPI process is safe on Linux >= 5.13, which keeps memory a
// network card writes to out of copy-on-write: Debian 12 has 6.1).
std::vector<ReadApart> read_apart(const std::vector<std::string>& paths, const ReadOne& read_one);

}  // namespace jobperf::analyze
