// The parallel-HDF5 write limit of this machine for one job file, the
// baseline for jobperf-reduce's throughput: the time to write the job
// file's own arrays again, already in memory, with the same layout (its
// datasets' creation properties: chunks, shuffle+deflate or none, early
// allocation), the same file access (collective I/O and metadata), and nothing
// else: no reading of streams, no computing. Every rank writes its block of
// rows of every chunked two-dimensional dataset (the series and the raw
// samples, nearly all of a job file's bytes), as jobperf-reduce's ranks do,
// in collective writes of several sizes; the fastest is the limit.
// With --jobperf-filters, compressed arrays go through jobperf's shuffle and
// deflate (formats/hdf5_filters.hpp) instead of HDF5's: the limit of
// jobperf's own writes, where the plain one is parallel HDF5's.
//
//   mpirun -np N jobperf-bench-h5-write [--jobperf-filters] JOB.h5 OUT.h5
#include <hdf5.h>
#include <mpi.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "formats/hdf5_filters.hpp"
#include "formats/hdf5_io.hpp"

namespace {

struct Array {
  std::string name;
  hid_t type = -1;  // native
  hid_t dcpl = -1;
  hsize_t rows = 0, steps = 0, first = 0, mine = 0;
  std::vector<char> data;
};

herr_t list_chunked_2d(hid_t root, const char* name, const H5O_info_t* info, void* out) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
  hid_t space = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  if (H5Sget_simple_extent_ndims(space) == 2 && H5Pget_layout(dcpl) == H5D_CHUNKED)
    static_cast<std::vector<std::string>*>(out)->push_back(name);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Dclose(d);
  return 0;
}

// Selects the rank's rows of `a` in the file's `space`; returns the memory space to match.
hid_t select_mine(hid_t space, const Array& a) {
  const hsize_t at[2] = {a.first, 0}, block[2] = {a.mine, a.steps};
  hid_t mem = H5Screate_simple(2, block, nullptr);
  if (a.mine == 0) H5Sselect_none(space), H5Sselect_none(mem);
  else H5Sselect_hyperslab(space, H5S_SELECT_SET, at, nullptr, block, nullptr);
  return mem;
}

// This rank's rows of every chunked 2-D dataset of `path`, read before the clock starts.
std::vector<Array> read_arrays(const char* path, int rank, int size) {
  const auto fapl = jobperf::h5::parallel_file_access(MPI_COMM_WORLD);  // as jobperf-reduce opens the job file
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (file < 0) {
    std::fprintf(stderr, "jobperf-bench-h5-write: %s: cannot open as HDF5\n", path);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  std::vector<std::string> names;
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, list_chunked_2d, &names);
  std::vector<Array> out;
  for (const auto& name : names) {
    Array a;
    a.name = name;
    hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    hid_t stored = H5Dget_type(d);
    a.type = H5Tget_native_type(stored, H5T_DIR_DEFAULT);
    a.dcpl = H5Dget_create_plist(d);
    hsize_t dims[2];
    hid_t space = H5Dget_space(d);
    H5Sget_simple_extent_dims(space, dims, nullptr);
    a.rows = dims[0], a.steps = dims[1];
    a.first = a.rows * static_cast<hsize_t>(rank) / static_cast<hsize_t>(size);
    a.mine = a.rows * static_cast<hsize_t>(rank + 1) / static_cast<hsize_t>(size) - a.first;
    a.data.resize(a.mine * a.steps * H5Tget_size(a.type));
    hid_t mem = select_mine(space, a);
    if (H5Dread(d, a.type, mem, space, H5P_DEFAULT, a.data.data()) < 0) MPI_Abort(MPI_COMM_WORLD, 1);
    H5Sclose(mem);
    H5Sclose(space);
    H5Tclose(stored);
    H5Dclose(d);
    out.push_back(std::move(a));
  }
  H5Fclose(file);
  return out;
}

// Writes every array to a new file at `path`, each rank its rows in
// collective writes of at most `rows_per_write` rows; returns the seconds
// taken, file creation and closing included.
double write_all(const char* path, const std::vector<Array>& arrays, hsize_t rows_per_write) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  const auto fapl = jobperf::h5::parallel_file_access(MPI_COMM_WORLD);  // as jobperf-reduce opens the job file
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER), lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const auto& a : arrays) {
    hsize_t most = a.mine;  // collective writes: every rank makes as many calls as the rank with most rows
    MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    const hsize_t dims[2] = {a.rows, a.steps};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dset = H5Dcreate2(file, a.name.c_str(), a.type, space, lcpl, a.dcpl, H5P_DEFAULT);
    const std::size_t row_bytes = a.steps * H5Tget_size(a.type);
    for (hsize_t done = 0; done < most; done += rows_per_write) {
      const hsize_t first = std::min(done, a.mine), n = std::min(rows_per_write, a.mine - first);
      const hsize_t at[2] = {a.first + first, 0}, block[2] = {n, a.steps};
      hid_t mem = H5Screate_simple(2, block, nullptr);
      if (n == 0) H5Sselect_none(space), H5Sselect_none(mem);
      else H5Sselect_hyperslab(space, H5S_SELECT_SET, at, nullptr, block, nullptr);
      if (H5Dwrite(dset, a.type, mem, space, dxpl, a.data.data() + first * row_bytes) < 0) MPI_Abort(MPI_COMM_WORLD, 1);
      H5Sclose(mem);
    }
    H5Dclose(dset);
    H5Sclose(space);
  }
  H5Pclose(lcpl);
  H5Pclose(dxpl);
  H5Fclose(file);
  return MPI_Wtime() - start;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const bool jobperf_filters = argc == 4 && std::string(argv[1]) == "--jobperf-filters";
  if (argc != 3 && !jobperf_filters) {
    if (rank == 0) std::fprintf(stderr, "usage: jobperf-bench-h5-write [--jobperf-filters] JOB.h5 OUT.h5\n");
    MPI_Finalize();
    return 2;
  }
  if (jobperf_filters && !jobperf::h5::use_fast_filters()) {
    if (rank == 0) std::fprintf(stderr, "jobperf-bench-h5-write: this HDF5 does not take jobperf's filters\n");
    MPI_Finalize();
    return 1;
  }
  argv += argc - 3;  // JOB.h5 OUT.h5
  auto arrays = read_arrays(argv[1], rank, size);
  bool compressed = false;
  double bytes = 0;
  hsize_t rows = 0;
  for (const auto& a : arrays) {
    compressed = compressed || H5Pget_nfilters(a.dcpl) > 0;
    bytes += static_cast<double>(a.rows * a.steps * H5Tget_size(a.type));
    rows = std::max(rows, a.rows);
  }
  // The limit is the fastest way found to write these arrays: how many rows
  // go in one collective write changes it (large writes compress and copy
  // outside the cache), so several are tried, each on a new file after the
  // last one's pages are written back (a file replaced while under
  // writeback waits for the disk).
  std::string tried;
  double best = 0;
  for (hsize_t rows_per_write : {rows, hsize_t{256}, hsize_t{64}, hsize_t{16}}) {
    if (rows_per_write > rows || (rows_per_write == rows && !tried.empty())) continue;  // the same as all rows
    if (rank == 0) std::remove(argv[2]), sync();
    const double seconds = write_all(argv[2], arrays, rows_per_write);
    if (best == 0 || seconds < best) best = seconds;
    char line[64];
    if (rows_per_write == rows) std::snprintf(line, sizeof line, "all rows %.3f s", seconds);
    else std::snprintf(line, sizeof line, ", %llu rows %.3f s", static_cast<unsigned long long>(rows_per_write), seconds);
    tried += line;
  }
  if (rank == 0) {
    const double mib = bytes / (1 << 20);
    std::printf("h5 write limit: %zu arrays, %.1f MiB in %.3f s = %.1f MiB/s (%s, %d ranks; the fastest of %s per write)\n",
                arrays.size(), mib, best, mib / best,
                !compressed ? "uncompressed" : jobperf_filters ? "shuffle+deflate, jobperf's filters" : "shuffle+deflate",
                size, tried.c_str());
  }
  for (auto& a : arrays) H5Pclose(a.dcpl), H5Tclose(a.type);
  MPI_Finalize();
  return 0;
}
