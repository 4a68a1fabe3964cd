// admin_token_for (host.hpp): the admin token from the environment or the system file.
#include "microlith/services/host.hpp"

#include <cstdlib>

namespace microlith {

std::string admin_token_for(const system_config& config) {
  if (const char* token = std::getenv(admin_token_variable); token != nullptr && *token != '\0')
    return token;
  return config.admin.token;
}

} // namespace microlith
