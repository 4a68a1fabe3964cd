// A running gateway for the socket tests: a node with two scheduler threads, the test services
// (contracts in test/proto/test.proto and test/proto/gateway_test.proto), a route table, and the
// gateway worker listening on a port the OS chose.
//
// Services:
// - echo (microlith.test.Echo, only Ping, Hang and Fail): Ping answers with the request and the
//   correlation id it saw; Hang keeps its promise and never answers (it records "<name>.hang" to
//   the probe first); Fail answers fail("refused: <text>").
// - doomed (microlith.test.Echo, only Ping): keeps the promise, then stops its own actor.
// - binder (microlith.test.gateway.Binder): Echo answers with the request as it was bound; Bind
//   answers a BindReply built from it.
// - partial (microlith.test.gateway.Binder, only Bind): a route to partial.Echo exists in the
//   contract but is not served.
// - ghost (microlith.test.Echo): started once, so that the registry knows its contract, and
//   stopped before the gateway starts: a route to a service with no instance.
//
// Route tables are built as the gateway module builds them: against the contracts in the node's
// registry (gw::registered_contracts), with the paths the gateway serves itself reserved
// (gw::reserved_paths).
#pragma once

#include "proto/gateway_test.pb.h"
#include "proto/test.pb.h"

#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/net/gateway/gateway.hpp>
#include <microlith/net/gateway/gateway_worker.hpp>
#include <microlith/net/gateway/route_table.hpp>

#include <caf/actor.hpp>

#include <google/protobuf/struct.pb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace unit_net {

namespace pb = microlith::test;
namespace tpb = microlith::test::gateway;
namespace gw = microlith::gateway;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// What handlers report to the test thread: named entries a test can wait for.
class probe {
public:
  /// Records `text` under `key` (a later record under the same key replaces it).
  void record(const std::string& key, std::string text);

  /// Waits until `key` is recorded, at most `limit`; false when it was not.
  bool wait_for(const std::string& key, std::chrono::milliseconds limit);

  /// Forgets every entry.
  void reset();

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> entries_;
};

/// The probe the test services report to.
probe& the_probe();

/// The state of an echo instance.
class echo {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> hang(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> fail(microlith::call_context& ctx, const pb::PingRequest& req);

private:
  std::vector<microlith::promise<pb::PingReply>> hanging_;
};

/// The state of a doomed instance: its Ping stops its own actor without answering.
class doomed {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req);

private:
  std::vector<microlith::promise<pb::PingReply>> kept_;
};

/// The state of a binder instance.
class binder {
public:
  microlith::reply<tpb::BindReply> bind(microlith::call_context& ctx, const tpb::BindRequest& req);
  microlith::reply<tpb::BindRequest> echo(microlith::call_context& ctx,
                                          const tpb::BindRequest& req);
};

microlith::service_definition echo_service(std::string name = "echo");
microlith::service_definition doomed_service(std::string name = "doomed");
microlith::service_definition binder_service(std::string name = "binder");
/// A Binder that serves Bind only.
microlith::service_definition partial_binder_service(std::string name = "partial");

/// A route from its key and target ("GET /echo/{text}", "echo.Ping"); throws when malformed.
gw::route_spec route(std::string_view key, std::string_view target);

/// The routes every fixture starts with:
///   GET  /echo/{text}   -> echo.Ping       POST /echo          -> echo.Ping
///   GET  /hang          -> echo.Hang       GET  /fail/{text}   -> echo.Fail
///   GET  /missing       -> ghost.Ping      GET  /doomed        -> doomed.Ping
///   GET  /bind/{name}   -> binder.Echo     POST /bind/{name}   -> binder.Echo
///   POST /bind          -> binder.Echo     GET  /partial/{name} -> partial.Echo
///   GET  /v/{name}      -> binder.Echo
std::vector<gw::route_spec> standard_routes();

/// Options for tests: any free port, generous time limits unless a test sets its own.
gw::gateway_options test_options();

/// A table of `specs` validated against the contracts registered in `n`, with the paths a
/// gateway of `options` serves itself reserved; throws with every problem when it does not
/// build.
std::shared_ptr<const gw::route_table>
must_build(microlith::node& n, std::vector<gw::route_spec> specs,
           const gw::gateway_options& options = test_options());

/// A node with the test services and a gateway serving standard_routes().
class gateway_fixture {
public:
  explicit gateway_fixture(gw::gateway_options options = test_options());
  ~gateway_fixture();
  gateway_fixture(const gateway_fixture&) = delete;
  gateway_fixture& operator=(const gateway_fixture&) = delete;

  /// The port the gateway listens on.
  std::uint16_t port() const;

  /// The running gateway (throws when it is not running).
  gw::gateway_server& server();

  /// The gateway's counters now.
  gw::gateway_stats stats() { return server().stats(); }

  /// What `GET /readyz` answers from now on: ready, or not ready without a reason.
  void set_ready(bool ready) {
    gw::readiness_report report;
    report.ready = ready;
    set_readiness(std::move(report));
  }

  /// What `GET /readyz` answers from now on.
  void set_readiness(gw::readiness_report report) {
    std::lock_guard<std::mutex> guard{ready_->mutex};
    ready_->report = std::move(report);
  }

  /// Waits until `condition` holds, polling every few milliseconds, at most `limit`.
  static bool eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds limit = 2000ms);

  microlith::node node;
  std::shared_ptr<gw::route_switch> routes = std::make_shared<gw::route_switch>();
  caf::actor echo_instance;

private:
  struct observed {
    std::mutex mutex;
    gw::gateway_server* server = nullptr;
    std::uint16_t port = 0;
  };
  std::shared_ptr<observed> observed_ = std::make_shared<observed>();
  struct readiness_cell {
    std::mutex mutex;
    gw::readiness_report report; // requires mutex
  };
  std::shared_ptr<readiness_cell> ready_ = std::make_shared<readiness_cell>();
};

/// Parses `json` as a JSON object; throws when it is not one.
google::protobuf::Struct parse_object(const std::string& json);

/// The string field `name` of `object` ("" when absent or not a string).
std::string string_field(const google::protobuf::Struct& object, const std::string& name);

/// True when `object` has a field `name`.
bool has_field(const google::protobuf::Struct& object, const std::string& name);

/// The JSON of a BindRequest (Binder.Echo's answer) parsed back; throws when it is not one.
tpb::BindRequest parse_bind_request(const std::string& json);

/// The JSON of a PingReply (Echo.Ping's answer) parsed back; throws when it is not one.
pb::PingReply parse_ping_reply(const std::string& json);

} // namespace unit_net
