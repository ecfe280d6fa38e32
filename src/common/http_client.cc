#include "common/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <string_view>
#include <thread>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::http {
namespace {

// Handles kept idle per client: enough for the provisioner's parallel calls
// and for a storage transfer's parallel requests (16 by default).
constexpr size_t kMaxIdleHandles = 32;

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Collects "Name: value" lines of the last response (a 100 or a redirect's
// headers are replaced by the final one's).
size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) headers.clear();
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    headers.insert_or_assign(std::move(name), std::string(value));
  }
  return size * count;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

struct HttpConnections::Handle {
  CURL* curl = nullptr;
};

void HttpConnections::HandleDeleter::operator()(Handle* handle) const {
  if (handle->curl) curl_easy_cleanup(handle->curl);
  delete handle;
}

HttpConnections::HttpConnections() {
  // Once, before any request: curl_easy_init would otherwise do it lazily,
  // racing when one client sends from several threads.
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
}

HttpConnections::~HttpConnections() = default;

HttpConnections::HandlePtr HttpConnections::Take() const {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      HandlePtr handle = std::move(idle_.back());
      idle_.pop_back();
      // Options go, the open connection stays.
      curl_easy_reset(handle->curl);
      return handle;
    }
  }
  HandlePtr handle(new Handle);
  handle->curl = curl_easy_init();
  if (!handle->curl) throw InternalError("curl_easy_init failed");
  return handle;
}

void HttpConnections::Give(HandlePtr handle) const {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

HttpAnswer HttpConnections::Perform(const HttpExchange& exchange) const {
  HandlePtr handle = Take();
  CURL* curl = handle->curl;
  HttpAnswer answer;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const auto& header : exchange.headers) {
    headers.reset(curl_slist_append(headers.release(), header.c_str()));
  }
  // libcurl would add "Expect: 100-continue" to larger bodies: a round trip
  // more, and some emulators answer it badly.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  curl_easy_setopt(curl, CURLOPT_URL, exchange.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, exchange.method.c_str());
  // A HEAD answer's Content-Length describes a body that never comes.
  if (exchange.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (exchange.method == "POST" || !exchange.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, exchange.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(exchange.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, exchange.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, exchange.total_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, exchange.user_agent.c_str());
  // The instance metadata service must never be reached through a proxy.
  if (exchange.url.rfind("http://169.254.169.254", 0) == 0) {
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  if (code == CURLE_OK) {
    answer.transport_ok = true;
  } else {
    answer.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    answer.transport_error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  }
  Give(std::move(handle));
  return answer;
}

HttpExchange BearerJsonRequest(std::string method, std::string url, std::string body,
                               const std::string& token, std::string user_agent) {
  HttpExchange exchange;
  exchange.method = std::move(method);
  exchange.url = std::move(url);
  exchange.headers = {"Authorization: Bearer " + token, "Accept: application/json"};
  if (!body.empty()) exchange.headers.emplace_back("Content-Type: application/json");
  exchange.body = std::move(body);
  exchange.user_agent = std::move(user_agent);
  return exchange;
}

std::chrono::milliseconds RetryPolicy::Backoff(int attempt) const {
  thread_local std::mt19937 random{std::random_device{}()};
  long cap = initial_backoff_ms;
  for (int i = 0; i < attempt && cap < max_backoff_ms; ++i) cap *= 2;
  cap = std::max(1L, std::min(cap, max_backoff_ms));
  return std::chrono::milliseconds(std::uniform_int_distribution<long>(cap / 2, cap)(random));
}

std::chrono::milliseconds RetryPolicy::WaitAfter(const HttpAnswer& answer, int attempt) const {
  const std::string retry_after = answer.Header("retry-after");
  long long seconds = 0;
  if (!retry_after.empty() && strings::ParseInt(strings::Trim(retry_after), seconds) &&
      seconds >= 0) {
    return std::min(std::chrono::milliseconds(seconds * 1000),
                    std::chrono::milliseconds(max_backoff_ms));
  }
  return Backoff(attempt);
}

RetriedAnswer SendWithRetries(
    const HttpConnections& connections, const RetryPolicy& policy,
    const std::function<HttpExchange()>& make,
    const std::function<Verdict(const HttpAnswer&)>& judge,
    const std::function<void(const HttpAnswer&, std::chrono::milliseconds, int)>& before_wait) {
  bool renewed = false;
  for (int attempt = 1;; ++attempt) {
    HttpAnswer answer = connections.Perform(make());
    const Verdict verdict = judge(answer);
    if (verdict == Verdict::kRenewed && !renewed) {
      renewed = true;
      --attempt;
      continue;
    }
    if (verdict != Verdict::kRetry || attempt >= policy.max_attempts) {
      return RetriedAnswer{std::move(answer), attempt};
    }
    const auto wait = policy.WaitAfter(answer, attempt);
    if (before_wait) before_wait(answer, wait, attempt + 1);
    std::this_thread::sleep_for(wait);
  }
}

}  // namespace skycore::http
