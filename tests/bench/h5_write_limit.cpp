// The parallel-HDF5 write limit of this machine for one job file, the
// baseline for jobperf-reduce's throughput: the time to write the job
// file's own arrays again, already in memory, with the same layout (its
// datasets' creation properties: chunks, shuffle+deflate or none, early
// allocation), the same file access (collective I/O and metadata), and nothing
// else: no reading of streams, no computing. Every rank writes its block of
// rows of every chunked two-dimensional dataset (the series and the raw
// samples, nearly all of a job file's bytes), as jobperf-reduce's ranks do.
//
//   mpirun -np N jobperf-bench-h5-write JOB.h5 OUT.h5
#include <hdf5.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

// As jobperf-reduce opens the job file: MPI-IO, collective metadata.
hid_t mpio_fapl() {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  H5Pset_all_coll_metadata_ops(fapl, true);
  H5Pset_coll_metadata_write(fapl, true);
  return fapl;
}

// This rank's rows of every chunked 2-D dataset of `path`, read before the clock starts.
std::vector<Array> read_arrays(const char* path, int rank, int size) {
  hid_t fapl = mpio_fapl();
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
  H5Pclose(fapl);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 3) {
    if (rank == 0) std::fprintf(stderr, "usage: jobperf-bench-h5-write JOB.h5 OUT.h5\n");
    MPI_Finalize();
    return 2;
  }
  auto arrays = read_arrays(argv[1], rank, size);
  bool compressed = false;
  double bytes = 0;
  for (const auto& a : arrays) {
    compressed = compressed || H5Pget_nfilters(a.dcpl) > 0;
    bytes += static_cast<double>(a.rows * a.steps * H5Tget_size(a.type));
  }

  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  hid_t fapl = mpio_fapl();
  hid_t file = H5Fcreate(argv[2], H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER), lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const auto& a : arrays) {
    const hsize_t dims[2] = {a.rows, a.steps};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dset = H5Dcreate2(file, a.name.c_str(), a.type, space, lcpl, a.dcpl, H5P_DEFAULT);
    hid_t mem = select_mine(space, a);
    if (H5Dwrite(dset, a.type, mem, space, dxpl, a.data.data()) < 0) MPI_Abort(MPI_COMM_WORLD, 1);
    H5Sclose(mem);
    H5Dclose(dset);
    H5Sclose(space);
  }
  H5Pclose(lcpl);
  H5Pclose(dxpl);
  H5Fclose(file);
  H5Pclose(fapl);
  const double seconds = MPI_Wtime() - start;
  if (rank == 0) {
    const double mib = bytes / (1 << 20);
    std::printf("h5 write limit: %zu arrays, %.1f MiB in %.3f s = %.1f MiB/s (%s, %d ranks)\n", arrays.size(), mib,
                seconds, mib / seconds, compressed ? "shuffle+deflate" : "uncompressed", size);
  }
  for (auto& a : arrays) H5Pclose(a.dcpl), H5Tclose(a.type);
  MPI_Finalize();
  return 0;
}
