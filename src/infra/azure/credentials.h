// Where skycore's Azure calls get their access tokens: the chain Azure's own
// tools walk (azure-identity's DefaultAzureCredential, minus the IDE sources).
//
//   1. environment: a service principal, AZURE_TENANT_ID + AZURE_CLIENT_ID
//      with AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH (a PEM with
//      the certificate and its unencrypted private key; the assertion is an
//      RS256 JWT signed here with OpenSSL);
//   2. workload identity (AKS pods): AZURE_FEDERATED_TOKEN_FILE with
//      AZURE_TENANT_ID and AZURE_CLIENT_ID, the file's token exchanged as a
//      client assertion;
//   3. managed identity: IDENTITY_ENDPOINT + IDENTITY_HEADER where a host
//      provides them, else the instance metadata service, but only on an Azure
//      VM (its DMI asset tag says so): elsewhere 169.254.169.254 is never
//      contacted;
//   4. the Azure CLI's login: `az account get-access-token` run as a command
//      (as kubectl runs exec plugins), its token cached in memory until five
//      minutes before it expires.
//
// The first source that is configured wins; a configured source that fails
// (a wrong secret, a missing certificate file) is an error naming it, not a
// reason to try the next, as in azure-identity's EnvironmentCredential.
// Entra ID is AZURE_AUTHORITY_HOST (default https://login.microsoftonline.com).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/environment.h"
#include "common/http_client.h"

namespace skycore::azure {

using EnvLookup = env::Lookup;  // tests pass a map

// The scope of an ARM token.
inline constexpr const char* kArmScope = "https://management.azure.com/.default";

struct AccessToken {
  std::string token;
  int64_t expires_at = 0;  // Unix seconds
  // "service principal <client id> (AZURE_CLIENT_SECRET)", "workload identity
  // (AZURE_FEDERATED_TOKEN_FILE=...)", "managed identity", "Azure CLI (az
  // login)": for messages.
  std::string source;
  // The CLI's subscription and tenant, when the token came from it.
  std::string cli_subscription;
  std::string cli_tenant;
};

// A service principal's client credentials: what the head of a cluster
// needs to get tokens by itself.
struct ClientCredentials {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;    // or:
  std::string certificate_pem;  // certificate and private key, PEM
  std::string federated_token;  // or: a workload identity's assertion
};

struct CredentialsOptions {
  EnvLookup env;
  // Unix seconds now; empty: the system clock.
  std::function<int64_t()> now;
  // `az` (or a test's stand-in); killed after `cli_timeout_s`.
  std::string az_command = "az";
  double cli_timeout_s = 30;
  long request_timeout_ms = 15000;
  // Whether this machine is an Azure VM; empty: read its DMI asset tag.
  std::function<bool()> on_azure_vm;
};

// Gets and caches tokens for one chain. Thread-safe.
class TokenProvider {
 public:
  explicit TokenProvider(CredentialsOptions options);
  // A provider with fixed client credentials (a head's config).
  TokenProvider(CredentialsOptions options, ClientCredentials client, std::string source);

  // A token valid for at least five more minutes. Throws
  // InvalidCloudCredentials naming the source and what to fix, or every
  // source tried when none is configured.
  AccessToken Token();
  // Forgets the cached token (ARM said it expired or was revoked).
  void Invalidate();
  // Uses `token` until it expires (a head given a token, not credentials).
  void Seed(AccessToken token);

  // The client credentials of the source in use, when it has any (a
  // service principal or workload identity); nullopt for the CLI and
  // managed identity.
  std::optional<ClientCredentials> Client();
  // Which source the chain resolves to, without getting a token.
  std::string SourceName();

  std::string authority() const;

 private:
  AccessToken Fetch();
  AccessToken FromClient(const ClientCredentials& client, const std::string& source);
  AccessToken FromManagedIdentity();
  AccessToken FromCli();
  int64_t Now() const;

  CredentialsOptions options_;
  std::optional<ClientCredentials> fixed_;
  std::string fixed_source_;
  std::mutex mutex_;
  std::optional<AccessToken> cached_;
  http::HttpConnections connections_;
};

// The RS256 JWT a certificate-based client assertion is (x5t = base64url of
// the certificate's SHA-1 thumbprint). Throws InvalidCloudCredentials for a
// PEM without a certificate and an RSA key.
std::string CertificateAssertion(const std::string& certificate_pem, const std::string& client_id,
                                 const std::string& audience, int64_t now);

}  // namespace skycore::azure
