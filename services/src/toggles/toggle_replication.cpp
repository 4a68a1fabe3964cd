#include "toggles/toggle_replication.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/actors/thread_name.hpp"
#include "proto/microlith_toggles.pb.h"
#include "toggles/toggle_board.hpp"

#include <caf/actor.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace microlith::detail {

namespace {

namespace pb = microlith::toggles::v1;

constexpr std::string_view component = "toggles";

// How often the watcher looks for replica services that appeared or changed.
constexpr auto watch_interval = std::chrono::milliseconds(50);

// How long one probe of a node's address may take.
constexpr int probe_timeout_ms = 200;

// True when something accepts TCP connections on host:port (a node's agent listens there: the
// node runs, or is frozen). A refused or unreachable address answers false at once.
bool accepts_connections(const std::string& host, std::uint16_t port) {
  if (port == 0)
    return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
    return false;
  bool accepted = false;
  for (auto* a = found; a != nullptr && !accepted; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      accepted = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, probe_timeout_ms) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        accepted = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return accepted;
}

// The replica service's state: applies other nodes' changes and states to the board.
class replica_state {
public:
  explicit replica_state(toggle_board* board) : board_(board) {}

  reply<pb::ReplicaApplied> apply(call_context&, const pb::ReplicaChange& change) {
    auto done = board_->apply(change);
    if (!done)
      return std::move(done.error());
    pb::ReplicaApplied out;
    out.set_node(board_->node_name());
    out.set_outcome(*done);
    return out;
  }

  reply<pb::ReplicaState> exchange(call_context&, const pb::ReplicaState& theirs) {
    auto taken = board_->merge(theirs);
    if (!taken)
      return std::move(taken.error());
    if (*taken > 0)
      log::info(component, "node {} took {} toggle value(s) from node {}", board_->node_name(),
                *taken, theirs.node());
    return board_->state();
  }

private:
  toggle_board* board_;
};

} // namespace

std::string toggle_replica_name(std::string_view node) {
  return fmt::format("toggles@{}", node);
}

toggle_replication::toggle_replication(node& n, toggle_board& board, toggle_cluster cluster)
  : node_(n), board_(board), cluster_(std::move(cluster)) {}

toggle_replication::~toggle_replication() {
  stop();
}

std::vector<std::string> toggle_replication::others() const {
  std::vector<std::string> out;
  for (const auto& p : cluster_.others)
    out.push_back(p.name);
  return out;
}

std::vector<std::string> toggle_replication::reachable() const {
  std::vector<std::string> out;
  auto snapshot = node_.registry().snapshot();
  for (const auto& p : cluster_.others)
    if (!snapshot->instances(toggle_replica_name(p.name)).empty())
      out.push_back(p.name);
  return out;
}

service_definition toggle_replication::replica_service() {
  return service<replica_state>(toggle_replica_name(cluster_.node),
                                "microlith.toggles.v1.ToggleReplica", &board_)
    .handle("Apply", &replica_state::apply)
    .handle("Exchange", &replica_state::exchange);
}

caf::expected<int> toggle_replication::exchange_with(const std::string& peer) {
  blocking_call_options options;
  options.timeout = toggle_push_timeout;
  options.caller = toggle_replica_name(cluster_.node);
  auto theirs =
    node_.call<pb::ReplicaState>(toggle_replica_name(peer), "Exchange", board_.state(), options);
  if (!theirs)
    return theirs.error();
  return board_.merge(*theirs);
}

void toggle_replication::catch_up_at_start(const std::function<bool()>& stop_asked) {
  auto give_up = [&] { return stopping() || stop_asked(); };
  std::vector<std::string> listening;
  for (const auto& p : cluster_.others)
    if (!give_up() && accepts_connections(p.host, p.port))
      listening.push_back(p.name);
  auto until = std::chrono::steady_clock::now() + cluster_.catch_up_wait;
  auto all_reached = [&] {
    auto now = reachable();
    return std::all_of(listening.begin(), listening.end(), [&](const std::string& p) {
      return std::find(now.begin(), now.end(), p) != now.end();
    });
  };
  while (!all_reached() && std::chrono::steady_clock::now() < until && !give_up())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto snapshot = node_.registry().snapshot();
  for (const auto& peer : reachable()) {
    if (give_up())
      return;
    const auto& instances = snapshot->instances(toggle_replica_name(peer));
    auto taken = exchange_with(peer);
    if (!taken) {
      log::warn(component, "node {} did not exchange toggle values with node {}: {}", self(), peer,
                message_of(taken.error()));
      continue;
    }
    if (!instances.empty())
      synced_[peer] = caf::to_string(instances.front());
    log::info(component, "node {} exchanged toggle values with node {} at start: {} taken", self(),
              peer, *taken);
  }
  std::lock_guard<std::mutex> guard{mutex_};
  if (!watcher_.joinable() && !stopping_)
    watcher_ = std::thread{[this] {
      name_this_thread("ml.toggles_sync");
      watch_loop();
    }};
}

void toggle_replication::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  if (watcher_.joinable() && watcher_.get_id() != std::this_thread::get_id())
    watcher_.join();
}

bool toggle_replication::stopping() {
  std::lock_guard<std::mutex> guard{mutex_};
  return stopping_;
}

void toggle_replication::watch_loop() {
  std::unique_lock<std::mutex> guard{mutex_};
  for (;;) {
    if (changed_.wait_for(guard, watch_interval, [&] { return stopping_; }))
      return;
    guard.unlock();
    // A replica service that appeared, or another instance of one (its node restarted, or it
    // came back after being declared down): the two nodes exchange their states.
    auto snapshot = node_.registry().snapshot();
    for (const auto& p : cluster_.others) {
      const auto& instances = snapshot->instances(toggle_replica_name(p.name));
      if (instances.empty()) {
        synced_.erase(p.name);
        continue;
      }
      auto id = caf::to_string(instances.front());
      if (auto s = synced_.find(p.name); s != synced_.end() && s->second == id)
        continue;
      if (stopping())
        return;
      auto taken = exchange_with(p.name);
      if (!taken) {
        log::warn(component, "node {} did not exchange toggle values with node {}: {}", self(),
                  p.name, message_of(taken.error()));
        continue; // tried again at the next look
      }
      synced_[p.name] = std::move(id);
      log::info(component, "node {} exchanged toggle values with node {}: {} taken", self(), p.name,
                *taken);
    }
    guard.lock();
  }
}

} // namespace microlith::detail
