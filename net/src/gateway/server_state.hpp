// What a running gateway's sessions share: options, routes, the call path and the inbox through
// which call answers reach the sessions, counters, the topic hub, and the gate that keeps topic
// deliveries (from actor threads) away from a gateway that is stopping. Members are declared so
// that the io_context is destroyed first: the sessions it still holds may use everything
// declared before it. The inbox, declared after it, is emptied before (the sessions it holds
// use the io_context).
#pragma once

#include "microlith/net/gateway/gateway.hpp"

#include "gateway/admin_guard.hpp"
#include "gateway/topic_hub.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace microlith::gateway {

class http_session;

/// Open while the gateway runs. Code running outside the I/O threads (topic deliveries) holds
/// it shared while it posts into the io_context; stopping takes it exclusively and closes it,
/// after which nothing more is posted. (Call completions need no gate: the gateway closes its
/// caller, which waits for them, before anything they use goes.)
struct post_gate {
  std::shared_mutex mutex;
  bool open = true;
};

/// Answers of calls on their way from actor threads to their sessions. A completion appends
/// its answer; the append that finds the inbox empty posts one handler into the io_context,
/// which hands every answer waiting by then to its session (on the session's strand). One
/// wake-up of an I/O thread serves a batch of answers, and the actor threads do not touch
/// Asio's strands.
class answer_inbox {
public:
  struct answer {
    http_session* session = nullptr; // alive until its call ends (http_session::end_call)
    caf::expected<message_ptr> result{message_ptr{}};
  };

  explicit answer_inbox(boost::asio::io_context& ioc) : ioc_(ioc) {}

  /// Appends `a` (from any thread, while the gateway's caller is open).
  void push(answer a);

  /// Drops every waiting answer, ending the sessions' calls (when the I/O threads have stopped
  /// and the caller is closed).
  void clear();

private:
  void drain(); // on an I/O thread

  boost::asio::io_context& ioc_;
  std::mutex mutex_;
  std::vector<answer> waiting_; // requires mutex_
  std::vector<answer> spare_;   // requires mutex_; an emptied batch, kept for its capacity
};

/// Sessions waiting for an admin operation's answer (admin_operation.hpp), or a metrics
/// renderer's, by call id. The `done` an operation gets holds this table (shared) and the id, not
/// the session nor the gateway: a late answer, after the client went or the gateway stopped,
/// finds nothing and is dropped. A waiting session is kept alive here (by its delivery) until its
/// answer comes or the gateway stops.
class admin_calls {
public:
  /// Hands an answer to its session's strand (posts; never runs the session's code itself). It
  /// holds the session.
  using delivery = std::function<void(admin_response)>;

  /// A fresh call id.
  std::uint64_t next_id();

  /// Keeps `deliver` until call `id` is answered (nothing once closed).
  void add(std::uint64_t id, delivery deliver);

  /// Hands the answer of call `id` to its delivery (from any thread); nothing when the call was
  /// answered already or the table is closed.
  void complete(std::uint64_t id, admin_response answer);

  /// Drops every waiting session (when the I/O threads have stopped); later answers are dropped.
  void close();

private:
  std::mutex mutex_;
  bool open_ = true;                                    // requires mutex_
  std::uint64_t last_id_ = 0;                           // requires mutex_
  std::unordered_map<std::uint64_t, delivery> waiting_; // requires mutex_
};

namespace detail {

struct server_state {
  node* host = nullptr;
  gateway_options options;
  std::shared_ptr<route_switch> routes;
  async_caller caller;
  gateway_server::readiness ready;
  std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();
  attempt_limiter admin_attempts; ///< failed admin requests per client address

  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> websocket_sessions{0};
  std::atomic<std::uint64_t> websocket_dropped{0};
  std::atomic<std::size_t> open_connections{0};

  std::unique_ptr<topic_hub> hub;
  std::vector<std::thread> threads;
  boost::asio::io_context ioc;
  answer_inbox answers{ioc};
  std::shared_ptr<admin_calls> admin = std::make_shared<admin_calls>();
  boost::asio::ip::tcp::acceptor acceptor{ioc};
  std::uint16_t port = 0;

  void do_accept();
};

} // namespace detail

} // namespace microlith::gateway
