// Small, allocation-free helpers to read and parse procfs/sysfs text files.
// Sources keep files open and re-read them with pread: a third of the cost
// of open+read+close per sample (DESIGN.md, measured).
#pragma once
#include <charconv>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace jobperf::collect {

class KeptOpenFile {
 public:
  KeptOpenFile() = default;
  explicit KeptOpenFile(const std::string& path);
  KeptOpenFile(KeptOpenFile&& o) noexcept;
  KeptOpenFile& operator=(KeptOpenFile&& o) noexcept;
  KeptOpenFile(const KeptOpenFile&) = delete;
  KeptOpenFile& operator=(const KeptOpenFile&) = delete;
  ~KeptOpenFile();

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int error() const { return error_; }  // errno of the last failure
  // Reads the whole file from offset 0 into `buffer`; empty view on failure.
  std::string_view read(std::string& buffer);

 private:
  int fd_ = -1;
  int error_ = 0;
};

// Calls `visit(name)` for each entry (not . and ..) of an open directory,
// re-read from its start. Usually one getdents64 call: procfs fills the
// buffer until it is full, so room left in it means the end was reached.
// False if the directory cannot be read (its process has gone).
bool scan_directory(int fd, const std::function<void(std::string_view)>& visit);

// Whole-file read for files read once (discovery, hardware facts).
bool read_file(const std::string& path, std::string& out);
// The file's first line without its newline, or "" if unreadable.
std::string read_line(const std::string& path);
// Names in a directory (not . and ..), sorted; empty if it cannot be read.
std::vector<std::string> list_directory(const std::string& path);

// Splits on whitespace, one token per call.
class Tokens {
 public:
  explicit Tokens(std::string_view text) : rest_(text) {}
  std::string_view next();
  bool done() const { return rest_.find_first_not_of(" \t\n") == std::string_view::npos; }

 private:
  std::string_view rest_;
};

inline std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
inline std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Value after "key" in "key: value [kB]" files (status, meminfo, io); the
// search starts at `hint` so fields read in file order cost one pass.
bool keyed_value(std::string_view text, std::string_view key, std::uint64_t& value, std::size_t& hint);

// The counters of /proc/PID/io.
struct IoCounters {
  std::uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0, read_bytes = 0, write_bytes = 0, cancelled_write_bytes = 0;
};
IoCounters parse_proc_io(std::string_view text);

// The fields of a /proc/PID/stat (or task/TID/stat) line, numbered as in
// proc(5): field[4] is ppid, field[14] utime, field[22] starttime... The
// command name may hold spaces and parentheses: it ends at the last ')'.
struct ProcStat {
  std::string_view comm;
  std::uint64_t field[53] = {};
};
bool parse_proc_stat(std::string_view text, ProcStat& out);

long clock_ticks_per_second();
long page_size();

}  // namespace jobperf::collect
