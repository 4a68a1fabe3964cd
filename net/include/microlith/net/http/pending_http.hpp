// An HTTP request in flight from an actor: what `http_client::request(ctx, ...)` returns, and
// where the caller says what happens with the response, as with a call's `pending_call`.
#pragma once

#include "microlith/net/http/http_message.hpp"

#include "microlith/actors/detail/endpoint_calls.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <memory>
#include <utility>

namespace microlith::http {

namespace detail {

/// Where the I/O thread leaves the response before it tells the actor (the message that tells
/// it orders the write before the continuation's read).
struct response_box {
  http_response response;
};

} // namespace detail

/// An HTTP request in flight from an actor; `then` says what happens when it completes.
class [[nodiscard]] pending_http {
public:
  pending_http(microlith::detail::endpoint_actor* self, std::uint64_t id,
               std::shared_ptr<detail::response_box> box)
    : self_(self), id_(id), box_(std::move(box)) {}

  /// Runs `on_response(http_response)` (any status) or `on_error(const caf::error&)` in the
  /// calling actor, later, exactly once. Without `then`, the outcome is dropped.
  template <class OnResponse, class OnError>
  void then(OnResponse on_response, OnError on_error) && {
    microlith::detail::set_continuation(
      self_, id_,
      [box = box_, on_response = std::move(on_response),
       on_error = std::move(on_error)](const message_ptr&, const caf::error& err) mutable {
        if (err)
          on_error(err);
        else
          on_response(std::move(box->response));
      });
  }

private:
  microlith::detail::endpoint_actor* self_;
  std::uint64_t id_;
  std::shared_ptr<detail::response_box> box_;
};

} // namespace microlith::http
