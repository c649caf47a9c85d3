// jobperf-test-h5-filters DIR: jobperf's shuffle and deflate filters write,
// chunk for chunk, the bytes HDF5's own write, and read back what was written.
//
// The same datasets are written twice, first through HDF5's filters, then,
// once jobperf's have replaced them (for good: that is why this is a program
// of its own, not a unit test), through jobperf's. Every chunk's stored
// bytes and filter mask are compared, and both files are read back through
// jobperf's filters. Exit 0 when all agree; else each difference is printed.
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/hdf5_filters.hpp"

namespace {

struct Case {
  std::string name;
  hid_t type;  // native
  std::size_t element;
  hsize_t rows, columns, chunk_columns;
  int level;
  std::vector<unsigned char> data;
};

// What a job file holds (smooth series, counters, sample times), and what
// tests the edges: incompressible bytes, element sizes 1, 4 and 8, partial
// edge chunks, levels 1, 6 and 9.
std::vector<Case> cases() {
  std::mt19937_64 random(42);
  std::vector<Case> out;
  auto add = [&](std::string name, hid_t type, std::size_t element, hsize_t rows, hsize_t columns, hsize_t chunk,
                 int level, auto value) {
    Case c{std::move(name), type, element, rows, columns, chunk, level, {}};
    c.data.resize(rows * columns * element);
    for (hsize_t r = 0; r < rows; ++r)
      for (hsize_t k = 0; k < columns; ++k) {
        auto v = value(r, k);
        std::memcpy(c.data.data() + (r * columns + k) * element, &v, element);
      }
    out.push_back(std::move(c));
  };
  add("series", H5T_NATIVE_DOUBLE, 8, 5, 3600, 1024, 1,
      [](hsize_t r, hsize_t k) { return 50.0 + 40.0 * std::sin(0.01 * k + r) + (k % 7) * 0.125; });
  add("series_nan", H5T_NATIVE_DOUBLE, 8, 3, 1000, 333, 1,
      [](hsize_t r, hsize_t k) { return k > 900 ? std::nan("") : static_cast<double>(r * k); });
  add("time", H5T_NATIVE_INT64, 8, 4, 777, 256, 1,
      [](hsize_t r, hsize_t k) { return static_cast<std::int64_t>(1'763'000'000'000'000'000 + k * 1'000'000'007 + r); });
  add("random", H5T_NATIVE_UINT64, 8, 2, 500, 100, 1, [&](hsize_t, hsize_t) { return random(); });
  add("level6", H5T_NATIVE_DOUBLE, 8, 2, 2000, 2000, 6, [](hsize_t r, hsize_t k) { return std::sqrt(k + r * 1.5); });
  add("level9", H5T_NATIVE_INT64, 8, 2, 2000, 700, 9, [](hsize_t r, hsize_t k) { return static_cast<std::int64_t>(k * k + r); });
  add("int32", H5T_NATIVE_INT32, 4, 3, 1001, 300, 1, [](hsize_t r, hsize_t k) { return static_cast<std::int32_t>(k * 3 - r); });
  add("int8", H5T_NATIVE_INT8, 1, 2, 900, 128, 1, [](hsize_t r, hsize_t k) { return static_cast<std::int8_t>(k % 5 + r); });
  add("one_element", H5T_NATIVE_DOUBLE, 8, 3, 1, 1, 1, [](hsize_t r, hsize_t) { return 1.0 + r; });
  return out;
}

void write_file(const std::string& path, const std::vector<Case>& all) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  for (const auto& c : all) {
    const hsize_t dims[2] = {c.rows, c.columns}, chunk[2] = {1, c.chunk_columns};
    hid_t space = H5Screate_simple(2, dims, nullptr), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, static_cast<unsigned>(c.level));
    hid_t d = H5Dcreate2(file, c.name.c_str(), c.type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, c.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data.data());
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(space);
  }
  H5Fclose(file);
}

struct Chunk {
  unsigned mask = 0;
  std::vector<unsigned char> bytes;
};

std::vector<Chunk> chunks_of(hid_t d) {
  hid_t space = H5Dget_space(d);
  hsize_t n = 0;
  H5Dget_num_chunks(d, space, &n);
  std::vector<Chunk> out(n);
  for (hsize_t i = 0; i < n; ++i) {
    hsize_t offset[2], size = 0;
    haddr_t addr;
    H5Dget_chunk_info(d, space, i, offset, &out[i].mask, &addr, &size);
    out[i].bytes.resize(size);
    std::uint32_t mask = 0;
    H5Dread_chunk(d, H5P_DEFAULT, offset, &mask, out[i].bytes.data());
  }
  H5Sclose(space);
  return out;
}

// Differences between the two files' chunks of `c`, and between what each reads back and `c`.
int compare(hid_t hdf5s, hid_t ours, const Case& c) {
  int bad = 0;
  hid_t a = H5Dopen2(hdf5s, c.name.c_str(), H5P_DEFAULT), b = H5Dopen2(ours, c.name.c_str(), H5P_DEFAULT);
  const auto x = chunks_of(a), y = chunks_of(b);
  if (x.size() != y.size()) ++bad, std::printf("%s: %zu chunks, HDF5 wrote %zu\n", c.name.c_str(), y.size(), x.size());
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (x[i].mask != y[i].mask || x[i].bytes != y[i].bytes)
      ++bad, std::printf("%s: chunk %zu: %zu bytes, mask %u; HDF5 wrote %zu bytes, mask %u\n", c.name.c_str(), i,
                         y[i].bytes.size(), y[i].mask, x[i].bytes.size(), x[i].mask);
  for (hid_t d : {a, b}) {
    std::vector<unsigned char> back(c.data.size());
    H5Dread(d, c.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data());
    if (back != c.data) ++bad, std::printf("%s: read back differs (%s file)\n", c.name.c_str(), d == a ? "HDF5's" : "jobperf's");
  }
  H5Dclose(a), H5Dclose(b);
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: jobperf-test-h5-filters DIR\n");
    return 2;
  }
  const std::string hdf5s = std::string(argv[1]) + "/filters-hdf5.h5", ours = std::string(argv[1]) + "/filters-jobperf.h5";
  const auto all = cases();
  write_file(hdf5s, all);
  if (!jobperf::h5::use_fast_filters()) {
    std::printf("jobperf's filters cannot replace this HDF5's\n");
    return 1;
  }
  write_file(ours, all);
  hid_t a = H5Fopen(hdf5s.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), b = H5Fopen(ours.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  int bad = 0;
  for (const auto& c : all) bad += compare(a, b, c);
  H5Fclose(a), H5Fclose(b);
  std::printf("%zu datasets: %s\n", all.size(), bad ? "differences above" : "the same chunks as HDF5's filters");
  return bad ? 1 : 0;
}
