// jobperf-export: a job file as CSV files (--csv DIR) or JSON (--json [FILE]).
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "formats/export.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string input, csv_dir, json_file;
  po::options_description visible("Options");
  visible.add_options()
      ("csv", po::value(&csv_dir), "write CSV files into this directory")
      ("json", po::value(&json_file)->implicit_value("-"), "write one JSON document to this file (default: standard output)")
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
      std::cout << "Usage: jobperf-export JOB.h5 --csv DIR | --json [FILE]\n\n" << visible;
      return 0;
    }
    if (vm.count("version")) {
      std::printf("jobperf-export %s\n", JOBPERF_VERSION);
      return 0;
    }
    if (input.empty()) throw po::error("give a job file");
    if (csv_dir.empty() == json_file.empty()) throw po::error("give one of --csv DIR or --json [FILE]");
  } catch (const po::error& e) {
    std::fprintf(stderr, "jobperf-export: %s\nTry 'jobperf-export --help'.\n", e.what());
    return 2;
  }
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
