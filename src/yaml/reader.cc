#include "yaml/reader.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <unordered_map>

#include "common/strings.h"

namespace skycore::yamlio {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllOf(std::string_view text, bool (*pred)(char)) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}

std::string_view StripSign(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  return text;
}

bool IsBoolText(std::string_view t) {
  static constexpr std::string_view kWords[] = {"yes",  "Yes",  "YES",  "no",    "No",    "NO",
                                                "true", "True", "TRUE", "false", "False", "FALSE",
                                                "on",   "On",   "ON",   "off",   "Off",   "OFF"};
  for (auto w : kWords) {
    if (t == w) return true;
  }
  return false;
}

bool BoolValue(std::string_view t) {
  const std::string lower = strings::Lower(t);
  return lower == "yes" || lower == "true" || lower == "on";
}

bool IsNullText(std::string_view t) {
  return t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL";
}

// YAML 1.1 integers: decimal, 0b binary, 0 octal, 0x hex, and base-60 (1:30).
bool ParseYamlInt(std::string_view text, long long& out) {
  bool negative = !text.empty() && text[0] == '-';
  std::string_view body = StripSign(text);
  if (body.empty() || body.front() == '_') return false;
  auto accumulate = [&](std::string_view digits, int base) -> bool {
    unsigned long long value = 0;
    bool any = false;
    for (char c : digits) {
      if (c == '_') continue;
      int d;
      if (IsDigit(c))
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return false;
      if (d >= base) return false;
      if (value > (std::numeric_limits<unsigned long long>::max() - d) / base) return false;
      value = value * base + d;
      any = true;
    }
    if (!any || value > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
      return false;
    }
    out = negative ? -static_cast<long long>(value) : static_cast<long long>(value);
    return true;
  };
  if (body.starts_with("0b")) return accumulate(body.substr(2), 2);
  if (body.starts_with("0x")) return accumulate(body.substr(2), 16);
  if (body.find(':') != std::string_view::npos) {
    // Base 60: first part [1-9][0-9_]*, then :[0-5]?[0-9] groups.
    auto parts = strings::Split(body, ':');
    if (parts[0].empty() || parts[0][0] == '0') return false;
    long long total = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      long long part;
      if (!accumulate(parts[i], 10)) return false;
      part = negative ? -out : out;
      if (i > 0 && (parts[i].empty() || parts[i].size() > 2 || part > 59)) return false;
      if (total > std::numeric_limits<long long>::max() / 60) return false;
      total = total * 60 + part;
    }
    out = negative ? -total : total;
    return true;
  }
  if (body.size() > 1 && body[0] == '0') return accumulate(body.substr(1), 8);
  return accumulate(body, 10);
}

bool ParseYamlFloat(std::string_view text, double& out) {
  std::string_view body = StripSign(text);
  const bool negative = !text.empty() && text[0] == '-';
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    out = negative ? -INFINITY : INFINITY;
    return true;
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    out = NAN;
    return true;
  }
  // PyYAML requires a '.', so "1e5" stays a string.
  if (body.find('.') == std::string_view::npos || body.find(':') != std::string_view::npos) {
    return false;
  }
  std::string cleaned;
  for (char c : text) {
    if (c != '_') cleaned += c;
  }
  // Shape check: digits, one '.', optional exponent with a sign.
  size_t i = 0;
  if (i < cleaned.size() && (cleaned[i] == '-' || cleaned[i] == '+')) ++i;
  size_t digits = 0;
  while (i < cleaned.size() && IsDigit(cleaned[i])) ++i, ++digits;
  if (i >= cleaned.size() || cleaned[i] != '.') return false;
  ++i;
  while (i < cleaned.size() && IsDigit(cleaned[i])) ++i, ++digits;
  if (digits == 0) return false;
  if (i < cleaned.size()) {
    if (cleaned[i] != 'e' && cleaned[i] != 'E') return false;
    ++i;
    if (i >= cleaned.size() || (cleaned[i] != '-' && cleaned[i] != '+')) return false;
    ++i;
    if (!AllOf(std::string_view(cleaned).substr(i), IsDigit)) return false;
  }
  std::string_view parse = cleaned;
  if (!parse.empty() && parse[0] == '+') parse.remove_prefix(1);
  // from_chars does not accept a trailing '.', so normalise "1." to "1.0".
  std::string normalized(parse);
  if (normalized.ends_with('.')) normalized += '0';
  if (normalized.starts_with('.') || normalized.starts_with("-.")) {
    const bool negative = normalized[0] == '-';
    normalized = std::string(negative ? "-0" : "0") + normalized.substr(negative ? 1 : 0);
  }
  return strings::ParseDouble(normalized, out);
}

bool IsQuotedOrStrTagged(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "!" || tag == "tag:yaml.org,2002:str";
}

}  // namespace

ScalarKind ResolveScalar(const YAML::Node& node) {
  if (node.IsNull()) return ScalarKind::kNull;
  if (!node.IsScalar()) return ScalarKind::kString;
  if (IsQuotedOrStrTagged(node)) return ScalarKind::kString;
  const std::string& text = node.Scalar();
  if (IsNullText(text)) return ScalarKind::kNull;
  if (IsBoolText(text)) return ScalarKind::kBool;
  long long i;
  if (ParseYamlInt(text, i)) return ScalarKind::kInt;
  double d;
  if (ParseYamlFloat(text, d)) return ScalarKind::kFloat;
  return ScalarKind::kString;
}

Reader::Scope Reader::Enter(std::string_view key) {
  size_t saved = path_.size();
  if (!path_.empty()) path_ += '.';
  path_ += key;
  return Scope(*this, saved);
}

Reader::Scope Reader::EnterIndex(size_t index) {
  size_t saved = path_.size();
  path_ += fmt::format("[{}]", index);
  return Scope(*this, saved);
}

ErrorLocation Reader::LocationOf(const YAML::Node& at) const {
  ErrorLocation location;
  location.file = filename_;
  location.field_path = path_;
  YAML::Mark mark = YAML::Mark::null_mark();
  if (at.IsDefined()) mark = at.Mark();
  const YAML::Mark key_mark =
      current_key_.IsDefined() ? current_key_.Mark() : YAML::Mark::null_mark();
  // A block mapping or list is reported at its key's line, where a person
  // looks for it; list items keep their own line.
  const bool is_block = at.IsDefined() && (at.IsMap() || at.IsSequence());
  const bool is_item = !path_.empty() && path_.back() == ']';
  if (mark.is_null() ||
      (is_block && !is_item && !key_mark.is_null() && key_mark.line < mark.line)) {
    if (!key_mark.is_null()) mark = key_mark;
  }
  if (!mark.is_null()) {
    location.line = mark.line + 1;
    location.column = mark.column + 1;
  }
  return location;
}

void Reader::Fail(const YAML::Node& at, const std::string& message,
                  std::vector<std::string> suggestions) const {
  throw InvalidTaskError(message, LocationOf(at), std::move(suggestions));
}

std::string Reader::Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  std::string text = node.Scalar();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  switch (ResolveScalar(node)) {
    case ScalarKind::kNull:
      return "null";
    case ScalarKind::kBool:
      return fmt::format("boolean {}", text);
    case ScalarKind::kInt:
      return fmt::format("integer {}", text);
    case ScalarKind::kFloat:
      return fmt::format("number {}", text);
    case ScalarKind::kString:
      return fmt::format("string '{}'", text);
  }
  return "a value";
}

std::string Reader::String(const YAML::Node& node, std::string_view expected) const {
  if (!node.IsScalar() || ResolveScalar(node) != ScalarKind::kString) {
    // Numbers and booleans are not strings for SkyPilot's schema either, but a
    // number is harmless where free text is expected (e.g. a name "123").
    if (node.IsScalar() && ResolveScalar(node) != ScalarKind::kNull &&
        ResolveScalar(node) != ScalarKind::kBool) {
      return node.Scalar();
    }
    Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
  }
  return node.Scalar();
}

std::string Reader::StrictString(const YAML::Node& node, std::string_view expected) const {
  if (!node.IsScalar() || ResolveScalar(node) != ScalarKind::kString) {
    std::string hint;
    if (node.IsScalar() && ResolveScalar(node) != ScalarKind::kNull) {
      hint = fmt::format(" (quote it: '{}')", node.Scalar());
    }
    Fail(node, fmt::format("expected {}, found {}{}.", expected, Describe(node), hint), {"string"});
  }
  return node.Scalar();
}

std::string Reader::ScalarText(const YAML::Node& node, std::string_view expected) const {
  if (!node.IsScalar() || ResolveScalar(node) == ScalarKind::kNull) {
    Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
  }
  return node.Scalar();
}

bool Reader::Bool(const YAML::Node& node) const {
  if (!node.IsScalar() || ResolveScalar(node) != ScalarKind::kBool) {
    Fail(node, fmt::format("expected a boolean (true or false), found {}.", Describe(node)),
         {"true", "false"});
  }
  return BoolValue(node.Scalar());
}

long long Reader::Int(const YAML::Node& node, std::string_view expected) const {
  long long value;
  if (!node.IsScalar() || ResolveScalar(node) != ScalarKind::kInt ||
      !ParseYamlInt(node.Scalar(), value)) {
    Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
  }
  return value;
}

double Reader::Number(const YAML::Node& node, std::string_view expected) const {
  if (node.IsScalar()) {
    const ScalarKind kind = ResolveScalar(node);
    long long i;
    double d;
    if (kind == ScalarKind::kInt && ParseYamlInt(node.Scalar(), i)) return static_cast<double>(i);
    if (kind == ScalarKind::kFloat && ParseYamlFloat(node.Scalar(), d) && std::isfinite(d)) {
      return d;
    }
  }
  Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
}

void Reader::RequireMap(const YAML::Node& node, std::string_view expected) const {
  if (!node.IsMap()) Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
}

void Reader::RequireList(const YAML::Node& node, std::string_view expected) const {
  if (!node.IsSequence())
    Fail(node, fmt::format("expected {}, found {}.", expected, Describe(node)));
}

nlohmann::json Reader::ToJson(const YAML::Node& node) { return ToJsonBounded(node, 0); }

nlohmann::json Reader::ToJsonBounded(const YAML::Node& node, int depth) {
  if (json_budget_ == 0) {
    Fail(node, "the document is too large once its aliases are expanded (over 1,000,000 values).");
  }
  --json_budget_;
  if (depth > 256) Fail(node, "the document nests deeper than 256 levels.");
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(ToJsonBounded(item, depth + 1));
    return out;
  }
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) Fail(it->first, "mapping keys must be plain strings.");
      if (out.contains(it->first.Scalar())) {
        auto scope = Enter(it->first.Scalar());
        Fail(it->first, fmt::format("duplicate key '{}'; keep one.", it->first.Scalar()));
      }
      out[it->first.Scalar()] = ToJsonBounded(it->second, depth + 1);
    }
    return out;
  }
  const std::string& text = node.Scalar();
  switch (ResolveScalar(node)) {
    case ScalarKind::kNull:
      return nullptr;
    case ScalarKind::kBool:
      return BoolValue(text);
    case ScalarKind::kInt: {
      long long value = 0;
      ParseYamlInt(text, value);
      return value;
    }
    case ScalarKind::kFloat: {
      double value = 0;
      ParseYamlFloat(text, value);
      if (!std::isfinite(value)) return text;  // JSON has no inf/nan; keep the text
      return value;
    }
    case ScalarKind::kString:
      return text;
  }
  return text;
}

namespace {

// A document's problems past this many are counted, not listed.
constexpr size_t kMaxListedProblems = 20;

}  // namespace

void Reader::Record(const InvalidTaskError& error) { problems_.push_back(error); }

Reader::FieldsScope::~FieldsScope() {
  --reader_.fields_depth_;
  // Unwinding for another error (a YAML exception): nothing is reported.
  if (!finished_ && reader_.fields_depth_ == 0) reader_.problems_.clear();
}

void Reader::FieldsScope::Finish() {
  finished_ = true;
  auto& problems = reader_.problems_;
  if (problems.size() == recorded_before_) return;
  if (reader_.fields_depth_ > 1) throw ProblemsRecorded{};
  std::vector<InvalidTaskError> all;
  all.swap(problems);
  if (all.size() == 1) throw all.front();
  // The first problem leads (with its location and close matches); the
  // others follow, one per line, each with its own.
  const InvalidTaskError& first = all.front();
  std::string message = first.message();
  if (!first.suggestions().empty()) {
    message += fmt::format(" Did you mean '{}'?", fmt::join(first.suggestions(), "' or '"));
  }
  message += fmt::format("\n{} more problem{} in this document:", all.size() - 1,
                         all.size() == 2 ? "" : "s");
  for (size_t i = 1; i < all.size() && i <= kMaxListedProblems; ++i) {
    message += fmt::format("\n  {}", all[i].what());
  }
  if (all.size() > kMaxListedProblems + 1) {
    message += fmt::format("\n  ... and {} more", all.size() - kMaxListedProblems - 1);
  }
  throw InvalidTaskError(std::move(message), first.location());
}

void FailDuplicateKey(Reader& reader, const YAML::Node& key, std::string_view key_text,
                      const YAML::Node& first) {
  auto scope = reader.Enter(key_text);
  reader.set_current_key(key);
  const YAML::Mark mark = first.Mark();
  reader.Fail(key,
              mark.is_null()
                  ? fmt::format("duplicate key '{}'.", key_text)
                  : fmt::format("duplicate key '{}': it is already given on line {}; keep one.",
                                key_text, mark.line + 1));
}

void CheckNoDuplicateKeys(Reader& reader, const YAML::Node& map) {
  if (!map.IsMap()) return;
  std::unordered_map<std::string, YAML::Node> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) reader.Fail(it->first, "mapping keys must be plain strings.");
    auto [found, inserted] = seen.emplace(it->first.Scalar(), it->first);
    if (!inserted) FailDuplicateKey(reader, it->first, it->first.Scalar(), found->second);
  }
}

void FailUnknownKey(Reader& reader, const YAML::Node& key, std::string_view key_text,
                    const std::vector<std::string>& valid, std::string_view section_name) {
  auto scope = reader.Enter(key_text);
  auto matches = strings::CloseMatches(key_text, valid);
  reader.Fail(key,
              fmt::format("unknown field '{}' in {}. Valid fields: {}.", key_text, section_name,
                          fmt::join(valid, ", ")),
              std::move(matches));
}

}  // namespace skycore::yamlio
