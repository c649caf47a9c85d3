#include "collect/batch_env.hpp"

#include "collect/procfs.hpp"
#include "formats/clock.hpp"
#include "formats/locations.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>

namespace jobperf::collect {
namespace {

std::optional<std::string_view> lookup(const char* const* env, std::string_view name) {
  for (; env && *env; ++env) {
    std::string_view entry(*env);
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return entry.substr(name.size() + 1);
  }
  return std::nullopt;
}

constexpr const char* kLocalRankVariables[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};

std::int32_t first_integer(const char* const* env, std::span<const char* const> names) {
  for (auto name : names) {
    auto value = lookup(env, name);
    std::int32_t v = -1;
    if (value && std::from_chars(value->data(), value->data() + value->size(), v).ec == std::errc() && v >= 0)
      return v;
  }
  return -1;
}

}  // namespace

BatchContext batch_context(const char* const* env) {
  BatchContext c;
  for (auto name : kBatchJobIdVariables) {
    if (auto v = lookup(env, name)) {
      c.job_id = *v;
      c.job_id_variable = name;
      break;
    }
  }
  for (auto name : {"SLURM_JOB_NAME", "PBS_JOBNAME", "OAR_JOB_NAME", "LSB_JOBNAME"}) {
    if (auto v = lookup(env, name)) {
      c.job_name = *v;
      break;
    }
  }
  c.rank = first_integer(env, kRankVariables);
  c.local_rank = first_integer(env, kLocalRankVariables);
  return c;
}

bool is_secret_variable(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
  for (auto word : {"TOKEN", "PASSWORD", "SECRET", "KEY", "CREDENTIAL"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

stream::Metadata environment_metadata(const char* const* env) {
  stream::Metadata m;
  for (; env && *env; ++env) {
    std::string_view entry(*env);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || is_secret_variable(entry.substr(0, eq))) continue;
    m.emplace_back("env." + std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return m;
}

std::string generated_job_id(const std::string& host) {
  if (const char* ns = std::getenv("PMIX_NAMESPACE"); ns && *ns) return "mpi-" + safe_file_name(ns);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "local-" + host + "-" + stamp + "-" + std::to_string(getpid());
}

namespace {

void find_dirs(const std::string& dir, int depth, const std::function<bool(const std::string&)>& wanted,
               std::vector<std::string>& out) {
  if (depth < 0) return;
  for (const auto& name : list_directory(dir)) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (wanted(name)) {
      out.push_back(path);
      continue;  // its steps are inside it
    }
    find_dirs(path, depth - 1, wanted, out);
  }
}

std::string run_with_timeout(const std::string& command) {
  std::string out;
  if (FILE* pipe = popen(("timeout 5 " + command + " 2>/dev/null").c_str(), "r")) {
    char buffer[4096];
    for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
    pclose(pipe);
  }
  return out;
}

bool on_path(const char* program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (std::size_t start = 0, colon; start <= dirs.size(); start = colon + 1) {
    colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    if (access((dirs.substr(start, colon - start) + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Unique host names of a node file (one line per slot), comma-separated.
std::string hosts_of_node_file(const char* path) {
  std::string text, out;
  if (!path || !read_file(path, text)) return "";
  std::istringstream in(text);
  std::set<std::string> seen;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && seen.insert(line).second) out += (out.empty() ? "" : ",") + line;
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_key_equals_value_words(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_key_equals_value_lines(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    auto key = line.substr(line.find_first_not_of(" \t"), eq - line.find_first_not_of(" \t"));
    out.emplace_back(key, line.substr(eq + 3));
  }
  return out;
}

std::vector<std::string> job_cgroups(const std::string& sys_root, const BatchContext& batch) {
  std::vector<std::string> out;
  if (batch.job_id.empty()) return out;
  const std::string root = sys_root + "/fs/cgroup";
  const std::string id = batch.job_id;
  if (batch.job_id_variable == "SLURM_JOB_ID")
    find_dirs(root, 6, [&](const std::string& name) { return name == "job_" + id; }, out);
  else if (batch.job_id_variable == "OAR_JOB_ID")
    find_dirs(root, 6, [&](const std::string& name) { return name.size() > id.size() && name.ends_with("_" + id); }, out);
  else if (batch.job_id_variable == "PBS_JOBID")
    find_dirs(root, 6, [&](const std::string& name) { return name == id; }, out);
  return out;
}

std::string scheduler_time_utc(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos)
    return stream::iso_utc(std::stoll(text) * 1'000'000'000, 0);
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (!end || *end != '\0') continue;
    tm.tm_isdst = -1;  // schedulers print local time: let the zone rules say whether DST applies
    const std::time_t t = std::mktime(&tm);
    if (t != static_cast<std::time_t>(-1)) return stream::iso_utc(std::int64_t{t} * 1'000'000'000, 0);
  }
  return "";
}

// Submit and start times, in the scheduler's words and as UTC ISO 8601.
void add_scheduler_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                          const std::map<std::string, std::string>& wanted, stream::Metadata& m) {
  for (const auto& [key, value] : fields) {
    auto it = wanted.find(key);
    if (it == wanted.end()) continue;
    m.emplace_back("batch.scheduler." + key, value);
    if (it->second.empty()) continue;
    if (auto utc = scheduler_time_utc(value); !utc.empty()) m.emplace_back("batch." + it->second, utc);
  }
}

stream::Metadata batch_metadata(const char* const* env, const BatchContext& batch) {
  stream::Metadata m;
  auto value = [&](std::string_view name) { return std::string(lookup(env, name).value_or("")); };
  const std::string& var = batch.job_id_variable;
  const std::string system = var == "SLURM_JOB_ID" ? "slurm" : var == "PBS_JOBID" ? "pbs"
                           : var == "OAR_JOB_ID"   ? "oar"   : var == "LSB_JOBID" ? "lsf" : "none";
  m.emplace_back("batch.system", system);
  std::vector<gid_t> gids(static_cast<std::size_t>(std::max(getgroups(0, nullptr), 0)));
  gids.resize(static_cast<std::size_t>(std::max(getgroups(static_cast<int>(gids.size()), gids.data()), 0)));
  std::string groups;
  for (auto gid : gids)
    if (auto* g = getgrgid(gid)) groups += (groups.empty() ? "" : ",") + std::string(g->gr_name);
  m.emplace_back("batch.groups", groups);
  if (system == "slurm") {
    m.emplace_back("batch.nodes", value("SLURM_JOB_NODELIST"));
    m.emplace_back("batch.queue", value("SLURM_JOB_PARTITION"));
    m.emplace_back("batch.submit_dir", value("SLURM_SUBMIT_DIR"));
    if (on_path("scontrol"))
      add_scheduler_fields(parse_key_equals_value_words(run_with_timeout("scontrol show job -o " + batch.job_id)),
                           {{"SubmitTime", "submit_time"}, {"StartTime", "start_time"}, {"Command", ""},
                            {"NodeList", ""}, {"Account", ""}}, m);
  } else if (system == "pbs") {
    m.emplace_back("batch.nodes", hosts_of_node_file(std::getenv("PBS_NODEFILE")));
    m.emplace_back("batch.queue", value("PBS_QUEUE"));
    m.emplace_back("batch.submit_dir", value("PBS_O_WORKDIR"));
    if (on_path("qstat"))
      add_scheduler_fields(parse_key_equals_value_lines(run_with_timeout("qstat -f " + batch.job_id)),
                           {{"qtime", "submit_time"}, {"stime", "start_time"}, {"exec_host", ""},
                            {"Account_Name", ""}, {"submit_arguments", ""}}, m);
  } else if (system == "oar") {
    m.emplace_back("batch.nodes", hosts_of_node_file(std::getenv("OAR_NODEFILE")));
    m.emplace_back("batch.queue", value("OAR_JOB_QUEUE"));
    m.emplace_back("batch.submit_dir", value("OAR_WORKDIR"));
    if (on_path("oarstat"))
      add_scheduler_fields(parse_key_equals_value_lines(run_with_timeout("oarstat -f -j " + batch.job_id)),
                           {{"submissionTime", "submit_time"}, {"startTime", "start_time"}, {"command", ""},
                            {"assigned_hostnames", ""}, {"project", ""}}, m);
  }
  return m;
}

std::string user_name() {
  if (auto* pw = getpwuid(getuid())) return pw->pw_name;
  return std::to_string(getuid());
}

}  // namespace jobperf::collect
