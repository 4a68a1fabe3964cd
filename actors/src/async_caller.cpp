#include "microlith/actors/async_caller.hpp"

#include "microlith/actors/error.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

namespace microlith {

namespace detail {

completion_once::completion_once(async_completion done) : done_(std::move(done)) {
}

completion_once::~completion_once() {
  if (done_)
    done_(make_error(errc::service_unavailable,
                     "the call was dropped: the actor making it stopped"));
}

void completion_once::operator()(caf::expected<message_ptr> result) {
  if (!done_)
    return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

} // namespace detail

void async_caller::call(std::string service, std::string method, message_ptr body,
                        async_call_options options, async_completion done) const {
  // Nothing is formatted here unless the call fails: this runs for every gateway request.
  auto once = std::make_shared<detail::completion_once>(std::move(done));
  if (!via_) {
    (*once)(make_error(errc::service_unavailable,
                       fmt::format("{}.{}: no actor to make the call through", service, method)));
    return;
  }
  caf::anon_send(via_, detail::external_call{std::move(service), std::move(method),
                                             std::move(body), std::move(options),
                                             std::move(once)});
}

} // namespace microlith
