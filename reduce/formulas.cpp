#include "reduce/formulas.hpp"

#include "formats/locations.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace jobperf::reduce {

struct Expression {
  enum Kind { Number, Field, Rate, Add, Sub, Mul, Div, Negate };
  explicit Expression(Kind k) : kind(k) {}
  Kind kind;
  double number = 0;
  std::string field;
  std::unique_ptr<Expression> left, right;
};

namespace {

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  std::unique_ptr<Expression> parse() {
    auto e = sum();
    skip_space();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return e;
  }
  std::vector<std::pair<std::string, bool>> inputs;

 private:
  std::unique_ptr<Expression> sum() {
    auto e = product();
    while (accept('+') || accept('-')) {
      auto op = last_ == '+' ? Expression::Add : Expression::Sub;  // before the operand moves last_
      e = binary(op, std::move(e), product());
    }
    return e;
  }
  std::unique_ptr<Expression> product() {
    auto e = unary();
    while (accept('*') || accept('/')) {
      auto op = last_ == '*' ? Expression::Mul : Expression::Div;
      e = binary(op, std::move(e), unary());
    }
    return e;
  }
  std::unique_ptr<Expression> unary() {
    if (accept('-')) {
      auto e = std::make_unique<Expression>(Expression::Negate);
      e->left = unary();
      return e;
    }
    return primary();
  }
  std::unique_ptr<Expression> primary() {
    skip_space();
    if (accept('(')) {
      auto e = sum();
      if (!accept(')')) fail("missing ')'");
      return e;
    }
    if (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
      const char* start = text_.c_str() + pos_;
      char* end = nullptr;
      double v = std::strtod(start, &end);
      pos_ += static_cast<std::size_t>(end - start);
      auto e = std::make_unique<Expression>(Expression::Number);
      e->number = v;
      return e;
    }
    std::string name = identifier();
    if (name.empty()) fail(pos_ < text_.size() ? "unexpected '" + std::string(1, text_[pos_]) + "'" : "formula ends early");
    if (accept('(')) {
      if (name != "rate") fail("unknown function '" + name + "' (only rate() exists)");
      std::string field = identifier();
      if (field.empty() || !accept(')')) fail("rate() takes one field name");
      return leaf(Expression::Rate, field, true);
    }
    return leaf(Expression::Field, name, false);
  }

  std::unique_ptr<Expression> leaf(Expression::Kind kind, const std::string& field, bool rate) {
    auto e = std::make_unique<Expression>(kind);
    e->field = field;
    inputs.emplace_back(field, rate);
    return e;
  }
  static std::unique_ptr<Expression> binary(Expression::Kind kind, std::unique_ptr<Expression> l,
                                            std::unique_ptr<Expression> r) {
    auto e = std::make_unique<Expression>(kind);
    e->left = std::move(l);
    e->right = std::move(r);
    return e;
  }
  std::string identifier() {
    skip_space();
    std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      last_ = c;
      return true;
    }
    return false;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw FormulaError(what + " at column " + std::to_string(pos_ + 1) + " of '" + text_ + "'");
  }

  const std::string& text_;
  std::size_t pos_ = 0;
  char last_ = 0;
};

// Evaluates `e` over whole columns, leaves in the order the parser listed
// them: one pass over each input instead of a walk of the tree per bin.
void apply(const Expression& e, const std::vector<const std::vector<double>*>& inputs, std::size_t& next_input,
           std::span<double> out) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  switch (e.kind) {
    case Expression::Number: std::fill(out.begin(), out.end(), e.number); return;
    case Expression::Field:
    case Expression::Rate:
      if (const auto* series = inputs[next_input++]) std::copy_n(series->begin(), out.size(), out.begin());
      else std::fill(out.begin(), out.end(), kNaN);
      return;
    case Expression::Negate:
      apply(*e.left, inputs, next_input, out);
      for (double& v : out) v = -v;
      return;
    default: break;
  }
  apply(*e.left, inputs, next_input, out);
  std::vector<double> right(out.size());
  apply(*e.right, inputs, next_input, right);
  const std::size_t n = out.size();
  switch (e.kind) {
    case Expression::Add: for (std::size_t i = 0; i < n; ++i) out[i] += right[i]; break;
    case Expression::Sub: for (std::size_t i = 0; i < n; ++i) out[i] -= right[i]; break;
    case Expression::Mul: for (std::size_t i = 0; i < n; ++i) out[i] *= right[i]; break;
    case Expression::Div:
      for (std::size_t i = 0; i < n; ++i) out[i] = right[i] == 0 ? kNaN : out[i] / right[i];
      break;
    default: break;
  }
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

DerivedMetric parse_metric(std::string name, std::string units, const std::string& formula, std::string long_name) {
  Parser p(formula);
  DerivedMetric m;
  m.expression = p.parse();
  m.inputs = std::move(p.inputs);
  m.name = std::move(name);
  m.units = std::move(units);
  m.formula = formula;
  m.long_name = std::move(long_name);
  return m;
}

std::vector<DerivedMetric> parse_metrics_text(const std::string& name, std::string_view text) {
  std::vector<DerivedMetric> out;
  std::istringstream in{std::string(text)};
  std::string line;
  // Event-set files hold their formulas in a [metrics] section; a .metrics file is all formulas.
  const bool sectioned = text.find("[metrics]") != std::string_view::npos;
  bool in_metrics = !sectioned;
  for (int number = 1; std::getline(in, line); ++number) {
    auto content = trim(line.substr(0, line.find('#')));
    if (content.empty()) continue;
    if (content.front() == '[') {
      in_metrics = content == "[metrics]";
      continue;
    }
    if (!in_metrics) continue;
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t bar; (bar = content.find('|', start)) != std::string::npos; start = bar + 1)
      parts.push_back(trim(std::string_view(content).substr(start, bar - start)));
    parts.push_back(trim(std::string_view(content).substr(start)));
    auto where = name + ":" + std::to_string(number) + ": ";
    if (parts.size() != 4) throw FormulaError(where + "want 'name | units | formula | long name'");
    if (parts[0].empty() || parts[1].empty()) throw FormulaError(where + "name and units must not be empty");
    for (const auto& m : out)
      if (m.name == parts[0]) throw FormulaError(where + "metric '" + parts[0] + "' is defined twice");
    try {
      out.push_back(parse_metric(parts[0], parts[1], parts[2], parts[3]));
    } catch (const FormulaError& e) {
      throw FormulaError(where + e.what());
    }
  }
  return out;
}

std::vector<DerivedMetric> parse_metrics_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormulaError(path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  return parse_metrics_text(path, text.str());
}

void evaluate_into(const DerivedMetric& metric, const InputLookup& input, std::span<double> out) {
  std::vector<const std::vector<double>*> series;
  for (const auto& [field, rate] : metric.inputs) series.push_back(input(field, rate));
  std::size_t next = 0;
  apply(*metric.expression, series, next, out);
}

std::vector<double> evaluate(const DerivedMetric& metric, std::size_t bins, const InputLookup& input) {
  std::vector<double> out(bins);
  evaluate_into(metric, input, out);
  return out;
}

std::vector<DerivedMetric> metrics_for_source(const stream::SourceSpec& spec) {
  std::vector<DerivedMetric> all;
  if (auto file = find_metrics_file(spec.name); !file.empty()) {
    all = parse_metrics_file(file);
  } else if (spec.name == "perf" || spec.name.rfind("perf.", 0) == 0 || spec.name == "uncore") {
    const auto sets = spec.name == "uncore" ? std::vector<std::string>{"uncore"}
                                            : std::vector<std::string>{"software", spec.name.size() > 5 ? spec.name.substr(5) : ""};
    for (const auto& set : sets) {
      if (auto path = find_share_file("events/" + set + ".events"); !set.empty() && !path.empty()) {
        auto more = parse_metrics_file(path);
        all.insert(all.end(), more.begin(), more.end());
      }
    }
  } else {
    for (const auto& f : spec.fields) {
      bool counter = f.aggregation == stream::Aggregation::Counter || f.aggregation == stream::Aggregation::TreeCounter;
      all.push_back(counter ? parse_metric(f.name + "_rate", f.units + "/s", "rate(" + f.name + ")", f.description + " per second")
                            : parse_metric(f.name, f.units, f.name, f.description));
    }
  }
  std::erase_if(all, [&](const DerivedMetric& m) {
    return std::any_of(m.inputs.begin(), m.inputs.end(), [&](const auto& input) {
      return std::none_of(spec.fields.begin(), spec.fields.end(), [&](auto& f) { return f.name == input.first; });
    });
  });
  return all;
}

std::string find_metrics_file(const std::string& source_name) {
  return find_share_file("metrics/" + source_name + ".metrics");
}

}  // namespace jobperf::reduce
