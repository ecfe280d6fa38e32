// The public loader: parsing YAML text, env overrides, `${VAR}` interpolation,
// multi-document chains, and dumping.
#include <fmt/format.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "skycore/error.h"
#include "skycore/yaml.h"
#include "yaml/sections.h"

namespace skycore {
namespace {

using yamlio::Reader;

// Replaces $NAME and ${NAME} with the value of a task env; unknown names stay
// as written (they may be meant for the remote shell).
std::string Interpolate(const std::string& text, const EnvVars& envs) {
  if (text.find('$') == std::string::npos) return text;
  auto is_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto is_part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      out += text[i++];
      continue;
    }
    size_t j = i + 1;
    bool brace = j < text.size() && text[j] == '{';
    if (brace) ++j;
    if (j >= text.size() || !is_start(text[j])) {
      out += text[i++];
      continue;
    }
    size_t name_start = j;
    while (j < text.size() && is_part(text[j])) ++j;
    std::string name = text.substr(name_start, j - name_start);
    if (brace && j < text.size() && text[j] == '}') ++j;
    auto it =
        std::find_if(envs.begin(), envs.end(), [&](const auto& kv) { return kv.first == name; });
    if (it == envs.end())
      out += text.substr(i, j - i);
    else
      out += it->second;
    i = j;
  }
  return out;
}

nlohmann::json InterpolateJson(const nlohmann::json& value, const EnvVars& envs) {
  if (value.is_string()) return Interpolate(value.get<std::string>(), envs);
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(InterpolateJson(item, envs));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : value.items()) out[Interpolate(k, envs)] = InterpolateJson(v, envs);
    return out;
  }
  return value;
}

void ApplyInterpolation(Task& task) {
  const EnvVars& envs = task.envs();
  if (envs.empty()) return;
  if (auto workdir = task.workdir()) {
    workdir->path = Interpolate(workdir->path, envs);
    workdir->git_url = Interpolate(workdir->git_url, envs);
    workdir->git_ref = Interpolate(workdir->git_ref, envs);
    task.set_workdir(workdir);
  }
  std::vector<FileMount> mounts = task.file_mounts();
  for (auto& mount : mounts) {
    mount.destination = Interpolate(mount.destination, envs);
    mount.source = Interpolate(mount.source, envs);
    if (mount.is_storage()) mount.storage = InterpolateJson(mount.storage, envs);
  }
  task.set_file_mounts(std::move(mounts));
  if (!task.volumes().is_null()) task.set_volumes(InterpolateJson(task.volumes(), envs));
}

// Applies overrides, then fails on any env still without a value. A secret
// without one stays unresolved: SkyPilot takes it at load and asks for it
// only at launch.
void Finish(Reader& reader, Task& task, const std::vector<yamlio::UnsetVar>& unset,
            const LoadOptions& options, const YAML::Node& document) {
  task.update_envs(options.env_overrides);
  task.update_secrets(options.secret_overrides);
  for (const auto& var : unset) {
    bool given = std::any_of(options.env_overrides.begin(), options.env_overrides.end(),
                             [&](const auto& kv) { return kv.first == var.name; });
    if (given) continue;
    auto scope = reader.Enter(var.section);
    auto name_scope = reader.Enter(var.name);
    reader.Fail(
        var.node,
        fmt::format("environment variable '{}' has no value (null in the YAML means it "
                    "must be given at launch). Set it in the YAML or pass --env {}=<value>.",
                    var.name, var.name),
        {fmt::format("--env {}=<value>", var.name)});
  }
  yamlio::CheckDockerLogin(reader, task, document);
  ApplyInterpolation(task);
}

// Where a tab indents line `line` (1-based) of `text`: its 1-based column,
// or 0. YAML indents with spaces only; yaml-cpp's own message for a tab
// ("illegal map value" after it) points past the real culprit.
int IndentingTab(std::string_view text, int line) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    start = text.find('\n', start);
    if (start == std::string_view::npos) return 0;
    ++start;
  }
  for (size_t i = start; i < text.size() && (text[i] == ' ' || text[i] == '\t'); ++i) {
    if (text[i] == '\t') return static_cast<int>(i - start) + 1;
  }
  return 0;
}

// `text`, when given, is the document the parser failed on.
[[noreturn]] void FailParse(const std::string& filename, const YAML::Exception& e,
                            std::string_view text = {}) {
  ErrorLocation location;
  location.file = filename;
  if (!e.mark.is_null()) {
    location.line = e.mark.line + 1;
    location.column = e.mark.column + 1;
    // A tab on the failing line (or the one before: the parser may notice
    // only at the next token) is what to name.
    for (int line = location.line; !text.empty() && line >= location.line - 1 && line > 0; --line) {
      if (const int column = IndentingTab(text, line); column > 0) {
        location.line = line;
        location.column = column;
        throw InvalidTaskError(
            "invalid YAML: a tab character indents this line; YAML indents with spaces only "
            "(replace the tab with spaces).",
            std::move(location));
      }
    }
  }
  throw InvalidTaskError(fmt::format("invalid YAML: {}.", e.msg), std::move(location));
}

// Walks the document events without building nodes. yaml-cpp 0.7's LoadAll
// loops forever on some malformed inputs (e.g. a stray ',' at the top level)
// because the parser stops consuming input yet keeps reporting empty
// documents; this pass notices a document that starts where the previous one
// did and reports the input as invalid instead.
class DocumentGuard : public YAML::EventHandler {
 public:
  explicit DocumentGuard(size_t max_documents) : max_documents_(max_documents) {}
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > max_documents_ || (documents_ > 1 && mark.pos == last_start_.pos)) {
      throw YAML::ParserException(mark, "unexpected content; the parser cannot continue here");
    }
    last_start_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  size_t max_documents_;
  size_t documents_ = 0;
  YAML::Mark last_start_;
};

// YAML (and PyYAML, which SkyPilot uses) accepts only printable Unicode
// characters in UTF-8: no C0/C1 control codes but tab and line breaks, no
// DEL, no surrogates or non-characters. yaml-cpp lets them through, and then
// a NUL or a stray control code changes what the text means on a round trip.
void CheckPrintable(std::string_view text, const std::string& filename) {
  int line = 1;
  int column = 1;
  auto fail = [&](const std::string& what) {
    ErrorLocation location;
    location.file = filename;
    location.line = line;
    location.column = column;
    throw InvalidTaskError(fmt::format("invalid YAML: {}.", what), std::move(location));
  };
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7f) {
        fail(fmt::format("unacceptable character #x{:04x}: special characters are not allowed",
                         byte));
      }
      if (byte == '\n') {
        ++line;
        column = 0;
      }
      ++i;
      ++column;
      continue;
    }
    size_t length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 0;
    if (byte >= 0xf8 || length == 0 || i + length > text.size()) {
      fail(fmt::format("byte #x{:02x} is not valid UTF-8", byte));
    }
    uint32_t code = byte & (0x7f >> length);
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) fail(fmt::format("byte #x{:02x} is not valid UTF-8", byte));
      code = (code << 6) | (next & 0x3f);
    }
    const bool overlong = (length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
                          (length == 4 && code < 0x10000);
    if (overlong || code > 0x10ffff) fail(fmt::format("byte #x{:02x} is not valid UTF-8", byte));
    if ((code >= 0x80 && code <= 0x9f && code != 0x85) || (code >= 0xd800 && code <= 0xdfff) ||
        code == 0xfffe || code == 0xffff) {
      fail(
          fmt::format("unacceptable character #x{:04x}: special characters are not allowed", code));
    }
    i += length;
    ++column;
  }
}

std::string NormalizeLineBreaks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out.push_back(text[i]);
    } else if (i + 1 >= text.size() || text[i + 1] != '\n') {
      out.push_back('\n');
    }
  }
  return out;
}

std::vector<YAML::Node> ParseDocuments(std::string_view text, const std::string& filename) {
  try {
    // YAML counts CR, LF and CR LF as line breaks; yaml-cpp only LF, keeping a
    // stray CR as content (so `A:\r` would be the string "\r", not null).
    CheckPrintable(text, filename);
    std::string copy = NormalizeLineBreaks(text);
    // A stream with no document marker at the start of a line holds at most
    // one document: parse it once, without the guard pass (the common case).
    auto has_marker = [&copy] {
      for (size_t pos = 0; pos < copy.size(); pos = copy.find('\n', pos) + 1) {
        if (copy.compare(pos, 3, "---") == 0 || copy.compare(pos, 3, "...") == 0) return true;
        if (copy.find('\n', pos) == std::string::npos) break;
      }
      return false;
    };
    if (!has_marker()) {
      YAML::Node node = YAML::Load(copy);
      // A null result from non-empty text may be the parser stopping at its
      // first token: only the guarded path below tells that apart.
      const bool blank = copy.find_first_not_of(" \t\r\n") == std::string::npos;
      // Blank text holds no document, as for PyYAML (not one `null` document).
      if (blank) return {};
      if (!node.IsNull()) return {node};
    }
    {
      std::istringstream stream(copy);
      YAML::Parser parser(stream);
      DocumentGuard guard(static_cast<size_t>(std::count(copy.begin(), copy.end(), '\n')) + 2);
      while (parser.HandleNextDocument(guard)) {
      }
    }
    return YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    FailParse(filename, e, text);
  }
}

Task LoadOne(const YAML::Node& node, const LoadOptions& options) {
  Reader reader(options.filename);
  std::vector<yamlio::UnsetVar> unset;
  try {
    Task task = yamlio::ReadTaskDocument(reader, node, unset);
    Finish(reader, task, unset, options, node);
    return task;
  } catch (const YAML::Exception& e) {
    FailParse(options.filename, e);
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ErrorLocation location;
    location.file = path;
    throw InvalidTaskError(
        fmt::format("cannot read task file '{}': {}.", path, std::strerror(errno)),
        std::move(location));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The first document of a pipeline: its `name`, and optionally `execution:`.
// SkyPilot takes such a document as the header even when nothing follows it.
bool IsDagHeader(const YAML::Node& node) {
  if (!node.IsMap() || !node["name"].IsDefined()) return false;
  return node.size() == 1 || (node.size() == 2 && node["execution"].IsDefined());
}

// SkyPilot's `sky launch <file>` refuses a file whose every document is empty
// (nothing, `null` or `{}`); its string loaders take one as an empty task.
void RequireSomeTask(const std::vector<YAML::Node>& documents, const std::string& filename) {
  const bool empty = std::all_of(documents.begin(), documents.end(), [](const YAML::Node& d) {
    return d.IsNull() || (d.IsMap() && d.size() == 0);
  });
  if (!empty) return;
  ErrorLocation location;
  location.file = filename;
  location.line = 1;
  location.column = 1;
  for (const auto& document : documents) {
    if (document.Mark().is_null()) continue;
    location.line = document.Mark().line + 1;
    location.column = document.Mark().column + 1;
    break;
  }
  throw InvalidTaskError(
      "the file holds no task: it is empty, or its documents are only `null` or `{}`. A task "
      "needs at least `run:` (or `setup:`), e.g. `run: echo hello`.",
      std::move(location));
}

template <class Json>
void EmitJson(YAML::Emitter& out, const Json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : value.items()) {
      out << YAML::Key << k << YAML::Value;
      EmitJson(out, v);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : value) EmitJson(out, v);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    const std::string& s = value.template get_ref<const std::string&>();
    if (s.find('\n') != std::string::npos) {
      // A literal block reads back exactly only for text that ends with one
      // newline and starts with a visible character (yaml-cpp writes no
      // chomping or indentation indicators); anything else is double-quoted.
      const bool literal_ok =
          s.ends_with('\n') && !s.ends_with("\n\n") && s.front() != ' ' && s.front() != '\t' &&
          s.front() != '\n' && std::all_of(s.begin(), s.end(), [](char c) {
            return c == '\n' || c == '\t' || static_cast<unsigned char>(c) >= 0x20;
          });
      if (literal_ok)
        out << YAML::Literal << s;
      else
        out << YAML::DoubleQuoted << s;
    } else {
      // Quote strings that would otherwise read back as another type.
      YAML::Node probe(s);
      probe.SetTag("?");
      bool plain_ok = !s.empty() && yamlio::ResolveScalar(probe) == yamlio::ScalarKind::kString;
      if (plain_ok)
        out << s;
      else
        out << YAML::DoubleQuoted << s;
    }
  } else if (value.is_boolean()) {
    out << (value.template get<bool>() ? "true" : "false");
  } else if (value.is_number_integer()) {
    out << value.template get<long long>();
  } else if (value.is_number_float()) {
    out << strings::FormatPythonFloat(value.template get<double>());
  } else {
    out << YAML::Null;
  }
}

// SkyPilot's chain loader: a header document (IsDagHeader) names the Dag;
// every other document is a task, each after the one before; `null`
// documents are skipped. A header alone is one task of that name, and no
// document at all one empty task.
Dag LoadDagDocuments(std::vector<YAML::Node> documents, const LoadOptions& options) {
  Dag dag;
  if (documents.empty()) {
    dag.add(std::make_shared<Task>());
    return dag;
  }
  size_t first = 0;
  if (IsDagHeader(documents[0])) {
    Reader reader(options.filename);
    const YAML::Node header = documents[0];
    // SkyPilot writes `name: null` as the header of an unnamed pipeline.
    if (const YAML::Node name = header["name"]; !name.IsNull()) {
      auto scope = reader.Enter("name");
      dag.set_name(reader.String(name));
    }
    if (const YAML::Node execution = header["execution"]; execution && !execution.IsNull()) {
      // A pipeline runs its tasks one after another; `parallel` is for job groups.
      auto scope = reader.Enter("execution");
      const std::string mode = reader.String(execution, "serial");
      if (mode != "serial") {
        reader.Fail(execution,
                    fmt::format("a pipeline runs its tasks in order: execution must be 'serial' "
                                "(or left out), found '{}'.",
                                mode),
                    {"serial"});
      }
    }
    if (documents.size() == 1) {
      // A task of only that name, overrides applied as to any other task.
      YAML::Node only_name(YAML::NodeType::Map);
      only_name["name"] = header["name"];
      dag.add(std::make_shared<Task>(LoadOne(only_name, options)));
      return dag;
    }
    first = 1;
  }
  std::shared_ptr<Task> previous;
  for (size_t i = first; i < documents.size(); ++i) {
    if (documents[i].IsNull()) continue;
    auto task = std::make_shared<Task>(LoadOne(documents[i], options));
    if (previous)
      dag.add_edge(previous, task);
    else
      dag.add(task);
    previous = task;
  }
  if (!dag.name() && dag.size() == 1) dag.set_name(dag.tasks()[0]->name());
  return dag;
}

}  // namespace

Task LoadTaskYaml(std::string_view yaml_text, const LoadOptions& options) {
  auto documents = ParseDocuments(yaml_text, options.filename);
  if (documents.size() > 1) {
    ErrorLocation location;
    location.file = options.filename;
    throw InvalidTaskError(
        fmt::format("expected one task but the YAML holds {} documents; load it as a Dag "
                    "(a pipeline) instead.",
                    documents.size()),
        std::move(location));
  }
  return LoadOne(documents.empty() ? YAML::Node() : documents[0], options);
}

Task LoadTaskYamlFile(const std::string& path, LoadOptions options) {
  if (options.filename.empty()) options.filename = path;
  return LoadTaskYaml(ReadFile(path), options);
}

Task LoadTaskConfig(const nlohmann::json& config, const LoadOptions& options) {
  return LoadOne(yamlio::JsonToYaml(config), options);
}

Resources LoadResourcesConfig(const nlohmann::json& config) {
  Reader reader("");
  try {
    auto scope = reader.Enter("resources");
    return yamlio::ReadSingleResources(reader, yamlio::JsonToYaml(config));
  } catch (const YAML::Exception& e) {
    FailParse("", e);
  }
}

ResourcesSet LoadResourcesSetConfig(const nlohmann::json& config) {
  Reader reader("");
  try {
    auto scope = reader.Enter("resources");
    return yamlio::ReadResourcesSection(reader, yamlio::JsonToYaml(config));
  } catch (const YAML::Exception& e) {
    FailParse("", e);
  }
}

nlohmann::ordered_json ResourcesToConfig(const Resources& resources) {
  return yamlio::ResourcesToConfig(resources);
}

Dag LoadDagYaml(std::string_view yaml_text, const LoadOptions& options) {
  return LoadDagDocuments(ParseDocuments(yaml_text, options.filename), options);
}

Dag LoadDagYamlFile(const std::string& path, LoadOptions options) {
  if (options.filename.empty()) options.filename = path;
  auto documents = ParseDocuments(ReadFile(path), options.filename);
  RequireSomeTask(documents, options.filename);
  return LoadDagDocuments(std::move(documents), options);
}

nlohmann::ordered_json TaskToConfig(const Task& task, const DumpOptions& options) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  if (task.name()) out["name"] = *task.name();
  if (auto workdir = task.workdir()) {
    if (workdir->is_git()) {
      nlohmann::ordered_json git = {{"url", workdir->git_url}};
      if (!workdir->git_ref.empty()) git["ref"] = workdir->git_ref;
      out["workdir"] = git;
    } else {
      out["workdir"] = workdir->path;
    }
  }
  if (task.num_nodes() != 1) out["num_nodes"] = task.num_nodes();
  nlohmann::ordered_json resources = yamlio::ResourcesSetToConfig(task.resources());
  if (!resources.empty()) out["resources"] = resources;
  if (!task.envs().empty()) {
    nlohmann::ordered_json envs = nlohmann::ordered_json::object();
    for (const auto& [k, v] : task.envs()) envs[k] = v;
    out["envs"] = envs;
  }
  if (!task.secrets().empty() || !task.unresolved_secrets().empty()) {
    nlohmann::ordered_json secrets = nlohmann::ordered_json::object();
    for (const auto& [k, v] : task.secrets())
      secrets[k] = options.redact_secrets ? "<redacted>" : v;
    // Null, as SkyPilot writes a reference: the dump loads back, still unresolved.
    for (const auto& k : task.unresolved_secrets()) secrets[k] = nullptr;
    out["secrets"] = secrets;
  }
  if (!task.file_mounts().empty()) {
    nlohmann::ordered_json mounts = nlohmann::ordered_json::object();
    for (const auto& m : task.file_mounts()) {
      mounts[m.destination] =
          m.is_storage() ? nlohmann::ordered_json(m.storage) : nlohmann::ordered_json(m.source);
    }
    out["file_mounts"] = mounts;
  }
  if (!task.volumes().is_null()) out["volumes"] = task.volumes();
  if (task.setup()) out["setup"] = *task.setup();
  if (task.run()) out["run"] = *task.run();
  if (!task.service().is_null()) out["service"] = task.service();
  if (!task.config().is_null()) out["config"] = task.config();
  if (task.event_callback()) out["event_callback"] = *task.event_callback();
  for (const auto& [k, v] : task.extra().items()) out[k] = v;
  return out;
}

std::string DumpTaskYaml(const Task& task, const DumpOptions& options) {
  YAML::Emitter out;
  nlohmann::ordered_json config = TaskToConfig(task, options);
  if (config.empty()) return "{}\n";
  EmitJson(out, config);
  return std::string(out.c_str()) + "\n";
}

std::string DumpDagYaml(const Dag& dag, const DumpOptions& options) {
  std::string text;
  // A pipeline always gets its header (`name: null` when unnamed, as SkyPilot
  // writes it), so a first task holding only a name is not read back as the
  // header; one task gets it only when the Dag's name differs from the task's.
  const bool with_header =
      dag.size() > 1 || (dag.size() == 1 && dag.name() && dag.name() != dag.tasks()[0]->name());
  if (with_header) {
    // Through the emitter, so a name with newlines or YAML syntax stays one string.
    YAML::Emitter header;
    nlohmann::ordered_json name_only = {{"name", nullptr}};
    if (dag.name()) name_only["name"] = *dag.name();
    EmitJson(header, name_only);
    text += std::string(header.c_str()) + "\n";
  }
  for (size_t index : dag.topological_order()) {
    if (!text.empty()) text += "---\n";
    text += DumpTaskYaml(*dag.tasks()[index], options);
  }
  return text;
}

namespace yamlio {

namespace {
template <class Json>
YAML::Node JsonToYamlImpl(const Json& value) {
  YAML::Node node;
  if (value.is_object()) {
    node = YAML::Node(YAML::NodeType::Map);
    for (const auto& [k, v] : value.items()) node[k] = JsonToYamlImpl(v);
  } else if (value.is_array()) {
    node = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& v : value) node.push_back(JsonToYamlImpl(v));
  } else if (value.is_string()) {
    node = YAML::Node(value.template get<std::string>());
    node.SetTag("!");  // a string stays a string, whatever it looks like
  } else if (value.is_boolean()) {
    node = YAML::Node(value.template get<bool>() ? "true" : "false");
  } else if (value.is_number_integer()) {
    node = YAML::Node(std::to_string(value.template get<long long>()));
  } else if (value.is_number_unsigned()) {
    node = YAML::Node(std::to_string(value.template get<unsigned long long>()));
  } else if (value.is_number_float()) {
    node = YAML::Node(strings::FormatPythonFloat(value.template get<double>()));
  } else {
    node = YAML::Node(YAML::NodeType::Null);
  }
  return node;
}
}  // namespace

YAML::Node JsonToYaml(const nlohmann::json& value) { return JsonToYamlImpl(value); }
YAML::Node JsonToYaml(const nlohmann::ordered_json& value) { return JsonToYamlImpl(value); }

}  // namespace yamlio

}  // namespace skycore
