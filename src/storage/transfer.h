// Moving many files and large objects between this machine and S3 at once.
//
// A transfer is a set of pieces (a small file, one part of a large one) run
// by a bounded pool of threads sharing one S3Client (and so its kept-alive
// connections). Files above the multipart threshold go up as multipart
// uploads and come down as ranged GETs, their parts in parallel with each
// other and with other files. A failed request is retried alone (the
// client's bounded retries); a piece that still fails stops the transfer:
// the pieces not started are dropped, and every multipart upload this
// transfer opened is aborted, so S3 keeps no orphan parts.
//
// Checksums: every uploaded body carries Content-MD5 and its ETag is
// compared with its MD5; a completed multipart upload's ETag with the MD5 of
// the parts' MD5s. A download is compared with the object's ETag when the
// ETag is a plain MD5, or a multipart ETag whose part count matches this
// engine's part size (the common case: we uploaded it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "storage/s3.h"

namespace skycore::storage {

// One part of a large object: bytes [offset, offset + length), numbered from 1.
struct PartPlan {
  int number = 1;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// S3's multipart limits: at most 10,000 parts, each at least 5 MiB (but the last).
inline constexpr uint64_t kMinPartSize = 5ull << 20;
inline constexpr int kMaxParts = 10000;

// The parts of an object of `size` bytes: `part_size` each (at least 5 MiB,
// doubled until there are at most 10,000), the last one shorter.
std::vector<PartPlan> PlanParts(uint64_t size, uint64_t part_size);

// How far a transfer is.
struct TransferProgress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(bytes_done) / seconds : 0; }
};

struct TransferOptions {
  int parallelism = 16;                       // requests in flight
  uint64_t part_size = 8ull << 20;            // multipart part / ranged GET size
  uint64_t multipart_threshold = 8ull << 20;  // larger files go in parts
  // Called from the transfer's threads, one at a time, at most every 0.2 s
  // and once at the end.
  std::function<void(const TransferProgress&)> progress;
};

struct TransferSummary {
  size_t files = 0;
  uint64_t bytes = 0;
  size_t requests = 0;  // pieces sent (parts count one each)
  double seconds = 0;
};

// A local file and the key it is stored under.
struct UploadItem {
  std::filesystem::path path;
  std::string key;
  uint64_t size = 0;
};

// The files of `directory` to upload, as `sky launch` uploads a storage
// source: a `.skyignore` at its top, else its `.gitignore` files, say what
// to leave out (rsync's filter rules, as the workdir sync). Keys are the
// paths relative to `directory`, under `prefix`. IoError naming the path for
// a directory that does not exist or a file that cannot be read.
std::vector<UploadItem> ListUploadItems(const std::filesystem::path& directory,
                                        const std::string& prefix);

// Uploads `items` to `bucket`.
TransferSummary Upload(const S3Client& client, const std::string& bucket,
                       const std::vector<UploadItem>& items, const TransferOptions& options);

// Downloads every object under `prefix` of `bucket` into `destination`
// (keys relative to the prefix; "directory/" markers are skipped). When the
// prefix is itself an object's key, that object is written to `destination`
// as a file. Returns what was transferred.
TransferSummary Download(const S3Client& client, const std::string& bucket,
                         const std::string& prefix, const std::filesystem::path& destination,
                         const TransferOptions& options);

// A progress line for a terminal: "12.0 MiB / 40.0 MiB  35.2 MiB/s  ETA 1 s".
std::string FormatProgress(const TransferProgress& progress);

}  // namespace skycore::storage
