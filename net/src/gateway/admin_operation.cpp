#include "microlith/net/gateway/admin_operation.hpp"

#include "microlith/net/gateway/http_binding.hpp"

namespace microlith::gateway {

caf::expected<std::optional<std::string>> query_value(std::string_view query,
                                                      std::string_view name) {
  auto params = parse_query(query);
  if (!params)
    return std::move(params.error());
  for (auto& p : *params)
    if (p.name == name)
      return std::optional<std::string>{std::move(p.value)};
  return std::optional<std::string>{};
}

bool under_admin_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0)
    return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

} // namespace microlith::gateway
