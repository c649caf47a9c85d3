#include "formats/job_file.hpp"

#include <hdf5_hl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <numeric>
#include <type_traits>

#include "formats/clock.hpp"
#include "formats/hdf5_filters.hpp"
#include "formats/hdf5_io.hpp"

namespace jobperf::jobfile {
namespace {

using h5::check;
using h5::Handle;

// ---- names: the contract documented in share/schema.md
constexpr char kJobKind[] = "jobperf-job";
constexpr char kCampaignKind[] = "jobperf-campaign";
constexpr char kRanks[] = "ranks";
constexpr char kNodes[] = "nodes";
constexpr char kSummary[] = "summary";
constexpr char kRankSummary[] = "summary/ranks";
constexpr char kJobSummary[] = "summary/job";
constexpr char kNodeSummary[] = "summary/nodes";
constexpr char kGpus[] = "gpus";
constexpr char kGpuSummary[] = "summary/gpus";
constexpr char kJobNodeSummary[] = "summary/job_nodes";
constexpr char kStepSummary[] = "summary/time";
constexpr char kOutliers[] = "outliers";
constexpr char kProcesses[] = "processes";
constexpr char kTagSums[] = "processes/by_tag";
constexpr char kSamples[] = "samples";

// A table along one dimension whose rows are spread over the writer ranks:
// every rank lists the same columns, in the same order, with its own rows.
struct Column {
  std::string name, units, long_name;
};
struct Table {
  std::vector<std::pair<Column, std::vector<std::string>>> text;
  std::vector<std::pair<Column, std::vector<std::int64_t>>> integers;
  std::vector<std::pair<Column, std::vector<double>>> reals;
  std::size_t rows = 0;
  template <typename Row, typename Get>
  void add_text(const std::vector<Row>& rows_in, Column c, Get get) {
    text.emplace_back(c, std::vector<std::string>{});
    for (const auto& r : rows_in) text.back().second.push_back(get(r));
  }
  template <typename Row, typename Get>
  void add_integer(const std::vector<Row>& rows_in, Column c, Get get) {
    integers.emplace_back(c, std::vector<std::int64_t>{});
    for (const auto& r : rows_in) integers.back().second.push_back(get(r));
  }
  template <typename Row, typename Get>
  void add_real(const std::vector<Row>& rows_in, Column c, Get get) {
    reals.emplace_back(c, std::vector<double>{});
    for (const auto& r : rows_in) reals.back().second.push_back(get(r));
  }
};
constexpr char kMetadata[] = "metadata";
constexpr char kClock[] = "clock";
constexpr char kTimeUnits[] = "nanoseconds since 1970-01-01 00:00:00";

const char* group_name(Rows rows) { return rows == Rows::Ranks ? kRanks : rows == Rows::Nodes ? kNodes : kGpus; }

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    auto end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Handle create_group(hid_t loc, const std::string& name) {
  return h5::group_handle(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group " + name);
}
Handle open_group(hid_t loc, const std::string& name) {
  return h5::group_handle(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "open group " + name);
}
Handle open_dataset(hid_t loc, const std::string& name) {
  return h5::dataset_handle(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open dataset " + name);
}

// How a (row, time) series is stored: chunks of one row, or of
// JobLayout::rank_chunk_rows rows of /ranks (two reducer ranks never share a
// chunk: filters in parallel HDF5 need that), and up to
// JobLayout::chunk_steps steps, shuffled and deflated unless compression is off.
struct Chunking {
  std::vector<hsize_t> chunk;  // empty: contiguous
  bool compress = false;
};

// Allocated early, never filled: every element is written once. Small
// datasets are contiguous, the fastest layout for collective writes here.
Handle create_dataset(hid_t loc, const std::string& name, hid_t type, std::vector<hsize_t> dims,
                      const double* fill = nullptr, const Chunking& chunking = {}) {
  auto space = h5::space_handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                                "create dataspace for " + name);
  auto dcpl = h5::plist_handle(H5Pcreate(H5P_DATASET_CREATE), "create dataset properties");
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  if (fill) H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, fill);
  if (!chunking.chunk.empty()) {
    check(H5Pset_chunk(dcpl, static_cast<int>(chunking.chunk.size()), chunking.chunk.data()), "chunk " + name, 0);
    if (chunking.compress) {
      check(H5Pset_shuffle(dcpl), "shuffle " + name, 0);
      check(H5Pset_deflate(dcpl, 1), "deflate " + name, 0);
    }
  }
  return h5::dataset_handle(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                            "create dataset " + name);
}

std::size_t max_length(const std::vector<std::string>& strings) {
  std::size_t n = 1;
  for (const auto& s : strings) n = std::max(n, s.size());
  return n;
}

std::vector<char> pack_fixed(const std::vector<std::string>& strings, std::size_t width) {
  std::vector<char> buffer(width * strings.size(), '\0');
  for (std::size_t i = 0; i < strings.size(); ++i) std::copy(strings[i].begin(), strings[i].end(), &buffer[i * width]);
  return buffer;
}

void set_metric_attributes(hid_t dset, const MetricInfo& m) {
  h5::write_attribute(dset, "units", m.units);
  h5::write_attribute(dset, "long_name", m.long_name);
  if (!m.formula.empty()) h5::write_attribute(dset, "formula", m.formula);
}

void attach(hid_t dset, hid_t scale, unsigned index) {
  check(H5DSattach_scale(dset, scale, index), "attach dimension scale", 0);
}

}  // namespace

// ---------------------------------------------------------------- writer

struct JobFileWriter::Impl {
  std::string path;
  std::string tmp_path;
  MPI_Comm comm;
  int rank = 0;
  std::size_t time_count = 0;
  bool compress = true;
  bool fast_filters = false;  // jobperf's shuffle and deflate in place of HDF5's
  std::size_t chunk_steps = kChunkSteps;
  std::size_t rank_chunk_rows = 1, rank_count = 0;
  void require_whole_chunks(std::span<const std::size_t> rows, std::size_t table_rows) const;
  // Chunks of a (rows, columns) table: of `rows_per_chunk` rows, at most
  // rows, and up to chunk_steps columns; none for an empty table.
  Chunking chunking(hsize_t rows, hsize_t columns, std::size_t rows_per_chunk) const {
    if (rows * columns == 0) return {};
    return {{std::min<hsize_t>(rows, rows_per_chunk), std::min<hsize_t>(columns, chunk_steps)}, compress};
  }
  Handle file;
  Handle dxpl;
  std::vector<Handle> rank_series, node_series, gpu_series, rank_summary, node_summary, gpu_summary, job_summary,
      job_node_summary, step_summary;

  std::vector<Handle>& series_of(Rows rows) {
    return rows == Rows::Ranks ? rank_series : rows == Rows::Nodes ? node_series : gpu_series;
  }
  std::vector<Handle>& summary_of(Rows rows) {
    return rows == Rows::Ranks ? rank_summary : rows == Rows::Nodes ? node_summary : gpu_summary;
  }
  struct SampleDatasets {
    Handle time;
    std::vector<Handle> fields;
    std::size_t width = 0;  // samples of the longest row
    bool of_ranks = false;  // rows as in /ranks (else /nodes, /gpus)
  };
  std::vector<SampleDatasets> samples;
  std::vector<std::int64_t> time_buffer;  // write_samples', kept from call to call
  std::vector<double> value_buffer;

  void write_table(const char* group_path, const char* dimension, const Table& mine);

  void drop_datasets() {
    for (auto* v : {&rank_series, &node_series, &gpu_series, &rank_summary, &node_summary, &gpu_summary, &job_summary,
                    &job_node_summary, &step_summary})
      v->clear();
    samples.clear();
  }

  // A block of a (row, column) dataset and its values, row-major.
  struct Block {
    hsize_t row, rows, column, columns;
    const void* values;
  };

  // Collective: one H5Dwrite per block (HDF5 maps an irregular selection
  // onto chunks element by element, a single block at once). Every rank
  // makes as many calls as the rank with the most blocks, with empty
  // selections once its own are written.
  void write_blocks(hid_t dset, const std::vector<Block>& blocks, hid_t mem_type) {
    unsigned long long mine = blocks.size(), most = 0;
    MPI_Allreduce(&mine, &most, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
    for (std::size_t k = 0; k < most; ++k) {
      auto file_space = h5::space_handle(H5Dget_space(dset), "get dataspace");
      const bool any = k < blocks.size();
      const Block b = any ? blocks[k] : Block{0, 1, 0, 1, nullptr};
      hsize_t start[2] = {b.row, b.column}, count[2] = {b.rows, b.columns};
      auto mem_space = h5::space_handle(H5Screate_simple(2, count, nullptr), "create memory space");
      if (any) {
        check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), "select rows", 0);
      } else {
        H5Sselect_none(file_space);
        H5Sselect_none(mem_space);
      }
      if (H5Dwrite(dset, mem_type, mem_space, file_space, dxpl, b.values) < 0) {
        char name[256] = "?";
        H5Iget_name(dset, name, sizeof name);
        throw h5::H5Error(std::string("HDF5: cannot write ") + std::to_string(b.rows) + " rows of " + name);
      }
    }
  }

  // Columns [column, column + width) of rows (sorted): one block per run of consecutive rows.
  void write_rows(hid_t dset, std::span<const std::size_t> rows, std::size_t width, const void* values,
                  hid_t mem_type, std::size_t column = 0) {
    std::vector<Block> blocks;
    const auto row_bytes = width * H5Tget_size(mem_type);
    for (std::size_t i = 0; i < rows.size() && width > 0; ++i)
      if (!blocks.empty() && rows[i] == rows[i - 1] + 1) ++blocks.back().rows;
      else blocks.push_back({rows[i], 1, column, width, static_cast<const char*>(values) + i * row_bytes});
    write_blocks(dset, blocks, mem_type);
  }

  void write_by_root(hid_t dset, hid_t mem_type, const void* data) {
    auto file_space = h5::space_handle(H5Dget_space(dset), "get dataspace");
    if (H5Sget_simple_extent_npoints(file_space) == 0) return;  // same on every rank: nothing to write
    if (rank != 0) {
      H5Sselect_none(file_space);
      auto mem_space = h5::space_handle(H5Scopy(file_space), "copy dataspace");
      H5Sselect_none(mem_space);
      check(H5Dwrite(dset, mem_type, mem_space, file_space, dxpl, data), "write dataset", 0);
    } else {
      check(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, dxpl, data), "write dataset", 0);
    }
  }

  Handle string_dataset(hid_t loc, const std::string& name, const std::vector<std::string>& strings) {
    std::size_t width = max_length(strings);
    auto type = h5::fixed_string_type(width);
    auto dset = create_dataset(loc, name, type, {strings.size()});
    auto buffer = pack_fixed(strings, width);
    write_by_root(dset, type, buffer.data());
    return dset;
  }

  Handle time_scale(hid_t group, const std::vector<std::int64_t>& time_ns, double bin_seconds) {
    auto time = create_dataset(group, "time", H5T_STD_I64LE, {time_ns.size()});
    write_by_root(time, H5T_NATIVE_INT64, time_ns.data());
    check(H5DSset_scale(time, "time"), "make time a dimension scale", 0);
    h5::write_attribute(time, "units", std::string(kTimeUnits));
    h5::write_attribute(time, "calendar", std::string("standard"));
    h5::write_attribute(time, "standard_name", std::string("time"));
    h5::write_attribute(time, "long_name", std::string("start of interval (UTC)"));
    h5::write_attribute(time, "interval_s", bin_seconds);
    return time;
  }

  // A (node) column of /clock, written by rank 0.
  template <typename T>
  void column(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<T>& values,
              hid_t scale, const std::string& units, const std::string& long_name) {
    auto d = create_dataset(group, name, file_type, {values.size()});
    write_by_root(d, mem_type, values.data());
    if (!units.empty()) h5::write_attribute(d, "units", units);
    h5::write_attribute(d, "long_name", long_name);
    attach(d, scale, 0);
  }

  void write_clock(hid_t root, const ClockInfo& clock) {
    auto g = create_group(root, kClock);
    h5::write_attribute(g, "method", clock.method);
    h5::write_attribute(g, "reference_host", clock.reference_host);
    h5::write_attribute(g, "guarantee", clock.guarantee);
    h5::write_attribute(g, "exchanges", static_cast<std::int64_t>(clock.exchanges));
    std::vector<std::string> hosts;
    std::vector<std::int8_t> measured;
    std::vector<std::int32_t> hops;
    std::vector<double> drift;
    std::map<std::string, std::vector<std::int64_t>> ns;
    for (const auto& n : clock.nodes) {
      hosts.push_back(n.host);
      measured.push_back(n.measured);
      hops.push_back(n.hops);
      drift.push_back(n.drift_ppm);
      for (auto [name, v] : {std::pair{"start_offset", n.start_offset_ns}, {"stop_offset", n.stop_offset_ns},
                             {"start_mono", n.start_mono_ns}, {"stop_mono", n.stop_mono_ns},
                             {"start_time", n.start_time_ns}, {"stop_time", n.stop_time_ns},
                             {"start_rtt", n.start_rtt_ns}, {"stop_rtt", n.stop_rtt_ns}, {"bound", n.bound_ns},
                             {"utc_error", n.utc_error_ns}, {"reduce_utc_error", n.reduce_utc_error_ns}})
        ns[name].push_back(v);
    }
    auto node = string_dataset(g, "node", hosts);
    check(H5DSset_scale(node, "node"), "make node a dimension scale", 0);
    column(g, "measured", H5T_STD_I8LE, H5T_NATIVE_INT8, measured, node, "", "1 if this node's offset was measured");
    column(g, "hops", H5T_STD_I32LE, H5T_NATIVE_INT32, hops, node, "", "measured pairs between the node and the reference");
    column(g, "drift_ppm", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, drift, node, "1e-6",
           "drift of the node's clock against the reference's (NaN: measured once)");
    const std::pair<const char*, const char*> described[] = {
        {"start_offset", "node REALTIME minus reference REALTIME, first measurement"},
        {"stop_offset", "node REALTIME minus reference REALTIME, last measurement"},
        {"start_mono", "node CLOCK_MONOTONIC at the first measurement"},
        {"stop_mono", "node CLOCK_MONOTONIC at the last measurement"},
        {"start_rtt", "round trip of the exchange kept, first measurement"},
        {"stop_rtt", "round trip of the exchange kept, last measurement"},
        {"bound", "residual bound: |error of the correction| at most this; -1: none"},
        {"utc_error", "the node's own bound on |REALTIME - UTC| during the job (NTP maximum error); -1: none"},
        {"reduce_utc_error", "the same when jobperf-reduce measured the node; -1: none, or not measured then"}};
    for (auto [name, text] : described)
      column(g, std::string(name) + "_ns", H5T_STD_I64LE, H5T_NATIVE_INT64, ns[name], node, "ns", text);
    for (auto name : {"start_time", "stop_time"})
      column(g, name, H5T_STD_I64LE, H5T_NATIVE_INT64, ns[name], node, kTimeUnits,
             std::string(name) == "start_time" ? "first measurement, on the reference timeline"
                                               : "last measurement, on the reference timeline");
  }

  // One (row, stat) dataset per metric, or (stat) when row_scale < 0; `stat` is a string scale.
  std::vector<Handle> stat_datasets(hid_t group, const std::vector<MetricInfo>& metrics, hid_t row_scale,
                                    std::size_t rows, const std::vector<std::string>& stat_names) {
    auto stat = string_dataset(group, "stat", stat_names);
    check(H5DSset_scale(stat, "stat"), "make stat a dimension scale", 0);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<Handle> out;
    for (const auto& m : metrics) {
      std::vector<hsize_t> dims = {stat_names.size()};
      if (row_scale >= 0) dims.insert(dims.begin(), rows);
      auto d = create_dataset(group, m.name, H5T_IEEE_F64LE, dims, &nan);
      set_metric_attributes(d, m);
      if (row_scale >= 0) attach(d, row_scale, 0);
      attach(d, stat, row_scale >= 0 ? 1 : 0);
      out.push_back(std::move(d));
    }
    return out;
  }

  void write_outliers(const std::vector<Outlier>& outliers) {
    auto g = create_group(file, kOutliers);
    std::vector<std::int64_t> index(outliers.size());
    for (std::size_t i = 0; i < index.size(); ++i) index[i] = static_cast<std::int64_t>(i);
    auto scale = create_dataset(g, "outlier", H5T_STD_I64LE, {outliers.size()});
    write_by_root(scale, H5T_NATIVE_INT64, index.data());
    check(H5DSset_scale(scale, "outlier"), "make outlier a dimension scale", 0);
    std::map<std::string, std::vector<std::string>> text;
    std::vector<std::int32_t> ranks;
    std::map<std::string, std::vector<double>> numbers;
    std::map<std::string, std::vector<std::int64_t>> times;
    for (const auto& o : outliers) {
      for (auto [name, v] : {std::pair{"kind", &o.kind}, {"host", &o.host}, {"metric", &o.metric}, {"reason", &o.reason}})
        text[name].push_back(*v);
      ranks.push_back(o.rank);
      for (auto [name, v] : {std::pair{"value", o.value}, {"median", o.median}, {"score", o.score}}) numbers[name].push_back(v);
      for (auto [name, v] : {std::pair{"start_time", o.start_ns}, {"end_time", o.end_ns}}) times[name].push_back(v);
    }
    const std::pair<const char*, const char*> texts[] = {
        {"kind", "rank or node far from the others on a metric; stall: a node idle while the others ran"},
        {"host", "host of the rank or node"}, {"metric", "metric compared"}, {"reason", "why, in words"}};
    for (auto [name, long_name] : texts) {
      auto d = string_dataset(g, name, text[name]);
      h5::write_attribute(d, "long_name", std::string(long_name));
      attach(d, scale, 0);
    }
    column(g, "rank", H5T_STD_I32LE, H5T_NATIVE_INT32, ranks, scale, "", "MPI rank (-1 for node outliers)");
    column(g, "value", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, numbers["value"], scale, "", "the rank's or node's value");
    column(g, "median", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, numbers["median"], scale, "", "median of the others");
    column(g, "score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, numbers["score"], scale, "",
           "modified z-score (rank, node); value / median (stall)");
    column(g, "start_time", H5T_STD_I64LE, H5T_NATIVE_INT64, times["start_time"], scale, kTimeUnits, "window start");
    column(g, "end_time", H5T_STD_I64LE, H5T_NATIVE_INT64, times["end_time"], scale, kTimeUnits, "window end");
  }

  // The gpu dimension of /gpus, /summary/gpus and /samples/<source>.gpus, with each GPU's host and index.
  Handle gpu_scale(hid_t group, const JobLayout& layout) {
    std::vector<std::int64_t> rows(layout.gpu_hosts.size());
    std::iota(rows.begin(), rows.end(), 0);
    auto scale = create_dataset(group, "gpu", H5T_STD_I64LE, {rows.size()});
    write_by_root(scale, H5T_NATIVE_INT64, rows.data());
    check(H5DSset_scale(scale, "gpu"), "make gpu a dimension scale", 0);
    h5::write_attribute(scale, "long_name", std::string("GPU row"));
    auto host = string_dataset(group, "host", layout.gpu_hosts);
    attach(host, scale, 0);
    auto index = create_dataset(group, "index", H5T_STD_I32LE, {rows.size()});
    write_by_root(index, H5T_NATIVE_INT32, layout.gpu_indices.data());
    h5::write_attribute(index, "long_name", std::string("the GPU's index on its host (NVML)"));
    attach(index, scale, 0);
    return scale;
  }

  // /samples/<source>: a (row, sample) table per source, rows as in /ranks,
  // /nodes or (<source>.gpus) /gpus.
  void create_samples(hid_t root, const JobLayout& layout) {
    if (layout.samples.empty()) return;
    auto group = create_group(root, kSamples);
    for (const auto& source : layout.samples) {
      auto g = create_group(group, source.source);
      const hsize_t rows = source.counts.size();
      SampleDatasets d;
      for (auto c : source.counts) d.width = std::max(d.width, static_cast<std::size_t>(c));
      d.of_ranks = source.row_kind == Rows::Ranks;
      Handle row_scale;
      if (source.row_kind == Rows::Ranks) {
        row_scale = create_dataset(g, "rank", H5T_STD_I32LE, {rows});
        write_by_root(row_scale, H5T_NATIVE_INT32, layout.ranks.data());
        check(H5DSset_scale(row_scale, "rank"), "make rank a dimension scale", 0);
        h5::write_attribute(row_scale, "long_name", std::string("MPI rank"));
        auto host = string_dataset(g, "host", layout.rank_hosts);
        attach(host, row_scale, 0);
      } else if (source.row_kind == Rows::Gpus) {
        row_scale = gpu_scale(g, layout);
      } else {
        row_scale = string_dataset(g, "node", layout.nodes);
        check(H5DSset_scale(row_scale, "node"), "make node a dimension scale", 0);
        h5::write_attribute(row_scale, "long_name", std::string("host name"));
      }
      std::vector<std::int64_t> index(d.width);
      for (std::size_t i = 0; i < d.width; ++i) index[i] = static_cast<std::int64_t>(i);
      auto sample_scale = create_dataset(g, "sample", H5T_STD_I64LE, {d.width});
      write_by_root(sample_scale, H5T_NATIVE_INT64, index.data());
      check(H5DSset_scale(sample_scale, "sample"), "make sample a dimension scale", 0);
      auto count = create_dataset(g, "count", H5T_STD_I64LE, {rows});
      write_by_root(count, H5T_NATIVE_INT64, source.counts.data());
      h5::write_attribute(count, "long_name", std::string("samples of the row; the rest of its row is padding"));
      attach(count, row_scale, 0);
      const auto chunks = chunking(rows, d.width, source.row_kind == Rows::Ranks ? rank_chunk_rows : 1);
      auto table = [&](const MetricInfo& m, hid_t type) {
        auto dset = create_dataset(g, m.name, type, {rows, d.width}, nullptr, chunks);
        if (!m.units.empty()) h5::write_attribute(dset, "units", m.units);
        h5::write_attribute(dset, "long_name", m.long_name);
        attach(dset, row_scale, 0);
        attach(dset, sample_scale, 1);
        return dset;
      };
      d.time = table({"time", kTimeUnits, "sample time on the job timeline (NaT: padding)", ""}, H5T_STD_I64LE);
      for (const auto& f : source.fields) d.fields.push_back(table(f, H5T_IEEE_F64LE));
      samples.push_back(std::move(d));
    }
  }

  std::vector<Handle> series_datasets(hid_t group, const std::vector<MetricInfo>& metrics, hsize_t rows,
                                      hid_t row_scale, hid_t time_scale, std::size_t rows_per_chunk = 1) {
    std::vector<Handle> out;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const auto& m : metrics) {
      auto d = create_dataset(group, m.name, H5T_IEEE_F64LE, {rows, time_count}, &nan,
                              chunking(rows, time_count, rows_per_chunk));
      set_metric_attributes(d, m);
      attach(d, row_scale, 0);
      attach(d, time_scale, 1);
      out.push_back(std::move(d));
    }
    return out;
  }
};

JobFileWriter::JobFileWriter(const std::string& path, MPI_Comm comm, bool force, const JobLayout& layout)
    : impl_(new Impl) {
  auto& im = *impl_;
  im.path = path;
  im.tmp_path = path + ".tmp";
  im.comm = comm;
  MPI_Comm_rank(comm, &im.rank);
  im.time_count = layout.time_ns.size();
  im.compress = layout.compress;
  im.fast_filters = layout.compress && h5::use_fast_filters();
  im.chunk_steps = std::max<std::size_t>(1, layout.chunk_steps);
  im.rank_chunk_rows = std::max<std::size_t>(1, layout.rank_chunk_rows);
  im.rank_count = layout.ranks.size();
  h5::silence_error_stack();

  int exists = 0;
  if (im.rank == 0) exists = access(path.c_str(), F_OK) == 0 ? 1 : 0;
  MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
  if (exists && !force) throw JobFileError(path + ": already exists (use --force to replace it)");

  auto fapl = h5::parallel_file_access(comm);
  // No alignment: chunks of unequal sizes (series, samples one longer)
  // padded to one boundary doubled the uncompressed file.
  hid_t fid = H5Fcreate(im.tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (fid < 0) throw JobFileError(im.tmp_path + ": cannot create HDF5 file (is the directory writable?)");
  im.file = Handle(fid, H5Fclose);
  im.dxpl = h5::plist_handle(H5Pcreate(H5P_DATASET_XFER), "create transfer properties");
  H5Pset_dxpl_mpio(im.dxpl, H5FD_MPIO_COLLECTIVE);

  const auto& info = layout.info;
  hid_t root = im.file;
  h5::write_attribute(root, "file_kind", std::string(kJobKind));
  h5::write_attribute(root, "schema_version", kSchemaVersion);
  h5::write_attribute(root, "jobperf_version", std::string(JOBPERF_VERSION));
  h5::write_attribute(root, "Conventions", std::string("CF-1.8"));
  h5::write_attribute(root, "job_id", info.job_id);
  h5::write_attribute(root, "job_name", info.job_name);
  h5::write_attribute(root, "user", info.user);
  h5::write_attribute(root, "command", info.command);
  h5::write_attribute(root, "collection_mode", info.collection_mode);
  h5::write_attribute(root, "status", info.status);
  h5::write_attribute(root, "problems", join(info.problems, "\n"));
  h5::write_attribute(root, "hosts", join(info.hosts, ","));
  h5::write_attribute(root, "n_ranks", static_cast<std::int64_t>(layout.ranks.size()));
  h5::write_attribute(root, "n_nodes", static_cast<std::int64_t>(layout.nodes.size()));
  h5::write_attribute(root, "start_time", stream::iso_utc(info.start_ns));
  h5::write_attribute(root, "end_time", stream::iso_utc(info.end_ns));
  h5::write_attribute(root, "start_time_ns", info.start_ns);
  h5::write_attribute(root, "end_time_ns", info.end_ns);
  h5::write_attribute(root, "duration_s", static_cast<double>(info.end_ns - info.start_ns) * 1e-9);
  h5::write_attribute(root, "sample_interval_s", info.sample_interval_s);
  h5::write_attribute(root, "bin_seconds", layout.bin_seconds);
  h5::write_attribute(root, "exit_status", info.exit_status);
  h5::write_attribute(root, "compression", std::string(layout.compress ? "shuffle+deflate(1)" : "none"));

  auto metadata = create_group(root, kMetadata);
  for (const auto& [key, value] : info.metadata) h5::write_attribute(metadata, key, value);
  im.write_clock(root, layout.clock);

  // /ranks: (rank, time)
  auto ranks = create_group(root, kRanks);
  auto rank_time = im.time_scale(ranks, layout.time_ns, layout.bin_seconds);
  auto rank_scale = create_dataset(ranks, "rank", H5T_STD_I32LE, {layout.ranks.size()});
  im.write_by_root(rank_scale, H5T_NATIVE_INT32, layout.ranks.data());
  check(H5DSset_scale(rank_scale, "rank"), "make rank a dimension scale", 0);
  h5::write_attribute(rank_scale, "long_name", std::string("MPI rank"));
  auto host = im.string_dataset(ranks, "host", layout.rank_hosts);
  attach(host, rank_scale, 0);
  auto stream = im.string_dataset(ranks, "stream", layout.rank_streams);
  attach(stream, rank_scale, 0);
  auto exit_status = create_dataset(ranks, "exit_status", H5T_STD_I64LE, {layout.ranks.size()});
  im.write_by_root(exit_status, H5T_NATIVE_INT64, layout.rank_exit_status.data());
  h5::write_attribute(exit_status, "long_name",
                      std::string("exit code, or 128+signal; -1 if the collector did not see the end"));
  attach(exit_status, rank_scale, 0);
  im.rank_series = im.series_datasets(ranks, layout.rank_metrics, layout.ranks.size(), rank_scale, rank_time,
                                      im.rank_chunk_rows);

  // /nodes: (node, time)
  auto nodes = create_group(root, kNodes);
  auto node_time = im.time_scale(nodes, layout.time_ns, layout.bin_seconds);
  auto node_scale = im.string_dataset(nodes, "node", layout.nodes);
  check(H5DSset_scale(node_scale, "node"), "make node a dimension scale", 0);
  h5::write_attribute(node_scale, "long_name", std::string("host name"));
  im.node_series = im.series_datasets(nodes, layout.node_metrics, layout.nodes.size(), node_scale, node_time);

  // /gpus: (gpu, time), when some node recorded its GPUs one by one
  if (!layout.gpu_hosts.empty()) {
    auto gpus = create_group(root, kGpus);
    auto gpu_time = im.time_scale(gpus, layout.time_ns, layout.bin_seconds);
    im.gpu_series = im.series_datasets(gpus, layout.gpu_metrics, layout.gpu_hosts.size(), im.gpu_scale(gpus, layout), gpu_time);
  }

  // /summary: per rank, per node, job-wide (over ranks, over nodes), per time step
  auto summary = create_group(root, kSummary);
  const std::vector<std::string> stat_names(kStatNames.begin(), kStatNames.end());
  auto job_stat_names = [&](const std::string& row) {
    auto names = stat_names;
    names.push_back("lowest_" + row);
    names.push_back("highest_" + row);
    return names;
  };
  auto rank_summary = create_group(root, kRankSummary);
  auto summary_rank_scale = create_dataset(rank_summary, "rank", H5T_STD_I32LE, {layout.ranks.size()});
  im.write_by_root(summary_rank_scale, H5T_NATIVE_INT32, layout.ranks.data());
  check(H5DSset_scale(summary_rank_scale, "rank"), "make rank a dimension scale", 0);
  im.rank_summary = im.stat_datasets(rank_summary, layout.rank_metrics, summary_rank_scale, layout.ranks.size(), stat_names);
  auto node_summary = create_group(root, kNodeSummary);
  auto summary_node_scale = im.string_dataset(node_summary, "node", layout.nodes);
  check(H5DSset_scale(summary_node_scale, "node"), "make node a dimension scale", 0);
  im.node_summary = im.stat_datasets(node_summary, layout.node_metrics, summary_node_scale, layout.nodes.size(), stat_names);
  if (!layout.gpu_hosts.empty()) {
    auto gpu_summary = create_group(root, kGpuSummary);
    im.gpu_summary = im.stat_datasets(gpu_summary, layout.gpu_metrics, im.gpu_scale(gpu_summary, layout), layout.gpu_hosts.size(), stat_names);
  }
  im.job_summary = im.stat_datasets(create_group(root, kJobSummary), layout.rank_metrics, -1, 0, job_stat_names("rank"));
  im.job_node_summary = im.stat_datasets(create_group(root, kJobNodeSummary), layout.node_metrics, -1, 0, job_stat_names("node"));
  auto step_summary = create_group(root, kStepSummary);
  auto step_time = im.time_scale(step_summary, layout.time_ns, layout.bin_seconds);
  im.step_summary = im.stat_datasets(step_summary, layout.rank_metrics, step_time, layout.time_ns.size(),
                                     std::vector<std::string>(kStepStatNames.begin(), kStepStatNames.end()));
  im.create_samples(root, layout);
}

std::string JobFileWriter::compression() const {
  if (!impl_->compress) return "none";
  return impl_->fast_filters ? "shuffle+deflate(1), jobperf's filters" : "shuffle+deflate(1), HDF5's filters";
}

JobFileWriter::~JobFileWriter() {
  if (impl_->file.get() >= 0) {  // not closed: an exception unwound us; drop the partial file
    impl_->drop_datasets();
    impl_->file.reset();
    if (impl_->rank == 0) std::remove(impl_->tmp_path.c_str());
  }
  delete impl_;
}

bool whole_blocks(std::span<const std::size_t> rows, std::size_t table_rows, std::size_t block) {
  for (std::size_t k = 0; k < rows.size();) {
    const std::size_t first = rows[k];
    if (first % block != 0 || first >= table_rows) return false;
    const std::size_t size = std::min(block, table_rows - first);
    if (k + size > rows.size() || rows[k + size - 1] != first + size - 1) return false;  // sorted, distinct: all there
    k += size;
  }
  return true;
}

namespace {
void require_sorted(std::span<const std::size_t> rows) {
  if (!std::is_sorted(rows.begin(), rows.end())) throw JobFileError("job file writer: rows must be given in increasing order");
}
}  // namespace

void JobFileWriter::Impl::require_whole_chunks(std::span<const std::size_t> rows, std::size_t table_rows) const {
  if (!whole_blocks(rows, table_rows, rank_chunk_rows))
    throw JobFileError("job file writer: a rank's rows must be whole chunks of " + std::to_string(rank_chunk_rows) +
                       " rows of /ranks (two writers never share a chunk)");
}

void JobFileWriter::write_series(Rows rows, std::size_t metric, std::span<const std::size_t> row_indices,
                                 std::span<const double> values, std::size_t first_step, std::size_t steps) {
  require_sorted(row_indices);
  if (rows == Rows::Ranks) impl_->require_whole_chunks(row_indices, impl_->rank_count);
  impl_->write_rows(impl_->series_of(rows).at(metric), row_indices, steps, values.data(), H5T_NATIVE_DOUBLE, first_step);
}

void JobFileWriter::write_row_summary(Rows rows, std::size_t metric, std::span<const std::size_t> row_indices,
                                      std::span<const double> values) {
  require_sorted(row_indices);
  impl_->write_rows(impl_->summary_of(rows).at(metric), row_indices, kStatCount, values.data(), H5T_NATIVE_DOUBLE);
}

void JobFileWriter::write_job_summary(Rows rows, std::size_t metric, const JobStats& stats) {
  auto& datasets = rows == Rows::Ranks ? impl_->job_summary : impl_->job_node_summary;
  impl_->write_by_root(datasets.at(metric), H5T_NATIVE_DOUBLE, stats.data());
}

void JobFileWriter::write_step_summary(std::size_t metric, std::size_t first_step, std::span<const double> values) {
  std::vector<Impl::Block> block;
  if (impl_->rank == 0 && !values.empty())
    block.push_back({first_step, values.size() / kStepStatCount, 0, kStepStatCount, values.data()});
  impl_->write_blocks(impl_->step_summary.at(metric), block, H5T_NATIVE_DOUBLE);
}

namespace {
// Rows before this rank's, and all rows.
std::pair<long long, long long> row_offsets(std::size_t rows, int rank, MPI_Comm comm) {
  long long count = static_cast<long long>(rows), first = 0, total = 0;
  MPI_Exscan(&count, &first, 1, MPI_LONG_LONG, MPI_SUM, comm);
  if (rank == 0) first = 0;
  MPI_Allreduce(&count, &total, 1, MPI_LONG_LONG, MPI_SUM, comm);
  return {first, total};
}
}  // namespace

void JobFileWriter::Impl::write_table(const char* group_path, const char* dimension, const Table& mine) {
  auto [first, total] = row_offsets(mine.rows, rank, comm);
  auto group = create_group(file, group_path);
  const hsize_t n = static_cast<hsize_t>(total), start = static_cast<hsize_t>(first), mine_n = mine.rows;
  std::vector<std::int64_t> index(mine_n);
  for (hsize_t i = 0; i < mine_n; ++i) index[i] = static_cast<std::int64_t>(start + i);
  auto scale = create_dataset(group, dimension, H5T_STD_I64LE, {n});
  check(H5DSset_scale(scale, dimension), "make a table dimension scale", 0);

  // This rank's slab [start, start + count) of a (rows) dataset.
  auto write_slab = [&](hid_t dset, hid_t mem_type, const void* data) {
    if (n == 0) return;
    auto file_space = h5::space_handle(H5Dget_space(dset), "get dataspace");
    hsize_t mem_n = std::max<hsize_t>(mine_n, 1);
    auto mem_space = h5::space_handle(H5Screate_simple(1, &mem_n, nullptr), "create memory space");
    if (mine_n == 0) {
      H5Sselect_none(file_space);
      H5Sselect_none(mem_space);
    } else {
      check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start, nullptr, &mine_n, nullptr), "select rows", 0);
    }
    check(H5Dwrite(dset, mem_type, mem_space, file_space, dxpl, data), "write table column", 0);
  };
  auto describe = [&](hid_t d, const Column& c) {
    if (!c.units.empty()) h5::write_attribute(d, "units", c.units);
    h5::write_attribute(d, "long_name", c.long_name);
    attach(d, scale, 0);
  };
  write_slab(scale, H5T_NATIVE_INT64, index.data());
  for (const auto& [column, values] : mine.text) {
    unsigned long long width = max_length(values), widest = 0;
    MPI_Allreduce(&width, &widest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
    auto type = h5::fixed_string_type(widest);
    auto d = create_dataset(group, column.name, type, {n});
    auto buffer = pack_fixed(values, widest);
    write_slab(d, type, buffer.data());
    describe(d, column);
  }
  for (const auto& [column, values] : mine.integers) {
    auto d = create_dataset(group, column.name, H5T_STD_I64LE, {n});
    write_slab(d, H5T_NATIVE_INT64, values.data());
    describe(d, column);
  }
  for (const auto& [column, values] : mine.reals) {
    auto d = create_dataset(group, column.name, H5T_IEEE_F64LE, {n});
    write_slab(d, H5T_NATIVE_DOUBLE, values.data());
    describe(d, column);
  }
}

void JobFileWriter::write_processes(const std::vector<ProcessRow>& mine) {
  using P = ProcessRow;
  const auto first = row_offsets(mine.size(), impl_->rank, impl_->comm).first;
  Table t;
  t.rows = mine.size();
  t.add_text(mine, {"host", "", "host the process ran on"}, [](const P& p) { return p.host; });
  t.add_text(mine, {"kind", "", "exited (recorded itself) or killed (by a signal; recorded by its parent)"},
             [](const P& p) { return p.kind; });
  t.add_text(mine, {"exe", "", "executable"}, [](const P& p) { return p.exe; });
  t.add_text(mine, {"args", "", "command line"}, [](const P& p) { return p.args; });
  t.add_text(mine, {"tags", "", "JOBPERF_TAGS of the process"}, [](const P& p) { return p.tags; });
  const std::pair<Column, std::int64_t P::*> integers[] = {
      {{"pid", "", "process id"}, &P::pid},
      {{"ppid", "", "parent process id"}, &P::ppid},
      {{"depth", "", "generations below the first recorded ancestor"}, &P::depth},
      {{"rank", "", "MPI rank (-1: none)"}, &P::rank},
      {{"exec_generation", "", "execs the process went through"}, &P::exec_generation},
      {{"exit_code", "", "exit code (-1: killed)"}, &P::exit_code},
      {{"signal", "", "signal that killed it (0: none)"}, &P::signal},
      {{"start_time", kTimeUnits, "process start"}, &P::start_ns},
      {{"end_time", kTimeUnits, "process end"}, &P::end_ns},
      {{"maxrss", "bytes", "peak resident memory"}, &P::maxrss_bytes},
      {{"minor_faults", "1", "minor page faults"}, &P::minflt},
      {{"major_faults", "1", "major page faults"}, &P::majflt},
      {{"inblock", "1", "block input operations"}, &P::inblock},
      {{"oublock", "1", "block output operations"}, &P::oublock},
      {{"voluntary_switches", "1", "voluntary context switches"}, &P::voluntary_switches},
      {{"involuntary_switches", "1", "involuntary context switches"}, &P::involuntary_switches},
      {{"rchar", "bytes", "bytes read by system calls"}, &P::rchar},
      {{"wchar", "bytes", "bytes written by system calls"}, &P::wchar},
      {{"read_calls", "1", "read system calls"}, &P::syscr},
      {{"write_calls", "1", "write system calls"}, &P::syscw},
      {{"read_bytes", "bytes", "bytes read from storage"}, &P::read_bytes},
      {{"write_bytes", "bytes", "bytes written to storage"}, &P::write_bytes},
      {{"cancelled_write_bytes", "bytes", "written bytes truncated before reaching storage"}, &P::cancelled_write_bytes},
      {{"timeslices", "1", "scheduler timeslices"}, &P::timeslices},
      {{"perf_instructions", "1", "instructions (JOBPERF_PRELOAD_PERF=1; 0 if unavailable)"}, &P::perf_instructions},
      {{"perf_cycles", "1", "cycles (JOBPERF_PRELOAD_PERF=1; 0 if unavailable)"}, &P::perf_cycles},
      {{"threads", "1", "thread exit records (JOBPERF_PRELOAD_THREADS=1)"}, &P::threads}};
  for (auto [column, member] : integers) t.add_integer(mine, column, [m = member](const P& p) { return p.*m; });
  t.add_integer(mine, {"parent", "", "row of the parent process (-1: not recorded)"},
                [first = first](const P& p) { return p.parent < 0 ? p.parent : p.parent + first; });
  const std::pair<Column, double P::*> reals[] = {
      {{"user_time", "s", "user CPU time, threads included"}, &P::user_s},
      {{"system_time", "s", "system CPU time, threads included"}, &P::system_s},
      {{"run_time", "s", "time on a CPU (schedstat)"}, &P::run_s},
      {{"wait_time", "s", "time waiting for a CPU (schedstat)"}, &P::wait_s},
      {{"perf_task_clock", "s", "task clock (JOBPERF_PRELOAD_PERF=1)"}, &P::perf_task_clock_s},
      {{"thread_user_time", "s", "user CPU time of the recorded threads, added up"}, &P::thread_user_s},
      {{"thread_system_time", "s", "system CPU time of the recorded threads, added up"}, &P::thread_system_s}};
  for (auto [column, member] : reals) t.add_real(mine, column, [m = member](const P& p) { return p.*m; });
  impl_->write_table(kProcesses, "process", t);
}

void JobFileWriter::write_samples(std::size_t source, std::span<const RowSamples> mine, bool last) {
  auto& d = impl_->samples.at(source);
  auto columns = [&](const RowSamples& r) { return last ? d.width - std::min(r.column, d.width) : r.time_ns.size(); };
  std::vector<const RowSamples*> rows;
  for (const auto& r : mine) {
    if (r.column + r.time_ns.size() > d.width)
      throw JobFileError("job file writer: more samples than counted for row " + std::to_string(r.row));
    if (columns(r) > 0) rows.push_back(&r);
  }
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->row < b->row; });
  if (d.of_ranks) {
    std::vector<std::size_t> indices;
    for (const auto* r : rows) indices.push_back(r->row);
    impl_->require_whole_chunks(indices, impl_->rank_count);
  }
  // Runs of consecutive rows whose pieces start at the same column and are as long: one block each.
  std::vector<std::pair<std::size_t, std::size_t>> runs;  // (first index into rows, count)
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto &r = *rows[i], *prev = i > 0 ? rows[i - 1] : nullptr;
    if (prev && r.row == prev->row + 1 && r.column == prev->column && columns(r) == columns(*prev)) ++runs.back().second;
    else runs.emplace_back(i, 1);
  }
  // Each piece padded to its block's width: NaT after the row's last time,
  // NaN after its last value. The buffers serve field after field and call
  // after call: their memory is written, not allocated and faulted in again.
  auto write = [&](hid_t dset, hid_t mem_type, auto missing, auto row_values, auto& buffer) {
    std::size_t total = 0;
    for (const auto& [first, count] : runs) total += count * columns(*rows[first]);
    if (buffer.size() < total) buffer.resize(total);
    std::vector<Impl::Block> blocks;
    auto* out = buffer.data();
    for (const auto& [first, count] : runs) {
      const std::size_t width = columns(*rows[first]);
      for (std::size_t i = 0; i < count; ++i) {
        const auto& r = *rows[first + i];
        auto* row = out + i * width;
        auto* end = r.time_ns.empty() ? row : std::copy_n(row_values(r), r.time_ns.size(), row);
        std::fill(end, row + width, missing);
      }
      blocks.push_back({rows[first]->row, count, rows[first]->column, width, out});
      out += count * width;
    }
    impl_->write_blocks(dset, blocks, mem_type);
  };
  write(d.time, H5T_NATIVE_INT64, kMissingTime, [](const RowSamples& r) { return r.time_ns.data(); }, impl_->time_buffer);
  for (std::size_t f = 0; f < d.fields.size(); ++f)
    write(d.fields[f], H5T_NATIVE_DOUBLE, std::numeric_limits<double>::quiet_NaN(),
          [f](const RowSamples& r) { return (*r.values)[f].data() + r.first; }, impl_->value_buffer);
}

void JobFileWriter::write_outliers(const std::vector<Outlier>& outliers) { impl_->write_outliers(outliers); }

void JobFileWriter::write_tag_sums(const std::vector<TagSum>& mine) {
  using T = TagSum;
  Table t;
  t.rows = mine.size();
  t.add_text(mine, {"tags", "", "JOBPERF_TAGS value (empty: untagged)"}, [](const T& s) { return s.tags; });
  t.add_integer(mine, {"processes", "1", "processes with these tags"}, [](const T& s) { return s.processes; });
  t.add_real(mine, {"duration", "s", "wall time of the processes, added up"}, [](const T& s) { return s.duration_s; });
  t.add_real(mine, {"user_time", "s", "user CPU time, added up"}, [](const T& s) { return s.user_s; });
  t.add_real(mine, {"system_time", "s", "system CPU time, added up"}, [](const T& s) { return s.system_s; });
  t.add_integer(mine, {"read_bytes", "bytes", "bytes read by system calls, added up"}, [](const T& s) { return s.read_bytes; });
  t.add_integer(mine, {"write_bytes", "bytes", "bytes written by system calls, added up"}, [](const T& s) { return s.write_bytes; });
  t.add_integer(mine, {"max_rss", "bytes", "largest peak resident memory"}, [](const T& s) { return s.max_rss_bytes; });
  impl_->write_table(kTagSums, "tag", t);
}

void JobFileWriter::close() {
  auto& im = *impl_;
  im.drop_datasets();
  im.dxpl.reset();
  herr_t status = H5Fclose(im.file.get());
  im.file = Handle();
  int ok = status >= 0, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, im.comm);
  if (!all_ok) {
    if (im.rank == 0) std::remove(im.tmp_path.c_str());
    throw JobFileError(im.tmp_path + ": closing the HDF5 file failed");
  }
  int error = 0;  // rank 0's, for every rank to throw alike
  if (im.rank == 0 && std::rename(im.tmp_path.c_str(), im.path.c_str()) != 0) {
    error = errno;
    std::remove(im.tmp_path.c_str());
  }
  MPI_Bcast(&error, 1, MPI_INT, 0, im.comm);
  if (error != 0)
    throw JobFileError(im.path + ": cannot rename " + im.tmp_path + " into place (" + std::strerror(error) + ")");
}

// ---------------------------------------------------------------- readers

namespace {

Handle open_file(const std::string& path) {
  h5::silence_error_stack();
  if (access(path.c_str(), R_OK) != 0) throw JobFileError(path + ": cannot read file");
  hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0) throw JobFileError(path + ": not an HDF5 file");
  Handle file(fid, H5Fclose);
  // The root group's header checked first, as h5py does: HDF5 reads attributes through a
  // damaged header without noticing, and can then loop forever in the heap it points to.
  H5O_info_t root;
  if (H5Oget_info_by_name2(file, "/", &root, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || root.type != H5O_TYPE_GROUP)
    throw JobFileError(path + ": damaged: the root group's header cannot be read");
  return file;
}

Handle open_job_file(const std::string& path) {
  auto file = open_file(path);
  if (H5Aexists(file, "file_kind") <= 0 || h5::read_string_attribute(file, "file_kind") != kJobKind)
    throw JobFileError(path + ": not a jobperf job file (no file_kind=\"jobperf-job\" attribute)");
  auto version = h5::read_int_attribute(file, "schema_version");
  if (version > kSchemaVersion)
    throw JobFileError(path + ": job file schema version " + std::to_string(version) +
                       " is newer than this reader (" + std::to_string(kSchemaVersion) + ")");
  return file;
}

MetricInfo read_metric_info(hid_t dset, const std::string& name) {
  MetricInfo m;
  m.name = name;
  m.units = h5::read_string_attribute(dset, "units");
  m.long_name = h5::read_string_attribute(dset, "long_name");
  if (H5Aexists(dset, "formula") > 0) m.formula = h5::read_string_attribute(dset, "formula");
  return m;
}

bool is_metric(hid_t group, const std::string& name) {
  auto d = open_dataset(group, name);
  return H5DSis_scale(d) <= 0 && H5Aexists(d, "units") > 0;
}

// Readers report HDF5 failures as JobFileError naming the file, and name it if HDF5 crashes.
template <typename Fn>
auto guarded(const std::string& path, Fn&& fn) -> decltype(fn()) {
  h5::NameFileInCrash crash_note(path);
  try {
    return fn();
  } catch (const h5::H5Error& e) {
    throw JobFileError(path + ": " + e.what());
  }
}

// Every metric dataset of a group (dimension scales and unit-less datasets are not metrics).
void read_metrics(hid_t group, std::vector<MetricInfo>& metrics, std::vector<std::vector<double>>& values) {
  for (const auto& name : h5::child_names(group)) {
    if (!is_metric(group, name)) continue;
    auto d = open_dataset(group, name);
    metrics.push_back(read_metric_info(d, name));
    values.push_back(h5::read_doubles(d));
  }
}

}  // namespace

JobSummary read_job_summary(const std::string& path) {
  return guarded(path, [&] {
    auto file = open_job_file(path);
    JobSummary s;
    s.path = path;
    auto& info = s.info;
    info.job_id = h5::read_string_attribute(file, "job_id");
    info.job_name = h5::read_string_attribute(file, "job_name");
    info.user = h5::read_string_attribute(file, "user");
    info.command = h5::read_string_attribute(file, "command");
    info.collection_mode = h5::read_string_attribute(file, "collection_mode");
    info.status = h5::read_string_attribute(file, "status");
    info.problems = split(h5::read_string_attribute(file, "problems"), '\n');
    info.hosts = split(h5::read_string_attribute(file, "hosts"), ',');
    info.start_ns = h5::read_int_attribute(file, "start_time_ns");
    info.end_ns = h5::read_int_attribute(file, "end_time_ns");
    info.sample_interval_s = h5::read_double_attribute(file, "sample_interval_s");
    info.exit_status = h5::read_int_attribute(file, "exit_status");
    s.rank_count = static_cast<std::size_t>(h5::read_int_attribute(file, "n_ranks"));
    s.node_count = static_cast<std::size_t>(h5::read_int_attribute(file, "n_nodes"));
    if (h5::link_exists(file, kClock)) {
      auto clock = open_group(file, kClock);
      s.clock_method = h5::read_string_attribute(clock, "method");
      s.clock_reference = h5::read_string_attribute(clock, "reference_host");
    }
    if (h5::link_exists(file, kOutliers))
      s.in_job_outliers = h5::read_fixed_strings(open_dataset(open_group(file, kOutliers), "reason"));
    auto metadata = open_group(file, kMetadata);
    for (const auto& key : h5::attribute_names(metadata))
      info.metadata.emplace_back(key, h5::read_string_attribute(metadata, key));
    auto job = open_group(file, kJobSummary);
    for (const auto& name : h5::child_names(job)) {
      if (name == "stat") continue;
      auto d = open_dataset(job, name);
      auto values = h5::read_doubles(d);
      if (values.size() < kStatCount) throw JobFileError(path + ": " + kJobSummary + "/" + name + " has the wrong shape");
      std::copy(values.begin(), values.begin() + kStatCount, s.job_stats[name].begin());
      s.metrics[name] = read_metric_info(d, name);
    }
    return s;
  });
}

struct SeriesReader::Impl {
  std::string path;
  Handle file, group;
  std::vector<Handle> datasets;  // one per metric
  std::vector<std::int64_t> time_ns;
  std::vector<std::string> labels, hosts;
  std::vector<MetricInfo> metrics;
};

SeriesReader::SeriesReader(const std::string& path, Rows rows) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.path = path;
  guarded(path, [&] {
    s.file = open_job_file(path);
    if (rows == Rows::Gpus && H5Lexists(s.file, kGpus, H5P_DEFAULT) <= 0) return;  // no GPU recorded one by one
    s.group = open_group(s.file, group_name(rows));
    s.time_ns = h5::read_int64s(open_dataset(s.group, "time"));
    if (rows == Rows::Ranks) {
      for (auto r : h5::read_int64s(open_dataset(s.group, "rank"))) s.labels.push_back("rank " + std::to_string(r));
      s.hosts = h5::read_fixed_strings(open_dataset(s.group, "host"));
    } else if (rows == Rows::Nodes) {
      s.labels = s.hosts = h5::read_fixed_strings(open_dataset(s.group, "node"));
    } else {
      s.hosts = h5::read_fixed_strings(open_dataset(s.group, "host"));
      auto index = h5::read_int64s(open_dataset(s.group, "index"));
      for (std::size_t i = 0; i < s.hosts.size() && i < index.size(); ++i)
        s.labels.push_back(s.hosts[i] + " gpu " + std::to_string(index[i]));
    }
    if (s.hosts.size() != s.labels.size()) throw JobFileError(path + ": " + group_name(rows) + " has rows of unequal lengths");
    for (const auto& name : h5::child_names(s.group)) {
      if (!is_metric(s.group, name)) continue;
      auto d = open_dataset(s.group, name);
      const auto shape = h5::dataset_shape(d);
      if (shape.size() != 2 || shape[0] != s.labels.size() || shape[1] != s.time_ns.size())
        throw JobFileError(path + ": " + group_name(rows) + "/" + name + " is not (rows, time)");
      s.metrics.push_back(read_metric_info(d, name));
      s.datasets.push_back(std::move(d));
    }
  });
}

SeriesReader::~SeriesReader() = default;

void SeriesReader::for_each_piece(std::size_t metric, std::size_t row,
                                  const std::function<void(std::size_t, std::span<const double>)>& piece) const {
  const std::size_t steps = impl_->time_ns.size();
  std::vector<double> values;
  for (std::size_t first = 0; first < steps; first += kChunkSteps) {
    values.resize(std::min(kChunkSteps, steps - first));
    read(metric, row, first, values);
    piece(first, values);
  }
}
const std::vector<std::int64_t>& SeriesReader::time_ns() const { return impl_->time_ns; }
const std::vector<std::string>& SeriesReader::labels() const { return impl_->labels; }
const std::vector<std::string>& SeriesReader::hosts() const { return impl_->hosts; }
const std::vector<MetricInfo>& SeriesReader::metrics() const { return impl_->metrics; }

void SeriesReader::read(std::size_t metric, std::size_t row, std::size_t first_step, std::span<double> out) const {
  const auto& s = *impl_;
  if (out.empty()) return;
  if (metric >= s.datasets.size() || row >= s.labels.size() || first_step + out.size() > s.time_ns.size())
    throw std::out_of_range("SeriesReader::read: outside the table");
  guarded(s.path, [&] {
    const hid_t d = s.datasets[metric];
    auto file_space = h5::space_handle(H5Dget_space(d), "get dataspace");
    const hsize_t start[2] = {row, first_step}, count[2] = {1, out.size()};
    check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), "select a row", 0);
    auto memory = h5::space_handle(H5Screate_simple(2, count, nullptr), "create memory space");
    if (H5Dread(d, H5T_NATIVE_DOUBLE, memory, file_space, H5P_DEFAULT, out.data()) < 0)
      throw h5::H5Error("HDF5: cannot read " + s.metrics[metric].name + " of row " + std::to_string(row));
  });
}

RankSummary read_rank_summary(const std::string& path) {
  return guarded(path, [&] {
    auto file = open_job_file(path);
    RankSummary s;
    auto ranks = open_group(file, kRanks);
    for (auto r : h5::read_int64s(open_dataset(ranks, "rank"))) s.ranks.push_back(static_cast<std::int32_t>(r));
    s.hosts = h5::read_fixed_strings(open_dataset(ranks, "host"));
    read_metrics(open_group(file, kRankSummary), s.metrics, s.values);
    return s;
  });
}

bool is_rate(const std::string& units) {
  return units == "cores" || units == "W" || (units.size() > 2 && units.ends_with("/s"));
}

std::string sum_units(const std::string& units) {
  if (units == "cores") return "core-s";
  if (units == "W") return "J";
  if (is_rate(units)) return units.substr(0, units.size() - 2);
  return units == "1" ? "s" : units + " s";
}

bool TableColumn::is_time() const { return kind == Integer && units == kTimeUnits; }

std::vector<TableColumn> read_table(const std::string& path, JobTable table) {
  const char* group_path = table == JobTable::Processes ? kProcesses
                           : table == JobTable::TagSums ? kTagSums
                           : table == JobTable::Outliers ? kOutliers
                                                         : kClock;
  return guarded(path, [&] {
    auto file = open_job_file(path);
    std::vector<TableColumn> out;
    if (!h5::link_exists(file, group_path)) return out;  // older files, or a job without it
    auto group = open_group(file, group_path);
    for (const auto& name : h5::child_names(group)) {
      H5O_info_t info;
      if (H5Oget_info_by_name(group, name.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) continue;
      auto d = open_dataset(group, name);
      if (H5DSis_scale(d) > 0 && name != "node") continue;  // the row index itself
      if (h5::dataset_shape(d).size() != 1) continue;
      TableColumn c;
      c.name = name;
      if (H5Aexists(d, "units") > 0) c.units = h5::read_string_attribute(d, "units");
      Handle type{check(H5Dget_type(d), "get dataset type"), H5Tclose};
      switch (H5Tget_class(type)) {
        case H5T_STRING: c.kind = TableColumn::Text, c.text = h5::read_fixed_strings(d); break;
        case H5T_INTEGER: c.kind = TableColumn::Integer, c.integers = h5::read_int64s(d); break;
        default: c.kind = TableColumn::Real, c.reals = h5::read_doubles(d); break;
      }
      out.push_back(std::move(c));
    }
    return out;
  });
}

// ---------------------------------------------------------------- campaign

bool is_campaign_file(const std::string& path) {
  return guarded(path, [&] {
    auto file = open_file(path);
    return H5Aexists(file, "file_kind") > 0 && h5::read_string_attribute(file, "file_kind") == kCampaignKind;
  });
}

namespace {
Handle serial_strings(hid_t loc, const std::string& name, const std::vector<std::string>& strings) {
  std::size_t width = max_length(strings);
  auto type = h5::fixed_string_type(width);
  auto d = create_dataset(loc, name, type, {strings.size()});
  auto buffer = pack_fixed(strings, width);
  if (!strings.empty()) check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), "write " + name, 0);
  return d;
}

template <typename T>
Handle serial_matrix(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, std::vector<hsize_t> dims,
                     const std::vector<T>& data, hid_t row_scale, hid_t column_scale) {
  auto d = create_dataset(loc, name, file_type, dims);
  if (!data.empty()) check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "write " + name, 0);
  attach(d, row_scale, 0);
  if (dims.size() > 1) attach(d, column_scale, 1);
  return d;
}
}  // namespace

void write_campaign(const std::string& path, bool force, const Campaign& c) {
  h5::silence_error_stack();
  if (!force && access(path.c_str(), F_OK) == 0)
    throw JobFileError(path + ": already exists (use --force to replace it)");
  std::string tmp = path + ".tmp";
  try {
    {
      auto fapl = h5::plist_handle(H5Pcreate(H5P_FILE_ACCESS), "create file access properties");
      h5::set_file_format(fapl);
      hid_t fid = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
      if (fid < 0) throw JobFileError(tmp + ": cannot create HDF5 file (is the directory writable?)");
      Handle file(fid, H5Fclose);
      h5::write_attribute(file, "file_kind", std::string(kCampaignKind));
      h5::write_attribute(file, "schema_version", kSchemaVersion);
      h5::write_attribute(file, "jobperf_version", std::string(JOBPERF_VERSION));
      h5::write_attribute(file, "classifiers", join(c.classifiers, ","));
      h5::write_attribute(file, "min_group_size", c.min_group_size);
      h5::write_attribute(file, "min_deviation", c.min_deviation);
      auto jobs = create_group(file, "jobs");
      const hsize_t n = c.jobs.size(), f = c.feature_names.size();
      std::vector<std::int64_t> index(n);
      for (hsize_t i = 0; i < n; ++i) index[i] = static_cast<std::int64_t>(i);
      auto job_scale = create_dataset(jobs, "job", H5T_STD_I64LE, {n});
      if (n) check(H5Dwrite(job_scale, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, index.data()), "write job", 0);
      check(H5DSset_scale(job_scale, "job"), "make job a dimension scale", 0);
      auto feature_scale = serial_strings(jobs, "feature", c.feature_names);
      check(H5DSset_scale(feature_scale, "feature"), "make feature a dimension scale", 0);
      attach(serial_strings(jobs, "feature_units", c.feature_units), feature_scale, 0);

      std::vector<std::string> paths, ids, names, groups, in_job;
      std::vector<double> features, modified_z, z;
      std::vector<std::int8_t> iqr, feature_votes, outlier, compared;
      std::vector<std::int64_t> votes;
      for (const auto& j : c.jobs) {
        paths.push_back(j.path);
        ids.push_back(j.job_id);
        names.push_back(j.job_name);
        groups.push_back(j.group);
        in_job.push_back(join(j.in_job_outliers, "\n"));
        features.insert(features.end(), j.features.begin(), j.features.end());
        modified_z.insert(modified_z.end(), j.modified_z.begin(), j.modified_z.end());
        z.insert(z.end(), j.z.begin(), j.z.end());
        iqr.insert(iqr.end(), j.outside_iqr.begin(), j.outside_iqr.end());
        feature_votes.insert(feature_votes.end(), j.feature_votes.begin(), j.feature_votes.end());
        votes.push_back(j.votes);
        outlier.push_back(j.outlier);
        compared.push_back(j.compared);
      }
      for (auto [name, strings] : {std::pair{"path", &paths}, {"job_id", &ids}, {"job_name", &names}, {"group", &groups},
                                   {"in_job_outliers", &in_job}})
        attach(serial_strings(jobs, name, *strings), job_scale, 0);
      serial_matrix(jobs, "features", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {n, f}, features, job_scale, feature_scale);
      serial_matrix(jobs, "modified_z", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {n, f}, modified_z, job_scale, feature_scale);
      serial_matrix(jobs, "z", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {n, f}, z, job_scale, feature_scale);
      serial_matrix(jobs, "outside_iqr", H5T_STD_I8LE, H5T_NATIVE_INT8, {n, f}, iqr, job_scale, feature_scale);
      serial_matrix(jobs, "feature_votes", H5T_STD_I8LE, H5T_NATIVE_INT8, {n, f}, feature_votes, job_scale, feature_scale);
      serial_matrix(jobs, "votes", H5T_STD_I64LE, H5T_NATIVE_INT64, {n}, votes, job_scale, feature_scale);
      serial_matrix(jobs, "outlier", H5T_STD_I8LE, H5T_NATIVE_INT8, {n}, outlier, job_scale, feature_scale);
      serial_matrix(jobs, "compared", H5T_STD_I8LE, H5T_NATIVE_INT8, {n}, compared, job_scale, feature_scale);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw JobFileError(path + ": cannot rename " + tmp + " into place");
  } catch (const h5::H5Error& e) {
    std::remove(tmp.c_str());
    throw JobFileError(path + ": " + e.what());
  }
}

Campaign read_campaign(const std::string& path) {
  return guarded(path, [&] {
    auto file = open_file(path);
    if (H5Aexists(file, "file_kind") <= 0 || h5::read_string_attribute(file, "file_kind") != kCampaignKind)
      throw JobFileError(path + ": not a jobperf campaign file");
    Campaign c;
    c.classifiers = split(h5::read_string_attribute(file, "classifiers"), ',');
    c.min_group_size = h5::read_int_attribute(file, "min_group_size");
    c.min_deviation = h5::read_double_attribute(file, "min_deviation");
    auto jobs = open_group(file, "jobs");
    c.feature_names = h5::read_fixed_strings(open_dataset(jobs, "feature"));
    c.feature_units = h5::read_fixed_strings(open_dataset(jobs, "feature_units"));
    auto paths = h5::read_fixed_strings(open_dataset(jobs, "path"));
    auto ids = h5::read_fixed_strings(open_dataset(jobs, "job_id"));
    auto names = h5::read_fixed_strings(open_dataset(jobs, "job_name"));
    auto groups = h5::read_fixed_strings(open_dataset(jobs, "group"));
    auto features = h5::read_doubles(open_dataset(jobs, "features"));
    auto modified_z = h5::read_doubles(open_dataset(jobs, "modified_z"));
    auto z = h5::read_doubles(open_dataset(jobs, "z"));
    auto iqr = h5::read_int64s(open_dataset(jobs, "outside_iqr"));
    auto feature_votes = h5::read_int64s(open_dataset(jobs, "feature_votes"));
    auto votes = h5::read_int64s(open_dataset(jobs, "votes"));
    auto outlier = h5::read_int64s(open_dataset(jobs, "outlier"));
    auto compared = h5::read_int64s(open_dataset(jobs, "compared"));
    std::vector<std::string> in_job;  // schema 8 on
    if (h5::link_exists(jobs, "in_job_outliers")) in_job = h5::read_fixed_strings(open_dataset(jobs, "in_job_outliers"));
    in_job.resize(paths.size());
    const std::size_t f = c.feature_names.size();
    for (std::size_t i = 0; i < paths.size(); ++i) {
      CampaignJob j;
      j.path = paths[i];
      j.job_id = ids[i];
      j.job_name = names[i];
      j.group = groups[i];
      auto row = [&](const auto& v) { return std::vector(v.begin() + i * f, v.begin() + (i + 1) * f); };
      j.features = row(features);
      j.modified_z = row(modified_z);
      j.z = row(z);
      for (auto x : row(iqr)) j.outside_iqr.push_back(static_cast<std::int8_t>(x));
      for (auto x : row(feature_votes)) j.feature_votes.push_back(static_cast<std::int8_t>(x));
      j.votes = votes[i];
      j.outlier = outlier[i] != 0;
      j.compared = compared[i] != 0;
      if (!in_job[i].empty()) j.in_job_outliers = split(in_job[i], '\n');
      c.jobs.push_back(std::move(j));
    }
    return c;
  });
}

}  // namespace jobperf::jobfile
