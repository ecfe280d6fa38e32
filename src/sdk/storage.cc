// skycore::Sky's storage commands: the buckets of task storage objects.
#include <fmt/format.h>

#include "common/strings.h"
#include "sdk/sky_impl.h"
#include "storage/file_mounts.h"

namespace skycore {

std::vector<StorageRecord> Sky::StorageLs() { return state().ListStorage(); }

void Sky::StorageDelete(const std::string& name, OutputSink& out) {
  std::optional<StorageRecord> found;
  std::vector<std::string> names;
  for (auto& record : state().ListStorage()) {
    names.push_back(record.name);
    if (record.name == name) found = std::move(record);
  }
  if (!found) {
    throw InvalidTaskError(fmt::format("Storage name '{}' not found.", name), {},
                           strings::CloseMatches(name, names));
  }
  out.Write(fmt::format("Deleting storage {} (s3://{})\n", name, name));
  storage::DeleteBucket(found->store, found->name, env::Process);
  state().RemoveStorage(name);
}

}  // namespace skycore
