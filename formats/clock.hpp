// The clocks every jobperf timestamp comes from: CLOCK_MONOTONIC for samples
// (never steps, one per node) and CLOCK_REALTIME in anchors (maps to UTC).
//
// $JOBPERF_CLOCK_SKEW="OFFSET_NS[,DRIFT_PPM[,UTC_ERROR_NS]]" makes this
// process read both clocks as a node whose clock runs OFFSET_NS ahead and
// gains DRIFT_PPM microseconds per second of uptime, and whose time daemon
// claims UTC_ERROR_NS as its error bound (-1: not synchronised; absent: the
// host's own claim). Together with $JOBPERF_HOSTNAME it lets one machine pose
// as several unsynchronised nodes (tests, demos); every process of one
// simulated node must be given the same value.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace jobperf::stream {

struct ClockSkew {
  std::int64_t offset_ns = 0;
  double drift_ppm = 0;
  std::optional<std::int64_t> utc_error_ns;  // the claim replacing the host's own, when set
  bool operator==(const ClockSkew&) const = default;
};

// Parses "OFFSET_NS[,DRIFT_PPM[,UTC_ERROR_NS]]"; throws std::invalid_argument naming the text.
ClockSkew parse_clock_skew(const std::string& text);
// From $JOBPERF_CLOCK_SKEW at first use; tests may replace it.
ClockSkew clock_skew();
void set_clock_skew(const ClockSkew& skew);

// CLOCK_MONOTONIC (skewed as above), ns.
std::int64_t monotonic_ns();
// A raw CLOCK_MONOTONIC value (from /proc times, say) on the skewed clock.
std::int64_t skewed_monotonic(std::int64_t raw_ns);
// A process start from /proc/PID/stat (ns since boot, CLOCK_BOOTTIME) on the skewed CLOCK_MONOTONIC.
std::int64_t monotonic_from_boot(std::int64_t boot_ns);

// CLOCK_MONOTONIC read before and after CLOCK_REALTIME, all in ns: maps the
// monotonic sample clock to UTC, and a series of them shows NTP steps.
struct ClockAnchor {
  std::int64_t mono_before = 0;
  std::int64_t realtime = 0;
  std::int64_t mono_after = 0;
  std::int64_t mono_mid() const { return mono_before + (mono_after - mono_before) / 2; }
  std::int64_t realtime_minus_mono() const { return realtime - mono_mid(); }
};
ClockAnchor read_clock_anchor();

// How far this node's CLOCK_REALTIME may be from UTC, by its time daemon's
// own account: the kernel's NTP maximum error (adjtimex), which chrony or
// ntpd set at each update and the kernel grows by 500 ppm in between. -1
// when the clock is not synchronised. In ns.
std::int64_t utc_error_bound_ns();

// UTC nanoseconds since 1970 as ISO 8601 with `decimals` digits of the
// second (0 to 9): "2026-11-22T10:00:00.123Z".
std::string iso_utc(std::int64_t utc_ns, int decimals = 3);

}  // namespace jobperf::stream
