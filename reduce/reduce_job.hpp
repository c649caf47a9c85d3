// jobperf-reduce as a library call: streams in, one job file out.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace jobperf::reduce {

struct ReduceOptions {
  std::vector<std::string> inputs;  // stream files or directories of them
  std::string output;
  bool force = false;
  double bin_seconds = 0;  // 0: the longest sampling interval among the streams
  bool quiet = false;
  bool compress = true;
  bool timing = false;  // print where the time went
  // Raw stream bytes each reducer rank reads, derives and writes at once: the
  // job is reduced in time windows of about this much stream on the busiest
  // rank, so memory is bounded by it, not by the job's ranks or length.
  std::uint64_t window_bytes = 256ull << 20;
  // Threads per reducer rank; 0: the CPUs it may count on (those it may run
  // on, over the ranks of its node that share them). With two or more, the
  // first pass reads streams side by side, and each group of rows is written
  // on a thread of its own while the next is read and derived (where MPI
  // gives MPI_THREAD_SERIALIZED).
  std::size_t threads = 0;
};

// Exit statuses of jobperf-reduce.
enum ReduceStatus : int { kComplete = 0, kFailed = 1, kUsage = 2, kPartial = 3 };

// Collective over `comm`. Prints errors (rank 0) naming the files involved.
int reduce_job(const ReduceOptions& options, MPI_Comm comm);

}  // namespace jobperf::reduce
