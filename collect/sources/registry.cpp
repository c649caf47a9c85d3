#include "collect/sources/sources.hpp"

namespace jobperf::collect {

std::vector<SourceFactory> process_source_factories() {
  return {make_process_procfs_source, make_thread_procfs_source, make_perf_events_source, make_nvidia_process_source};
}
std::vector<SourceFactory> node_source_factories() {
  return {make_node_procfs_source, make_rapl_source, make_uncore_source, make_infiniband_source, make_lustre_source, make_nvidia_gpu_source};
}

}  // namespace jobperf::collect
