#include "detail/data_folder.hpp"

#include <filesystem>

namespace microlith::detail {

std::string in_data_folder(std::string_view data_folder, std::string_view path) {
  std::filesystem::path where{path};
  if (where.is_relative())
    where = std::filesystem::path{data_folder} / where;
  return where.lexically_normal().string();
}

std::string default_data_folder(std::string_view system_file) {
  return std::filesystem::path{system_file}.parent_path().lexically_normal().string();
}

} // namespace microlith::detail
