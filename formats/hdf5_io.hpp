// Thin RAII layer over the HDF5 C API, used by job_file.cpp. Every failure
// throws H5Error naming what was being done, instead of HDF5's error stack.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace jobperf::h5 {

struct H5Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

hid_t check(hid_t id, const std::string& what);
void check(herr_t status, const std::string& what, int);

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    reset();
    id_ = std::exchange(o.id_, -1);
    closer_ = o.closer_;
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

Handle file_handle(hid_t id, const std::string& what);
Handle group_handle(hid_t id, const std::string& what);
Handle dataset_handle(hid_t id, const std::string& what);
Handle space_handle(hid_t id, const std::string& what);
Handle plist_handle(hid_t id, const std::string& what);
Handle type_handle(hid_t id, const std::string& what);

void silence_error_stack();

// jobperf's files are in HDF5 1.10's format: its metadata (all but the
// global heaps of variable-length data) carries checksums, so damage there is
// refused where 1.8's format has it trusted, and it takes half the bytes (a
// small job's file: 229 KiB, not 531). Readers need HDF5 1.10 or later
// (2016: h5py, netCDF-4 and h5dump built on it).
void set_file_format(hid_t fapl);
// How a job file is opened for writing in parallel: MPI-IO on `comm`,
// collective metadata reads and writes, jobperf's file format. The
// write-limit bench opens its file the same way.
Handle parallel_file_access(MPI_Comm comm);

// While one lives, a crash (SIGSEGV, SIGBUS, SIGFPE, or SIGABRT from glibc
// finding its heap overrun) first prints which file was being read: HDF5
// trusts a file's metadata, so a damaged file can crash it, and in a campaign
// of thousands of files the name is what the user needs. The signal then
// goes on to the handler it had before (the default: the usual crash and
// core dump), so a crash that is a bug still looks like one.
class NameFileInCrash {
 public:
  explicit NameFileInCrash(const std::string& path);
  ~NameFileInCrash();
  NameFileInCrash(const NameFileInCrash&) = delete;
  NameFileInCrash& operator=(const NameFileInCrash&) = delete;

 private:
  bool outermost_;
};

// libhdf5 1.10 loops forever on some damaged metadata: a global heap object
// of size 0 (variable-length strings live in global heaps) stops its parser
// from moving on. A read of one attribute takes microseconds of CPU, so one
// that has taken seconds of it is that loop; slow storage never looks like
// it, as a thread waiting for I/O uses no CPU. While one lives, such a read
// ends the program (exit 1) naming what was read, and the file when a
// NameFileInCrash names one: a reader stops with the damaged file's name
// instead of hanging until the batch system kills it (jobperf-analyze's
// reading child, which then leaves that file out: analyze/read_apart.hpp).
class EndLoopingRead {
 public:
  static constexpr double kCpuSeconds = 2.0;
  explicit EndLoopingRead(const std::string& what, double cpu_seconds = kCpuSeconds);
  ~EndLoopingRead();
  EndLoopingRead(const EndLoopingRead&) = delete;
  EndLoopingRead& operator=(const EndLoopingRead&) = delete;

 private:
  bool armed_ = false;
  timer_t timer_{};
};

Handle fixed_string_type(std::size_t length);
bool link_exists(hid_t loc, const std::string& path);

void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, double value);
void write_attribute(hid_t obj, const std::string& name, std::int64_t value);
std::string read_string_attribute(hid_t obj, const std::string& name);
double read_double_attribute(hid_t obj, const std::string& name);
std::int64_t read_int_attribute(hid_t obj, const std::string& name);
std::vector<std::string> attribute_names(hid_t obj);

std::vector<std::string> child_names(hid_t group);
std::vector<hsize_t> dataset_shape(hid_t dataset);
std::vector<double> read_doubles(hid_t dataset);
std::vector<std::int64_t> read_int64s(hid_t dataset);
std::vector<std::string> read_fixed_strings(hid_t dataset);

}  // namespace jobperf::h5
