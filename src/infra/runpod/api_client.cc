#include "infra/runpod/api_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/strings.h"

namespace skycore::runpod {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A TOML string value: "basic" (with \" \\ \n \t escapes) or 'literal'.
std::optional<std::string> TomlString(std::string_view value) {
  if (value.empty()) return std::nullopt;
  const char quote = value.front();
  if (quote == '\'') {
    const size_t end = value.find('\'', 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(value.substr(1, end - 1));
  }
  if (quote != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '"') return out;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == value.size()) return std::nullopt;
    switch (value[i]) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      default:
        out.push_back(value[i]);  // \" and \\ (a key has no other escapes)
    }
  }
  return std::nullopt;  // unterminated
}

ApiKey KeyFromFile(const fs::path& path, const std::string& named_by) {
  const auto text = files::ReadText(path);
  if (!text) {
    throw InvalidCloudCredentials(
        fmt::format("cannot read the RunPod config file {}{}", path.string(), named_by));
  }
  auto key = ApiKeyFromToml(*text);
  if (!key || key->empty()) {
    throw InvalidCloudCredentials(
        fmt::format("the RunPod config file {}{} has no api_key in its [default] table (expected "
                    "`[default]` then `api_key = \"KEY\"`, as `runpod config` writes)",
                    path.string(), named_by));
  }
  return {*key, fmt::format("{} ([default] api_key)", path.string())};
}

}  // namespace

std::optional<std::string> ApiKeyFromToml(const std::string& text) {
  std::string table;
  std::istringstream lines(text);
  std::string raw;
  while (std::getline(lines, raw)) {
    std::string_view line = strings::Trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      const size_t end = line.find(']');
      if (end == std::string_view::npos) continue;
      table = std::string(strings::Trim(line.substr(1, end - 1)));
      for (const char quote : {'"', '\''}) {
        if (table.size() >= 2 && table.front() == quote && table.back() == quote) {
          table = table.substr(1, table.size() - 2);
        }
      }
      continue;
    }
    if (table != "default") continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view name = strings::Trim(line.substr(0, equals));
    if (name.size() >= 2 && (name.front() == '"' || name.front() == '\'') &&
        name.back() == name.front()) {
      name = name.substr(1, name.size() - 2);
    }
    if (name != "api_key") continue;
    return TomlString(strings::Trim(line.substr(equals + 1)));
  }
  return std::nullopt;
}

ApiKey FindApiKey(const EnvLookup& env) {
  auto get = [&](const char* name) -> std::string {
    if (!env) return "";
    return env(name).value_or("");
  };
  if (const std::string key = std::string(strings::Trim(get("RUNPOD_API_KEY"))); !key.empty()) {
    return {key, "RUNPOD_API_KEY"};
  }
  if (const std::string file = get("SKYCORE_RUNPOD_CONFIG_FILE"); !file.empty()) {
    return KeyFromFile(file, " (named by SKYCORE_RUNPOD_CONFIG_FILE)");
  }
  const std::string home = get("HOME");
  if (home.empty()) {
    throw InvalidCloudCredentials(
        "no RunPod API key: RUNPOD_API_KEY is unset and HOME is unset, so ~/.runpod/config.toml "
        "cannot be found; export RUNPOD_API_KEY or run `runpod config`");
  }
  const fs::path path = fs::path(home) / ".runpod" / "config.toml";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw InvalidCloudCredentials(
        fmt::format("no RunPod API key: RUNPOD_API_KEY is unset and {} does not exist; export "
                    "RUNPOD_API_KEY or run `runpod config` (pip install runpod)",
                    path.string()));
  }
  return KeyFromFile(path, "");
}

std::string RequestBody(const std::string& document, const json& variables) {
  json body = {{"query", document}};
  if (!variables.is_null()) body["variables"] = variables;
  return body.dump();
}

RunpodErrorDetail ParseRunpodError(const std::string& body) {
  RunpodErrorDetail detail;
  const auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("errors") || !parsed["errors"].is_array() ||
      parsed["errors"].empty()) {
    detail.message = std::string(strings::Trim(body.substr(0, 300)));
    return detail;
  }
  std::vector<std::string> messages;
  for (const auto& error : parsed["errors"]) {
    if (!error.is_object()) continue;
    messages.push_back(error.value("message", ""));
    if (detail.code.empty() && error.contains("extensions") && error["extensions"].is_object()) {
      detail.code = error["extensions"].value("code", "");
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].empty()) continue;
    detail.message =
        detail.message.empty() ? messages[i] : fmt::format("{}; {}", detail.message, messages[i]);
  }
  return detail;
}

RunpodClient::RunpodClient(std::string endpoint, ApiKey key, RunpodClientOptions options)
    : endpoint_(std::move(endpoint)), key_(std::move(key)), options_(options) {}

json RunpodClient::Execute(const std::string& operation, const std::string& document,
                           const json& variables) const {
  const std::string body = RequestBody(document, variables);
  const auto make = [&] {
    http::HttpExchange exchange;
    exchange.method = "POST";
    exchange.url = endpoint_;
    exchange.body = body;
    exchange.headers = {fmt::format("Authorization: Bearer {}", key_.key),
                        "Content-Type: application/json", "Accept: application/json"};
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    exchange.user_agent = "skycore/runpod";
    return exchange;
  };
  // A lost answer is not retried: a mutation whose answer was lost may have
  // made a pod all the same (the next launch finds it by name).
  const auto judge = [](const http::HttpAnswer& answer) {
    return answer.transport_ok && (answer.status == 429 || answer.status >= 500)
               ? http::Verdict::kRetry
               : http::Verdict::kDone;
  };
  const auto [answer, attempts] = http::SendWithRetries(connections_, options_.retry, make, judge);
  RunpodErrorDetail detail;
  detail.operation = operation;
  detail.attempts = attempts;
  if (!answer.transport_ok) {
    detail.message = answer.transport_error;
    throw RunpodApiError(fmt::format("RunPod's API at {} did not answer {}: {}", endpoint_,
                                     operation, answer.transport_error),
                         detail);
  }
  const auto parsed = json::parse(answer.body, nullptr, false);
  const bool has_errors = parsed.is_object() && parsed.contains("errors") &&
                          parsed["errors"].is_array() && !parsed["errors"].empty();
  if (answer.status == 200 && !has_errors && parsed.is_object() && parsed.contains("data") &&
      parsed["data"].is_object()) {
    return parsed["data"];
  }
  const RunpodErrorDetail parsed_detail = ParseRunpodError(answer.body);
  detail.message = parsed_detail.message;
  detail.code = parsed_detail.code;
  detail.http_status = answer.status;
  const std::string lowered = strings::Lower(detail.message);
  if (answer.status == 401 || answer.status == 403 ||
      lowered.find("unauthorized") != std::string::npos) {
    throw RunpodCredentialsRefused(
        fmt::format("RunPod refused the API key from {} ({}: HTTP {} {}); check the key at "
                    "https://www.runpod.io/console/user/settings",
                    key_.source, operation, answer.status, detail.message),
        detail);
  }
  if (answer.status == 200 && !has_errors) {
    detail.message = fmt::format("the answer has no data: {}", answer.body.substr(0, 300));
  }
  throw RunpodApiError(
      fmt::format("RunPod {} failed (HTTP {}{}): {}", operation, answer.status,
                  detail.code.empty() ? std::string() : fmt::format(", {}", detail.code),
                  detail.message),
      detail);
}

}  // namespace skycore::runpod
