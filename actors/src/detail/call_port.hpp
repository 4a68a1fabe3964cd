// The actor behind an async_caller: not scheduled, no mailbox. enqueue() handles each message
// on the thread that delivers it — a reply envelope (from the callee's thread), a down message
// of a monitored callee (from the dying actor's thread) — under one mutex, and runs completions
// after releasing it. The deadline tick goes to a small scheduled actor of the port (its
// ticker), which runs on_tick on a scheduler thread: never on CAF's clock thread, which must
// not schedule clock events itself (its queue is bounded and it is the queue's only reader)
// and must not run completions (every timer of the node waits behind it). Calls are made from any
// thread by call(), which sends the envelope with the port as its sender so that the callee
// answers the port directly.
//
// Why not caf::actor_companion: it is a scheduled_actor (behavior stack, mailbox, registration
// with the system that shutdown then waits for) built for relaying every message to one
// callback; the port needs none of that, only an address, monitors and enqueue().
#pragma once

#include "microlith/actors/async_caller.hpp"
#include "microlith/actors/envelope.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/toggles.hpp"

#include "detail/pending_calls.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/monitorable_actor.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace microlith::detail {

struct node_core;

class call_port final : public caf::monitorable_actor {
public:
  call_port(caf::actor_config& cfg, node_core* core, std::string caller);

  ~call_port() override;

  /// A new port of `core`'s actor system; the handle closes it when its last copy goes.
  static std::shared_ptr<call_port> make(node_core& core, std::string caller);

  const char* name() const override;

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override;

  void on_destroy() override;

  /// Makes one call; see async_caller::call.
  void call(std::string service, std::string method, message_ptr body, async_call_options options,
            async_completion done, toggle_snapshot_ptr toggles);

  /// Fails every pending call with service_unavailable, refuses later ones, drops the monitors
  /// and the registry snapshot, and terminates the actor (so that nothing keeps it registered).
  /// Returns once no completion runs any more (other than one running on the calling thread).
  void close();

  std::size_t in_flight() const;
  /// The deadline tick armed for `at`, on a scheduler thread (called by the ticker). A tick
  /// for another time than the one armed now is stale and does nothing.
  void on_tick(clock::time_point at);

  const std::string& caller() const noexcept { return caller_; }

private:
  void on_reply(envelope& env);
  void on_down(const caf::down_msg& msg);
  void schedule_tick(clock::time_point at);
  static void finish(async_completion& done, caf::expected<message_ptr> result);
  static void finish(std::vector<pending_calls<async_completion>::ended>& ended);

  node_core* core_;
  const std::string caller_;
  caf::actor ticker_; // set by make() before the port is used; stopped by close()

  mutable std::mutex calls_mutex_;
  bool closed_ = false; // requires calls_mutex_
  registry_view view_;  // requires calls_mutex_
  // The calls in flight, the callees monitored, the tick armed.
  pending_calls<async_completion> pending_; // requires calls_mutex_
  // Completions taken out of the table and not yet run and destroyed, calls being sent and
  // ticks being handled: close() waits for them.
  std::atomic<int> running_{0};
};

} // namespace microlith::detail
