// Lustre client activity: llite stats (data and metadata operations as the
// applications issued them) and osc stats (RPCs to the object servers),
// summed over every mounted filesystem and OST. Lustre keeps them in
// /proc/fs/lustre (older clients) or /sys/kernel/debug/lustre (newer ones).
// Each stats line reads: name count "samples" [unit] min max sum [sumsq].
#include <array>
#include <string_view>

#include "collect/metric_source.hpp"
#include "collect/procfs.hpp"
#include "collect/sources/sources.hpp"

namespace jobperf::collect {
namespace {

enum class Take { Count, Sum };
struct Stat {
  const char* kind;  // "llite" or "osc"
  const char* line;  // the stats line's name
  Take take;
  const char* field;
  const char* units;
  const char* description;
};

constexpr std::array<Stat, 13> kStats = {{
    {"llite", "read_bytes", Take::Sum, "read_bytes", "bytes", "bytes read by applications"},
    {"llite", "write_bytes", Take::Sum, "write_bytes", "bytes", "bytes written by applications"},
    {"llite", "read_bytes", Take::Count, "reads", "1", "read calls"},
    {"llite", "write_bytes", Take::Count, "writes", "1", "write calls"},
    {"llite", "open", Take::Count, "opens", "1", "opens"},
    {"llite", "close", Take::Count, "closes", "1", "closes"},
    {"llite", "getattr", Take::Count, "getattrs", "1", "getattr (stat) calls"},
    {"llite", "setattr", Take::Count, "setattrs", "1", "setattr calls"},
    {"llite", "fsync", Take::Count, "fsyncs", "1", "fsync calls"},
    {"llite", "seek", Take::Count, "seeks", "1", "seeks"},
    {"llite", "statfs", Take::Count, "statfs", "1", "statfs calls"},
    {"osc", "ost_read", Take::Count, "ost_read_rpcs", "1", "read RPCs to object servers"},
    {"osc", "ost_write", Take::Count, "ost_write_rpcs", "1", "write RPCs to object servers"},
}};

class LustreSource final : public MetricSource {
 public:
  explicit LustreSource(const SourceConfig& config)
      : roots_{config.proc_root + "/fs/lustre", config.sys_root + "/kernel/debug/lustre"} {}

  std::string open() override {
    for (const auto& root : roots_)
      for (auto kind : {"llite", "osc"})
        for (const auto& target : list_directory(root + "/" + kind)) {
          KeptOpenFile f(root + "/" + kind + "/" + target + "/stats");
          if (f.is_open()) files_.push_back({kind, std::move(f)});
        }
    return files_.empty() ? "no Lustre client under " + roots_[0] + " or " + roots_[1] : "";
  }

  stream::SourceSpec describe() const override {
    stream::SourceSpec s;
    s.name = "lustre";
    s.scope = stream::Scope::Node;
    for (const auto& st : kStats)
      s.fields.push_back({st.field, st.units, st.description, stream::FieldType::U64, stream::Aggregation::Counter});
    return s;
  }

  void sample(const SampleContext&, const RecordSink& sink) override {
    std::array<std::uint64_t, kStats.size()> v{};
    for (auto& [kind, file] : files_) {
      auto text = file.read(buffer_);
      for (std::size_t start = 0; start < text.size();) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        add_line(kind, text.substr(start, end - start), v);
        start = end + 1;
      }
    }
    sink(0, v);
  }

 private:
  static void add_line(std::string_view kind, std::string_view line, std::array<std::uint64_t, kStats.size()>& v) {
    Tokens t(line);
    auto name = t.next();
    std::uint64_t count = to_u64(t.next());
    if (t.next() != "samples") return;  // snapshot_time and the like
    t.next();                           // [unit]
    t.next();                           // min
    t.next();                           // max
    std::uint64_t sum = to_u64(t.next());
    for (std::size_t i = 0; i < kStats.size(); ++i)
      if (kind == kStats[i].kind && name == kStats[i].line) v[i] += kStats[i].take == Take::Sum ? sum : count;
  }

  std::array<std::string, 2> roots_;
  std::string buffer_;
  std::vector<std::pair<std::string, KeptOpenFile>> files_;
};

}  // namespace

std::unique_ptr<MetricSource> make_lustre_source(const SourceConfig& config) {
  return std::make_unique<LustreSource>(config);
}

}  // namespace jobperf::collect
