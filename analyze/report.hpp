// jobperf-report: one self-contained HTML page (inline SVG, no scripts, no
// network) for a job file or a campaign file.
#pragma once
#include <string>

namespace jobperf::analyze {

std::string job_report_html(const std::string& job_file);
std::string campaign_report_html(const std::string& campaign_file);

}  // namespace jobperf::analyze
