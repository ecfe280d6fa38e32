#include "storage/transfer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "common/subprocess.h"

namespace skycore::storage {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One unit of work of a transfer, and the bytes it moves.
struct Piece {
  std::function<void()> run;
  uint64_t bytes = 0;
};

// Runs `pieces` on at most `parallelism` threads; after the first failure
// no new piece starts, and that failure is rethrown once all threads stop.
void RunPieces(const std::vector<Piece>& pieces, const TransferOptions& options,
               uint64_t bytes_total, TransferSummary* summary) {
  const auto start = Clock::now();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mutex;  // first, progress, bytes_done
  uint64_t bytes_done = 0;
  auto last_report = Clock::now() - std::chrono::seconds(1);
  const auto worker = [&] {
    while (!failed) {
      const size_t index = next++;
      if (index >= pieces.size()) return;
      try {
        pieces[index].run();
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!first) first = std::current_exception();
        failed = true;
        return;
      }
      std::lock_guard lock(mutex);
      bytes_done += pieces[index].bytes;
      if (options.progress && Clock::now() - last_report >= std::chrono::milliseconds(200)) {
        last_report = Clock::now();
        options.progress({bytes_done, bytes_total, SecondsSince(start)});
      }
    }
  };
  const size_t threads =
      std::min<size_t>(pieces.size(), static_cast<size_t>(std::max(1, options.parallelism)));
  std::vector<std::thread> pool;
  for (size_t i = 0; i + 1 < threads; ++i) pool.emplace_back(worker);
  if (threads > 0) worker();
  for (auto& thread : pool) thread.join();
  if (first) std::rethrow_exception(first);
  summary->requests += pieces.size();
  summary->bytes += bytes_done;
  if (options.progress) options.progress({bytes_done, bytes_total, SecondsSince(start)});
}

// An open file descriptor, closed when dropped.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string ReadRange(const fs::path& path, uint64_t offset, uint64_t length) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw IoError(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  std::string data(length, '\0');
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd.get(), data.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw IoError(fmt::format("cannot read {} (bytes {}-{}): {}", path.string(), offset,
                                offset + length, n < 0 ? std::strerror(errno) : "file shrank"));
    }
    done += static_cast<uint64_t>(n);
  }
  return data;
}

void WriteRange(int fd, const fs::path& path, uint64_t offset, const std::string& data) {
  uint64_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw IoError(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    done += static_cast<uint64_t>(n);
  }
}

// A relative path made of a key's segments; IoError for one that would
// leave the destination ("..", absolute).
fs::path SafeRelative(const std::string& bucket, const std::string& key,
                      const std::string& relative) {
  fs::path path(relative);
  for (const auto& segment : path) {
    if (segment == ".." || segment == "." || path.is_absolute()) {
      throw IoError(fmt::format(
          "s3://{}/{}: the key has a '..' or '.' segment; it cannot be copied to a directory",
          bucket, key));
    }
  }
  return path;
}

}  // namespace

std::vector<PartPlan> PlanParts(uint64_t size, uint64_t part_size) {
  part_size = std::max(part_size, kMinPartSize);
  while ((size + part_size - 1) / part_size > static_cast<uint64_t>(kMaxParts)) part_size *= 2;
  std::vector<PartPlan> parts;
  for (uint64_t offset = 0; offset < size || parts.empty(); offset += part_size) {
    parts.push_back(
        {static_cast<int>(parts.size()) + 1, offset, std::min(part_size, size - offset)});
    if (size == 0) break;
  }
  return parts;
}

std::vector<UploadItem> ListUploadItems(const fs::path& directory, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    throw IoError(fmt::format("storage source {} is not a directory", directory.string()));
  }
  // rsync decides what the ignore files leave out exactly as the workdir
  // sync does; a dry run into an empty directory names every file it would copy.
  const fs::path empty = fs::temp_directory_path() /
                         fmt::format("skycore-list-{}-{}", ::getpid(),
                                     std::hash<std::thread::id>()(std::this_thread::get_id()));
  fs::create_directories(empty, ec);
  std::vector<std::string> args = {"rsync", "-a", "--dry-run", "--out-format=%n"};
  args.push_back(fs::exists(directory / ".skyignore", ec) ? "--filter=dir-merge,- .skyignore"
                                                          : "--filter=dir-merge,- .gitignore");
  args.push_back(directory.string() + "/");
  args.push_back(empty.string() + "/");
  const auto result = subprocess::Run(args, 600, size_t{64} << 20);
  fs::remove_all(empty, ec);
  if (!result.started) {
    throw CommandError("rsync is not installed; it lists a storage source (apt-get install rsync)");
  }
  if (result.exit_code != 0) {
    throw IoError(fmt::format("listing storage source {} failed: {}", directory.string(),
                              result.output.substr(0, 2000)));
  }
  std::vector<UploadItem> items;
  size_t start = 0;
  const std::string& output = result.output;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line.back() == '/' || line == "./") continue;
    const fs::path path = directory / line;
    if (fs::is_symlink(path, ec) && !fs::exists(path, ec)) {
      throw IoError(fmt::format("storage source: {} is a broken symlink", path.string()));
    }
    if (!fs::is_regular_file(path, ec)) continue;
    if (::access(path.c_str(), R_OK) != 0) {
      throw IoError(fmt::format("storage source: cannot read {}", path.string()));
    }
    std::string key = prefix.empty() || prefix.back() == '/' ? prefix : fmt::format("{}/", prefix);
    key += line;
    items.push_back({path, std::move(key), static_cast<uint64_t>(fs::file_size(path, ec))});
  }
  return items;
}

TransferSummary Upload(const S3Client& client, const std::string& bucket,
                       const std::vector<UploadItem>& items, const TransferOptions& options) {
  const auto start = Clock::now();
  TransferSummary summary;
  struct Multipart {
    const UploadItem* item;
    std::string upload_id;
    std::vector<PartPlan> parts;
    std::vector<std::string> md5s;
    bool completed = false;
  };
  std::vector<std::unique_ptr<Multipart>> multiparts;
  const auto abort_open = [&] {
    for (const auto& upload : multiparts) {
      if (upload->completed) continue;
      try {
        client.AbortMultipartUpload(bucket, upload->item->key, upload->upload_id);
      } catch (const Error&) {
        // The transfer's own failure is the one to report.
      }
    }
  };
  std::vector<Piece> pieces;
  uint64_t total = 0;
  try {
    for (const auto& item : items) {
      total += item.size;
      if (item.size <= options.multipart_threshold) {
        pieces.push_back({[&client, &bucket, &item] {
                            client.Put(bucket, item.key, ReadRange(item.path, 0, item.size));
                          },
                          item.size});
        continue;
      }
      auto upload = std::make_unique<Multipart>();
      upload->item = &item;
      upload->parts = PlanParts(item.size, options.part_size);
      upload->md5s.resize(upload->parts.size());
      upload->upload_id = client.CreateMultipartUpload(bucket, item.key);
      Multipart* raw = upload.get();
      multiparts.push_back(std::move(upload));
      for (size_t i = 0; i < raw->parts.size(); ++i) {
        const PartPlan part = raw->parts[i];
        pieces.push_back({[&client, &bucket, raw, part, i] {
                            raw->md5s[i] = client.UploadPart(
                                bucket, raw->item->key, raw->upload_id, part.number,
                                ReadRange(raw->item->path, part.offset, part.length));
                          },
                          part.length});
      }
    }
    RunPieces(pieces, options, total, &summary);
    for (const auto& upload : multiparts) {
      client.CompleteMultipartUpload(bucket, upload->item->key, upload->upload_id, upload->md5s);
      upload->completed = true;
    }
  } catch (...) {
    abort_open();
    throw;
  }
  summary.files = items.size();
  summary.seconds = SecondsSince(start);
  return summary;
}

TransferSummary Download(const S3Client& client, const std::string& bucket,
                         const std::string& prefix, const fs::path& destination,
                         const TransferOptions& options) {
  const auto start = Clock::now();
  TransferSummary summary;
  struct Target {
    ObjectInfo object;
    fs::path path;
    std::shared_ptr<Fd> fd;
    std::vector<std::string> md5s;
  };
  std::vector<Target> targets;
  const std::vector<ObjectInfo> objects = client.List(bucket, prefix);
  std::error_code ec;
  const bool single = !prefix.empty() && prefix.back() != '/' && objects.size() >= 1 &&
                      objects.front().key == prefix &&
                      (objects.size() == 1 || objects[1].key.rfind(prefix + "/", 0) != 0);
  if (single) {
    targets.push_back({objects.front(), destination, nullptr, {}});
  } else {
    const std::string base =
        prefix.empty() || prefix.back() == '/' ? prefix : fmt::format("{}/", prefix);
    for (const auto& object : objects) {
      if (object.key.rfind(base, 0) != 0 || object.key.back() == '/') continue;
      const fs::path relative = SafeRelative(bucket, object.key, object.key.substr(base.size()));
      targets.push_back({object, destination / relative, nullptr, {}});
    }
    fs::create_directories(destination, ec);
  }
  uint64_t total = 0;
  std::vector<Piece> pieces;
  for (auto& target : targets) {
    total += target.object.size;
    fs::create_directories(target.path.parent_path(), ec);
    target.fd = std::make_shared<Fd>(
        ::open(target.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (target.fd->get() < 0) {
      throw IoError(fmt::format("cannot write {}: {}", target.path.string(), std::strerror(errno)));
    }
    if (::ftruncate(target.fd->get(), static_cast<off_t>(target.object.size)) != 0) {
      throw IoError(fmt::format("cannot make {} {} bytes long: {}", target.path.string(),
                                target.object.size, std::strerror(errno)));
    }
    Target* raw = &target;
    if (target.object.size <= options.multipart_threshold) {
      pieces.push_back({[&client, &bucket, raw] {
                          const std::string body = client.Get(bucket, raw->object.key);
                          if (body.size() != raw->object.size) {
                            throw S3Error(
                                fmt::format("S3 GetObject of s3://{}/{}: {} bytes "
                                            "came, the listing says {}",
                                            bucket, raw->object.key, body.size(), raw->object.size),
                                "IncompleteBody", 200);
                          }
                          raw->md5s = {Md5Hex(body)};
                          WriteRange(raw->fd->get(), raw->path, 0, body);
                        },
                        target.object.size});
      continue;
    }
    const auto parts = PlanParts(target.object.size, options.part_size);
    target.md5s.resize(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      const PartPlan part = parts[i];
      pieces.push_back({[&client, &bucket, raw, part, i] {
                          const std::string body =
                              client.GetRange(bucket, raw->object.key, part.offset, part.length);
                          raw->md5s[i] = Md5Hex(body);
                          WriteRange(raw->fd->get(), raw->path, part.offset, body);
                        },
                        part.length});
    }
  }
  RunPieces(pieces, options, total, &summary);
  for (auto& target : targets) {
    const std::string& etag = target.object.etag;
    const bool plain = etag.size() == 32 && etag.find('-') == std::string::npos;
    std::string computed;
    if (plain && target.md5s.size() == 1) {
      computed = target.md5s.front();
    } else if (!plain && etag.ends_with(fmt::format("-{}", target.md5s.size())) &&
               target.md5s.size() > 1) {
      computed = MultipartEtag(target.md5s);
    }
    if (!computed.empty() && computed != etag) {
      throw S3Error(fmt::format("s3://{}/{}: the downloaded bytes do not match the ETag {} "
                                "(computed {}); {} is incomplete",
                                bucket, target.object.key, etag, computed, target.path.string()),
                    "BadDigest", 200);
    }
    target.fd.reset();
  }
  summary.files = targets.size();
  summary.seconds = SecondsSince(start);
  return summary;
}

std::string FormatProgress(const TransferProgress& progress) {
  const auto mib = [](double bytes) { return bytes / (1024.0 * 1024.0); };
  std::string eta;
  if (progress.rate() > 0 && progress.bytes_done < progress.bytes_total) {
    eta = fmt::format(
        "  ETA {:.0f} s",
        static_cast<double>(progress.bytes_total - progress.bytes_done) / progress.rate());
  }
  return fmt::format("{:.1f} MiB / {:.1f} MiB  {:.1f} MiB/s{}",
                     mib(static_cast<double>(progress.bytes_done)),
                     mib(static_cast<double>(progress.bytes_total)), mib(progress.rate()), eta);
}

}  // namespace skycore::storage
