#include "storage/file_mounts.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

#include "common/strings.h"
#include "storage/s3.h"
#include "storage/transfer.h"

namespace skycore::storage {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

ErrorLocation Field(const std::string& destination, const std::string& field = "") {
  ErrorLocation location;
  location.field_path = field.empty() ? fmt::format("file_mounts.{}", destination)
                                      : fmt::format("file_mounts.{}.{}", destination, field);
  return location;
}

std::string Scheme(const std::string& source) {
  const size_t at = source.find("://");
  return at == std::string::npos ? "" : source.substr(0, at);
}

// Refuses a bucket URI of a store this version cannot copy from.
void CheckUri(const std::string& destination, const std::string& field, const std::string& uri) {
  const std::string scheme = Scheme(uri);
  if (scheme == "s3") {
    try {
      ParseS3Uri(uri);
    } catch (const InvalidTaskError& e) {
      throw InvalidTaskError(e.message(), Field(destination, field));
    }
    return;
  }
  if (scheme == "cos" || scheme == "oci") {
    throw NotSupportedError(
        fmt::format("{}:// buckets (IBM COS, OCI) are not supported; use s3://", scheme),
        Field(destination, field));
  }
  if (scheme == "gs" || scheme == "r2" || scheme == "https" || scheme == "nebius" ||
      scheme == "cw") {
    throw NotSupportedError(
        fmt::format("{} buckets are not supported yet; only s3:// URIs are copied for now",
                    scheme == "https" ? "Azure Blob (https://)" : fmt::format("{}://", scheme)),
        Field(destination, field));
  }
  throw InvalidTaskError(fmt::format("'{}' is not a bucket URI this version knows", uri),
                         Field(destination, field), strings::CloseMatches(scheme, {"s3", "gs"}));
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

struct StorageSpec {
  std::string name;
  std::string source;  // local path or URI; empty: none
  bool persistent = true;
};

// Reads and checks a storage object; the loader has checked field types.
StorageSpec ReadStorage(const std::string& destination, const json& storage) {
  // SkyPilot's default mode is MOUNT.
  const std::string mode = Upper(storage.value("mode", std::string("MOUNT")));
  if (mode != "COPY") {
    throw NotSupportedError(
        fmt::format("mode {} is not supported yet (FUSE mounts come in a later version); set "
                    "`mode: COPY` to copy the bucket's objects onto the nodes",
                    mode),
        Field(destination, "mode"));
  }
  StorageSpec spec;
  spec.name = storage.value("name", std::string());
  spec.persistent = storage.value("persistent", true);
  if (storage.contains("source") && storage["source"].is_array()) {
    throw NotSupportedError("a list of local sources is not supported yet; name one directory",
                            Field(destination, "source"));
  }
  spec.source = storage.value("source", std::string());
  if (storage.contains("store")) {
    const std::string store = Upper(storage["store"].get<std::string>());
    if (store == "IBM" || store == "OCI") {
      throw NotSupportedError(fmt::format("store {} is not supported; use s3", store),
                              Field(destination, "store"));
    }
    if (store != "S3") {
      throw NotSupportedError(
          fmt::format("store {} is not supported yet; only s3 is for now", store),
          Field(destination, "store"));
    }
  }
  if (!Scheme(spec.source).empty()) {
    CheckUri(destination, "source", spec.source);
    const S3Location location = ParseS3Uri(spec.source);
    if (!spec.name.empty() && spec.name != location.bucket) {
      throw InvalidTaskError(
          fmt::format("name '{}' and source '{}' name different buckets", spec.name, spec.source),
          Field(destination, "name"));
    }
    spec.name = location.bucket;
  } else if (spec.name.empty()) {
    throw InvalidTaskError("a storage object with a local source needs `name` (the bucket)",
                           Field(destination, "name"));
  }
  if (auto reason = InvalidBucketNameReason(spec.name)) {
    throw InvalidTaskError(*reason, Field(destination, "name"));
  }
  return spec;
}

fs::path ExpandUser(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "/") / path.substr(path.size() > 1 ? 2 : 1);
  }
  return path;
}

}  // namespace

void CheckFileMounts(const std::vector<FileMount>& mounts) {
  for (const auto& mount : mounts) {
    if (mount.is_storage()) {
      ReadStorage(mount.destination, mount.storage);
    } else if (!Scheme(mount.source).empty()) {
      CheckUri(mount.destination, "", mount.source);
    }
  }
}

void CheckSourceBuckets(const std::vector<FileMount>& mounts, const env::Lookup& env) {
  std::unique_ptr<S3Client> client;
  for (const auto& mount : mounts) {
    std::string uri = mount.source;
    std::string field;
    if (mount.is_storage()) {
      uri = mount.storage.value("source", nlohmann::json("")).is_string()
                ? mount.storage.value("source", std::string())
                : std::string();
      field = "source";
    }
    if (Scheme(uri) != "s3") continue;
    const S3Location location = ParseS3Uri(uri);
    if (!client) client = S3Client::FromEnvironment(env);
    if (!client->BucketExists(location.bucket)) {
      throw InvalidTaskError(fmt::format("bucket s3://{} does not exist (region {})",
                                         location.bucket, client->region()),
                             Field(mount.destination, field));
    }
  }
}

StagedFileMounts::StagedFileMounts(const std::vector<FileMount>& mounts,
                                   const StageOptions& options) {
  CheckFileMounts(mounts);
  std::unique_ptr<S3Client> client;  // made at the first bucket
  const auto s3 = [&]() -> const S3Client& {
    if (!client) client = S3Client::FromEnvironment(options.env);
    return *client;
  };
  TransferOptions transfer;
  const auto progress_for = [&](const std::string& what) {
    transfer.progress = nullptr;
    if (options.on_progress) {
      transfer.progress = [&options, what](const TransferProgress& progress) {
        options.on_progress(fmt::format("{}: {}", what, FormatProgress(progress)));
      };
    }
  };
  for (size_t i = 0; i < mounts.size(); ++i) {
    const FileMount& mount = mounts[i];
    S3Location location;
    if (mount.is_storage()) {
      const StorageSpec spec = ReadStorage(mount.destination, mount.storage);
      location.bucket = spec.name;
      StorageUse use{spec.name, "S3", spec.source, spec.persistent, false};
      const bool local_source = !spec.source.empty() && Scheme(spec.source).empty();
      if (!s3().BucketExists(spec.name)) {
        if (!spec.source.empty() && !local_source) {
          throw InvalidTaskError(
              fmt::format("bucket s3://{} does not exist (region {})", spec.name, s3().region()),
              Field(mount.destination, "source"));
        }
        s3().CreateBucket(spec.name);
        use.created = true;
      }
      if (spec.source.empty()) use.source = fmt::format("s3://{}", spec.name);
      if (local_source) {
        const fs::path source = fs::absolute(ExpandUser(spec.source));
        use.source = source.string();
        const auto items = ListUploadItems(source, "");
        progress_for(fmt::format("uploading {} to s3://{}", source.string(), spec.name));
        Upload(s3(), spec.name, items, transfer);
      }
      if (options.on_storage) options.on_storage(use);
    } else if (!Scheme(mount.source).empty()) {
      location = ParseS3Uri(mount.source);
      if (!s3().BucketExists(location.bucket)) {
        throw InvalidTaskError(fmt::format("bucket s3://{} does not exist (region {})",
                                           location.bucket, s3().region()),
                               Field(mount.destination));
      }
    } else {
      mounts_.push_back(mount);
      continue;
    }
    if (stage_.empty()) {
      std::string pattern = (fs::temp_directory_path() / "skycore-stage-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) {
        throw IoError(fmt::format("cannot make a staging directory in {}",
                                  fs::temp_directory_path().string()));
      }
      stage_ = pattern;
    }
    const fs::path staged = stage_ / std::to_string(i);
    progress_for(fmt::format("copying s3://{}/{}", location.bucket, location.prefix));
    Download(s3(), location.bucket, location.prefix, staged, transfer);
    std::error_code ec;
    if (!fs::exists(staged, ec)) fs::create_directories(staged, ec);  // an empty prefix
    FileMount local;
    local.destination = mount.destination;
    local.source = staged.string();
    mounts_.push_back(std::move(local));
  }
}

StagedFileMounts::~StagedFileMounts() {
  if (stage_.empty()) return;
  std::error_code ec;
  fs::remove_all(stage_, ec);
}

void DeleteBucket(const std::string& store, const std::string& name, const env::Lookup& env) {
  if (Upper(store) != "S3") {
    throw NotSupportedError(fmt::format("deleting {} storage is not supported yet", store));
  }
  const auto client = S3Client::FromEnvironment(env);
  if (!client->BucketExists(name)) return;
  client->DeleteBucketAndObjects(name);
}

}  // namespace skycore::storage
