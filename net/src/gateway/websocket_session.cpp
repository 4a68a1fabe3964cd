#include "gateway/websocket_session.hpp"

#include "gateway/server_state.hpp"
#include "gateway/topic_command.hpp"

#include "microlith/actors/node.hpp"
#include "microlith/net/gateway/http_binding.hpp"

#include <boost/asio/post.hpp>

#include <fmt/format.h>

namespace microlith::gateway {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

constexpr std::size_t max_topics = 64;

std::shared_ptr<const std::string> text(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

std::shared_ptr<const std::string> error_notice(std::string_view message) {
  return text("{\"error\":\"bad_request\",\"message\":" + json_quote(message) + "}");
}

} // namespace

websocket_session::websocket_session(detail::server_state& st, gateway_stream&& stream,
                                     std::optional<feed_run> feed)
  : st_(st), ws_(std::move(stream)), feed_(std::move(feed)), timer_(ws_.get_executor()) {
  st_.websocket_sessions++;
}

websocket_session::~websocket_session() {
  for (const auto& topic : topics_)
    st_.hub->unsubscribe(topic, this);
  st_.open_connections--;
}

// Completes the upgrade.
void websocket_session::run(beast::http::request<beast::http::string_body> req) {
  beast::get_lowest_layer(ws_).expires_never(); // the websocket stream keeps its own timeouts
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = st_.options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(max_websocket_message);
  if (feed_ && feed_->select_subprotocol)
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::sec_websocket_protocol,
              beast::string_view(feed_subprotocol.data(), feed_subprotocol.size()));
    }));
  ws_.async_accept(req,
                   beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
}

// The upgrade is answered: start reading client frames.
void websocket_session::on_accept(beast::error_code ec) {
  if (ec)
    return;
  open_ = true;
  do_read();
  if (feed_)
    return tick();
  if (!queue_.empty() && !writing_)
    do_write();
}

// Reads the next client frame.
void websocket_session::do_read() {
  ws_.async_read(buffer_,
                 beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

// A client frame arrived (or the session ended: then the session goes away with its last
// reference, and its subscriptions with it).
void websocket_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    open_ = false;
    timer_.cancel(); // a feed stops ticking
    return;
  }
  auto frame = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (!feed_) // a feed ignores what its client sends
    handle(frame);
  do_read();
}

// A feed's tick: runs its operation unless a run is in flight or a frame is still being written
// (a slow client never has more than one frame queued), then waits for the next tick.
void websocket_session::tick() {
  if (!open_)
    return;
  if (!running_ && !writing_)
    run_feed();
  timer_.expires_after(feed_->interval);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec)
      self->tick();
  });
}

// Runs the feed's operation (GET, its path, the upgrade's query); its answer comes back through
// the gateway's admin calls, which drop it once the gateway has stopped.
void websocket_session::run_feed() {
  running_ = true;
  admin_request r;
  r.verb = "GET";
  r.path = feed_->path;
  r.query = feed_->query;
  r.request_id = make_correlation_id();
  auto calls = st_.admin;
  auto id = calls->next_id();
  calls->add(id, [self = shared_from_this()](admin_response answer) {
    boost::asio::post(self->ws_.get_executor(), [self, answer = std::move(answer)]() mutable {
      self->on_feed_answer(std::move(answer));
    });
  });
  auto request_id = r.request_id;
  try {
    (*feed_->operation)(
      std::move(r), [calls, id](admin_response answer) { calls->complete(id, std::move(answer)); });
  } catch (const std::exception& e) {
    calls->complete(
      id, admin_response{500, error_body("internal",
                                         fmt::format("the admin operation failed: {}", e.what()),
                                         request_id)});
  }
}

// The feed's operation answered: its body goes out as one text frame.
void websocket_session::on_feed_answer(admin_response answer) {
  running_ = false;
  if (!open_ || writing_)
    return;
  queue_.push_back(text(std::move(answer.body)));
  do_write();
}

// Handles {"subscribe": "t"} and {"unsubscribe": "t"} (topic_command.hpp).
void websocket_session::handle(const std::string& frame) {
  auto command = parse_topic_command(frame);
  if (const auto* problem = std::get_if<std::string>(&command))
    return enqueue(error_notice(*problem));
  const auto& [subscribe, topic] = std::get<topic_command>(command);
  if (subscribe) {
    if (topics_.count(topic) == 0) {
      if (topics_.size() >= max_topics)
        return enqueue(error_notice(fmt::format("at most {} topics per connection", max_topics)));
      topics_.insert(topic);
      st_.hub->subscribe(topic, shared_from_this());
    }
    enqueue(text("{\"subscribed\":" + json_quote(topic) + "}"));
  } else {
    if (topics_.erase(topic) > 0)
      st_.hub->unsubscribe(topic, this);
    enqueue(text("{\"unsubscribed\":" + json_quote(topic) + "}"));
  }
}

void websocket_session::send(std::shared_ptr<const std::string> json) {
  boost::asio::post(ws_.get_executor(),
                    [self = shared_from_this(), json = std::move(json)]() mutable {
                      self->enqueue(std::move(json));
                    });
}

// Adds a message to the bounded queue (on the session's strand).
void websocket_session::enqueue(std::shared_ptr<const std::string> json) {
  if (queue_.size() >= st_.options.websocket_queue) {
    ++dropped_;
    st_.websocket_dropped++;
    return;
  }
  queue_.push_back(std::move(json));
  if (open_ && !writing_)
    do_write();
}

// Writes the oldest queued message.
void websocket_session::do_write() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(boost::asio::buffer(*queue_.front()),
                  beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
}

// A message went out: tell the client what was dropped once there is room, then go on.
void websocket_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec) {
    open_ = false;
    queue_.clear();
    return;
  }
  queue_.pop_front();
  if (dropped_ > 0 && queue_.size() < st_.options.websocket_queue) {
    queue_.push_back(text(fmt::format("{{\"dropped\":{}}}", dropped_)));
    dropped_ = 0;
  }
  if (!queue_.empty())
    do_write();
}

} // namespace microlith::gateway
