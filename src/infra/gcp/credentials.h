// Where skycore's GCP calls get their access tokens: Application Default
// Credentials, the chain google-auth and gcloud walk.
//
//   1. GOOGLE_APPLICATION_CREDENTIALS: a service-account key file (an RS256
//      JWT signed here with the key's private key, exchanged at its
//      token_uri) or an authorized-user file (its refresh token);
//   2. gcloud's application-default file,
//      $CLOUDSDK_CONFIG/application_default_credentials.json (default
//      ~/.config/gcloud), made by `gcloud auth application-default login`;
//   3. the metadata server, only on a GCE VM (its DMI product name says so):
//      elsewhere it is never contacted.
//
// A configured source that fails (a missing or malformed file, a refused
// key) is an error naming it, not a reason to try the next, as in
// google-auth. The project comes from GOOGLE_CLOUD_PROJECT (or
// CLOUDSDK_CORE_PROJECT), else the key file's project_id, else gcloud's
// active configuration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/environment.h"
#include "common/http_client.h"

namespace skycore::gcp {

using EnvLookup = env::Lookup;  // tests pass a map

inline constexpr const char* kCloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform";
inline constexpr const char* kDefaultTokenUri = "https://oauth2.googleapis.com/token";

struct AccessToken {
  std::string token;
  int64_t expires_at = 0;  // Unix seconds
};

// A credentials file as google-auth reads it.
struct CredentialsFile {
  std::string type;  // "service_account" or "authorized_user"
  std::filesystem::path path;
  std::string project_id;
  std::string client_email;  // service account
  std::string private_key;   // service account, PEM
  std::string private_key_id;
  std::string client_id;  // authorized user
  std::string client_secret;
  std::string refresh_token;
  std::string token_uri = kDefaultTokenUri;
};

// Reads a credentials file; throws InvalidCloudCredentials naming the file
// and the field that is missing, or a type skycore does not take yet.
CredentialsFile ReadCredentialsFile(const std::filesystem::path& path);
// The same from the file's text; `where` names it in messages.
CredentialsFile ParseCredentials(const std::string& text, const std::filesystem::path& where);

struct CredentialsOptions {
  EnvLookup env;
  std::function<int64_t()> now;  // Unix seconds; empty: the system clock
  long request_timeout_ms = 15000;
  // Whether this machine is a GCE VM; empty: read its DMI product name.
  std::function<bool()> on_gce;
  // A credentials file's text, used instead of the chain (a cluster's head
  // gets the key or login the launching machine used); `inline_source`
  // names it in messages.
  std::string inline_credentials;
  std::string inline_source;
};

// Gets and caches tokens for one chain. Thread-safe.
class TokenProvider {
 public:
  explicit TokenProvider(CredentialsOptions options);

  // A token valid for at least five more minutes; throws
  // InvalidCloudCredentials naming the source and what to fix.
  AccessToken Token();
  void Invalidate();

  // "service account a@p.iam.gserviceaccount.com (GOOGLE_APPLICATION_CREDENTIALS=...)",
  // "gcloud application-default login (...)", "the GCE metadata server".
  std::string SourceName();
  // The project, resolved as the header says; empty when none is found.
  std::string Project();
  // The file in use, when the source is one.
  std::optional<CredentialsFile> File();

 private:
  std::optional<std::filesystem::path> FilePath();
  AccessToken Fetch();
  AccessToken Exchange(const std::string& token_uri, const std::string& form,
                       const std::string& source);
  int64_t Now() const;

  CredentialsOptions options_;
  std::mutex mutex_;
  std::optional<AccessToken> cached_;
  http::HttpConnections connections_;
};

}  // namespace skycore::gcp
