// A node: one OS process's share of a microlith system. It owns the CAF actor system (configured
// from code only: no hidden config files, no CAF command-line parsing), the service registry,
// and the actors started through it. It also offers blocking `call`/`cast` helpers for plain
// threads (tests and main()); actors call through their call_context instead.
//
// Lifecycle: construct, start services (directly with `spawn`, or groups through the host in
// services/), call, then `shutdown()` (the destructor calls it): every actor started through the
// node is stopped, newest first, before the actor system goes away.
#pragma once

#include "microlith/actors/call_metrics.hpp"
#include "microlith/actors/envelope.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/actors/toggles.hpp"
#include "microlith/actors/trace.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace microlith {

class service_registry;
class topic_registry;

/// How a node is set up.
struct node_options {
  /// The node's name in logs (and, across nodes, its identity).
  std::string name = "local";
  /// Scheduler threads; 0 = one per hardware thread.
  int threads = 0;
  /// The timeout of calls that do not set one.
  std::chrono::milliseconds default_timeout{5000};
  /// How many times an idle scheduler thread polls for work before it starts sleeping (CAF's
  /// `work-stealing.aggressive-poll-attempts`, default 100 as in CAF). More polls answer faster
  /// after a lull (a lone service restarts sooner), but spinning threads steal work from busy
  /// ones and lower pipelined call throughput; docs/benchmarks.md has the measurements.
  std::size_t idle_spin_polls = 100;
  /// How many more times it then polls, napping 50 us between polls, before it blocks (CAF's
  /// `work-stealing.moderate-poll-attempts`; CAF's default is 500). A napping thread notices
  /// new work only at its next poll, up to a nap plus the kernel's timer slack later; a blocked
  /// thread is woken by whoever enqueues work for it. 0, the default, blocks at once, which
  /// answers a gateway's requests sooner; docs/benchmarks.md has the measurements.
  std::size_t idle_nap_polls = 0;
  /// How long a blocked idle thread waits before it looks for work to steal, unless woken
  /// earlier (CAF's `work-stealing.relaxed-sleep-duration`; CAF's default is 10 ms). An actor
  /// that schedules another puts it in its own thread's queue and wakes nobody: if that thread
  /// stays busy, an idle one takes the work at most this long after. 1 ms, the default, bounds
  /// such stalls; each blocked thread then wakes 1,000 times a second (docs/benchmarks.md has
  /// what an idle node costs).
  std::chrono::milliseconds idle_wait{1};
  /// Whether the node's services count their calls (call_metrics.hpp, node::call_metrics):
  /// calls, failures by kind and a duration histogram per service and method. Cheap enough to
  /// leave on (docs/benchmarks.md); false counts nothing and skips the clock reads.
  bool call_metrics = true;
  /// Extra settings and modules of the CAF actor system, applied after the node's own before
  /// the system starts. The cluster (net/) uses it to load CAF's middleman and set its
  /// heartbeats; the kernel itself knows nothing of the network.
  std::function<void(caf::actor_system_config&)> configure_system;
};

/// Options of a blocking call from a plain thread.
struct blocking_call_options {
  /// How long to wait; zero = the node's default.
  std::chrono::milliseconds timeout{0};
  /// The correlation id the call starts with; a fresh one is made when empty.
  std::string correlation_id;
  /// Who calls, as the callee sees it.
  std::string caller = "client";
  /// The idempotency key the call (and every call it causes) carries; none when empty.
  std::string idempotency_key;
  /// The toggle values the call (and every call it causes) sees; null = the node's snapshot
  /// when the call is made.
  toggle_snapshot_ptr toggles;
  /// Per-call toggle overrides (toggles.hpp) for the call and every call it causes, on every
  /// node: `{{"bank.transfer_fee", true}}`. Honoured only when the node's policy says so
  /// (toggle_override_policy::honoured); else dropped and counted. A name that is not declared,
  /// one given twice, or more than max_toggle_overrides fail the call with invalid_argument.
  microlith::toggle_overrides toggle_overrides;
  /// Traces the call and every call it causes (trace.hpp): each records a span where it is
  /// served. `trace_forced` marks it forced into the log by its client (and traces it too).
  bool traced = false;
  bool trace_forced = false;
  /// The span the call's own span hangs under (a root span its caller recorded); 0 for none.
  std::uint64_t parent_span = 0;
};

/// How a node treats per-call toggle overrides (the system file's `[toggles] test_overrides`
/// and `require_override`; the host sets it when it opens the toggles).
struct toggle_override_policy {
  /// Overrides are honoured. When false (the default) they are dropped where they enter the
  /// node and counted (toggle_override_counts::ignored).
  bool honoured = false;
  /// Strict mode, only together with `honoured`: a check, for a request, of a toggle the
  /// request has no override for fails the request with failed_precondition naming the toggle.
  bool required = false;
};

/// What a node dropped of the overrides that reached it.
struct toggle_override_counts {
  /// Requests (calls, gateway requests with an X-Microlith-Toggles header) whose overrides were
  /// dropped because the node does not honour overrides.
  std::uint64_t ignored = 0;
  /// Overrides that arrived from another node naming a toggle this node does not declare (or
  /// named twice), dropped.
  std::uint64_t undeclared = 0;
};

namespace detail {
struct node_access;
} // namespace detail

/// A CAF actor system with microlith's registry and call machinery.
class node {
public:
  /// Starts the actor system.
  explicit node(node_options options = {});

  /// Stops everything (see shutdown()).
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// The options the node was made with.
  const node_options& options() const noexcept;

  /// The CAF actor system.
  caf::actor_system& system() noexcept;

  /// The node's service registry.
  service_registry& registry() noexcept;

  /// Checks `def` against its contract and starts one instance of it, not supervised; the node
  /// stops it at shutdown. Answers once the instance has built its state and registered.
  caf::expected<caf::actor> spawn(const service_definition& def);

  /// Starts an instance of `def` without waiting for it and without tracking it: its owner
  /// (a supervisor) stops it. When `ready_to` is set, the instance sends it
  /// `ready_atom` once registered (or dies, if building its state throws).
  caf::expected<caf::actor> start(const service_definition& def, const caf::actor& ready_to);

  /// Has shutdown() stop `instance` (e.g. a top-level supervisor), newest first.
  void adopt(const caf::actor& instance);

  /// Calls `service.method` from a plain thread and waits for the answer (never past the
  /// deadline). For tests and main(): it blocks the calling thread.
  template <class Resp, class Req>
  caf::expected<Resp> call(std::string service, std::string method, const Req& request,
                           blocking_call_options options = {}) {
    auto body = call_shared(std::move(service), std::move(method),
                            std::make_shared<const Req>(request), std::move(options));
    if (!body)
      return std::move(body.error());
    if (auto* typed = detail::message_cast<Resp>(*body))
      return *typed;
    return detail::wrong_reply_type(Resp::descriptor(), *body);
  }

  /// A blocking call with the body already shared; answers the reply's body.
  caf::expected<message_ptr> call_shared(std::string service, std::string method,
                                         message_ptr request, blocking_call_options options = {});

  /// Sends `request` to `service.method` without waiting; false when no instance is known.
  template <class Req>
  bool cast(std::string service, std::string method, const Req& request,
            std::string correlation_id = {}) {
    return cast_shared(std::move(service), std::move(method), std::make_shared<const Req>(request),
                       std::move(correlation_id));
  }

  /// Publishes `message` from a plain thread to every current subscriber of `topic` (at most
  /// once each); answers how many it was sent to.
  template <class Msg>
  std::size_t publish(const std::string& topic, const Msg& message,
                      std::string correlation_id = {}) {
    return publish_shared(topic, std::make_shared<const Msg>(message), std::move(correlation_id));
  }

  /// A publish with the body already shared.
  std::size_t publish_shared(const std::string& topic, message_ptr body,
                             std::string correlation_id = {});

  /// Makes `snapshot` the node's toggle values: requests that enter the node from now on
  /// capture it; requests already in it keep the one they captured (toggles.hpp). Safe from any
  /// thread, concurrently with checks.
  void publish_toggles(toggle_snapshot_ptr snapshot);

  /// The node's toggle values now (an empty snapshot until publish_toggles). Lock-free on the
  /// common path; the snapshot stays valid as long as it is held.
  toggle_snapshot_ptr toggles() const;

  /// The snapshot with `digest` (toggle_snapshot::digest) among the current one and the last
  /// 64 published on this node, or null: what a call from another node that names this digest
  /// keeps as its values here.
  toggle_snapshot_ptr published_toggles(std::uint64_t digest) const;

  /// How many calls, casts and publications from other nodes named a snapshot this node did
  /// not hold (published_toggles answered null), since it started: they ran with this node's
  /// values at their arrival.
  std::uint64_t toggle_snapshot_misses() const noexcept;

  /// Sets how the node treats per-call toggle overrides; safe from any thread. Checks and calls
  /// read it without a lock.
  void set_toggle_override_policy(toggle_override_policy policy) noexcept;

  /// How the node treats per-call toggle overrides now.
  toggle_override_policy override_policy() const noexcept;

  /// What the node dropped of the overrides that reached it.
  toggle_override_counts override_counts() const noexcept;

  /// Counts one request whose overrides were ignored before they reached the node (the gateway
  /// does not parse an X-Microlith-Toggles header while overrides are not honoured).
  void count_ignored_overrides() noexcept;

  /// What the services on this node answered since it started, per service and method, sorted
  /// by service and method (call_metrics.hpp); empty when node_options::call_metrics is false.
  /// Sums the counts of every instance, running or stopped; safe from any thread.
  std::vector<method_metrics> call_metrics() const;

  /// Adds `span` to the node's trace log (e.g. the gateway's root span of a traced request);
  /// safe from any thread. The log keeps the last span_log_capacity spans.
  void record_span(span_record span);

  /// A fresh span id (trace.hpp's new_span_id()).
  std::uint64_t new_span_id() const noexcept;

  /// The spans in the node's trace log of the requests `correlation_ids` (all when empty), at
  /// most `limit` (0 = no limit), the newest ones, oldest first; with the correlation ids among
  /// them that were forced into the log. Safe from any thread.
  span_selection spans(const std::vector<std::string>& correlation_ids,
                       std::size_t limit = 0) const;

  /// The node's topic table (who subscribes to what).
  topic_registry& topics() noexcept;

  /// A cast with the body already shared.
  bool cast_shared(std::string service, std::string method, message_ptr request,
                   std::string correlation_id = {});

  /// Stops every actor started with spawn(), newest first, waits for them, and empties the
  /// registry. Idempotent.
  void shutdown();

private:
  friend struct detail::node_access; // the kernel's own parts reach the node's internals

  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A fresh correlation id: 13 characters, unique within the process and unlikely to repeat
/// across processes.
std::string make_correlation_id();

} // namespace microlith
