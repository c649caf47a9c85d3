#include "reduce/exchange.hpp"

#include <cstdio>
#include <numeric>

#include "formats/byte_codec.hpp"

namespace jobperf::reduce {

namespace {
// Gathers every rank's bytes, to all ranks or to rank 0 only.
std::vector<std::vector<char>> gather(const std::vector<char>& mine, MPI_Comm comm, bool to_all) {
  int size = 0, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  if (to_all) MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  else MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm);
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), 0);
  std::vector<char> all(static_cast<std::size_t>(offsets.back() + counts.back()));
  if (to_all) MPI_Allgatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, comm);
  else MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, 0, comm);
  std::vector<std::vector<char>> out;
  if (!to_all && rank != 0) return out;
  for (int r = 0; r < size; ++r)
    out.emplace_back(all.begin() + offsets[static_cast<std::size_t>(r)],
                     all.begin() + offsets[static_cast<std::size_t>(r)] + counts[static_cast<std::size_t>(r)]);
  return out;
}
}  // namespace

std::vector<std::vector<char>> all_gather(const std::vector<char>& mine, MPI_Comm comm) { return gather(mine, comm, true); }
std::vector<std::vector<char>> gather_to_root(const std::vector<char>& mine, MPI_Comm comm) {
  return gather(mine, comm, false);
}

void broadcast(std::vector<char>& bytes, int root, MPI_Comm comm) {
  auto n = static_cast<long long>(bytes.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, root, comm);
  bytes.resize(static_cast<std::size_t>(n));
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

bool any_failed(const std::vector<std::string>& my_errors, MPI_Comm comm) {
  std::vector<char> bytes;
  Encoder e(bytes);
  e(my_errors);
  std::vector<std::string> all;
  for (const auto& blob : all_gather(bytes, comm)) {
    Decoder d(blob.data(), blob.size());
    d(all);
  }
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0)
    for (const auto& m : all) std::fprintf(stderr, "jobperf-reduce: %s\n", m.c_str());
  return !all.empty();
}

}  // namespace jobperf::reduce
