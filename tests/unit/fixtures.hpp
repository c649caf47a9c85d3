// What the source tests share: where the fixture trees are, and a
// configuration pointing the sources at them.
#pragma once
#include <string>

#include "collect/metric_source.hpp"

namespace jobperf::test {

inline const std::string kProc = std::string(JOBPERF_FIXTURES) + "/proc";
inline const std::string kSys = std::string(JOBPERF_FIXTURES) + "/sys";

inline collect::SourceConfig fixture_config(const std::string& proc, const std::string& sys) {
  collect::SourceConfig c;
  c.proc_root = proc;
  c.sys_root = sys;
  return c;
}

}  // namespace jobperf::test
