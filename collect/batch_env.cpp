#include "collect/batch_env.hpp"

#include "formats/locations.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <optional>

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

std::int32_t first_integer(const char* const* env, std::initializer_list<std::string_view> names) {
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
  for (auto name : {"SLURM_JOB_ID", "PBS_JOBID", "OAR_JOB_ID", "LSB_JOBID"}) {  // as batch_job_id()
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
  c.rank = first_integer(env, {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"});
  c.local_rank = first_integer(env, {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"});
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

std::string host_name() {
  if (const char* forced = std::getenv("JOBPERF_HOSTNAME"); forced && *forced) return forced;
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string name(buf);
  return name.substr(0, name.find('.'));
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

std::string user_name() {
  if (auto* pw = getpwuid(getuid())) return pw->pw_name;
  return std::to_string(getuid());
}

}  // namespace jobperf::collect
