// The parallel-HDF5 write limit of this machine, the baseline for
// jobperf-reduce's throughput: every rank writes its block of rows of
// `datasets` (rows × steps) float64 datasets with collective I/O, laid out
// as the job file lays out its series (chunks of one row, shuffle+deflate
// unless --no-compress), with no decoding or computing at all.
//
//   mpirun -np N jobperf-bench-h5-write ROWS STEPS DATASETS OUT.h5 [--no-compress]
#include <hdf5.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 5) {
    if (rank == 0) std::fprintf(stderr, "usage: jobperf-bench-h5-write ROWS STEPS DATASETS OUT.h5 [--no-compress]\n");
    MPI_Finalize();
    return 2;
  }
  const hsize_t rows = std::strtoull(argv[1], nullptr, 10), steps = std::strtoull(argv[2], nullptr, 10);
  const int datasets = std::atoi(argv[3]);
  const bool compress = !(argc > 5 && !std::strcmp(argv[5], "--no-compress"));
  const hsize_t first = rows * static_cast<hsize_t>(rank) / static_cast<hsize_t>(size);
  const hsize_t mine = rows * static_cast<hsize_t>(rank + 1) / static_cast<hsize_t>(size) - first;
  // Counter-like data: slowly varying, as rates are (compressible like the real thing).
  std::vector<double> data(mine * steps);
  for (hsize_t r = 0; r < mine; ++r)
    for (hsize_t t = 0; t < steps; ++t) data[r * steps + t] = 0.5 + 0.01 * static_cast<double>((first + r + t / 60) % 7);

  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  H5Pset_all_coll_metadata_ops(fapl, true);
  H5Pset_coll_metadata_write(fapl, true);
  const hsize_t chunk[2] = {1, std::min<hsize_t>(steps, 8192)};
  if (chunk[1] * 8 >= 4096) H5Pset_alignment(fapl, chunk[1] * 8, chunk[1] * 8);
  hid_t file = H5Fcreate(argv[4], H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  const hsize_t dims[2] = {rows, steps}, block[2] = {mine, steps}, at[2] = {first, 0};
  for (int d = 0; d < datasets; ++d) {
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    H5Pset_chunk(dcpl, 2, chunk);
    if (compress) H5Pset_shuffle(dcpl), H5Pset_deflate(dcpl, 1);
    hid_t dset = H5Dcreate2(file, ("m" + std::to_string(d)).c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hid_t mem = H5Screate_simple(2, block, nullptr);
    if (mine == 0) H5Sselect_none(space), H5Sselect_none(mem);
    else H5Sselect_hyperslab(space, H5S_SELECT_SET, at, nullptr, block, nullptr);
    if (H5Dwrite(dset, H5T_NATIVE_DOUBLE, mem, space, dxpl, data.data()) < 0) MPI_Abort(MPI_COMM_WORLD, 1);
    H5Sclose(mem);
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  H5Pclose(dxpl);
  H5Fclose(file);
  H5Pclose(fapl);
  const double seconds = MPI_Wtime() - start;
  if (rank == 0) {
    const double mib = static_cast<double>(rows * steps * 8) * datasets / (1 << 20);
    std::printf("h5 write limit: %.1f MiB in %.3f s = %.1f MiB/s (%s, %d ranks)\n", mib, seconds, mib / seconds,
                compress ? "shuffle+deflate" : "uncompressed", size);
  }
  MPI_Finalize();
  return 0;
}
