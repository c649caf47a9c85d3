// Facts about the node, recorded once in the stream's metadata as hw.*:
// CPU vendor, model and microarchitecture, sockets, cores, threads, NUMA
// nodes, memory, kernel, GPU models.
#pragma once
#include <string>

#include "collect/metric_source.hpp"
#include "formats/raw_stream.hpp"

namespace jobperf::collect {

stream::Metadata node_facts(const SourceConfig& config);

// The microarchitecture share/events/cpu-models.txt names for this CPU, or "".
std::string microarchitecture(const std::string& vendor, int family, int model);

}  // namespace jobperf::collect
