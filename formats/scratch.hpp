// Where streams live on node-local scratch: <scratch>/jobperf/<job id>/
// <host>.rank<N>.jps (wrapper) or <host>.node.jps (sidecar). Shared by the
// collector that writes there and the reducer that reads there.
#pragma once
#include <string>
#include <string_view>

namespace jobperf {

// $JOBPERF_SCRATCH, else $TMPDIR, else /tmp.
std::string default_scratch();
// Keeps [A-Za-z0-9._-] and replaces the rest, so ids become safe file names.
std::string safe_file_name(std::string_view text);
std::string stream_directory(const std::string& scratch, const std::string& job_id);
// The batch system's job id (Slurm, PBS, OAR, LSF), and the variable it came
// from; both empty outside a batch job.
std::pair<std::string, std::string> batch_job_id();

}  // namespace jobperf
