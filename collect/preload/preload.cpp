// libjobperf-preload.so: one exit record per process, short-lived ones
// included (what papiex does for EPMT). Loaded with LD_PRELOAD, it appends
// one block per process, with a single O_APPEND write, to the stream
// JOBPERF_PRELOAD_STREAM, or else JOBPERF_PRELOAD_DIR/<host>.exits.jps (the
// node's stream: `jobperf-collect --env` and `--preload` set this up):
//  - a process that exits records itself (on_exit sees the exit status, also
//    for a return from main; _exit and _Exit are interposed);
//  - a process killed by a signal cannot: its parent records it when it
//    reaps it (wait, waitpid, wait3, wait4, waitid are interposed; the wait4
//    behind them also gives the child's rusage);
//  - fork resets the child's identity; exec keeps the process (its start
//    and rusage) and counts a generation (JOBPERF_PRELOAD_EXEC);
//  - with JOBPERF_PRELOAD_THREADS=1, every thread records itself at its end;
//  - with JOBPERF_PRELOAD_PERF=1, each process counts its task clock,
//    instructions and cycles (threads included, children not: they count
//    themselves) from its last exec, and records them.
// It never changes what the host program sees: errno is kept, failures are
// silent, and nothing runs in a signal handler.
#include <dlfcn.h>
#include <linux/perf_event.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "formats/locations.hpp"
#include "formats/raw_stream.hpp"

extern char** environ;

namespace {

using jobperf::stream::ExitKind;
using jobperf::stream::ProcessExit;

// What exec hands the next image of this process: "PID GENERATION START_NS".
// The pid tells a stale value apart: a child that posix_spawn started
// (exec'd without the interposed execve) inherits its parent's value.
constexpr char kExecVariable[] = "JOBPERF_PRELOAD_EXEC";

struct State {
  bool active = false;
  pid_t pid = 0;
  std::uint32_t generation = 0;
  std::int64_t start_ns = 0;
  bool recorded = false;
  bool threads = false;
};
State g;
// Copied at load (the program may change its environment, and a process's
// tags are those it started with). Plain arrays: a std::string would be
// destroyed by exit() before the on_exit handler ran.
char g_stream[4096];
char g_tags[4096];

// perf counters of this process (JOBPERF_PRELOAD_PERF=1); -1 where unavailable.
int g_perf[3] = {-1, -1, -1};

void close_perf() {
  for (int& fd : g_perf)
    if (fd >= 0) close(fd), fd = -1;
}

void open_perf() {
  const std::pair<std::uint32_t, std::uint64_t> events[3] = {{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
                                                             {PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
                                                             {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES}};
  for (int i = 0; i < 3; ++i) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = events[i].first;
    attr.config = events[i].second;
    attr.exclude_kernel = 1;  // allowed at perf_event_paranoid 2
    attr.exclude_hv = 1;
    attr.inherit = 1;
    attr.inherit_thread = 1;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    g_perf[i] = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  }
}

std::uint64_t read_perf(int fd) {
  std::uint64_t v[3] = {};  // value, enabled, running
  if (fd < 0 || read(fd, v, sizeof v) != static_cast<ssize_t>(sizeof v) || v[2] == 0) return 0;
  return v[2] >= v[1] ? v[0] : static_cast<std::uint64_t>(static_cast<double>(v[0]) * static_cast<double>(v[1]) / static_cast<double>(v[2]));
}

std::string read_small_file(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out(8192, '\0');
  ssize_t n = read(fd, out.data(), out.size());
  close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::uint64_t value_after(const std::string& text, const char* key) {
  auto pos = text.find(key);
  return pos == std::string::npos ? 0 : std::strtoull(text.c_str() + pos + std::strlen(key), nullptr, 10);
}

// This process's start, on CLOCK_MONOTONIC, when the library was loaded
// into its first image. The kernel's start (/proc/self/stat) is a clock tick
// at or before the fork, so it can read up to a tick (10 ms) early; now, at
// load, is after the fork by the exec and the loader's work. The start lies
// between the two: the earlier of now and the end of the kernel's tick is
// never early, and late by at most the exec's time or a tick.
std::int64_t process_start_ns() {
  const std::int64_t now = jobperf::stream::monotonic_ns();
  auto stat = read_small_file("/proc/self/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return now;
  const char* p = stat.c_str() + close_paren + 2;
  for (int field = 3; field < 22 && *p; ++field) p = std::strchr(p, ' ') ? std::strchr(p, ' ') + 1 : p + std::strlen(p);
  const auto tick_ns = static_cast<std::int64_t>(1e9 / static_cast<double>(sysconf(_SC_CLK_TCK)));
  const auto ticks = static_cast<std::int64_t>(std::strtoull(p, nullptr, 10));
  return std::min(now, jobperf::stream::monotonic_from_boot((ticks + 1) * tick_ns));
}

std::int32_t rank_from_environment() {
  for (auto name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
  return -1;
}

std::uint64_t tv_ns(const timeval& tv) {
  return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(tv.tv_usec) * 1000ull;
}

void fill_rusage(ProcessExit& x, const rusage& ru) {
  x.user_ns = tv_ns(ru.ru_utime);
  x.system_ns = tv_ns(ru.ru_stime);
  x.maxrss_kb = static_cast<std::uint64_t>(ru.ru_maxrss);
  x.minflt = static_cast<std::uint64_t>(ru.ru_minflt);
  x.majflt = static_cast<std::uint64_t>(ru.ru_majflt);
  x.inblock = static_cast<std::uint64_t>(ru.ru_inblock);
  x.oublock = static_cast<std::uint64_t>(ru.ru_oublock);
  x.voluntary_ctxt = static_cast<std::uint64_t>(ru.ru_nvcsw);
  x.involuntary_ctxt = static_cast<std::uint64_t>(ru.ru_nivcsw);
}

// The process's own view of itself: identity, usage, I/O, scheduler time.
void fill_self(ProcessExit& x, const char* proc_dir, int who) {
  x.pid = static_cast<std::uint32_t>(g.pid);
  x.ppid = static_cast<std::uint32_t>(getppid());
  x.pgid = static_cast<std::uint32_t>(getpgid(0));
  x.sid = static_cast<std::uint32_t>(getsid(0));
  x.exec_generation = g.generation;
  x.rank = rank_from_environment();
  x.start_ns = g.start_ns;
  x.end_ns = jobperf::stream::monotonic_ns();
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  x.exe.assign(exe, n > 0 ? static_cast<std::size_t>(n) : 0);
  x.args = read_small_file("/proc/self/cmdline");
  while (!x.args.empty() && x.args.back() == '\0') x.args.pop_back();
  for (auto& c : x.args)
    if (c == '\0') c = ' ';
  x.tags = g_tags;
  rusage ru{};
  getrusage(who, &ru);
  fill_rusage(x, ru);
  // The peak of this image's own memory: ru_maxrss also holds the memory of
  // the image that exec replaced (a small tool started by a large program
  // would show the program's peak).
  if (auto peak_kb = value_after(read_small_file("/proc/self/status"), "VmHWM:")) x.maxrss_kb = peak_kb;
  auto io = read_small_file((std::string(proc_dir) + "/io").c_str());
  x.rchar = value_after(io, "rchar:");
  x.wchar = value_after(io, "wchar:");
  x.syscr = value_after(io, "syscr:");
  x.syscw = value_after(io, "syscw:");
  x.read_bytes = value_after(io, "\nread_bytes:");
  x.write_bytes = value_after(io, "\nwrite_bytes:");
  x.cancelled_write_bytes = value_after(io, "cancelled_write_bytes:");
  auto sched = read_small_file((std::string(proc_dir) + "/schedstat").c_str());
  char* end = nullptr;
  x.run_ns = std::strtoull(sched.c_str(), &end, 10);
  x.wait_ns = std::strtoull(end, &end, 10);
  x.timeslices = std::strtoull(end, nullptr, 10);
}

// Creates the stream with its header, atomically: the header goes to a
// private file that link() then publishes under the stream's name, so no
// process can ever append to a stream that has no header yet. Losing the race
// to another process is fine: its header is as good. The private name is the
// thread's: threads of one process ending together each need their own.
void create_stream() {
  const std::string tmp = std::string(g_stream) + ".new." + std::to_string(syscall(SYS_gettid));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;
  jobperf::stream::Header h;
  h.host = jobperf::host_name();
  if (const char* job = std::getenv("JOBPERF_JOB_ID")) h.job_id = job;
  h.pid = static_cast<std::int32_t>(g.pid);
  h.mode = "preload";
  h.collector_version = JOBPERF_VERSION;
  h.start = jobperf::stream::read_clock_anchor();
  auto start = jobperf::stream::encode_stream_start(h);
  bool written = write(fd, start.data(), start.size()) == static_cast<ssize_t>(start.size());
  close(fd);
  if (written) link(tmp.c_str(), g_stream);  // EEXIST: another process published first
  unlink(tmp.c_str());
}

// Appends one block with one write.
void append(const ProcessExit& x) {
  const int saved = errno;
  auto block = jobperf::stream::encode_process_exit_block(x);
  int fd = open(g_stream, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    create_stream();
    fd = open(g_stream, O_WRONLY | O_APPEND | O_CLOEXEC);
  }
  if (fd >= 0) {
    if (write(fd, block.data(), block.size()) < 0) {
      // A full or missing scratch must not disturb the program: the record is lost.
    }
    close(fd);
  }
  errno = saved;
}

void record_self(int status) {
  if (!g.active || g.recorded || getpid() != g.pid) return;  // once; never in a vfork child
  g.recorded = true;
  ProcessExit x;
  x.kind = ExitKind::Exited;
  x.exit_code = status & 0xff;
  fill_self(x, "/proc/self", RUSAGE_SELF);
  x.perf_task_clock_ns = read_perf(g_perf[0]);
  x.perf_instructions = read_perf(g_perf[1]);
  x.perf_cycles = read_perf(g_perf[2]);
  append(x);
}

void on_exit_handler(int status, void*) { record_self(status); }

void after_fork_in_child() {
  g.pid = getpid();
  g.start_ns = jobperf::stream::monotonic_ns();
  g.generation = 0;
  g.recorded = false;
  if (g_perf[0] >= 0 || g_perf[1] >= 0 || g_perf[2] >= 0) {  // the copies count the parent: count ourselves
    close_perf();
    open_perf();
  }
}

// A child the host program reaped: if a signal killed it, it could not record itself.
void record_reaped(pid_t pid, int status, const rusage* ru) {
  if (!g.active || pid <= 0 || !WIFSIGNALED(status)) return;
  ProcessExit x;
  x.kind = ExitKind::Killed;
  x.pid = static_cast<std::uint32_t>(pid);
  x.ppid = static_cast<std::uint32_t>(getpid());
  x.signal = WTERMSIG(status);
  x.rank = rank_from_environment();
  x.end_ns = jobperf::stream::monotonic_ns();
  if (ru) fill_rusage(x, *ru);
  // The child's own tags are gone with it: it most likely had the
  // environment its parent has now.
  if (const char* tags = std::getenv("JOBPERF_TAGS")) x.tags = tags;
  append(x);
}

template <typename Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// ---- threads

pthread_key_t g_thread_key;
struct ThreadStart {
  void* (*routine)(void*);
  void* arg;
};

void record_thread(void* start) {
  ProcessExit x;
  x.kind = ExitKind::ThreadExit;
  x.tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
  std::string dir = "/proc/self/task/" + std::to_string(x.tid);
  fill_self(x, dir.c_str(), RUSAGE_THREAD);
  x.start_ns = *static_cast<std::int64_t*>(start);
  delete static_cast<std::int64_t*>(start);
  append(x);
}

void* thread_trampoline(void* p) {
  auto start = *static_cast<ThreadStart*>(p);
  delete static_cast<ThreadStart*>(p);
  pthread_setspecific(g_thread_key, new std::int64_t(jobperf::stream::monotonic_ns()));
  return start.routine(start.arg);
}

// JOBPERF_PRELOAD_STREAM, or the node's stream in JOBPERF_PRELOAD_DIR.
std::string stream_path() {
  if (const char* stream = std::getenv("JOBPERF_PRELOAD_STREAM"); stream && *stream) return stream;
  const char* dir = std::getenv("JOBPERF_PRELOAD_DIR");
  if (!dir || !*dir) return {};
  std::string path = dir;
  for (std::size_t slash = 1; (slash = path.find('/', slash)) != std::string::npos; ++slash)
    mkdir(path.substr(0, slash).c_str(), 0755);
  mkdir(path.c_str(), 0755);
  for (char& c : path += "/" + jobperf::host_name() + ".exits.jps")
    if (c == ' ') c = '_';
  return path;
}

// Generation and start: where an earlier image of this process exec'd this
// one, theirs; else this is the process's first image.
void find_generation_and_start() {
  long long pid = 0, start = 0;
  unsigned generation = 0;
  const char* v = std::getenv(kExecVariable);
  if (v && std::sscanf(v, "%lld %u %lld", &pid, &generation, &start) == 3 && pid == g.pid) {
    g.generation = generation;
    g.start_ns = start;
  } else {
    g.generation = 0;
    g.start_ns = process_start_ns();
  }
}

__attribute__((constructor)) void on_load() {
  const int saved = errno;
  const auto stream = stream_path();
  errno = saved;
  if (stream.empty() || stream.size() >= sizeof g_stream) return;
  std::strcpy(g_stream, stream.c_str());
  if (const char* tags = std::getenv("JOBPERF_TAGS")) std::strncpy(g_tags, tags, sizeof g_tags - 1);
  g.active = true;
  g.pid = getpid();
  find_generation_and_start();
  const char* threads = std::getenv("JOBPERF_PRELOAD_THREADS");
  g.threads = threads && std::strcmp(threads, "1") == 0;
  if (g.threads) pthread_key_create(&g_thread_key, record_thread);
  if (const char* perf = std::getenv("JOBPERF_PRELOAD_PERF"); perf && std::strcmp(perf, "1") == 0) open_perf();
  on_exit(on_exit_handler, nullptr);
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
}

// What the next image of this process starts from: one generation on, same start.
std::string exec_value() {
  return std::to_string(g.pid) + " " + std::to_string(g.generation + 1) + " " + std::to_string(g.start_ns);
}

void set_exec_variable() {
  if (!g.active || getpid() != g.pid) return;
  setenv(kExecVariable, exec_value().c_str(), 1);
}

std::vector<char*> with_exec_variable(char* const envp[], std::string& entry) {
  entry = std::string(kExecVariable) + "=" + exec_value();
  std::vector<char*> out;
  for (char* const* e = envp; e && *e; ++e)
    if (std::strncmp(*e, kExecVariable, sizeof kExecVariable - 1) != 0) out.push_back(*e);
  out.push_back(entry.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

// ---- interposed functions

extern "C" {

__attribute__((visibility("default"))) void _exit(int status) {
  record_self(status);
  real<void (*)(int)>("_exit")(status);
  __builtin_unreachable();
}

__attribute__((visibility("default"))) void _Exit(int status) {
  record_self(status);
  real<void (*)(int)>("_Exit")(status);
  __builtin_unreachable();
}

__attribute__((visibility("default"))) pid_t wait4(pid_t pid, int* status, int options, struct rusage* ru) {
  int local = 0;
  rusage usage{};
  pid_t got = real<pid_t (*)(pid_t, int*, int, struct rusage*)>("wait4")(pid, &local, options, &usage);
  const int saved = errno;
  if (got > 0) record_reaped(got, local, &usage);
  if (status) *status = local;
  if (ru) *ru = usage;
  errno = saved;
  return got;
}

__attribute__((visibility("default"))) pid_t waitpid(pid_t pid, int* status, int options) {
  return wait4(pid, status, options, nullptr);
}

__attribute__((visibility("default"))) pid_t wait(int* status) { return wait4(-1, status, 0, nullptr); }

__attribute__((visibility("default"))) pid_t wait3(int* status, int options, struct rusage* ru) {
  return wait4(-1, status, options, ru);
}

__attribute__((visibility("default"))) int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  int rc = real<int (*)(idtype_t, id_t, siginfo_t*, int)>("waitid")(type, id, info, options);
  const int saved = errno;
  if (rc == 0 && info && info->si_pid > 0 && !(options & WNOWAIT) &&
      (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)) {
    rusage none{};
    record_reaped(info->si_pid, info->si_status & 0x7f, &none);  // a signal-death status word
  }
  errno = saved;
  return rc;
}

__attribute__((visibility("default"))) int execve(const char* path, char* const argv[], char* const envp[]) {
  if (!g.active || getpid() != g.pid) return real<int (*)(const char*, char* const[], char* const[])>("execve")(path, argv, envp);
  std::string entry;
  auto env = with_exec_variable(envp, entry);
  return real<int (*)(const char*, char* const[], char* const[])>("execve")(path, argv, env.data());
}

__attribute__((visibility("default"))) int execv(const char* path, char* const argv[]) {
  set_exec_variable();
  return real<int (*)(const char*, char* const[])>("execv")(path, argv);
}

__attribute__((visibility("default"))) int execvp(const char* file, char* const argv[]) {
  set_exec_variable();
  return real<int (*)(const char*, char* const[])>("execvp")(file, argv);
}

__attribute__((visibility("default"))) int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                                          void* (*routine)(void*), void* arg) {
  using Create = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  if (!g.active || !g.threads) return real<Create>("pthread_create")(thread, attr, routine, arg);
  auto* start = new ThreadStart{routine, arg};
  int rc = real<Create>("pthread_create")(thread, attr, thread_trampoline, start);
  if (rc != 0) delete start;
  return rc;
}

}  // extern "C"
