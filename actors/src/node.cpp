#include "microlith/actors/node.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/topics.hpp"

#include "detail/call_errors.hpp"
#include "detail/endpoint_actor.hpp"
#include "detail/node_access.hpp"
#include "detail/node_core.hpp"
#include "detail/pending_calls.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace microlith {

namespace {

// How long shutdown waits for one top-level actor before killing it.
constexpr auto stop_grace = std::chrono::seconds(30);
// How long spawn() waits for a new instance to build its state.
constexpr auto start_limit = std::chrono::seconds(30);

caf::actor_system_config& configure(caf::actor_system_config& cfg, const node_options& opts) {
  auto threads = opts.threads > 0
                   ? opts.threads
                   : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(threads));
  cfg.set("work-stealing.aggressive-poll-attempts", opts.idle_spin_polls);
  cfg.set("work-stealing.moderate-poll-attempts", opts.idle_nap_polls);
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{opts.idle_wait});
  register_error_category(cfg);
  cfg.add_message_type<envelope>("microlith.envelope"); // its name on the wire between nodes
  if (opts.configure_system)
    opts.configure_system(cfg);
  return cfg;
}

} // namespace

struct node::impl {
  node_options options;
  caf::actor_system_config cfg;
  caf::actor_system system;
  detail::node_core core;
  std::mutex tracked_mutex;
  std::vector<caf::actor> tracked;
  bool stopped = false;

  explicit impl(node_options opts) : options(std::move(opts)), system(configure(cfg, options)) {
    core.system = &system;
    core.node_name = options.name;
    core.default_timeout = options.default_timeout;
    core.metrics.enabled = options.call_metrics;
    core.registry.set_local_node(system.node());
  }
};

node::node(node_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

node::~node() {
  shutdown();
}

const node_options& node::options() const noexcept {
  return impl_->options;
}

caf::actor_system& node::system() noexcept {
  return impl_->system;
}

service_registry& node::registry() noexcept {
  return impl_->core.registry;
}

topic_registry& node::topics() noexcept {
  return impl_->core.topics;
}

std::size_t node::publish_shared(const std::string& topic, message_ptr body,
                                 std::string correlation_id) {
  auto snap = impl_->core.topics.snapshot();
  auto i = snap->find(topic);
  if (i == snap->end())
    return 0;
  for (const auto& subscriber : i->second) {
    envelope env;
    env.kind = envelope_kind::publish;
    env.service = topic;
    env.body = body;
    env.meta.correlation_id = correlation_id;
    env.meta.caller = "client";
    caf::anon_send(subscriber, std::move(env));
  }
  return i->second.size();
}

std::vector<method_metrics> node::call_metrics() const {
  return impl_->core.metrics.read();
}

void node::record_span(span_record span) {
  impl_->core.spans.record(std::move(span));
}

std::uint64_t node::new_span_id() const noexcept {
  return microlith::new_span_id();
}

span_selection node::spans(const std::vector<std::string>& correlation_ids,
                           std::size_t limit) const {
  return impl_->core.spans.select(correlation_ids, limit);
}

void node::publish_toggles(toggle_snapshot_ptr snapshot) {
  impl_->core.toggles.publish(std::move(snapshot));
}

toggle_snapshot_ptr node::toggles() const {
  return impl_->core.toggles.current();
}

toggle_snapshot_ptr node::published_toggles(std::uint64_t digest) const {
  return impl_->core.toggles.find(digest);
}

std::uint64_t node::toggle_snapshot_misses() const noexcept {
  return impl_->core.toggles.misses();
}

void node::set_toggle_override_policy(toggle_override_policy policy) noexcept {
  impl_->core.overrides.set_policy(policy);
}

toggle_override_policy node::override_policy() const noexcept {
  return impl_->core.overrides.policy();
}

toggle_override_counts node::override_counts() const noexcept {
  return impl_->core.overrides.counts();
}

void node::count_ignored_overrides() noexcept {
  impl_->core.overrides.count_ignored();
}

caf::expected<caf::actor> node::start(const service_definition& def, const caf::actor& ready_to) {
  if (auto err = def.validate())
    return err;
  if (!def.toggles.empty()) {
    auto snapshot = toggles();
    for (const auto& name : def.toggles)
      if (snapshot->find(name) == nullptr)
        return make_error(errc::failed_precondition,
                          fmt::format("{} checks toggle \"{}\", which is not declared: declare it "
                                      "in a module (module_definition::toggle) or in the system "
                                      "file's [toggles] table",
                                      def.name, name));
  }
  return system().spawn<detail::endpoint_actor>(&impl_->core, def, ready_to);
}

caf::expected<caf::actor> node::spawn(const service_definition& def) {
  caf::scoped_actor self{system()};
  auto started = start(def, caf::actor{self});
  if (!started)
    return started;
  auto instance = *started;
  self->monitor(instance);
  caf::error failure;
  self->receive(
    [&](ready_atom) {},
    [&](caf::down_msg& msg) {
      // Keep the cause's own code when it is a microlith error; say what failed around it.
      failure =
        code_of(msg.reason) != errc::none
          ? make_error(code_of(msg.reason),
                       fmt::format("{} failed to start: {}", def.name, message_of(msg.reason)))
          : make_error(errc::service_unavailable,
                       fmt::format("{} failed to start: {}", def.name, describe(msg.reason)));
    },
    caf::after(start_limit) >>
      [&] {
        failure = make_error(errc::timeout, fmt::format("{} did not finish starting within {} s",
                                                        def.name, start_limit.count()));
        signal_exit(instance, caf::exit_reason::kill, self.ptr());
      });
  self->demonitor(instance);
  if (failure)
    return failure;
  adopt(instance);
  return instance;
}

void node::adopt(const caf::actor& instance) {
  std::lock_guard<std::mutex> guard{impl_->tracked_mutex};
  impl_->tracked.push_back(instance);
}

caf::expected<message_ptr> node::call_shared(std::string service, std::string method,
                                             message_ptr request, blocking_call_options options) {
  auto now = clock::now();
  auto deadline =
    now + (options.timeout.count() > 0 ? options.timeout : impl_->core.default_timeout);
  auto dest = impl_->core.registry.resolve(service);
  if (!dest)
    return detail::no_instance_error(service);
  auto snapshot = options.toggles ? std::move(options.toggles) : toggles();
  toggle_overrides_ptr overrides;
  if (auto err = impl_->core.overrides.admit_given(std::move(options.toggle_overrides), *snapshot,
                                                   overrides))
    return make_error(errc::invalid_argument,
                      fmt::format("{}.{}: {}", service, method, message_of(err)));
  // The same table as an actor's, with one call: it matches the answer, and its callee's down
  // message and its deadline end the call with the same errors.
  caf::expected<message_ptr> result{message_ptr{}};
  bool done = false;
  detail::pending_calls<detail::reply_handler> calls;
  auto added = calls.add(dest, now, deadline, service, method,
                         [&result, &done](const message_ptr& body, const caf::error& err) {
                           if (err)
                             result = err;
                           else
                             result = body;
                           done = true;
                         });
  metadata meta{options.correlation_id.empty() ? make_correlation_id()
                                               : std::move(options.correlation_id),
                std::move(options.caller),
                deadline,
                0,
                std::move(options.idempotency_key),
                std::move(snapshot),
                std::move(overrides)};
  meta.traced = options.traced || options.trace_forced;
  meta.trace_forced = options.trace_forced;
  meta.parent_span = meta.traced ? options.parent_span : 0;
  caf::scoped_actor self{system()};
  self->monitor(dest);
  self->send(dest, make_call(added.id, std::move(service), std::move(method), std::move(request),
                             std::move(meta)));
  std::vector<detail::pending_calls<detail::reply_handler>::ended> ended;
  auto tick = calls.armed(); // the call's deadline: the receive below waits until then
  while (!done) {
    if (auto left = tick - clock::now(); left > clock::duration::zero()) {
      self->receive(
        [&](envelope& reply) {
          detail::reply_handler complete;
          if (reply.kind == envelope_kind::reply && calls.take_reply(reply, complete))
            complete(reply.body, reply.error);
        },
        [&](caf::down_msg& msg) {
          calls.callee_down(caf::actor_cast<caf::actor_control_block*>(msg.source), msg.reason,
                            ended);
        },
        caf::after(left) >> [] {});
    } else {
      tick = calls.expire(tick, clock::now(), ended);
    }
    for (auto& call : ended)
      call.done(nullptr, call.error);
    ended.clear();
  }
  self->demonitor(dest);
  return result;
}

bool node::cast_shared(std::string service, std::string method, message_ptr request,
                       std::string correlation_id) {
  auto dest = impl_->core.registry.resolve(service);
  if (!dest)
    return false;
  envelope env;
  env.kind = envelope_kind::cast;
  env.service = std::move(service);
  env.method = std::move(method);
  env.body = std::move(request);
  env.meta.correlation_id = std::move(correlation_id);
  env.meta.caller = "client";
  env.meta.toggles = toggles();
  caf::anon_send(dest, std::move(env));
  return true;
}

void node::shutdown() {
  std::vector<caf::actor> tracked;
  {
    std::lock_guard<std::mutex> guard{impl_->tracked_mutex};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
    tracked.swap(impl_->tracked);
  }
  caf::scoped_actor self{system()};
  for (auto i = tracked.rbegin(); i != tracked.rend(); ++i) {
    auto& instance = *i;
    self->monitor(instance);
    signal_exit(instance, caf::exit_reason::user_shutdown, self.ptr());
    bool down = false;
    self->receive([&](caf::down_msg& msg) { down = msg.source == instance.address(); },
                  caf::after(stop_grace) >> [] {});
    if (!down) {
      log::warn(impl_->options.name, "{} did not stop within {} s: killing it", to_string(instance),
                stop_grace.count());
      signal_exit(instance, caf::exit_reason::kill, self.ptr());
      self->receive([](caf::down_msg&) {}, caf::after(stop_grace) >> [] {});
    }
  }
  tracked.clear();
  impl_->core.registry.clear();
}

namespace detail {

node_core& node_access::core(node& host) noexcept {
  return host.impl_->core;
}

} // namespace detail

std::string make_correlation_id() {
  static const std::uint64_t seed = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  // splitmix64 of seed + counter: distinct within the process, well spread across processes.
  auto z = seed + 0x9e3779b97f4a7c15ULL * (counter.fetch_add(1, std::memory_order_relaxed) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuv";
  std::string id(13, '0');
  for (int i = 12; i >= 0; --i, z >>= 5)
    id[static_cast<std::size_t>(i)] = digits[z & 31];
  return id;
}

} // namespace microlith
