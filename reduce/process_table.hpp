// The process table (EPMT parity): one row per process from the exit
// records of libjobperf-preload.so, with its place in the process tree, and
// the sums per JOBPERF_TAGS value.
#pragma once
#include <mpi.h>

#include <map>
#include <vector>

#include "formats/job_file.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {

// One row per process of the stream's exit records (thread records are
// added to their process); `parent` indexes the returned rows.
std::vector<jobfile::ProcessRow> process_rows(const stream::DecodedStream& s, const ClockMap& clock);

// Each MPI rank's exit status from `rows` (as process_rows gives them): that of the
// rank's top process (its parent not of the rank, or not recorded), 128 +
// the signal where it was killed; the first non-zero one where there are several.
std::map<std::int32_t, std::int64_t> rank_exit_statuses(const std::vector<jobfile::ProcessRow>& rows);

// Sums per tags value over `rows` of every rank; complete on rank 0, empty elsewhere.
std::vector<jobfile::TagSum> tag_sums(const std::vector<jobfile::ProcessRow>& rows, MPI_Comm comm);

}  // namespace jobperf::reduce
