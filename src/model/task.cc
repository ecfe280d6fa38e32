#include "skycore/task.h"

#include <fmt/format.h>

#include <algorithm>

#include "skycore/error.h"

namespace skycore {
namespace {

[[noreturn]] void Invalid(const std::string& field, const std::string& message) {
  ErrorLocation location;
  location.field_path = field;
  throw InvalidTaskError(message, std::move(location));
}

void Merge(EnvVars& into, const EnvVars& from, const char* section) {
  for (const auto& [name, value] : from) {
    if (!IsValidEnvName(name)) {
      Invalid(fmt::format("{}.{}", section, name),
              fmt::format("'{}' is not a valid variable name: use letters, digits and '_', not "
                          "starting with a digit.",
                          name));
    }
    bool replaced = false;
    for (auto& [existing, existing_value] : into) {
      if (existing == name) {
        existing_value = value;
        replaced = true;
        break;
      }
    }
    if (!replaced) into.emplace_back(name, value);
  }
}

}  // namespace

bool IsValidEnvName(const std::string& name) noexcept {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

void Task::set_name(std::optional<std::string> name) { name_ = std::move(name); }

void Task::set_num_nodes(int num_nodes) {
  if (num_nodes < 1) {
    Invalid("num_nodes", fmt::format("num_nodes must be 1 or more, found {}.", num_nodes));
  }
  num_nodes_ = num_nodes;
}

void Task::update_envs(const EnvVars& envs) { Merge(envs_, envs, "envs"); }

void Task::update_secrets(const EnvVars& secrets) {
  Merge(secrets_, secrets, "secrets");
  std::erase_if(unresolved_secrets_, [&](const std::string& name) {
    return std::any_of(secrets.begin(), secrets.end(),
                       [&](const auto& kv) { return kv.first == name; });
  });
}

void Task::add_unresolved_secret(const std::string& name) {
  if (!IsValidEnvName(name)) {
    Invalid(fmt::format("secrets.{}", name),
            fmt::format("'{}' is not a valid variable name: use letters, digits and '_', not "
                        "starting with a digit.",
                        name));
  }
  const bool known = std::any_of(secrets_.begin(), secrets_.end(),
                                 [&](const auto& kv) { return kv.first == name; }) ||
                     std::find(unresolved_secrets_.begin(), unresolved_secrets_.end(), name) !=
                         unresolved_secrets_.end();
  if (!known) unresolved_secrets_.push_back(name);
}

void Task::RequireSecretValues() const {
  const auto& names = unresolved_secrets_;
  if (names.empty()) return;
  ErrorLocation location;
  location.field_path = fmt::format("secrets.{}", names.front());
  std::vector<std::string> flags;
  for (const auto& name : names) flags.push_back(fmt::format("--secret {}=<value>", name));
  const bool one = names.size() == 1;
  throw InvalidTaskError(
      fmt::format("{} '{}' {} no value: the task declares {} without one (null in the YAML), to "
                  "be given at launch. Pass {} (or --secret NAME alone to take the value from "
                  "your environment), or call update_secrets() in Python.",
                  one ? "secret" : "secrets", fmt::join(names, "', '"), one ? "has" : "have",
                  one ? "it" : "them", fmt::join(flags, " ")),
      std::move(location));
}

EnvVars Task::envs_and_secrets() const {
  EnvVars all = envs_;
  Merge(all, secrets_, "secrets");
  return all;
}

void Task::set_file_mounts(std::vector<FileMount> mounts) {
  for (const auto& mount : mounts) {
    if (mount.destination.empty()) Invalid("file_mounts", "a mount destination is empty.");
    if (!mount.is_storage() && mount.source.empty()) {
      Invalid("file_mounts." + mount.destination, "the mount source is empty.");
    }
  }
  file_mounts_ = std::move(mounts);
}

std::string Task::ToString() const {
  std::string out = fmt::format("Task<name={}>", name_.value_or("<unnamed>"));
  out += fmt::format("\n  num_nodes: {}", num_nodes_);
  out += "\n  resources:";
  for (const auto& r : resources_.alternatives()) out += "\n    " + r.ToString();
  if (resources_.size() > 1) out += resources_.is_ordered() ? " (ordered)" : " (any of)";
  if (!envs_.empty()) {
    out += "\n  envs:";
    for (const auto& [k, v] : envs_) out += fmt::format("\n    {}={}", k, v);
  }
  if (!secrets_.empty()) {
    out += "\n  secrets:";
    for (const auto& [k, v] : secrets_) out += fmt::format("\n    {}=<redacted>", k);
  }
  if (!unresolved_secrets_.empty()) {
    out += "\n  secrets without a value (give them at launch):";
    for (const auto& k : unresolved_secrets_) out += fmt::format("\n    {}", k);
  }
  if (workdir_) out += "\n  workdir: " + (workdir_->is_git() ? workdir_->git_url : workdir_->path);
  if (setup_) out += "\n  setup: " + *setup_;
  if (run_) out += "\n  run: " + *run_;
  return out;
}

}  // namespace skycore
