#include "collect/process_tracker.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "collect/batch_env.hpp"
#include "collect/procfs.hpp"
#include "formats/clock.hpp"

namespace jobperf::collect {
namespace {

std::vector<std::uint32_t> list_pids(const std::string& root) {
  std::vector<std::uint32_t> pids;
  DIR* dir = opendir(root.c_str());
  if (!dir) return pids;
  while (auto* entry = readdir(dir)) {
    std::uint32_t pid = 0;
    const char* name = entry->d_name;
    auto [end, ec] = std::from_chars(name, name + std::char_traits<char>::length(name), pid);
    if (ec == std::errc() && *end == '\0' && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

// Value of NAME in a NUL-separated environment block.
std::optional<std::string_view> environment_value(std::string_view block, std::string_view name) {
  std::size_t start = 0;
  while (start < block.size()) {
    auto end = block.find('\0', start);
    if (end == std::string_view::npos) end = block.size();
    auto entry = block.substr(start, end - start);
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return entry.substr(name.size() + 1);
    start = end + 1;
  }
  return std::nullopt;
}

std::string read_command(const std::string& root, std::uint32_t pid) {
  std::string cmdline;
  if (!read_file(root + "/" + std::to_string(pid) + "/cmdline", cmdline)) return {};
  while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline;
}

// By the kernel's command name (15 characters at most).
bool is_jobperf_tool(std::string_view command) {
  return command == "jobperf-collect" || command == "jobperf-reduce";
}

}  // namespace

std::optional<std::int32_t> rank_from_environment(std::string_view block) {
  for (auto name : kRankVariables) {
    auto value = environment_value(block, name);
    if (!value) continue;
    std::int32_t rank = -1;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), rank);
    if (ec == std::errc() && rank >= 0) return rank;
  }
  return std::nullopt;
}

ProcessTracker::ProcessTracker(std::string proc_root, Selection selection)
    : root_(std::move(proc_root)), selection_(std::move(selection)) {
  // /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN (on in the
  // distributions' kernels); thread-self/children says whether it is there.
  walk_children_ = selection_.env_name.empty() && selection_.cgroups.empty() &&
                   access((root_ + "/thread-self/children").c_str(), R_OK) == 0;
}

// The pids that may be (or become) members this tick.
std::vector<std::uint32_t> ProcessTracker::live_candidates() {
  return walk_children_ ? walk_descendants() : list_pids(root_);
}

// The roots, the members and all their descendants that exist now. Members
// are walked from directly, so one reparented away (its parent ended) is
// still followed.
std::vector<std::uint32_t> ProcessTracker::walk_descendants() {
  std::vector<std::uint32_t> pending(selection_.roots.begin(), selection_.roots.end()), found;
  for (const auto& [pid, member] : members_) pending.push_back(pid);
  std::unordered_set<std::uint32_t> visited;
  while (!pending.empty()) {
    const auto pid = pending.back();
    pending.pop_back();
    if (visited.insert(pid).second && read_children(pid, pending)) found.push_back(pid);
  }
  std::erase_if(walk_files_, [&](const auto& kv) { return !visited.count(kv.first); });
  return found;
}

// Appends the children of every thread of `pid`; false if it has gone.
bool ProcessTracker::read_children(std::uint32_t pid, std::vector<std::uint32_t>& out) {
  const std::string task_dir = root_ + "/" + std::to_string(pid) + "/task/";
  auto [it, added] = walk_files_.try_emplace(pid);
  auto& files = it->second;
  if (added) files.task_dir = KeptOpenFile(task_dir);
  std::vector<std::uint32_t> threads;
  if (!scan_directory(files.task_dir.fd(), [&](std::string_view tid) { threads.push_back(static_cast<std::uint32_t>(to_u64(tid))); }) ||
      threads.empty()) {
    walk_files_.erase(it);
    return false;
  }
  std::erase_if(files.children, [&](const auto& kv) { return std::find(threads.begin(), threads.end(), kv.first) == threads.end(); });
  for (auto tid : threads) {  // a child belongs to the thread that forked it
    auto [child_file, fresh] = files.children.try_emplace(tid);
    if (fresh) child_file->second = KeptOpenFile(task_dir + std::to_string(tid) + "/children");
    Tokens t(child_file->second.read(buffer_));
    for (auto child = t.next(); !child.empty(); child = t.next()) out.push_back(static_cast<std::uint32_t>(to_u64(child)));
  }
  return true;
}

bool ProcessTracker::read_stat(std::uint32_t pid, Known& out, std::string& command) const {
  std::string text;
  ProcStat stat;
  if (!read_file(root_ + "/" + std::to_string(pid) + "/stat", text) || !parse_proc_stat(text, stat)) return false;
  command = stat.comm;
  out.ppid = static_cast<std::uint32_t>(stat.field[4]);
  out.start_ticks = stat.field[22];
  return true;
}

ProcessTracker::EnvironmentFacts ProcessTracker::read_environment(std::uint32_t pid) const {
  EnvironmentFacts facts;
  std::string block;
  if (!read_file(root_ + "/" + std::to_string(pid) + "/environ", block)) return facts;
  facts.rank = rank_from_environment(block);
  if (!selection_.env_name.empty()) {
    auto value = environment_value(block, selection_.env_name);
    facts.of_the_job = value && *value == selection_.env_value;
  }
  if (auto node = environment_value(block, "JOBPERF_HOSTNAME"); node && !node->empty()) facts.node = std::string(*node);
  return facts;
}

// Every pid listed in cgroup.procs (v2, v1) or tasks (v1 cpusets) of the
// cgroups and their children.
std::unordered_set<std::uint32_t> ProcessTracker::cgroup_members() const {
  std::unordered_set<std::uint32_t> pids;
  std::vector<std::string> dirs = selection_.cgroups;
  while (!dirs.empty()) {
    auto dir = dirs.back();
    dirs.pop_back();
    std::string text;
    if (read_file(dir + "/cgroup.procs", text) || read_file(dir + "/tasks", text)) {
      Tokens t(text);
      for (auto pid = t.next(); !pid.empty(); pid = t.next()) pids.insert(static_cast<std::uint32_t>(to_u64(pid)));
    }
    for (const auto& name : list_directory(dir))
      if (name.find('.') == std::string::npos) dirs.push_back(dir + "/" + name);  // sub-cgroups, not files
  }
  return pids;
}

ProcessTracker::Changes ProcessTracker::scan() {
  Changes changes;
  const auto pids = live_candidates();
  drop_ended(pids, changes);
  auto fresh = classify_new(pids);
  take_in_descendants(fresh);
  start_members(fresh, changes);
  rebuild_watched();
  return changes;
}

// Members no longer among `pids` have ended; what is known of the others is forgotten.
void ProcessTracker::drop_ended(const std::vector<std::uint32_t>& pids, Changes& changes) {
  const std::unordered_set<std::uint32_t> present(pids.begin(), pids.end());
  for (auto it = members_.begin(); it != members_.end();) {
    if (!present.count(it->first)) {
      changes.ended.push_back(it->first);
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(known_, [&](const auto& kv) { return !present.count(kv.first); });
}

// The processes not seen before: each the job's (a root, of the job by its
// environment or cgroup), never the job's, or undecided until its parent is known.
std::vector<ProcessTracker::Candidate> ProcessTracker::classify_new(const std::vector<std::uint32_t>& pids) {
  const auto in_cgroups = selection_.cgroups.empty() ? std::unordered_set<std::uint32_t>{} : cgroup_members();
  std::vector<Candidate> fresh;
  for (auto pid : pids) {
    if (known_.count(pid)) continue;
    Known k;
    Candidate c{pid, {}, std::nullopt, false};
    if (!read_stat(pid, k, c.command)) continue;  // gone already
    bool is_root = std::find(selection_.roots.begin(), selection_.roots.end(), static_cast<pid_t>(pid)) !=
                   selection_.roots.end();
    const auto env = read_environment(pid);
    c.rank = env.rank;
    const auto& posing = selection_.posing_as;
    // jobperf's own tools are the job's by environment, not its work: a sidecar
    // watching the `jobperf-collect --stop` step's task took it for a rank.
    c.never = selection_.excluded.count(static_cast<pid_t>(pid)) > 0 || is_jobperf_tool(c.command) ||
              (!posing.empty() && env.node && *env.node != posing);
    const bool here = posing.empty() || env.node == posing;  // naming no node (a task prolog), none of them
    k.member = !c.never && (is_root || (here && (env.of_the_job || in_cgroups.count(pid))));
    known_[pid] = k;
    fresh.push_back(std::move(c));
  }
  return fresh;
}

// Descendants: a new process whose parent is watched is watched too. Repeat
// until stable, since parent and child may both be new in this scan.
void ProcessTracker::take_in_descendants(const std::vector<Candidate>& fresh) {
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& c : fresh) {
      auto& k = known_[c.pid];
      if (k.member || c.never) continue;
      auto parent = known_.find(k.ppid);
      if (parent != known_.end() && parent->second.member) grew = k.member = true;
    }
  }
}

// The new members, described and followed from now on.
void ProcessTracker::start_members(std::vector<Candidate>& fresh, Changes& changes) {
  // Parents start before their children: in start order, a child without a
  // rank of its own finds its parent's rank already known.
  std::sort(fresh.begin(), fresh.end(), [&](const Candidate& a, const Candidate& b) {
    return std::pair(known_[a.pid].start_ticks, a.pid) < std::pair(known_[b.pid].start_ticks, b.pid);
  });
  const double ns_per_tick = 1e9 / static_cast<double>(clock_ticks_per_second());
  for (auto& c : fresh) {
    const auto& k = known_[c.pid];
    if (!k.member) continue;
    TrackedProcess p;
    p.pid = c.pid;
    p.ppid = k.ppid;
    p.start_ticks = k.start_ticks;
    p.start_ns = stream::monotonic_from_boot(static_cast<std::int64_t>(static_cast<double>(k.start_ticks) * ns_per_tick));
    auto parent = members_.find(k.ppid);
    p.rank = c.rank.value_or(parent != members_.end() ? parent->second.rank : -1);
    p.covered_by_root = parent != members_.end() && (parent->second.adopted || parent->second.covered_by_root);
    auto full = read_command(root_, c.pid);
    p.command = full.empty() ? c.command : full;
    members_[p.pid] = p;
    changes.started.push_back(p);
    ++ever_watched_;
  }
}

void ProcessTracker::adopt(const TrackedProcess& process) {
  Known k;
  k.ppid = process.ppid;
  k.start_ticks = process.start_ticks;
  k.member = true;
  known_[process.pid] = k;
  members_[process.pid] = process;
  members_[process.pid].adopted = true;
  ++ever_watched_;
  rebuild_watched();
}

void ProcessTracker::forget(std::uint32_t pid) {
  members_.erase(pid);
  auto it = known_.find(pid);
  if (it != known_.end()) it->second.member = false;
  rebuild_watched();
}

const TrackedProcess* ProcessTracker::find(std::uint32_t pid) const {
  auto it = members_.find(pid);
  return it == members_.end() ? nullptr : &it->second;
}

void ProcessTracker::rebuild_watched() {
  watched_.clear();
  for (const auto& [pid, p] : members_) watched_.push_back({pid, p.start_ticks, p.adopted, p.covered_by_root});
  std::sort(watched_.begin(), watched_.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
}

}  // namespace jobperf::collect
