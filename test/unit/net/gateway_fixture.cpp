#include "gateway_fixture.hpp"

#include "support/two_threads.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/actors/registry.hpp>

#include <caf/all.hpp>

#include <google/protobuf/util/json_util.h>

#include <stdexcept>
#include <thread>
#include <utility>

namespace unit_net {

using microlith::call_context;
using microlith::reply;

// -- probe --------------------------------------------------------------------------------------

void probe::record(const std::string& key, std::string text) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    entries_[key] = std::move(text);
  }
  changed_.notify_all();
}

bool probe::wait_for(const std::string& key, std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> guard{mutex_};
  return changed_.wait_for(guard, limit, [&] { return entries_.count(key) > 0; });
}

void probe::reset() {
  std::lock_guard<std::mutex> guard{mutex_};
  entries_.clear();
}

probe& the_probe() {
  static probe instance;
  return instance;
}

// -- services -----------------------------------------------------------------------------------

reply<pb::PingReply> echo::ping(call_context& ctx, const pb::PingRequest& req) {
  pb::PingReply out;
  out.set_text(req.text());
  out.set_value(req.value());
  out.set_correlation_id(ctx.correlation_id());
  out.set_caller(ctx.meta().caller);
  out.set_hops(ctx.meta().hops);
  out.set_idempotency_key(ctx.idempotency_key());
  return out;
}

reply<pb::PingReply> echo::hang(call_context& ctx, const pb::PingRequest& req) {
  auto promise = ctx.make_promise<pb::PingReply>();
  hanging_.push_back(promise);
  the_probe().record(ctx.name() + ".hang", req.text());
  return promise;
}

reply<pb::PingReply> echo::fail(call_context&, const pb::PingRequest& req) {
  return microlith::fail("refused: " + req.text());
}

reply<pb::PingReply> doomed::ping(call_context& ctx, const pb::PingRequest&) {
  // The promise outlives the handler in the state, so the exit (not a dropped promise) is what
  // the caller learns of.
  auto promise = ctx.make_promise<pb::PingReply>();
  kept_.push_back(promise);
  ctx.self()->quit(caf::exit_reason::user_shutdown);
  return promise;
}

reply<tpb::BindReply> binder::bind(call_context&, const tpb::BindRequest& req) {
  tpb::BindReply out;
  out.set_balance(req.big() + req.amount());
  out.set_account_id(req.name());
  out.set_closed(req.flag());
  out.set_color(req.color());
  return out;
}

reply<tpb::BindRequest> binder::echo(call_context&, const tpb::BindRequest& req) {
  return req;
}

microlith::service_definition echo_service(std::string name) {
  return microlith::service<echo>(std::move(name), "microlith.test.Echo")
    .handle("Ping", &echo::ping)
    .handle("Hang", &echo::hang)
    .handle("Fail", &echo::fail);
}

microlith::service_definition doomed_service(std::string name) {
  return microlith::service<doomed>(std::move(name), "microlith.test.Echo")
    .handle("Ping", &doomed::ping);
}

microlith::service_definition binder_service(std::string name) {
  return microlith::service<binder>(std::move(name), "microlith.test.gateway.Binder")
    .handle("Bind", &binder::bind)
    .handle("Echo", &binder::echo);
}

microlith::service_definition partial_binder_service(std::string name) {
  return microlith::service<binder>(std::move(name), "microlith.test.gateway.Binder")
    .handle("Bind", &binder::bind);
}

// -- routes -------------------------------------------------------------------------------------

gw::route_spec route(std::string_view key, std::string_view target) {
  auto parsed = gw::parse_route(key, target);
  if (!parsed)
    throw std::runtime_error(microlith::message_of(parsed.error()));
  return *parsed;
}

std::vector<gw::route_spec> standard_routes() {
  return {
    route("GET /echo/{text}", "echo.Ping"),   route("POST /echo", "echo.Ping"),
    route("GET /hang", "echo.Hang"),          route("GET /fail/{text}", "echo.Fail"),
    route("GET /missing", "ghost.Ping"),      route("GET /doomed", "doomed.Ping"),
    route("GET /bind/{name}", "binder.Echo"), route("POST /bind/{name}", "binder.Echo"),
    route("POST /bind", "binder.Echo"),       route("GET /partial/{name}", "partial.Echo"),
    route("GET /v/{name}", "binder.Echo"),
  };
}

std::shared_ptr<const gw::route_table> must_build(microlith::node& n,
                                                  std::vector<gw::route_spec> specs,
                                                  const gw::gateway_options& options) {
  auto table = gw::route_table::build(std::move(specs), gw::registered_contracts(n.registry()),
                                      gw::reserved_paths(options));
  if (!table)
    throw std::runtime_error("the route table does not build: "
                             + microlith::message_of(table.error()));
  return *table;
}

gw::gateway_options test_options() {
  gw::gateway_options options;
  options.port = 0;
  options.request_timeout = 3000ms;
  options.idle_timeout = 5000ms;
  return options;
}

// -- fixture ------------------------------------------------------------------------------------

namespace {

caf::actor must_spawn(microlith::node& n, const microlith::service_definition& def) {
  auto started = n.spawn(def);
  if (!started)
    throw std::runtime_error("cannot start " + def.name + ": "
                             + microlith::describe(started.error()));
  return *started;
}

} // namespace

gateway_fixture::gateway_fixture(gw::gateway_options options) : node(test_support::two_threads()) {
  the_probe().reset();
  echo_instance = must_spawn(node, echo_service());
  must_spawn(node, doomed_service());
  must_spawn(node, binder_service());
  must_spawn(node, partial_binder_service());
  auto ghost = must_spawn(node, echo_service("ghost"));
  microlith::signal_exit(ghost, caf::exit_reason::user_shutdown);
  if (!eventually([this] { return node.registry().resolve("ghost") == nullptr; }))
    throw std::runtime_error("the ghost service did not stop");
  routes->install(must_build(node, standard_routes(), options));
  auto seen = observed_;
  auto ready = ready_;
  must_spawn(node, gw::gateway_worker(
                     "http", node, std::move(options), routes,
                     [ready] {
                       std::lock_guard<std::mutex> guard{ready->mutex};
                       return ready->report;
                     },
                     [seen](gw::gateway_server* server) {
                       std::lock_guard<std::mutex> guard{seen->mutex};
                       seen->server = server;
                       if (server != nullptr)
                         seen->port = server->port();
                     }));
}

gateway_fixture::~gateway_fixture() {
  node.shutdown();
}

std::uint16_t gateway_fixture::port() const {
  std::lock_guard<std::mutex> guard{observed_->mutex};
  return observed_->port;
}

gw::gateway_server& gateway_fixture::server() {
  std::lock_guard<std::mutex> guard{observed_->mutex};
  if (observed_->server == nullptr)
    throw std::runtime_error("the gateway is not running");
  return *observed_->server;
}

bool gateway_fixture::eventually(const std::function<bool()>& condition,
                                 std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  while (!condition()) {
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// -- JSON ---------------------------------------------------------------------------------------

google::protobuf::Struct parse_object(const std::string& json) {
  google::protobuf::Struct object;
  auto status = google::protobuf::util::JsonStringToMessage(json, &object);
  if (!status.ok())
    throw std::runtime_error("not a JSON object (" + status.ToString() + "): " + json);
  return object;
}

std::string string_field(const google::protobuf::Struct& object, const std::string& name) {
  auto i = object.fields().find(name);
  if (i == object.fields().end() || i->second.kind_case() != google::protobuf::Value::kStringValue)
    return {};
  return i->second.string_value();
}

bool has_field(const google::protobuf::Struct& object, const std::string& name) {
  return object.fields().count(name) > 0;
}

tpb::BindRequest parse_bind_request(const std::string& json) {
  tpb::BindRequest out;
  auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  if (!status.ok())
    throw std::runtime_error("not a BindRequest (" + status.ToString() + "): " + json);
  return out;
}

pb::PingReply parse_ping_reply(const std::string& json) {
  pb::PingReply out;
  auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  if (!status.ok())
    throw std::runtime_error("not a PingReply (" + status.ToString() + "): " + json);
  return out;
}

} // namespace unit_net
