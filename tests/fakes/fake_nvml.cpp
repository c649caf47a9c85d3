// A stand-in libnvidia-ml for tests: two GPUs with fixed readings, so the
// NVML sources run their real dlopen path on machines without NVIDIA GPUs.
// GPU 0 has an energy counter that grows 250 J per read; GPU 1 has none and
// is power-capped. Processes: 4242 holds 1 GiB on GPU 0 and 512 MiB on GPU
// 1; 5000 holds 256 MiB on GPU 1. The driver reserves 512 MiB of each GPU:
// NVML's v1 memory info counts it as used, and v2 says how much, as driver
// 580 does on an H100. Like the driver's, nvmlInit starts a
// thread that lives until the process ends, with the caller's signal mask.
#include <unistd.h>

#include <cstring>
#include <thread>

namespace {
struct Gpu {
  const char* name;
  unsigned util, mem_util;
  unsigned long long total, used;
  unsigned power_mw;
  bool energy;
  unsigned sm, mem, temp, tx_kb, rx_kb;
  unsigned long long ecc_corrected, ecc_uncorrected, throttle;
};
constexpr unsigned long long GiB = 1ull << 30;
const Gpu kGpus[2] = {
    {"NVIDIA A100-SXM4-40GB", 80, 40, 40 * GiB, 10 * GiB, 250000, true, 1410, 1215, 60, 1000, 2000, 3, 0, 0x1},
    {"NVIDIA A100-SXM4-40GB", 20, 10, 40 * GiB, 2 * GiB, 100000, false, 1000, 1215, 70, 0, 0, 1, 2, 0x4},
};
unsigned long long energy_mj = 1'000'000;
int index_of(void* device) { return static_cast<int>(reinterpret_cast<long>(device)) - 1; }
}  // namespace

extern "C" {
struct Utilization { unsigned gpu, memory; };
struct Memory { unsigned long long total, free, used; };
struct ProcessInfo { unsigned pid; unsigned long long used; };

int nvmlInit_v2() {
  std::thread([] {
    for (;;) pause();
  }).detach();
  return 0;
}
const char* nvmlErrorString(int) { return "fake error"; }
int nvmlDeviceGetCount_v2(unsigned* n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** d) { *d = reinterpret_cast<void*>(static_cast<long>(i) + 1); return 0; }
int nvmlDeviceGetName(void* d, char* name, unsigned size) { std::strncpy(name, kGpus[index_of(d)].name, size); return 0; }
int nvmlDeviceGetUtilizationRates(void* d, Utilization* u) { *u = {kGpus[index_of(d)].util, kGpus[index_of(d)].mem_util}; return 0; }
constexpr unsigned long long kReserved = 512ull << 20;
int nvmlDeviceGetMemoryInfo(void* d, Memory* m) {
  const auto& g = kGpus[index_of(d)];
  *m = {g.total, g.total - g.used - kReserved, g.used + kReserved};
  return 0;
}
struct MemoryV2 { unsigned version; unsigned long long total, reserved, free, used; };
int nvmlDeviceGetMemoryInfo_v2(void* d, MemoryV2* m) {
  if (m->version != (sizeof(MemoryV2) | 2u << 24)) return 25;  // NVML_ERROR_ARGUMENT_VERSION_MISMATCH
  const auto& g = kGpus[index_of(d)];
  *m = {m->version, g.total, kReserved, g.total - g.used - kReserved, g.used};
  return 0;
}
int nvmlDeviceGetPowerUsage(void* d, unsigned* mw) { *mw = kGpus[index_of(d)].power_mw; return 0; }
int nvmlDeviceGetTotalEnergyConsumption(void* d, unsigned long long* mj) {
  if (!kGpus[index_of(d)].energy) return 3;  // NVML_ERROR_NOT_SUPPORTED
  *mj = (energy_mj += 250'000);
  return 0;
}
int nvmlDeviceGetClockInfo(void* d, int type, unsigned* mhz) { *mhz = type == 1 ? kGpus[index_of(d)].sm : kGpus[index_of(d)].mem; return 0; }
int nvmlDeviceGetTemperature(void* d, int, unsigned* c) { *c = kGpus[index_of(d)].temp; return 0; }
int nvmlDeviceGetPcieThroughput(void* d, int counter, unsigned* kb) { *kb = counter == 0 ? kGpus[index_of(d)].tx_kb : kGpus[index_of(d)].rx_kb; return 0; }
int nvmlDeviceGetTotalEccErrors(void* d, int type, int, unsigned long long* n) {
  *n = type == 0 ? kGpus[index_of(d)].ecc_corrected : kGpus[index_of(d)].ecc_uncorrected;
  return 0;
}
int nvmlDeviceGetCurrentClocksThrottleReasons(void* d, unsigned long long* r) { *r = kGpus[index_of(d)].throttle; return 0; }
int nvmlDeviceGetComputeRunningProcesses(void* d, unsigned* n, ProcessInfo* p) {
  if (index_of(d) == 0) {
    p[0] = {4242, GiB};
    *n = 1;
  } else {
    p[0] = {4242, GiB / 2};
    p[1] = {5000, GiB / 4};
    *n = 2;
  }
  return 0;
}
}
