// The command line the jobperf tools that read files share: their options,
// then the input files as positional arguments; --help and --version; a
// usage error names the tool, points to --help, and exits with status 2.
// (jobperf-collect's, which takes a command after "--", is its own.)
#pragma once
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

namespace jobperf {

class CommandLine {
 public:
  static constexpr int kUsageError = 2;
  static constexpr int kGoOn = -1;

  // `usage`: the first lines of --help, before the options.
  CommandLine(std::string tool, std::string usage) : tool_(std::move(tool)), usage_(std::move(usage)) {}

  boost::program_options::options_description_easy_init options() { return visible_.add_options(); }

  // The inputs: at most `count` positional arguments (-1: any number).
  void inputs(const boost::program_options::value_semantic* where, int count) {
    hidden_.add_options()("input", where);
    positional_.add("input", count);
  }

  // kGoOn, or the status to exit with now: 0 after --help or --version,
  // kUsageError after a usage error. Only a `speaking` process prints (rank
  // 0 of an MPI tool), but every one returns the same.
  int parse(int argc, char** argv, bool speaking = true) {
    options()("help,h", "print this help")("version", "print the version");
    boost::program_options::options_description all;
    all.add(visible_).add(hidden_);
    try {
      boost::program_options::store(
          boost::program_options::command_line_parser(argc, argv).options(all).positional(positional_).run(), given_);
      boost::program_options::notify(given_);
    } catch (const boost::program_options::error& e) {
      return usage_error(e.what(), speaking);
    }
    if (given_.count("help")) {
      if (speaking) std::cout << usage_ << "\n" << visible_;
      return 0;
    }
    if (given_.count("version")) {
      if (speaking) std::printf("%s %s\n", tool_.c_str(), JOBPERF_VERSION);
      return 0;
    }
    return kGoOn;
  }

  // Prints `why` (when speaking) and returns kUsageError.
  int usage_error(const std::string& why, bool speaking = true) const {
    if (speaking) std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", tool_.c_str(), why.c_str(), tool_.c_str());
    return kUsageError;
  }

  bool given(const char* option) const { return given_.count(option) > 0; }

 private:
  std::string tool_, usage_;
  boost::program_options::options_description visible_{"Options"}, hidden_;
  boost::program_options::positional_options_description positional_;
  boost::program_options::variables_map given_;
};

}  // namespace jobperf
