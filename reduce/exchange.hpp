// Small collective helpers the reducer's phases share.
#pragma once
#include <mpi.h>

#include <string>
#include <vector>

namespace jobperf::reduce {

// Every rank's bytes, on every rank, in rank order.
std::vector<std::vector<char>> all_gather(const std::vector<char>& mine, MPI_Comm comm);

// Every rank's bytes, in rank order, on rank 0; empty on the others.
std::vector<std::vector<char>> gather_to_root(const std::vector<char>& mine, MPI_Comm comm);

// Root's bytes, on every rank (`bytes` is ignored on the others).
void broadcast(std::vector<char>& bytes, int root, MPI_Comm comm);

// True on every rank if any rank has an error; rank 0 prints them all.
bool any_failed(const std::vector<std::string>& my_errors, MPI_Comm comm);

}  // namespace jobperf::reduce
