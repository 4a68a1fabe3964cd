// The CAF actor behind every service and worker. It dispatches incoming envelopes to the
// service's handler table, and tracks the calls it makes in a pending_calls table: one monitor
// per distinct callee (a callee's death fails its pending calls with service_down at once), and
// a single deadline timer re-armed only when an earlier deadline appears — instead of one CAF
// clock entry per request.
#pragma once

#include "microlith/actors/envelope.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/actors/trace.hpp"

#include "detail/call_metrics_table.hpp"
#include "detail/node_core.hpp"
#include "detail/pending_calls.hpp"

#include <caf/event_based_actor.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace microlith::detail {

/// How a call being served is counted when it is answered (call_metrics.hpp).
struct served_call {
  method_cell* cell = nullptr; // null: not counted (a cast, metrics off)
  clock::time_point start{};   // when the instance took the request
  // A traced call's span so far (trace.hpp): completed and logged when it is answered; null
  // for an untraced one.
  std::shared_ptr<span_record> trace;
};

/// Where and how to answer one deferred call.
struct reply_slot {
  endpoint_actor* owner = nullptr;
  caf::strong_actor_ptr reply_to;
  std::uint64_t call_id = 0;
  std::string method;
  served_call served;
  bool answered = false;
  ~reply_slot();
};

/// A start waiting for its state to finish building.
struct start_slot {
  endpoint_actor* owner = nullptr;
  bool done = false;
  ~start_slot();
};

class endpoint_actor final : public caf::event_based_actor {
public:
  endpoint_actor(caf::actor_config& cfg, node_core* core, service_definition def,
                 caf::actor ready_to);

  ~endpoint_actor() override;

  caf::behavior make_behavior() override;

  const char* name() const override;

  void on_exit() override;

  // -- calls out ----------------------------------------------------------------------------

  std::uint64_t send_call(const metadata& parent, std::string service, std::string method,
                          message_ptr body, std::chrono::milliseconds timeout);

  void set_continuation(std::uint64_t id, reply_handler handler);

  /// An operation outside the actor system answering later (outside_calls.hpp).
  std::uint64_t expect_outside(std::string what, std::string target, clock::time_point deadline);

  void send_cast(const metadata& parent, std::string service, std::string method, message_ptr body);

  // -- topics -------------------------------------------------------------------------------

  std::size_t publish(const metadata& parent, const std::string& topic, message_ptr body);

  void subscribe(std::string topic, topic_handler handler);

  void unsubscribe(const std::string& topic);

  // -- answers ------------------------------------------------------------------------------

  std::shared_ptr<reply_slot> make_slot();

  /// Answers a call (counting it in `served`'s cell when it has one).
  void answer(const caf::strong_actor_ptr& to, std::uint64_t call_id, const std::string& method,
              message_ptr value, caf::error err, const served_call& served = {});

  void forget(reply_slot* slot) { slots_.erase(slot); }

  /// True while the handler of call `call_id` runs (a slot dropped then is answered after it).
  bool handling(std::uint64_t call_id) const noexcept {
    return current_.method != nullptr && current_.call_id == call_id;
  }

  void note_dropped_in_handler() noexcept { dropped_in_handler_ = true; }

  /// Set while a continuation that failed is dropped: what a promise dropped then answers.
  const caf::error& abandoned_with() const noexcept { return abandoned_with_; }

  // -- deferred start -----------------------------------------------------------------------

  std::shared_ptr<start_slot> defer_start();

  void finish_start(caf::error err);

  const std::string& service_name() const noexcept { return def_.name; }

  node_core* core() const noexcept { return core_; }

private:
  /// The request being handled, while its handler runs (for make_promise).
  struct current_request {
    caf::strong_actor_ptr reply_to;
    std::uint64_t call_id = 0;
    const std::string* method = nullptr;
    served_call served;
  };

  void start();
  void complete_start();
  // -- handover (handover.hpp) --
  caf::response_promise retire(caf::actor successor);
  void check_retired();
  caf::result<bool> import_state(const std::string& type, const std::string& bytes);
  void commit();
  void abandon(caf::actor predecessor);
  void resume();
  void pass_on(envelope& env, caf::strong_actor_ptr sender);
  caf::response_promise drain();
  void check_drained();
  void after_message();
  std::uint64_t send_call_to(caf::actor dest, caf::error refused, const metadata& parent,
                             clock::time_point now, clock::time_point deadline, std::string service,
                             std::string method, message_ptr body);
  std::size_t unanswered_promises() const;
  void on_request(envelope& env, caf::strong_actor_ptr sender);
  void on_reply(envelope& env);
  void on_published(envelope& env);
  void on_tick(clock::time_point at);
  void on_down(caf::down_msg& msg);
  void arm_timer(clock::time_point at);
  void fail_soon(std::uint64_t id, caf::error err);
  void complete(std::vector<pending_calls<reply_handler>::ended>& ended);
  void run_continuation(reply_handler& done, const message_ptr& body, const caf::error& err);
  metadata child_metadata(const metadata& parent, clock::time_point deadline) const;
  toggle_snapshot_ptr entry_toggles(const metadata& meta) const;
  method_cell* unknown_method_cell(const std::string& method);
  void release_cells();

  node_core* core_;
  service_definition def_;
  caf::actor ready_to_;
  std::unordered_map<std::string, const handler_entry*> by_method_;
  // Call metrics: the cell of each handler (by its index in def_.handlers), empty when the node
  // counts nothing; the cells of methods asked for that the service does not have (bounded).
  std::vector<method_cell*> cells_;
  std::unordered_map<std::string, method_cell*> unknown_cells_;
  std::shared_ptr<void> state_;
  registry_view view_;
  pending_calls<reply_handler> pending_; // the calls this actor made, in flight
  std::unordered_set<reply_slot*> slots_;
  current_request current_;
  bool registered_ = false;
  bool dropped_in_handler_ = false;      // the running handler's promise went away unanswered
  caf::error abandoned_with_;            // see abandoned_with()
  bool building_ = false;                // the state's constructor is running
  start_slot* deferred_start_ = nullptr; // set while a deferred start is pending
  std::vector<std::pair<envelope, caf::strong_actor_ptr>> early_; // requests held: before the
                                                                  // start, or awaiting a state
  // A replace of the service's module version (handover.hpp):
  bool awaiting_state_ = false; // a new instance holding requests until commit or abandon
  caf::actor pass_to_;          // retired (its successor) or abandoned (its predecessor): requests
                                // go there; null while it serves them itself
  caf::response_promise retired_;              // answers that retire with the saved state
  std::size_t passed_on_ = 0;                  // calls passed on and not answered yet (in pending_)
  std::vector<caf::response_promise> drained_; // answered once nothing is outstanding
  std::unordered_map<std::string, topic_handler> topics_; // this actor's subscriptions
};

} // namespace microlith::detail
