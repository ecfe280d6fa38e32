// Reading YAML nodes into the model, with the field path and source position
// of every value, so that any error can say exactly where it is.
//
// Scalars are typed the way PyYAML (which SkyPilot uses) types them — YAML 1.1:
// `yes`/`on` are booleans, `0x10` is an integer — while quoted scalars are
// always strings. That keeps "valid for SkyPilot" and "valid for us" the same.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "skycore/error.h"

namespace skycore::yamlio {

enum class ScalarKind { kNull, kBool, kInt, kFloat, kString };

// Type of a scalar node by YAML 1.1 rules; a quoted scalar is always kString.
ScalarKind ResolveScalar(const YAML::Node& node);

class Reader {
 public:
  explicit Reader(std::string filename) : filename_(std::move(filename)) {}

  // Path scopes: `auto scope = reader.Enter("resources");` appends ".resources"
  // until the scope ends.
  class Scope {
   public:
    Scope(Reader& reader, size_t saved) : reader_(reader), saved_(saved) {}
    ~Scope() { reader_.path_.resize(saved_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Reader& reader_;
    size_t saved_;
  };
  [[nodiscard]] Scope Enter(std::string_view key);
  [[nodiscard]] Scope EnterIndex(size_t index);
  const std::string& path() const noexcept { return path_; }
  const std::string& filename() const noexcept { return filename_; }

  // Throws InvalidTaskError at `at`'s position and the current path.
  [[noreturn]] void Fail(const YAML::Node& at, const std::string& message,
                         std::vector<std::string> suggestions = {}) const;
  ErrorLocation LocationOf(const YAML::Node& at) const;

  // Typed reads. Each fails with "expected <what>, found <description>".
  std::string String(const YAML::Node& node, std::string_view expected = "a string") const;
  // Only a string: unlike String, a number (`5`) is refused too, as SkyPilot's
  // schema does for fields that are strings and nothing else (labels values,
  // job_recovery strategy).
  std::string StrictString(const YAML::Node& node, std::string_view expected = "a string") const;
  // Any scalar as text (numbers and booleans as written); fails on lists/maps/null.
  std::string ScalarText(const YAML::Node& node, std::string_view expected) const;
  bool Bool(const YAML::Node& node) const;
  long long Int(const YAML::Node& node, std::string_view expected = "an integer") const;
  double Number(const YAML::Node& node, std::string_view expected = "a number") const;
  void RequireMap(const YAML::Node& node, std::string_view expected) const;
  void RequireList(const YAML::Node& node, std::string_view expected) const;

  // What a node is, for messages: "string 'two'", "a list", "a mapping", "null".
  static std::string Describe(const YAML::Node& node);

  // A JSON value with the same structure (for pass-through sections). Bounded:
  // a document whose aliases expand past a limit is rejected, not expanded.
  nlohmann::json ToJson(const YAML::Node& node);

  // The key whose value is being read: its position stands in for values
  // that have none (an empty `key:`).
  void set_current_key(const YAML::Node& key) { current_key_.reset(key); }
  YAML::Node current_key() const { return current_key_; }

  // Every field of a document is read even after one fails, so that a user
  // sees all its problems at once (as SkyPilot's schema validator lists its
  // problematic fields). ReadFields records each field's error here; the
  // outermost ReadFields then throws them as one InvalidTaskError, and an
  // inner one throws ProblemsRecorded so that its section, half read, is not
  // used (no error follows from another).
  class FieldsScope {
   public:
    explicit FieldsScope(Reader& reader)
        : reader_(reader), recorded_before_(reader.problems_.size()) {
      ++reader_.fields_depth_;
    }
    ~FieldsScope();
    FieldsScope(const FieldsScope&) = delete;
    FieldsScope& operator=(const FieldsScope&) = delete;
    void Record(const InvalidTaskError& error) { reader_.Record(error); }
    // Throws what was recorded since this scope began (see above).
    void Finish();

   private:
    Reader& reader_;
    size_t recorded_before_;
    bool finished_ = false;
  };

 private:
  void Record(const InvalidTaskError& error);
  std::vector<InvalidTaskError> problems_;
  int fields_depth_ = 0;
  YAML::Node current_key_;
  nlohmann::json ToJsonBounded(const YAML::Node& node, int depth);
  std::string filename_;
  std::string path_;
  size_t json_budget_ = 1'000'000;
};

// Thrown by a nested ReadFields whose problems the Reader has recorded.
struct ProblemsRecorded {};

// A section's table of fields: the one place that says which keys a section
// has, what each accepts, and how it is read. The same table drives validation,
// unknown-key suggestions and documentation.
template <class Target>
struct Field {
  std::string_view name;
  std::string_view accepts;  // human text of what is valid, e.g. "an integer >= 1"
  void (*read)(Reader& reader, const YAML::Node& value, Target& target);
};

// Names of a table's public fields (those not starting with '_').
template <class Target, size_t N>
std::vector<std::string> FieldNames(const Field<Target> (&table)[N]) {
  std::vector<std::string> names;
  for (const auto& field : table) {
    if (!field.name.starts_with('_')) names.emplace_back(field.name);
  }
  return names;
}

// Reads every key of `map` through `table`. An unknown key fails with close
// matches among the table's names. Every key is read even after one fails;
// all the problems are reported together (Reader::FieldsScope).
template <class Target, size_t N>
void ReadFields(Reader& reader, const YAML::Node& map, const Field<Target> (&table)[N],
                Target& target, std::string_view section_name);

[[noreturn]] void FailUnknownKey(Reader& reader, const YAML::Node& key, std::string_view key_text,
                                 const std::vector<std::string>& valid,
                                 std::string_view section_name);

[[noreturn]] void FailDuplicateKey(Reader& reader, const YAML::Node& key, std::string_view key_text,
                                   const YAML::Node& first);
// Fails on a key that appears twice in `map` (YAML allows it; SkyPilot does not).
void CheckNoDuplicateKeys(Reader& reader, const YAML::Node& map);

// One key of `map` (at `it`) through `table`.
template <class Target, size_t N>
void ReadField(Reader& reader, const YAML::Node& map, YAML::const_iterator it,
               const Field<Target> (&table)[N], Target& target, std::string_view section_name) {
  const YAML::Node key = it->first;
  if (!key.IsScalar()) reader.Fail(key, "a field name must be a plain string");
  const std::string& key_text = key.Scalar();
  const Field<Target>* found = nullptr;
  for (const auto& field : table) {
    if (field.name == key_text) {
      found = &field;
      break;
    }
  }
  if (found == nullptr) FailUnknownKey(reader, key, key_text, FieldNames(table), section_name);
  for (auto previous = map.begin(); previous != it; ++previous) {
    if (previous->first.IsScalar() && previous->first.Scalar() == key_text) {
      FailDuplicateKey(reader, key, key_text, previous->first);
    }
  }
  auto scope = reader.Enter(key_text);
  const YAML::Node parent_key = reader.current_key();
  reader.set_current_key(key);
  try {
    found->read(reader, it->second, target);
  } catch (...) {
    reader.set_current_key(parent_key);  // the next field is read all the same
    throw;
  }
  reader.set_current_key(parent_key);
}

template <class Target, size_t N>
void ReadFields(Reader& reader, const YAML::Node& map, const Field<Target> (&table)[N],
                Target& target, std::string_view section_name) {
  Reader::FieldsScope fields(reader);
  for (auto it = map.begin(); it != map.end(); ++it) {
    try {
      ReadField(reader, map, it, table, target, section_name);
    } catch (const InvalidTaskError& error) {
      fields.Record(error);
    } catch (const ProblemsRecorded&) {
      // A section inside this field: its problems are recorded already.
    }
  }
  fields.Finish();
}

}  // namespace skycore::yamlio
