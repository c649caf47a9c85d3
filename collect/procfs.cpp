#include "collect/procfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

namespace jobperf::collect {

KeptOpenFile::KeptOpenFile(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) error_ = errno;
}
KeptOpenFile::KeptOpenFile(KeptOpenFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), error_(o.error_) {}
KeptOpenFile& KeptOpenFile::operator=(KeptOpenFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    error_ = o.error_;
  }
  return *this;
}
KeptOpenFile::~KeptOpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string_view KeptOpenFile::read(std::string& buffer) {
  if (fd_ < 0) return {};
  if (buffer.size() < 4096) buffer.resize(4096);
  std::size_t used = 0;
  for (;;) {
    ssize_t n = ::pread(fd_, buffer.data() + used, buffer.size() - used, static_cast<off_t>(used));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return {};
    }
    used += static_cast<std::size_t>(n);
    if (n == 0 || used < buffer.size()) break;
    buffer.resize(buffer.size() * 2);  // file larger than the buffer: grow and go on
  }
  return {buffer.data(), used};
}

bool scan_directory(int fd, const std::function<void(std::string_view)>& visit) {
  if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) return false;
  alignas(8) char buffer[8192];
  constexpr long kLargestEntry = offsetof(dirent64, d_name) + 256 + 8;  // a 255-byte name, NUL, padding
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buffer, sizeof buffer);
    if (n < 0) return false;
    for (long off = 0; off < n;) {
      auto* entry = reinterpret_cast<dirent64*>(buffer + off);
      std::string_view name(entry->d_name);
      if (name != "." && name != "..") visit(name);
      off += entry->d_reclen;
    }
    if (n == 0 || n + kLargestEntry <= static_cast<long>(sizeof buffer)) return true;
  }
}

bool read_file(const std::string& path, std::string& out) {
  KeptOpenFile f(path);
  std::string buffer;
  auto view = f.read(buffer);
  if (!f.is_open() || f.error()) return false;
  out.assign(view);
  return true;
}

std::string read_line(const std::string& path) {
  std::string text;
  if (!read_file(path, text)) return {};
  return text.substr(0, text.find('\n'));
}

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* dir = opendir(path.c_str())) {
    while (auto* entry = readdir(dir))
      if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) names.emplace_back(entry->d_name);
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view Tokens::next() {
  auto start = rest_.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) {
    rest_ = {};
    return {};
  }
  auto end = rest_.find_first_of(" \t\n", start);
  if (end == std::string_view::npos) end = rest_.size();
  auto token = rest_.substr(start, end - start);
  rest_.remove_prefix(end);
  return token;
}

bool keyed_value(std::string_view text, std::string_view key, std::uint64_t& value, std::size_t& hint) {
  for (int pass = 0; pass < 2; ++pass) {
    std::size_t pos = text.find(key, hint);
    while (pos != std::string_view::npos) {
      bool line_start = pos == 0 || text[pos - 1] == '\n';
      std::size_t after = pos + key.size();
      if (line_start && after < text.size() && text[after] == ':') {
        auto start = text.find_first_not_of(" \t", after + 1);
        if (start == std::string_view::npos) return false;
        auto end = text.find_first_not_of("0123456789", start);
        value = to_u64(text.substr(start, end - start));
        hint = end == std::string_view::npos ? text.size() : end;
        return true;
      }
      pos = text.find(key, pos + 1);
    }
    hint = 0;  // not after the hint: search from the top once
  }
  return false;
}

IoCounters parse_proc_io(std::string_view text) {
  IoCounters io;
  std::size_t hint = 0;
  keyed_value(text, "rchar", io.rchar, hint);
  keyed_value(text, "wchar", io.wchar, hint);
  keyed_value(text, "syscr", io.syscr, hint);
  keyed_value(text, "syscw", io.syscw, hint);
  keyed_value(text, "read_bytes", io.read_bytes, hint);
  keyed_value(text, "write_bytes", io.write_bytes, hint);
  keyed_value(text, "cancelled_write_bytes", io.cancelled_write_bytes, hint);
  return io;
}

bool parse_proc_stat(std::string_view text, ProcStat& out) {
  auto open = text.find('('), close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return false;
  out.comm = text.substr(open + 1, close - open - 1);
  Tokens t(text.substr(close + 1));
  t.next();  // field 3, the state letter
  for (int i = 4; i < 53; ++i) out.field[i] = to_u64(t.next());
  return true;
}

long clock_ticks_per_second() {
  static const long ticks = sysconf(_SC_CLK_TCK);
  return ticks;
}
long page_size() {
  static const long size = sysconf(_SC_PAGESIZE);
  return size;
}

}  // namespace jobperf::collect
