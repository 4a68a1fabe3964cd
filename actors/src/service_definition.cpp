#include "microlith/actors/service_definition.hpp"

#include "microlith/actors/error.hpp"

#include <google/protobuf/descriptor.h>

#include <fmt/format.h>

namespace microlith {

caf::error service_definition::validate() const {
  namespace pb = google::protobuf;
  if (name.empty())
    return make_error(errc::bad_request, "a service or worker needs a name");
  if (!make_state)
    return make_error(errc::bad_request, fmt::format("{}: no state factory", name));
  if (contract.empty()) {
    if (!handlers.empty())
      return make_error(
        errc::bad_request,
        fmt::format("{}: handlers need a contract (a Protobuf service name)", name));
    return {};
  }
  const auto* svc = pb::DescriptorPool::generated_pool()->FindServiceByName(contract);
  if (svc == nullptr)
    return make_error(errc::bad_request,
                      fmt::format("service {}: contract {} is not a Protobuf service linked into "
                                  "this program (is its generated code linked in?)",
                                  name, contract));
  for (std::size_t i = 0; i < handlers.size(); ++i) {
    const auto& h = handlers[i];
    for (std::size_t j = 0; j < i; ++j)
      if (handlers[j].method == h.method)
        return make_error(errc::bad_request,
                          fmt::format("service {}: method {} has two handlers", name, h.method));
    const auto* m = svc->FindMethodByName(h.method);
    if (m == nullptr) {
      std::string known;
      for (int k = 0; k < svc->method_count(); ++k)
        known += (k ? ", " : "") + svc->method(k)->name();
      return make_error(errc::no_such_method,
                        fmt::format("service {}: contract {} declares no method {} (it declares: "
                                    "{})",
                                    name, contract, h.method, known));
    }
    if (m->input_type() != h.request_type || m->output_type() != h.response_type)
      return make_error(errc::bad_request,
                        fmt::format("service {}: method {} is declared in {} as ({}) -> {}, but "
                                    "its handler takes ({}) -> {}",
                                    name, h.method, contract, m->input_type()->full_name(),
                                    m->output_type()->full_name(), h.request_type->full_name(),
                                    h.response_type->full_name()));
  }
  return {};
}

} // namespace microlith
