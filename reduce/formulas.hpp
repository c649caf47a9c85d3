// Derived metrics as data: share/metrics/<source>.metrics files list, one
// per line, `name | units | formula | long name`. A formula combines a
// source's fields on the job timeline: `rate(f)` is counter f per second,
// a bare field name is a gauge's value; + - * / ( ) and numbers.
#pragma once
#include <functional>
#include <memory>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/raw_stream.hpp"

namespace jobperf::reduce {

struct FormulaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Expression;  // parsed formula

struct DerivedMetric {
  std::string name;
  std::string units;
  std::string formula;
  std::string long_name;
  std::shared_ptr<const Expression> expression;
  // Fields the formula reads, with whether it wants their rate.
  std::vector<std::pair<std::string, bool>> inputs;
};

// Parses one formula; throws FormulaError saying where it is wrong.
DerivedMetric parse_metric(std::string name, std::string units, const std::string& formula, std::string long_name);
// Parses a whole .metrics file; errors name the file and line.
std::vector<DerivedMetric> parse_metrics_file(const std::string& path);
std::vector<DerivedMetric> parse_metrics_text(const std::string& name, std::string_view text);

// Supplies the per-bin series of an input: (field, wants_rate) -> values.
using InputLookup = std::function<const std::vector<double>*(const std::string& field, bool rate)>;
// Evaluates elementwise over `bins` values; a missing input gives NaN.
std::vector<double> evaluate(const DerivedMetric& metric, std::size_t bins, const InputLookup& input);
// The same into `out` (its size: the bins); inputs are at least that long.
void evaluate_into(const DerivedMetric& metric, const InputLookup& input, std::span<double> out);

// share/metrics/<source>.metrics if it exists, else "".
std::string find_metrics_file(const std::string& source_name);

// The derived metrics of a source: its share/metrics file; for perf sources
// ("perf", "perf.<arch>") the [metrics] of share/events/software.events and
// <arch>.events, for the uncore source those of uncore.events; for a source
// with neither, every field as is (counters as per-second rates). Metrics
// whose inputs the source lacks (hardware events unavailable on that
// machine) are left out.
std::vector<DerivedMetric> metrics_for_source(const stream::SourceSpec& spec);

}  // namespace jobperf::reduce
