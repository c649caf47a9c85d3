#include "reduce/stream_inputs.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <tuple>

#include "formats/byte_codec.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

namespace fs = std::filesystem;

// The header's rank and host, if the header can be read (else read_stream reports why later).
void read_rank_and_host(StreamFile& f) {
  try {
    auto h = stream::read_header(f.path);
    f.rank = h.rank;
    f.host = h.host;
  } catch (const stream::StreamError&) {
  }
}

// What one rank can see of the inputs: the streams, and the inputs it cannot.
struct Visible {
  std::vector<StreamFile> found;
  std::vector<std::string> missing;
};

void transfer(auto& io, MessageOf<Visible> auto& v) {
  io.each(v.found, [&](auto& f) { io(f.path, f.size, f.rank, f.host); });
  io(v.missing);
}

Visible list_visible(const std::vector<std::string>& inputs) {
  Visible v;
  auto add = [&](std::string path, std::uintmax_t size) {
    StreamFile f{std::move(path), static_cast<std::uint64_t>(size), {}, -1, ""};
    read_rank_and_host(f);
    v.found.push_back(std::move(f));
  };
  for (const auto& input : inputs) {
    std::error_code ec;
    auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) {
      v.missing.push_back(input);
    } else if (fs::is_directory(status)) {
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (entry.is_regular_file() && entry.path().extension() == stream::kStreamSuffix)
          add(entry.path().string(), entry.file_size());
    } else {
      add(input, fs::file_size(input, ec));
    }
  }
  return v;
}

}  // namespace

std::vector<StreamFile> list_streams(const std::vector<std::string>& inputs, MPI_Comm comm,
                                     std::vector<std::string>& errors) {
  std::vector<char> mine;
  Encoder e(mine);
  const auto visible = list_visible(inputs);
  transfer(e, visible);
  std::map<std::string, StreamFile> streams;
  std::map<std::string, int> missing_count;
  int size = 0, rank = 0;
  for (const auto& blob : all_gather(mine, comm)) {
    Visible seen;
    Decoder d(blob.data(), blob.size());
    transfer(d, seen);
    for (auto& f : seen.found) {
      auto& known = streams.try_emplace(f.path, std::move(f)).first->second;
      known.readers.push_back(rank);
    }
    for (const auto& m : seen.missing) ++missing_count[m];
    ++rank;
  }
  MPI_Comm_size(comm, &size);
  for (const auto& [input, n] : missing_count)
    if (n == size) errors.push_back(input + ": no such file or directory");
  auto normal = [](const fs::path& p) { return (p / "").parent_path().lexically_normal(); };
  for (const auto& input : inputs) {
    bool any = std::any_of(streams.begin(), streams.end(), [&](auto& kv) {
      return kv.first == input || normal(fs::path(kv.first).parent_path()) == normal(input);
    });
    if (!any && missing_count[input] < size)
      errors.push_back(input + ": no jobperf streams (*" + stream::kStreamSuffix + ") in this directory");
  }
  std::vector<StreamFile> out;
  for (auto& [path, f] : streams) out.push_back(std::move(f));
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.rank, a.host) < std::tie(b.rank, b.host);
  });
  return out;
}

std::vector<int> assign_streams(const std::vector<StreamFile>& files, int ranks) {
  std::uint64_t total = 0, before = 0;
  for (const auto& f : files) total += f.size + 1;
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owner(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto middle = before + (files[i].size + 1) / 2;
    int best = static_cast<int>(middle * static_cast<std::uint64_t>(ranks) / std::max<std::uint64_t>(total, 1));
    const auto& readers = files[i].readers;
    if (std::find(readers.begin(), readers.end(), best) == readers.end()) {
      best = readers.front();
      for (int r : readers)
        if (load[static_cast<std::size_t>(r)] < load[static_cast<std::size_t>(best)]) best = r;
    }
    owner[i] = best;
    load[static_cast<std::size_t>(best)] += files[i].size + 1;
    before += files[i].size + 1;
  }
  return owner;
}

}  // namespace jobperf::reduce
