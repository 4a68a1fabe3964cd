// The bank.payments module: one group, "payments", running the payments service (payments.hpp)
// with the HTTP client it confirms payments through. Its system file entry needs the accounts
// group (the jobs deposit through it), a job store ([jobs] database), the queue "payments" whose
// method is payments.Settle, and the provider's address:
//
//   [groups.payments.config]
//   provider_url = "https://provider.example.com/v1"
#include "payments.hpp"

#include <microlith/net/http/http_client.hpp>
#include <microlith/services/module.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <variant>

namespace bank {

/// The payments group's name: its key in the system file.
inline constexpr const char* payments_group = "payments";

} // namespace bank

MICROLITH_MODULE(bank_payments) {
  return microlith::module_definition{"bank.payments"}.group(
    bank::payments_group, [](microlith::group_context& g) {
      const auto* key = "groups.payments.config.provider_url";
      auto value = g.setting("provider_url");
      if (!value)
        throw std::invalid_argument(std::string{key}
                                    + ": missing; expected the payment provider's base URL, such "
                                      "as \"https://provider.example.com/v1\"");
      const auto* url = std::get_if<std::string>(&*value);
      if (url == nullptr)
        throw std::invalid_argument(std::string{key}
                                    + ": expected a string, the payment provider's base URL");
      if (auto problem = bank::provider_url_problem(*url); !problem.empty())
        throw std::invalid_argument(std::string{key} + ": " + problem);
      // One client per start of the group, held by the service's definition and by each of its
      // instances (so it outlives them), destroyed with the last of them: by the group's
      // supervisor or an instance's actor, never on the client's own I/O thread.
      auto client = std::make_shared<microlith::http::http_client>();
      return microlith::children{g.service(bank::make_payments(std::move(client), *url))};
    });
}
