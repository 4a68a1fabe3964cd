#include "microlith/actors/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace microlith {

caf::atom_value error_category() noexcept {
  return caf::atom("microlith");
}

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::service_unavailable: return "service_unavailable";
    case errc::timeout: return "timeout";
    case errc::service_down: return "service_down";
    case errc::bad_request: return "bad_request";
    case errc::no_such_method: return "no_such_method";
    case errc::remote_error: return "remote_error";
    case errc::invalid_argument: return "invalid_argument";
    case errc::failed_precondition: return "failed_precondition";
    case errc::out_of_range: return "out_of_range";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::aborted: return "aborted";
    case errc::permission_denied: return "permission_denied";
    case errc::unauthenticated: return "unauthenticated";
    case errc::resource_exhausted: return "resource_exhausted";
    case errc::unimplemented: return "unimplemented";
    case errc::internal: return "internal";
    case errc::data_loss: return "data_loss";
    case errc::idempotency_key_reused: return "idempotency_key_reused";
  }
  return "unknown";
}

std::string_view kind_name(const caf::error& err) noexcept {
  auto code = code_of(err);
  if (code == errc::none || code > errc_last)
    return "internal";
  return to_string(code);
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<std::uint8_t>(code), error_category(),
                    caf::make_message(std::move(message))};
}

errc code_of(const caf::error& err) noexcept {
  if (!err || err.category() != error_category())
    return errc::none;
  return static_cast<errc>(err.code());
}

bool is(const caf::error& err, errc code) noexcept {
  return code_of(err) == code && code != errc::none;
}

std::string message_of(const caf::error& err) {
  if (!err || err.category() != error_category())
    return {};
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

namespace {

std::string render(std::uint8_t code, const caf::message& ctx) {
  std::string out{to_string(static_cast<errc>(code))};
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    const auto& msg = ctx.get_as<std::string>(0);
    if (!msg.empty()) {
      out += ": ";
      out += msg;
    }
  }
  return out;
}

} // namespace

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category())
    return render(err.code(), err.context());
  if (err.category() == caf::atom("system")) {
    auto out = "caf: " + caf::to_string(static_cast<caf::sec>(err.code()));
    const auto& ctx = err.context();
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      out += ": " + ctx.get_as<std::string>(0);
    return out;
  }
  return caf::to_string(err);
}

caf::error fail(errc code, std::string message) {
  return make_error(code, std::move(message));
}

caf::error fail(std::string message) {
  return make_error(errc::remote_error, std::move(message));
}

bool is_client_kind(errc code) noexcept {
  return code >= errc::invalid_argument && code <= errc_last;
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(
    error_category(),
    [](std::uint8_t code, caf::atom_value, const caf::message& ctx) { return render(code, ctx); });
}

} // namespace microlith
