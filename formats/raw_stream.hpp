// Raw stream v1: the append-only file one collector writes per rank (wrapper
// mode) or per node (sidecar mode) on node-local scratch. Layout in
// share/stream-format.md. Only this file and raw_stream.cpp know it.
//
//   prologue: magic[8] "\x89JPSTRM\n", u32 format version, u32 reserved
//   blocks:   u32 sync, u16 type, u16 flags, u32 payload length,
//             u32 CRC32C(type..length, payload), payload
//
// Every block is written with one write() so a crash leaves at most one torn
// block at the end; the sync word and CRC let a reader skip a damaged block
// and carry on with the next intact one.
#pragma once
#include <bit>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "formats/clock.hpp"

namespace jobperf {
class Encoder;
class Decoder;
}  // namespace jobperf

namespace jobperf::stream {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr char kStreamSuffix[] = ".jps";

struct StreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Header {
  std::string host;
  std::string job_id;
  std::int32_t rank = -1;        // MPI rank of the wrapped process; -1 in sidecar mode
  std::int32_t local_rank = -1;  // rank on this node, -1 if unknown
  std::int32_t pid = 0;          // collector's pid
  std::string mode;              // "wrapper" or "sidecar"
  std::int64_t interval_ns = 0;
  std::string collector_version;
  ClockAnchor start;
};

enum class FieldType : std::uint8_t { U64 = 1, I64 = 2, F64 = 3 };

// How the reducer combines a field across the processes of one rank.
enum class Aggregation : std::uint8_t {
  Gauge = 1,        // instantaneous; summed over live processes
  Counter = 2,      // cumulative, own activity only; kept after the process ends
  TreeCounter = 3,  // cumulative and, like utime+cutime, includes reaped children:
                    // when a monitored parent reaps the process, the parent carries it
  Attribute = 4,    // a property, not an amount (last CPU): the rank's first process's
};

enum class Scope : std::uint8_t { Process = 1, Node = 2 };

struct FieldSpec {
  std::string name;
  std::string units;
  std::string description;
  FieldType type = FieldType::U64;
  Aggregation aggregation = Aggregation::Gauge;
};

struct SourceSpec {
  std::uint16_t id = 0;
  std::string name;
  Scope scope = Scope::Process;
  std::vector<FieldSpec> fields;
};

struct SubjectBegin {  // a process the collector started watching
  std::int64_t time_ns = 0;
  std::uint32_t pid = 0;
  std::uint32_t ppid = 0;
  std::int32_t rank = -1;       // MPI rank from the process's environment, -1 if none
  std::int64_t start_ns = 0;    // process start, CLOCK_MONOTONIC
  std::string command;          // argv joined with spaces
};

struct SubjectEnd {  // a process the collector stopped seeing
  std::int64_t time_ns = 0;
  std::uint32_t pid = 0;
  std::int32_t wait_status = -1;  // from wait4 when the collector reaped it, else -1
};

enum class NoteLevel : std::uint8_t { Info = 1, Warning = 2, Error = 3 };
struct Note {
  std::int64_t time_ns = 0;
  NoteLevel level = NoteLevel::Info;
  std::string source;
  std::string text;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct End {
  ClockAnchor anchor;
  std::string reason;
};

// One node's clock measured against a reference node's by ping-pong
// (collect/clock_sync.hpp): by sidecar collectors at start and stop, or by
// jobperf-reduce after the job.
struct ClockOffset {
  std::string host;
  std::string reference_host;
  std::string phase;             // "start", "stop" (collectors) or "reduce"
  std::int64_t mono_ns = 0;      // this host's CLOCK_MONOTONIC at the measurement
  std::int64_t realtime_ns = 0;  // and its CLOCK_REALTIME
  std::int64_t offset_ns = 0;    // this host's REALTIME minus the reference's, at one instant
  std::int64_t rtt_ns = 0;       // round trip of the exchange kept (the shortest)
  std::int64_t bound_ns = 0;     // |error of offset_ns| <= bound_ns
  std::int32_t exchanges = 0;    // ping-pongs per pair
  std::int32_t hops = 0;         // pairs between this host and the reference
};

// The node's own bound on its CLOCK_REALTIME's distance from UTC
// (stream::utc_error_bound_ns), as its collector read it at start, with
// every anchor, and at the end.
struct UtcError {
  std::int64_t mono_ns = 0;
  std::int64_t bound_ns = -1;  // -1: the clock was not synchronised
};

// One process (or thread) at its end, as libjobperf-preload.so records it.
enum class ExitKind : std::uint8_t {
  Exited = 1,      // the process recorded itself as it exited
  Killed = 2,      // killed by a signal: its parent recorded it when reaping it
  ThreadExit = 3,  // one thread of a process (with JOBPERF_PRELOAD_THREADS=1)
};
struct ProcessExit {
  ExitKind kind = ExitKind::Exited;
  std::uint32_t pid = 0, tid = 0, ppid = 0, pgid = 0, sid = 0;
  std::uint32_t exec_generation = 0;  // execs this process went through
  std::int32_t rank = -1;
  std::int32_t exit_code = -1;        // -1 when killed
  std::int32_t signal = 0;            // 0 unless killed
  std::int64_t start_ns = 0, end_ns = 0;  // CLOCK_MONOTONIC
  std::string exe, args, tags;
  std::uint64_t user_ns = 0, system_ns = 0, maxrss_kb = 0, minflt = 0, majflt = 0;
  std::uint64_t inblock = 0, oublock = 0, voluntary_ctxt = 0, involuntary_ctxt = 0;
  std::uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0, read_bytes = 0, write_bytes = 0;
  std::uint64_t cancelled_write_bytes = 0, run_ns = 0, wait_ns = 0, timeslices = 0;
  // With JOBPERF_PRELOAD_PERF=1, since the last exec, threads included; 0 where unavailable.
  std::uint64_t perf_task_clock_ns = 0, perf_instructions = 0, perf_cycles = 0;
};

// The bytes that start a stream (prologue and header block), and a whole
// process-exit block: what many processes append, each with one write().
std::vector<char> encode_stream_start(const Header& header);
std::vector<char> encode_process_exit_block(const ProcessExit& exit);

// The schema block's encoding of a source, also used to ship sources between
// reducer ranks.
void encode_source(Encoder& e, const SourceSpec& s);
SourceSpec decode_source(Decoder& d);

void encode_clock_offset(Encoder& e, const ClockOffset& c);
ClockOffset decode_clock_offset(Decoder& d);

// Values travel as raw 64-bit patterns; FieldSpec::type says how to read them.
std::uint64_t to_raw(double v);
inline double raw_to_double(std::uint64_t raw, FieldType type) {  // inline: called for every value read
  switch (type) {
    case FieldType::U64: return static_cast<double>(raw);
    case FieldType::I64: return static_cast<double>(static_cast<std::int64_t>(raw));
    case FieldType::F64: return std::bit_cast<double>(raw);
  }
  return 0.0;
}

class StreamWriter {
 public:
  // Creates `path`; refuses to replace an existing file unless `force`.
  StreamWriter(const std::string& path, const Header& header, bool force);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  void add_source(const SourceSpec& source);
  void record(std::int64_t time_ns, std::uint16_t source, std::uint32_t subject,
              std::span<const std::uint64_t> values);
  void subject_begin(const SubjectBegin& s);
  void subject_end(const SubjectEnd& s);
  void note(const Note& n);
  void metadata(const Metadata& m);
  void anchor(const ClockAnchor& a);
  void clock_offset(const ClockOffset& c);
  void utc_error(const UtcError& e);
  // Writes buffered records as one block. False once a write has failed;
  // the writer then drops everything and error() says why.
  bool flush();
  void close(const End& end);

  const std::string& path() const { return path_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::uint64_t bytes_written() const { return bytes_written_; }
  std::uint64_t records_lost() const { return records_lost_; }  // dropped after a write failed
  std::size_t buffered_records() const { return pending_records_; }

 private:
  void write_block(std::uint16_t type, const std::vector<char>& payload);
  template <typename EncodeBody>
  void write_encoded(std::uint16_t type, EncodeBody&& encode_body);
  std::string path_;
  int fd_ = -1;
  std::vector<char> records_;
  std::uint32_t pending_records_ = 0;
  std::vector<char> scratch_;
  std::string error_;
  std::uint64_t bytes_written_ = 0;
  std::uint64_t records_lost_ = 0;
};

struct Record {
  std::int64_t time_ns;
  std::uint32_t subject;
  std::uint16_t source;
  std::uint16_t value_count;
  std::size_t first_value;  // index into DecodedStream::values
};

struct Damage {
  std::uint64_t offset;
  std::uint64_t length;
  std::string what;
};

struct DecodedStream {
  std::string path;
  std::uint64_t size = 0;
  Header header;
  std::vector<SourceSpec> sources;
  std::vector<Record> records;
  std::vector<std::uint64_t> values;
  std::vector<SubjectBegin> subjects;
  std::vector<SubjectEnd> subject_ends;
  std::vector<Note> notes;
  Metadata metadata;
  std::vector<ClockAnchor> anchors;  // periodic ones, after header.start
  std::vector<ProcessExit> process_exits;
  std::vector<ClockOffset> clock_offsets;
  std::vector<UtcError> utc_errors;
  bool closed = false;               // an End block was read
  End end;
  std::vector<Damage> damage;
  std::size_t blocks_read = 0;

  const SourceSpec* source(std::uint16_t id) const;
  std::span<const std::uint64_t> values_of(const Record& r) const {
    return {values.data() + r.first_value, r.value_count};
  }
};

// Reads a stream block by block with at most a block or 1 MiB of it in
// memory, so a stream of any length can be decoded a piece at a time.
// Throws StreamError (naming the file) when the file cannot be opened, is
// not a jobperf stream, has an unsupported version, or its header block is
// damaged.
class StreamReader {
 public:
  // `buffer`: memory to read the file into, kept by the caller so that
  // readers opened one after another reuse it (no allocation, no page
  // faults per reader), by one reader at a time; null: the reader's own.
  explicit StreamReader(const std::string& path, std::vector<char>* buffer = nullptr);
  StreamReader(const std::string& name, std::span<const char> bytes);
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  const Header& header() const { return header_; }
  std::uint64_t size() const { return size_; }
  // Where the next block starts; seek() returns to such a place.
  std::uint64_t offset() const { return offset_; }
  void seek(std::uint64_t offset);
  // Decodes the next block into `into` (records and values appended), or
  // lists the damaged bytes up to the next intact block; false at the end.
  bool next(DecodedStream& into);
  // false: records are decoded without their values (when and whose only).
  void decode_values(bool yes) { values_ = yes; }
  // The file as opened. Streams are only ever appended to, so the same
  // identity later (size, and ctime, which any write moves) means the same bytes.
  struct Identity {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t changed_ns = 0;  // ctime: any write moves it
    bool operator==(const Identity&) const = default;
  };
  const Identity& identity() const { return identity_; }
  // Skips the blocks' CRC check: for a second pass over a file whose every
  // block passed it in the first (the same identity, no damage found).
  void trust_crcs() { trust_crcs_ = true; }

 private:
  struct Block {
    std::uint16_t type;
    std::span<const char> payload;
  };
  std::span<const char> bytes_at(std::uint64_t offset, std::size_t length);
  std::string check_block(std::uint64_t offset, Block& out);
  void read_prologue_and_header();

  std::string name_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::span<const char> memory_;  // the stream, when it is already in memory
  std::vector<char> own_buffer_;
  std::vector<char>* buffer_ = &own_buffer_;  // else a piece of the file: buffered_ bytes from buffer_offset_
  std::size_t buffered_ = 0;
  std::uint64_t buffer_offset_ = 0;
  std::string damage_note_;       // why the file ended early, if it did
  Header header_;
  std::uint64_t first_block_ = 0, offset_ = 0;
  bool values_ = true;
  Identity identity_;
  bool trust_crcs_ = false;
};

// Reads every intact block; damaged or torn blocks are listed in `damage`
// with their byte offsets. Throws StreamError (naming the file) only when the
// file cannot be read at all, is not a jobperf stream, has an unsupported
// version, or its header block is damaged.
DecodedStream read_stream(const std::string& path);
// Only the header (the first block), for planning before decoding; throws as read_stream.
Header read_header(const std::string& path);
DecodedStream decode_stream(const std::string& name, std::span<const char> bytes);

std::string describe(const Damage& d);

}  // namespace jobperf::stream
