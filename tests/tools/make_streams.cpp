// jobperf-test-make-streams: writes synthetic raw streams whose reduced
// values are known exactly, for the MPI integration tests and benchmarks.
// Rank r (of N, on host node<r % hosts>, or with --block 1 node<r / (N / hosts)>:
// consecutive ranks on a host, as Slurm places them) uses (r+1)/10 of a core, writes
// 1 MiB/s and holds (r+1) MiB resident; each host's local rank 0 also
// carries node samples (1 GB/s received on the network).
// For in-job outliers: --imbalance R makes every rank use 1 core but rank R
// 0.3; --stall H:FROM:TO idles the ranks of host node<H> for samples [FROM, TO).
// --gpus G: each host's local rank 0 also records G GPUs, GPU g busy
// 10·(g+1) % and drawing 100+g W, and the node's GPU totals (NVML's layout);
// --idle-gpu H:I makes every GPU 60 % busy but GPU I of host node<H>, idle.
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "collect/sources/sources.hpp"
#include "formats/raw_stream.hpp"

using namespace jobperf;

int main(int argc, char** argv) {
  std::string dir = ".", job = "synthetic";
  int ranks = 4, hosts = 2;
  long samples = 60;
  double interval = 1.0;
  int imbalanced_rank = -1, stalled_host = -1;
  long stall_from = 0, stall_to = 0;
  int gpus = 0, idle_host = -1, idle_gpu = -1, block = 0;
  for (int i = 1; i < argc; i += 2) {
    std::string o = argv[i];
    if (i + 1 == argc) {  // an option without its value (or --help): write nothing
      std::fprintf(stderr, "jobperf-test-make-streams: %s needs a value (see the top of make_streams.cpp)\n", o.c_str());
      return 2;
    }
    if (o == "--dir") dir = argv[i + 1];
    else if (o == "--job-id") job = argv[i + 1];
    else if (o == "--ranks") ranks = std::atoi(argv[i + 1]);
    else if (o == "--hosts") hosts = std::atoi(argv[i + 1]);
    else if (o == "--samples") samples = std::atol(argv[i + 1]);
    else if (o == "--interval") interval = std::atof(argv[i + 1]);
    else if (o == "--imbalance") imbalanced_rank = std::atoi(argv[i + 1]);
    else if (o == "--gpus") gpus = std::atoi(argv[i + 1]);
    else if (o == "--block") block = std::atoi(argv[i + 1]);
    else if (o == "--idle-gpu") std::sscanf(argv[i + 1], "%d:%d", &idle_host, &idle_gpu);
    else if (o == "--stall") std::sscanf(argv[i + 1], "%d:%ld:%ld", &stalled_host, &stall_from, &stall_to);
    else {
      std::fprintf(stderr, "jobperf-test-make-streams: unknown option %s\n", o.c_str());
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  collect::SourceConfig config;
  auto process_spec = collect::make_process_procfs_source(config)->describe();
  auto node_spec = collect::make_node_procfs_source(config)->describe();
  auto gpu_spec = collect::make_nvidia_gpu_source(config)->describe();
  process_spec.id = 1;
  node_spec.id = 2;
  gpu_spec.id = 3;
  const std::int64_t step = static_cast<std::int64_t>(interval * 1e9);
  const std::int64_t mono0 = 1'000'000'000'000, utc0 = 1'750'000'000'000'000'000;
  auto field = [](const stream::SourceSpec& s, const std::string& name) {
    for (std::size_t i = 0; i < s.fields.size(); ++i)
      if (s.fields[i].name == name) return i;
    std::abort();
  };
  const int per_host = (ranks + hosts - 1) / hosts;
  auto host_of = [&](int r) { return block ? r / per_host : r % hosts; };
  for (int r = 0; r < ranks; ++r) {
    stream::Header h;
    h.host = "node" + std::to_string(host_of(r));
    h.job_id = job;
    h.rank = r;
    h.local_rank = block ? r % per_host : r / hosts;
    h.pid = 1000 + r;
    h.mode = "wrapper";
    h.interval_ns = step;
    h.collector_version = "synthetic";
    h.start = {mono0, utc0, mono0};
    stream::StreamWriter w(dir + "/" + h.host + ".rank" + std::to_string(r) + ".jps", h, true);
    w.metadata({{"job_name", "synthetic"}, {"user", "tester"}, {"command", "synthetic"},
                {"env.OMPI_COMM_WORLD_SIZE", std::to_string(ranks)}});
    w.add_source(process_spec);
    if (h.local_rank == 0) w.add_source(node_spec);
    if (h.local_rank == 0 && gpus > 0) w.add_source(gpu_spec);
    const std::uint32_t pid = 2000 + static_cast<std::uint32_t>(r);
    w.subject_begin({mono0, pid, static_cast<std::uint32_t>(h.pid), r, mono0, "synthetic-app"});
    std::vector<std::uint64_t> v(process_spec.fields.size()), n(node_spec.fields.size());
    double cpu_ns = 0;
    for (long k = 0; k <= samples; ++k) {
      const std::int64_t t = mono0 + k * step;
      const double seconds = static_cast<double>(k) * interval;
      if (k > 0) {  // the cores used during the step that ends now
        double cores = imbalanced_rank < 0 ? (r + 1) / 10.0 : r == imbalanced_rank ? 0.3 : 1.0;
        if (host_of(r) == stalled_host && k > stall_from && k <= stall_to) cores = 0;
        cpu_ns += cores * interval * 1e9;
      }
      v[field(process_spec, "cpu_user")] = static_cast<std::uint64_t>(std::llround(cpu_ns));
      v[field(process_spec, "wchar")] = static_cast<std::uint64_t>(seconds * (1 << 20));
      v[field(process_spec, "rss")] = static_cast<std::uint64_t>(r + 1) << 20;
      w.record(t, 1, pid, v);
      if (h.local_rank == 0) {
        n[field(node_spec, "net_rx_bytes")] = static_cast<std::uint64_t>(seconds * 1e9);
        n[field(node_spec, "mem_total")] = 64ull << 30;
        w.record(t, 2, 0, n);
        if (gpus > 0) {
          std::vector<std::uint64_t> total(gpu_spec.fields.size(), stream::to_raw(0));
          double busy = 0, watts = 0;
          for (int g = 0; g < gpus; ++g) {
            std::vector<std::uint64_t> one(gpu_spec.fields.size(), stream::to_raw(0));
            one[field(gpu_spec, "gpus")] = stream::to_raw(1);
            const double busy_pct = idle_host < 0 ? 10.0 * (g + 1) : host_of(r) == idle_host && g == idle_gpu ? 0 : 60;
            one[field(gpu_spec, "utilization")] = stream::to_raw(busy_pct);
            one[field(gpu_spec, "power")] = stream::to_raw(100.0 + g);
            w.record(t, 3, static_cast<std::uint32_t>(g + 1), one);
            busy += busy_pct / gpus, watts += 100.0 + g;
          }
          total[field(gpu_spec, "gpus")] = stream::to_raw(gpus);
          total[field(gpu_spec, "utilization")] = stream::to_raw(busy);
          total[field(gpu_spec, "power")] = stream::to_raw(watts);
          w.record(t, 3, 0, total);
        }
      }
      if (k % 64 == 63) w.flush();
    }
    w.subject_end({mono0 + samples * step, pid, 0});
    w.close({{mono0 + samples * step, utc0 + samples * step, mono0 + samples * step}, "synthetic"});
  }
  return 0;
}
