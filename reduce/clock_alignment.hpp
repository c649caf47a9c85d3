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

// /clock's summary of one host's measurements (exposed for tests).
jobfile::ClockNode describe_host(const std::string& host, const std::vector<stream::ClockOffset>& measurements);

}  // namespace jobperf::reduce
