// What the batch system and MPI launcher tell a process through its
// environment: job id and name, MPI rank, rank on the node.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/raw_stream.hpp"

namespace jobperf::collect {

// Where launchers put a process's MPI rank, in order of preference.
inline constexpr const char* kRankVariables[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};

struct BatchContext {
  std::string job_id;          // empty when no batch system or launcher names one
  std::string job_id_variable; // where job_id came from, e.g. SLURM_JOB_ID
  std::string job_name;
  std::int32_t rank = -1;
  std::int32_t local_rank = -1;
};

BatchContext batch_context(const char* const* environ_entries);

// Secrets never reach a stream: names containing TOKEN, PASSWORD, SECRET,
// KEY or CREDENTIAL (any case) are dropped.
bool is_secret_variable(std::string_view name);
stream::Metadata environment_metadata(const char* const* environ_entries);

// An id all ranks of an un-batched mpirun agree on (from the PMIx
// namespace), else one unique to this run.
std::string generated_job_id(const std::string& host);
std::string user_name();

// Cgroups the batch system made for this job, if the node has them: Slurm's
// job_<id> (cgroup v1 and v2 layouts), OAR's <user>_<id> cpuset, PBS's <id>.
// A sidecar watches every process in them (and their descendants).
std::vector<std::string> job_cgroups(const std::string& sys_root, const BatchContext& batch);

// What the batch system knows about the job, as batch.* metadata: system,
// groups, queue, submit directory, node list (Slurm's list, PBS_NODEFILE,
// OAR_NODEFILE), and from the scheduler itself (scontrol, qstat -f, oarstat
// -f, when installed and answering within 5 s) submit/start times, script,
// node list. Submit and start times are given as the scheduler prints them
// (batch.scheduler.*) and in UTC (batch.submit_time, batch.start_time); the
// collector adds batch.end_time, when the job's processes ended on its node.
stream::Metadata batch_metadata(const char* const* environ_entries, const BatchContext& batch);

// A scheduler's time stamp (Slurm "2026-11-22T10:00:00", OAR "2026-11-22
// 10:00:00", PBS "Sun Nov 22 10:00:00 2026": the node's local time; or
// seconds since 1970) as UTC ISO 8601, "" if it is none of these.
std::string scheduler_time_utc(const std::string& text);

// Parsers of the schedulers' own output, for batch_metadata and the tests:
// `scontrol show job -o ID` (Key=Value words), `qstat -f ID` and `oarstat -f
// -j ID` (key = value lines).
std::vector<std::pair<std::string, std::string>> parse_key_equals_value_words(const std::string& text);
std::vector<std::pair<std::string, std::string>> parse_key_equals_value_lines(const std::string& text);

}  // namespace jobperf::collect
