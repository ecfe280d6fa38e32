// A task's bucket file mounts at launch: `/data: s3://bucket/prefix` and
// storage objects (`/data: {name: b, source: ./dir, store: s3, mode: COPY}`).
//
// COPY is done on this machine: the objects are downloaded by the transfer
// engine into a staging directory, which then goes to every node with the
// ordinary file-mount sync (rsync, in parallel across nodes). Every infra
// (local, SSH, Slurm, Kubernetes, clouds) gets buckets that way without
// credentials or tools on its nodes; the cost is one extra local copy, and
// the data crosses this machine's link once per node (phase 2 runs the
// engine on the nodes for large datasets).
//
// MOUNT and MOUNT_CACHED (FUSE on the nodes), stores other than S3, and lists
// of local sources are refused with NotSupportedError naming the field.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/environment.h"
#include "skycore/task.h"

namespace skycore::storage {

// A bucket a task made or uploaded to, as `sky storage ls` lists it.
struct StorageUse {
  std::string name;    // the bucket
  std::string store;   // "S3"
  std::string source;  // the local source, or the bucket's URI
  bool persistent = true;
  bool created = false;  // this launch created the bucket
};

// Refuses what launch cannot do before anything is provisioned: MOUNT modes,
// other stores, malformed S3 URIs; NotSupportedError / InvalidTaskError
// naming `file_mounts.<destination>[.field]`.
void CheckFileMounts(const std::vector<FileMount>& mounts);

// The buckets of `s3://` sources must exist: S3Error / InvalidTaskError naming
// the bucket, the region and the field, so that launch fails before it
// provisions anything. Reaches S3 only when a mount has an `s3://` source.
void CheckSourceBuckets(const std::vector<FileMount>& mounts, const env::Lookup& env);

struct StageOptions {
  env::Lookup env = env::Process;  // AWS credentials, region, endpoint
  // Each bucket a storage object uses, once its source is uploaded.
  std::function<void(const StorageUse&)> on_storage;
  // Progress lines ("s3://b: 12.0 MiB / 40.0 MiB 35.2 MiB/s"); empty: none.
  std::function<void(const std::string&)> on_progress;
};

// The task's file mounts with every bucket mount replaced by a local copy of
// its objects; the copies are removed when this is destroyed (after the sync).
class StagedFileMounts {
 public:
  StagedFileMounts(const std::vector<FileMount>& mounts, const StageOptions& options);
  ~StagedFileMounts();
  StagedFileMounts(const StagedFileMounts&) = delete;
  StagedFileMounts& operator=(const StagedFileMounts&) = delete;

  const std::vector<FileMount>& mounts() const { return mounts_; }

 private:
  std::vector<FileMount> mounts_;
  std::filesystem::path stage_;  // empty: nothing staged
};

// Deletes a bucket and its objects (`sky storage delete`, `sky down` of a
// cluster whose storage is not persistent).
void DeleteBucket(const std::string& store, const std::string& name, const env::Lookup& env);

}  // namespace skycore::storage
