// Summaries of binned series: per row (rank), then merged across rows and
// reducer ranks into job-wide figures with MPI reductions (a tree inside
// MPI_Allreduce: never n-1 receives at one rank).
#pragma once
#include <mpi.h>

#include <vector>

#include "formats/job_file.hpp"

namespace jobperf::reduce {

// min, mean, max and last over the bins that have a value; sum is the time
// integral, sum of value x bin length: for a rate, the total amount (CPU
// seconds from cores, bytes from bytes/s).
jobfile::Stats summarize(const std::vector<double>& bins, double bin_seconds);

// Mergeable partial statistics of one metric over any number of rows.
struct PartialStats {
  double min = 0, max = 0, value_sum = 0, count = 0, integral = 0, last_sum = 0;
  PartialStats();
  void add_row(const std::vector<double>& bins, double bin_seconds);
  // min/mean/max over all bins of all rows, sum of integrals, and the sum over
  // rows of their last values (the job-wide value at the end).
  jobfile::Stats stats() const;
};

// Merges one PartialStats per metric across the ranks of `comm`, in place.
void merge_across(std::vector<PartialStats>& partials, MPI_Comm comm);

}  // namespace jobperf::reduce
