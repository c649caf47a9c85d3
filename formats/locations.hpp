// Where things live. Streams: on node-local scratch, <scratch>/jobperf/<job
// id>/<host>.rank<N>.jps (wrapper) or <host>.node.jps (sidecar), shared by
// the collector that writes there and the reducer that reads there. Data
// (formulas, event sets, CPU models): the share/ directories.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobperf {

// $JOBPERF_HOSTNAME, the node name this machine poses as (one machine posing
// as several nodes), or empty.
std::string posed_host_name();
// posed_host_name(), else the short host name.
std::string host_name();
// $JOBPERF_SCRATCH, else $TMPDIR, else /tmp.
std::string default_scratch();
// Keeps [A-Za-z0-9._-] and replaces the rest, so ids become safe file names.
std::string safe_file_name(std::string_view text);
std::string stream_directory(const std::string& scratch, const std::string& job_id);
// Where batch systems put the job id (Slurm, PBS, OAR, LSF).
inline constexpr const char* kBatchJobIdVariables[] = {"SLURM_JOB_ID", "PBS_JOBID", "OAR_JOB_ID", "LSB_JOBID"};

// The batch system's job id (Slurm, PBS, OAR, LSF), and the variable it came
// from; both empty outside a batch job.
std::pair<std::string, std::string> batch_job_id();

// The directories searched for share/ data: $JOBPERF_SHARE, then the
// installed and source share/ directories compiled in.
std::vector<std::string> share_directories();
// The first readable share/<relative> file, or "".
std::string find_share_file(const std::string& relative);

}  // namespace jobperf
