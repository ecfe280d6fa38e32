#include "common/files.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

#include "skycore/error.h"

namespace skycore::files {
namespace fs = std::filesystem;

void WriteAtomically(const fs::path& path, std::string_view text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path temporary =
      path.parent_path() / fmt::format(".{}.{}.tmp", path.filename().string(), ::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out.flush()) {
      fs::remove(temporary, ec);
      throw IoError(fmt::format("cannot write {}", temporary.string()));
    }
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw IoError(fmt::format("cannot replace {}: {}", path.string(), ec.message()));
  }
}

std::optional<nlohmann::json> ReadJsonFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  auto parsed = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

}  // namespace skycore::files
