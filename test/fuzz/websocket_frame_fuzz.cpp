// WebSocket frames a client sends to the gateway's endpoint: the bytes after an accepted upgrade,
// read by Beast's server-side stream with the gateway's limit (max_websocket_message), each
// message then read as a command (parse_topic_command, net/src/gateway/topic_command.cpp), as
// websocket_session does. Frames of any shape (unmasked, fragmented, control frames, close,
// oversized) end in messages or an error, never a crash or a read past the input; a command
// has a topic, a refusal a message that fits a JSON notice.
#include "fuzz_target.hpp"

#include "gateway/topic_command.hpp"

#include <microlith/net/gateway/http_binding.hpp>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <string>
#include <variant>

namespace {

constexpr const char* target = "websocket_frame";

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// The upgrade request the connection was accepted with.
http::request<http::empty_body> upgrade_request() {
  http::request<http::empty_body> req{http::verb::get, "/ws", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  return req;
}

} // namespace

MICROLITH_FUZZ_TARGET(websocket_frame) {
  boost::asio::io_context io;
  beast::test::stream client{io};
  websocket::stream<beast::test::stream> ws{io};
  ws.next_layer().connect(client); // the server's answers (pongs, close) go to the client
  ws.read_message_max(microlith::gateway::max_websocket_message);
  beast::error_code ec;
  ws.accept(upgrade_request(), ec);
  MICROLITH_FUZZ_CHECK(target, !ec, "a valid upgrade is not accepted");
  // The client's frames, then the end of its bytes.
  ws.next_layer().append(beast::string_view(reinterpret_cast<const char*>(data), size));
  ws.next_layer().close_remote();
  for (int messages = 0; messages < 1024; ++messages) {
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec)
      break;
    MICROLITH_FUZZ_CHECK(target, buffer.size() <= microlith::gateway::max_websocket_message,
                         "a message over the limit was read");
    auto command = microlith::gateway::parse_topic_command(beast::buffers_to_string(buffer.data()));
    if (const auto* c = std::get_if<microlith::gateway::topic_command>(&command)) {
      MICROLITH_FUZZ_CHECK(target, !c->topic.empty(), "a command without a topic");
      continue;
    }
    const auto& problem = std::get<std::string>(command);
    MICROLITH_FUZZ_CHECK(target, !problem.empty(), "a refusal without a message");
    auto notice =
      "{\"error\":\"bad_request\",\"message\":" + microlith::gateway::json_quote(problem) + "}";
    google::protobuf::Struct parsed;
    MICROLITH_FUZZ_CHECK(target, google::protobuf::util::JsonStringToMessage(notice, &parsed).ok(),
                         "an error notice is not JSON");
  }
  return 0;
}
