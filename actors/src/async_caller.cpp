#include "microlith/actors/async_caller.hpp"

#include "microlith/actors/error.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

namespace microlith {

namespace detail {

completion_once::completion_once(async_completion done, std::string what)
  : done_(std::move(done)), what_(std::move(what)) {
}

completion_once::~completion_once() {
  if (done_)
    done_(make_error(errc::service_unavailable,
                     fmt::format("{} was dropped: the actor making it stopped", what_)));
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
  auto what = fmt::format("the call to {}.{}", service, method);
  auto once = std::make_shared<detail::completion_once>(std::move(done), std::move(what));
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
