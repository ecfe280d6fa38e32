#include "infra/ssh/node_pools.h"

#include <fmt/format.h>
#include <fnmatch.h>
#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "skycore/error.h"
#include "yaml/reader.h"

namespace skycore::ssh {
namespace fs = std::filesystem;
using yamlio::Field;
using yamlio::Reader;

std::string SshHost::Display() const { return fmt::format("{}@{}:{}", user, address, port); }

// ------------------------------------------------------------ SSH config

namespace {

bool IsWildcard(std::string_view pattern) {
  return pattern.find_first_of("*?") != std::string_view::npos;
}

// Whether `host` matches a Host line's patterns: some pattern matches and no
// negated one does.
bool MatchesPatterns(const std::vector<std::string>& patterns, std::string_view host,
                     bool literal_only, bool wildcard_only) {
  const std::string host_text(host);
  bool matched = false;
  for (const auto& pattern : patterns) {
    const bool negated = pattern.starts_with('!');
    const std::string body = negated ? pattern.substr(1) : pattern;
    if (::fnmatch(body.c_str(), host_text.c_str(), 0) != 0) continue;
    if (negated) return false;
    if (literal_only && IsWildcard(body)) continue;
    if (wildcard_only && !IsWildcard(body)) continue;
    matched = true;
  }
  return matched;
}

// "Key value", "Key=value" and "Key \"quoted value\"" → (lowercased key, value).
bool SplitConfigLine(std::string_view line, std::string& key, std::string& value) {
  line = strings::Trim(line);
  if (line.empty() || line.front() == '#') return false;
  size_t end = line.find_first_of(" \t=");
  if (end == std::string_view::npos) return false;
  key = strings::Lower(line.substr(0, end));
  std::string_view rest = strings::Trim(line.substr(end));
  if (!rest.empty() && rest.front() == '=') rest = strings::Trim(rest.substr(1));
  if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"') {
    rest = rest.substr(1, rest.size() - 2);
  }
  value = std::string(rest);
  return !value.empty();
}

template <class T>
void SetOnce(std::optional<T>& slot, const std::optional<T>& value) {
  if (!slot && value) slot = value;
}

}  // namespace

SshConfig SshConfig::Parse(std::string_view text) {
  SshConfig config;
  // Lines before the first Host apply to every host, as `Host *` would.
  config.blocks_.push_back({{"*"}, {}});
  bool in_match = false;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::string key, value;
    if (!SplitConfigLine(line, key, value)) continue;
    if (key == "host") {
      Block block;
      for (const auto& word : strings::Split(value, ' ')) {
        const std::string pattern(strings::Trim(word));
        if (!pattern.empty()) block.patterns.push_back(pattern);
      }
      config.blocks_.push_back(std::move(block));
      in_match = false;
      continue;
    }
    if (key == "match") {
      in_match = true;  // conditions we do not evaluate: skip the block
      continue;
    }
    if (in_match) continue;
    SshConfigValues& values = config.blocks_.back().values;
    if (key == "hostname") {
      SetOnce(values.hostname, std::optional<std::string>(value));
    } else if (key == "user") {
      SetOnce(values.user, std::optional<std::string>(value));
    } else if (key == "identityfile") {
      SetOnce(values.identity_file, std::optional<std::string>(value));
    } else if (key == "port") {
      long long port = 0;
      if (strings::ParseInt(value, port) && port > 0 && port < 65536) {
        SetOnce(values.port, std::optional<int>(static_cast<int>(port)));
      }
    }
  }
  return config;
}

SshConfig SshConfig::Load(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str());
}

bool SshConfig::HasAlias(std::string_view alias) const {
  for (const auto& block : blocks_) {
    if (MatchesPatterns(block.patterns, alias, /*literal_only=*/true, false)) return true;
  }
  return false;
}

std::vector<std::string> SshConfig::Aliases() const {
  std::vector<std::string> aliases;
  for (const auto& block : blocks_) {
    for (const auto& pattern : block.patterns) {
      if (pattern.starts_with('!') || IsWildcard(pattern)) continue;
      if (std::find(aliases.begin(), aliases.end(), pattern) == aliases.end()) {
        aliases.push_back(pattern);
      }
    }
  }
  return aliases;
}

SshConfigValues SshConfig::Lookup(std::string_view host, bool literal_only,
                                  bool wildcard_only) const {
  SshConfigValues out;
  for (const auto& block : blocks_) {
    if (!MatchesPatterns(block.patterns, host, literal_only, wildcard_only)) continue;
    SetOnce(out.hostname, block.values.hostname);
    SetOnce(out.port, block.values.port);
    SetOnce(out.user, block.values.user);
    SetOnce(out.identity_file, block.values.identity_file);
  }
  return out;
}

// ------------------------------------------------------------ pools file

namespace {

// What the file gives for a pool or one host; unset fields fall through.
struct HostFields {
  std::string ip;
  std::optional<std::string> user;
  std::optional<std::string> identity_file;
  bool has_password = false;
};

struct PoolFields {
  HostFields defaults;
  std::vector<HostFields> hosts;
  bool has_hosts = false;
};

void ReadPassword(Reader& reader, const YAML::Node& value, bool& has_password) {
  // SkyPilot accepts an empty `password:`; any scalar is a password.
  if (!value.IsNull() && !value.IsScalar()) {
    reader.Fail(value, fmt::format("expected a string, found {}.", Reader::Describe(value)));
  }
  has_password = value.IsScalar() && !value.Scalar().empty();
}

std::string NonEmptyString(Reader& reader, const YAML::Node& value, std::string_view what) {
  std::string text = reader.String(value, what);
  if (strings::Trim(text).empty()) reader.Fail(value, fmt::format("expected {}, found ''.", what));
  return std::string(strings::Trim(text));
}

const Field<HostFields> kHostFields[] = {
    {"ip", "an IP address, hostname or SSH config alias",
     [](Reader& r, const YAML::Node& v, HostFields& t) {
       t.ip = NonEmptyString(r, v, "an IP address, hostname or SSH config alias");
     }},
    {"user", "a user name",
     [](Reader& r, const YAML::Node& v, HostFields& t) {
       t.user = NonEmptyString(r, v, "a user name");
     }},
    {"identity_file", "a path to a private key",
     [](Reader& r, const YAML::Node& v, HostFields& t) {
       t.identity_file = NonEmptyString(r, v, "a path to a private key");
     }},
    {"password", "a password (used for sudo by SkyPilot)",
     [](Reader& r, const YAML::Node& v, HostFields& t) { ReadPassword(r, v, t.has_password); }},
};

void ReadHosts(Reader& reader, const YAML::Node& value, PoolFields& pool) {
  reader.RequireList(value, "a list of hosts (addresses, SSH config aliases or mappings)");
  pool.has_hosts = true;
  for (size_t i = 0; i < value.size(); ++i) {
    auto scope = reader.EnterIndex(i);
    const YAML::Node item = value[i];
    HostFields host;
    if (item.IsMap()) {
      yamlio::ReadFields(reader, item, kHostFields, host, "a host");
      if (host.ip.empty()) {
        reader.Fail(item,
                    "a host given as a mapping needs `ip:` (an address or SSH config alias).");
      }
    } else {
      host.ip = NonEmptyString(reader, item, "an IP address, hostname or SSH config alias");
    }
    pool.hosts.push_back(std::move(host));
  }
}

const Field<PoolFields> kPoolFields[] = {
    {"hosts", "a list of hosts",
     [](Reader& r, const YAML::Node& v, PoolFields& t) { ReadHosts(r, v, t); }},
    {"user", "a user name",
     [](Reader& r, const YAML::Node& v, PoolFields& t) {
       t.defaults.user = NonEmptyString(r, v, "a user name");
     }},
    {"identity_file", "a path to a private key",
     [](Reader& r, const YAML::Node& v, PoolFields& t) {
       t.defaults.identity_file = NonEmptyString(r, v, "a path to a private key");
     }},
    {"password", "a password (used for sudo by SkyPilot)",
     [](Reader& r, const YAML::Node& v, PoolFields& t) {
       ReadPassword(r, v, t.defaults.has_password);
     }},
};

std::string ExpandHome(const std::string& path, const PoolsEnvironment& env) {
  if (path == "~") return env.home.string();
  if (path.starts_with("~/")) return (env.home / path.substr(2)).string();
  return path;
}

SshHost Resolve(const HostFields& host, const HostFields& pool_defaults,
                const SshConfig& ssh_config, const PoolsEnvironment& env) {
  SshHost out;
  out.name = host.ip;
  out.from_ssh_config = ssh_config.HasAlias(host.ip);
  const SshConfigValues alias =
      out.from_ssh_config ? ssh_config.Lookup(host.ip, /*literal_only=*/true) : SshConfigValues{};
  const SshConfigValues wildcard =
      ssh_config.Lookup(host.ip, /*literal_only=*/false, /*wildcard_only=*/true);
  auto pick = [](std::initializer_list<const std::optional<std::string>*> sources) {
    for (const auto* source : sources) {
      if (*source) return **source;
    }
    return std::string();
  };
  out.address = pick({&alias.hostname, &wildcard.hostname});
  if (out.address.empty()) out.address = host.ip;
  out.user = pick({&host.user, &alias.user, &pool_defaults.user, &wildcard.user});
  if (out.user.empty()) out.user = env.current_user;
  out.identity_file = ExpandHome(pick({&host.identity_file, &alias.identity_file,
                                       &pool_defaults.identity_file, &wildcard.identity_file}),
                                 env);
  out.port = alias.port.value_or(wildcard.port.value_or(22));
  out.has_password = host.has_password || pool_defaults.has_password;
  return out;
}

}  // namespace

std::vector<NodePool> ParseNodePools(std::string_view yaml_text, const std::string& filename,
                                     const SshConfig& ssh_config, const PoolsEnvironment& env) {
  try {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::Exception& e) {
      ErrorLocation location;
      location.file = filename;
      if (!e.mark.is_null()) {
        location.line = e.mark.line + 1;
        location.column = e.mark.column + 1;
      }
      throw InvalidSkyPilotConfigError(fmt::format("invalid YAML: {}.", e.msg),
                                       std::move(location));
    }
    std::vector<NodePool> pools;
    if (!root.IsDefined() || root.IsNull()) return pools;  // an empty file: no pools
    Reader reader(filename);
    reader.RequireMap(root, "a mapping of pool names to pools");
    yamlio::CheckNoDuplicateKeys(reader, root);
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string name = reader.ScalarText(it->first, "a pool name");
      auto scope = reader.Enter(name);
      reader.set_current_key(it->first);
      const YAML::Node body = it->second;
      reader.RequireMap(body, "a pool (a mapping with `hosts:`)");
      PoolFields fields;
      yamlio::ReadFields(reader, body, kPoolFields, fields, fmt::format("pool '{}'", name));
      if (!fields.has_hosts) {
        reader.Fail(body, fmt::format("pool '{}' has no `hosts:`; list its machines there.", name));
      }
      NodePool pool;
      pool.name = name;
      for (const auto& host : fields.hosts) {
        pool.hosts.push_back(Resolve(host, fields.defaults, ssh_config, env));
      }
      pools.push_back(std::move(pool));
    }
    return pools;
  } catch (const InvalidTaskError& e) {
    // The YAML reader speaks of tasks; this file is configuration.
    throw InvalidSkyPilotConfigError(e.message(), e.location(), e.suggestions());
  }
}

std::vector<NodePool> LoadNodePools(const fs::path& path, const SshConfig& ssh_config,
                                    const PoolsEnvironment& env) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  std::ifstream in(path);
  if (!in) throw IoError(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return ParseNodePools(text.str(), path.string(), ssh_config, env);
}

PoolsEnvironment CurrentPoolsEnvironment() {
  PoolsEnvironment env;
  const passwd* entry = ::getpwuid(::geteuid());
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    env.home = home;
  } else if (entry != nullptr && entry->pw_dir != nullptr) {
    env.home = entry->pw_dir;
  }
  if (entry != nullptr && entry->pw_name != nullptr) {
    env.current_user = entry->pw_name;
  } else if (const char* user = std::getenv("USER")) {
    env.current_user = user;
  }
  return env;
}

}  // namespace skycore::ssh
