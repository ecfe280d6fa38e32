// RefreshCatalogs: download SkyPilot-format catalogs with libcurl.
//
// Per infra: GET <base>/<infra>/vms.csv with If-None-Match / If-Modified-Since
// from the previous download's metadata; 304 keeps the current file. A body is
// accepted only if it parses as a catalog (required columns, at least one row,
// at most 1% bad rows) and ends with a complete line. It is written to a
// temporary file, flushed, read back and compared by checksum (FNV-1a 64)
// with what was received, then renamed over the old file, so a reader sees the
// old catalog or the new one, never a mix. Failures are retried with
// exponential backoff; HTTP 4xx (but 408/429) is final.
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "catalog/table.h"
#include "common/files.h"
#include "skycore/error.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

struct Response {
  long status = 0;
  std::string body;
  std::string etag;
  std::string last_modified;
  std::string error;  // transport error, empty when the request completed
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  std::string_view line(data, size * count);
  auto value_of = [&](std::string_view name) -> std::optional<std::string> {
    if (line.size() <= name.size() || strncasecmp(line.data(), name.data(), name.size()) != 0) {
      return std::nullopt;
    }
    std::string_view value = line.substr(name.size());
    while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.remove_suffix(1);
    return std::string(value);
  };
  if (auto etag = value_of("etag:")) response->etag = *etag;
  if (auto modified = value_of("last-modified:")) response->last_modified = *modified;
  return size * count;
}

Response Fetch(const std::string& url, const nlohmann::json& meta, const RefreshOptions& options) {
  Response response;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    response.error = "libcurl could not be initialised";
    return response;
  }
  curl_slist* headers = nullptr;
  if (meta.contains("etag")) {
    headers =
        curl_slist_append(headers, ("If-None-Match: " + meta["etag"].get<std::string>()).c_str());
  }
  if (meta.contains("last_modified")) {
    headers = curl_slist_append(
        headers, ("If-Modified-Since: " + meta["last_modified"].get<std::string>()).c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options.low_speed_time_s)));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  if (headers != nullptr) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    response.error = error[0] != '\0' ? error : curl_easy_strerror(code);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return response;
}

nlohmann::json ReadMeta(const fs::path& path) {
  std::ifstream stream(path);
  if (!stream) return nlohmann::json::object();
  try {
    auto meta = nlohmann::json::parse(stream);
    return meta.is_object() ? meta : nlohmann::json::object();
  } catch (const nlohmann::json::exception&) {
    return nlohmann::json::object();
  }
}

// Why `body` is not an acceptable catalog, or empty when it is.
std::string Validate(const std::string& infra, const std::string& body, size_t& rows) {
  if (body.empty()) return "empty response";
  if (body.back() != '\n') return "the file does not end with a complete line (truncated?)";
  std::vector<CatalogIssue> issues;
  auto table = catalog_internal::ParseCatalogCsv(infra, body, "download", &issues);
  rows = table->size();
  if (!issues.empty() && issues.front().line == 1) return issues.front().message;
  if (rows == 0) return "no valid rows";
  if (issues.size() > std::max<size_t>(1, rows / 100)) {
    return fmt::format("{} malformed rows (first: {})", issues.size(), issues.front().ToString());
  }
  return "";
}

// Writes `bytes` to `path` atomically, verifying what reached the disk.
std::string WriteVerified(const fs::path& path, const std::string& bytes) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot write {}", tmp.string());
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  bool ok = written == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) {
    std::ifstream stream(tmp, std::ios::binary);
    std::stringstream back;
    back << stream.rdbuf();
    ok = Fnv1a64(back.str()) == Fnv1a64(bytes);
  }
  if (!ok) {
    fs::remove(tmp, ec);
    return fmt::format("writing {} failed or its checksum did not match", path.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fmt::format("cannot replace {}: {}", path.string(), ec.message());
  }
  return "";
}

RefreshResult RefreshOne(const std::string& infra, const RefreshOptions& options) {
  RefreshResult result;
  result.infra = infra;
  const fs::path dir = options.state_dir / "catalogs" / "v7" / infra;
  const fs::path csv = dir / "vms.csv";
  const fs::path meta_path = dir / "vms.csv.meta.json";
  std::error_code ec;
  try {
    for (const auto& each : {options.state_dir / "catalogs", dir.parent_path(), dir}) {
      files::EnsurePrivateDir(each);
    }
  } catch (const Error&) {
    // Reported below, by the directory the catalog goes to.
  }
  fs::create_directories(dir, ec);
  if (ec) {
    result.message = fmt::format("cannot create {}: {}", dir.string(), ec.message());
    return result;
  }
  nlohmann::json meta = fs::exists(csv) ? ReadMeta(meta_path) : nlohmann::json::object();
  std::string base = options.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = fmt::format("{}/{}/vms.csv", base, infra);
  double backoff = options.backoff_initial_s;
  for (int attempt = 1; attempt <= std::max(1, options.attempts); ++attempt) {
    if (attempt > 1) {
      if (options.sleep) {
        options.sleep(backoff);
      } else {
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      }
      backoff *= 2;
    }
    Response response = Fetch(url, meta, options);
    if (!response.error.empty()) {
      result.message = fmt::format("{}: {}", url, response.error);
      continue;
    }
    if (response.status == 304) {
      result.status = RefreshResult::Status::kNotModified;
      result.message = "not modified";
      result.rows = Catalog::LoadFiles({{infra, csv}}, nullptr, false).num_rows();
      return result;
    }
    if (response.status != 200) {
      result.message = fmt::format("{}: HTTP {}", url, response.status);
      if (response.status >= 400 && response.status < 500 && response.status != 408 &&
          response.status != 429) {
        return result;
      }
      continue;
    }
    size_t rows = 0;
    std::string invalid = Validate(infra, response.body, rows);
    if (!invalid.empty()) {
      result.message = fmt::format("{}: rejected: {}", url, invalid);
      continue;
    }
    std::string write_error = WriteVerified(csv, response.body);
    if (!write_error.empty()) {
      result.message = write_error;
      return result;
    }
    nlohmann::json new_meta = {{"url", url},
                               {"fnv1a64", fmt::format("{:016x}", Fnv1a64(response.body))}};
    if (!response.etag.empty()) new_meta["etag"] = response.etag;
    if (!response.last_modified.empty()) new_meta["last_modified"] = response.last_modified;
    WriteVerified(meta_path, new_meta.dump(2) + "\n");
    result.status = RefreshResult::Status::kUpdated;
    result.rows = rows;
    result.message = fmt::format("{} rows written to {}", rows, csv.string());
    return result;
  }
  return result;
}

}  // namespace

std::vector<RefreshResult> RefreshCatalogs(const RefreshOptions& options) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  std::vector<RefreshResult> results;
  for (const auto& infra : options.infras) {
    if (!curl_ready) {
      results.push_back({infra, RefreshResult::Status::kFailed, "libcurl failed to initialise", 0});
      continue;
    }
    results.push_back(RefreshOne(infra, options));
  }
  return results;
}

}  // namespace skycore
