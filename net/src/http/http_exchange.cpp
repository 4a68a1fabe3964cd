#include "http/http_exchange.hpp"

#include "http/http_errors.hpp"

#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <initializer_list>
#include <string_view>
#include <utility>

namespace microlith::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

std::string text(beast::string_view s) {
  return {s.data(), s.size()};
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::size_t body_limit_of(const http_request& request, const http_client_options& options) {
  return request.max_response_bytes > 0 ? request.max_response_bytes : options.max_response_bytes;
}

void drop_headers(std::vector<header>& headers, std::initializer_list<std::string_view> names) {
  std::vector<header> kept;
  for (auto& h : headers) {
    bool drop = false;
    for (auto name : names)
      drop = drop || beast::iequals(h.name, beast::string_view{name.data(), name.size()});
    if (!drop)
      kept.push_back(std::move(h));
  }
  headers = std::move(kept);
}

} // namespace

http_exchange::http_exchange(client_core& core, http_request request, http_url url,
                             clock::time_point started, clock::time_point deadline,
                             std::function<void(http_outcome)> done)
  : core_(core), request_(std::move(request)), url_(std::move(url)), origin_(url_.origin()),
    name_(request_name(request_.method, url_)), started_(started), deadline_(deadline),
    done_(std::move(done)), timer_(core.io), resolver_(core.io) {}

void http_exchange::start() {
  core_.in_flight.insert(this);
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec)
      self->on_deadline();
  });
  acquire();
}

void http_exchange::abort() {
  finish({}, client_closed(name_));
}

void http_exchange::acquire() {
  auto got = core_.pool.acquire(
    origin_, [self = shared_from_this()](std::shared_ptr<http_connection> connection) {
      self->waiting_ = false;
      if (self->finished_) { // its deadline passed as the connection was handed over
        bool reusable = connection != nullptr;
        self->core_.pool.release(self->origin_, std::move(connection), reusable);
        return;
      }
      self->holds_slot_ = true;
      self->on_granted(std::move(connection));
    });
  using kind = connection_pool::acquired::kind;
  switch (got.how) {
    case kind::full: finish({}, queue_full(name_, core_.options.max_waiting_per_host)); return;
    case kind::wait:
      waiting_ = true;
      ticket_ = got.ticket;
      return;
    case kind::reuse:
    case kind::open:
      holds_slot_ = true;
      on_granted(std::move(got.connection));
      return;
  }
}

void http_exchange::on_granted(std::shared_ptr<http_connection> connection) {
  reused_ = connection != nullptr;
  if (reused_) {
    connection_ = std::move(connection);
    send();
  } else {
    resolve();
  }
}

void http_exchange::resolve() {
  resolver_.async_resolve(
    url_.host, std::to_string(url_.port),
    [self = shared_from_this()](const error_code& ec,
                                const asio::ip::tcp::resolver::results_type& addresses) {
      if (self->finished_)
        return;
      if (ec)
        return self->finish({}, resolve_failed(self->name_, self->url_, ec));
      self->connect(addresses);
    });
}

void http_exchange::connect(const asio::ip::tcp::resolver::results_type& addresses) {
  connection_ =
    std::make_shared<http_connection>(core_.io, url_.tls() ? &core_.tls : nullptr, url_.host);
  connection_->tcp().async_connect(
    addresses, [self = shared_from_this()](const error_code& ec, const asio::ip::tcp::endpoint&) {
      if (self->finished_)
        return;
      if (ec)
        return self->finish({}, connect_failed(self->name_, self->url_, ec));
      ++self->core_.connections_opened;
      error_code ignored;
      self->connection_->tcp().socket().set_option(asio::ip::tcp::no_delay{true}, ignored);
      if (self->url_.tls())
        self->handshake();
      else
        self->send();
    });
}

void http_exchange::handshake() {
  connection_->tls_stream().async_handshake(
    asio::ssl::stream_base::client, [self = shared_from_this()](const error_code& ec) {
      if (self->finished_)
        return;
      if (ec)
        return self->finish(
          {}, tls_failed(self->name_, self->url_, ec, self->connection_->verify_error()));
      self->send();
    });
}

void http_exchange::send() {
  out_ = {};
  out_.version(11);
  if (auto verb = bhttp::string_to_verb(request_.method); verb != bhttp::verb::unknown)
    out_.method(verb);
  else
    out_.method_string(request_.method);
  out_.target(url_.target);
  out_.set(bhttp::field::host, url_.host_header());
  out_.set(bhttp::field::user_agent, core_.options.user_agent);
  for (const auto& h : request_.headers) {
    if (beast::iequals(h.name, "host") || beast::iequals(h.name, "user-agent"))
      out_.set(h.name, h.value);
    else
      out_.insert(h.name, h.value);
  }
  out_.body() = request_.body;
  out_.prepare_payload();
  out_.keep_alive(true);

  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(core_.options.max_header_bytes));
  parser_->body_limit(static_cast<std::uint64_t>(body_limit_of(request_, core_.options)));
  if (out_.method() == bhttp::verb::head)
    parser_->skip(true);

  connection_->with_stream([this](auto& stream) {
    bhttp::async_write(stream, out_,
                       [self = shared_from_this()](const error_code& ec, std::size_t) {
                         if (self->finished_)
                           return;
                         if (ec)
                           return self->on_failed(ec, true);
                         self->read();
                       });
  });
}

void http_exchange::read() {
  // The header first, then the body: Beast 1.74's parser loses the body_limit error of a
  // Content-Length over the limit when it parses eagerly past the header (async_read does).
  connection_->with_stream([this](auto& stream) {
    bhttp::async_read_header(stream, connection_->buffer, *parser_,
                             [self = shared_from_this()](const error_code& ec, std::size_t) {
                               if (self->finished_)
                                 return;
                               if (ec)
                                 return self->on_failed(ec, false);
                               self->read_body();
                             });
  });
}

void http_exchange::read_body() {
  if (parser_->is_done())
    return on_response();
  connection_->with_stream([this](auto& stream) {
    bhttp::async_read(stream, connection_->buffer, *parser_,
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                        if (self->finished_)
                          return;
                        if (ec)
                          return self->on_failed(ec, false);
                        self->on_response();
                      });
  });
}

void http_exchange::on_failed(const error_code& ec, bool sending) {
  bool nothing_back = sending || !parser_->got_some();
  if (reused_ && !retried_ && nothing_back && is_idempotent(request_.method)) {
    // The server closed the idle connection as it was taken: once more, on a new connection.
    retried_ = true;
    give_back(false);
    acquire();
    return;
  }
  finish({}, exchange_failed(name_, ec, body_limit_of(request_, core_.options),
                             core_.options.max_header_bytes));
}

void http_exchange::on_response() {
  auto res = parser_->release();
  give_back(res.keep_alive() && !res.need_eof());
  http_response out;
  out.status = res.result_int();
  out.reason = text(res.reason());
  for (const auto& field : res)
    out.headers.push_back({text(field.name_string()), text(field.value())});
  out.body = std::move(res.body());
  out.url = url_.text();
  const auto* location = out.find_header("location");
  if (redirects_ < request_.max_redirects && is_redirect(out.status) && location != nullptr) {
    auto next = resolve_location(url_, *location);
    if (!next)
      return finish({}, next.error());
    ++redirects_;
    if (out.status == 303
        || ((out.status == 301 || out.status == 302) && request_.method == "POST")) {
      request_.method = "GET";
      request_.body.clear();
      drop_headers(request_.headers, {"content-type", "content-length"});
    }
    if (next->origin() != url_.origin())
      drop_headers(request_.headers, {"authorization", "cookie"});
    url_ = std::move(*next);
    origin_ = url_.origin();
    name_ = request_name(request_.method, url_);
    retried_ = false;
    acquire();
    return;
  }
  ++core_.requests_completed;
  finish(std::move(out), {});
}

void http_exchange::on_deadline() {
  if (finished_)
    return;
  auto allowed = std::chrono::round<std::chrono::milliseconds>(deadline_ - started_);
  finish({}, timed_out(name_, allowed));
}

void http_exchange::give_back(bool reusable) {
  if (!holds_slot_)
    return;
  holds_slot_ = false;
  core_.pool.release(origin_, std::move(connection_), reusable);
  connection_.reset();
}

void http_exchange::finish(http_response response, caf::error err) {
  if (finished_)
    return;
  finished_ = true;
  timer_.cancel();
  resolver_.cancel();
  if (waiting_) {
    core_.pool.cancel(origin_, ticket_);
    waiting_ = false;
  }
  if (holds_slot_) {
    // Operations may still be in progress on the connection: close it (they end aborted) but
    // keep it until their handlers have run; the slot is free now.
    holds_slot_ = false;
    if (connection_)
      connection_->close();
    core_.pool.release(origin_, nullptr, false);
  }
  core_.in_flight.erase(this);
  auto done = std::move(done_);
  done(http_outcome{std::move(response), std::move(err)});
}

} // namespace microlith::http::detail
