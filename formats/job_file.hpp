// The job file (one parallel-HDF5 file per job) and the campaign file: every
// group, dataset and attribute name lives here. share/schema.md documents
// the layout; kSchemaVersion changes whenever it changes.
#pragma once
#include <mpi.h>

#include <array>
#include <cstdint>
#include <limits>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace jobperf::jobfile {

inline constexpr std::int64_t kSchemaVersion = 8;

// Per row (rank, node) over its time steps; `sum` is the time integral.
enum Stat : std::size_t { kMin, kMean, kMax, kSum, kLast, kStd, kStatCount };
inline constexpr std::array<const char*, kStatCount> kStatNames = {"min", "mean", "max", "sum", "last", "std"};
using Stats = std::array<double, kStatCount>;
// The units of `sum`, a metric's integral over time: a rate's total (cores:
// core-s of CPU, bytes/s: bytes, 1/s: a count, W: J), else its units times
// seconds (bytes s: memory held over time).
std::string sum_units(const std::string& units);
bool is_rate(const std::string& units);
// Job-wide: the same over all rows, and the rows with the smallest and largest sum.
enum JobStat : std::size_t { kLowestRow = kStatCount, kHighestRow, kJobStatCount };
using JobStats = std::array<double, kJobStatCount>;
// One time step across rows; `total` adds the rows' values.
enum StepStat : std::size_t { kStepMin, kStepMean, kStepMax, kStepStd, kStepTotal, kStepStatCount };
inline constexpr std::array<const char*, kStepStatCount> kStepStatNames = {"min", "mean", "max", "std", "total"};
using StepStats = std::array<double, kStepStatCount>;

struct JobFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MetricInfo {
  std::string name;
  std::string units;
  std::string long_name;
  std::string formula;
};

struct JobInfo {
  std::string job_id;
  std::string job_name;
  std::string user;
  std::string command;
  std::string collection_mode;
  std::string status = "complete";  // or "partial": some streams damaged or ranks missing
  std::vector<std::string> hosts;
  std::int64_t start_ns = 0;  // UTC
  std::int64_t end_ns = 0;
  double sample_interval_s = 0;
  std::int64_t exit_status = -1;
  std::vector<std::string> problems;  // damaged streams, missing ranks: one line each
  std::vector<std::pair<std::string, std::string>> metadata;
};

// /clock: how each node's samples were put on the reference timeline.
struct ClockNode {
  std::string host;
  bool measured = false;
  std::int64_t start_offset_ns = 0, stop_offset_ns = 0;  // node REALTIME minus the reference's
  std::int64_t start_mono_ns = 0, stop_mono_ns = 0;      // the node's CLOCK_MONOTONIC at the measurements
  std::int64_t start_time_ns = 0, stop_time_ns = 0;      // the same instants on the reference timeline
  std::int64_t start_rtt_ns = 0, stop_rtt_ns = 0;
  std::int64_t bound_ns = 0;  // residual error bound of the correction; -1: none
  // The node's time daemon's bound on |REALTIME - UTC| during the job (its
  // worst) and when jobperf-reduce measured it; -1: not synchronised, or unknown.
  std::int64_t utc_error_ns = -1, reduce_utc_error_ns = -1;
  double drift_ppm = std::numeric_limits<double>::quiet_NaN();
  std::int32_t hops = 0;
};
struct ClockInfo {
  std::string method;  // "collectors", "reduce" or "single-host"
  std::string reference_host;
  std::string guarantee;
  std::int32_t exchanges = 0;
  std::vector<ClockNode> nodes;
};

// Something in the job that stands out: a rank or node far from the others
// on a metric (kind "rank"/"node"), or a node that stalled while the others
// ran (kind "stall", with its time window).
struct Outlier {
  std::string kind;
  std::int32_t rank = -1;
  std::string host;
  std::string metric;
  double value = std::numeric_limits<double>::quiet_NaN();
  double median = std::numeric_limits<double>::quiet_NaN();  // of the others
  double score = std::numeric_limits<double>::quiet_NaN();   // modified z-score, or the stall's value/median
  std::int64_t start_ns = 0, end_ns = 0;
  std::string reason;
};

enum class Rows { Ranks, Nodes, Gpus };

// The raw samples of one source (/samples/<source>), as the rows (ranks or
// nodes) hold them before binning: the rank's processes combined, times on
// the job timeline, counters cumulative, in the stream's own units. Stored
// (row, sample), each row padded to the longest one's count.
struct SampleSource {
  std::string source;
  Rows row_kind = Rows::Ranks;
  std::vector<MetricInfo> fields;    // name, units, long_name
  std::vector<std::int64_t> counts;  // samples of each row of /ranks, /nodes or /gpus
};

// Time steps (or samples) per chunk of a row, at most: 64 KiB of float64.
inline constexpr std::size_t kChunkSteps = 8192;

// True if `rows` (sorted, distinct rows of a table of `table_rows`) are
// whole aligned blocks of `block` rows (the last block of the table may be
// shorter): what a writer of chunks of that many rows must hold, so that no
// chunk is shared with another writer.
bool whole_blocks(std::span<const std::size_t> rows, std::size_t table_rows, std::size_t block);

// Everything every writer rank must agree on before the collective create.
struct JobLayout {
  JobInfo info;
  std::vector<std::int64_t> time_ns;  // start of each bin, UTC
  double bin_seconds = 0;
  std::vector<std::int32_t> ranks;    // MPI ranks of the job, sorted: the rows of /ranks
  std::vector<std::string> rank_hosts;
  std::vector<std::string> rank_streams;  // the stream each row came from
  std::vector<std::int64_t> rank_exit_status;
  std::vector<std::string> nodes;     // the rows of /nodes
  std::vector<MetricInfo> rank_metrics;
  std::vector<MetricInfo> node_metrics;
  std::vector<std::string> gpu_hosts;     // the rows of /gpus: each GPU of each node that recorded them
  std::vector<std::int32_t> gpu_indices;  // the GPU's index on its host
  std::vector<MetricInfo> gpu_metrics;
  ClockInfo clock;
  std::vector<SampleSource> samples;  // /samples, one per source
  bool compress = true;  // shuffle+deflate on the (row, time) series and (row, sample) samples
  // Steps (and samples) per chunk of a row: a writer that writes whole chunks
  // never has HDF5 read, inflate and deflate a chunk again.
  std::size_t chunk_steps = kChunkSteps;
  // Rows of /ranks per chunk of its series and of the process sources'
  // /samples: 1, or a power of two where every writer rank writes whole
  // aligned blocks of that many rows (two ranks never share a chunk).
  std::size_t rank_chunk_rows = 1;
};

// A time not known: NaT for numpy, pandas and xarray.
inline constexpr std::int64_t kMissingTime = std::numeric_limits<std::int64_t>::min();

// One process of /processes, from the exit records of libjobperf-preload.so.
struct ProcessRow {
  std::string host, kind, exe, args, tags;  // kind: exited or killed
  std::int64_t pid = 0, ppid = 0;
  std::int64_t parent = -1;  // index of the parent's row among the writing rank's rows; -1: not recorded
  std::int64_t depth = 0;    // 0: its parent was not recorded (the root of a tree)
  std::int64_t rank = -1, exec_generation = 0, exit_code = -1, signal = 0;
  std::int64_t start_ns = 0, end_ns = 0;  // on the job timeline
  double user_s = 0, system_s = 0, run_s = 0, wait_s = 0, perf_task_clock_s = 0;
  std::int64_t maxrss_bytes = 0, minflt = 0, majflt = 0, inblock = 0, oublock = 0, voluntary_switches = 0,
               involuntary_switches = 0, rchar = 0, wchar = 0, syscr = 0, syscw = 0, read_bytes = 0, write_bytes = 0,
               cancelled_write_bytes = 0, timeslices = 0, perf_instructions = 0, perf_cycles = 0;
  std::int64_t threads = 0;  // thread exit records of this process (JOBPERF_PRELOAD_THREADS=1)
  double thread_user_s = 0, thread_system_s = 0;
};

// A piece of one row's samples of one source (see SampleSource): time_ns
// and values[field][first...] go to the row's samples column, column + 1, ...
struct RowSamples {
  std::size_t row = 0;  // of /ranks or /nodes
  std::size_t column = 0;
  std::span<const std::int64_t> time_ns;
  const std::vector<std::vector<double>>* values = nullptr;  // [field][sample]
  std::size_t first = 0;  // the index of time_ns[0] in values
};


// The processes of one JOBPERF_TAGS value (EPMT's "operations"), added up.
struct TagSum {
  std::string tags;
  std::int64_t processes = 0, read_bytes = 0, write_bytes = 0, max_rss_bytes = 0;
  double duration_s = 0, user_s = 0, system_s = 0;
};

// Collective: every rank of `comm` constructs, writes and closes together.
// The file is written under a temporary name and renamed when complete, so a
// failed reduce never leaves a half-written job file behind.
class JobFileWriter {
 public:
  JobFileWriter(const std::string& path, MPI_Comm comm, bool force, const JobLayout& layout);
  ~JobFileWriter();
  // How the series and samples are compressed, and by whose filters
  // (jobperf's faster ones where HDF5 takes them: formats/hdf5_filters.hpp).
  std::string compression() const;
  JobFileWriter(const JobFileWriter&) = delete;
  JobFileWriter& operator=(const JobFileWriter&) = delete;

  // Each rank passes rows it owns, in increasing order, and their values of
  // `steps` time steps from `first_step` on, rows×steps.
  void write_series(Rows rows, std::size_t metric, std::span<const std::size_t> row_indices,
                    std::span<const double> values, std::size_t first_step, std::size_t steps);
  // rows×kStatCount values.
  void write_row_summary(Rows rows, std::size_t metric, std::span<const std::size_t> row_indices,
                         std::span<const double> values);
  // Same values on every rank; rank 0 writes them.
  void write_job_summary(Rows rows, std::size_t metric, const JobStats& stats);
  // steps×kStepStatCount values of a rank metric from `first_step` on: each step across the ranks.
  // Same values on every rank.
  void write_step_summary(std::size_t metric, std::size_t first_step, std::span<const double> values);
  // Collective: each rank passes its rows (any number), stored in rank order.
  void write_processes(const std::vector<ProcessRow>& mine);
  // Collective: each rank passes pieces of the samples of the rows it owns
  // (any order, any number); with `last`, each row's padding follows its piece.
  void write_samples(std::size_t source, std::span<const RowSamples> mine, bool last);
  // Same list on every rank.
  void write_outliers(const std::vector<Outlier>& outliers);
  void write_tag_sums(const std::vector<TagSum>& mine);
  void close();

 private:
  struct Impl;
  Impl* impl_;
};

// Serial readers (analyze, report, export, tests).
struct JobSummary {
  std::string path;
  JobInfo info;
  std::size_t rank_count = 0;
  std::size_t node_count = 0;
  std::map<std::string, Stats> job_stats;  // per rank metric, over the whole job
  std::map<std::string, MetricInfo> metrics;
  std::string clock_method, clock_reference;  // /clock's; empty in files without it
  std::vector<std::string> in_job_outliers;   // /outliers' reasons
};
JobSummary read_job_summary(const std::string& path);

// A (row, time) table of the job file (/ranks, /nodes, /gpus), read a piece
// of a row at a time: a reader's memory stays at the pieces it holds
// whatever the job's size (the whole of /ranks of 1024 ranks x 1 h is
// 1.3 GiB). A piece of up to kChunkSteps steps from a multiple of them is
// one chunk of the file: one read, one inflate.
class SeriesReader {
 public:
  // Rows::Gpus: no rows when the job has no /gpus.
  SeriesReader(const std::string& path, Rows rows);
  ~SeriesReader();
  SeriesReader(const SeriesReader&) = delete;
  SeriesReader& operator=(const SeriesReader&) = delete;

  const std::vector<std::int64_t>& time_ns() const;
  const std::vector<std::string>& labels() const;  // "rank 3", the host, "host gpu 0": one per row
  const std::vector<std::string>& hosts() const;   // each row's host
  const std::vector<MetricInfo>& metrics() const;
  std::size_t rows() const { return labels().size(); }
  // Steps [first_step, first_step + out.size()) of `row` of metrics()[metric].
  void read(std::size_t metric, std::size_t row, std::size_t first_step, std::span<double> out) const;
  // The whole of `row` of metrics()[metric], a chunk at a time, in order:
  // piece(first_step, values).
  void for_each_piece(std::size_t metric, std::size_t row,
                      const std::function<void(std::size_t, std::span<const double>)>& piece) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct RankSummary {
  std::vector<std::int32_t> ranks;
  std::vector<std::string> hosts;
  std::vector<MetricInfo> metrics;
  std::vector<std::vector<double>> values;  // per metric: ranks×kStatCount
};
RankSummary read_rank_summary(const std::string& path);

// A one-dimensional table of the job file (/processes, /outliers, /clock):
// every dataset of the group along its dimension, in file order.
struct TableColumn {
  enum Kind { Text, Integer, Real } kind = Real;
  std::string name, units;
  std::vector<std::string> text;
  std::vector<std::int64_t> integers;
  std::vector<double> reals;
  bool is_time() const;  // integer ns since the epoch
};
enum class JobTable { Processes, TagSums, Outliers, Clock };
std::vector<TableColumn> read_table(const std::string& path, JobTable table);

// ---- campaign file (jobperf-analyze output)

struct CampaignJob {
  std::string path;
  std::string job_id;
  std::string job_name;
  std::string group;
  std::vector<double> features;
  std::vector<double> modified_z;   // per feature
  std::vector<double> z;            // per feature
  std::vector<std::int8_t> outside_iqr;  // per feature
  std::vector<std::int8_t> feature_votes;  // per feature: classifiers that flagged it
  std::int64_t votes = 0;           // classifier votes over all features
  bool outlier = false;
  bool compared = false;            // false: group had too few jobs
  std::vector<std::string> in_job_outliers;  // the job's own findings (its /outliers' reasons)
};

struct Campaign {
  std::vector<std::string> feature_names;
  std::vector<std::string> feature_units;
  std::vector<CampaignJob> jobs;
  std::vector<std::string> classifiers;
  std::int64_t min_group_size = 4;
  double min_deviation = 0;  // relative distance from the median below which no vote counts
};

void write_campaign(const std::string& path, bool force, const Campaign& campaign);
Campaign read_campaign(const std::string& path);

// True if `path` is a campaign file rather than a job file.
bool is_campaign_file(const std::string& path);

}  // namespace jobperf::jobfile
