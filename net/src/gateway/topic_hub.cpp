#include "gateway/topic_hub.hpp"

#include "gateway/server_state.hpp"
#include "gateway/websocket_session.hpp"

#include "microlith/actors/envelope.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/topics.hpp"
#include "microlith/net/gateway/http_binding.hpp"

#include <caf/all.hpp>

#include <google/protobuf/message.h>

#include <algorithm>

namespace microlith::gateway {

namespace {

// Renders each published message once and hands it to the hub while the gateway runs.
caf::behavior relay(caf::event_based_actor* self, topic_hub* hub, std::shared_ptr<post_gate> gate) {
  (void)self;
  return {
    [hub, gate](envelope& env) {
      if (env.kind != envelope_kind::publish || !env.body)
        return;
      auto json = std::make_shared<const std::string>("{\"topic\":" + json_quote(env.service)
                                                      + ",\"message\":" + to_json(*env.body) + "}");
      std::shared_lock<std::shared_mutex> guard{gate->mutex};
      if (gate->open)
        hub->deliver(env.service, json);
    },
  };
}

} // namespace

topic_hub::topic_hub(node& host, std::shared_ptr<post_gate> gate) : host_(host) {
  relay_ = host.system().spawn(relay, this, std::move(gate));
}

topic_hub::~topic_hub() {
  host_.topics().unsubscribe_all(relay_.address());
  signal_exit(relay_, caf::exit_reason::user_shutdown);
}

void topic_hub::subscribe(const std::string& topic,
                          const std::shared_ptr<websocket_session>& session) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& xs = sessions_[topic];
  xs.push_back(subscriber{session.get(), session});
  if (xs.size() == 1)
    host_.topics().subscribe(topic, relay_);
}

void topic_hub::unsubscribe(const std::string& topic, const websocket_session* session) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = sessions_.find(topic);
  if (i == sessions_.end())
    return;
  auto& xs = i->second;
  // Never lock a weak pointer here: releasing the last reference would run a session's
  // destructor, which unsubscribes, under this mutex.
  xs.erase(
    std::remove_if(xs.begin(), xs.end(),
                   [session](const subscriber& x) { return x.raw == session || x.weak.expired(); }),
    xs.end());
  if (xs.empty()) {
    sessions_.erase(i);
    host_.topics().unsubscribe(topic, relay_.address());
  }
}

void topic_hub::deliver(const std::string& topic, const std::shared_ptr<const std::string>& json) {
  std::vector<std::shared_ptr<websocket_session>> targets;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = sessions_.find(topic);
    if (i == sessions_.end())
      return;
    for (const auto& x : i->second)
      if (auto s = x.weak.lock())
        targets.push_back(std::move(s));
  }
  for (auto& s : targets)
    s->send(json);
}

} // namespace microlith::gateway
