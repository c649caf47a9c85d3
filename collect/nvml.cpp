#include "collect/nvml.hpp"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

namespace jobperf::collect::nvml {
namespace {

// The few NVML types and constants used (nvml.h, stable across versions).
using Return = int;
constexpr Return kSuccess = 0;
struct DeviceSt;
using Device = DeviceSt*;
struct Utilization {
  unsigned int gpu, memory;
};
struct Memory {
  unsigned long long total, free, used;
};
// v2 (drivers from R510) says how much the driver and firmware reserve. v1
// counts it as used: 480 MiB on an idle H100, where nvidia-smi shows 0. v2's
// `used` leaves it out on driver 580, though NVML's header says it includes
// it; total - free - reserved is what nvidia-smi shows under either reading.
struct MemoryV2 {
  unsigned int version;
  unsigned long long total, reserved, free, used;
};
constexpr unsigned int kMemoryV2Version = sizeof(MemoryV2) | 2u << 24;  // NVML_STRUCT_VERSION(Memory, 2)
struct ProcessInfoV1 {
  unsigned int pid;
  unsigned long long used_gpu_memory;
};
constexpr int kClockSm = 1, kClockMem = 2, kTemperatureGpu = 0, kPcieTx = 0, kPcieRx = 1;
constexpr int kEccCorrected = 0, kEccUncorrected = 1, kEccVolatile = 0;
constexpr unsigned long long kIdle = 0x1, kApplicationClocks = 0x2;

struct Api {
  Return (*init)();
  const char* (*error_string)(Return);
  Return (*count)(unsigned int*);
  Return (*handle)(unsigned int, Device*);
  Return (*name)(Device, char*, unsigned int);
  Return (*utilization)(Device, Utilization*);
  Return (*memory)(Device, Memory*);
  Return (*memory_v2)(Device, MemoryV2*);
  Return (*power)(Device, unsigned int*);
  Return (*energy)(Device, unsigned long long*);
  Return (*clock)(Device, int, unsigned int*);
  Return (*temperature)(Device, int, unsigned int*);
  Return (*pcie)(Device, int, unsigned int*);
  Return (*ecc)(Device, int, int, unsigned long long*);
  Return (*throttle)(Device, unsigned long long*);
  Return (*processes)(Device, unsigned int*, ProcessInfoV1*);
};

Api api{};
std::vector<Device> devices;
std::string failure;

template <typename Fn>
bool bind(void* lib, const char* symbol, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  return fn != nullptr;
}

std::string load() {
  const char* override_path = std::getenv("JOBPERF_NVML_LIBRARY");
  const char* path = override_path && *override_path ? override_path : "libnvidia-ml.so.1";
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::string(path) + " not found (no NVIDIA driver on this node)";
  bool ok = bind(lib, "nvmlInit_v2", api.init) && bind(lib, "nvmlErrorString", api.error_string) &&
            bind(lib, "nvmlDeviceGetCount_v2", api.count) && bind(lib, "nvmlDeviceGetHandleByIndex_v2", api.handle) &&
            bind(lib, "nvmlDeviceGetName", api.name) && bind(lib, "nvmlDeviceGetUtilizationRates", api.utilization) &&
            bind(lib, "nvmlDeviceGetMemoryInfo", api.memory) && bind(lib, "nvmlDeviceGetPowerUsage", api.power) &&
            bind(lib, "nvmlDeviceGetClockInfo", api.clock) && bind(lib, "nvmlDeviceGetTemperature", api.temperature);
  if (!ok) return std::string(path) + ": not a usable NVML (missing functions)";
  // Newer or optional functions: used when present.
  bind(lib, "nvmlDeviceGetMemoryInfo_v2", api.memory_v2);
  bind(lib, "nvmlDeviceGetTotalEnergyConsumption", api.energy);
  bind(lib, "nvmlDeviceGetPcieThroughput", api.pcie);
  bind(lib, "nvmlDeviceGetTotalEccErrors", api.ecc);
  bind(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", api.throttle);
  bind(lib, "nvmlDeviceGetComputeRunningProcesses", api.processes);
  if (Return rc = api.init(); rc != kSuccess) return std::string("nvmlInit failed: ") + api.error_string(rc);
  unsigned int n = 0;
  if (Return rc = api.count(&n); rc != kSuccess) return std::string("nvmlDeviceGetCount failed: ") + api.error_string(rc);
  for (unsigned int i = 0; i < n; ++i) {
    Device d = nullptr;
    if (api.handle(i, &d) == kSuccess) devices.push_back(d);
  }
  return devices.empty() ? "NVML sees no GPU" : "";
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// (used, total) in bytes, the driver's reserve not counted as used where NVML can tell it.
bool memory_of(Device d, double& used, double& total) {
  MemoryV2 m2{};
  m2.version = kMemoryV2Version;
  if (api.memory_v2 && api.memory_v2(d, &m2) == kSuccess) {
    const unsigned long long taken = m2.total - m2.free;
    used = static_cast<double>(taken >= m2.reserved ? taken - m2.reserved : 0);
    total = static_cast<double>(m2.total);
    return true;
  }
  Memory m{};
  if (api.memory(d, &m) != kSuccess) return false;
  used = static_cast<double>(m.used);
  total = static_cast<double>(m.total);
  return true;
}

}  // namespace

// Loaded once per library: again only when $JOBPERF_NVML_LIBRARY names
// another one (tests switch between the fake, none, and a node's real one).
// A library once loaded stays: the driver's has threads running.
std::string open() {
  static std::mutex mutex;
  static std::optional<std::string> loaded_for;
  std::lock_guard lock(mutex);
  const char* path = std::getenv("JOBPERF_NVML_LIBRARY");
  const std::string wanted = path ? path : "";
  if (loaded_for != wanted) {
    loaded_for = wanted;
    api = {};
    devices.clear();
    failure = load();
  }
  return failure;
}

std::vector<std::string> gpu_names() {
  std::vector<std::string> names;
  for (auto d : devices) {
    char name[96] = {};
    names.emplace_back(api.name(d, name, sizeof name) == kSuccess ? name : "unknown");
  }
  return names;
}

std::vector<GpuSample> sample_gpus() {
  std::vector<GpuSample> out;
  for (auto d : devices) {
    GpuSample g;
    Utilization u{};
    if (api.utilization(d, &u) == kSuccess) g.utilization = u.gpu, g.memory_utilization = u.memory;
    memory_of(d, g.memory_used, g.memory_total);
    unsigned int v = 0;
    if (api.power(d, &v) == kSuccess) g.power_w = v * 1e-3;  // mW
    unsigned long long mj = 0;
    g.energy_j = api.energy && api.energy(d, &mj) == kSuccess ? static_cast<double>(mj) * 1e-3 : kNaN;
    if (api.clock(d, kClockSm, &v) == kSuccess) g.sm_clock_mhz = v;
    if (api.clock(d, kClockMem, &v) == kSuccess) g.memory_clock_mhz = v;
    if (api.temperature(d, kTemperatureGpu, &v) == kSuccess) g.temperature_c = v;
    if (api.pcie && api.pcie(d, kPcieTx, &v) == kSuccess) g.pcie_tx = v * 1024.0;  // KB/s
    if (api.pcie && api.pcie(d, kPcieRx, &v) == kSuccess) g.pcie_rx = v * 1024.0;
    unsigned long long count = 0;
    if (api.ecc && api.ecc(d, kEccCorrected, kEccVolatile, &count) == kSuccess) g.ecc_corrected = static_cast<double>(count);
    if (api.ecc && api.ecc(d, kEccUncorrected, kEccVolatile, &count) == kSuccess) g.ecc_uncorrected = static_cast<double>(count);
    unsigned long long reasons = 0;
    if (api.throttle && api.throttle(d, &reasons) == kSuccess) g.throttled = (reasons & ~(kIdle | kApplicationClocks)) != 0;
    out.push_back(g);
  }
  return out;
}

std::vector<std::pair<std::uint32_t, std::uint64_t>> process_memory() {
  std::map<std::uint32_t, std::uint64_t> by_pid;
  if (!api.processes) return {};
  for (auto d : devices) {
    ProcessInfoV1 infos[256];
    unsigned int n = 256;
    if (api.processes(d, &n, infos) != kSuccess) continue;
    for (unsigned int i = 0; i < n; ++i) by_pid[infos[i].pid] += infos[i].used_gpu_memory;
  }
  return {by_pid.begin(), by_pid.end()};
}

}  // namespace jobperf::collect::nvml
