// The job's streams: which exist, who can read them, and which reducer
// rank reads which.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace jobperf::reduce {

// One stream file of the job.
struct StreamFile {
  std::string path;
  std::uint64_t size;
  std::vector<int> readers;  // ranks that can see it: scratch may be node-local
  std::int32_t rank = -1;    // from its header: streams are ordered as the rows of /ranks
  std::string host;
  std::string collector;     // from its header: job, rank, host and collector pid; empty if unreadable
  std::int64_t collector_start = 0;  // UTC ns: with `collector`, which collector's stream this is
};

// Every rank lists `inputs` (stream files, or directories of them); the
// union is every stream of the job, each with the ranks that saw it (scratch
// may be node-local), ordered as the rows of /ranks. Identical on every rank
// (collective). Inputs no rank can find, or directories without streams, are
// added to `errors`.
std::vector<StreamFile> list_streams(const std::vector<std::string>& inputs, MPI_Comm comm,
                                     std::vector<std::string>& errors);

// Leaves out streams that are copies of another (the same collector's
// stream given twice: two paths to one file, or a copy of it), keeping the
// largest (a copy may have been taken before the collector finished); says
// which were left out, and for which.
std::vector<std::string> drop_copies(std::vector<StreamFile>& files);

// The reducer rank of each stream (of `ranks`): contiguous runs of the
// streams of about equal bytes, one per rank, so that each rank writes
// blocks of consecutive rows, cut where a run starts a large aligned block
// of rows if that costs a few per cent of balance; a stream the run's rank
// cannot see goes to the least-loaded rank that can.
std::vector<int> assign_streams(const std::vector<StreamFile>& files, int ranks);

}  // namespace jobperf::reduce
