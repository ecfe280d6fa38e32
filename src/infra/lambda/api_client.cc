#include "infra/lambda/api_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/strings.h"

namespace skycore::lambda {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

ApiKey KeyFromFile(const std::string& path, const std::string& source) {
  const auto text = files::ReadText(path);
  if (!text) {
    throw InvalidCloudCredentials(
        fmt::format("cannot read the Lambda Cloud keys file {} ({})", path, source));
  }
  const auto key = ParseLambdaKeys(*text);
  if (!key) {
    throw InvalidCloudCredentials(fmt::format(
        "the Lambda Cloud keys file {} ({}) has no `api_key = KEY` line", path, source));
  }
  return {*key, source};
}

}  // namespace

std::optional<std::string> ParseLambdaKeys(const std::string& text) {
  for (const auto& line : strings::Split(text, '\n')) {
    const size_t equals = line.find('=');
    if (equals == std::string::npos) continue;
    if (strings::Trim(std::string_view(line).substr(0, equals)) != "api_key") continue;
    const std::string value(strings::Trim(std::string_view(line).substr(equals + 1)));
    if (!value.empty()) return value;
  }
  return std::nullopt;
}

ApiKey ResolveApiKey(const EnvLookup& env) {
  auto get = [&](const std::string& name) -> std::string {
    return env ? env(name).value_or("") : std::string();
  };
  if (const std::string key(strings::Trim(get("LAMBDA_API_KEY"))); !key.empty()) {
    return {key, "LAMBDA_API_KEY"};
  }
  if (const std::string file = get("SKYCORE_LAMBDA_KEYS_FILE"); !file.empty()) {
    return KeyFromFile(file, "SKYCORE_LAMBDA_KEYS_FILE=" + file);
  }
  const std::string home = get("HOME");
  const std::string file = home.empty() ? "" : home + "/.lambda_cloud/lambda_keys";
  if (!file.empty() && std::filesystem::exists(file)) return KeyFromFile(file, file);
  throw InvalidCloudCredentials(fmt::format(
      "no Lambda Cloud API key: LAMBDA_API_KEY and SKYCORE_LAMBDA_KEYS_FILE are unset and {} does "
      "not exist; create a key at https://cloud.lambdalabs.com/api-keys and write `api_key = "
      "KEY` to ~/.lambda_cloud/lambda_keys",
      file.empty() ? "~/.lambda_cloud/lambda_keys (HOME is unset)" : file));
}

LambdaErrorDetail ParseLambdaError(const std::string& body) {
  LambdaErrorDetail detail;
  const auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) {
    detail.message = body.substr(0, 300);
    return detail;
  }
  const json& error = parsed["error"];
  detail.code = error.value("code", "");
  detail.message = error.value("message", "");
  detail.suggestion = error.value("suggestion", "");
  return detail;
}

json LaunchBody(const std::string& region, const std::string& instance_type,
                const std::string& ssh_key_name, int quantity, const std::string& name) {
  return {{"region_name", region},
          {"instance_type_name", instance_type},
          {"ssh_key_names", json::array({ssh_key_name})},
          {"quantity", quantity},
          {"name", name}};
}

LambdaClient::LambdaClient(std::string endpoint, ApiKey key, LambdaClientOptions options)
    : endpoint_(std::move(endpoint)), key_(std::move(key)), options_(options) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

json LambdaClient::Call(const std::string& method, const std::string& path, const json& body,
                        bool retry_server_errors) const {
  const auto make = [&] {
    http::HttpExchange exchange = http::BearerJsonRequest(
        method, endpoint_ + path, body.is_null() ? "" : body.dump(), key_.key, "skycore/lambda");
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    return exchange;
  };
  // A refused request made nothing: a throttled launch is asked again too. A
  // launch that failed otherwise may have made instances, so it is not.
  const auto judge = [&](const http::HttpAnswer& answer) {
    const bool retry = answer.transport_ok
                           ? answer.status == 429 || (answer.status >= 500 && retry_server_errors)
                           : retry_server_errors;
    return retry ? http::Verdict::kRetry : http::Verdict::kDone;
  };
  const auto before_wait = [&](const http::HttpAnswer& answer, milliseconds wait, int next) {
    if (answer.status == 429 && options_.on_throttled) {
      options_.on_throttled(fmt::format(
          "Lambda Cloud is rate-limiting requests (about one launch per 10 s): {} {} again "
          "in {:.1f} s (attempt {} of {})",
          method, path, wait.count() / 1000.0, next, options_.retry.max_attempts));
    }
  };
  const auto [answer, attempts] =
      http::SendWithRetries(connections_, options_.retry, make, judge, before_wait);
  if (!answer.transport_ok) {
    LambdaErrorDetail detail;
    detail.method = method;
    detail.path = path;
    detail.message = answer.transport_error;
    detail.attempts = attempts;
    throw LambdaApiError(fmt::format("Lambda Cloud at {} did not answer {} {}: {}", endpoint_,
                                     method, path, answer.transport_error),
                         detail);
  }
  if (answer.status == 200) {
    const auto parsed = json::parse(answer.body, nullptr, false);
    if (parsed.is_object() && parsed.contains("data")) return parsed["data"];
    LambdaErrorDetail detail{method, path, "", "answer without data", "", 200, attempts};
    throw LambdaApiError(fmt::format("Lambda Cloud {} {} answered without `data`: {}", method, path,
                                     answer.body.substr(0, 300)),
                         detail);
  }
  LambdaErrorDetail detail = ParseLambdaError(answer.body);
  detail.method = method;
  detail.path = path;
  detail.http_status = answer.status;
  detail.attempts = attempts;
  const std::string what =
      fmt::format("{}{}{}", detail.code.empty() ? "" : detail.code + ": ", detail.message,
                  detail.suggestion.empty() ? "" : " (" + detail.suggestion + ")");
  if (answer.status == 401 || answer.status == 403 || detail.code == "global/invalid-api-key" ||
      detail.code == "global/account-inactive") {
    throw LambdaCredentialsRefused(
        fmt::format("Lambda Cloud refused {} {} with the API key from {}: HTTP {} {}", method, path,
                    key_.source, answer.status, what),
        detail);
  }
  throw LambdaApiError(
      fmt::format("Lambda Cloud {} {} failed (HTTP {}{}): {}", method, path, answer.status,
                  attempts > 1 ? fmt::format(", {} attempts", attempts) : "", what),
      detail);
}

json LambdaClient::InstanceTypes() const { return Call("GET", "/instance-types"); }

std::vector<json> LambdaClient::ListInstances() const {
  const json data = Call("GET", "/instances");
  return data.is_array() ? data.get<std::vector<json>>() : std::vector<json>{};
}

std::vector<json> LambdaClient::SshKeys() const {
  const json data = Call("GET", "/ssh-keys");
  return data.is_array() ? data.get<std::vector<json>>() : std::vector<json>{};
}

void LambdaClient::AddSshKey(const std::string& name, const std::string& public_key) const {
  Call("POST", "/ssh-keys", {{"name", name}, {"public_key", public_key}});
}

std::vector<std::string> LambdaClient::Launch(const std::string& region,
                                              const std::string& instance_type,
                                              const std::string& ssh_key_name, int quantity,
                                              const std::string& name) const {
  const json data = Call("POST", "/instance-operations/launch",
                         LaunchBody(region, instance_type, ssh_key_name, quantity, name), false);
  std::vector<std::string> ids;
  if (data.is_object()) {
    for (const auto& id : data.value("instance_ids", json::array())) {
      if (id.is_string()) ids.push_back(id.get<std::string>());
    }
  }
  return ids;
}

void LambdaClient::Terminate(const std::vector<std::string>& instance_ids) const {
  Call("POST", "/instance-operations/terminate", {{"instance_ids", instance_ids}});
}

std::vector<json> LambdaClient::FirewallRules() const {
  const json data = Call("GET", "/firewall-rules");
  return data.is_array() ? data.get<std::vector<json>>() : std::vector<json>{};
}

void LambdaClient::SetFirewallRules(const std::vector<json>& rules) const {
  Call("PUT", "/firewall-rules", {{"data", rules}});
}

}  // namespace skycore::lambda
