#include "infra/azure/credentials.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"
#include "common/jwt.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "skycore/error.h"

namespace skycore::azure {
namespace {

using nlohmann::json;

constexpr const char* kDefaultAuthority = "https://login.microsoftonline.com";
constexpr const char* kImdsTokenUrl =
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=";
constexpr const char* kArmResource = "https://management.azure.com/";
// A token is renewed this long before it expires: a launch must not see it
// expire halfway.
constexpr int64_t kRefreshMargin = 300;
// Azure VMs carry this DMI chassis asset tag (Azure's documented way to tell).
constexpr const char* kAzureAssetTag = "7783-7084-3265-9085";

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};

bool OnAzureVm() {
  const std::string tag = files::ReadText("/sys/class/dmi/id/chassis_asset_tag").value_or("");
  return strings::Trim(tag) == kAzureAssetTag;
}

std::string FormBody(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += strings::UrlEncode(name) + "=" + strings::UrlEncode(value);
  }
  return body;
}

// Entra ID's own words from an error answer ("AADSTS7000215: Invalid client
// secret provided. ..."), first line only.
std::string EntraMessage(const http::HttpAnswer& answer) {
  const auto parsed = json::parse(answer.body, nullptr, false);
  std::string message;
  if (parsed.is_object()) {
    message = parsed.value("error_description", parsed.value("error", ""));
    if (parsed.contains("error") && parsed["error"].is_object()) {
      message = parsed["error"].value("message", "");
    }
  }
  if (message.empty()) message = answer.body.substr(0, 300);
  if (const size_t newline = message.find_first_of("\r\n"); newline != std::string::npos) {
    message.resize(newline);
  }
  return fmt::format("HTTP {}: {}", answer.status, message);
}

}  // namespace

std::string CertificateAssertion(const std::string& certificate_pem, const std::string& client_id,
                                 const std::string& audience, int64_t now) {
  std::unique_ptr<BIO, BioDeleter> cert_bio(
      BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())));
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw InvalidCloudCredentials(
        "the client certificate file needs a PEM certificate and its unencrypted private key");
  }
  unsigned char thumbprint[SHA_DIGEST_LENGTH];
  unsigned int thumbprint_size = 0;
  X509_digest(cert.get(), EVP_sha1(), thumbprint, &thumbprint_size);
  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof(nonce));
  const std::string_view thumb(reinterpret_cast<char*>(thumbprint), thumbprint_size);
  const json claims = {
      {"aud", audience},
      {"iss", client_id},
      {"sub", client_id},
      {"jti", jwt::Base64Url(std::string_view(reinterpret_cast<char*>(nonce), 16))},
      {"nbf", now - 60},
      {"iat", now},
      {"exp", now + 600}};
  try {
    return jwt::SignRs256({{"x5t", jwt::Base64Url(thumb)}}, claims, certificate_pem);
  } catch (const InvalidCloudCredentials& e) {
    throw InvalidCloudCredentials(
        fmt::format("the client certificate file's private key: {}", e.message()));
  }
}

TokenProvider::TokenProvider(CredentialsOptions options) : options_(std::move(options)) {}

TokenProvider::TokenProvider(CredentialsOptions options, ClientCredentials client,
                             std::string source)
    : options_(std::move(options)), fixed_(std::move(client)), fixed_source_(std::move(source)) {}

int64_t TokenProvider::Now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TokenProvider::authority() const {
  std::string host = options_.env("AZURE_AUTHORITY_HOST").value_or(kDefaultAuthority);
  if (host.empty()) host = kDefaultAuthority;
  if (host.find("://") == std::string::npos) host = "https://" + host;
  while (!host.empty() && host.back() == '/') host.pop_back();
  return host;
}

std::optional<ClientCredentials> TokenProvider::Client() {
  if (fixed_) return fixed_;
  auto env = [&](const char* name) { return options_.env(name).value_or(""); };
  ClientCredentials client{env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), "", "", ""};
  if (client.tenant_id.empty() || client.client_id.empty()) return std::nullopt;
  if (!env("AZURE_CLIENT_SECRET").empty()) {
    client.client_secret = env("AZURE_CLIENT_SECRET");
    return client;
  }
  if (const std::string path = env("AZURE_CLIENT_CERTIFICATE_PATH"); !path.empty()) {
    client.certificate_pem = files::ReadText(path).value_or("");
    if (client.certificate_pem.empty()) {
      throw InvalidCloudCredentials(fmt::format(
          "AZURE_CLIENT_CERTIFICATE_PATH={} cannot be read (a PEM file with the service "
          "principal's certificate and private key)",
          path));
    }
    return client;
  }
  if (const std::string path = env("AZURE_FEDERATED_TOKEN_FILE"); !path.empty()) {
    const std::string text = files::ReadText(path).value_or("");
    client.federated_token = std::string(strings::Trim(text));
    if (client.federated_token.empty()) {
      throw InvalidCloudCredentials(fmt::format(
          "AZURE_FEDERATED_TOKEN_FILE={} is missing or empty (workload identity: the token "
          "Kubernetes projects into the pod)",
          path));
    }
    return client;
  }
  return std::nullopt;
}

std::string TokenProvider::SourceName() {
  if (fixed_) return fixed_source_;
  if (auto client = Client()) {
    if (!client->client_secret.empty()) {
      return fmt::format("service principal {} (AZURE_CLIENT_SECRET)", client->client_id);
    }
    if (!client->certificate_pem.empty()) {
      return fmt::format("service principal {} (AZURE_CLIENT_CERTIFICATE_PATH)", client->client_id);
    }
    return fmt::format("workload identity {} (AZURE_FEDERATED_TOKEN_FILE)", client->client_id);
  }
  const bool on_vm = options_.on_azure_vm ? options_.on_azure_vm() : OnAzureVm();
  if (options_.env("IDENTITY_ENDPOINT") || on_vm) return "managed identity";
  return "Azure CLI (az login)";
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

void TokenProvider::Seed(AccessToken token) {
  std::lock_guard lock(mutex_);
  cached_ = std::move(token);
}

AccessToken TokenProvider::Fetch() {
  if (fixed_ && fixed_->client_id.empty()) {
    throw InvalidCloudCredentials(fmt::format(
        "the Azure token of {} has expired, and it came with no credentials to renew it",
        fixed_source_));
  }
  if (auto client = Client()) return FromClient(*client, SourceName());
  const bool on_vm = options_.on_azure_vm ? options_.on_azure_vm() : OnAzureVm();
  if (options_.env("IDENTITY_ENDPOINT") || on_vm) return FromManagedIdentity();
  return FromCli();
}

AccessToken TokenProvider::FromClient(const ClientCredentials& client, const std::string& source) {
  const std::string url =
      fmt::format("{}/{}/oauth2/v2.0/token", authority(), strings::UrlEncode(client.tenant_id));
  std::vector<std::pair<std::string, std::string>> fields = {
      {"grant_type", "client_credentials"}, {"client_id", client.client_id}, {"scope", kArmScope}};
  if (!client.client_secret.empty()) {
    fields.emplace_back("client_secret", client.client_secret);
  } else {
    fields.emplace_back("client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    fields.emplace_back("client_assertion", client.federated_token.empty()
                                                ? CertificateAssertion(client.certificate_pem,
                                                                       client.client_id, url, Now())
                                                : client.federated_token);
  }
  http::HttpExchange exchange;
  exchange.method = "POST";
  exchange.url = url;
  exchange.headers = {"Content-Type: application/x-www-form-urlencoded",
                      "Accept: application/json"};
  exchange.body = FormBody(fields);
  exchange.total_timeout_ms = options_.request_timeout_ms;
  exchange.user_agent = "skycore/azure";
  const http::HttpAnswer answer = connections_.Perform(exchange);
  if (!answer.transport_ok) {
    throw InvalidCloudCredentials(fmt::format("{}: Entra ID at {} did not answer: {}", source,
                                              authority(), answer.transport_error));
  }
  const auto parsed = json::parse(answer.body, nullptr, false);
  if (answer.status != 200 || !parsed.is_object() || !parsed.contains("access_token")) {
    throw InvalidCloudCredentials(fmt::format(
        "{} was refused by Entra ID (tenant {}): {}; check AZURE_TENANT_ID, AZURE_CLIENT_ID and "
        "the secret or certificate (az ad sp credential reset makes a new secret)",
        source, client.tenant_id, EntraMessage(answer)));
  }
  AccessToken token;
  token.token = parsed.value("access_token", "");
  const auto& lifetime = parsed.contains("expires_in") ? parsed["expires_in"] : json(3600);
  token.expires_at = Now() + (lifetime.is_number() ? lifetime.get<int64_t>()
                                                   : std::stoll(lifetime.get<std::string>()));
  token.source = source;
  return token;
}

AccessToken TokenProvider::FromManagedIdentity() {
  http::HttpExchange exchange;
  exchange.method = "GET";
  exchange.user_agent = "skycore/azure";
  exchange.connect_timeout_ms = 2000;
  exchange.total_timeout_ms = options_.request_timeout_ms;
  if (auto endpoint = options_.env("IDENTITY_ENDPOINT")) {
    exchange.url = fmt::format("{}?api-version=2019-08-01&resource={}", *endpoint,
                               strings::UrlEncode(kArmResource));
    exchange.headers = {"X-IDENTITY-HEADER: " + options_.env("IDENTITY_HEADER").value_or("")};
  } else {
    exchange.url = std::string(kImdsTokenUrl) + strings::UrlEncode(kArmResource);
    exchange.headers = {"Metadata: true"};
  }
  if (auto id = options_.env("AZURE_CLIENT_ID"); id && !id->empty()) {
    exchange.url += "&client_id=" + strings::UrlEncode(*id);
  }
  const http::HttpAnswer answer = connections_.Perform(exchange);
  const auto parsed = json::parse(answer.body, nullptr, false);
  if (!answer.transport_ok || answer.status != 200 || !parsed.is_object() ||
      !parsed.contains("access_token")) {
    throw InvalidCloudCredentials(fmt::format(
        "managed identity: no token from {} ({}); give the VM an identity with a role on the "
        "subscription, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
        exchange.url.substr(0, exchange.url.find('?')),
        answer.transport_ok ? EntraMessage(answer) : answer.transport_error));
  }
  AccessToken token;
  token.token = parsed.value("access_token", "");
  const auto expires = parsed.value("expires_on", json());
  token.expires_at = expires.is_number()   ? expires.get<int64_t>()
                     : expires.is_string() ? std::stoll(expires.get<std::string>())
                                           : Now() + 3600;
  token.source = "managed identity";
  return token;
}

AccessToken TokenProvider::FromCli() {
  const std::string az = subprocess::FindInPath(options_.az_command);
  if (az.empty()) {
    throw InvalidCloudCredentials(
        "no Azure credentials found: AZURE_TENANT_ID/AZURE_CLIENT_ID with AZURE_CLIENT_SECRET "
        "or AZURE_CLIENT_CERTIFICATE_PATH not set; AZURE_FEDERATED_TOKEN_FILE not set; not on "
        "an Azure VM (no managed identity); the Azure CLI (az) is not installed. Run `az login`, "
        "or set a service principal's variables");
  }
  // stderr to a file: stdout is the JSON alone (the CLI warns on stderr).
  char stderr_path[] = "/tmp/skycore-az-XXXXXX";
  const int fd = ::mkstemp(stderr_path);
  if (fd < 0) throw IoError("cannot run az: no temporary file");
  ::close(fd);
  const auto run =
      subprocess::Run({"/bin/sh", "-c", "exec 2>\"$0\"; exec \"$@\"", stderr_path, az, "account",
                       "get-access-token", "--output", "json", "--resource", kArmResource},
                      options_.cli_timeout_s);
  const std::string stderr_text = files::ReadText(stderr_path).value_or("");
  std::string errors(strings::Trim(stderr_text));
  ::unlink(stderr_path);
  if (errors.size() > 400) errors = errors.substr(errors.size() - 400);
  if (run.timed_out) {
    throw InvalidCloudCredentials(
        fmt::format("Azure CLI: `az account get-access-token` did not finish within {:.0f} s",
                    options_.cli_timeout_s));
  }
  const auto parsed = json::parse(run.output, nullptr, false);
  if (run.exit_code != 0 || !parsed.is_object() || !parsed.contains("accessToken")) {
    throw InvalidCloudCredentials(
        fmt::format("Azure CLI: `az account get-access-token` failed (exit {}){}; run `az login`",
                    run.exit_code, errors.empty() ? "" : ": " + errors));
  }
  AccessToken token;
  token.token = parsed.value("accessToken", "");
  // `expires_on` (Unix seconds) since CLI 2.54; `expiresOn` is local time.
  const auto expires = parsed.value("expires_on", json());
  token.expires_at = expires.is_number()   ? expires.get<int64_t>()
                     : expires.is_string() ? std::stoll(expires.get<std::string>())
                                           : Now() + 300 + kRefreshMargin;
  token.source = "Azure CLI (az login)";
  token.cli_subscription = parsed.value("subscription", "");
  token.cli_tenant = parsed.value("tenant", "");
  return token;
}

}  // namespace skycore::azure
