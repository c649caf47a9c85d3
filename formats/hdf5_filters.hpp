#pragma once
// HDF5's shuffle and deflate filters, done faster and byte for byte the same.
//
// Why: writing a compressed job file, HDF5's own shuffle (a byte-at-a-time
// loop) and zlib's adler32 (run by compress2 over every chunk) took a fifth
// of jobperf-reduce's time. These filters keep the same filter ids and
// parameters and write the same bytes (shuffle as HDF5 does it; deflate as
// compress2 does it, with the checksum computed 32 bytes at a time), so every
// reader (h5py, h5dump, HDF5 of any version) reads them as before.
#include <cstddef>
#include <cstdint>

namespace jobperf::h5 {

// Puts these filters in place of HDF5's for this process (once; later calls
// return the first's answer): true when they are, false where this HDF5
// cannot take them (its own stay). Reading through HDF5 then uses them too.
bool use_fast_filters();

// HDF5's shuffle of `size` bytes of elements of `element_size` bytes (a
// trailing partial element is copied as is), and its reverse.
void shuffle(const unsigned char* in, unsigned char* out, std::size_t element_size, std::size_t size);
void unshuffle(const unsigned char* in, unsigned char* out, std::size_t element_size, std::size_t size);

// zlib's adler32 checksum (start with 1).
std::uint32_t adler32(std::uint32_t adler, const unsigned char* data, std::size_t size);

// The zlib stream compress2(out, &n, in, size, level) makes, its length, or
// 0 where it would not fit in `capacity` bytes (compress2's Z_BUF_ERROR).
std::size_t zlib_compress(const unsigned char* in, std::size_t size, unsigned char* out, std::size_t capacity, int level);

}  // namespace jobperf::h5
