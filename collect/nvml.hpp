// NVML, loaded with dlopen at run time: the collector runs on nodes without
// NVIDIA drivers, and links nothing of NVIDIA's. $JOBPERF_NVML_LIBRARY
// overrides the library (tests use a fake one).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace jobperf::collect::nvml {

// Empty if NVML is loaded and initialised, else why not (once, then remembered).
std::string open();

struct GpuSample {
  double utilization = 0, memory_utilization = 0;  // percent
  double memory_used = 0, memory_total = 0;        // bytes
  double power_w = 0;
  double energy_j = 0;        // NaN where the GPU cannot tell
  double sm_clock_mhz = 0, memory_clock_mhz = 0;
  double temperature_c = 0;
  double pcie_tx = 0, pcie_rx = 0;                 // bytes/s
  double ecc_corrected = 0, ecc_uncorrected = 0;   // volatile counts
  bool throttled = false;                          // any reason but idle and application clocks
};

std::vector<std::string> gpu_names();
std::vector<GpuSample> sample_gpus();
// GPU memory of each process using a GPU, summed over GPUs: (pid, bytes).
std::vector<std::pair<std::uint32_t, std::uint64_t>> process_memory();

}  // namespace jobperf::collect::nvml
