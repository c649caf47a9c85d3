#include "reduce/process_table.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "formats/byte_codec.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

using stream::ExitKind;

jobfile::ProcessRow row_of(const stream::ProcessExit& x, const std::string& host, const ClockMap& clock) {
  jobfile::ProcessRow p;
  p.host = host;
  p.kind = x.kind == ExitKind::Killed ? "killed" : "exited";
  p.exe = x.exe;
  p.args = x.args;
  p.tags = x.tags;
  p.pid = x.pid;
  p.ppid = x.ppid;
  p.rank = x.rank;
  p.exec_generation = x.exec_generation;
  p.exit_code = x.exit_code;
  p.signal = x.signal;
  // A process killed by a signal is recorded by its parent, which does not know its start: NaT.
  p.start_ns = x.start_ns != 0 ? clock.to_utc(x.start_ns) : jobfile::kMissingTime;
  p.end_ns = clock.to_utc(x.end_ns);
  p.user_s = static_cast<double>(x.user_ns) * 1e-9;
  p.system_s = static_cast<double>(x.system_ns) * 1e-9;
  p.run_s = static_cast<double>(x.run_ns) * 1e-9;
  p.wait_s = static_cast<double>(x.wait_ns) * 1e-9;
  p.perf_task_clock_s = static_cast<double>(x.perf_task_clock_ns) * 1e-9;
  p.maxrss_bytes = static_cast<std::int64_t>(x.maxrss_kb) * 1024;
  auto i = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  p.minflt = i(x.minflt), p.majflt = i(x.majflt), p.inblock = i(x.inblock), p.oublock = i(x.oublock);
  p.voluntary_switches = i(x.voluntary_ctxt), p.involuntary_switches = i(x.involuntary_ctxt);
  p.rchar = i(x.rchar), p.wchar = i(x.wchar), p.syscr = i(x.syscr), p.syscw = i(x.syscw);
  p.read_bytes = i(x.read_bytes), p.write_bytes = i(x.write_bytes), p.cancelled_write_bytes = i(x.cancelled_write_bytes);
  p.timeslices = i(x.timeslices), p.perf_instructions = i(x.perf_instructions), p.perf_cycles = i(x.perf_cycles);
  return p;
}

// A start time may read up to a clock tick late (share/schema.md), and older
// collectors' up to a tick early: a child may seem to start before its parent.
constexpr std::int64_t kStartResolution_ns = 20'000'000;

// Rows by pid: a job's records may hold hundreds of thousands of processes.
using RowsByPid = std::unordered_map<std::int64_t, std::vector<std::size_t>>;

// The row of process `pid` alive at `when` (pids are reused: the latest to start before it).
std::int64_t find_process(const std::vector<jobfile::ProcessRow>& rows, const RowsByPid& by_pid, std::int64_t pid,
                          std::int64_t when) {
  auto it = by_pid.find(pid);
  if (it == by_pid.end()) return -1;
  std::int64_t best = -1;
  for (auto j : it->second)
    if (rows[j].start_ns <= when + kStartResolution_ns && when <= rows[j].end_ns &&
        (best < 0 || rows[j].start_ns > rows[static_cast<std::size_t>(best)].start_ns))
      best = static_cast<std::int64_t>(j);
  return best;
}

void transfer(auto& io, MessageOf<jobfile::TagSum> auto& t) {
  io(t.tags, t.processes, t.read_bytes, t.write_bytes, t.max_rss_bytes, t.duration_s, t.user_s, t.system_s);
}

void merge_into(std::map<std::string, jobfile::TagSum>& sums, const jobfile::TagSum& t) {
  auto& s = sums[t.tags];
  s.tags = t.tags;
  s.processes += t.processes;
  s.read_bytes += t.read_bytes;
  s.write_bytes += t.write_bytes;
  s.max_rss_bytes = std::max(s.max_rss_bytes, t.max_rss_bytes);
  s.duration_s += t.duration_s;
  s.user_s += t.user_s;
  s.system_s += t.system_s;
}

}  // namespace

std::vector<jobfile::ProcessRow> process_rows(const stream::DecodedStream& s, const ClockMap& clock) {
  std::vector<jobfile::ProcessRow> rows;
  for (const auto& x : s.process_exits)
    if (x.kind != ExitKind::ThreadExit) rows.push_back(row_of(x, s.header.host, clock));
  RowsByPid by_pid;
  for (std::size_t i = 0; i < rows.size(); ++i) by_pid[rows[i].pid].push_back(i);
  for (const auto& x : s.process_exits) {
    if (x.kind != ExitKind::ThreadExit) continue;
    auto owner = find_process(rows, by_pid, x.pid, clock.to_utc(x.end_ns));
    if (owner < 0) continue;
    auto& p = rows[static_cast<std::size_t>(owner)];
    p.threads += 1;
    p.thread_user_s += static_cast<double>(x.user_ns) * 1e-9;
    p.thread_system_s += static_cast<double>(x.system_ns) * 1e-9;
  }
  for (auto& p : rows)
    p.parent = find_process(rows, by_pid, p.ppid, p.start_ns != jobfile::kMissingTime ? p.start_ns : p.end_ns);
  for (auto& p : rows) {  // depth: parents may come later in the records (they end later)
    std::int64_t depth = 0;
    for (auto at = p.parent; at >= 0 && depth <= static_cast<std::int64_t>(rows.size()); at = rows[static_cast<std::size_t>(at)].parent)
      ++depth;
    p.depth = depth;
  }
  return rows;
}

std::map<std::int32_t, std::int64_t> rank_exit_statuses(const std::vector<jobfile::ProcessRow>& rows) {
  std::map<std::int32_t, std::int64_t> out;
  for (const auto& p : rows) {
    if (p.rank < 0 || (p.parent >= 0 && rows[static_cast<std::size_t>(p.parent)].rank == p.rank)) continue;
    const std::int64_t status = p.kind == "killed" ? 128 + p.signal : p.exit_code;
    if (auto [it, added] = out.emplace(p.rank, status); !added && it->second == 0) it->second = status;
  }
  return out;
}

std::vector<jobfile::TagSum> tag_sums(const std::vector<jobfile::ProcessRow>& rows, MPI_Comm comm) {
  std::map<std::string, jobfile::TagSum> mine;
  for (const auto& p : rows) {
    const double duration = p.start_ns != jobfile::kMissingTime ? static_cast<double>(p.end_ns - p.start_ns) * 1e-9 : 0;
    jobfile::TagSum t{p.tags, 1, p.rchar, p.wchar, p.maxrss_bytes, duration, p.user_s, p.system_s};
    merge_into(mine, t);
  }
  std::vector<jobfile::TagSum> sums;
  for (auto& [tags, t] : mine) sums.push_back(std::move(t));
  std::vector<char> bytes;
  Encoder e(bytes);
  e.each(sums, [&](auto& t) { transfer(e, t); });
  std::map<std::string, jobfile::TagSum> all;
  for (const auto& blob : gather_to_root(bytes, comm)) {  // empty but on rank 0
    std::vector<jobfile::TagSum> theirs;
    Decoder d(blob.data(), blob.size());
    d.each(theirs, [&](auto& t) { transfer(d, t); });
    for (const auto& t : theirs) merge_into(all, t);
  }
  std::vector<jobfile::TagSum> out;
  for (auto& [tags, t] : all) out.push_back(std::move(t));
  return out;
}

}  // namespace jobperf::reduce
