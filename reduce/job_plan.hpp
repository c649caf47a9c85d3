// The job file's plan, agreed by all reducer ranks: each rank's first pass
// over its streams gives a catalog of the rows, sources and samples it
// found; gathered, the catalogs decide the job file's layout (its rows,
// metrics, timeline and sample tables), the same on every rank.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "formats/job_file.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/formulas.hpp"
#include "reduce/reduce_job.hpp"
#include "reduce/timeline.hpp"

namespace jobperf::reduce {

// What one reducer rank found, exchanged so that all agree on the layout.
struct SampleCount {  // of one source in one row
  std::string source;
  std::uint32_t fields;
  std::int64_t samples;
};
struct RowEntry {
  std::int32_t rank;
  std::string host;
  std::int64_t exit_status;
  std::int64_t first_ns, last_ns;
  std::string stream;  // file name
  std::vector<SampleCount> samples;
};
struct NodeEntry {
  std::string host;
  std::int32_t device;  // -1: the node's own samples; else a device's (GPU's) index
  std::int64_t first_ns, last_ns;
  std::string stream;  // path
  std::vector<SampleCount> samples;
};
struct StreamEntry {
  std::string path, job_id, mode, host;
  std::int32_t rank;
  std::int64_t interval_ns;
  std::string world_size;  // OMPI_COMM_WORLD_SIZE etc. as the collector saw it
  std::vector<std::string> problems;
};
struct RankExit {
  std::int32_t rank;
  std::int64_t exit_status;
};
struct Catalog {
  std::vector<RowEntry> rows;
  std::vector<NodeEntry> nodes;
  std::vector<stream::SourceSpec> sources;
  std::vector<StreamEntry> streams;
  std::vector<std::string> unreadable;  // streams that cannot be read at all, each with why
  std::vector<RankExit> recorded_exits;  // from exit records: a sidecar's ranks' only exit statuses
};

// Every rank's catalog, on every rank (collective).
Catalog gather_catalogs(const Catalog& mine, MPI_Comm comm);

// A derived metric and the source whose fields it reads.
struct MetricPlan {
  std::string source;
  DerivedMetric metric;
};

// One table of /samples: a source's samples by rank, node or GPU.
struct SampleTable {
  std::size_t source;  // of Plan::sources
  jobfile::Rows rows;
};

struct Plan {
  jobfile::JobLayout layout;
  Timeline timeline;
  std::vector<MetricPlan> rank_metrics, node_metrics, gpu_metrics;
  std::vector<stream::SourceSpec> sources;  // every source of the job, same order on every rank
  std::map<std::string, std::string> node_stream;  // host -> the stream whose node samples it keeps
  std::map<std::tuple<std::int32_t, std::string, std::string>, std::size_t> rank_row;  // (rank, host, stream) -> row
  std::map<std::pair<std::string, std::int32_t>, std::size_t> gpu_row;  // (host, device) -> row
  std::vector<SampleTable> sample_tables;  // as layout.samples
  std::vector<std::string> errors;

  // Whether `stream` gives `host`'s node and device samples (a host's
  // streams of several job steps would count them twice).
  bool gives_node_samples(const std::string& host, const std::string& stream) const {
    auto it = node_stream.find(host);
    return it != node_stream.end() && it->second == stream;
  }
};

// The job file's layout and how this job's rows, metrics and samples fill
// it; the same on every rank. Plan::errors says why there is no job file to
// make, if there is not. Throws FormulaError for a broken formula file.
Plan plan_job(const Catalog& all, const ReduceOptions& options);

}  // namespace jobperf::reduce
