// Summaries of binned series: per row (rank or node), per time step across
// rows, and job-wide, merged across reducer ranks in a binomial tree.
#pragma once
#include <mpi.h>

#include <span>
#include <vector>

#include "formats/job_file.hpp"

namespace jobperf::reduce {

// Mergeable statistics of a set of values (Chan et al.'s parallel variance:
// count, mean and M2 combine exactly in any grouping), the time integral
// (value × bin length: for a rate, the total amount), the sum of the rows'
// last values, and the rows with the smallest and largest integral.
struct PartialStats {
  double count = 0, mean = 0, m2 = 0;
  double min, max;
  double integral = 0, last_sum = 0;
  double lowest_integral, lowest_row, highest_integral, highest_row;  // row: a rank, or a node index
  PartialStats();

  // A row's bins (NaN: absent); `row` labels it for lowest/highest (NaN: never chosen).
  void add_row(std::span<const double> bins, double bin_seconds, double row);
  void merge(const PartialStats& other);
  // The same row's next bins (its next time window): as add_row, but the
  // row's last value is its latest, and it is ranked by end_row().
  void extend_row(std::span<const double> bins, double bin_seconds);
  // The row is complete: `row` labels it for lowest/highest (NaN: never chosen).
  void end_row(double row);

  // min, mean, max, sum (the integral), last (the rows' last values, summed), std.
  jobfile::Stats stats() const;
  // stats() and the lowest and highest rows.
  jobfile::JobStats job_stats() const;
  // min, mean, max, std, total (the values summed): one time step across rows.
  jobfile::StepStats step_stats() const;
};

// Adds rows × columns `values` (row-major; NaN: absent) column by column:
// columns[c] takes every row's value of column c, e.g. one time step across
// ranks. Two passes (mean, then squared deviations) instead of an update per
// value: no division in the loops, and the same exact merge.
void add_columns(std::span<PartialStats> columns, std::span<const double> values, std::size_t rows,
                 double bin_seconds);

// One row's stats().
jobfile::Stats summarize(const std::vector<double>& bins, double bin_seconds);

// Merges each element with the same element of every rank of `comm`, in a
// binomial tree (log2 P rounds; no rank receives more than log2 P
// messages), and leaves the result on every rank.
void merge_across(std::vector<PartialStats>& partials, MPI_Comm comm);

}  // namespace jobperf::reduce
