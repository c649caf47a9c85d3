// jobperf-export: a job file as CSV files (--csv DIR) or JSON (--json [FILE]).
#include <cstdio>
#include <fstream>
#include <iostream>

#include "formats/command_line.hpp"
#include "formats/export.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string input, csv_dir, json_file;
  jobperf::CommandLine cli("jobperf-export", "Usage: jobperf-export JOB.h5 --csv DIR | --json [FILE]\n");
  cli.options()
      ("csv", po::value(&csv_dir), "write CSV files into this directory")
      ("json", po::value(&json_file)->implicit_value("-"), "write one JSON document to this file (default: standard output)");
  cli.inputs(po::value(&input), 1);
  if (int stop = cli.parse(argc, argv); stop != cli.kGoOn) return stop;
  if (input.empty()) return cli.usage_error("give a job file");
  if (csv_dir.empty() == json_file.empty()) return cli.usage_error("give one of --csv DIR or --json [FILE]");
  try {
    if (!csv_dir.empty()) {
      for (const auto& f : jobperf::exporter::export_csv(input, csv_dir)) std::printf("jobperf-export: wrote %s\n", f.c_str());
    } else if (json_file == "-") {
      jobperf::exporter::export_json(input, std::cout);
    } else {
      std::ofstream out(json_file);
      if (!out) throw std::runtime_error(json_file + ": cannot write");
      jobperf::exporter::export_json(input, out);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobperf-export: %s\n", e.what());
    return 1;
  }
  return 0;
}
