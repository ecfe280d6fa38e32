// A private temporary directory for one test, removed with everything in it
// when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace skycore::testing {

class TempDir {
 public:
  // `/tmp/skycore_<prefix>_XXXXXX`, made with mkdtemp (unique, mode 700).
  explicit TempDir(const std::string& prefix = "test") {
    std::string pattern = "/tmp/skycore_" + prefix + "_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace skycore::testing
