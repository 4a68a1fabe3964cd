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

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/monitorable_actor.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace microlith::detail {

struct node_core;

/// A port's calls in flight. Slots are reused through a free list, so that once the table has
/// grown to the most calls in flight at once, making a call allocates nothing for it here. A
/// call's id names its slot and the slot's generation: an id never matches a later call.
class pending_table {
public:
  struct entry {
    std::uint64_t order = 0; ///< counts the calls made: sorts entries in the order of their calls
    const caf::actor_control_block* callee = nullptr;
    clock::time_point deadline;
    std::string service;
    std::string method;
    async_completion done;
  };

  /// Stores `e`; answers the call's id.
  std::uint64_t insert(entry&& e);

  /// The entry of call `id`, or null.
  entry* find(std::uint64_t id) noexcept;

  /// Frees the slot of call `id` (found before).
  void erase(std::uint64_t id);

  /// Moves out (and frees) every entry for which `pred(entry)` holds, in the order of their calls.
  template <class Pred>
  std::vector<entry> take_if(Pred pred) {
    std::vector<entry> out;
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].used && pred(slots_[i].e)) {
        out.push_back(std::move(slots_[i].e));
        release(i);
      }
    std::sort(out.begin(), out.end(),
              [](const entry& x, const entry& y) { return x.order < y.order; });
    return out;
  }

  /// Calls `f(entry)` for every entry.
  template <class F>
  void for_each(F f) const {
    for (const auto& slot : slots_)
      if (slot.used)
        f(slot.e);
  }

  std::size_t size() const noexcept { return size_; }

private:
  struct slot {
    entry e;
    std::uint32_t generation = 1; // no call's id is 0
    bool used = false;
  };

  void release(std::size_t index);

  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;
  std::size_t size_ = 0;
};

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
  void call(std::string service, std::string method, message_ptr body,
            async_call_options options, async_completion done);

  /// Fails every pending call with service_unavailable, refuses later ones, drops the monitors
  /// and the registry snapshot, and terminates the actor (so that nothing keeps it registered).
  /// Returns once no completion runs any more (other than one running on the calling thread).
  void close();

  std::size_t in_flight() const;
  /// The deadline tick armed for `at`, on a scheduler thread (called by the ticker). A tick
  /// for another time than the one armed now is stale and does nothing.
  void on_tick(clock::time_point at);

  const std::string& caller() const noexcept {
    return caller_;
  }

private:
  using pending_call = pending_table::entry;

  void on_reply(envelope& env);
  void on_down(const caf::down_msg& msg);
  void schedule_tick(clock::time_point at);
  static void finish(async_completion& done, caf::expected<message_ptr> result);

  node_core* core_;
  const std::string caller_;
  caf::actor ticker_; // set by make() before the port is used; stopped by close()

  mutable std::mutex calls_mutex_;
  bool closed_ = false;                                      // requires calls_mutex_
  registry_view view_;                                       // requires calls_mutex_
  std::uint64_t calls_made_ = 0;                             // requires calls_mutex_
  pending_table pending_;                                    // requires calls_mutex_
  // One monitor per callee, kept until it goes down or the port closes.
  std::unordered_map<const caf::actor_control_block*, caf::actor_addr> monitored_; // ditto
  // The time of the earliest tick scheduled and not yet handled (max: none).
  clock::time_point armed_until_ = clock::time_point::max(); // requires calls_mutex_
  // Completions taken out of the table and not yet run and destroyed, calls being sent and
  // ticks being handled: close() waits for them.
  std::atomic<int> running_{0};
};

} // namespace microlith::detail
