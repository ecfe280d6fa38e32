#include "infra/aws/credentials.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/files.h"
#include "common/http_client.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "infra/aws/sts.h"
#include "skycore/error.h"

namespace skycore::aws {
namespace fs = std::filesystem;
namespace {

// Profiles that name each other through source_profile deeper than this are
// a loop (botocore refuses loops too).
constexpr int kMaxRoleChain = 5;
constexpr size_t kMaxProcessOutput = 64 * 1024;
constexpr std::string_view kImdsDefault = "http://169.254.169.254";

using Section = std::map<std::string, std::string>;
using IniFile = std::map<std::string, Section>;

std::string Trim(std::string_view text) { return std::string(strings::Trim(text)); }

// An AWS INI file: `[section]`, `key = value`, comments starting with '#' or
// ';'. Indented lines under a key with no value are a nested block (`s3 =`
// settings) that skycore does not read.
IniFile ParseIni(const std::string& text) {
  IniFile file;
  Section* current = nullptr;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    if (trimmed.front() == '[' && trimmed.back() == ']') {
      current = &file[Trim(trimmed.substr(1, trimmed.size() - 2))];
      continue;
    }
    if (current == nullptr || line[0] == ' ' || line[0] == '\t') continue;
    const size_t equals = trimmed.find('=');
    if (equals == std::string::npos) continue;
    (*current)[strings::Lower(Trim(trimmed.substr(0, equals)))] = Trim(trimmed.substr(equals + 1));
  }
  return file;
}

std::optional<IniFile> ReadIni(const fs::path& path) {
  const auto text = files::ReadText(path);
  if (!text) return std::nullopt;
  return ParseIni(*text);
}

fs::path Home(const EnvLookup& env) {
  if (auto home = NonEmpty(env, "HOME")) return *home;
  return {};
}

fs::path ExpandHome(const std::string& path, const EnvLookup& env) {
  if (path == "~" || path.rfind("~/", 0) == 0)
    return Home(env) / path.substr(path.size() > 1 ? 2 : 1);
  return path;
}

// "~/.aws/credentials" for a path under $HOME, else the path.
std::string Shown(const fs::path& path, const EnvLookup& env) {
  const std::string home = Home(env).string();
  const std::string text = path.string();
  if (!home.empty() && text.rfind(home + "/", 0) == 0) {
    return fmt::format("~{}", text.substr(home.size()));
  }
  return text;
}

std::string IsoTime(int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// One profile as the two files define it.
struct Profile {
  std::string name;
  std::optional<Section> in_credentials;
  std::optional<Section> in_config;

  bool exists() const { return in_credentials || in_config; }
  std::optional<std::string> Get(const std::string& key) const {
    // botocore: the credentials file's value wins.
    for (const auto* section : {&in_credentials, &in_config}) {
      if (!*section) continue;
      auto found = (*section)->find(key);
      if (found != (*section)->end() && !found->second.empty()) return found->second;
    }
    return std::nullopt;
  }
};

class Chain {
 public:
  explicit Chain(const CredentialsOptions& options)
      : options_(options),
        credentials_path_(SharedCredentialsFile(options.env)),
        config_path_(SharedConfigFile(options.env)),
        credentials_file_(ReadIni(credentials_path_)),
        config_file_(ReadIni(config_path_)) {}

  int64_t Now() const {
    if (options_.now) return options_.now();
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Profile Find(const std::string& name) const {
    Profile profile{name, std::nullopt, std::nullopt};
    if (credentials_file_) {
      auto found = credentials_file_->find(name);
      if (found != credentials_file_->end()) profile.in_credentials = found->second;
    }
    if (config_file_) {
      auto found = config_file_->find(fmt::format("profile {}", name));
      if (found == config_file_->end() && name == "default") found = config_file_->find(name);
      if (found != config_file_->end()) profile.in_config = found->second;
    }
    return profile;
  }

  // Every profile the two files define, sorted, without duplicates.
  std::vector<std::string> ProfileNames() const {
    std::set<std::string> names;
    if (credentials_file_) {
      for (const auto& [name, section] : *credentials_file_) names.insert(name);
    }
    if (config_file_) {
      for (const auto& [name, section] : *config_file_) {
        if (name == "default") {
          names.insert(name);
        } else if (name.rfind("profile ", 0) == 0) {
          names.insert(Trim(name.substr(8)));
        }  // else `sso-session x`, `services x`: not profiles
      }
    }
    return {names.begin(), names.end()};
  }

  std::string ShownCredentials() const { return Shown(credentials_path_, options_.env); }
  std::string ShownConfig() const { return Shown(config_path_, options_.env); }

  // The profile's credentials; nullopt when it has none configured. Throws
  // when they are configured but cannot be had.
  std::optional<AwsCredentials> FromProfile(const Profile& profile, int depth) const {
    if (depth > kMaxRoleChain) {
      throw InvalidCloudCredentials(
          fmt::format("AWS profile '{}': source_profile chain longer than {} (a loop?)",
                      profile.name, kMaxRoleChain));
    }
    std::optional<AwsCredentials> out;
    if (auto role = profile.Get("role_arn")) {
      out = AssumeRoleOf(profile, *role, depth);
    } else if (auto keys = StaticKeys(profile, profile.in_credentials, ShownCredentials())) {
      out = keys;
    } else if (auto command = profile.Get("credential_process")) {
      out = RunCredentialProcess(profile, *command);
    } else if (auto keys = StaticKeys(profile, profile.in_config, ShownConfig())) {
      out = keys;
    }
    if (out) {
      out->profile = profile.name;
      out->profile_region = profile.Get("region");
    }
    return out;
  }

  std::optional<AwsCredentials> StaticKeys(const Profile& profile,
                                           const std::optional<Section>& section,
                                           const std::string& shown_file) const {
    if (!section) return std::nullopt;
    auto get = [&](const char* key) {
      auto found = section->find(key);
      return found == section->end() ? std::string() : found->second;
    };
    const std::string key = get("aws_access_key_id");
    const std::string secret = get("aws_secret_access_key");
    if (key.empty() && secret.empty()) return std::nullopt;
    if (key.empty() || secret.empty()) {
      throw InvalidCloudCredentials(
          fmt::format("AWS profile '{}' in {} has {} but not {}; set both", profile.name,
                      shown_file, key.empty() ? "aws_secret_access_key" : "aws_access_key_id",
                      key.empty() ? "aws_access_key_id" : "aws_secret_access_key"));
    }
    AwsCredentials out;
    out.access_key_id = key;
    out.secret_access_key = secret;
    out.session_token = get("aws_session_token");
    out.source = fmt::format("profile '{}' in {}", profile.name, shown_file);
    return out;
  }

  AwsCredentials AssumeRoleOf(const Profile& profile, const std::string& role_arn,
                              int depth) const {
    AwsCredentials source;
    const auto source_profile = profile.Get("source_profile");
    const auto credential_source = profile.Get("credential_source");
    std::string with;
    if (source_profile) {
      const Profile base = *source_profile == profile.name ? profile : Find(*source_profile);
      std::optional<AwsCredentials> found;
      if (*source_profile == profile.name) {
        // A profile that is its own source uses its own static keys.
        found = StaticKeys(base, base.in_credentials, ShownCredentials());
        if (!found) found = StaticKeys(base, base.in_config, ShownConfig());
      } else if (base.exists()) {
        found = FromProfile(base, depth + 1);
      }
      if (!found) {
        throw InvalidCloudCredentials(fmt::format(
            "AWS profile '{}' assumes role {} with source_profile '{}', which {}", profile.name,
            role_arn, *source_profile,
            base.exists() ? "has no credentials"
                          : fmt::format("is not in {} or {}", ShownCredentials(), ShownConfig())));
      }
      source = *found;
      with = fmt::format("profile '{}'", *source_profile);
    } else if (credential_source == "Environment") {
      source = FromEnvironment().value_or(AwsCredentials{});
      if (source.access_key_id.empty()) {
        throw InvalidCloudCredentials(fmt::format(
            "AWS profile '{}': credential_source Environment, but AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY are not set",
            profile.name));
      }
      with = "environment variables";
    } else if (credential_source == "Ec2InstanceMetadata") {
      std::string why;
      auto found = FromInstanceMetadata(&why);
      if (!found) {
        throw InvalidCloudCredentials(fmt::format(
            "AWS profile '{}': credential_source Ec2InstanceMetadata, but {}", profile.name, why));
      }
      source = *found;
      with = source.source;
    } else {
      throw InvalidCloudCredentials(fmt::format(
          "AWS profile '{}' has role_arn but neither source_profile nor a credential_source "
          "skycore supports (Environment, Ec2InstanceMetadata)",
          profile.name));
    }
    CheckNotExpired(source);
    AssumeRoleRequest request;
    request.role_arn = role_arn;
    request.role_session_name =
        profile.Get("role_session_name").value_or(fmt::format("skycore-session-{}", Now()));
    request.external_id = profile.Get("external_id").value_or("");
    if (auto duration = profile.Get("duration_seconds")) {
      try {
        request.duration_seconds = std::stoi(*duration);
      } catch (const std::exception&) {
        throw InvalidCloudCredentials(
            fmt::format("AWS profile '{}': duration_seconds '{}' is not a number of seconds",
                        profile.name, *duration));
      }
    }
    request.region =
        profile.Get("region").value_or(RegionFromEnvironment(options_.env).value_or("us-east-1"));
    AwsCredentials assumed;
    try {
      assumed = options_.assume_role ? options_.assume_role(request, source)
                                     : AssumeRole(options_.env, request, source);
    } catch (const InvalidCloudCredentials& e) {
      // Which profile asked for the role: AWS_PROFILE may name another one.
      throw InvalidCloudCredentials(fmt::format("AWS profile '{}': {}", profile.name, e.message()));
    }
    assumed.source = fmt::format("role {} assumed with {}", role_arn, with);
    return assumed;
  }

  AwsCredentials RunCredentialProcess(const Profile& profile, const std::string& command) const {
    const std::string what = fmt::format("credential_process of profile '{}'", profile.name);
    // The command runs through /bin/sh -c as the SDKs run it; its stderr goes
    // to a file so that stdout holds nothing but the JSON.
    char stderr_path[] = "/tmp/skycore-aws-credential-process-XXXXXX";
    const int fd = ::mkstemp(stderr_path);
    if (fd < 0) throw IoError(fmt::format("cannot run the {}: no temporary file", what));
    ::close(fd);
    const auto run =
        subprocess::Run({"/bin/sh", "-c", "exec 2>\"$0\"; eval \"$1\"", stderr_path, command},
                        options_.process_timeout_s, kMaxProcessOutput);
    std::string errors;
    {
      std::ifstream in(stderr_path);
      std::stringstream buffer;
      buffer << in.rdbuf();
      errors = Trim(buffer.str());
      if (errors.size() > 500) errors = fmt::format("...{}", errors.substr(errors.size() - 500));
    }
    ::unlink(stderr_path);
    if (run.timed_out) {
      throw InvalidCloudCredentials(fmt::format("the {} (`{}`) did not finish within {:.0f} s",
                                                what, command, options_.process_timeout_s));
    }
    if (run.exit_code != 0) {
      throw InvalidCloudCredentials(fmt::format("the {} (`{}`) failed with exit code {}{}", what,
                                                command, run.exit_code,
                                                errors.empty() ? "" : fmt::format(": {}", errors)));
    }
    const auto parsed = nlohmann::json::parse(run.output, nullptr, false);
    auto text = [&](const char* key) {
      if (!parsed.is_object() || !parsed.contains(key) || !parsed[key].is_string()) {
        return std::string();
      }
      return parsed[key].get<std::string>();
    };
    if (!parsed.is_object() || !parsed.contains("Version") || parsed["Version"] != 1) {
      throw InvalidCloudCredentials(
          fmt::format("the {} (`{}`) printed no credentials JSON with \"Version\": 1 on stdout",
                      what, command));
    }
    AwsCredentials out;
    out.access_key_id = text("AccessKeyId");
    out.secret_access_key = text("SecretAccessKey");
    out.session_token = text("SessionToken");
    if (out.access_key_id.empty() || out.secret_access_key.empty()) {
      throw InvalidCloudCredentials(fmt::format(
          "the {} (`{}`) printed JSON without AccessKeyId and SecretAccessKey", what, command));
    }
    if (const std::string expiration = text("Expiration"); !expiration.empty()) {
      out.expires_at = ParseIso8601(expiration);
      if (!out.expires_at) {
        throw InvalidCloudCredentials(fmt::format(
            "the {} printed Expiration '{}', which is not an ISO 8601 time", what, expiration));
      }
    }
    out.source = what;
    return out;
  }

  std::optional<AwsCredentials> FromEnvironment() const {
    const auto key = NonEmpty(options_.env, "AWS_ACCESS_KEY_ID");
    const auto secret = NonEmpty(options_.env, "AWS_SECRET_ACCESS_KEY");
    if (!key && !secret) return std::nullopt;
    if (!key || !secret) {
      throw InvalidCloudCredentials(
          fmt::format("{} is set but {} is not: set both, or neither to use a profile",
                      key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                      key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"));
    }
    AwsCredentials out;
    out.access_key_id = *key;
    out.secret_access_key = *secret;
    out.session_token = NonEmpty(options_.env, "AWS_SESSION_TOKEN").value_or("");
    if (auto expiration = NonEmpty(options_.env, "AWS_CREDENTIAL_EXPIRATION")) {
      out.expires_at = ParseIso8601(*expiration);
    }
    out.source = "environment variables";
    return out;
  }

  bool MetadataDisabled() const {
    auto value = NonEmpty(options_.env, "AWS_EC2_METADATA_DISABLED");
    return value && strings::Lower(*value) == "true";
  }

  // IMDSv2: a session token (PUT), the role's name, its credentials. nullopt
  // with `why` when the service does not answer or has no role.
  std::optional<AwsCredentials> FromInstanceMetadata(std::string* why) const {
    if (MetadataDisabled()) {
      *why = "instance metadata disabled (AWS_EC2_METADATA_DISABLED=true)";
      return std::nullopt;
    }
    std::string base = NonEmpty(options_.env, "AWS_EC2_METADATA_SERVICE_ENDPOINT")
                           .value_or(std::string(kImdsDefault));
    while (!base.empty() && base.back() == '/') base.pop_back();
    http::HttpConnections connections;
    auto exchange = [&](const std::string& method, const std::string& path,
                        std::vector<std::string> headers) {
      http::HttpExchange request;
      request.method = method;
      request.url = fmt::format("{}{}", base, path);
      request.headers = std::move(headers);
      request.connect_timeout_ms = options_.imds_timeout_ms;
      request.total_timeout_ms = options_.imds_timeout_ms;
      return connections.Perform(request);
    };
    const http::HttpAnswer token =
        exchange("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds: 21600"});
    if (!token.transport_ok) {
      *why = fmt::format("instance metadata at {} not reachable ({})", base, token.transport_error);
      return std::nullopt;
    }
    std::vector<std::string> auth;
    if (token.status == 200) {
      auth.push_back(fmt::format("X-aws-ec2-metadata-token: {}", token.body));
    } else if (token.status != 403 && token.status != 404 && token.status != 405) {
      *why = fmt::format("instance metadata at {} refused a session token (HTTP {})", base,
                         token.status);
      return std::nullopt;
    }  // else IMDSv1 only: ask without a token, as the SDKs do.
    const http::HttpAnswer roles =
        exchange("GET", "/latest/meta-data/iam/security-credentials/", auth);
    const std::string role = roles.transport_ok && roles.status == 200
                                 ? Trim(roles.body.substr(0, roles.body.find('\n')))
                                 : std::string();
    if (role.empty()) {
      *why = fmt::format("instance metadata at {} has no IAM role for this instance", base);
      return std::nullopt;
    }
    const http::HttpAnswer answer =
        exchange("GET", fmt::format("/latest/meta-data/iam/security-credentials/{}", role), auth);
    const auto parsed = answer.transport_ok && answer.status == 200
                            ? nlohmann::json::parse(answer.body, nullptr, false)
                            : nlohmann::json();
    if (!parsed.is_object() || parsed.value("Code", "") != "Success") {
      *why = fmt::format("instance metadata at {} gave no credentials for role {}", base, role);
      return std::nullopt;
    }
    AwsCredentials out;
    out.access_key_id = parsed.value("AccessKeyId", "");
    out.secret_access_key = parsed.value("SecretAccessKey", "");
    out.session_token = parsed.value("Token", "");
    out.expires_at = ParseIso8601(parsed.value("Expiration", ""));
    out.source = fmt::format("instance metadata (role {})", role);
    return out;
  }

  void CheckNotExpired(const AwsCredentials& credentials) const {
    if (!credentials.expires_at) return;
    const int64_t now = Now();
    if (*credentials.expires_at > now) return;
    throw InvalidCloudCredentials(fmt::format(
        "the AWS credentials from {} expired at {} ({} min ago); renew them (for SSO: `aws sso "
        "login`)",
        credentials.source, IsoTime(*credentials.expires_at),
        (now - *credentials.expires_at) / 60));
  }

 private:
  const CredentialsOptions& options_;
  fs::path credentials_path_;
  fs::path config_path_;
  std::optional<IniFile> credentials_file_;
  std::optional<IniFile> config_file_;
};

std::optional<std::string> ProfileName(const EnvLookup& env) {
  if (auto name = NonEmpty(env, "AWS_PROFILE")) return name;
  return NonEmpty(env, "AWS_DEFAULT_PROFILE");
}

}  // namespace

fs::path SharedCredentialsFile(const EnvLookup& env) {
  if (auto path = NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE")) return ExpandHome(*path, env);
  return Home(env) / ".aws" / "credentials";
}

fs::path SharedConfigFile(const EnvLookup& env) {
  if (auto path = NonEmpty(env, "AWS_CONFIG_FILE")) return ExpandHome(*path, env);
  return Home(env) / ".aws" / "config";
}

std::optional<int64_t> ParseIso8601(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t at = static_cast<size_t>(consumed);
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
  }
  int64_t offset = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int off_hour = 0, off_minute = 0;
    if (std::sscanf(text.c_str() + at + 1, "%2d:%2d", &off_hour, &off_minute) != 2) {
      return std::nullopt;
    }
    offset = (off_hour * 3600 + off_minute * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(::timegm(&tm)) - offset;
}

AwsCredentials ResolveCredentials(const CredentialsOptions& options) {
  const Chain chain(options);
  std::vector<std::string> misses;
  const auto named_profile = ProfileName(options.env);
  const std::string profile_name = named_profile.value_or("default");
  const Profile profile = chain.Find(profile_name);

  if (auto found = chain.FromEnvironment()) {
    // The profile still says which region, as for the SDKs.
    found->profile_region = profile.Get("region");
    chain.CheckNotExpired(*found);
    return *found;
  }
  misses.push_back("environment variables not set");

  if (auto found = chain.FromProfile(profile, 0)) {
    chain.CheckNotExpired(*found);
    return *found;
  }
  const std::string profile_miss =
      profile.exists() ? fmt::format(
                             "profile '{}' has no credentials (no aws_access_key_id, role_arn or "
                             "credential_process) in {} or {}",
                             profile_name, chain.ShownCredentials(), chain.ShownConfig())
                       : fmt::format("profile '{}' not in {} or {}", profile_name,
                                     chain.ShownCredentials(), chain.ShownConfig());
  if (named_profile) {
    // A profile the user named is what they want: the SDKs do not fall
    // through to the instance's role either.
    std::string known;
    if (!profile.exists()) {
      const auto names = chain.ProfileNames();
      const auto close = strings::CloseMatches(profile_name, names);
      known = names.empty()
                  ? std::string("; those files define no profile")
                  : fmt::format("; profiles there: {}", strings::JoinQuoted(names, " and "));
      if (!close.empty()) known += fmt::format("; did you mean '{}'?", close.front());
    }
    throw InvalidCloudCredentials(
        fmt::format("AWS credentials: {} (named by AWS_PROFILE){}", profile_miss, known));
  }
  misses.push_back(profile_miss);

  std::string why;
  if (auto found = chain.FromInstanceMetadata(&why)) {
    chain.CheckNotExpired(*found);
    return *found;
  }
  misses.push_back(why);
  throw InvalidCloudCredentials(
      fmt::format("no AWS credentials found: {}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                  "or run `aws configure`",
                  fmt::join(misses, "; ")));
}

std::optional<std::string> ResolveRegion(const EnvLookup& env) {
  if (auto region = RegionFromEnvironment(env)) return region;
  CredentialsOptions options;
  options.env = env;
  const Chain chain(options);
  return chain.Find(ProfileName(env).value_or("default")).Get("region");
}

}  // namespace skycore::aws
