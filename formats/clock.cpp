#include "formats/clock.hpp"

#include <sys/timex.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
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
constexpr std::int64_t kHostsOwn = std::numeric_limits<std::int64_t>::min();  // no simulated UTC error
std::atomic<std::int64_t> g_utc_error_ns{kHostsOwn};

void store(const ClockSkew& skew) {
  g_offset_ns.store(skew.offset_ns);
  g_drift_ppm.store(skew.drift_ppm);
  g_utc_error_ns.store(skew.utc_error_ns.value_or(kHostsOwn));
}

bool load_from_environment() {
  const char* text = std::getenv("JOBPERF_CLOCK_SKEW");
  if (!text || !*text) return true;
  try {
    store(parse_clock_skew(text));
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
  auto bad = [&] {
    return std::invalid_argument("JOBPERF_CLOCK_SKEW=" + text + ": expected OFFSET_NS[,DRIFT_PPM[,UTC_ERROR_NS]]");
  };
  ClockSkew skew;
  char* end = nullptr;
  skew.offset_ns = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str()) throw bad();
  if (*end == ',') {
    const char* drift = end + 1;
    skew.drift_ppm = std::strtod(drift, &end);
    if (end == drift) throw bad();
  }
  if (*end == ',') {
    const char* error = end + 1;
    skew.utc_error_ns = std::strtoll(error, &end, 10);
    if (end == error || *skew.utc_error_ns < -1) throw bad();
  }
  if (*end != '\0') throw bad();
  return skew;
}

ClockSkew clock_skew() {
  ensure_loaded();
  ClockSkew skew{g_offset_ns.load(), g_drift_ppm.load(), {}};
  if (auto e = g_utc_error_ns.load(); e != kHostsOwn) skew.utc_error_ns = e;
  return skew;
}

void set_clock_skew(const ClockSkew& skew) {
  ensure_loaded();
  store(skew);
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

std::int64_t utc_error_bound_ns() {
  ensure_loaded();
  if (auto simulated = g_utc_error_ns.load(); simulated != kHostsOwn) return simulated;
  timex t{};
  const int state = adjtimex(&t);
  if (state < 0 || state == TIME_ERROR || (t.status & STA_UNSYNC)) return -1;
  return std::int64_t{t.maxerror} * 1000;  // us
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
