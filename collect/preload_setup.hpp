// Turning libjobperf-preload.so on: for a wrapped command (--preload), or for
// a job script (`eval $(jobperf-collect --env)`).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace jobperf::collect {

// The installed library, or the build tree's; "" if neither is there.
std::string preload_library();

// Variables to set: LD_PRELOAD (prepended to any existing value), and where
// and for which job the records go.
std::vector<std::pair<std::string, std::string>> preload_environment(const std::string& library,
                                                                     const std::string& stream_dir,
                                                                     const std::string& job_id,
                                                                     const std::string& host);

// Shell code that sets them, for bash/sh/zsh or csh/tcsh.
std::string shell_exports(const std::vector<std::pair<std::string, std::string>>& variables, const std::string& shell);

}  // namespace jobperf::collect
