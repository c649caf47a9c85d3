#include "reduce/exchange.hpp"

#include <cstdio>
#include <numeric>

#include "formats/byte_codec.hpp"

namespace jobperf::reduce {

std::vector<std::vector<char>> all_gather(const std::vector<char>& mine, MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), 0);
  std::vector<char> all(static_cast<std::size_t>(offsets.back() + counts.back()));
  MPI_Allgatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, comm);
  std::vector<std::vector<char>> out;
  for (int r = 0; r < size; ++r)
    out.emplace_back(all.begin() + offsets[static_cast<std::size_t>(r)],
                     all.begin() + offsets[static_cast<std::size_t>(r)] + counts[static_cast<std::size_t>(r)]);
  return out;
}

bool any_failed(const std::vector<std::string>& my_errors, MPI_Comm comm) {
  std::vector<char> bytes;
  Encoder e(bytes);
  e.put(static_cast<std::uint32_t>(my_errors.size()));
  for (const auto& m : my_errors) e.put_string(m);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  bool failed = false;
  for (const auto& blob : all_gather(bytes, comm)) {
    Decoder d(blob.data(), blob.size());
    auto n = d.get<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      auto message = d.get_string();
      if (rank == 0) std::fprintf(stderr, "jobperf-reduce: %s\n", message.c_str());
      failed = true;
    }
  }
  return failed;
}

}  // namespace jobperf::reduce
