#include "collect/preload_setup.hpp"

#include <unistd.h>

#include <cstdlib>

namespace jobperf::collect {

std::string preload_library() {
  std::string paths = JOBPERF_PRELOAD_PATHS;
  for (std::size_t start = 0, colon; start <= paths.size(); start = colon + 1) {
    colon = paths.find(':', start);
    if (colon == std::string::npos) colon = paths.size();
    auto path = paths.substr(start, colon - start);
    if (!path.empty() && access(path.c_str(), R_OK) == 0) return path;
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> preload_environment(const std::string& library,
                                                                     const std::string& stream_dir,
                                                                     const std::string& job_id,
                                                                     const std::string& host) {
  std::string preload = library;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing && *existing) preload += ":" + std::string(existing);
  return {{"LD_PRELOAD", preload},
          {"JOBPERF_PRELOAD_DIR", stream_dir},
          {"JOBPERF_JOB_ID", job_id},
          {"JOBPERF_HOSTNAME", host}};
}

namespace {
std::string single_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::string shell_exports(const std::vector<std::pair<std::string, std::string>>& variables, const std::string& shell) {
  const bool csh = shell == "csh" || shell == "tcsh";
  std::string out;
  for (const auto& [name, value] : variables) {
    if (name == "JOBPERF_HOSTNAME") continue;  // each node names itself
    out += (csh ? "setenv " + name + " " : "export " + name + "=") + single_quoted(value) + ";\n";
  }
  return out;
}

}  // namespace jobperf::collect
