// `--env`, `--secret` and `--env-file`.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/strings.h"
#include "skycore/error.h"
#include "skycore/yaml.h"

namespace skycore {
namespace {

[[noreturn]] void Invalid(std::string message, std::string file = "", int line = 0,
                          std::vector<std::string> suggestions = {}) {
  ErrorLocation location;
  location.file = std::move(file);
  location.line = line;
  throw InvalidTaskError(std::move(message), std::move(location), std::move(suggestions));
}

std::string Unquote(std::string_view value) {
  value = strings::Trim(value);
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    std::string inner(value.substr(1, value.size() - 2));
    if (value.front() == '"') {
      std::string out;
      for (size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] == '\\' && i + 1 < inner.size()) {
          char next = inner[++i];
          out += next == 'n' ? '\n' : next == 't' ? '\t' : next;
        } else {
          out += inner[i];
        }
      }
      return out;
    }
    return inner;
  }
  // Unquoted: a trailing " # comment" is not part of the value.
  auto hash = value.find(" #");
  if (hash != std::string_view::npos) value = strings::Trim(value.substr(0, hash));
  return std::string(value);
}

}  // namespace

std::pair<std::string, std::string> ParseEnvAssignment(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup,
    std::string_view flag) {
  auto eq = text.find('=');
  std::string name(eq == std::string_view::npos ? text : text.substr(0, eq));
  if (!IsValidEnvName(name)) {
    Invalid(
        fmt::format("{} '{}': '{}' is not a valid variable name (letters, digits and '_', "
                    "not starting with a digit); write {} NAME=VALUE.",
                    flag, text, name, flag));
  }
  if (eq != std::string_view::npos) return {name, std::string(text.substr(eq + 1))};
  auto value = lookup ? lookup(name) : std::nullopt;
  if (!value) {
    Invalid(fmt::format("{} {}: no value given and '{}' is not set in your environment; write "
                        "{} {}=VALUE.",
                        flag, name, name, flag, name),
            "", 0, {fmt::format("{} {}=<value>", flag, name)});
  }
  return {name, *value};
}

EnvVars ParseEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) Invalid(fmt::format("cannot read env file '{}': {}.", path, std::strerror(errno)), path);
  EnvVars vars;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view view = strings::Trim(line);
    if (view.empty() || view.front() == '#') continue;
    if (view.starts_with("export ")) view = strings::Trim(view.substr(7));
    auto eq = view.find('=');
    if (eq == std::string_view::npos) {
      Invalid(fmt::format("expected NAME=VALUE, found '{}'.", view), path, number);
    }
    std::string name(strings::Trim(view.substr(0, eq)));
    if (!IsValidEnvName(name)) {
      Invalid(fmt::format("'{}' is not a valid variable name.", name), path, number);
    }
    std::string value = Unquote(view.substr(eq + 1));
    bool replaced = false;
    for (auto& [k, v] : vars) {
      if (k == name) {
        v = value;
        replaced = true;
      }
    }
    if (!replaced) vars.emplace_back(name, value);
  }
  return vars;
}

}  // namespace skycore
