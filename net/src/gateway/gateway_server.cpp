#include "microlith/actors/thread_name.hpp"
#include "microlith/net/gateway/gateway.hpp"

#include "gateway/http_session.hpp"
#include "gateway/server_state.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/net/gateway/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <fmt/format.h>

namespace microlith::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Accepts the next connection on its own strand.
void detail::server_state::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [this](boost::system::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted || !acceptor.is_open())
                            return;
                          if (!ec) {
                            bool refuse = open_connections.load() >= options.max_connections;
                            (refuse ? connections_refused : connections_accepted)++;
                            auto tls = options.tls ? options.tls->current() : nullptr;
                            // Over TLS a refusal's 503 would cost a handshake and hold the
                            // socket while it runs, uncounted: the connection is closed at
                            // once instead, so max_connections bounds the open sockets.
                            if (refuse && tls) {
                              boost::system::error_code ignored;
                              socket.close(ignored);
                              do_accept();
                              return;
                            }
                            auto stream = tls ? gateway_stream(std::move(socket), std::move(tls))
                                              : gateway_stream(std::move(socket));
                            std::make_shared<http_session>(*this, std::move(stream), refuse)->run();
                          }
                          do_accept();
                        });
}

void answer_inbox::push(answer a) {
  bool first;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    first = waiting_.empty();
    waiting_.push_back(std::move(a));
  }
  if (first)
    net::post(ioc_, [this] { drain(); });
}

// Hands every waiting answer to its session.
void answer_inbox::drain() {
  std::vector<answer> batch;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    batch.swap(waiting_);
    waiting_.swap(spare_);
  }
  for (auto& a : batch)
    http_session::deliver(a.session->end_call(), std::move(a.result));
  batch.clear();
  std::lock_guard<std::mutex> guard{mutex_};
  if (spare_.capacity() < batch.capacity())
    spare_.swap(batch);
}

void answer_inbox::clear() {
  std::vector<answer> dropped;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    dropped.swap(waiting_);
  }
  for (auto& a : dropped)
    a.session->end_call(); // the session goes, unless something else still holds it
}

bool is_loopback_client(const net::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).is_loopback();
  return address.is_loopback();
}

std::optional<metrics_access> parse_metrics_access(std::string_view text) {
  if (text == "open")
    return metrics_access::open;
  if (text == "admin")
    return metrics_access::admin;
  if (text == "off")
    return metrics_access::off;
  return std::nullopt;
}

std::string_view to_string(metrics_access access) {
  switch (access) {
    case metrics_access::open: return "open";
    case metrics_access::admin: return "admin";
    case metrics_access::off: return "off";
  }
  return "open";
}

std::vector<std::string> reserved_paths(const std::string& websocket_path, bool admin,
                                        const std::vector<std::string>& admin_prefixes,
                                        const std::vector<std::string>& own_paths) {
  std::vector<std::string> out{"/healthz", "/readyz"};
  if (!websocket_path.empty())
    out.push_back(websocket_path);
  if (admin)
    out.emplace_back("/_microlith/reload");
  for (const auto& prefix : admin_prefixes) {
    out.push_back(prefix);
    out.push_back(prefix + "/");
  }
  for (const auto& path : own_paths)
    out.push_back(path);
  return out;
}

std::vector<std::string> reserved_paths(const gateway_options& options) {
  std::vector<std::string> prefixes;
  for (const auto& entry : options.admin_operations)
    prefixes.push_back(entry.first);
  std::vector<std::string> own;
  if (options.metrics_endpoint != metrics_access::off)
    own.emplace_back(metrics_path);
  for (const auto& entry : options.admin_feeds)
    own.push_back(entry.first);
  for (const auto& entry : options.admin_pages)
    own.push_back(entry.first);
  return reserved_paths(options.websocket_path, static_cast<bool>(options.admin_reload), prefixes,
                        own);
}

void admin_calls::add(std::uint64_t id, delivery deliver) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (open_)
    waiting_.emplace(id, std::move(deliver));
}

std::uint64_t admin_calls::next_id() {
  std::lock_guard<std::mutex> guard{mutex_};
  return ++last_id_;
}

void admin_calls::complete(std::uint64_t id, admin_response answer) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (!open_)
    return; // the gateway has stopped
  auto it = waiting_.find(id);
  if (it == waiting_.end())
    return; // answered already
  auto deliver = std::move(it->second);
  waiting_.erase(it);
  // Posted while the lock is held: the gateway cannot close (and then destroy its io_context)
  // meanwhile. A handler still queued when the gateway stops goes with the io_context.
  deliver(std::move(answer));
}

void admin_calls::close() {
  std::unordered_map<std::uint64_t, delivery> dropped;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    open_ = false;
    dropped.swap(waiting_);
  }
  // the sessions go now, on this thread, unless something else still holds them
}

caf::expected<std::unique_ptr<gateway_server>>
gateway_server::start(node& host_node, gateway_options options,
                      std::shared_ptr<route_switch> routes, async_caller caller, readiness ready) {
  if (options.io_threads < 1)
    return make_error(errc::bad_request, fmt::format("gateway io_threads: expected at least 1, "
                                                     "got {}",
                                                     options.io_threads));
  for (const auto& [prefix, operation] : options.admin_operations)
    if (prefix.size() < 2 || prefix.front() != '/' || prefix.back() == '/' || !operation)
      return make_error(errc::bad_request,
                        fmt::format("gateway admin operation \"{}\": expected a path prefix "
                                    "such as /_microlith/modules (a leading '/', no trailing "
                                    "one) with an operation",
                                    prefix));
  for (const auto& [path, feed] : options.admin_feeds) {
    if (path.size() < 2 || path.front() != '/' || path == options.websocket_path
        || path == metrics_path)
      return make_error(errc::bad_request,
                        fmt::format("gateway admin feed \"{}\": expected a path starting with "
                                    "'/', not the WebSocket path nor {}",
                                    path, metrics_path));
    if (options.admin_operations.count(feed.operation) == 0)
      return make_error(errc::bad_request,
                        fmt::format("gateway admin feed \"{}\": its operation \"{}\" is not a "
                                    "prefix of admin_operations",
                                    path, feed.operation));
    if (feed.interval.count() <= 0)
      return make_error(errc::bad_request,
                        fmt::format("gateway admin feed \"{}\": expected an interval > 0, got "
                                    "{} ms",
                                    path, feed.interval.count()));
  }
  if ((options.admin_reload || !options.admin_operations.empty()
       || options.metrics_endpoint == metrics_access::admin)
      && options.admin_token.empty())
    return make_error(errc::bad_request, "gateway admin endpoint: no admin token is set; admin "
                                         "requests must bear one (Authorization: Bearer TOKEN)");
  if (options.tls && !options.tls->current())
    return make_error(errc::bad_request, "gateway TLS: the switch holds no certificate");
  auto st = std::make_shared<detail::server_state>();
  st->host = &host_node;
  st->options = std::move(options);
  st->routes = routes ? std::move(routes) : std::make_shared<route_switch>();
  st->caller = std::move(caller);
  st->ready = std::move(ready);
  st->hub = std::make_unique<topic_hub>(host_node, st->gate);
  boost::system::error_code ec;
  auto address = net::ip::make_address(st->options.host, ec);
  if (ec)
    return make_error(errc::bad_request, fmt::format("gateway listen address \"{}\": {}",
                                                     st->options.host, ec.message()));
  tcp::endpoint endpoint{address, st->options.port};
  st->acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    st->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    st->acceptor.bind(endpoint, ec);
  if (!ec)
    st->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(errc::service_unavailable,
                      fmt::format("gateway cannot listen on {}:{}: {}", st->options.host,
                                  st->options.port, ec.message()));
  st->port = st->acceptor.local_endpoint().port();
  st->do_accept();
  for (int i = 0; i < st->options.io_threads; ++i)
    st->threads.emplace_back([s = st.get()] {
      name_this_thread("ml.gateway");
      s->ioc.run();
    });
  log::info("gateway", "listening on {}://{}:{}", st->options.tls ? "https" : "http",
            st->options.host, st->port);
  return std::unique_ptr<gateway_server>{new gateway_server(std::move(st))};
}

gateway_server::gateway_server(std::shared_ptr<detail::server_state> s) : state_(std::move(s)) {}

gateway_server::~gateway_server() {
  state_->ioc.stop();
  for (auto& t : state_->threads)
    t.join();
  state_->threads.clear();
  // No I/O thread runs any more. Calls in flight complete now, into the inbox; close()
  // returns once no completion runs any more.
  state_->caller.close();
  {
    std::unique_lock<std::shared_mutex> guard{state_->gate->mutex};
    state_->gate->open = false; // from now on no topic delivery posts anything
  }
  state_->answers.clear(); // the sessions waiting for their answers go now, on this thread
  state_->admin->close();  // and those waiting for an admin operation; later answers are dropped
  // The state goes with the last reference: its io_context first (dropping the sessions it
  // still holds, which use the rest), then the acceptor's socket, the hub and its relay.
}

std::uint16_t gateway_server::port() const noexcept {
  return state_->port;
}

route_switch& gateway_server::routes() noexcept {
  return *state_->routes;
}

std::shared_ptr<http_metrics> gateway_server::metrics() const noexcept {
  return state_->options.metrics;
}

gateway_stats gateway_server::stats() const {
  gateway_stats out;
  out.connections_accepted = state_->connections_accepted.load();
  out.connections_refused = state_->connections_refused.load();
  out.requests = state_->requests.load();
  out.websocket_sessions = state_->websocket_sessions.load();
  out.websocket_dropped = state_->websocket_dropped.load();
  out.open_connections = state_->open_connections.load();
  return out;
}

} // namespace microlith::gateway
