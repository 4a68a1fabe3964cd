// A fresh folder under the system's temp folder for one test, removed with everything in it at
// the end: where tests put the SQLite files, logs and system files they write.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace test_support {

class temp_folder {
public:
  /// Makes `<temp>/microlith-<prefix>-XXXXXX`; throws when it cannot.
  explicit temp_folder(const std::string& prefix = "test") {
    auto base = std::filesystem::temp_directory_path() / ("microlith-" + prefix + "-XXXXXX");
    std::string pattern = base.string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot create a temp folder from " + base.string());
    path_ = pattern;
  }

  ~temp_folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace test_support
