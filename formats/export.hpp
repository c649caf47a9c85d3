// jobperf-export: a job file as CSV files or one JSON document, for tools
// that do not read HDF5 (spreadsheets, jq, databases).
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace jobperf::exporter {

// Writes into `dir` (created): job.csv (attributes), summary.csv (job-wide
// stats per metric), ranks.csv (per-rank stats), ranks_series.csv and
// nodes_series.csv (long format: one line per row and time step),
// processes.csv, outliers.csv. Returns the files written.
std::vector<std::string> export_csv(const std::string& job_file, const std::string& dir);

// {"job": {...}, "summary": {metric: {stat: v}}, "ranks": [...],
//  "series": {"ranks": ..., "nodes": ...}, "processes": [...], "outliers": [...]}
// NaN is null; times are ns since the epoch and ISO 8601 strings.
void export_json(const std::string& job_file, std::ostream& out);

}  // namespace jobperf::exporter
