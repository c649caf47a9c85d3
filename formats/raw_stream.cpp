#include "formats/raw_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <limits>

#include "formats/byte_codec.hpp"
#include "formats/crc32c.hpp"

namespace jobperf::stream {
namespace {

constexpr char kMagic[8] = {'\x89', 'J', 'P', 'S', 'T', 'R', 'M', '\n'};
constexpr std::size_t kPrologueSize = 16;
constexpr std::uint32_t kSync = 0x4B4C504Au;  // "JPLK"
constexpr std::size_t kBlockHeaderSize = 16;
constexpr std::uint32_t kMaxPayload = 64u << 20;
constexpr std::size_t kRecordHeaderSize = 16;

enum BlockType : std::uint16_t {
  kHeader = 1,
  kSchema = 2,
  kRecords = 3,
  kAnchor = 4,
  kSubjectBegin = 5,
  kSubjectEnd = 6,
  kNote = 7,
  kMetadata = 8,
  kEnd = 9,
  kProcessExit = 10,
  kClockOffset = 11,
  kUtcError = 12,
};

// Each block's payload, one field list for the writer and the reader.
void transfer(auto& io, MessageOf<ClockAnchor> auto& a) { io(a.mono_before, a.realtime, a.mono_after); }

void transfer(auto& io, MessageOf<Header> auto& h) {
  io(h.host, h.job_id, h.rank, h.local_rank, h.pid, h.mode, h.interval_ns, h.collector_version);
  transfer(io, h.start);
}

void transfer(auto& io, MessageOf<SourceSpec> auto& s) {
  io(s.id, s.name, s.scope);
  io.each(s.fields, [&](auto& f) { io(f.name, f.units, f.description, f.type, f.aggregation); }, std::uint16_t{});
}

void transfer(auto& io, MessageOf<SubjectBegin> auto& s) { io(s.time_ns, s.pid, s.ppid, s.rank, s.start_ns, s.command); }
void transfer(auto& io, MessageOf<SubjectEnd> auto& s) { io(s.time_ns, s.pid, s.wait_status); }
void transfer(auto& io, MessageOf<Note> auto& n) { io(n.time_ns, n.level, n.source, n.text); }
void transfer(auto& io, MessageOf<UtcError> auto& u) { io(u.mono_ns, u.bound_ns); }

void transfer(auto& io, MessageOf<ClockOffset> auto& c) {
  io(c.host, c.reference_host, c.phase, c.mono_ns, c.realtime_ns, c.offset_ns, c.rtt_ns, c.bound_ns, c.exchanges, c.hops);
}

void transfer(auto& io, MessageOf<End> auto& end) {
  transfer(io, end.anchor);
  io(end.reason);
}

void transfer(auto& io, MessageOf<ProcessExit> auto& x) {
  io(x.kind, x.pid, x.tid, x.ppid, x.pgid, x.sid, x.exec_generation, x.rank, x.exit_code, x.signal, x.start_ns,
     x.end_ns, x.exe, x.args, x.tags);
  io(x.user_ns, x.system_ns, x.maxrss_kb, x.minflt, x.majflt, x.inblock, x.oublock, x.voluntary_ctxt,
     x.involuntary_ctxt, x.rchar, x.wchar, x.syscr, x.syscw, x.read_bytes, x.write_bytes, x.cancelled_write_bytes,
     x.run_ns, x.wait_ns, x.timeslices, x.perf_task_clock_ns, x.perf_instructions, x.perf_cycles);
}

// Decoded whole or not at all: a damaged payload adds nothing.
template <typename T>
T decode(Decoder& d) {
  T value;
  transfer(d, value);
  return value;
}

std::string errno_text() { return std::strerror(errno); }

// sync, type, flags, length, CRC32C, payload: one block, ready for one write().
void frame_block(std::uint16_t type, const std::vector<char>& payload, std::vector<char>& out) {
  Encoder e(out);
  const std::size_t start = out.size();
  e.put(kSync);
  e.put(type);
  e.put(std::uint16_t{0});
  e.put(static_cast<std::uint32_t>(payload.size()));
  std::uint32_t crc = crc32c(out.data() + start + 4, 8);
  crc = crc32c(payload.data(), payload.size(), crc);
  e.put(crc);
  out.insert(out.end(), payload.begin(), payload.end());
}

}  // namespace

void encode_source(Encoder& e, const SourceSpec& s) { transfer(e, s); }
SourceSpec decode_source(Decoder& d) { return decode<SourceSpec>(d); }
void encode_clock_offset(Encoder& e, const ClockOffset& c) { transfer(e, c); }
ClockOffset decode_clock_offset(Decoder& d) { return decode<ClockOffset>(d); }

std::uint64_t to_raw(double v) { return std::bit_cast<std::uint64_t>(v); }

// ---------------------------------------------------------------- writer

StreamWriter::StreamWriter(const std::string& path, const Header& header, bool force) : path_(path) {
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) {
    if (errno == EEXIST) throw StreamError(path + ": already exists (use --force to replace it)");
    throw StreamError(path + ": cannot create: " + errno_text());
  }
  auto start = encode_stream_start(header);
  if (::write(fd_, start.data(), start.size()) != static_cast<ssize_t>(start.size())) {
    std::string why = errno_text();
    ::close(fd_);
    throw StreamError(path + ": cannot write: " + why);
  }
  bytes_written_ = start.size();
}

StreamWriter::~StreamWriter() {
  if (fd_ >= 0) {
    flush();
    ::close(fd_);
  }
}

std::vector<char> encode_stream_start(const Header& header) {
  std::vector<char> out(kMagic, kMagic + sizeof kMagic);
  Encoder e(out);
  e.put(kFormatVersion);
  e.put(std::uint32_t{0});
  std::vector<char> payload;
  Encoder h(payload);
  transfer(h, header);
  frame_block(kHeader, payload, out);
  return out;
}

std::vector<char> encode_process_exit_block(const ProcessExit& exit) {
  std::vector<char> payload, out;
  Encoder e(payload);
  transfer(e, exit);
  frame_block(kProcessExit, payload, out);
  return out;
}

void StreamWriter::write_block(std::uint16_t type, const std::vector<char>& payload) {
  if (failed() || fd_ < 0) return;
  scratch_.clear();
  frame_block(type, payload, scratch_);
  // One write per block: with O_APPEND a crash can only tear the last block.
  ssize_t n = ::write(fd_, scratch_.data(), scratch_.size());
  if (n != static_cast<ssize_t>(scratch_.size())) {
    error_ = path_ + ": write failed: " + (n < 0 ? errno_text() : std::string("short write"));
    return;
  }
  bytes_written_ += scratch_.size();
}

void StreamWriter::record(std::int64_t time_ns, std::uint16_t source, std::uint32_t subject,
                          std::span<const std::uint64_t> values) {
  if (failed()) {
    ++records_lost_;
    return;
  }
  Encoder e(records_);
  if (pending_records_ == 0) e.put(std::uint32_t{0});  // count, patched in flush()
  e.put(time_ns);
  e.put(source);
  e.put(static_cast<std::uint16_t>(values.size()));
  e.put(subject);
  const char* p = reinterpret_cast<const char*>(values.data());
  records_.insert(records_.end(), p, p + values.size_bytes());
  ++pending_records_;
  if (records_.size() > kMaxPayload / 2) flush();
}

bool StreamWriter::flush() {
  if (pending_records_ > 0) {
    std::memcpy(records_.data(), &pending_records_, sizeof pending_records_);
    write_block(kRecords, records_);
    if (failed()) records_lost_ += pending_records_;
    records_.clear();
    pending_records_ = 0;
  }
  return !failed();
}

// Every non-record block flushes pending records first, so block order in
// the file is the order in which things happened.
template <typename EncodeBody>
void StreamWriter::write_encoded(std::uint16_t type, EncodeBody&& encode_body) {
  flush();
  std::vector<char> payload;
  Encoder e(payload);
  encode_body(e);
  write_block(type, payload);
}

void StreamWriter::add_source(const SourceSpec& s) { write_encoded(kSchema, [&](Encoder& e) { encode_source(e, s); }); }

void StreamWriter::subject_begin(const SubjectBegin& s) { write_encoded(kSubjectBegin, [&](Encoder& e) { transfer(e, s); }); }
void StreamWriter::subject_end(const SubjectEnd& s) { write_encoded(kSubjectEnd, [&](Encoder& e) { transfer(e, s); }); }
void StreamWriter::note(const Note& n) { write_encoded(kNote, [&](Encoder& e) { transfer(e, n); }); }
void StreamWriter::metadata(const Metadata& m) { write_encoded(kMetadata, [&](Encoder& e) { e(m); }); }
void StreamWriter::anchor(const ClockAnchor& a) { write_encoded(kAnchor, [&](Encoder& e) { transfer(e, a); }); }
void StreamWriter::clock_offset(const ClockOffset& c) { write_encoded(kClockOffset, [&](Encoder& e) { transfer(e, c); }); }
void StreamWriter::utc_error(const UtcError& u) { write_encoded(kUtcError, [&](Encoder& e) { transfer(e, u); }); }

void StreamWriter::close(const End& end) {
  if (fd_ < 0) return;
  write_encoded(kEnd, [&](Encoder& e) { transfer(e, end); });
  ::close(fd_);
  fd_ = -1;
}

// ---------------------------------------------------------------- reader

const SourceSpec* DecodedStream::source(std::uint16_t id) const {
  for (const auto& s : sources)
    if (s.id == id) return &s;
  return nullptr;
}

std::string describe(const Damage& d) {
  return "damaged at byte " + std::to_string(d.offset) + " (" + std::to_string(d.length) + " bytes): " + d.what;
}

namespace {

void decode_records(Decoder& d, DecodedStream& s, bool values) {
  auto count = d.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < count; ++i) {
    Record r{};
    r.time_ns = d.get<std::int64_t>();
    r.source = d.get<std::uint16_t>();
    r.value_count = d.get<std::uint16_t>();
    r.subject = d.get<std::uint32_t>();
    r.first_value = s.values.size();
    const char* p = d.position();
    d.skip(std::size_t{r.value_count} * 8);
    if (values) {
      s.values.resize(s.values.size() + r.value_count);
      std::memcpy(s.values.data() + r.first_value, p, std::size_t{r.value_count} * 8);
    }
    s.records.push_back(r);
  }
}

// Blocks of a type this reader does not know are skipped: newer writers may
// add block types without breaking older readers.
void decode_block(std::uint16_t type, std::span<const char> payload, DecodedStream& s, bool values) {
  Decoder d(payload.data(), payload.size());
  auto add = [&](auto& list) { list.push_back(decode<typename std::remove_reference_t<decltype(list)>::value_type>(d)); };
  switch (type) {
    case kSchema: add(s.sources); break;
    case kRecords: decode_records(d, s, values); break;
    case kAnchor: add(s.anchors); break;
    case kSubjectBegin: add(s.subjects); break;
    case kSubjectEnd: add(s.subject_ends); break;
    case kNote: add(s.notes); break;
    case kMetadata: {
      Metadata m;  // whole or not at all, as decode() does
      d(m);
      s.metadata.insert(s.metadata.end(), m.begin(), m.end());
      break;
    }
    case kProcessExit: add(s.process_exits); break;
    case kClockOffset: add(s.clock_offsets); break;
    case kUtcError: add(s.utc_errors); break;
    case kEnd:
      s.end = decode<End>(d);
      s.closed = true;
      break;
    default: break;
  }
}

}  // namespace

// ---------------------------------------------------------------- StreamReader

namespace {
constexpr std::size_t kReadAhead = 1 << 20;       // bytes read at once from a file
constexpr std::size_t kHeaderReadAhead = 4 << 10;  // the header: listing streams, resuming one, reads no more

Header decode_header_block(const std::string& name, std::span<const char> payload) {
  try {
    Decoder d(payload.data(), payload.size());
    return decode<Header>(d);
  } catch (const DecodeError& e) {
    throw StreamError(name + ": header block damaged at byte 16: " + e.what());
  }
}
}  // namespace

StreamReader::StreamReader(const std::string& path, std::vector<char>* buffer) : name_(path) {
  if (buffer) buffer_ = buffer;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw StreamError(path + ": cannot open: " + errno_text());
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw StreamError(path + ": not a regular file");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  identity_ = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), size_,
               static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
  read_prologue_and_header();
}

StreamReader::StreamReader(const std::string& name, std::span<const char> bytes)
    : name_(name), size_(bytes.size()), memory_(bytes) {
  read_prologue_and_header();
}

StreamReader::~StreamReader() {
  if (fd_ >= 0) ::close(fd_);
}

void StreamReader::seek(std::uint64_t offset) { offset_ = std::clamp<std::uint64_t>(offset, first_block_, size_); }

std::span<const char> StreamReader::bytes_at(std::uint64_t offset, std::size_t length) {
  length = static_cast<std::size_t>(std::min<std::uint64_t>(length, size_ - std::min(offset, size_)));
  if (fd_ < 0) return memory_.subspan(static_cast<std::size_t>(offset), length);
  auto& buffer = *buffer_;
  if (offset < buffer_offset_ || offset + length > buffer_offset_ + buffered_) {
    buffer_offset_ = offset;
    const std::size_t ahead = first_block_ == 0 ? kHeaderReadAhead : kReadAhead;  // 0: the header is being read
    buffered_ = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(length, ahead), size_ - offset));
    if (buffer.size() < buffered_) buffer.resize(buffered_);
    std::size_t got = 0;
    while (got < buffered_) {
      ssize_t n = ::pread(fd_, buffer.data() + got, buffered_ - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        buffered_ = got;  // what could be read is decoded; the rest reads as truncated
        size_ = offset + got;
        damage_note_ = n < 0 ? "cannot read: " + errno_text() : "file shrank while reading";
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    length = std::min(length, buffered_);
  }
  return {buffer.data() + (offset - buffer_offset_), length};
}

std::string StreamReader::check_block(std::uint64_t offset, Block& out) {
  if (size_ - offset < kBlockHeaderSize) return "truncated block header";
  auto head = bytes_at(offset, kBlockHeaderSize);
  Decoder d(head.data(), kBlockHeaderSize);
  if (d.get<std::uint32_t>() != kSync) return "no block sync word";
  auto type = d.get<std::uint16_t>();
  d.get<std::uint16_t>();
  auto length = d.get<std::uint32_t>();
  auto stored_crc = d.get<std::uint32_t>();
  if (length > kMaxPayload) return "implausible block length " + std::to_string(length);
  if (size_ - offset - kBlockHeaderSize < length) return "truncated block (stream ends inside it)";
  auto whole = bytes_at(offset, kBlockHeaderSize + length);
  if (!trust_crcs_) {
    std::uint32_t crc = crc32c(whole.data() + 4, 8);
    crc = crc32c(whole.data() + kBlockHeaderSize, length, crc);
    if (crc != stored_crc) return "CRC mismatch";
  }
  out = {type, whole.subspan(kBlockHeaderSize)};
  return "";
}

void StreamReader::read_prologue_and_header() {
  if (size_ < kPrologueSize)
    throw StreamError(name_ + ": not a jobperf stream (" + std::to_string(size_) + " bytes, too short)");
  auto prologue = bytes_at(0, kPrologueSize);
  if (prologue.size() < kPrologueSize || std::memcmp(prologue.data(), kMagic, sizeof kMagic) != 0)
    throw StreamError(name_ + ": not a jobperf stream (bad magic)");
  Decoder d(prologue.data() + sizeof kMagic, 8);
  auto version = d.get<std::uint32_t>();
  if (version != kFormatVersion)
    throw StreamError(name_ + ": stream format version " + std::to_string(version) +
                      " is not supported (this reader reads version " + std::to_string(kFormatVersion) + ")");
  Block header{};
  std::string why = check_block(kPrologueSize, header);
  if (why.empty() && header.type != kHeader) why = "first block is not a header";
  if (!why.empty()) throw StreamError(name_ + ": header block damaged at byte 16: " + why);
  header_ = decode_header_block(name_, header.payload);
  first_block_ = offset_ = kPrologueSize + kBlockHeaderSize + header.payload.size();
}

bool StreamReader::next(DecodedStream& s) {
  if (offset_ >= size_) return false;
  Block b{};
  std::string why = check_block(offset_, b);
  if (why.empty()) {
    try {
      decode_block(b.type, b.payload, s, values_);
      ++s.blocks_read;
    } catch (const DecodeError& e) {
      s.damage.push_back({offset_, kBlockHeaderSize + b.payload.size(), std::string("bad payload: ") + e.what()});
    }
    offset_ += kBlockHeaderSize + b.payload.size();
    return true;
  }
  if (!damage_note_.empty()) why += " (" + damage_note_ + ")";
  // Resynchronise: the next offset holding an intact block.
  std::uint64_t next = offset_ + 1;
  for (; next < size_; ++next) {
    if (size_ - next < 4) {
      next = size_;
      break;
    }
    std::uint32_t word;
    std::memcpy(&word, bytes_at(next, 4).data(), 4);
    Block probe{};
    if (word == kSync && check_block(next, probe).empty()) break;
  }
  s.damage.push_back({offset_, next - offset_, why});
  offset_ = next;
  return true;
}

namespace {
DecodedStream decode_all(StreamReader& reader, const std::string& name) {
  DecodedStream s;
  s.path = name;
  s.size = reader.size();
  s.header = reader.header();
  s.blocks_read = 1;
  while (reader.next(s)) {
  }
  return s;
}
}  // namespace

DecodedStream decode_stream(const std::string& name, std::span<const char> bytes) {
  StreamReader reader(name, bytes);
  return decode_all(reader, name);
}

DecodedStream read_stream(const std::string& path) {
  StreamReader reader(path);
  return decode_all(reader, path);
}

Header read_header(const std::string& path) { return StreamReader(path).header(); }

}  // namespace jobperf::stream
