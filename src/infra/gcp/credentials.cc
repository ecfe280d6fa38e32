#include "infra/gcp/credentials.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"
#include "common/jwt.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::gcp {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

constexpr int64_t kRefreshMargin = 300;
constexpr const char* kMetadataHost = "metadata.google.internal";

bool OnGce() {
  const std::string product = files::ReadText("/sys/class/dmi/id/product_name").value_or("");
  return product.find("Google Compute Engine") != std::string::npos;
}

std::string Form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += strings::UrlEncode(name) + "=" + strings::UrlEncode(value);
  }
  return body;
}

// The [core] project of gcloud's active configuration.
std::string GcloudProject(const fs::path& config_dir) {
  const std::string active = files::ReadText(config_dir / "active_config").value_or("");
  std::string name(strings::Trim(active));
  if (name.empty()) name = "default";
  std::istringstream in(
      files::ReadText(config_dir / "configurations" / ("config_" + name)).value_or(""));
  std::string line;
  bool core = false;
  while (std::getline(in, line)) {
    const std::string trimmed(strings::Trim(line));
    if (!trimmed.empty() && trimmed.front() == '[') {
      core = trimmed == "[core]";
    } else if (core && trimmed.rfind("project", 0) == 0) {
      const size_t equals = trimmed.find('=');
      if (equals != std::string::npos)
        return std::string(strings::Trim(trimmed.substr(equals + 1)));
    }
  }
  return {};
}

}  // namespace

CredentialsFile ReadCredentialsFile(const fs::path& path) {
  const std::string text = files::ReadText(path).value_or("");
  if (text.empty()) {
    throw InvalidCloudCredentials(
        fmt::format("the GCP credentials file {} is missing or empty", path.string()));
  }
  return ParseCredentials(text, path);
}

CredentialsFile ParseCredentials(const std::string& text, const fs::path& path) {
  const auto parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) {
    throw InvalidCloudCredentials(
        fmt::format("the GCP credentials file {} is not JSON", path.string()));
  }
  CredentialsFile file;
  file.path = path;
  auto field = [&](const char* name, bool required) {
    const std::string value = parsed.contains(name) && parsed[name].is_string()
                                  ? parsed[name].get<std::string>()
                                  : std::string();
    if (required && value.empty()) {
      throw InvalidCloudCredentials(fmt::format("the GCP credentials file {} ({}) has no \"{}\"",
                                                path.string(), file.type, name));
    }
    return value;
  };
  file.type = field("type", false);
  if (const std::string uri = field("token_uri", false); !uri.empty()) file.token_uri = uri;
  if (file.type == "service_account") {
    file.client_email = field("client_email", true);
    file.private_key = field("private_key", true);
    file.private_key_id = field("private_key_id", false);
    file.project_id = field("project_id", false);
  } else if (file.type == "authorized_user") {
    file.client_id = field("client_id", true);
    file.client_secret = field("client_secret", true);
    file.refresh_token = field("refresh_token", true);
    file.project_id = field("quota_project_id", false);
  } else {
    throw InvalidCloudCredentials(fmt::format(
        "the GCP credentials file {} is of type \"{}\"; skycore takes service_account and "
        "authorized_user files (workload identity federation is not supported yet)",
        path.string(), file.type));
  }
  return file;
}

TokenProvider::TokenProvider(CredentialsOptions options) : options_(std::move(options)) {}

int64_t TokenProvider::Now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<fs::path> TokenProvider::FilePath() {
  if (auto path = options_.env("GOOGLE_APPLICATION_CREDENTIALS"); path && !path->empty()) {
    return fs::path(*path);
  }
  fs::path config_dir;
  if (auto dir = options_.env("CLOUDSDK_CONFIG"); dir && !dir->empty()) {
    config_dir = *dir;
  } else if (auto home = options_.env("HOME"); home && !home->empty()) {
    config_dir = fs::path(*home) / ".config" / "gcloud";
  }
  if (config_dir.empty()) return std::nullopt;
  const fs::path adc = config_dir / "application_default_credentials.json";
  std::error_code ec;
  if (fs::exists(adc, ec)) return adc;
  return std::nullopt;
}

std::optional<CredentialsFile> TokenProvider::File() {
  if (!options_.inline_credentials.empty()) {
    return ParseCredentials(options_.inline_credentials, options_.inline_source);
  }
  const auto path = FilePath();
  if (!path) return std::nullopt;
  return ReadCredentialsFile(*path);
}

std::string TokenProvider::SourceName() {
  if (!options_.inline_credentials.empty()) return options_.inline_source;
  const auto path = FilePath();
  if (!path) return "the GCE metadata server";
  const bool from_env = options_.env("GOOGLE_APPLICATION_CREDENTIALS").has_value();
  const std::string where =
      from_env ? fmt::format("GOOGLE_APPLICATION_CREDENTIALS={}", path->string()) : path->string();
  std::string type;
  std::string email;
  try {
    const CredentialsFile file = ReadCredentialsFile(*path);
    type = file.type;
    email = file.client_email;
  } catch (const InvalidCloudCredentials&) {
    return where;
  }
  if (type == "service_account") return fmt::format("service account {} ({})", email, where);
  return fmt::format("gcloud application-default login ({})", where);
}

std::string TokenProvider::Project() {
  for (const char* name : {"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"}) {
    if (auto project = options_.env(name); project && !project->empty()) return *project;
  }
  try {
    if (auto file = File(); file && !file->project_id.empty()) return file->project_id;
  } catch (const InvalidCloudCredentials&) {
    // Reported when a token is asked for.
  }
  fs::path config_dir;
  if (auto dir = options_.env("CLOUDSDK_CONFIG"); dir && !dir->empty()) {
    config_dir = *dir;
  } else if (auto home = options_.env("HOME"); home && !home->empty()) {
    config_dir = fs::path(*home) / ".config" / "gcloud";
  }
  return config_dir.empty() ? std::string() : GcloudProject(config_dir);
}

AccessToken TokenProvider::Token() {
  std::lock_guard lock(mutex_);
  if (cached_ && cached_->expires_at - kRefreshMargin > Now()) return *cached_;
  cached_ = Fetch();
  return *cached_;
}

void TokenProvider::Invalidate() {
  std::lock_guard lock(mutex_);
  cached_.reset();
}

AccessToken TokenProvider::Exchange(const std::string& token_uri, const std::string& form,
                                    const std::string& source) {
  http::HttpExchange exchange;
  exchange.method = "POST";
  exchange.url = token_uri;
  exchange.headers = {"Content-Type: application/x-www-form-urlencoded"};
  exchange.body = form;
  exchange.total_timeout_ms = options_.request_timeout_ms;
  exchange.user_agent = "skycore/gcp";
  const http::HttpAnswer answer = connections_.Perform(exchange);
  if (!answer.transport_ok) {
    throw InvalidCloudCredentials(fmt::format("{}: the token endpoint {} did not answer: {}",
                                              source, token_uri, answer.transport_error));
  }
  const auto parsed = json::parse(answer.body, nullptr, false);
  if (answer.status != 200 || !parsed.is_object() || !parsed.contains("access_token")) {
    std::string why = answer.body.substr(0, 300);
    if (parsed.is_object()) {
      why = fmt::format("{}: {}", parsed.value("error", ""), parsed.value("error_description", ""));
    }
    throw InvalidCloudCredentials(
        fmt::format("{} was refused by {} (HTTP {}: {}); for a service account, make a new key "
                    "(gcloud iam service-accounts keys create); for a user, run `gcloud auth "
                    "application-default login`",
                    source, token_uri, answer.status, why));
  }
  AccessToken token;
  token.token = parsed.value("access_token", "");
  token.expires_at = Now() + parsed.value("expires_in", int64_t{3600});
  return token;
}

AccessToken TokenProvider::Fetch() {
  if (auto file = File()) {
    const std::string source = SourceName();
    if (file->type == "service_account") {
      const int64_t now = Now();
      const json claims = {{"iss", file->client_email},
                           {"scope", kCloudPlatformScope},
                           {"aud", file->token_uri},
                           {"iat", now},
                           {"exp", now + 3600}};
      json header = json::object();
      if (!file->private_key_id.empty()) header["kid"] = file->private_key_id;
      std::string assertion;
      try {
        assertion = jwt::SignRs256(header, claims, file->private_key);
      } catch (const InvalidCloudCredentials& e) {
        throw InvalidCloudCredentials(fmt::format("{}: private_key: {}", source, e.message()));
      }
      return Exchange(file->token_uri,
                      Form({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                            {"assertion", assertion}}),
                      source);
    }
    return Exchange(file->token_uri,
                    Form({{"grant_type", "refresh_token"},
                          {"client_id", file->client_id},
                          {"client_secret", file->client_secret},
                          {"refresh_token", file->refresh_token}}),
                    source);
  }
  const bool on_gce = options_.on_gce ? options_.on_gce() : OnGce();
  if (!on_gce) {
    throw InvalidCloudCredentials(
        "no GCP credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no "
        "~/.config/gcloud/application_default_credentials.json, and this is not a GCE VM. Run "
        "`gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS at a "
        "service-account key");
  }
  http::HttpExchange exchange;
  exchange.method = "GET";
  exchange.url = fmt::format("http://{}/computeMetadata/v1/instance/service-accounts/default/token",
                             options_.env("GCE_METADATA_HOST").value_or(kMetadataHost));
  exchange.headers = {"Metadata-Flavor: Google"};
  exchange.connect_timeout_ms = 2000;
  exchange.total_timeout_ms = options_.request_timeout_ms;
  const http::HttpAnswer answer = connections_.Perform(exchange);
  const auto parsed = json::parse(answer.body, nullptr, false);
  if (!answer.transport_ok || answer.status != 200 || !parsed.is_object() ||
      !parsed.contains("access_token")) {
    throw InvalidCloudCredentials(fmt::format(
        "the GCE metadata server gave no token ({}); give the VM a service account with the "
        "cloud-platform scope",
        answer.transport_ok ? fmt::format("HTTP {}", answer.status) : answer.transport_error));
  }
  AccessToken token;
  token.token = parsed.value("access_token", "");
  token.expires_at = Now() + parsed.value("expires_in", int64_t{3600});
  return token;
}

}  // namespace skycore::gcp
