// The gateway's side of the kernel's topics: which WebSocket sessions subscribe to which topic.
// One relay actor subscribes to a topic in the node while at least one session wants it; each
// message published there is rendered to JSON once and handed to every subscribed session.
#pragma once

#include <caf/actor.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace microlith {
class node;
} // namespace microlith

namespace microlith::gateway {

class websocket_session;
struct post_gate;

class topic_hub {
public:
  /// Spawns the relay actor in `host`; deliveries happen only while `gate` is open.
  topic_hub(node& host, std::shared_ptr<post_gate> gate);

  /// Unsubscribes the relay from every topic and stops it.
  ~topic_hub();

  topic_hub(const topic_hub&) = delete;
  topic_hub& operator=(const topic_hub&) = delete;

  /// Adds `session` to `topic`.
  void subscribe(const std::string& topic, const std::shared_ptr<websocket_session>& session);

  /// Removes `session` from `topic`.
  void unsubscribe(const std::string& topic, const websocket_session* session);

  /// Hands `json` to every live session subscribed to `topic` (called by the relay).
  void deliver(const std::string& topic, const std::shared_ptr<const std::string>& json);

private:
  node& host_;
  caf::actor relay_;
  std::mutex mutex_;
  struct subscriber {
    const websocket_session* raw; // identity, compared without locking the weak pointer
    std::weak_ptr<websocket_session> weak;
  };
  std::unordered_map<std::string, std::vector<subscriber>> sessions_;
};

} // namespace microlith::gateway
