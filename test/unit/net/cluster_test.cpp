// The cluster (net/src/cluster) with two or three nodes in this process, each its own CAF actor
// system talking BASP over real TCP on 127.0.0.1: joining, replicated registrations with
// contracts, calls and publishes across nodes, local preference, round robin over remote
// replicas, refusal of a wrong system name or cookie, a peer that skips the handshake, leaving,
// and a peer that appears after its neighbour started. The multi-process
// behaviour (kill -9, SIGSTOP, restarts) is tested in test/cluster.
#include "proto/test.pb.h"

#include "cluster/node_agent.hpp" // the agents' protocol, spoken by a peer that skips steps

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/actors/toggles.hpp>
#include <microlith/actors/topics.hpp>
#include <microlith/net/cluster/cluster.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace pb = microlith::test;
namespace cl = microlith::cluster;
using steady = std::chrono::steady_clock;

namespace {

/// Answers Ping with `Node`, the name of the node the test started it on (in `text`), and the
/// metadata it saw.
template <char Node>
class where {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_text(std::string(1, Node));
    out.set_value(req.value());
    out.set_correlation_id(ctx.correlation_id());
    out.set_caller(ctx.meta().caller);
    out.set_idempotency_key(ctx.idempotency_key());
    return out;
  }
};

template <char Node>
microlith::service_definition where_service(std::string name) {
  return microlith::service<where<Node>>(std::move(name), "microlith.test.Echo")
    .handle("Ping", &where<Node>::ping);
}

/// Blocks its scheduler thread for delay_ms in Ping (on purpose: a long handler).
class sleeper {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    std::this_thread::sleep_for(std::chrono::milliseconds(req.delay_ms()));
    pb::PingReply out;
    out.set_value(req.value());
    return out;
  }
};

/// Answers Ping with "on" or "off": toggle "t" as its request sees it.
class toggle_reader {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    pb::PingReply out;
    out.set_text(ctx.enabled("t") ? "on" : "off");
    return out;
  }
};

/// Checks toggle "t", asks "back" (on another node), answers "<its value> <back's value>".
class toggle_front {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    const bool mine = ctx.enabled("t");
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("back", "Ping", req)
      .then(
        [p, mine](const pb::PingReply& r) mutable {
          pb::PingReply out;
          out.set_text(std::string(mine ? "on" : "off") + " " + r.text());
          p.deliver(out);
        },
        [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
};

/// Answers Ping with what "back" answers to the same request.
class forwarder {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("back", "Ping", req)
      .then([p](const pb::PingReply& r) mutable { p.deliver(r); },
            [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
};

/// A snapshot declaring `names`, each off.
std::shared_ptr<const microlith::toggle_snapshot> declared_off(std::vector<std::string> names) {
  std::vector<microlith::toggle_state> all;
  for (auto& n : names) {
    microlith::toggle_state t;
    t.name = std::move(n);
    all.push_back(std::move(t));
  }
  return std::make_shared<const microlith::toggle_snapshot>(std::move(all),
                                                            microlith::toggle_groups{});
}

std::atomic<int> heard{0};

std::atomic<int> in_order{0};
std::atomic<int> out_of_order{0};

/// Counts the Pings it gets whose value follows the previous one.
class order_checker {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    (req.value() == next_ ? in_order : out_of_order)++;
    next_ = req.value() + 1;
    return pb::PingReply{};
  }

private:
  std::int64_t next_ = 0;
};

/// Casts Ping 0, 1, 2 ... 999 to "order" as soon as it starts.
class order_sender {
public:
  explicit order_sender(microlith::call_context& ctx) {
    for (int i = 0; i < 1000; ++i) {
      pb::PingRequest req;
      req.set_value(i);
      ctx.cast("order", "Ping", req);
    }
  }
};

/// Counts the messages published to "news" that reach it.
class listener {
public:
  explicit listener(microlith::call_context& ctx) {
    ctx.subscribe<pb::PingRequest>(
      "news", [](microlith::call_context&, const pb::PingRequest&) { ++heard; });
  }
};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::atomic<int> pinged{0};

/// Counts the Pings it answers.
class ping_counter {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    ++pinged;
    pb::PingReply out;
    out.set_value(req.value());
    return out;
  }
};

/// Everything this process writes to stderr (where microlith logs, for every node of the test)
/// while it lives, kept in a temporary file and copied back to stderr at the end.
class stderr_capture {
public:
  stderr_capture() {
    auto pattern = (std::filesystem::temp_directory_path() / "microlith-log-XXXXXX").string();
    fd_ = ::mkstemp(pattern.data());
    REQUIRE(fd_ >= 0);
    path_ = pattern;
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(fd_, 2);
  }

  ~stderr_capture() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    auto all = text();
    std::fwrite(all.data(), 1, all.size(), stderr);
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;

  /// What was written so far.
  std::string text() const {
    std::ifstream in{path_};
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  /// Waits until a line containing `what` was written.
  bool wait_for(const std::string& what, std::chrono::milliseconds limit) const {
    return eventually([&] { return text().find(what) != std::string::npos; }, limit);
  }

private:
  int fd_ = -1;
  int saved_ = -1;
  std::filesystem::path path_;
};

/// One node of the test cluster.
struct member {
  cl::cluster_options options;
  std::unique_ptr<microlith::node> node;
  std::unique_ptr<cl::membership> membership;

  member(std::string name, std::vector<cl::peer_address> peers, std::string cookie = "secret",
         std::string system = "unit", std::uint16_t port = 0) {
    options.system = std::move(system);
    options.node = name;
    options.port = port;
    options.peers = std::move(peers);
    options.cookie = std::move(cookie);
    microlith::node_options opts;
    opts.name = name;
    opts.threads = 2;
    opts.default_timeout = 3s;
    cl::configure_transport(opts, options);
    node = std::make_unique<microlith::node>(opts);
    auto joined = cl::membership::join(*node, options);
    REQUIRE(joined);
    membership = std::move(*joined);
  }

  ~member() {
    membership.reset();
    node->shutdown();
  }

  cl::peer_address address() const { return {options.node, "127.0.0.1", membership->port()}; }

  bool sees(const std::string& peer) const {
    for (const auto& m : membership->members())
      if (m.name == peer)
        return true;
    return false;
  }

  caf::expected<pb::PingReply> ping(const std::string& service, std::int64_t value = 1) {
    pb::PingRequest req;
    req.set_value(value);
    return node->call<pb::PingReply>(service, "Ping", req);
  }
};

} // namespace

TEST_CASE("two nodes join, replicate registrations and call each other", "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));

  REQUIRE(a.node->spawn(where_service<'a'>("alpha")));
  REQUIRE(b.node->spawn(where_service<'b'>("beta")));
  REQUIRE(eventually([&] { return !b.node->registry().snapshot()->instances("alpha").empty(); }));
  REQUIRE(eventually([&] { return !a.node->registry().snapshot()->instances("beta").empty(); }));

  SECTION("a call crosses nodes with its metadata, and the contract is replicated") {
    microlith::blocking_call_options opts;
    opts.correlation_id = "req-42";
    opts.caller = "tester";
    opts.idempotency_key = "deposit-7f3a";
    pb::PingRequest req;
    req.set_value(7);
    auto reply = b.node->call<pb::PingReply>("alpha", "Ping", req, opts);
    REQUIRE(reply);
    CHECK(reply->text() == "a");
    CHECK(reply->value() == 7);
    CHECK(reply->correlation_id() == "req-42");
    CHECK(reply->caller() == "tester");
    CHECK(reply->idempotency_key() == "deposit-7f3a");
    CHECK(b.node->registry().contract_of("alpha") == "microlith.test.Echo");
    auto back = a.ping("beta");
    REQUIRE(back);
    CHECK(back->text() == "b");
  }

  SECTION("a local instance is preferred over a remote one") {
    REQUIRE(b.node->spawn(where_service<'b'>("alpha")));
    REQUIRE(
      eventually([&] { return a.node->registry().snapshot()->instances("alpha").size() == 2; }));
    for (int i = 0; i < 6; ++i) {
      auto on_b = b.ping("alpha");
      REQUIRE(on_b);
      CHECK(on_b->text() == "b");
      auto on_a = a.ping("alpha");
      REQUIRE(on_a);
      CHECK(on_a->text() == "a");
    }
  }

  SECTION("a leaving node's entries vanish on the other at once") {
    a.membership->leave();
    CHECK(
      eventually([&] { return b.node->registry().snapshot()->instances("alpha").empty(); }, 2s));
    CHECK(eventually([&] { return !b.sees("a"); }, 2s));
    auto gone = b.ping("alpha");
    REQUIRE_FALSE(gone);
    CHECK(microlith::is(gone.error(), microlith::errc::service_unavailable));
  }

  SECTION("groups announced by one node are seen by the other") {
    a.membership->set_local_groups({"ledger", "web"});
    CHECK(eventually([&] { return b.membership->group_running("ledger"); }));
    CHECK_FALSE(b.membership->group_running("accounts"));
  }
}

TEST_CASE("toggle overrides cross a node boundary to the nested calls on the other node",
          "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));
  a.node->publish_toggles(declared_off({"t", "only.on_a"}));
  b.node->publish_toggles(declared_off({"t"}));
  a.node->set_toggle_override_policy({true, false});
  REQUIRE(a.node->spawn(microlith::service<toggle_front>("front", "microlith.test.Echo")
                          .handle("Ping", &toggle_front::ping)));
  REQUIRE(b.node->spawn(microlith::service<toggle_reader>("back", "microlith.test.Echo")
                          .handle("Ping", &toggle_reader::ping)));
  REQUIRE(eventually([&] { return !a.node->registry().snapshot()->instances("back").empty(); }));
  auto ask = [&](microlith::toggle_overrides overrides) {
    microlith::blocking_call_options opts;
    opts.timeout = 5s;
    opts.toggle_overrides = std::move(overrides);
    auto r = a.node->call<pb::PingReply>("front", "Ping", pb::PingRequest{}, opts);
    return r ? r->text() : "error: " + microlith::describe(r.error());
  };

  SECTION("honoured on both nodes") {
    b.node->set_toggle_override_policy({true, false});
    CHECK(ask({{"t", true}}) == "on on");
    CHECK(ask({}) == "off off");
    // A name the other node does not declare is dropped there and counted; the rest applies.
    CHECK(ask({{"t", true}, {"only.on_a", true}}) == "on on");
    CHECK(b.node->override_counts().undeclared == 1);
    CHECK(b.node->override_counts().ignored == 0);
  }
  SECTION("not honoured on the other node") {
    CHECK(ask({{"t", true}}) == "on off");
    CHECK(b.node->override_counts().ignored == 1);
  }
}

TEST_CASE("a traced call records a span on each node it reaches, linked across them",
          "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));
  REQUIRE(a.node->spawn(microlith::service<forwarder>("front", "microlith.test.Echo")
                          .handle("Ping", &forwarder::ping)));
  REQUIRE(b.node->spawn(where_service<'b'>("back")));
  REQUIRE(eventually([&] { return !a.node->registry().snapshot()->instances("back").empty(); }));
  microlith::blocking_call_options opts;
  opts.timeout = 5s;
  opts.correlation_id = "cross-trace";
  opts.trace_forced = true;
  opts.parent_span = 42; // a root span of the caller's own
  REQUIRE(a.node->call<pb::PingReply>("front", "Ping", pb::PingRequest{}, opts));
  // b logs its span before its answer leaves it: both are in when the call returns.
  auto on_a = a.node->spans({"cross-trace"});
  auto on_b = b.node->spans({"cross-trace"});
  REQUIRE(on_a.spans.size() == 1);
  REQUIRE(on_b.spans.size() == 1);
  const auto& front = on_a.spans[0];
  const auto& back = on_b.spans[0];
  CHECK(front.node == "a");
  CHECK(front.service == "front");
  CHECK(front.parent_span == 42);
  CHECK(back.node == "b");
  CHECK(back.service == "back");
  CHECK(back.caller == "front");
  CHECK(back.parent_span == front.span);
  CHECK(back.outcome == "ok");
  CHECK(on_b.forced == std::vector<std::string>{"cross-trace"});
  // An untraced call records nothing on either node.
  opts.correlation_id = "cross-untraced";
  opts.trace_forced = false;
  REQUIRE(a.node->call<pb::PingReply>("front", "Ping", pb::PingRequest{}, opts));
  CHECK(a.node->spans({"cross-untraced"}).spans.empty());
  CHECK(b.node->spans({"cross-untraced"}).spans.empty());
}

TEST_CASE("a message published on one node reaches subscribers on the others", "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  member c{"c", {a.address(), b.address()}};
  REQUIRE(eventually([&] { return a.sees("b") && a.sees("c") && b.sees("c"); }));
  heard = 0;
  REQUIRE(b.node->spawn(microlith::worker<listener>("listener-b")));
  REQUIRE(c.node->spawn(microlith::worker<listener>("listener-c")));
  REQUIRE(eventually([&] { return a.node->topics().subscriber_count("news") == 2; }));
  pb::PingRequest msg;
  msg.set_text("hello");
  CHECK(a.node->publish("news", msg) == 2);
  CHECK(eventually([&] { return heard.load() == 2; }));
}

TEST_CASE("a node of another system or with another cookie is refused, and gets nothing",
          "[unit][cluster]") {
  stderr_capture log;
  member a{"a", {}};
  REQUIRE(a.node->spawn(where_service<'a'>("alpha")));

  // Each refusal is logged by the node that refuses and by the node refused, once it reads the
  // refusal: then the handshake is over, and nothing may have been replicated either way.
  SECTION("another cookie") {
    member intruder{"x", {a.address()}, "guess"};
    // x checks a's proof of x's nonce under x's cookie.
    CHECK(log.wait_for("cluster refused node a (", 10s));
    CHECK(log.wait_for("cluster node x refused this node (a): the cookies differ", 10s));
    CHECK_FALSE(a.sees("x"));
    CHECK_FALSE(intruder.sees("a"));
    CHECK(intruder.node->registry().snapshot()->instances("alpha").empty());
  }
  SECTION("another system") {
    member stranger{"x", {a.address()}, "secret", "other"};
    CHECK(log.wait_for("cluster refused node x (", 10s));
    CHECK(log.wait_for("cluster node a refused this node (x): system \"unit\" does not accept "
                       "nodes of system \"other\"",
                       10s));
    CHECK_FALSE(a.sees("x"));
    CHECK_FALSE(stranger.sees("a"));
    CHECK(stranger.node->registry().snapshot()->instances("alpha").empty());
  }
}

TEST_CASE("a peer that has not completed the handshake is ignored: its registrations, "
          "subscriptions, groups and envelopes are dropped",
          "[unit][cluster]") {
  stderr_capture log;
  member a{"a", {}};
  pinged = 0;
  REQUIRE(a.node->spawn(microlith::service<ping_counter>("alpha", "microlith.test.Echo")
                          .handle("Ping", &ping_counter::ping)));
  // The peer: a node with the cluster's transport (same BASP application id, same envelope type)
  // but no agent of its own; it speaks to a's agent by hand.
  cl::cluster_options peer_options;
  peer_options.system = "unit";
  peer_options.node = "x";
  microlith::node_options opts;
  opts.name = "x";
  opts.threads = 2;
  cl::configure_transport(opts, peer_options);
  microlith::node peer{opts};
  auto ghost = peer.spawn(where_service<'x'>("ghost"));
  REQUIRE(ghost);
  auto agent = peer.system().middleman().remote_actor("127.0.0.1", a.membership->port());
  REQUIRE(agent);
  caf::scoped_actor self{peer.system()};
  // Half a handshake: join, and a's challenge comes back.
  self->send(*agent, cl::join_atom::value, std::string{"unit"}, std::string{"x"},
             std::string{"x-nonce"});
  bool challenged = false;
  self->receive([&](cl::challenge_atom, const std::string&, const std::string&, const std::string&,
                    const std::string&) { challenged = true; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  REQUIRE(challenged);
  // Everything an authenticated peer could send, without the proof.
  caf::actor ghost_actor = *ghost;
  self->send(*agent, cl::service_added_atom::value, std::string{"ghost"},
             std::string{"microlith.test.Echo"}, ghost_actor);
  self->send(*agent, cl::subscribed_atom::value, std::string{"news"}, ghost_actor);
  self->send(*agent, cl::groups_atom::value, std::vector<std::string>{"evil"});
  self->send(*agent, cl::state_atom::value, std::vector<std::string>{"evil"},
             std::vector<std::string>{"ghost"}, std::vector<std::string>{"microlith.test.Echo"},
             std::vector<caf::actor>{ghost_actor}, std::vector<std::string>{"news"},
             std::vector<caf::actor>{ghost_actor});
  pb::PingRequest req;
  req.set_value(1);
  microlith::metadata meta;
  meta.caller = "x";
  meta.deadline = microlith::clock::now() + 10s;
  self->send(*agent, microlith::make_call(1, "alpha", "Ping",
                                          std::make_shared<const pb::PingRequest>(req), meta));
  // Then a wrong proof: a refuses it. a handles one sender's messages in the order sent, so when
  // the refusal arrives, a has handled (and dropped) all of the above.
  self->send(*agent, cl::prove_atom::value, std::string{"not a proof"});
  bool refused = false;
  self->receive([&](cl::refuse_atom, const std::string&) { refused = true; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  REQUIRE(refused);
  CHECK(log.wait_for("cluster refused node x (", 10s));
  CHECK(a.node->registry().snapshot()->instances("ghost").empty());
  CHECK(a.node->registry().contract_of("ghost").empty());
  CHECK(a.node->topics().subscriber_count("news") == 0);
  CHECK_FALSE(a.membership->group_running("evil"));
  CHECK_FALSE(a.sees("x"));
  // Had the agent passed the envelope on, alpha would have had it before this call: it would
  // have been queued before the refusal was sent.
  auto own = a.ping("alpha");
  REQUIRE(own);
  CHECK(pinged.load() == 1);
}

TEST_CASE("calls to a service with instances on two other nodes alternate between them",
          "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  member c{"c", {a.address(), b.address()}};
  REQUIRE(eventually([&] { return a.sees("b") && a.sees("c"); }));
  REQUIRE(b.node->spawn(where_service<'b'>("alpha")));
  REQUIRE(c.node->spawn(where_service<'c'>("alpha")));
  REQUIRE(
    eventually([&] { return a.node->registry().snapshot()->instances("alpha").size() == 2; }));
  std::string answered_by;
  for (int i = 0; i < 6; ++i) {
    auto reply = a.ping("alpha");
    REQUIRE(reply);
    answered_by += reply->text();
  }
  CHECK((answered_by == "bcbcbc" || answered_by == "cbcbcb"));
}

TEST_CASE("a node started before its peer joins it when the peer appears", "[unit][cluster]") {
  // Reserve a port for b, free it, and start a pointing at it before b exists.
  std::uint16_t port = 0;
  {
    member probe{"probe", {}};
    port = probe.membership->port();
  }
  stderr_capture log;
  member a{"a", {{"b", "127.0.0.1", port}}};
  // Nothing listens there yet: a's attempt fails, and a says it retries.
  REQUIRE(log.wait_for("node b at 127.0.0.1:" + std::to_string(port) + ": cannot connect", 10s));
  CHECK_FALSE(a.sees("b"));
  // b knows no peer: only a's retry can join them.
  member b{"b", {}, "secret", "unit", port};
  CHECK(eventually([&] { return a.sees("b") && b.sees("a"); }, 10s));
}

TEST_CASE("a body of a type the receiving node does not know is answered bad_request, and "
          "nothing is added for it",
          "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  REQUIRE(a.node->spawn(where_service<'a'>("alpha")));
  REQUIRE(eventually([&] { return !b.node->registry().snapshot()->instances("alpha").empty(); }));
  // A message type that exists only in a pool of this test, not in the generated pool.
  google::protobuf::FileDescriptorProto file;
  file.set_name("evil.proto");
  file.set_package("evil");
  file.set_syntax("proto3");
  auto* type = file.add_message_type();
  type->set_name("Unknown");
  auto* field = type->add_field();
  field->set_name("payload");
  field->set_number(1);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  google::protobuf::DescriptorPool pool;
  REQUIRE(pool.BuildFile(file) != nullptr);
  google::protobuf::DynamicMessageFactory factory{&pool};
  const auto* descriptor = pool.FindMessageTypeByName("evil.Unknown");
  REQUIRE(descriptor != nullptr);
  std::shared_ptr<google::protobuf::Message> body{factory.GetPrototype(descriptor)->New()};
  body->GetReflection()->SetString(body.get(), descriptor->FindFieldByName("payload"), "x");

  auto answer = b.node->call_shared("alpha", "Ping", body);
  REQUIRE_FALSE(answer);
  CHECK(microlith::is(answer.error(), microlith::errc::bad_request));
  CHECK_THAT(microlith::message_of(answer.error()), Catch::Matchers::Contains("evil.Unknown"));
  CHECK(google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName("evil.Unknown")
        == nullptr);
  // The service is unharmed.
  auto fine = b.ping("alpha");
  REQUIRE(fine);
  CHECK(fine->text() == "a");
}

TEST_CASE("a node whose scheduler threads are all busy in long handlers is not declared down",
          "[unit][cluster]") {
  member a{"a", {}}; // two scheduler threads
  member b{"b", {a.address()}};
  REQUIRE(a.node->spawn(microlith::service<sleeper>("sleeper-1", "microlith.test.Echo")
                          .handle("Ping", &sleeper::ping)));
  REQUIRE(a.node->spawn(microlith::service<sleeper>("sleeper-2", "microlith.test.Echo")
                          .handle("Ping", &sleeper::ping)));
  REQUIRE(
    eventually([&] { return b.node->registry().snapshot()->instances("sleeper-2").size() == 1; }));
  // Both of a's scheduler threads sleep 2.5 s, more than twice the heartbeat timeout (1 s).
  auto busy = [&](const std::string& service) {
    pb::PingRequest req;
    req.set_delay_ms(2500);
    microlith::blocking_call_options opts;
    opts.timeout = 5s;
    return static_cast<bool>(b.node->call<pb::PingReply>(service, "Ping", req, opts));
  };
  std::atomic<int> answered{0};
  std::thread one{[&] { answered += busy("sleeper-1") ? 1 : 0; }};
  std::thread two{[&] { answered += busy("sleeper-2") ? 1 : 0; }};
  bool always_seen = true;
  auto until = steady::now() + 2400ms;
  while (steady::now() < until) {
    always_seen = always_seen && b.sees("a") && a.sees("b");
    std::this_thread::sleep_for(10ms);
  }
  one.join();
  two.join();
  CHECK(always_seen);
  CHECK(answered.load() == 2);
  CHECK(b.sees("a"));
}

TEST_CASE("messages from one sender to one receiver on another node keep their order",
          "[unit][cluster]") {
  member a{"a", {}};
  member b{"b", {a.address()}};
  in_order = 0;
  out_of_order = 0;
  REQUIRE(a.node->spawn(microlith::service<order_checker>("order", "microlith.test.Echo")
                          .handle("Ping", &order_checker::ping)));
  REQUIRE(eventually([&] { return !b.node->registry().snapshot()->instances("order").empty(); }));
  REQUIRE(b.node->spawn(microlith::worker<order_sender>("sender")));
  CHECK(eventually([&] { return in_order.load() + out_of_order.load() == 1000; }));
  CHECK(in_order.load() == 1000);
  CHECK(out_of_order.load() == 0);
}

TEST_CASE("a node on an OS-chosen port that restarts as a new process rejoins on its new port",
          "[unit][cluster]") {
  member a{"a", {}};
  REQUIRE(a.node->spawn(where_service<'a'>("alpha")));
  std::uint16_t first_port = 0;
  {
    member b{"b", {a.address()}};
    REQUIRE(b.node->spawn(where_service<'b'>("beta")));
    REQUIRE(eventually([&] { return !a.node->registry().snapshot()->instances("beta").empty(); }));
    first_port = b.membership->port();
  }
  CHECK(eventually([&] { return !a.sees("b"); }));
  CHECK(a.node->registry().snapshot()->instances("beta").empty());
  member again{"b", {a.address()}};
  REQUIRE(again.node->spawn(where_service<'b'>("beta")));
  CHECK(again.membership->port() != first_port);
  CHECK(eventually([&] { return a.sees("b"); }));
  CHECK(eventually([&] { return !a.node->registry().snapshot()->instances("beta").empty(); }));
  auto reply = a.ping("beta");
  REQUIRE(reply);
  CHECK(reply->text() == "b");
}
