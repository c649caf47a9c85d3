// jobperf-report: draws a job file or a campaign file as one HTML page.
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "analyze/report.hpp"
#include "formats/job_file.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string input, output;
  bool force = false;
  po::options_description visible("Options");
  visible.add_options()
      ("output,o", po::value(&output), "HTML file to write (default: the input with .html)")
      ("force", po::bool_switch(&force), "replace an existing HTML file")
      ("help,h", "print this help")
      ("version", "print the version");
  po::options_description all;
  all.add(visible).add_options()("input", po::value(&input));
  po::positional_options_description positional;
  positional.add("input", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "Usage: jobperf-report JOB.h5|CAMPAIGN.h5 [-o OUT.html]\n\n" << visible;
      return 0;
    }
    if (vm.count("version")) {
      std::printf("jobperf-report %s\n", JOBPERF_VERSION);
      return 0;
    }
    if (input.empty()) throw po::error("give a job file or a campaign file");
  } catch (const po::error& e) {
    std::fprintf(stderr, "jobperf-report: %s\nTry 'jobperf-report --help'.\n", e.what());
    return 2;
  }
  if (output.empty()) output = std::filesystem::path(input).replace_extension(".html").string();
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
