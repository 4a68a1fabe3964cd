#include "test_services.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>

#include <caf/all.hpp>

#include <stdexcept>
#include <utility>

namespace unit_actors {

using microlith::call_context;
using microlith::reply;

// -- probe --------------------------------------------------------------------------------------

void probe::record(const std::string& key, std::string text) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    entries_[key] = entry{std::move(text), steady::now()};
  }
  changed_.notify_all();
}

std::optional<probe::entry> probe::wait_for(const std::string& key,
                                            std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> guard{mutex_};
  if (!changed_.wait_for(guard, limit, [&] { return entries_.count(key) > 0; }))
    return std::nullopt;
  return entries_.at(key);
}

void probe::note(std::string event) {
  std::lock_guard<std::mutex> guard{mutex_};
  notes_.push_back(std::move(event));
}

std::vector<std::string> probe::notes() {
  std::lock_guard<std::mutex> guard{mutex_};
  return notes_;
}

void probe::reset() {
  std::lock_guard<std::mutex> guard{mutex_};
  entries_.clear();
  notes_.clear();
}

probe& the_probe() {
  static probe instance;
  return instance;
}

// -- echo ---------------------------------------------------------------------------------------

echo::echo(call_context& ctx) : name_(ctx.name()), instance_(ctx.self()->id()) {}

echo::~echo() {
  the_probe().note(name_ + " stopped");
}

pb::PingReply echo::answer_to(call_context& ctx, const pb::PingRequest& req) {
  pb::PingReply out;
  out.set_text(req.text());
  out.set_value(req.value());
  out.set_correlation_id(ctx.correlation_id());
  out.set_caller(ctx.meta().caller);
  out.set_hops(ctx.meta().hops);
  out.set_idempotency_key(ctx.idempotency_key());
  out.set_remaining_ms(ctx.meta().deadline == microlith::clock::time_point{}
                         ? -1
                         : millis_between(steady::now(), ctx.meta().deadline));
  out.set_instance(instance_);
  return out;
}

reply<pb::PingReply> echo::ping(call_context& ctx, const pb::PingRequest& req) {
  ++handled_;
  auto out = answer_to(ctx, req);
  if (req.delay_ms() <= 0)
    return out;
  // Answer later: keep the promise and have a timer cast Wake to this very instance.
  auto promise = ctx.make_promise<pb::PingReply>();
  auto token = next_token_++;
  delayed_.emplace(token, delayed{promise, std::move(out)});
  microlith::envelope wake;
  wake.kind = microlith::envelope_kind::cast;
  wake.service = ctx.name();
  wake.method = "Wake";
  pb::WakeRequest body;
  body.set_token(token);
  wake.body = std::make_shared<const pb::WakeRequest>(std::move(body));
  wake.meta.caller = ctx.name();
  ctx.self()->delayed_send(ctx.self(), std::chrono::milliseconds{req.delay_ms()}, std::move(wake));
  return promise;
}

reply<pb::Empty> echo::wake(call_context&, const pb::WakeRequest& req) {
  ++handled_;
  auto i = delayed_.find(req.token());
  if (i != delayed_.end()) {
    auto entry = std::move(i->second);
    delayed_.erase(i);
    entry.promise.deliver(std::move(entry.reply));
  }
  return pb::Empty{};
}

reply<pb::PingReply> echo::hang(call_context& ctx, const pb::PingRequest& req) {
  ++handled_;
  auto promise = ctx.make_promise<pb::PingReply>();
  hanging_.push_back(promise);
  the_probe().record(ctx.name() + ".hang", req.text());
  return promise;
}

reply<pb::PingReply> echo::drop(call_context& ctx, const pb::PingRequest&) {
  ++handled_;
  auto promise = ctx.make_promise<pb::PingReply>();
  return promise;
}

reply<pb::PingReply> echo::fail(call_context&, const pb::PingRequest& req) {
  ++handled_;
  // A value names the kind to fail with (an errc value); 0 fails without a kind.
  if (req.value() != 0)
    return microlith::fail(static_cast<microlith::errc>(req.value()), "refused: " + req.text());
  return microlith::fail("refused: " + req.text());
}

reply<pb::PingReply> echo::raise(call_context&, const pb::PingRequest& req) {
  ++handled_;
  throw std::runtime_error("boom: " + req.text());
}

reply<pb::PingReply> echo::promise_then_throw(call_context& ctx, const pb::PingRequest& req) {
  ++handled_;
  auto promise = ctx.make_promise<pb::PingReply>();
  throw std::runtime_error("boom: " + req.text());
}

reply<pb::PingReply> echo::twice(call_context& ctx, const pb::PingRequest& req) {
  ++handled_;
  auto promise = ctx.make_promise<pb::PingReply>();
  auto first = answer_to(ctx, req);
  auto second = first;
  second.set_value(first.value() + 1);
  promise.deliver(std::move(first));
  promise.deliver(std::move(second));
  return promise;
}

reply<pb::Empty> echo::remember(call_context&, const pb::SetRequest& req) {
  ++handled_;
  memory_[req.key()] = req.value();
  return pb::Empty{};
}

reply<pb::PingReply> echo::recall(call_context& ctx, const pb::GetRequest& req) {
  ++handled_;
  pb::PingRequest as_ping;
  as_ping.set_text(req.key());
  auto i = memory_.find(req.key());
  as_ping.set_value(i == memory_.end() ? 0 : i->second);
  return answer_to(ctx, as_ping);
}

reply<pb::CountReply> echo::count(call_context&, const pb::Empty&) {
  ++handled_;
  pb::CountReply out;
  out.set_handled(handled_);
  out.set_instance(instance_);
  return out;
}

// -- relay --------------------------------------------------------------------------------------

reply<pb::RelayReply> relay::forward(call_context& ctx, const pb::RelayRequest& req) {
  auto promise = ctx.make_promise<pb::RelayReply>();
  pb::RelayReply out;
  out.set_correlation_id(ctx.correlation_id());
  out.set_caller(ctx.meta().caller);
  out.set_hops(ctx.meta().hops);
  microlith::call_options opts;
  opts.timeout = std::chrono::milliseconds{req.timeout_ms()};
  auto name = ctx.name();
  auto on_error = [promise, name](const caf::error& err) mutable {
    the_probe().record(name + ".error", microlith::describe(err));
    promise.deliver(err);
  };
  if (req.via_size() > 0) {
    auto next = req;
    next.mutable_via()->erase(next.mutable_via()->begin());
    ctx.call<pb::RelayReply>(req.via(0), "Forward", next, opts)
      .then(
        [promise, out, name](const pb::RelayReply& inner) mutable {
          *out.mutable_echo() = inner.echo();
          the_probe().record(name + ".ok", inner.echo().text());
          promise.deliver(std::move(out));
        },
        on_error);
  } else {
    ctx.call<pb::PingReply>(req.service(), req.method(), req.ping(), opts)
      .then(
        [promise, out, name](const pb::PingReply& echoed) mutable {
          *out.mutable_echo() = echoed;
          the_probe().record(name + ".ok", echoed.text());
          promise.deliver(std::move(out));
        },
        on_error);
  }
  return promise;
}

// -- definitions and helpers ----------------------------------------------------------------------

microlith::service_definition echo_service(std::string name) {
  return microlith::service<echo>(std::move(name), "microlith.test.Echo")
    .handle("Ping", &echo::ping)
    .handle("Hang", &echo::hang)
    .handle("Drop", &echo::drop)
    .handle("Fail", &echo::fail)
    .handle("Throw", &echo::raise)
    .handle("PromiseThenThrow", &echo::promise_then_throw)
    .handle("Twice", &echo::twice)
    .handle("Remember", &echo::remember)
    .handle("Recall", &echo::recall)
    .handle("Count", &echo::count)
    .handle("Wake", &echo::wake);
}

microlith::service_definition relay_service(std::string name) {
  return microlith::service<relay>(std::move(name), "microlith.test.Relay")
    .handle("Forward", &relay::forward);
}

pb::PingRequest ping(std::string text, std::int64_t value, std::int64_t delay_ms) {
  pb::PingRequest req;
  req.set_text(std::move(text));
  req.set_value(value);
  req.set_delay_ms(delay_ms);
  return req;
}

pb::RelayRequest relay_to(std::string service, std::string method, pb::PingRequest req,
                          std::vector<std::string> via, std::chrono::milliseconds timeout) {
  pb::RelayRequest out;
  for (auto& x : via)
    out.add_via(std::move(x));
  out.set_service(std::move(service));
  out.set_method(std::move(method));
  *out.mutable_ping() = std::move(req);
  out.set_timeout_ms(timeout.count());
  return out;
}

microlith::blocking_call_options with(std::chrono::milliseconds timeout, std::string correlation_id,
                                      std::string caller) {
  microlith::blocking_call_options opts;
  opts.timeout = timeout;
  opts.correlation_id = std::move(correlation_id);
  opts.caller = std::move(caller);
  return opts;
}

caf::actor must_spawn(microlith::node& n, const microlith::service_definition& def) {
  auto started = n.spawn(def);
  if (!started)
    throw std::runtime_error("cannot start " + def.name + ": "
                             + microlith::describe(started.error()));
  return *started;
}

bool wait_down(microlith::node& n, const caf::actor& instance, std::chrono::milliseconds limit) {
  caf::scoped_actor self{n.system()};
  self->monitor(instance);
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == instance.address(); },
                caf::after(limit) >> [] {});
  return down;
}

long long millis_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

} // namespace unit_actors
