// Factories of the built-in metric sources, one per file in this folder.
#pragma once
#include <memory>
#include <vector>

#include "collect/metric_source.hpp"

namespace jobperf::collect {

std::unique_ptr<MetricSource> make_process_procfs_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_node_procfs_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_thread_procfs_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_perf_events_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_nvidia_gpu_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_nvidia_process_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_rapl_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_uncore_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_infiniband_source(const SourceConfig& config);
std::unique_ptr<MetricSource> make_lustre_source(const SourceConfig& config);

// Every source the collector runs, by scope: adding a source adds one line in registry.cpp.
std::vector<SourceFactory> process_source_factories();
std::vector<SourceFactory> node_source_factories();

}  // namespace jobperf::collect
