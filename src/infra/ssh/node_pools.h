// SSH node pools: `<state_dir>/ssh_node_pools.yaml` in SkyPilot's format, and
// the subset of an OpenSSH client config that decides where a host alias goes.
//
//   my-pool:                     # pool name (the region of infra `ssh/my-pool`)
//     user: root                 # pool defaults (optional)
//     identity_file: ~/.ssh/id_ed25519
//     password: ...              # accepted (SkyPilot uses it for sudo); unused here
//     hosts:
//       - 1.2.3.4                # an address ...
//       - gpu-box                # ... or a Host alias of the SSH config
//       - ip: 5.6.7.8            # ... or a mapping overriding the pool defaults
//         user: alice
//         identity_file: alice-key
//
// Where a host's connection settings come from, first match wins:
//   1. the host's own mapping (`ip:` entries);
//   2. for a name that a `Host` line of the SSH config lists literally (an
//      alias): that config's HostName, Port, User, IdentityFile;
//   3. the pool's `user` / `identity_file`;
//   4. the SSH config's wildcard blocks (`Host *`), as `ssh 1.2.3.4` would;
//   5. port 22, the current user, ssh's default keys.
// Parsing does no network I/O; it only reads the two files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skycore::ssh {

// One host of a pool, resolved to what `ssh` needs.
struct SshHost {
  std::string name;     // as written in the pools file (address or alias)
  std::string address;  // where to connect (the alias's HostName, or `name`)
  int port = 22;
  std::string user;
  std::string identity_file;  // empty: ssh's default keys
  bool has_password = false;  // `password:` given (skycore authenticates with keys only)
  bool from_ssh_config = false;

  // "root@127.0.0.2:22", how messages name the host.
  std::string Display() const;
};

struct NodePool {
  std::string name;
  std::vector<SshHost> hosts;
};

// The settings one `Host` block of an SSH config gives (unset: absent).
struct SshConfigValues {
  std::optional<std::string> hostname;
  std::optional<int> port;
  std::optional<std::string> user;
  std::optional<std::string> identity_file;
};

// A parsed OpenSSH client config: `Host` blocks with their patterns (`*`,
// `?`, negation with `!`) and the four keywords above; `Match` blocks and
// `Include` are skipped. As in ssh, the first value obtained for a keyword
// wins.
class SshConfig {
 public:
  SshConfig() = default;
  // Never throws: lines it does not understand are skipped, as they carry
  // settings that do not change where a host is.
  static SshConfig Parse(std::string_view text);
  // An absent or unreadable file is an empty config.
  static SshConfig Load(const std::filesystem::path& path);

  // Whether a `Host` line lists `alias` literally (not only through a wildcard).
  bool HasAlias(std::string_view alias) const;
  // Every name a `Host` line lists literally (no wildcard, not negated), in
  // file order, each once.
  std::vector<std::string> Aliases() const;
  // Values for `host` from every matching block; `literal_only` keeps only
  // blocks naming it literally, `wildcard_only` only the others.
  SshConfigValues Lookup(std::string_view host, bool literal_only = false,
                         bool wildcard_only = false) const;

 private:
  struct Block {
    std::vector<std::string> patterns;
    SshConfigValues values;
  };
  std::vector<Block> blocks_;
};

// Where the inputs come from, so tests need no real home directory.
struct PoolsEnvironment {
  std::filesystem::path home;  // for `~/` in identity files
  std::string current_user;    // the default user
};

// Parses the pools file's text. Throws InvalidSkyPilotConfigError with
// file:line, the field path (`my-pool.hosts[1].user`) and close matches for a
// misspelt key.
std::vector<NodePool> ParseNodePools(std::string_view yaml_text, const std::string& filename,
                                     const SshConfig& ssh_config, const PoolsEnvironment& env);

// Reads and parses `path`; an absent file is no pools (empty). Throws as
// ParseNodePools, and IoError when the file exists but cannot be read.
std::vector<NodePool> LoadNodePools(const std::filesystem::path& path, const SshConfig& ssh_config,
                                    const PoolsEnvironment& env);

// The environment of this process: $HOME (else the passwd entry) and the
// effective user's name.
PoolsEnvironment CurrentPoolsEnvironment();

}  // namespace skycore::ssh
