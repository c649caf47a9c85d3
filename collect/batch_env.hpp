// What the batch system and MPI launcher tell a process through its
// environment: job id and name, MPI rank, rank on the node.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "formats/raw_stream.hpp"

namespace jobperf::collect {

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

// $JOBPERF_HOSTNAME (lets one machine pose as several nodes), else the short host name.
std::string host_name();
// An id all ranks of an un-batched mpirun agree on (from the PMIx
// namespace), else one unique to this run.
std::string generated_job_id(const std::string& host);
std::string user_name();

}  // namespace jobperf::collect
