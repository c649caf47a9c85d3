#include "formats/locations.hpp"

#include <cctype>
#include <cstdlib>

#include <unistd.h>

namespace jobperf {

std::string posed_host_name() {
  const char* posed = std::getenv("JOBPERF_HOSTNAME");
  return posed ? posed : "";
}

std::string host_name() {
  if (auto posed = posed_host_name(); !posed.empty()) return posed;
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string name(buf);
  return name.substr(0, name.find('.'));
}

std::string default_scratch() {
  for (auto name : {"JOBPERF_SCRATCH", "TMPDIR"})
    if (const char* v = std::getenv(name); v && *v) return v;
  return "/tmp";
}

std::string safe_file_name(std::string_view text) {
  std::string out(text);
  for (auto& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-') ch = '_';
  return out.empty() ? "_" : out;
}

std::string stream_directory(const std::string& scratch, const std::string& job_id) {
  return scratch + "/jobperf/" + safe_file_name(job_id);
}

std::pair<std::string, std::string> batch_job_id() {
  for (auto name : kBatchJobIdVariables)
    if (const char* v = std::getenv(name); v && *v) return {v, name};
  return {};
}

std::vector<std::string> share_directories() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("JOBPERF_SHARE"); env && *env) dirs.emplace_back(env);
  std::string compiled = JOBPERF_SHARE_DIRS;
  for (std::size_t start = 0, colon; start <= compiled.size(); start = colon + 1) {
    colon = compiled.find(':', start);
    if (colon == std::string::npos) colon = compiled.size();
    dirs.push_back(compiled.substr(start, colon - start));
  }
  return dirs;
}

std::string find_share_file(const std::string& relative) {
  for (const auto& dir : share_directories()) {
    std::string path = dir + "/" + relative;
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return "";
}

}  // namespace jobperf
