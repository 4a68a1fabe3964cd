#include "gateway/http_session.hpp"

#include "gateway/admin_guard.hpp"
#include "gateway/request_checks.hpp"
#include "gateway/server_state.hpp"
#include "gateway/websocket_session.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/net/gateway/http_binding.hpp"
#include "microlith/net/gateway/toggle_overrides_header.hpp"

#include <google/protobuf/message.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace microlith::gateway {

namespace beast = boost::beast;
namespace http = beast::http;

http_session::http_session(detail::server_state& st, gateway_stream&& stream, bool refuse)
  : st_(st), stream_(std::move(stream)), refuse_(refuse), counted_(!refuse) {
  if (counted_)
    st_.open_connections++;
}

http_session::~http_session() {
  if (counted_)
    st_.open_connections--;
}

void http_session::run() {
  // Start on the connection's strand: TLS's handshake first, within request_timeout (a client
  // that never finishes it, or speaks plain HTTP to an HTTPS port, is cut off).
  boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->stream_.secure())
      return self->start();
    self->stream_.expires_after(self->st_.options.request_timeout);
    self->stream_.async_handshake(
      beast::bind_front_handler(&http_session::on_handshake, self->shared_from_this()));
  });
}

// TLS is set up (or failed: the connection closes, its socket with the session).
void http_session::on_handshake(beast::error_code ec) {
  if (ec) {
    log::debug("gateway", "TLS handshake failed: {}", ec.message());
    beast::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return;
  }
  start();
}

// Serves the connection's requests, or refuses it when the gateway has too many.
void http_session::start() {
  if (refuse_) {
    request_id_ = make_correlation_id();
    arrived_ = std::chrono::steady_clock::now();
    if (st_.options.metrics)
      counted_as_ = &st_.options.metrics->unrouted();
    reply_error(
      503, "service_unavailable",
      fmt::format("the gateway serves at most {} connections at once", st_.options.max_connections),
      false);
    return;
  }
  do_wait();
}

// Waits for the next request's first bytes, at most idle_timeout.
void http_session::do_wait() {
  if (buffer_.size() > 0) { // a pipelined request is already here
    do_read();
    return;
  }
  stream_.expires_after(st_.options.idle_timeout);
  stream_.async_read_some(
    buffer_.prepare(std::min<std::size_t>(st_.options.max_header_bytes, 4096)),
    beast::bind_front_handler(&http_session::on_first_bytes, shared_from_this()));
}

// Bytes arrived (or the connection was idle too long, or closed).
void http_session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec)
    return close();
  buffer_.commit(bytes);
  do_read();
}

// Parses the request's head from the bytes already here and, when they are not all of it,
// reads the rest of the head, at most request_timeout from its first byte. The body waits until
// the head has decided its limit (on_header).
void http_session::do_read() {
  arrived_ = std::chrono::steady_clock::now();
  table_.reset();
  admin_.reset();
  // Counted under no route until it is routed, or not at all when the gateway serves it itself.
  counted_as_ = st_.options.metrics ? &st_.options.metrics->unrouted() : nullptr;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(st_.options.max_header_bytes));
  // No limit yet: on_header sets the one of this request's path (and checks Content-Length).
  body_limit_ = st_.options.max_body_bytes;
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->eager(false); // put() stops at the end of the head
  beast::error_code ec;
  while (!ec && !parser_->is_header_done() && buffer_.size() > 0) {
    auto used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (used == 0)
      break;
  }
  if (ec && ec != http::error::need_more)
    return on_read(ec, 0);
  stream_.expires_after(st_.options.request_timeout);
  if (parser_->is_header_done())
    return on_header({}, 0);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&http_session::on_header, shared_from_this()));
}

// The request's head arrived. For an admin path, the admin rules are applied now: a refused
// admin request with a body is answered without reading it, and the connection closes. Its
// path decides the body's limit (413 at once when its Content-Length is over it). Then the body is
// parsed from the bytes already here (most requests arrive whole with their first bytes: answering
// them needs no read) or read. A client that sent `Expect: 100-continue` waits for an interim 100
// before it sends the body (RFC 9110 §10.1.1): it gets one when the head alone does not refuse the
// request. A request its head refuses gets its final status at once, with the body unread, and
// the connection closes.
void http_session::on_header(beast::error_code ec, std::size_t) {
  if (ec)
    return on_read(ec, 0);
  auto& head = parser_->get();
  body_limit_ = body_limit_for(head);
  if (admin_ && admin_->status != 0 && !parser_->is_done()) {
    head.keep_alive(false); // answered with its body unread, whatever its length
    return on_read({}, 0);
  }
  if (auto length = parser_->content_length(); length && *length > body_limit_)
    return on_read(http::error::body_limit, 0);
  parser_->body_limit(body_limit_); // a chunked body counts against it as it comes
  parser_->eager(true);
  while (!ec && !parser_->is_done() && buffer_.size() > 0) {
    auto used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (used == 0)
      break;
  }
  if (parser_->is_done() || (ec && ec != http::error::need_more))
    return on_read(ec, 0);
  if (head.version() < 11 || !beast::iequals(head[http::field::expect], "100-continue"))
    return read_body();
  table_ = st_.routes->current(); // decided on this table, answered on it
  if (refused_by_head(head)) {
    head.keep_alive(false);
    return on_read({}, 0);
  }
  static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
  boost::asio::async_write(
    stream_, boost::asio::buffer(interim.data(), interim.size()),
    beast::bind_front_handler(&http_session::on_continue, shared_from_this()));
}

// The interim 100 is out: the client sends the body now.
void http_session::on_continue(beast::error_code ec, std::size_t) {
  if (ec)
    return close();
  read_body();
}

// Reads the rest of the request, within the time left of request_timeout.
void http_session::read_body() {
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

// The body limit of a request with this head: admin_max_body_bytes for an admin operation's
// path whose head passes the admin rules, max_body_bytes for anything else. Applies the admin
// rules (admin_) to the head of an admin request: the reload's POST or an admin operation's
// path.
std::size_t http_session::body_limit_for(const request_header& head) {
  auto target = std::string_view(head.target().data(), head.target().size());
  auto path = target.substr(0, target.find('?'));
  auto verb = std::string_view(head.method_string().data(), head.method_string().size());
  if (st_.options.admin_reload && path == "/_microlith/reload" && verb == "POST") {
    admin_ = check_admin(head);
    return st_.options.max_body_bytes;
  }
  if (is_feed(path)) // an upgrade: its admin rules are applied when it is handled
    return st_.options.max_body_bytes;
  if (admin_operation_for(path) == nullptr)
    return st_.options.max_body_bytes;
  admin_ = check_admin(head);
  return admin_->status == 0 ? st_.options.admin_max_body_bytes : st_.options.max_body_bytes;
}

// The admin operation serving `path`, if any.
const admin_operation* http_session::admin_operation_for(std::string_view path) const {
  for (const auto& [prefix, operation] : st_.options.admin_operations)
    if (under_admin_prefix(path, prefix))
      return &operation;
  return nullptr;
}

// Whether `path` is an admin feed's.
bool http_session::is_feed(std::string_view path) const {
  return !st_.options.admin_feeds.empty() && st_.options.admin_feeds.count(std::string(path)) > 0;
}

// Whether handle() answers a request with this head without reading its body: an invalid
// X-Request-Id, or a path the table routes nowhere, not for this verb, or with a malformed
// parameter (the gateway's own paths are not refused; an admin request refused by the admin
// rules was answered before).
bool http_session::refused_by_head(const request_header& head) const {
  auto id = head["X-Request-Id"];
  if (!id.empty() && !valid_request_id(std::string_view(id.data(), id.size())))
    return true;
  auto target = std::string_view(head.target().data(), head.target().size());
  auto path = target.substr(0, target.find('?'));
  auto verb = std::string_view(head.method_string().data(), head.method_string().size());
  if (admin_operation_for(path) != nullptr)
    return false;
  for (const auto& own : reserved_paths(st_.options))
    if (path == own)
      return false;
  auto m = table_->match(verb, path);
  return m.result != route_match::outcome::found || !m.decode_error.empty();
}

// A whole request arrived, or a limit was hit (or the request is malformed).
void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout
      || ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
    return close();
  request_id_ = make_correlation_id();
  version_ = 11;
  head_ = false;
  if (ec == http::error::header_limit)
    return reply_error(
      431, "bad_request",
      fmt::format("the request line and headers exceed {} bytes", st_.options.max_header_bytes),
      false);
  if (ec == http::error::body_limit)
    return reply_error(413, "bad_request", fmt::format("the body exceeds {} bytes", body_limit_),
                       false);
  if (ec)
    return reply_error(400, "bad_request", fmt::format("malformed request: {}", ec.message()),
                       false);
  handle(parser_->release());
}

// Answers one request: a refusal of its headers, the gateway's own paths (health, readiness,
// the admin reload and operations, the WebSocket endpoint), or its route.
void http_session::handle(request req) {
  st_.requests++;
  stream_.expires_never(); // the call's deadline bounds the wait now
  keep_alive_ = req.keep_alive();
  version_ = req.version();
  head_ = req.method() == http::verb::head;
  if (refused_headers(req)) // before anything is served, health checks included
    return;
  auto target = std::string_view(req.target().data(), req.target().size());
  auto question = target.find('?');
  auto path = target.substr(0, question);
  auto query =
    question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  auto verb = std::string_view(req.method_string().data(), req.method_string().size());
  auto read_only = verb == "GET" || verb == "HEAD";
  auto counted_as = counted_as_;
  counted_as_ = nullptr; // the gateway's own paths are not counted
  if (path == "/healthz" && read_only)
    return reply(200, "{\"status\":\"live\"}", keep_alive_);
  if (path == "/readyz" && read_only)
    return answer_readiness();
  if (path == metrics_path && st_.options.metrics_endpoint != metrics_access::off)
    return serve_metrics(req, query, verb);
  if (is_feed(path)) {
    auto feed = st_.options.admin_feeds.find(std::string(path));
    return open_feed(std::move(req), feed->first, feed->second, query);
  }
  if (!st_.options.admin_pages.empty()) { // no path copy per request without admin pages
    if (auto page = st_.options.admin_pages.find(std::string(path));
        page != st_.options.admin_pages.end())
      return serve_admin_page(req, page->second, verb);
  }
  if (st_.options.admin_reload && path == "/_microlith/reload")
    return admin_reload(verb);
  if (const auto* operation = admin_operation_for(path))
    return run_admin_operation(std::move(req), *operation, path, query, verb);
  if (!st_.options.websocket_path.empty() && path == st_.options.websocket_path)
    return upgrade(std::move(req));
  counted_as_ = counted_as;
  route(req, path, query, verb);
}

// Answers 400 when X-Request-Id or Host is invalid, and takes the request's id from
// X-Request-Id when it has one. True when it answered.
bool http_session::refused_headers(const request& req) {
  auto header_id = req["X-Request-Id"];
  auto given_id = std::string_view(header_id.data(), header_id.size());
  if (!given_id.empty()) {
    if (!valid_request_id(given_id)) {
      reply_error(400, "bad_request",
                  fmt::format("X-Request-Id: expected 1 to {} characters of [A-Za-z0-9._:-], got "
                              "{} characters",
                              max_request_id, given_id.size()),
                  keep_alive_, "X-Request-Id");
      return true;
    }
    request_id_ = std::string(given_id);
  }
  if (auto problem = host_problem(req)) {
    reply_error(400, "bad_request", *problem, keep_alive_, "Host");
    return true;
  }
  return false;
}

// GET /readyz: 200 when every group this system needs runs, else 503 naming those that do not:
// {"status":"not ready","message":"...","not_running":["ledger"]}
void http_session::answer_readiness() {
  auto report = st_.ready ? st_.ready() : readiness_report{};
  if (report.ready)
    return reply(200, "{\"status\":\"ready\"}", keep_alive_);
  std::string body = "{\"status\":\"not ready\",\"message\":";
  body += json_quote(report.message.empty() ? "not ready" : report.message);
  body += ",\"not_running\":[";
  for (std::size_t i = 0; i < report.not_running.size(); ++i)
    body += (i == 0 ? "" : ",") + json_quote(report.not_running[i]);
  body += "]}";
  reply(503, std::move(body), keep_alive_);
}

// The WebSocket endpoint: a valid upgrade request hands the connection to a WebSocket session;
// anything else is answered 400 here (not upgraded).
void http_session::upgrade(request req) {
  if (!beast::websocket::is_upgrade(req))
    return reply_error(400, "bad_request",
                       fmt::format("{} is the WebSocket endpoint: send an upgrade request",
                                   st_.options.websocket_path),
                       keep_alive_);
  if (auto problem = websocket_key_problem(req))
    return reply_error(400, "bad_request", *problem, keep_alive_, "Sec-WebSocket-Key");
  counted_ = false; // the WebSocket session holds the connection's place from now on
  std::make_shared<websocket_session>(st_, std::move(stream_))->run(std::move(req));
  // the connection belongs to the WebSocket session now
}

// A request for a route: matched on this request's table (whatever is installed meanwhile),
// its parameters, query and body bound to the route's request type, its Idempotency-Key
// checked, then called.
void http_session::route(const request& req, std::string_view path, std::string_view query,
                         std::string_view verb) {
  auto table = table_ ? std::move(table_) : st_.routes->current();
  auto m = table->match(verb, path);
  if (m.result == route_match::outcome::no_route)
    return reply_error(404, "no_route", fmt::format("no route for {} {}", verb, path), keep_alive_);
  if (m.result == route_match::outcome::found && st_.options.metrics)
    counted_as_ = &st_.options.metrics->of(*table, *m.target);
  if (m.result == route_match::outcome::wrong_verb) {
    auto body = error_body("method_not_allowed",
                           fmt::format("{} does not serve {}; it serves {}", path, verb, m.allow),
                           request_id_);
    return reply(405, std::move(body), keep_alive_, m.allow);
  }
  if (!m.decode_error.empty())
    return reply_error(400, "bad_request", m.decode_error, keep_alive_, m.decode_field);
  auto params = parse_query(query);
  if (!params)
    return reply_error(400, "bad_request", message_of(params.error()), keep_alive_);
  auto content_type = req[http::field::content_type];
  auto bound = bind_request(*m.target->request_type, req.body(),
                            std::string_view(content_type.data(), content_type.size()), *params,
                            m.path_params);
  if (!bound.message)
    return reply_error(400, "bad_request", bound.error.message, keep_alive_, bound.error.field);
  std::string idempotency_key;
  if (req.count("Idempotency-Key") > 1)
    return reply_error(400, "bad_request",
                       "Idempotency-Key: given more than once; send one key per request",
                       keep_alive_, "Idempotency-Key");
  if (auto header = req.find("Idempotency-Key"); header != req.end()) {
    auto key =
      parse_idempotency_key(std::string_view(header->value().data(), header->value().size()));
    if (!key)
      return reply_error(400, "bad_request", message_of(key.error()), keep_alive_,
                         "Idempotency-Key");
    idempotency_key = std::move(*key);
  }
  toggle_overrides overrides;
  if (auto err = read_toggle_overrides(req, overrides))
    return reply_error(400, "bad_request", message_of(err), keep_alive_, toggle_overrides_header);
  bool traced = false;
  bool forced = false;
  if (auto err = read_trace(req, traced, forced))
    return reply_error(400, "bad_request", message_of(err), keep_alive_, trace_header);
  if (traced) {
    root_span_ = span_record{};
    root_span_.correlation_id = request_id_;
    root_span_.span = st_.host->new_span_id();
    root_span_.service = "http";
    root_span_.method = m.target->spec.verb + " " + m.target->spec.pattern;
    root_span_.node = st_.host->options().name;
    root_span_.caller = "client";
    root_span_.forced = forced;
  }
  dispatch(m.target->spec, message_ptr{std::move(bound.message)}, std::move(idempotency_key),
           std::move(overrides));
}

// The request's X-Microlith-Toggles header: read only when the node honours overrides (else
// counted and left unread); given more than once, it is refused (one header holds them all).
caf::error http_session::read_toggle_overrides(const request& req, toggle_overrides& out) {
  const beast::string_view name{toggle_overrides_header.data(), toggle_overrides_header.size()};
  const auto given = req.count(name);
  if (given == 0)
    return {};
  if (!st_.host->override_policy().honoured) {
    st_.host->count_ignored_overrides();
    return {};
  }
  if (given > 1)
    return make_error(errc::bad_request,
                      fmt::format("{}: given more than once; send one header with every "
                                  "override (name=on, other=off)",
                                  toggle_overrides_header));
  auto header = req.find(name);
  auto parsed = parse_toggle_overrides_header(
    std::string_view(header->value().data(), header->value().size()), *st_.host->toggles());
  if (!parsed)
    return std::move(parsed.error());
  out = std::move(*parsed);
  return {};
}

// The request's X-Microlith-Trace header: `1` or `true` forces it into the trace log, `0` or
// `false` keeps it out; without the header it is traced when sampled (trace_sample).
caf::error http_session::read_trace(const request& req, bool& traced, bool& forced) {
  const beast::string_view name{trace_header.data(), trace_header.size()};
  const auto given = req.count(name);
  if (given > 1)
    return make_error(errc::bad_request,
                      fmt::format("{}: given more than once; send one (1 or 0)", trace_header));
  if (given == 1) {
    auto text = req[name];
    if (beast::iequals(text, "1") || beast::iequals(text, "true")) {
      traced = forced = true;
      return {};
    }
    if (beast::iequals(text, "0") || beast::iequals(text, "false"))
      return {};
    return make_error(errc::bad_request,
                      fmt::format("{}: \"{}\" is neither 1 (or true: log this request with its "
                                  "calls) nor 0 (or false)",
                                  trace_header, std::string_view(text.data(), text.size())));
  }
  if (st_.options.trace_sample > 0) {
    thread_local std::minstd_rand random{std::random_device{}()};
    traced = std::uniform_real_distribution<double>{0.0, 1.0}(random) < st_.options.trace_sample;
  }
  return {};
}

// Calls the route's method with the bound request; the answer comes back through the gateway's
// inbox (deliver, on_answer). The deadline is request_timeout from the request's first byte,
// not from now.
void http_session::dispatch(const route_spec& spec, message_ptr body, std::string idempotency_key,
                            toggle_overrides overrides) {
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
    st_.options.request_timeout - (std::chrono::steady_clock::now() - arrived_));
  if (timeout.count() <= 0)
    return reply_error(504, "timeout",
                       fmt::format("the request took longer than {} ms to arrive",
                                   st_.options.request_timeout.count()),
                       keep_alive_);
  waiting_ = true;
  answer_status_ = spec.status;
  in_call_ = shared_from_this();
  // The completion runs once, on an actor thread (or here, for a call refused at once), and
  // leaves the answer in the gateway's inbox, which an I/O thread drains. It holds a plain
  // pointer (small enough for std::function to store without allocating): the session keeps
  // itself alive in in_call_ until its answer is delivered, or dropped when the gateway stops.
  // The call's deadline bounds the wait (the caller completes it with timeout then).
  async_call_options options{timeout, request_id_, std::move(idempotency_key)};
  if (root_span_.span != 0) {
    options.traced = true;
    options.trace_forced = root_span_.forced;
    options.parent_span = root_span_.span;
  }
  st_.caller.call(spec.service, spec.method, std::move(body), std::move(options),
                  std::move(overrides), [session = this](caf::expected<message_ptr> result) {
                    session->st_.answers.push({session, std::move(result)});
                  });
}

std::shared_ptr<http_session> http_session::end_call() {
  return std::move(in_call_);
}

void http_session::deliver(std::shared_ptr<http_session> self, caf::expected<message_ptr> result) {
  if (self->st_.options.io_threads == 1) {
    // The only I/O thread runs this (in the inbox's handler, outside any strand): nothing else
    // can be running for the session, which has no operation of its own in flight.
    self->on_answer(std::move(result));
    return;
  }
  auto executor = self->stream_.get_executor();
  boost::asio::dispatch(executor, [self = std::move(self), result = std::move(result)]() mutable {
    self->on_answer(std::move(result));
  });
}

// The admin rules for a request's head, in order: a loopback client (403, not counted), not
// refused for failing too often (429 with Retry-After), bearing a well-formed Bearer token (401
// with WWW-Authenticate), the admin token (403). A 401 or 403 for the token counts against the
// client's address and is logged (the address and the outcome, never what the client sent).
http_session::admin_verdict http_session::check_admin(const request_header& head,
                                                      admin_scope scope) {
  admin_verdict v;
  beast::error_code ec;
  auto peer = stream_.socket().remote_endpoint(ec);
  if (ec || (scope != admin_scope::any_address && !is_loopback_client(peer.address()))) {
    v.status = 403;
    v.name = "forbidden";
    v.message = "the admin endpoint answers loopback clients only";
    return v;
  }
  v.client = peer.address().to_string();
  if (auto wait = st_.admin_attempts.refused_for(v.client, std::chrono::steady_clock::now());
      wait.count() > 0) {
    log::debug("gateway", "admin request from {} refused: too many failed attempts", v.client);
    v.status = 429;
    v.name = "resource_exhausted";
    v.message = fmt::format("too many failed admin requests from {}; retry after {} s", v.client,
                            wait.count());
    v.headers.emplace_back(http::field::retry_after, std::to_string(wait.count()));
    return v;
  }
  auto headers = head.count(http::field::authorization);
  auto value = head[http::field::authorization];
  auto token =
    headers == 1 ? bearer_token(std::string_view(value.data(), value.size())) : std::nullopt;
  std::optional<std::string> carried; // a feed's token from its subprotocols
  if (headers == 0 && scope == admin_scope::feed) {
    std::string protocols;
    for (const auto& field : head) // every such header, wherever it is among the others
      if (field.name() == http::field::sec_websocket_protocol)
        protocols.append(field.value().data(), field.value().size()).push_back(',');
    carried = subprotocol_token(protocols, feed_token_subprotocol);
    if (carried)
      token = std::string_view(*carried);
  }
  if (!token) {
    v.status = 401;
    v.name = "unauthenticated";
    v.message = scope == admin_scope::feed
                  ? fmt::format("admin feeds need the admin token: send Authorization: Bearer "
                                "TOKEN, or offer the WebSocket subprotocol {}BASE64URL with the "
                                "token in base64url without padding, with the token of [admin] "
                                "token or MICROLITH_ADMIN_TOKEN",
                                feed_token_subprotocol)
                  : "admin requests must bear the admin token: send Authorization: Bearer TOKEN, "
                    "with the token of [admin] token or MICROLITH_ADMIN_TOKEN";
    v.headers.emplace_back(http::field::www_authenticate, "Bearer realm=\"microlith\"");
    if (scope == admin_scope::page)
      return v; // a page asked for without a token: nothing was guessed, nothing is counted
  } else if (!same_token(*token, st_.options.admin_token)) {
    v.status = 403;
    v.name = "permission_denied";
    v.message = carried ? "the subprotocol's token is not the admin token"
                        : "the Authorization header's bearer token is not the admin token";
  } else {
    return v; // admitted
  }
  auto limited = st_.admin_attempts.record_failure(v.client, std::chrono::steady_clock::now());
  log::warn("gateway", "admin request from {} refused: {} {}{}", v.client, v.status, v.name,
            limited ? "; too many failed attempts: the address is refused for a while" : "");
  return v;
}

// Answers the refusal the admin rules decided on this request's head; false when they admitted
// it.
bool http_session::refused_admin() {
  if (!admin_) { // decided on every admin request's head (body_limit_for): never absent here
    reply_error(500, "internal", "the admin rules were not applied to this request", false);
    return true;
  }
  if (admin_->status == 0)
    return false;
  for (auto& header : admin_->headers)
    extra_headers_.push_back(std::move(header));
  reply_error(admin_->status, admin_->name, admin_->message, keep_alive_);
  return true;
}

// The admin reload: POST only, then the admin rules (checked on the head); runs the host's
// reload on this I/O thread (an admin action: rare, and bounded by validating one file).
void http_session::admin_reload(std::string_view verb) {
  if (verb != "POST") {
    auto body = error_body("method_not_allowed", "/_microlith/reload takes POST", request_id_);
    return reply(405, std::move(body), keep_alive_, "POST");
  }
  if (refused_admin())
    return;
  log::info("gateway", "admin reload requested by {}", admin_->client);
  if (auto err = st_.options.admin_reload())
    return reply_error(400, "bad_request", message_of(err), keep_alive_);
  reply(200,
        fmt::format("{{\"reloaded\":true,\"routes\":{},\"generation\":{}}}",
                    st_.routes->current()->routes().size(), st_.routes->generation()),
        keep_alive_);
}

// An admin page: the page with 200 under the admin rules, or with 401 to a request that bears no
// token (the page asks for it); other refusals as every admin request's.
void http_session::serve_admin_page(const request& req, const std::string& page,
                                    std::string_view verb) {
  if (verb != "GET" && verb != "HEAD") {
    auto body = error_body("method_not_allowed", "an admin page takes GET or HEAD", request_id_);
    return reply(405, std::move(body), keep_alive_, "GET, HEAD");
  }
  admin_ = check_admin(req, admin_scope::page);
  if (admin_->status != 0 && admin_->status != 401)
    return (void)refused_admin();
  unsigned status = admin_->status == 0 ? 200 : 401;
  for (auto& header : admin_->headers)
    extra_headers_.push_back(std::move(header));
  extra_headers_.emplace_back(http::field::cache_control, "no-store");
  content_type_ = "text/html; charset=utf-8";
  reply(status, page, keep_alive_);
}

// An admin operation's path: the admin rules (checked on the head), then the operation, which
// answers later through admin_calls (deliver_admin, on_admin_answer). The session keeps itself
// alive there while it waits and reads nothing more.
void http_session::run_admin_operation(request req, const admin_operation& operation,
                                       std::string_view path, std::string_view query,
                                       std::string_view verb) {
  if (refused_admin())
    return;
  log::info("gateway", "admin {} {} requested by {}", verb, path, admin_->client);
  admin_request r;
  r.verb = std::string(verb);
  r.path = std::string(path);
  r.query = std::string(query);
  auto content_type = req[http::field::content_type];
  r.content_type = std::string(content_type.data(), content_type.size());
  r.body = std::move(req.body());
  r.request_id = request_id_;
  r.client = admin_->client;
  auto calls = st_.admin;
  auto id = calls->next_id();
  waiting_admin_ = true;
  calls->add(id, [self = shared_from_this()](admin_response answer) {
    deliver_admin(self, std::move(answer));
  }); // before the operation: it may answer at once
  try {
    operation(std::move(r),
              [calls, id](admin_response answer) { calls->complete(id, std::move(answer)); });
  } catch (const std::exception& e) {
    log::error("gateway", "admin operation for {} threw: {}", path, e.what());
    calls->complete(
      id, admin_response{500, error_body("internal",
                                         fmt::format("the admin operation failed: {}", e.what()),
                                         request_id_)});
  }
}

void http_session::deliver_admin(std::shared_ptr<http_session> self, admin_response answer) {
  auto executor = self->stream_.get_executor();
  boost::asio::post(executor, [self = std::move(self), answer = std::move(answer)]() mutable {
    self->on_admin_answer(std::move(answer));
  });
}

// The admin operation answered.
void http_session::on_admin_answer(admin_response answer) {
  if (!waiting_admin_)
    return;
  waiting_admin_ = false;
  if (answer.status < 100 || answer.status > 599)
    return reply_error(500, "internal",
                       fmt::format("the admin operation answered status {}, which is not an "
                                   "HTTP status",
                                   answer.status),
                       keep_alive_);
  reply(answer.status, std::move(answer.body), keep_alive_);
}

// GET /metrics: what the renderer renders, in Prometheus's text format, to anyone or to bearers
// of the admin token (metrics_access); it answers later, through admin_calls, as an admin
// operation does.
void http_session::serve_metrics(const request& req, std::string_view query,
                                 std::string_view verb) {
  if (verb != "GET" && verb != "HEAD") {
    auto body =
      error_body("method_not_allowed",
                 fmt::format("{} takes GET or HEAD, not {}", metrics_path, verb), request_id_);
    return reply(405, std::move(body), keep_alive_, "GET, HEAD");
  }
  if (st_.options.metrics_endpoint == metrics_access::admin) {
    admin_ = check_admin(req, admin_scope::any_address);
    if (refused_admin())
      return;
  }
  if (!st_.options.render_metrics)
    return reply_error(503, "service_unavailable",
                       "this gateway has no metrics renderer: nothing serves /metrics yet",
                       keep_alive_);
  auto calls = st_.admin;
  auto id = calls->next_id();
  waiting_admin_ = true;
  content_type_ = "text/plain; version=0.0.4; charset=utf-8";
  calls->add(id, [self = shared_from_this()](admin_response answer) {
    deliver_admin(self, std::move(answer));
  }); // before the renderer: it may answer at once
  try {
    st_.options.render_metrics(std::string(query), [calls, id](std::string body) {
      calls->complete(id, admin_response{200, std::move(body)});
    });
  } catch (const std::exception& e) {
    log::error("gateway", "the metrics renderer threw: {}", e.what());
    calls->complete(
      id, admin_response{500, fmt::format("# the metrics renderer failed: {}\n", e.what())});
  }
}

// An admin feed's upgrade: the admin rules (the token in the header or a subprotocol), then a
// valid WebSocket upgrade, then the connection becomes a feed session (websocket_session).
void http_session::open_feed(request req, const std::string& path, const admin_feed& feed,
                             std::string_view query) {
  admin_ = check_admin(req, admin_scope::feed);
  if (refused_admin())
    return;
  if (!beast::websocket::is_upgrade(req))
    return reply_error(400, "bad_request",
                       fmt::format("{} is an admin feed: open it as a WebSocket", path),
                       keep_alive_);
  if (auto problem = websocket_key_problem(req))
    return reply_error(400, "bad_request", *problem, keep_alive_, "Sec-WebSocket-Key");
  auto operation = st_.options.admin_operations.find(feed.operation);
  if (operation == st_.options.admin_operations.end()) // start() refuses such a feed
    return reply_error(500, "internal",
                       fmt::format("the admin feed {} has no operation {}", path, feed.operation),
                       keep_alive_);
  log::info("gateway", "admin feed {} opened by {}", path, admin_->client);
  feed_run run;
  run.operation = &operation->second;
  run.path = feed.operation;
  run.query = std::string(query);
  run.interval = feed.interval;
  std::string protocols;
  for (const auto& field : req) // every such header, wherever it is among the others
    if (field.name() == http::field::sec_websocket_protocol)
      protocols.append(field.value().data(), field.value().size()).push_back(',');
  run.select_subprotocol = offers_subprotocol(protocols, feed_subprotocol);
  counted_ = false; // the WebSocket session holds the connection's place from now on
  std::make_shared<websocket_session>(st_, std::move(stream_), std::move(run))->run(std::move(req));
}

// The call answered, failed or timed out.
void http_session::on_answer(caf::expected<message_ptr> result) {
  if (!waiting_)
    return; // a completion runs once: never
  waiting_ = false;
  if (!result) {
    const auto& err = result.error();
    return reply_error(status_of(err), error_name(err), message_of(err), keep_alive_);
  }
  if (!*result)
    return reply_error(500, "remote_error", "the service answered with no body", keep_alive_);
  auto json = to_json(**result);
  if (json.empty())
    return reply_error(500, "internal",
                       fmt::format("the answer ({}) cannot be rendered as JSON",
                                   (*result)->GetDescriptor()->full_name()),
                       keep_alive_);
  reply(answer_status_, std::move(json), keep_alive_);
}

// Writes an answer, at most request_timeout (a client that does not read is cut off); the
// answer to a HEAD request has the headers of the full answer and no body.
void http_session::reply(unsigned status, std::string body, bool keep_alive,
                         std::string_view allow) {
  res_.emplace(static_cast<http::status>(status), version_);
  res_->set(http::field::server, "microlith");
  res_->set(http::field::content_type,
            beast::string_view(content_type_.data(), content_type_.size()));
  content_type_ = "application/json";
  res_->set("X-Request-Id", request_id_);
  if (!allow.empty())
    res_->set(http::field::allow, beast::string_view(allow.data(), allow.size()));
  for (auto& [field, value] : extra_headers_)
    res_->set(field, value);
  extra_headers_.clear();
  res_->keep_alive(keep_alive);
  res_->body() = std::move(body);
  res_->prepare_payload();
  if (head_)
    res_->body().clear(); // Content-Length stays that of the body a GET would get
  stream_.expires_after(st_.options.request_timeout);
  http::async_write(
    stream_, *res_,
    beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
}

// Writes a JSON error body naming this request's id.
void http_session::reply_error(unsigned status, std::string_view name, std::string_view message,
                               bool keep_alive, std::string_view field) {
  reply(status, error_body(name, message, request_id_, field), keep_alive);
}

// The answer is out: wait for the next request, or close.
void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (counted_as_ != nullptr && res_) {
    counted_as_->record(res_->result_int(), std::chrono::steady_clock::now() - arrived_);
    counted_as_ = nullptr;
  }
  if (root_span_.span != 0 && res_) {
    auto took = std::chrono::steady_clock::now() - arrived_;
    root_span_.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(took);
    root_span_.start_unix_us =
      unix_now_us() - std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    root_span_.outcome = std::to_string(res_->result_int());
    st_.host->record_span(std::move(root_span_));
    root_span_ = span_record{};
  }
  res_.reset();
  if (ec || !keep_alive)
    return close();
  do_wait();
}

// Ends the connection: TLS's close_notify first on an HTTPS connection (waiting for the client's
// at most request_timeout), then FIN; the socket closes with the session.
void http_session::close() {
  if (stream_.secure()) {
    stream_.expires_after(st_.options.request_timeout);
    return stream_.async_shutdown(
      beast::bind_front_handler(&http_session::on_shutdown, shared_from_this()));
  }
  on_shutdown({});
}

// The TLS session is closed (or could not be closed cleanly: the TCP connection closes anyway).
void http_session::on_shutdown(beast::error_code) {
  beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
}

} // namespace microlith::gateway
