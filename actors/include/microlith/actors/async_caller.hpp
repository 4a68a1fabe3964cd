// Calls from threads that must never block — an HTTP server's I/O threads, say. An async_caller
// hands each call to a service or worker actor of the node (its "via" actor), which makes the
// call with its own pending table and deadline timer, exactly as a handler's call, and runs the
// completion when the answer, an error or the deadline comes:
//
//   microlith::async_caller caller{ctx.self()};   // e.g. a worker's own actor
//   caller.call("accounts", "Balance", body, {std::chrono::seconds(2), request_id},
//               [](caf::expected<microlith::message_ptr> reply) { /* post to your thread */ });
//
// The completion runs exactly once, on a scheduler thread (or, when the via actor is gone, on
// the thread that sends or drops the call): keep it short and hand the result to your own
// thread. A call the via actor never gets to make (it stopped) completes with
// service_unavailable.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace microlith {

/// What a call from a plain thread carries besides its body.
struct async_call_options {
  /// How long to wait for the answer; zero means the node's default.
  std::chrono::milliseconds timeout{0};
  /// The correlation id the call (and every call it causes) carries; none when empty.
  std::string correlation_id;
};

/// Receives the answer of an async call: the reply's body or an error.
using async_completion = std::function<void(caf::expected<message_ptr>)>;

namespace detail {

/// Runs a completion once; if it is destroyed uncalled, runs it with service_unavailable.
class completion_once {
public:
  explicit completion_once(async_completion done);
  ~completion_once();
  completion_once(const completion_once&) = delete;
  completion_once& operator=(const completion_once&) = delete;

  void operator()(caf::expected<message_ptr> result);

private:
  async_completion done_;
};

/// The message an async_caller sends to its via actor.
struct external_call {
  std::string service;
  std::string method;
  message_ptr body;
  async_call_options options;
  std::shared_ptr<completion_once> done;
};

} // namespace detail

/// Makes calls on behalf of plain threads through a service or worker actor. Cheap to copy;
/// safe to use from any thread.
class async_caller {
public:
  async_caller() = default;

  /// Calls through `via`, a microlith service or worker actor of this node.
  explicit async_caller(caf::actor via) : via_(std::move(via)) {}

  /// Calls `service.method` with `body`; `done` runs once with the answer.
  void call(std::string service, std::string method, message_ptr body,
            async_call_options options, async_completion done) const;

  /// The actor the calls go through.
  const caf::actor& via() const noexcept { return via_; }

  explicit operator bool() const noexcept { return static_cast<bool>(via_); }

private:
  caf::actor via_;
};

} // namespace microlith

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(microlith::detail::external_call)
