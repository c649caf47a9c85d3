// Little-endian encoding of the raw stream's payloads. Decoding is bounds
// checked: a damaged payload throws DecodeError instead of reading past it.
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jobperf {

static_assert(std::endian::native == std::endian::little, "jobperf streams are little-endian");

struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Encoder {
 public:
  explicit Encoder(std::vector<char>& out) : out_(out) {}
  template <typename T>
  void put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = reinterpret_cast<const char*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put(static_cast<std::uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }

 private:
  std::vector<char>& out_;
};

class Decoder {
 public:
  Decoder(const char* data, std::size_t size) : p_(data), end_(data + size) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return value;
  }
  std::string get_string() {
    auto n = get<std::uint32_t>();
    need(n);
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  const char* position() const { return p_; }
  void skip(std::size_t n) { need(n); p_ += n; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

 private:
  void need(std::size_t n) const {
    if (remaining() < n) throw DecodeError("payload ends early");
  }
  const char* p_;
  const char* end_;
};

}  // namespace jobperf
