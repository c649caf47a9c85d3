#include "reduce/stream_inputs.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <map>
#include <tuple>
#include <utility>

#include "formats/byte_codec.hpp"
#include "formats/raw_stream.hpp"
#include "reduce/exchange.hpp"

namespace jobperf::reduce {
namespace {

namespace fs = std::filesystem;

// What one rank can see of the inputs: the streams' paths, and the inputs it cannot.
struct Visible {
  std::vector<std::string> found;
  std::vector<std::string> missing;
};

void transfer(auto& io, MessageOf<Visible> auto& v) { io(v.found, v.missing); }

// Names only: a stream's size and header are read by one of the ranks that
// see it (read_facts), not by all.
Visible list_visible(const std::vector<std::string>& inputs) {
  Visible v;
  for (const auto& input : inputs) {
    std::error_code ec;
    auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) {
      v.missing.push_back(input);
    } else if (fs::is_directory(status)) {
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (entry.path().extension() == stream::kStreamSuffix && entry.is_regular_file(ec))
          v.found.push_back(entry.path().string());
    } else {
      v.found.push_back(input);
    }
  }
  return v;
}

// What a stream's size and header say; rank and collector stay unknown if
// the header cannot be read (read_stream says why later).
void read_facts(StreamFile& f) {
  std::error_code ec;
  f.size = fs::file_size(f.path, ec);
  if (ec) f.size = 0;
  try {
    auto h = stream::read_header(f.path);
    f.rank = h.rank;
    f.host = h.host;
    f.collector = "job " + h.job_id + ", " + (h.rank >= 0 ? "rank " + std::to_string(h.rank) + " on " : "") + h.host +
                  ", collector pid " + std::to_string(h.pid);
    f.collector_start = h.start.realtime;
  } catch (const stream::StreamError&) {
  }
}

void transfer_facts(auto& io, auto& f) { io(f.size, f.rank, f.host, f.collector, f.collector_start); }

// Each stream's facts, read by one of the ranks that see it, taking turns:
// a job of 16384 streams reduced by 64 ranks on a parallel file system
// opens each once, not 64 times. Identical on every rank (collective).
void read_all_facts(std::vector<StreamFile>& streams, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  auto reader_of = [&](std::size_t i) { return streams[i].readers[i % streams[i].readers.size()]; };
  std::vector<char> mine;
  Encoder e(mine);
  for (std::size_t i = 0; i < streams.size(); ++i)
    if (reader_of(i) == rank) read_facts(streams[i]), transfer_facts(e, streams[i]);
  int from = 0;
  for (const auto& blob : all_gather(mine, comm)) {
    Decoder d(blob.data(), blob.size());
    for (std::size_t i = 0; i < streams.size(); ++i)
      if (reader_of(i) == from) transfer_facts(d, streams[i]);
    ++from;
  }
}

// A stream's weight in the split: its bytes, and one more so that empty
// streams are spread too.
std::uint64_t weight(const StreamFile& f) { return f.size + 1; }

// log2 of the largest aligned block of rows of /ranks that starts at stream
// `i` (capped where no chunk would hold more rows), when every stream is one
// rank's and so one row; 0 when streams hold a node's ranks each, whose rows
// are not known before they are read.
unsigned alignment_at(std::size_t i, bool one_row_per_stream) {
  constexpr unsigned kMostRowsLog2 = 13;  // jobfile::kChunkSteps rows of one step
  if (!one_row_per_stream) return 0;
  return i == 0 ? kMostRowsLog2 : std::min<unsigned>(static_cast<unsigned>(std::countr_zero(i)), kMostRowsLog2);
}

bool can_read(const StreamFile& f, int rank) {
  return std::find(f.readers.begin(), f.readers.end(), rank) != f.readers.end();
}

// Where run r (1 <= r < ranks) starts: the first stream whose middle lies
// past r/ranks of the bytes, or, within a 16th of a run's bytes of that
// split, a stream that starts a larger aligned block of rows, so that each
// reducer rank writes whole chunks of many rows (JobLayout::rank_chunk_rows)
// for a few per cent of imbalance; but never so that a stream moves to a run
// whose rank cannot read it (node-local scratch). Non-decreasing in r.
std::vector<std::size_t> run_starts(const std::vector<StreamFile>& files, int ranks) {
  std::vector<std::uint64_t> before(files.size() + 1, 0);  // bytes before stream i
  for (std::size_t i = 0; i < files.size(); ++i) before[i + 1] = before[i] + weight(files[i]);
  const bool one_row_per_stream =
      std::all_of(files.begin(), files.end(), [](const StreamFile& f) { return f.rank >= 0; });
  const auto share = static_cast<double>(before.back()) / ranks, slack = share / 16 * (1 + 1e-9);  // a 16th, rounded up
  std::vector<std::size_t> starts(static_cast<std::size_t>(ranks), 0);
  for (int r = 1; r < ranks; ++r) {
    const double split = share * r;
    const auto distance = [&](std::size_t i) { return std::abs(static_cast<double>(before[i]) - split); };
    const auto previous = starts[static_cast<std::size_t>(r - 1)];
    std::size_t by_bytes = previous;
    while (by_bytes < files.size() && static_cast<double>(before[by_bytes] + weight(files[by_bytes]) / 2) < split)
      ++by_bytes;
    // Moving the start from by_bytes to i hands the streams between to the run that then holds them.
    const auto movable = [&](std::size_t i) {
      for (auto k = std::min(i, by_bytes); k < std::max(i, by_bytes); ++k)
        if (!can_read(files[k], i < by_bytes ? r : r - 1)) return false;
      return true;
    };
    std::size_t start = by_bytes;
    for (std::size_t i = previous; i <= files.size() && static_cast<double>(before[i]) <= split + slack; ++i) {
      const auto a = alignment_at(i, one_row_per_stream), b = alignment_at(start, one_row_per_stream);
      if (distance(i) <= slack && (a > b || (a == b && a > 0 && distance(i) < distance(start))) && movable(i))
        start = i;
    }
    starts[static_cast<std::size_t>(r)] = start;
  }
  return starts;
}

}  // namespace

std::vector<StreamFile> list_streams(const std::vector<std::string>& inputs, MPI_Comm comm,
                                     std::vector<std::string>& errors) {
  std::vector<char> mine;
  Encoder e(mine);
  const auto visible = list_visible(inputs);
  transfer(e, visible);
  std::map<std::string, std::vector<int>> readers;  // path -> the ranks that see it
  std::map<std::string, int> missing_count;
  int size = 0, rank = 0;
  for (const auto& blob : all_gather(mine, comm)) {
    Visible seen;
    Decoder d(blob.data(), blob.size());
    transfer(d, seen);
    for (auto& path : seen.found) readers[path].push_back(rank);
    for (const auto& m : seen.missing) ++missing_count[m];
    ++rank;
  }
  MPI_Comm_size(comm, &size);
  for (const auto& [input, n] : missing_count)
    if (n == size) errors.push_back(input + ": no such file or directory");
  auto normal = [](const fs::path& p) { return (p / "").parent_path().lexically_normal(); };
  for (const auto& input : inputs) {
    bool any = std::any_of(readers.begin(), readers.end(), [&](auto& kv) {
      return kv.first == input || normal(fs::path(kv.first).parent_path()) == normal(input);
    });
    if (!any && missing_count[input] < size)
      errors.push_back(input + ": no jobperf streams (*" + stream::kStreamSuffix + ") in this directory");
  }
  std::vector<StreamFile> out;
  for (auto& [path, seen_by] : readers) out.push_back({path, 0, std::move(seen_by), -1, "", "", 0});
  read_all_facts(out, comm);
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.rank, a.host) < std::tie(b.rank, b.host);
  });
  return out;
}

std::vector<std::string> drop_copies(std::vector<StreamFile>& files) {
  std::map<std::pair<std::string, std::int64_t>, std::size_t> kept;  // collector -> index into files
  std::vector<char> copy(files.size(), 0);
  std::vector<std::string> notes;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].collector.empty()) continue;
    auto [it, first] = kept.try_emplace({files[i].collector, files[i].collector_start}, i);
    if (first) continue;
    auto& other = it->second;
    const auto drop = files[i].size > files[other].size ? std::exchange(other, i) : i;
    copy[drop] = 1;
    notes.push_back(files[drop].path + ": left out, the same stream as " + files[other].path + " (" +
                    files[i].collector + ")");
  }
  std::vector<StreamFile> originals;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (!copy[i]) originals.push_back(std::move(files[i]));
  files = std::move(originals);
  return notes;
}

std::vector<int> assign_streams(const std::vector<StreamFile>& files, int ranks) {
  const auto starts = run_starts(files, ranks);
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owner(files.size());
  int run = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    while (run + 1 < ranks && starts[static_cast<std::size_t>(run + 1)] <= i) ++run;
    int best = run;
    const auto& readers = files[i].readers;
    if (!can_read(files[i], best)) {
      best = readers.front();
      for (int r : readers)
        if (load[static_cast<std::size_t>(r)] < load[static_cast<std::size_t>(best)]) best = r;
    }
    owner[i] = best;
    load[static_cast<std::size_t>(best)] += weight(files[i]);
  }
  return owner;
}

}  // namespace jobperf::reduce
