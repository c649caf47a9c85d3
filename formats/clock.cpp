#include "formats/clock.hpp"

#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>

namespace jobperf::stream {
namespace {

std::int64_t raw_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Read on every timestamp: plain atomics, no lock.
std::atomic<std::int64_t> g_offset_ns{0};
std::atomic<double> g_drift_ppm{0};

bool load_from_environment() {
  const char* text = std::getenv("JOBPERF_CLOCK_SKEW");
  if (!text || !*text) return true;
  try {
    auto skew = parse_clock_skew(text);
    g_offset_ns.store(skew.offset_ns);
    g_drift_ppm.store(skew.drift_ppm);
  } catch (const std::invalid_argument&) {
    // A timestamp cannot fail; the collector validates the variable at start-up.
  }
  return true;
}

void ensure_loaded() { [[maybe_unused]] static const bool loaded = load_from_environment(); }

// The skew both clocks share at raw monotonic time `mono`, so that
// realtime - monotonic stays what the host's own clocks say.
std::int64_t skew_at(std::int64_t mono) {
  ensure_loaded();
  double drift = g_drift_ppm.load(std::memory_order_relaxed);
  return g_offset_ns.load(std::memory_order_relaxed) +
         (drift == 0 ? 0 : static_cast<std::int64_t>(drift * 1e-6 * static_cast<double>(mono)));
}

}  // namespace

ClockSkew parse_clock_skew(const std::string& text) {
  ClockSkew skew;
  char* end = nullptr;
  skew.offset_ns = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str()) throw std::invalid_argument("JOBPERF_CLOCK_SKEW=" + text + ": expected OFFSET_NS[,DRIFT_PPM]");
  if (*end == ',') {
    const char* drift = end + 1;
    skew.drift_ppm = std::strtod(drift, &end);
    if (end == drift) throw std::invalid_argument("JOBPERF_CLOCK_SKEW=" + text + ": expected OFFSET_NS[,DRIFT_PPM]");
  }
  if (*end != '\0') throw std::invalid_argument("JOBPERF_CLOCK_SKEW=" + text + ": expected OFFSET_NS[,DRIFT_PPM]");
  return skew;
}

ClockSkew clock_skew() {
  ensure_loaded();
  return {g_offset_ns.load(), g_drift_ppm.load()};
}

void set_clock_skew(const ClockSkew& skew) {
  ensure_loaded();
  g_offset_ns.store(skew.offset_ns);
  g_drift_ppm.store(skew.drift_ppm);
}

std::int64_t skewed_monotonic(std::int64_t raw) { return raw + skew_at(raw); }
std::int64_t monotonic_ns() { return skewed_monotonic(raw_ns(CLOCK_MONOTONIC)); }

std::int64_t monotonic_from_boot(std::int64_t boot_ns) {
  return skewed_monotonic(boot_ns - (raw_ns(CLOCK_BOOTTIME) - raw_ns(CLOCK_MONOTONIC)));
}

// A read preempted between the two monotonic reads would misplace REALTIME by
// up to half the preemption: keep the tightest of a few (about 100 ns each).
ClockAnchor read_clock_anchor() {
  std::int64_t before = 0, realtime = 0, after = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::int64_t b = raw_ns(CLOCK_MONOTONIC), r = raw_ns(CLOCK_REALTIME), a = raw_ns(CLOCK_MONOTONIC);
    if (attempt == 0 || a - b < after - before) before = b, realtime = r, after = a;
  }
  ClockAnchor anchor;
  anchor.mono_before = skewed_monotonic(before);
  anchor.realtime = realtime + skew_at(before + (after - before) / 2);
  anchor.mono_after = skewed_monotonic(after);
  return anchor;
}

std::string iso_utc(std::int64_t utc_ns, int decimals) {
  std::int64_t seconds = utc_ns / 1'000'000'000, fraction = utc_ns % 1'000'000'000;
  if (fraction < 0) --seconds, fraction += 1'000'000'000;  // before 1970: the fraction counts forwards
  const auto secs = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (decimals > 0) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(fraction));
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%.*s", decimals > 9 ? 9 : decimals, digits);
  }
  std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
  return buf;
}

}  // namespace jobperf::stream
