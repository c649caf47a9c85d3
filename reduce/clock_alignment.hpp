// Which correction puts each host's samples on the reference timeline, and
// how it was measured: by the sidecar collectors at start and stop (the
// offset is interpolated between, so drift is followed), or, when the
// streams hold no measurements (wrapper mode), by jobperf-reduce itself,
// among its own ranks, after the job.
#pragma once
#include <mpi.h>

#include <map>
#include <string>
#include <vector>

#include "formats/job_file.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {

struct ClockAlignment {
  jobfile::ClockInfo info;  // what /clock records
  std::map<std::string, std::vector<stream::ClockOffset>> by_host;
  HostOffset offset_of(const std::string& host) const;
};

// Collective over `comm`; `local_streams` are the streams this rank read.
ClockAlignment align_clocks(const std::vector<stream::DecodedStream>& local_streams, MPI_Comm comm);

// The time daemons' own bounds on |REALTIME - UTC| (stream::UtcError), in
// ns, -1 where a clock was not synchronised or nothing says.
struct UtcErrors {
  std::int64_t node_in_job = -1, reference_in_job = -1;
  std::int64_t node_at_reduce = -1, reference_at_reduce = -1;
};

// How far a node's samples may be from the reference timeline when its
// offset was measured after the job (`measured_bound_ns`, wrapper mode): the
// two clocks kept their distance only as well as each stayed near UTC, then
// and at the reduce. When it was never measured (`measured_bound_ns` < 0),
// only the job's bounds count. -1: nothing bounds it.
std::int64_t bound_without_collector_sync(std::int64_t measured_bound_ns, const UtcErrors& e);

}  // namespace jobperf::reduce
