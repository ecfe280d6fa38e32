#include "infra/vm/check_record.h"

#include <fmt/format.h>

#include <chrono>

#include "common/files.h"
#include "skycore/error.h"

namespace skycore::vm {
namespace fs = std::filesystem;
namespace {

constexpr int kVersion = 1;

fs::path RecordPath(const fs::path& state_dir, const std::string& cloud) {
  return state_dir / cloud / "check.json";
}

}  // namespace

std::optional<int64_t> LastPassedCheck(const fs::path& state_dir, const std::string& cloud) {
  if (state_dir.empty()) return std::nullopt;
  const auto kept = files::ReadJsonFile(RecordPath(state_dir, cloud));
  if (!kept || !kept->is_object() || kept->value("version", 0) != kVersion ||
      !kept->value("enabled", false)) {
    return std::nullopt;
  }
  return kept->value("checked_at", int64_t{0});
}

std::string KeepCheck(const fs::path& state_dir, const std::string& cloud, bool enabled,
                      std::string reason, nlohmann::json fields) {
  if (state_dir.empty()) return reason;
  if (!fields.is_object()) fields = nlohmann::json::object();
  fields["version"] = kVersion;
  fields["checked_at"] = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  fields["enabled"] = enabled;
  fields["reason"] = reason;
  try {
    files::WriteAtomically(RecordPath(state_dir, cloud), fields.dump(2));
  } catch (const Error& e) {
    reason += fmt::format(" (the result could not be cached: {})", e.message());
  }
  return reason;
}

}  // namespace skycore::vm
