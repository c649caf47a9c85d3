// jobperf-report: draws a job file or a campaign file as one HTML page.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "analyze/report.hpp"
#include "formats/command_line.hpp"
#include "formats/job_file.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string input, output;
  bool force = false;
  jobperf::CommandLine cli("jobperf-report", "Usage: jobperf-report JOB.h5|CAMPAIGN.h5 [-o OUT.html]\n");
  cli.options()
      ("output,o", po::value(&output), "HTML file to write (default: the input with .html)")
      ("force", po::bool_switch(&force), "replace an existing HTML file");
  cli.inputs(po::value(&input), 1);
  if (int stop = cli.parse(argc, argv); stop != cli.kGoOn) return stop;
  if (input.empty()) return cli.usage_error("give a job file or a campaign file");
  if (output.empty()) output = std::filesystem::path(input).replace_extension(".html").string();
  if (std::filesystem::is_directory(output)) {
    std::fprintf(stderr, "jobperf-report: %s: is a directory (-o names the HTML file to write)\n", output.c_str());
    return 1;
  }
  if (!force && std::filesystem::exists(output)) {
    std::fprintf(stderr, "jobperf-report: %s: already exists (use --force to replace it)\n", output.c_str());
    return 1;
  }
  try {
    std::string html = jobperf::jobfile::is_campaign_file(input) ? jobperf::analyze::campaign_report_html(input)
                                                                 : jobperf::analyze::job_report_html(input);
    std::ofstream out(output);
    out << html;
    if (!out) throw std::runtime_error(output + ": cannot write");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobperf-report: %s\n", e.what());
    return 1;
  }
  std::printf("jobperf-report: wrote %s\n", output.c_str());
  return 0;
}
