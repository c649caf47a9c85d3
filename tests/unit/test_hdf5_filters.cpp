// jobperf's shuffle and deflate pieces against what they stand in for:
// HDF5's byte loop, zlib's adler32 and compress2. (Through HDF5, chunk for
// chunk: tests/tools/h5_filters_check.cpp.)
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "formats/hdf5_filters.hpp"

namespace {

using Bytes = std::vector<unsigned char>;

Bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<unsigned char>(random());
  return out;
}

// A job file's kind of data: slowly changing doubles.
Bytes series_bytes(std::size_t values) {
  Bytes out(values * 8);
  for (std::size_t k = 0; k < values; ++k) {
    const double v = 1e9 + 3.0 * std::sin(0.001 * static_cast<double>(k)) + static_cast<double>(k % 11);
    std::memcpy(out.data() + 8 * k, &v, 8);
  }
  return out;
}

// HDF5's shuffle, as H5Z_filter_shuffle writes it.
Bytes reference_shuffle(const Bytes& in, std::size_t element) {
  const std::size_t n = in.size() / element;
  Bytes out(in.size());
  for (std::size_t b = 0; b < element; ++b)
    for (std::size_t i = 0; i < n; ++i) out[b * n + i] = in[i * element + b];
  std::copy(in.begin() + static_cast<long>(n * element), in.end(), out.begin() + static_cast<long>(n * element));
  return out;
}

}  // namespace

TEST_CASE("shuffle and unshuffle write HDF5's byte order and undo it") {
  for (std::size_t element : {2, 4, 8, 16})
    for (std::size_t size : {0, 7, 8, 16, 127, 128, 129, 8 * 16 * 3 + 5, 28800, 28805}) {
      const auto in = random_bytes(size, static_cast<unsigned>(element * 100000 + size));
      Bytes shuffled(size), back(size);
      jobperf::h5::shuffle(in.data(), shuffled.data(), element, size);
      INFO("element " << element << ", " << size << " bytes");
      CHECK(shuffled == reference_shuffle(in, element));
      jobperf::h5::unshuffle(shuffled.data(), back.data(), element, size);
      CHECK(back == in);
    }
}

TEST_CASE("adler32 equals zlib's at every length and at the sums' worst case") {
  const auto random = random_bytes(70000, 7);
  const Bytes ones(70000, 0xFF);  // the largest sums: where 32-bit lanes would overflow first
  for (const Bytes* data : {&random, &ones})
    for (std::size_t size : {0, 1, 15, 31, 32, 33, 5535, 5536, 5537, 5552, 5553, 11072, 11073, 65536, 70000}) {
      INFO(size << " bytes of " << (data == &ones ? "0xFF" : "random"));
      CHECK(jobperf::h5::adler32(1, data->data(), size) == ::adler32(1, data->data(), static_cast<uInt>(size)));
      CHECK(jobperf::h5::adler32((12345u << 16 | 54321u), data->data(), size) ==
            ::adler32((12345u << 16 | 54321u), data->data(), static_cast<uInt>(size)));
    }
}

TEST_CASE("zlib_compress makes compress2's stream, byte for byte") {
  const auto series = series_bytes(3600), random = random_bytes(30000, 3);
  const Bytes empty, zeros(4096, 0);
  for (const Bytes* data : {&series, &random, &empty, &zeros})
    for (int level : {0, 1, 2, 5, 6, 9}) {
      uLongf expected_size = compressBound(static_cast<uLong>(data->size()));
      Bytes expected(expected_size), ours(expected_size);
      REQUIRE(compress2(expected.data(), &expected_size, data->data(), static_cast<uLong>(data->size()), level) == Z_OK);
      expected.resize(expected_size);
      const auto size = jobperf::h5::zlib_compress(data->data(), data->size(), ours.data(), ours.size(), level);
      ours.resize(size);
      INFO(data->size() << " bytes at level " << level);
      CHECK(ours == expected);
    }
}

TEST_CASE("zlib_compress says 0 where the stream would not fit, as compress2 fails") {
  const auto random = random_bytes(10000, 11);
  Bytes out(random.size());  // incompressible: the stream is longer than its input
  uLongf size = static_cast<uLongf>(out.size());
  REQUIRE(compress2(out.data(), &size, random.data(), static_cast<uLong>(random.size()), 1) == Z_BUF_ERROR);
  CHECK(jobperf::h5::zlib_compress(random.data(), random.size(), out.data(), out.size(), 1) == 0);
  CHECK(jobperf::h5::zlib_compress(random.data(), random.size(), out.data(), 5, 1) == 0);
  // And the same state then compresses the next chunk right.
  const auto series = series_bytes(1000);
  Bytes ours(compressBound(8000)), expected(compressBound(8000));
  uLongf expected_size = static_cast<uLongf>(expected.size());
  compress2(expected.data(), &expected_size, series.data(), 8000, 1);
  expected.resize(expected_size);
  ours.resize(jobperf::h5::zlib_compress(series.data(), series.size(), ours.data(), ours.size(), 1));
  CHECK(ours == expected);
}
