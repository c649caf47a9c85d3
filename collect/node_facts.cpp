#include "collect/node_facts.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "collect/nvml.hpp"
#include "collect/procfs.hpp"
#include "formats/locations.hpp"

namespace jobperf::collect {
namespace {

// "key\t: value" lines of /proc/cpuinfo, first processor only.
std::string cpuinfo_value(const std::string& cpuinfo, const std::string& key) {
  std::istringstream in(cpuinfo);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) break;  // end of the first processor
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto name = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    if (name == key) return line.substr(line.find_first_not_of(" \t", colon + 1) == std::string::npos
                                            ? line.size()
                                            : line.find_first_not_of(" \t", colon + 1));
  }
  return "";
}

std::size_t count_prefixed(const std::vector<std::string>& names, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& name : names)
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() && std::isdigit(static_cast<unsigned char>(name[prefix.size()]))) ++n;
  return n;
}

// GPU models, one per GPU: NVML's names on a live node where the driver
// answers, else the driver's procfs entries (which need no NVML, and are
// what fixture trees hold).
std::string gpu_models(const SourceConfig& config) {
  std::vector<std::string> models;
  if (config.proc_root == "/proc" && nvml::open().empty()) {
    models = nvml::gpu_names();
  } else {
    const std::string dir = config.proc_root + "/driver/nvidia/gpus";
    for (const auto& bus : list_directory(dir)) {
      std::string info;
      if (!read_file(dir + "/" + bus + "/information", info)) continue;
      if (auto model = cpuinfo_value(info, "Model"); !model.empty()) models.push_back(model);
    }
  }
  std::string joined;
  for (const auto& model : models) joined += (joined.empty() ? "" : ", ") + model;
  return joined;
}

}  // namespace

std::string microarchitecture(const std::string& vendor, int family, int model) {
  std::ifstream in(find_share_file("events/cpu-models.txt"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line.substr(0, line.find('#')));
    std::string v, name;
    int f = -1, m = -1;
    if (fields >> v >> f >> m >> name && v == vendor && f == family && m == model) return name;
  }
  return "";
}

stream::Metadata node_facts(const SourceConfig& config) {
  const std::string& proc = config.proc_root;
  const std::string cpu_dir = config.sys_root + "/devices/system/cpu";
  stream::Metadata facts;
  std::string cpuinfo;
  read_file(proc + "/cpuinfo", cpuinfo);
  const auto vendor = cpuinfo_value(cpuinfo, "vendor_id");
  const int family = std::atoi(cpuinfo_value(cpuinfo, "cpu family").c_str());
  const int model = std::atoi(cpuinfo_value(cpuinfo, "model").c_str());
  facts.emplace_back("hw.cpu_vendor", vendor);
  facts.emplace_back("hw.cpu_model", cpuinfo_value(cpuinfo, "model name"));
  facts.emplace_back("hw.cpu_family_model", std::to_string(family) + "/" + std::to_string(model));
  auto arch = microarchitecture(vendor, family, model);
  facts.emplace_back("hw.microarchitecture", arch.empty() ? "unknown" : arch);

  std::set<std::string> sockets, cores;
  std::size_t threads = 0;
  for (const auto& cpu : list_directory(cpu_dir)) {
    if (count_prefixed({cpu}, "cpu") != 1) continue;
    ++threads;
    auto package = read_line(cpu_dir + "/" + cpu + "/topology/physical_package_id");
    sockets.insert(package);
    cores.insert(package + "/" + read_line(cpu_dir + "/" + cpu + "/topology/core_id"));
  }
  facts.emplace_back("hw.sockets", std::to_string(sockets.size()));
  facts.emplace_back("hw.cores", std::to_string(cores.size()));
  facts.emplace_back("hw.threads", std::to_string(threads));
  facts.emplace_back("hw.numa_nodes",
                     std::to_string(count_prefixed(list_directory(config.sys_root + "/devices/system/node"), "node")));
  std::string meminfo;
  std::uint64_t mem_kb = 0;
  std::size_t hint = 0;
  if (read_file(proc + "/meminfo", meminfo)) keyed_value(meminfo, "MemTotal", mem_kb, hint);
  facts.emplace_back("hw.memory_bytes", std::to_string(mem_kb * 1024));
  facts.emplace_back("hw.kernel", read_line(proc + "/sys/kernel/osrelease"));
  facts.emplace_back("hw.gpus", gpu_models(config));
  return facts;
}

}  // namespace jobperf::collect
