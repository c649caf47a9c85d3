#include "analyze/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "analyze/campaign.hpp"
#include "formats/job_file.hpp"

namespace jobperf::analyze {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;  // attributes here are single-quoted
      default: out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "–";
  char buf[32];
  double a = std::fabs(v);
  const char* suffix = "";
  for (auto [scale, s] : {std::pair{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}})
    if (a >= scale) {
      v /= scale;
      suffix = s;
      break;
    }
  std::snprintf(buf, sizeof buf, "%.3g%s", v, suffix);
  return buf;
}

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Up to this many rows are drawn a line each; more, as the band between
// their lowest and highest value and their mean, with the rows that matter
// (in-job outliers, the least and the most over the job) drawn on top: a
// thousand lines are neither readable nor a page a browser opens.
constexpr std::size_t kMaxLines = 12;
// Points per line at most, about a pixel each: a longer series is averaged
// over columns of steps (the band takes each column's lowest and highest).
constexpr std::size_t kColumns = 560;

struct Line {
  std::string label;
  std::vector<double> y;  // per column
};

// One metric of a table of rows, reduced to what its chart draws.
struct Chart {
  std::string title, units;
  double seconds = 0;          // from the first step to the last
  std::vector<double> x;       // per column: its first step, as a fraction of `seconds`
  std::vector<Line> lines;     // each row, or the mean and the rows that matter
  std::vector<double> low, high;  // per column, over the rows: empty when each row is a line
  std::size_t rows = 0;
};

// Steps into columns: column c holds steps [first[c], first[c + 1]).
std::vector<std::size_t> column_starts(std::size_t steps) {
  const std::size_t columns = std::min(steps, kColumns);
  std::vector<std::size_t> first(columns + 1);
  for (std::size_t c = 0; c <= columns; ++c) first[c] = c * steps / std::max<std::size_t>(columns, 1);
  return first;
}

// One row of a metric, a chunk of steps at a time, averaged over columns.
struct RowColumns {
  std::vector<double> sum, count;  // per column, of the values that are not NaN
  double total = 0;
  std::vector<double> means() const {
    std::vector<double> y(sum.size(), std::nan(""));
    for (std::size_t k = 0; k < y.size(); ++k)
      if (count[k] > 0) y[k] = sum[k] / count[k];
    return y;
  }
};
// `each(column, value)` sees every value that is not NaN.
template <typename Fn>
RowColumns read_row(const jobfile::SeriesReader& s, std::size_t m, std::size_t r,
                    const std::vector<std::size_t>& first, Fn&& each) {
  const std::size_t columns = first.size() - 1;
  RowColumns out{std::vector<double>(columns, 0), std::vector<double>(columns, 0)};
  std::size_t column = 0;
  s.for_each_piece(m, r, [&](std::size_t from, std::span<const double> piece) {
    for (std::size_t k = 0; k < piece.size(); ++k) {
      while (from + k >= first[column + 1]) ++column;
      if (std::isnan(piece[k])) continue;
      out.sum[column] += piece[k], out.count[column] += 1, out.total += piece[k];
      each(column, piece[k]);
    }
  });
  return out;
}

// Reads metric `m` row by row (memory does not grow with the job).
// `emphasised(row)` names why a row matters, or "".
Chart chart_of(const jobfile::SeriesReader& s, std::size_t m,
               const std::function<std::string(std::size_t)>& emphasised) {
  const auto& time = s.time_ns();
  const std::size_t steps = time.size(), rows = s.rows();
  const auto first = column_starts(steps);
  const std::size_t columns = first.size() - 1;
  Chart c;
  c.title = s.metrics()[m].long_name, c.units = s.metrics()[m].units, c.rows = rows;
  c.seconds = steps > 1 ? static_cast<double>(time.back() - time.front()) * 1e-9 : 0;
  for (std::size_t k = 0; k < columns; ++k)
    c.x.push_back(steps > 1 ? static_cast<double>(first[k]) / static_cast<double>(steps - 1) : 0);
  if (rows <= kMaxLines) {
    for (std::size_t r = 0; r < rows; ++r)
      c.lines.push_back({s.labels()[r], read_row(s, m, r, first, [](std::size_t, double) {}).means()});
    return c;
  }
  c.low.assign(columns, std::nan("")), c.high.assign(columns, std::nan(""));
  RowColumns all{std::vector<double>(columns, 0), std::vector<double>(columns, 0)};
  std::map<std::size_t, Line> kept;  // the rows drawn over the band, by row; labels closed below
  struct Extreme {
    std::size_t row = 0;
    double total = std::nan("");
    std::vector<double> y;
  } least, most;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto row = read_row(s, m, r, first, [&](std::size_t k, double v) {
      c.low[k] = std::fmin(c.low[k], v), c.high[k] = std::fmax(c.high[k], v);
    });
    for (std::size_t k = 0; k < columns; ++k) all.sum[k] += row.sum[k], all.count[k] += row.count[k];
    auto y = row.means();
    if (auto why = emphasised(r); !why.empty()) kept[r] = {s.labels()[r] + " (" + why, y};
    if (!(row.total >= least.total)) least = {r, row.total, y};  // NaN compares false: the first row is taken
    if (!(row.total <= most.total)) most = {r, row.total, std::move(y)};
  }
  c.lines.push_back({"mean of the " + std::to_string(rows), all.means()});
  for (auto [extreme, why] : {std::pair{&most, "most"}, {&least, "least"}}) {
    auto& line = kept[extreme->row];
    if (line.label.empty()) line = {s.labels()[extreme->row] + " (" + why, extreme->y};
    else line.label += std::string(", ") + why;
  }
  for (auto& [row, line] : kept) c.lines.push_back({line.label + ")", std::move(line.y)});
  return c;
}

// The chart as SVG: lines (rows beyond the palette share colours), over the
// band where there is one.
std::string svg_of(const Chart& c) {
  const double W = 720, H = 220, left = 60, right = 190, top = 24, bottom = 28;
  double lo = 0, hi = 0;
  for (const auto* values : {&c.low, &c.high})
    for (double v : *values)
      if (!std::isnan(v)) hi = std::max(hi, v), lo = std::min(lo, v);
  for (const auto& l : c.lines)
    for (double v : l.y)
      if (!std::isnan(v)) hi = std::max(hi, v), lo = std::min(lo, v);
  if (hi <= lo) hi = lo + 1;
  auto x = [&](std::size_t k) { return left + c.x[k] * (W - left - right); };
  auto y = [&](double v) { return top + (hi - v) / (hi - lo) * (H - top - bottom); };
  std::ostringstream svg;
  svg.precision(5);
  svg << "<figure><svg viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H
      << "' role='img' aria-label='" << escape(c.title) << "'>"
      << "<text x='" << left << "' y='16' class='title'>" << escape(c.title) << " [" << escape(c.units) << "]</text>"
      << "<line x1='" << left << "' y1='" << H - bottom << "' x2='" << W - right << "' y2='" << H - bottom
      << "' class='axis'/><line x1='" << left << "' y1='" << top << "' x2='" << left << "' y2='" << H - bottom
      << "' class='axis'/>"
      << "<text x='" << left - 4 << "' y='" << top + 4 << "' class='tick' text-anchor='end'>" << number(hi) << "</text>"
      << "<text x='" << left - 4 << "' y='" << H - bottom << "' class='tick' text-anchor='end'>" << number(lo) << "</text>"
      << "<text x='" << W - right << "' y='" << H - 8 << "' class='tick' text-anchor='end'>" << number(c.seconds)
      << " s</text><text x='" << left << "' y='" << H - 8 << "' class='tick'>0 s</text>";
  double legend_y = top + 12;
  auto legend = [&](const std::string& text, const char* colour, double thickness = 2) {
    svg << "<line x1='" << W - right + 8 << "' y1='" << legend_y - 4 << "' x2='" << W - right + 20 << "' y2='"
        << legend_y - 4 << "' stroke='" << colour << "' stroke-width='" << thickness << "'/><text x='"
        << W - right + 24 << "' y='" << legend_y << "' class='tick'>" << escape(text) << "</text>";
    legend_y += 14;
  };
  if (!c.low.empty()) {  // the band: along the highest values, back along the lowest
    svg << "<path fill='#c6dbef' stroke='none' d='";
    char pen = 'M';
    for (std::size_t k = 0; k < c.x.size(); ++k)
      if (!std::isnan(c.high[k])) svg << pen << x(k) << "," << y(c.high[k]) << " ", pen = 'L';
    for (std::size_t k = c.x.size(); k-- > 0;)
      if (!std::isnan(c.low[k])) svg << pen << x(k) << "," << y(c.low[k]) << " ", pen = 'L';
    svg << "Z'/>";
    legend("lowest to highest of " + std::to_string(c.rows), "#c6dbef", 8);
  }
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    // Over a band: the mean dark blue, the rows in colours that stand apart from it.
    const char* colour = c.low.empty() ? kPalette[i % std::size(kPalette)]
                         : i == 0      ? "#08306b"
                                       : kPalette[(i + 2) % std::size(kPalette)];
    svg << "<path fill='none' stroke='" << colour << "' stroke-width='1.5' d='";
    bool pen_down = false;
    for (std::size_t k = 0; k < c.x.size(); ++k) {
      if (std::isnan(c.lines[i].y[k])) {
        pen_down = false;
        continue;
      }
      svg << (pen_down ? "L" : "M") << x(k) << "," << y(c.lines[i].y[k]) << " ";
      pen_down = true;
    }
    svg << "'/>";
    if (i < kMaxLines) legend(c.lines[i].label, colour);
  }
  if (c.lines.size() > kMaxLines) legend("… " + std::to_string(c.lines.size() - kMaxLines) + " more", "none");
  svg << "</svg></figure>\n";
  return svg.str();
}

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" + escape(title) +
         "</title>\n<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "th{background:#f3f3f3}td:first-child{white-space:nowrap}td.l,th.l{text-align:left}tr.outlier{background:#fde8e8}"
         ".title{font-weight:600;font-size:13px}.tick{font-size:11px;fill:#555}.axis{stroke:#888}"
         "figure{margin:0.5em 0}.problem{color:#a00}</style></head><body>\n" +
         body + "<p style='color:#888'>jobperf " JOBPERF_VERSION "</p></body></html>\n";
}

std::string row(const std::vector<std::string>& cells, bool header = false, const char* cls = nullptr) {
  std::string out = cls ? std::string("<tr class='") + cls + "'>" : "<tr>";
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const char* tag = header ? "th" : "td";
    const bool numeric = !header && !cells[i].empty() && std::string("0123456789-+.–").find(cells[i][0]) != std::string::npos;
    out += std::string("<") + tag + (numeric ? "" : " class='l'") + ">" + cells[i] + "</" + tag + ">";
  }
  return out + "</tr>\n";
}

const std::vector<std::string> kRankCharts = {"cpu_utilization", "rss", "write_call_bandwidth", "read_call_bandwidth"};
const std::vector<std::string> kNodeCharts = {"cpu_busy", "mem_used", "net_rx_bandwidth", "disk_write_bandwidth"};
const std::vector<std::string> kGpuCharts = {"gpu_utilization", "gpu_memory_used", "gpu_power"};

std::string charts(const jobfile::SeriesReader& s, const std::vector<std::string>& wanted,
                   const std::function<std::string(std::size_t)>& emphasised) {
  std::string out;
  for (const auto& name : wanted)
    for (std::size_t m = 0; m < s.metrics().size(); ++m)
      if (s.metrics()[m].name == name) out += svg_of(chart_of(s, m, emphasised));
  return out;
}

const jobfile::TableColumn* column(const std::vector<jobfile::TableColumn>& table, const std::string& name) {
  for (const auto& c : table)
    if (c.name == name) return &c;
  return nullptr;
}

// How the nodes' clocks were aligned, and the worst error that leaves
// between any node and the reference: what a timeline across nodes is worth.
std::string clock_text(const std::string& job_file) {
  auto clock = jobfile::read_table(job_file, jobfile::JobTable::Clock);
  const auto* bound = column(clock, "bound_ns");
  const auto* node = column(clock, "node");
  if (!bound || !node) return "";
  std::int64_t worst = 0;
  std::string unbounded;
  for (std::size_t i = 0; i < bound->integers.size(); ++i) {
    if (bound->integers[i] < 0) unbounded += (unbounded.empty() ? "" : ", ") + node->text[i];
    worst = std::max(worst, bound->integers[i]);
  }
  const std::string nodes = std::to_string(node->text.size()) + " node(s), ";
  if (!unbounded.empty())
    return nodes + "no error bound for " + unbounded + " (a clock not synchronised, or its streams do not say)";
  return nodes + "worst error bound " +
         (worst >= 1'000'000 ? number(static_cast<double>(worst) * 1e-6) + " ms"
                             : number(static_cast<double>(worst) * 1e-3) + " µs");
}

// One cell of a table read from the job file: text as it is, times in
// seconds since the job's start, other numbers short ("–" where missing).
std::string table_cell(const jobfile::TableColumn* c, std::size_t i, std::int64_t job_start_ns) {
  if (!c) return "–";
  switch (c->kind) {
    case jobfile::TableColumn::Text: return escape(c->text[i]);
    case jobfile::TableColumn::Integer:
      if (!c->is_time()) return number(static_cast<double>(c->integers[i]));
      return c->integers[i] == jobfile::kMissingTime ? "–" : number(static_cast<double>(c->integers[i] - job_start_ns) * 1e-9);
    default: return number(c->reals[i]);
  }
}

// EPMT's view of a job, from the exit records (--preload): what each
// operation (JOBPERF_TAGS) cost, then the processes that used the most CPU,
// failed and killed ones marked, so a runaway or failing helper stands out.
std::string processes_html(const std::string& job_file, std::int64_t job_start_ns) {
  auto processes = jobfile::read_table(job_file, jobfile::JobTable::Processes);
  const auto* exe = column(processes, "exe");
  if (!exe || exe->text.empty()) return "";
  const std::size_t count = exe->text.size();
  std::ostringstream b;
  b << "<h2>Operations (by JOBPERF_TAGS)</h2><table>"
    << row({"tags", "processes", "duration [s]", "user [s]", "system [s]", "read [bytes]", "written [bytes]",
            "max RSS [bytes]"}, true);
  auto tags = jobfile::read_table(job_file, jobfile::JobTable::TagSums);
  if (const auto* tag = column(tags, "tags"))
    for (std::size_t i = 0; i < tag->text.size(); ++i) {
      std::vector<std::string> cells = {tag->text[i].empty() ? "(untagged)" : escape(tag->text[i])};
      for (const char* name : {"processes", "duration", "user_time", "system_time", "read_bytes", "write_bytes", "max_rss"})
        cells.push_back(table_cell(column(tags, name), i, job_start_ns));
      b << row(cells);
    }
  b << "</table>\n";

  const auto* user = column(processes, "user_time");
  const auto* system = column(processes, "system_time");
  const auto* kind = column(processes, "kind");
  const auto* exit_code = column(processes, "exit_code");
  const auto* signal = column(processes, "signal");
  auto cpu = [&](std::size_t i) { return (user ? user->reals[i] : 0) + (system ? system->reals[i] : 0); };
  auto killed = [&](std::size_t i) { return kind && kind->text[i] == "killed"; };
  auto failed = [&](std::size_t i) { return !killed(i) && exit_code && exit_code->integers[i] != 0; };
  std::vector<std::size_t> order(count);
  std::size_t failures = 0, kills = 0;
  for (std::size_t i = 0; i < count; ++i) order[i] = i, failures += failed(i), kills += killed(i);
  constexpr std::size_t kShown = 25;
  const std::size_t shown = std::min(count, kShown);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
                    [&](std::size_t a, std::size_t b) { return cpu(a) > cpu(b); });
  b << "<h2>Processes</h2><p>" << count << " process(es) recorded, " << failures << " exited with a non-zero code, "
    << kills << " killed by a signal" << (count > shown ? "; the " + std::to_string(shown) + " that used the most CPU:" : ":")
    << "</p><table>"
    << row({"host", "rank", "executable", "tags", "depth", "exit", "start [s]", "end [s]", "user [s]", "system [s]",
            "max RSS [bytes]", "read [bytes]", "written [bytes]"}, true);
  for (std::size_t k = 0; k < shown; ++k) {
    const std::size_t i = order[k];
    std::vector<std::string> cells;
    for (const char* name : {"host", "rank", "exe", "tags", "depth"})
      cells.push_back(table_cell(column(processes, name), i, job_start_ns));
    cells.push_back(killed(i) ? "signal " + table_cell(signal, i, job_start_ns) : table_cell(exit_code, i, job_start_ns));
    for (const char* name : {"start_time", "end_time", "user_time", "system_time", "maxrss", "rchar", "wchar"})
      cells.push_back(table_cell(column(processes, name), i, job_start_ns));
    b << row(cells, false, failed(i) || killed(i) ? "outlier" : nullptr);
  }
  b << "</table>\n";
  return b.str();
}

// The rows /outliers names: ranks by their label ("rank 3") and host,
// nodes (outliers and stalls) by host.
struct OutlierRows {
  std::set<std::pair<std::string, std::string>> ranks;
  std::set<std::string> nodes;
};
OutlierRows outlier_rows(const std::string& job_file) {
  auto outliers = jobfile::read_table(job_file, jobfile::JobTable::Outliers);
  const auto *kind = column(outliers, "kind"), *rank = column(outliers, "rank"), *host = column(outliers, "host");
  OutlierRows out;
  if (!kind || !rank || !host) return out;
  for (std::size_t i = 0; i < kind->text.size(); ++i) {
    if (kind->text[i] == "rank") out.ranks.insert({"rank " + std::to_string(rank->integers[i]), host->text[i]});
    if (kind->text[i] == "node" || kind->text[i] == "stall") out.nodes.insert(host->text[i]);
  }
  return out;
}

// The rows of the per-rank table: every rank of a job of up to kAllUpTo;
// of a larger one, the kEachEnd that used the most CPU, the kEachEnd that
// used the least, and the in-job outliers, in rank order.
constexpr std::size_t kAllUpTo = 64, kEachEnd = 10;
std::vector<std::size_t> ranks_to_show(const jobfile::RankSummary& summary,
                                       const std::function<bool(std::size_t)>& outlier) {
  const std::size_t count = summary.ranks.size();
  std::vector<std::size_t> all(count);
  std::iota(all.begin(), all.end(), 0);
  const auto cpu_metric = std::find_if(summary.metrics.begin(), summary.metrics.end(),
                                       [](const auto& m) { return m.name == "cpu_utilization"; });
  if (count <= kAllUpTo || cpu_metric == summary.metrics.end()) return all;
  const auto& cpu = summary.values[static_cast<std::size_t>(cpu_metric - summary.metrics.begin())];
  auto seconds = [&](std::size_t r) {
    const double v = cpu[r * jobfile::kStatCount + jobfile::kSum];
    return std::isnan(v) ? 0.0 : v;
  };
  std::stable_sort(all.begin(), all.end(), [&](std::size_t a, std::size_t b) { return seconds(a) > seconds(b); });
  std::vector<std::size_t> shown(all.begin(), all.begin() + kEachEnd);
  shown.insert(shown.end(), all.end() - kEachEnd, all.end());
  for (std::size_t r = 0; r < count; ++r)
    if (outlier(r)) shown.push_back(r);
  std::sort(shown.begin(), shown.end());
  shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
  return shown;
}

// Each rank's totals (outliers marked); the export has every rank of a large job.
std::string rank_table_html(const jobfile::RankSummary& summary, const OutlierRows& outlying) {
  std::vector<std::string> header = {"rank", "host"};
  std::vector<std::pair<std::size_t, jobfile::Stat>> columns;
  for (auto [name, stat, label] : {std::tuple{"cpu_utilization", jobfile::kSum, "CPU s"},
                                   {"cpu_utilization", jobfile::kMean, "mean cores"},
                                   {"rss", jobfile::kMax, "max RSS bytes"},
                                   {"write_call_bandwidth", jobfile::kSum, "bytes written"},
                                   {"read_call_bandwidth", jobfile::kSum, "bytes read"}})
    for (std::size_t m = 0; m < summary.metrics.size(); ++m)
      if (summary.metrics[m].name == name) {
        header.push_back(label);
        columns.emplace_back(m, stat);
      }
  auto is_outlier = [&](std::size_t r) {
    return outlying.ranks.count({"rank " + std::to_string(summary.ranks[r]), summary.hosts[r]}) > 0;
  };
  const auto shown = ranks_to_show(summary, is_outlier);
  std::string out = "<h2>Per rank</h2>";
  if (shown.size() < summary.ranks.size())
    out += "<p>" + std::to_string(shown.size()) + " of " + std::to_string(summary.ranks.size()) + " ranks: the " +
           std::to_string(kEachEnd) + " that used the most CPU, the " + std::to_string(kEachEnd) +
           " that used the least, and the in-job outliers (marked); <code>jobperf-export --csv</code> writes "
           "every rank's (ranks.csv).</p>";
  out += "<table>" + row(header, true);
  for (auto r : shown) {
    std::vector<std::string> cells = {std::to_string(summary.ranks[r]), escape(summary.hosts[r])};
    for (auto [m, stat] : columns) cells.push_back(number(summary.values[m][r * jobfile::kStatCount + stat]));
    out += row(cells, false, is_outlier(r) ? "outlier" : nullptr);
  }
  return out + "</table>\n";
}

// −1 is not an exit status: say why none was seen.
std::string exit_status_text(const jobfile::JobInfo& info) {
  if (info.exit_status >= 0) return std::to_string(info.exit_status);
  return info.collection_mode == "sidecar"
             ? "not seen (a sidecar is not the ranks' parent: exit records, jobperf-collect --env, give it)"
             : "not seen (some rank's end was not recorded)";
}

}  // namespace

std::string job_report_html(const std::string& path) {
  auto job = jobfile::read_job_summary(path);
  const jobfile::SeriesReader ranks(path, jobfile::Rows::Ranks), nodes(path, jobfile::Rows::Nodes),
      gpus(path, jobfile::Rows::Gpus);
  const auto outlying = outlier_rows(path);
  const auto& info = job.info;
  std::ostringstream b;
  b << "<h1>Job " << escape(info.job_id) << (info.job_name.empty() ? "" : " — " + escape(info.job_name)) << "</h1>\n<table>"
    << row({"command", escape(info.command)}) << row({"user", escape(info.user)})
    << row({"hosts", escape(std::to_string(info.hosts.size()) + ": " + [&] {
             constexpr std::size_t kListed = 32;
             std::string h;
             for (std::size_t i = 0; i < std::min(kListed, info.hosts.size()); ++i)
               h += (i ? ", " : "") + info.hosts[i];
             if (info.hosts.size() > kListed) h += " and " + std::to_string(info.hosts.size() - kListed) + " more";
             return h;
           }())})
    << row({"ranks", std::to_string(job.rank_count)})
    << row({"duration", number(static_cast<double>(info.end_ns - info.start_ns) * 1e-9) + " s"})
    << row({"exit status", exit_status_text(info)}) << row({"collection", escape(info.collection_mode)})
    << row({"status", escape(info.status)});
  if (job.clock_method == "single-host")
    b << row({"clocks", "one host, one clock: nothing to align"});
  else if (auto clocks = clock_text(path); !clocks.empty())
    b << row({"clocks", escape(job.clock_method + " (reference " + job.clock_reference + "): " + clocks)});
  b << "</table>\n";
  for (const auto& p : info.problems)
    if (!p.empty()) b << "<p class='problem'>" << escape(p) << "</p>\n";
  if (!job.in_job_outliers.empty()) {
    b << "<h2>In-job outliers</h2><ul>";
    constexpr std::size_t kListed = 50;
    const auto& found = job.in_job_outliers;
    for (std::size_t i = 0; i < std::min(kListed, found.size()); ++i) b << "<li>" << escape(found[i]) << "</li>";
    if (found.size() > kListed)
      b << "<li>… " << found.size() - kListed
        << " more: <code>jobperf-export --csv</code> writes them all (outliers.csv)</li>";
    b << "</ul>\n";
  }

  b << "<h2>Job totals</h2><table>" << row({"metric", "units", "min", "mean", "max", "total over the job"}, true);
  for (const auto& [name, stats] : job.job_stats) {
    // A level's integral over time (memory held, threads) says little: a rate's is its total.
    const auto& units = job.metrics[name].units;
    const auto total_units = jobfile::sum_units(units);
    b << row({escape(name), escape(units), number(stats[jobfile::kMin]), number(stats[jobfile::kMean]),
              number(stats[jobfile::kMax]),
              !jobfile::is_rate(units) ? "–" : number(stats[jobfile::kSum]) + (total_units == "1" ? "" : " " + escape(total_units))});
  }
  auto outlying_rank = [&](std::size_t r) {
    return outlying.ranks.count({ranks.labels()[r], ranks.hosts()[r]}) ? "in-job outlier" : "";
  };
  auto outlying_node = [&](std::size_t r) { return outlying.nodes.count(nodes.hosts()[r]) ? "in-job outlier" : ""; };
  b << "</table>\n<h2>Ranks over time</h2>\n" << charts(ranks, kRankCharts, outlying_rank);
  if (nodes.rows() > 0) b << "<h2>Nodes over time</h2>\n" << charts(nodes, kNodeCharts, outlying_node);
  if (gpus.rows() > 0) b << "<h2>GPUs over time</h2>\n" << charts(gpus, kGpuCharts, [](std::size_t) { return ""; });
  b << rank_table_html(jobfile::read_rank_summary(path), outlying);
  b << processes_html(path, info.start_ns);
  return page("jobperf: job " + info.job_id, b.str());
}

std::string campaign_report_html(const std::string& path) {
  auto c = jobfile::read_campaign(path);
  std::size_t outliers = 0;
  for (const auto& j : c.jobs) outliers += j.outlier;
  std::ostringstream b;
  b << "<h1>Campaign: " << c.jobs.size() << " jobs, " << outliers << " outlier(s)</h1>\n"
    << "<p>Classifiers: " << escape([&] {
         std::string s;
         for (const auto& k : c.classifiers) s += (s.empty() ? "" : ", ") + k;
         return s;
       }())
    << "; a feature is an outlier when two of three agree and it is more than " << number(100 * c.min_deviation)
    << " % from the group's median; groups of fewer than " << c.min_group_size
    << " jobs are not classified. Red bars: the features that make a job an outlier.</p>\n<table>";
  std::vector<std::string> header = {"job", "group", "outlier", "votes"};
  for (std::size_t f = 0; f < c.feature_names.size(); ++f)
    header.push_back(escape(c.feature_names[f]) + " [" + escape(c.feature_units[f]) + "]");
  header.push_back("why");
  b << row(header, true);
  for (const auto& j : c.jobs) {
    std::vector<std::string> cells = {escape(j.job_id), escape(j.group), !j.compared ? "n/a" : j.outlier ? "YES" : "no",
                                      std::to_string(j.votes)};
    for (double v : j.features) cells.push_back(number(v));
    std::string why;
    for (const auto& w : explain(c, j)) why += (why.empty() ? "" : "<br>") + escape(w);
    cells.push_back(why);
    b << row(cells, false, j.outlier ? "outlier" : nullptr);
  }
  b << "</table>\n";
  // One bar chart per feature, jobs in file order, outliers in red.
  for (std::size_t f = 0; f < c.feature_names.size(); ++f) {
    const double W = 720, H = 160, left = 60, top = 22, bottom = 20;
    double hi = 0;
    for (const auto& j : c.jobs) hi = std::max(hi, j.features[f]);
    if (hi <= 0) hi = 1;
    const double bar = (W - left - 10) / static_cast<double>(std::max<std::size_t>(c.jobs.size(), 1));
    b << "<figure><svg viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H << "'>"
      << "<text x='" << left << "' y='14' class='title'>" << escape(c.feature_names[f]) << " ["
      << escape(c.feature_units[f]) << "]</text><text x='" << left - 4 << "' y='" << top + 4
      << "' class='tick' text-anchor='end'>" << number(hi) << "</text>";
    for (std::size_t k = 0; k < c.jobs.size(); ++k) {
      double h = c.jobs[k].features[f] / hi * (H - top - bottom);
      b << "<rect x='" << left + static_cast<double>(k) * bar << "' y='" << H - bottom - h << "' width='"
        << std::max(bar - 2, 1.0) << "' height='" << h << "' fill='" << (feature_is_outlier(c.jobs[k], f) ? "#d62728" : "#1f77b4")
        << "'><title>" << escape(c.jobs[k].job_id) << ": " << number(c.jobs[k].features[f]) << "</title></rect>";
    }
    b << "</svg></figure>\n";
  }
  return page("jobperf: campaign", b.str());
}

}  // namespace jobperf::analyze
