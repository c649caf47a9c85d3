#include "formats/scratch.hpp"

#include <cctype>
#include <cstdlib>

namespace jobperf {

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
  for (auto name : {"SLURM_JOB_ID", "PBS_JOBID", "OAR_JOB_ID", "LSB_JOBID"})
    if (const char* v = std::getenv(name); v && *v) return {v, name};
  return {};
}

}  // namespace jobperf
