// What a client of the gateway's WebSocket endpoint sends (docs/gateway.md, "WebSocket"): one
// JSON object per text message, {"subscribe": "balances"} or {"unsubscribe": "balances"}.
// Anything else is answered with an error notice and the connection stays open; a message over
// max_websocket_message closes it (Beast's read_message_max).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace microlith::gateway {

/// The largest message a client may send to the WebSocket endpoint, in bytes.
inline constexpr std::size_t max_websocket_message = 4 * 1024;

/// A client's request: subscribe to a topic, or unsubscribe from it.
struct topic_command {
  bool subscribe = true;
  std::string topic; ///< never empty
};

/// The command `message` holds, or what is wrong with it (the text of the error notice the
/// client gets back).
std::variant<topic_command, std::string> parse_topic_command(std::string_view message);

} // namespace microlith::gateway
