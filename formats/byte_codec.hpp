// Little-endian encoding of the raw stream's payloads and of the messages
// ranks send each other. Decoding is bounds checked: a damaged payload throws
// DecodeError instead of reading past it.
//
// A message's layout is written once, for both directions: Encoder and
// Decoder both take `io(field, ...)` (numbers, strings, and vectors, arrays,
// pairs and maps of them) and `io.each(vector, fn)` (a vector of structs,
// fn listing one's fields), so one function template serves to send and to
// receive, and the two cannot drift apart:
//
//   void transfer(auto& io, MessageOf<Row> auto& r) {
//     io(r.rank, r.host);
//     io.each(r.counts, [&](auto& c) { io(c.name, c.n); });
//   }
#pragma once
#include <array>
#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace jobperf {

static_assert(std::endian::native == std::endian::little, "jobperf streams are little-endian");

// A Struct, const to be sent or not to be received into.
template <typename T, typename Struct>
concept MessageOf = std::same_as<std::remove_const_t<T>, Struct>;

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

  // The symmetric interface (see the top of this file).
  template <typename... T>
  void operator()(const T&... values) {
    (put_value(values), ...);
  }
  template <typename T, typename Fn, typename Count = std::uint32_t>  // Count: the count's width on the wire
  void each(const std::vector<T>& items, Fn&& fields, Count = {}) {
    put(static_cast<Count>(items.size()));
    for (const auto& item : items) fields(item);
  }
  // A value with a codec of its own (a layout the raw stream also uses).
  template <typename T, typename Put, typename Get>
  void with(const T& value, Put put_fn, Get) {
    put_fn(*this, value);
  }

 private:
  template <typename T>
  void put_value(const T& v) {
    if constexpr (std::is_same_v<T, std::string>) put_string(v);
    else if constexpr (requires { v.first; v.second; }) put_value(v.first), put_value(v.second);
    else if constexpr (requires { typename T::value_type; v.size(); v.begin(); }) {  // vector, array, map
      put(static_cast<std::uint32_t>(v.size()));
      for (const auto& item : v) put_value(item);
    } else put(v);
  }
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
  // The symmetric interface (see the top of this file); vectors and maps
  // are appended to, so that messages of several ranks gather in one.
  template <typename... T>
  void operator()(T&... values) {
    (get_value(values), ...);
  }
  template <typename T, typename Fn, typename Count = std::uint32_t>
  void each(std::vector<T>& items, Fn&& fields, Count = {}) {
    for (auto n = get<Count>(); n > 0; --n) fields(items.emplace_back());
  }
  template <typename T, typename Put, typename Get>
  void with(T& value, Put, Get get_fn) {
    value = get_fn(*this);
  }

  const char* position() const { return p_; }
  void skip(std::size_t n) { need(n); p_ += n; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

 private:
  template <typename T>
  void get_value(T& v) {
    if constexpr (std::is_same_v<T, std::string>) v = get_string();
    else if constexpr (requires { v.first; v.second; }) get_value(v.first), get_value(v.second);
    else if constexpr (requires { v.emplace_back(); }) {
      for (auto n = get<std::uint32_t>(); n > 0; --n) get_value(v.emplace_back());
    } else if constexpr (requires { typename T::mapped_type; }) {
      for (auto n = get<std::uint32_t>(); n > 0; --n) {
        std::pair<typename T::key_type, typename T::mapped_type> item;
        get_value(item);
        v.insert_or_assign(std::move(item.first), std::move(item.second));
      }
    } else if constexpr (requires { std::tuple_size<T>::value; }) {  // std::array: its count, then its values
      if (get<std::uint32_t>() != v.size()) throw DecodeError("array of the wrong length");
      for (auto& item : v) get_value(item);
    } else v = get<T>();
  }
  void need(std::size_t n) const {
    if (remaining() < n) throw DecodeError("payload ends early");
  }
  const char* p_;
  const char* end_;
};

}  // namespace jobperf
