#include "formats/export.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include "formats/clock.hpp"
#include "formats/job_file.hpp"

namespace jobperf::exporter {
namespace {

using jobfile::TableColumn;

// The shortest text that reads back as the same double (NaN: empty).
std::string number(double v) {
  if (std::isnan(v)) return "";
  char buf[32];
  return {buf, std::to_chars(buf, buf + sizeof buf, v).ptr};
}

std::string iso(std::int64_t ns) { return ns == jobfile::kMissingTime ? "" : stream::iso_utc(ns, 9); }

// RFC 4180: quote fields holding separators, quotes or line breaks.
std::string csv(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}
std::string json_number(double v) { return std::isfinite(v) ? number(v) : "null"; }

class CsvFile {
 public:
  CsvFile(const std::string& path, std::vector<std::string>& written) : out_(path), path_(path) {
    if (!out_) throw std::runtime_error(path + ": cannot write");
    written.push_back(path);
  }
  void row(const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + csv(cells[i]);
    write(line + "\n");
  }
  void write(const std::string& lines) {
    out_ << lines;
    if (!out_) throw std::runtime_error(path_ + ": write failed");
  }

 private:
  std::ofstream out_;
  std::string path_;
};

std::string cell(const TableColumn& c, std::size_t i) {
  switch (c.kind) {
    case TableColumn::Text: return c.text[i];
    case TableColumn::Integer: return c.is_time() ? iso(c.integers[i]) : std::to_string(c.integers[i]);
    case TableColumn::Real: return number(c.reals[i]);
  }
  return "";
}
std::size_t rows_of(const std::vector<TableColumn>& table) {
  if (table.empty()) return 0;
  const auto& c = table.front();
  return c.kind == TableColumn::Text ? c.text.size() : c.kind == TableColumn::Integer ? c.integers.size() : c.reals.size();
}

void table_csv(const std::vector<TableColumn>& table, const std::string& path, std::vector<std::string>& written) {
  CsvFile f(path, written);
  std::vector<std::string> header;
  for (const auto& c : table) header.push_back(c.units.empty() || c.is_time() ? c.name : c.name + " [" + c.units + "]");
  f.row(header);
  for (std::size_t i = 0; i < rows_of(table); ++i) {
    std::vector<std::string> cells;
    for (const auto& c : table) cells.push_back(cell(c, i));
    f.row(cells);
  }
}

// Calls fn(row, first_step, pieces) for every row of `s` a chunk of steps at a
// time, `pieces` holding each metric's values of those steps: memory stays
// at one chunk per metric whatever the job's size.
template <typename Fn>
void for_each_block(const jobfile::SeriesReader& s, Fn&& fn) {
  const std::size_t steps = s.time_ns().size();
  std::vector<std::vector<double>> pieces(s.metrics().size());
  for (std::size_t r = 0; r < s.rows(); ++r)
    for (std::size_t first = 0; first < steps; first += jobfile::kChunkSteps) {
      const std::size_t n = std::min(jobfile::kChunkSteps, steps - first);
      for (std::size_t m = 0; m < pieces.size(); ++m) pieces[m].resize(n), s.read(m, r, first, pieces[m]);
      fn(r, first, pieces);
    }
}

void series_csv(const jobfile::SeriesReader& s, const std::string& row_name, const std::string& path,
                std::vector<std::string>& written) {
  CsvFile f(path, written);
  std::vector<std::string> header = {"time", row_name};
  for (const auto& m : s.metrics()) header.push_back(m.name + " [" + m.units + "]");
  f.row(header);
  std::vector<std::string> times;  // each step's, formatted once
  for (auto t : s.time_ns()) times.push_back(iso(t));
  for_each_block(s, [&](std::size_t r, std::size_t first, const std::vector<std::vector<double>>& pieces) {
    const std::string row = "," + csv(s.labels()[r]);
    std::string lines;
    for (std::size_t k = 0; k < (pieces.empty() ? 0 : pieces.front().size()); ++k) {
      lines += times[first + k];
      lines += row;
      for (const auto& p : pieces) lines += ',', lines += number(p[k]);
      lines += '\n';
    }
    f.write(lines);
  });
}

std::string json_table(const std::vector<TableColumn>& table) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows_of(table); ++i) {
    out += i ? ",\n    {" : "\n    {";
    for (std::size_t k = 0; k < table.size(); ++k) {
      const auto& c = table[k];
      out += (k ? ", " : "") + json_string(c.name) + ": ";
      if (c.kind == TableColumn::Text) out += json_string(c.text[i]);
      else if (c.kind == TableColumn::Real) out += json_number(c.reals[i]);
      else if (c.is_time() && c.integers[i] == jobfile::kMissingTime) out += "null";
      else out += std::to_string(c.integers[i]);
    }
    out += "}";
  }
  return out + (rows_of(table) ? "\n  ]" : "]");
}

// {"time": [...], "rows": [...], "metrics": {name: {"units": u, "values": [[row 0], ...]}}},
// written as it is read.
void json_series(const jobfile::SeriesReader& s, std::ostream& out) {
  out << "{\"time\": [";
  for (std::size_t t = 0; t < s.time_ns().size(); ++t) out << (t ? ", " : "") << s.time_ns()[t];
  out << "], \"rows\": [";
  for (std::size_t r = 0; r < s.rows(); ++r) out << (r ? ", " : "") << json_string(s.labels()[r]);
  out << "], \"metrics\": {";
  std::string text;
  for (std::size_t m = 0; m < s.metrics().size(); ++m) {
    out << (m ? ",\n      " : "\n      ") << json_string(s.metrics()[m].name)
        << ": {\"units\": " << json_string(s.metrics()[m].units) << ", \"values\": [";
    for (std::size_t r = 0; r < s.rows(); ++r) {
      text = r ? ", [" : "[";
      s.for_each_piece(m, r, [&](std::size_t first, std::span<const double> piece) {
        for (std::size_t k = 0; k < piece.size(); ++k) text += (first + k ? ", " : ""), text += json_number(piece[k]);
      });
      out << text << "]";
    }
    out << "]}";
  }
  out << "}}";
}

}  // namespace

std::vector<std::string> export_csv(const std::string& job_file, const std::string& dir) {
  auto job = jobfile::read_job_summary(job_file);
  if (std::error_code ec; !std::filesystem::create_directories(dir, ec) && ec)
    throw std::runtime_error(dir + ": cannot create the directory (" + ec.message() + ")");
  std::vector<std::string> written;
  {
    CsvFile f(dir + "/job.csv", written);
    f.row({"attribute", "value"});
    const auto& i = job.info;
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"job_id", i.job_id}, {"job_name", i.job_name}, {"user", i.user}, {"command", i.command},
             {"status", i.status}, {"start_time", iso(i.start_ns)}, {"end_time", iso(i.end_ns)},
             {"exit_status", std::to_string(i.exit_status)}, {"ranks", std::to_string(job.rank_count)},
             {"nodes", std::to_string(job.node_count)}})
      f.row({k, v});
  }
  {
    CsvFile f(dir + "/summary.csv", written);
    std::vector<std::string> header = {"metric", "units", "sum_units"};
    header.insert(header.end(), jobfile::kStatNames.begin(), jobfile::kStatNames.end());
    f.row(header);
    for (const auto& [name, stats] : job.job_stats) {
      const auto& units = job.metrics[name].units;
      std::vector<std::string> cells = {name, units, jobfile::sum_units(units)};
      for (double v : stats) cells.push_back(number(v));
      f.row(cells);
    }
  }
  {
    auto ranks = jobfile::read_rank_summary(job_file);
    CsvFile f(dir + "/ranks.csv", written);
    std::vector<std::string> header = {"rank", "host"};
    for (const auto& m : ranks.metrics)
      for (std::size_t k = 0; k < jobfile::kStatCount; ++k)
        header.push_back(m.name + "." + jobfile::kStatNames[k] + " [" + (k == jobfile::kSum ? jobfile::sum_units(m.units) : m.units) + "]");
    f.row(header);
    for (std::size_t r = 0; r < ranks.ranks.size(); ++r) {
      std::vector<std::string> cells = {std::to_string(ranks.ranks[r]), ranks.hosts[r]};
      for (const auto& v : ranks.values)
        for (std::size_t k = 0; k < jobfile::kStatCount; ++k) cells.push_back(number(v[r * jobfile::kStatCount + k]));
      f.row(cells);
    }
  }
  series_csv(jobfile::SeriesReader(job_file, jobfile::Rows::Ranks), "rank", dir + "/ranks_series.csv", written);
  series_csv(jobfile::SeriesReader(job_file, jobfile::Rows::Nodes), "node", dir + "/nodes_series.csv", written);
  if (jobfile::SeriesReader gpus(job_file, jobfile::Rows::Gpus); gpus.rows() > 0)
    series_csv(gpus, "gpu", dir + "/gpus_series.csv", written);
  table_csv(jobfile::read_table(job_file, jobfile::JobTable::Processes), dir + "/processes.csv", written);
  table_csv(jobfile::read_table(job_file, jobfile::JobTable::Outliers), dir + "/outliers.csv", written);
  return written;
}

void export_json(const std::string& job_file, std::ostream& out) {
  auto job = jobfile::read_job_summary(job_file);
  const auto& i = job.info;
  out << "{\n  \"job\": {\"job_id\": " << json_string(i.job_id) << ", \"job_name\": " << json_string(i.job_name)
      << ", \"user\": " << json_string(i.user) << ", \"command\": " << json_string(i.command)
      << ", \"status\": " << json_string(i.status) << ", \"start_time\": " << i.start_ns
      << ", \"start_time_iso\": " << json_string(iso(i.start_ns)) << ", \"end_time\": " << i.end_ns
      << ", \"end_time_iso\": " << json_string(iso(i.end_ns)) << ", \"exit_status\": " << i.exit_status
      << ", \"ranks\": " << job.rank_count << ", \"nodes\": " << job.node_count << "},\n  \"summary\": {";
  bool first = true;
  for (const auto& [name, stats] : job.job_stats) {
    const auto& units = job.metrics[name].units;
    out << (first ? "\n    " : ",\n    ") << json_string(name) << ": {\"units\": " << json_string(units)
        << ", \"sum_units\": " << json_string(jobfile::sum_units(units));
    for (std::size_t k = 0; k < jobfile::kStatCount; ++k)
      out << ", " << json_string(jobfile::kStatNames[k]) << ": " << json_number(stats[k]);
    out << "}";
    first = false;
  }
  auto ranks = jobfile::read_rank_summary(job_file);
  out << "\n  },\n  \"ranks\": [";
  for (std::size_t r = 0; r < ranks.ranks.size(); ++r) {
    out << (r ? ",\n    {" : "\n    {") << "\"rank\": " << ranks.ranks[r] << ", \"host\": " << json_string(ranks.hosts[r]);
    for (std::size_t m = 0; m < ranks.metrics.size(); ++m) {
      out << ", " << json_string(ranks.metrics[m].name) << ": {";
      for (std::size_t k = 0; k < jobfile::kStatCount; ++k)
        out << (k ? ", " : "") << json_string(jobfile::kStatNames[k]) << ": "
            << json_number(ranks.values[m][r * jobfile::kStatCount + k]);
      out << "}";
    }
    out << "}";
  }
  out << "\n  ],\n  \"series\": {\"ranks\": ";
  json_series(jobfile::SeriesReader(job_file, jobfile::Rows::Ranks), out);
  out << ",\n    \"nodes\": ";
  json_series(jobfile::SeriesReader(job_file, jobfile::Rows::Nodes), out);
  out << ",\n    \"gpus\": ";
  json_series(jobfile::SeriesReader(job_file, jobfile::Rows::Gpus), out);
  out << "},\n"
      << "  \"processes\": " << json_table(jobfile::read_table(job_file, jobfile::JobTable::Processes)) << ",\n"
      << "  \"outliers\": " << json_table(jobfile::read_table(job_file, jobfile::JobTable::Outliers)) << "\n}\n";
  if (!out) throw std::runtime_error("JSON output: write failed");
}

}  // namespace jobperf::exporter
