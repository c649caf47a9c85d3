#include "formats/hdf5_filters.hpp"

#include <hdf5.h>
#include <zlib.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace jobperf::h5 {
namespace {

// ---------------------------------------------------------------- shuffle

#if defined(__x86_64__)
// Transposes 8 x 8 16-bit words: word k of r[b] becomes word b of r[k].
void transpose_words(__m128i r[8]) {
  __m128i t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm_unpacklo_epi16(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm_unpackhi_epi16(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 2; ++k) {
    u[4 * k] = _mm_unpacklo_epi32(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = _mm_unpackhi_epi32(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = _mm_unpacklo_epi32(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = _mm_unpackhi_epi32(t[4 * k + 1], t[4 * k + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    r[2 * k] = _mm_unpacklo_epi64(u[k], u[k + 4]);
    r[2 * k + 1] = _mm_unpackhi_epi64(u[k], u[k + 4]);
  }
}

// Shuffles 16 elements of 8 bytes at a time (SSE2, in every x86-64): each
// register's two elements get their bytes interleaved (word b = byte b of
// both), then a word transpose gathers word b of all eight registers, that
// is byte b of the 16 elements. Returns how many elements it did.
std::size_t shuffle_8(const unsigned char* in, unsigned char* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i r[8];
    for (int k = 0; k < 8; ++k) {
      const __m128i two = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i * 8 + 16 * k));
      r[k] = _mm_unpacklo_epi8(two, _mm_srli_si128(two, 8));
    }
    transpose_words(r);
    for (int b = 0; b < 8; ++b) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + b * n + i), r[b]);
  }
  return i;
}

// The reverse: the word transpose, then each register's interleaved bytes
// parted again into its two elements.
std::size_t unshuffle_8(const unsigned char* in, unsigned char* out, std::size_t n) {
  std::size_t i = 0;
  const __m128i low_bytes = _mm_set1_epi16(0x00FF);
  for (; i + 16 <= n; i += 16) {
    __m128i r[8];
    for (int b = 0; b < 8; ++b) r[b] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + b * n + i));
    transpose_words(r);
    for (int k = 0; k < 8; ++k) {
      const __m128i first = _mm_and_si128(r[k], low_bytes), second = _mm_srli_epi16(r[k], 8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * 8 + 16 * k), _mm_packus_epi16(first, second));
    }
  }
  return i;
}
#else
std::size_t shuffle_8(const unsigned char*, unsigned char*, std::size_t) { return 0; }
std::size_t unshuffle_8(const unsigned char*, unsigned char*, std::size_t) { return 0; }
#endif

// Shuffles (element order to byte planes) or unshuffles: 16 elements at a
// time where they are 8 bytes, the rest byte by byte as HDF5 does, then the
// trailing partial element as it is.
template <bool kUnshuffle>
void reorder(const unsigned char* in, unsigned char* out, std::size_t element_size, std::size_t size) {
  const std::size_t n = element_size ? size / element_size : 0;
  std::size_t from = 0;
  if (element_size == 8) from = kUnshuffle ? unshuffle_8(in, out, n) : shuffle_8(in, out, n);
  for (std::size_t b = 0; b < element_size; ++b)
    for (std::size_t i = from; i < n; ++i) {
      const std::size_t in_element = i * element_size + b, in_plane = b * n + i;
      if (kUnshuffle) out[in_element] = in[in_plane];
      else out[in_plane] = in[in_element];
    }
  if (size > n * element_size) std::memcpy(out + n * element_size, in + n * element_size, size - n * element_size);
}

// ---------------------------------------------------------------- adler32

constexpr std::uint32_t kAdlerBase = 65521;
constexpr std::size_t kAdlerMax = 5552;  // bytes before the sums must be reduced (zlib's NMAX)

std::uint32_t adler32_bytes(std::uint32_t s1, std::uint32_t s2, const unsigned char* p, std::size_t n) {
  while (n > 0) {
    const std::size_t run = std::min(n, kAdlerMax);
    for (std::size_t i = 0; i < run; ++i) s1 += p[i], s2 += s1;
    s1 %= kAdlerBase, s2 %= kAdlerBase;
    p += run, n -= run;
  }
  return (s2 << 16) | s1;
}

#if defined(__x86_64__)
// 32 bytes per step. Over n steps, byte k of step j adds to s2 its value
// times (32 - k) + 32 (n - 1 - j): the first term by multiply-add with the
// weights 32..1, the second by adding the byte sums so far before each step
// (v_prefix) and multiplying by 32 at the end.
__attribute__((target("ssse3"))) std::uint32_t adler32_ssse3(std::uint32_t adler, const unsigned char* p,
                                                            std::size_t n) {
  std::uint32_t s1 = adler & 0xFFFF, s2 = adler >> 16;
  constexpr std::size_t kStep = 32;
  const __m128i weights_lo = _mm_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17);
  const __m128i weights_hi = _mm_setr_epi8(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  const __m128i zero = _mm_setzero_si128(), ones = _mm_set1_epi16(1);
  auto sum_lanes = [](__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    return static_cast<std::uint32_t>(_mm_cvtsi128_si32(v));
  };
  std::size_t steps = n / kStep;
  n -= steps * kStep;
  while (steps > 0) {
    std::size_t run = std::min(steps, kAdlerMax / kStep);  // 5536 bytes: the sums stay within 32 bits
    steps -= run;
    __m128i v_prefix = _mm_cvtsi32_si128(static_cast<int>(s1 * run));
    __m128i v_s1 = zero, v_s2 = _mm_cvtsi32_si128(static_cast<int>(s2));
    do {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
      v_prefix = _mm_add_epi32(v_prefix, v_s1);
      v_s1 = _mm_add_epi32(v_s1, _mm_add_epi32(_mm_sad_epu8(lo, zero), _mm_sad_epu8(hi, zero)));
      v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(lo, weights_lo), ones));
      v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(hi, weights_hi), ones));
      p += kStep;
    } while (--run > 0);
    s2 = sum_lanes(_mm_add_epi32(v_s2, _mm_slli_epi32(v_prefix, 5))) % kAdlerBase;
    s1 = (s1 + sum_lanes(v_s1)) % kAdlerBase;
  }
  return adler32_bytes(s1, s2, p, n);
}
const bool kHaveSsse3 = __builtin_cpu_supports("ssse3");
#endif

// ---------------------------------------------------------------- the filters

// HDF5 frees the buffer a filter is given and keeps the one it returns, both
// from its own allocator.
void replace_buffer(void** buf, std::size_t* buf_size, void* out, std::size_t out_size) {
  H5free_memory(*buf);
  *buf = out;
  *buf_size = out_size;
}

// As H5Z_set_local_shuffle: the dataset's element size becomes the filter's
// parameter, stored with the dataset.
herr_t shuffle_set_local(hid_t dcpl, hid_t type, hid_t) {
  unsigned flags = 0, values[1] = {0};
  std::size_t count = 1;
  if (H5Pget_filter_by_id2(dcpl, H5Z_FILTER_SHUFFLE, &flags, &count, values, 0, nullptr, nullptr) < 0) return -1;
  values[0] = static_cast<unsigned>(H5Tget_size(type));
  if (values[0] == 0) return -1;
  return H5Pmodify_filter(dcpl, H5Z_FILTER_SHUFFLE, flags, 1, values);
}

// As H5Z_filter_shuffle: cd_values[0] is the element size; one-byte
// elements and chunks of one element are left as they are.
std::size_t shuffle_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[], std::size_t nbytes,
                           std::size_t* buf_size, void** buf) {
  if (cd_nelmts != 1 || cd_values[0] == 0) return 0;
  const std::size_t element = cd_values[0];
  if (element <= 1 || nbytes / element <= 1) return nbytes;
  auto* out = static_cast<unsigned char*>(H5allocate_memory(nbytes, false));
  if (!out) return 0;
  auto* in = static_cast<const unsigned char*>(*buf);
  if (flags & H5Z_FLAG_REVERSE) unshuffle(in, out, element, nbytes);
  else shuffle(in, out, element, nbytes);
  replace_buffer(buf, buf_size, out, nbytes);
  return nbytes;
}

// As H5Z_filter_deflate: cd_values[0] is the level. Compressing, the zlib
// stream goes into a buffer of compressBound(nbytes), as HDF5 1.10 does;
// decompressing is HDF5's own way (inflate, doubling the buffer as needed).
std::size_t deflate_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[], std::size_t nbytes,
                           std::size_t* buf_size, void** buf) {
  if (cd_nelmts != 1 || cd_values[0] > 9) return 0;
  const auto* in = static_cast<const unsigned char*>(*buf);
  if (flags & H5Z_FLAG_REVERSE) {
    std::size_t capacity = *buf_size;
    auto* out = static_cast<unsigned char*>(H5allocate_memory(capacity, false));
    if (!out) return 0;
    z_stream z{};
    z.next_in = const_cast<unsigned char*>(in);
    z.avail_in = static_cast<uInt>(nbytes);
    z.next_out = out;
    z.avail_out = static_cast<uInt>(capacity);
    if (inflateInit(&z) != Z_OK) return H5free_memory(out), 0;
    for (;;) {
      const int status = inflate(&z, Z_SYNC_FLUSH);
      if (status == Z_STREAM_END) break;
      if (status != Z_OK) return inflateEnd(&z), H5free_memory(out), 0;
      if (z.avail_out == 0) {
        auto* bigger = static_cast<unsigned char*>(H5resize_memory(out, capacity * 2));
        if (!bigger) return inflateEnd(&z), H5free_memory(out), 0;
        out = bigger;
        z.next_out = out + z.total_out;
        z.avail_out = static_cast<uInt>(capacity * 2 - z.total_out);
        capacity *= 2;
      }
    }
    const std::size_t size = z.total_out;
    inflateEnd(&z);
    replace_buffer(buf, buf_size, out, capacity);
    return size;
  }
  const std::size_t capacity = compressBound(static_cast<uLong>(nbytes));
  auto* out = static_cast<unsigned char*>(H5allocate_memory(capacity, false));
  if (!out) return 0;
  const std::size_t size = zlib_compress(in, nbytes, out, capacity, static_cast<int>(cd_values[0]));
  if (size == 0) return H5free_memory(out), 0;
  replace_buffer(buf, buf_size, out, capacity);
  return size;
}

// Each thread's deflate state, kept from chunk to chunk: compress2 sets up
// and frees its 270 KiB of state for every chunk.
struct Deflater {
  z_stream z{};
  int level = -1;
  ~Deflater() {
    if (level >= 0) deflateEnd(&z);
  }
  // A raw deflate stream (no zlib header or checksum) at `level`, reset.
  z_stream* at(int wanted) {
    if (level == wanted) return deflateReset(&z) == Z_OK ? &z : nullptr;
    if (level >= 0) deflateEnd(&z), level = -1;
    z = {};
    // compress2's settings: 32 KiB window, memLevel 8, default strategy.
    if (deflateInit2(&z, wanted, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return nullptr;
    level = wanted;
    return &z;
  }
};

}  // namespace

void shuffle(const unsigned char* in, unsigned char* out, std::size_t element_size, std::size_t size) {
  reorder<false>(in, out, element_size, size);
}

void unshuffle(const unsigned char* in, unsigned char* out, std::size_t element_size, std::size_t size) {
  reorder<true>(in, out, element_size, size);
}

std::uint32_t adler32(std::uint32_t adler, const unsigned char* data, std::size_t size) {
#if defined(__x86_64__)
  if (kHaveSsse3) return adler32_ssse3(adler, data, size);
#endif
  return adler32_bytes(adler & 0xFFFF, adler >> 16, data, size);
}

// compress2's stream: the two-byte header deflateInit writes (32 KiB window;
// the level's flag: 0 below 2, 1 below 6, 2 at 6, 3 above), the raw deflate
// stream, then the adler32 of the input, big-endian.
std::size_t zlib_compress(const unsigned char* in, std::size_t size, unsigned char* out, std::size_t capacity,
                          int level) {
  constexpr std::size_t kHeader = 2, kTrailer = 4;
  if (capacity < kHeader + kTrailer || size > UINT32_MAX) return 0;
  thread_local Deflater deflater;
  z_stream* z = deflater.at(level);
  if (!z) return 0;
  const unsigned level_flag = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
  unsigned header = (Z_DEFLATED + ((MAX_WBITS - 8) << 4)) << 8 | level_flag << 6;
  header += 31 - header % 31;
  out[0] = static_cast<unsigned char>(header >> 8), out[1] = static_cast<unsigned char>(header);
  z->next_in = const_cast<unsigned char*>(in);
  z->avail_in = static_cast<uInt>(size);
  z->next_out = out + kHeader;
  z->avail_out = static_cast<uInt>(std::min<std::size_t>(capacity - kHeader - kTrailer, UINT32_MAX));
  if (deflate(z, Z_FINISH) != Z_STREAM_END) return 0;  // out of room
  unsigned char* end = z->next_out;
  const std::uint32_t sum = adler32(1, in, size);
  for (int shift = 24; shift >= 0; shift -= 8) *end++ = static_cast<unsigned char>(sum >> shift);
  return static_cast<std::size_t>(end - out);
}

// HDF5 refuses to replace its predefined filters through H5Zregister; its
// internal H5Z_register, the same call without that check and exported by
// HDF5 1.8 to 1.14, does it. Where it is missing, HDF5's filters stay.
bool use_fast_filters() {
  static const bool in_place = [] {
    // HDF5's own names: a file's filter pipeline may store them.
    static const H5Z_class2_t kShuffle = {H5Z_CLASS_T_VERS, H5Z_FILTER_SHUFFLE, 1, 1, "shuffle", nullptr,
                                          shuffle_set_local, shuffle_filter};
    static const H5Z_class2_t kDeflate = {H5Z_CLASS_T_VERS, H5Z_FILTER_DEFLATE, 1, 1, "deflate", nullptr, nullptr,
                                          deflate_filter};
    unsigned major = 0, minor = 0, release = 0;
    if (H5open() < 0 || H5get_libversion(&major, &minor, &release) < 0 || major != 1 || minor < 8 || minor > 14)
      return false;
    using Register = herr_t (*)(const H5Z_class2_t*);
    auto register_filter = reinterpret_cast<Register>(dlsym(RTLD_DEFAULT, "H5Z_register"));
    return register_filter && register_filter(&kShuffle) >= 0 && register_filter(&kDeflate) >= 0;
  }();
  return in_place;
}

}  // namespace jobperf::h5
