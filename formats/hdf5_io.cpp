#include "formats/hdf5_io.hpp"

#include <cerrno>  // program_invocation_short_name
#include <csignal>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace jobperf::h5 {

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw H5Error("HDF5: cannot " + what);
  return id;
}
void check(herr_t status, const std::string& what, int) {
  if (status < 0) throw H5Error("HDF5: cannot " + what);
}

Handle file_handle(hid_t id, const std::string& what) { return {check(id, what), H5Fclose}; }
Handle group_handle(hid_t id, const std::string& what) { return {check(id, what), H5Gclose}; }
Handle dataset_handle(hid_t id, const std::string& what) { return {check(id, what), H5Dclose}; }
Handle space_handle(hid_t id, const std::string& what) { return {check(id, what), H5Sclose}; }
Handle plist_handle(hid_t id, const std::string& what) { return {check(id, what), H5Pclose}; }
Handle type_handle(hid_t id, const std::string& what) { return {check(id, what), H5Tclose}; }

void silence_error_stack() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void set_file_format(hid_t fapl) {
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110), "set the file format", 0);
}

Handle parallel_file_access(MPI_Comm comm) {
  auto fapl = plist_handle(H5Pcreate(H5P_FILE_ACCESS), "create file access properties");
  check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "use MPI-IO", 0);
  check(H5Pset_all_coll_metadata_ops(fapl, true), "read metadata collectively", 0);
  check(H5Pset_coll_metadata_write(fapl, true), "write metadata collectively", 0);
  set_file_format(fapl);
  return fapl;
}

namespace {
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};  // SIGABRT: glibc finding the heap overrun
struct sigaction crash_previous[std::size(kCrashSignals)];
char crash_file[4096];  // the file being read, for the handler (no allocation there)

void write_all(const char* text) {
  for (std::size_t left = std::strlen(text); left > 0;) {
    const auto n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n, left -= static_cast<std::size_t>(n);
  }
}

void restore_crash_handlers() {
  for (std::size_t i = 0; i < std::size(kCrashSignals); ++i) sigaction(kCrashSignals[i], &crash_previous[i], nullptr);
}

const char* crash_signal_name(int signal) {  // strsignal is not signal-safe
  switch (signal) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    default: return "SIGABRT";
  }
}

extern "C" void name_file_and_crash(int signal) {
  write_all(program_invocation_short_name);
  write_all(": crashed while reading ");
  write_all(crash_file);
  write_all(" (");
  write_all(crash_signal_name(signal));
  write_all("): HDF5 crashes on damaged metadata, so the file is likely damaged (else this is a bug)\n");
  restore_crash_handlers();
  raise(signal);  // delivered to the previous handler once this one returns
}
}  // namespace

NameFileInCrash::NameFileInCrash(const std::string& path) : outermost_(crash_file[0] == '\0') {
  if (!outermost_) return;  // a read within a read: the outer file is named
  path.copy(crash_file, sizeof crash_file - 1);
  struct sigaction action {};
  action.sa_handler = name_file_and_crash;
  sigemptyset(&action.sa_mask);
  for (std::size_t i = 0; i < std::size(kCrashSignals); ++i) sigaction(kCrashSignals[i], &action, &crash_previous[i]);
}

NameFileInCrash::~NameFileInCrash() {
  if (!outermost_) return;
  restore_crash_handlers();
  std::memset(crash_file, 0, sizeof crash_file);
}

namespace {
struct sigaction loop_previous;
char loop_note[5120];  // what the handler says, written beforehand (no allocation there)

extern "C" void end_looping_read(int signal, siginfo_t* info, void*) {
  if (info->si_code != SI_TIMER) {  // not our timer's (RLIMIT_CPU's, say): as if we were not here
    sigaction(signal, &loop_previous, nullptr);
    raise(signal);
    return;
  }
  write_all(program_invocation_short_name);
  write_all(loop_note);
  _exit(1);
}
}  // namespace

EndLoopingRead::EndLoopingRead(const std::string& what, double cpu_seconds) {
  std::snprintf(loop_note, sizeof loop_note,
                ": libhdf5 spent %g s of CPU reading %s%s%s: it loops forever on some damaged metadata, so the file "
                "is damaged\n",
                cpu_seconds, what.c_str(), crash_file[0] != '\0' ? " of " : "", crash_file);
  struct sigevent event {};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGXCPU;
  // No timer (the process has used up its quota): the read goes unguarded rather than refused.
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &event, &timer_) != 0) return;
  struct sigaction action {};
  action.sa_sigaction = end_looping_read;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGXCPU, &action, &loop_previous);
  const auto whole = static_cast<time_t>(cpu_seconds);
  struct itimerspec budget {};
  budget.it_value = {whole, static_cast<long>((cpu_seconds - static_cast<double>(whole)) * 1e9)};
  timer_settime(timer_, 0, &budget, nullptr);
  armed_ = true;
}

EndLoopingRead::~EndLoopingRead() {
  if (!armed_) return;
  timer_delete(timer_);
  sigaction(SIGXCPU, &loop_previous, nullptr);
}

Handle fixed_string_type(std::size_t length) {
  auto type = type_handle(H5Tcopy(H5T_C_S1), "copy string type");
  check(H5Tset_size(type, length > 0 ? length : 1), "size string type", 0);
  check(H5Tset_strpad(type, H5T_STR_NULLPAD), "pad string type", 0);
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set string charset", 0);
  return type;
}

bool link_exists(hid_t loc, const std::string& path) { return H5Lexists(loc, path.c_str(), H5P_DEFAULT) > 0; }

namespace {
Handle scalar_space() { return space_handle(H5Screate(H5S_SCALAR), "create scalar space"); }

void write_scalar_attribute(hid_t obj, const std::string& name, hid_t type, const void* value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  auto space = scalar_space();
  Handle attr{check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "create attribute " + name),
              H5Aclose};
  check(H5Awrite(attr, type, value), "write attribute " + name, 0);
}

Handle open_attribute(hid_t obj, const std::string& name) {
  return {check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open attribute " + name), H5Aclose};
}
}  // namespace

// Variable-length strings read back as str in h5py and xarray; attributes are
// metadata, so they are allowed in parallel files (datasets are not).
void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  auto type = type_handle(H5Tcopy(H5T_C_S1), "copy string type");
  check(H5Tset_size(type, H5T_VARIABLE), "make variable string", 0);
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set string charset", 0);
  const char* p = value.c_str();
  write_scalar_attribute(obj, name, type, &p);
}
void write_attribute(hid_t obj, const std::string& name, double value) {
  write_scalar_attribute(obj, name, H5T_NATIVE_DOUBLE, &value);
}
void write_attribute(hid_t obj, const std::string& name, std::int64_t value) {
  write_scalar_attribute(obj, name, H5T_NATIVE_INT64, &value);
}

std::string read_string_attribute(hid_t obj, const std::string& name) {
  auto attr = open_attribute(obj, name);
  Handle file_type{check(H5Aget_type(attr), "type of attribute " + name), H5Tclose};
  if (H5Tget_class(file_type) != H5T_STRING) throw H5Error("HDF5: attribute " + name + " is not a string");
  if (H5Tis_variable_str(file_type) > 0) {
    auto type = type_handle(H5Tcopy(H5T_C_S1), "copy string type");
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5Tget_cset(file_type));  // HDF5 converts no charsets
    char* p = nullptr;
    {
      EndLoopingRead guard("attribute " + name);  // from a global heap, where damage can make libhdf5 loop
      check(H5Aread(attr, type, &p), "read attribute " + name, 0);
    }
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  std::string s(H5Tget_size(file_type), '\0');
  check(H5Aread(attr, file_type, s.data()), "read attribute " + name, 0);
  return s.substr(0, s.find('\0'));
}
double read_double_attribute(hid_t obj, const std::string& name) {
  double v = 0;
  check(H5Aread(open_attribute(obj, name), H5T_NATIVE_DOUBLE, &v), "read attribute " + name, 0);
  return v;
}
std::int64_t read_int_attribute(hid_t obj, const std::string& name) {
  std::int64_t v = 0;
  check(H5Aread(open_attribute(obj, name), H5T_NATIVE_INT64, &v), "read attribute " + name, 0);
  return v;
}

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  return names;
}

std::vector<std::string> child_names(hid_t group) {
  std::vector<std::string> names;
  H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  return names;
}

std::vector<hsize_t> dataset_shape(hid_t dataset) {
  auto space = space_handle(H5Dget_space(dataset), "get dataspace");
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

namespace {
// "read dataset /ranks/cpu_time": a damaged chunk fails its checksum or inflate; say which.
std::string reading(hid_t dataset) {
  char name[512] = "";
  H5Iget_name(dataset, name, sizeof name);
  return std::string("read dataset ") + name;
}

// The values a dataset's shape claims, held against what its file could
// hold: deflate packs at most about 1032:1, so a shape that claims more is
// damaged metadata, not memory to allocate (one asked for 10^16 values).
std::size_t element_count(hid_t dataset, std::size_t value_bytes) {
  constexpr double kBestCompression = 1100;
  double n = 1;
  for (auto d : dataset_shape(dataset)) n *= static_cast<double>(d);
  hsize_t file_bytes = 0;
  Handle file{H5Iget_file_id(dataset), H5Fclose};
  if (file.get() >= 0) H5Fget_filesize(file, &file_bytes);
  if (n * static_cast<double>(value_bytes) > kBestCompression * static_cast<double>(file_bytes) + 1e6) {
    char claim[64];
    std::snprintf(claim, sizeof claim, "%.3g", n);
    throw H5Error("HDF5: cannot " + reading(dataset) + ": its shape claims " + claim +
                  " values, more than the file could hold (damaged)");
  }
  return static_cast<std::size_t>(n);
}

// The whole dataset into `into`; the error names it (the name looked up only then).
void read_all(hid_t dataset, hid_t memory_type, void* into) {
  if (H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, into) < 0)
    throw H5Error("HDF5: cannot " + reading(dataset));
}
}  // namespace

std::vector<double> read_doubles(hid_t dataset) {
  std::vector<double> v(element_count(dataset, sizeof(double)));
  if (!v.empty()) read_all(dataset, H5T_NATIVE_DOUBLE, v.data());
  return v;
}
std::vector<std::int64_t> read_int64s(hid_t dataset) {
  std::vector<std::int64_t> v(element_count(dataset, sizeof(std::int64_t)));
  if (!v.empty()) read_all(dataset, H5T_NATIVE_INT64, v.data());
  return v;
}
std::vector<std::string> read_fixed_strings(hid_t dataset) {
  Handle type{check(H5Dget_type(dataset), "get dataset type"), H5Tclose};
  std::size_t width = H5Tget_size(type);
  std::size_t n = element_count(dataset, width);
  std::vector<char> buffer(width * n);
  if (n > 0) read_all(dataset, type, buffer.data());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s(buffer.data() + i * width, width);
    out.push_back(s.substr(0, s.find('\0')));
  }
  return out;
}

}  // namespace jobperf::h5
