#include "cluster/node_agent.hpp"

#include "cluster/cookie_proof.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/topics.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <algorithm>
#include <random>

namespace microlith::cluster::detail {

namespace {

constexpr std::string_view component = "cluster";
constexpr std::string_view challenge_purpose = "microlith challenge";
constexpr std::string_view prove_purpose = "microlith prove";

std::string describe_reason(const caf::error& reason) {
  if (!reason)
    return "normal exit";
  if (reason == caf::exit_reason::remote_link_unreachable)
    return "connection lost (closed, or no heartbeat within the timeout)";
  return describe(reason);
}

std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor{0.8, 1.2};
  return std::chrono::milliseconds{static_cast<std::int64_t>(d.count() * factor(rng))};
}

} // namespace

node_agent::node_agent(caf::actor_config& cfg, microlith::node* n, cluster_options options,
                       std::shared_ptr<membership_state> shared)
  : caf::event_based_actor(cfg), node_(n), options_(std::move(options)),
    shared_(std::move(shared)) {
  for (const auto& address : options_.peers)
    peers_[address.name].address = address;
}

void node_agent::on_exit() {
  sessions_.clear();
  peers_.clear();
  publish_members();
}

caf::behavior node_agent::make_behavior() {
  set_down_handler(
    [this](caf::down_msg& msg) { drop(msg.source, describe_reason(msg.reason), false); });
  // Anything else (including messages from peers that have not authenticated) is dropped.
  set_default_handler(caf::drop);
  for (auto& [name, p] : peers_)
    connect(name);
  return {
    // -- from this node ------------------------------------------------------------------------
    [this](local_change_atom, bool topic, std::uint8_t what, const std::string& name,
           const caf::actor& instance) { on_local_change(topic, what, name, instance); },
    [this](local_groups_atom, std::vector<std::string> groups) {
      local_groups_ = std::move(groups);
      broadcast(groups_atom::value, local_groups_);
    },
    [this](retry_atom, const std::string& name, std::uint64_t generation) {
      auto i = peers_.find(name);
      if (i == peers_.end() || i->second.generation != generation)
        return;
      i->second.retry_scheduled = false;
      connect(name);
    },
    [this](leave_atom) {
      auto sender = current_sender();
      if (sender != nullptr && sender->node() != system().node()) {
        // A peer says it is leaving.
        if (auto* s = authenticated_sender())
          drop(s->agent.address(), "it left the cluster", true);
        return;
      }
      leaving_ = true;
      for (auto& [addr, s] : sessions_)
        if (s.at == phase::up)
          send(s.agent, leave_atom::value);
      quit();
    },
    // -- the handshake -------------------------------------------------------------------------
    [this](join_atom, const std::string& system, const std::string& name,
           const std::string& nonce) { on_join(system, name, nonce); },
    [this](challenge_atom, const std::string& system, const std::string& name,
           const std::string& nonce,
           const std::string& proof) { on_challenge(system, name, nonce, proof); },
    [this](prove_atom, const std::string& proof) { on_prove(proof); },
    [this](refuse_atom, const std::string& reason) {
      auto sender = caf::actor_cast<caf::actor>(current_sender());
      auto i = sessions_.find(sender.address());
      if (i == sessions_.end())
        return;
      auto name = i->second.name;
      log::error(component, "node {} refused this node ({}): {}", name, options_.node, reason);
      auto p = peers_.find(name);
      if (p != peers_.end())
        p->second.last_problem = "refused: " + reason; // already logged
      drop(sender.address(), "it refused this node", false);
    },
    // -- replication ---------------------------------------------------------------------------
    [this](state_atom, std::vector<std::string>& groups, std::vector<std::string>& services,
           std::vector<std::string>& contracts, std::vector<caf::actor>& instances,
           std::vector<std::string>& topics, std::vector<caf::actor>& subscribers) {
      if (auto* s = authenticated_sender())
        on_state(*s, std::move(groups), std::move(services), std::move(contracts),
                 std::move(instances), std::move(topics), std::move(subscribers));
    },
    [this](service_added_atom, const std::string& service, const std::string& contract,
           const caf::actor& instance) {
      auto* s = authenticated_sender();
      if (s == nullptr || !from_peer(*s, instance))
        return;
      if (!contract.empty() && node_->registry().contract_of(service).empty())
        node_->registry().record_contract(service, contract);
      node_->registry().add(service, instance);
    },
    [this](service_removed_atom, const std::string& service, const caf::actor& instance) {
      auto* s = authenticated_sender();
      if (s != nullptr && from_peer(*s, instance))
        node_->registry().remove(service, instance.address());
    },
    [this](subscribed_atom, const std::string& topic, const caf::actor& subscriber) {
      auto* s = authenticated_sender();
      if (s != nullptr && from_peer(*s, subscriber))
        node_->topics().subscribe(topic, subscriber);
    },
    [this](unsubscribed_atom, const std::string& topic, const caf::actor& subscriber) {
      auto* s = authenticated_sender();
      if (s != nullptr && from_peer(*s, subscriber))
        node_->topics().unsubscribe(topic, subscriber.address());
    },
    [this](groups_atom, std::vector<std::string>& groups) {
      if (auto* s = authenticated_sender()) {
        s->groups = std::move(groups);
        publish_members();
      }
    },
    // -- measuring links -----------------------------------------------------------------------
    [this](ping_tick_atom) {
      ping_scheduled_ = false;
      ping_peers();
    },
    [this](ping_atom, std::int64_t sent_ns) {
      if (auto* s = authenticated_sender())
        send(s->agent, pong_atom::value, sent_ns);
    },
    [this](pong_atom, std::int64_t sent_ns) {
      if (auto* s = authenticated_sender())
        on_pong(*s, sent_ns);
    },
  };
}

// -- connecting ---------------------------------------------------------------------------------

void node_agent::connect(const std::string& peer_name) {
  auto i = peers_.find(peer_name);
  if (i == peers_.end() || leaving_)
    return;
  auto& p = i->second;
  for (const auto& [addr, s] : sessions_)
    if (s.name == peer_name && s.at == phase::up)
      return; // joined already (it may have connected to us)
  if (p.connecting)
    return;
  if (p.address.port == 0)
    return; // it listens where its OS chose: it connects to us
  // Over TLS, one connection per pair of nodes: the node with the smaller name connects and the
  // other waits for it (unless its own port is the OS's choice, which the other cannot know).
  // Plain BASP resolves two connections made at once between the same nodes by closing one; over
  // CAF's OpenSSL transport the second is not made at all.
  if (options_.tls.enabled() && peer_name < options_.node && options_.port != 0)
    return;
  p.connecting = true;
  auto host = p.address.host;
  auto port = p.address.port;
  // The middleman's handle is fetched per attempt and never kept: a strong reference held past
  // the agent's exit would keep CAF's detached middleman actor (and shutdown) waiting.
  // With TLS, the OpenSSL module's: the connection is TLS, refused unless both certificates are
  // pinned (tls.hpp).
  auto middleman = options_.tls.enabled() ? system().openssl_manager().actor_handle()
                                          : system().middleman().actor_handle();
  request(middleman, options_.connect_timeout, caf::connect_atom::value, host, port)
    .then(
      [this, peer_name](const caf::node_id& nid, caf::strong_actor_ptr& ptr,
                        const std::set<std::string>&) {
        auto j = peers_.find(peer_name);
        if (j == peers_.end())
          return;
        auto& q = j->second;
        q.connecting = false;
        if (nid == system().node()) {
          note_problem(q, "that address is this node's own");
          return;
        }
        if (!ptr) {
          note_problem(q, "nothing is published there (not a microlith node?)");
          schedule_retry(q);
          return;
        }
        start_session(caf::actor_cast<caf::actor>(ptr), peer_name);
      },
      [this, peer_name](caf::error& err) {
        auto j = peers_.find(peer_name);
        if (j == peers_.end())
          return;
        j->second.connecting = false;
        note_problem(j->second, fmt::format("cannot connect ({})", describe(err)));
        schedule_retry(j->second);
      });
}

void node_agent::note_problem(peer& p, std::string problem) {
  if (problem == p.last_problem)
    return;
  log::warn(component, "node {} at {}:{}: {}; retrying with backoff up to {} ms", p.address.name,
            p.address.host, p.address.port, problem, options_.reconnect_max.count());
  p.last_problem = std::move(problem);
}

void node_agent::schedule_retry(peer& p) {
  if (leaving_ || p.retry_scheduled)
    return;
  p.backoff = p.backoff.count() == 0 ? options_.reconnect_min
                                     : std::min(p.backoff * 2, options_.reconnect_max);
  p.retry_scheduled = true;
  delayed_send(this, jittered(p.backoff), retry_atom::value, p.address.name, ++p.generation);
}

void node_agent::start_session(const caf::actor& remote, const std::string& expected_name) {
  auto i = sessions_.find(remote.address());
  if (i != sessions_.end())
    return; // a handshake with it is under way or done (it may have connected to us first)
  session s;
  s.agent = remote;
  s.at = phase::joining;
  s.name = expected_name;
  s.nonce = make_nonce();
  monitor(remote);
  send(remote, join_atom::value, options_.system, options_.node, s.nonce);
  sessions_.emplace(remote.address(), std::move(s));
}

// -- the handshake ------------------------------------------------------------------------------

void node_agent::on_join(const std::string& system_name, const std::string& name,
                         const std::string& nonce) {
  auto sender = caf::actor_cast<caf::actor>(current_sender());
  if (!sender || leaving_)
    return;
  if (system_name != options_.system) {
    log::error(component, "refused node {} ({}): it belongs to system \"{}\", this node to \"{}\"",
               name, to_string(sender.node()), system_name, options_.system);
    refuse(sender, fmt::format("system \"{}\" does not accept nodes of system \"{}\"",
                               options_.system, system_name));
    return;
  }
  auto i = sessions_.find(sender.address());
  if (i != sessions_.end() && i->second.at == phase::joining) {
    // Both sides connected at once: the node with the smaller id leads the handshake.
    if (to_string(system().node()) < to_string(sender.node()))
      return; // ours goes on; the peer answers it
  }
  if (i != sessions_.end() && i->second.at == phase::up) {
    // The peer starts over (it lost us while we still had it): forget what it had.
    log::info(component, "node {} joins again", name);
    node_->registry().remove_node(sender.node());
    node_->topics().remove_node(sender.node());
  }
  if (i == sessions_.end()) {
    monitor(sender);
    i = sessions_.emplace(sender.address(), session{}).first;
    i->second.agent = sender;
  }
  auto& s = i->second;
  s.at = phase::challenged;
  s.name = name;
  s.nonce = make_nonce();
  s.groups.clear();
  publish_members();
  send(sender, challenge_atom::value, options_.system, options_.node, s.nonce,
       cookie_proof(options_.cookie, challenge_purpose, nonce, options_.node));
}

void node_agent::on_challenge(const std::string& system_name, const std::string& name,
                              const std::string& nonce, const std::string& proof) {
  auto sender = caf::actor_cast<caf::actor>(current_sender());
  auto i = sessions_.find(sender.address());
  if (i == sessions_.end() || i->second.at != phase::joining)
    return;
  auto& s = i->second;
  if (system_name != options_.system) {
    log::error(component, "refused node {}: it belongs to system \"{}\", this node to \"{}\"", name,
               system_name, options_.system);
    refuse(sender, fmt::format("system \"{}\" does not accept nodes of system \"{}\"",
                               options_.system, system_name));
    drop(sender.address(), "wrong system", false);
    return;
  }
  if (!same_proof(proof, cookie_proof(options_.cookie, challenge_purpose, s.nonce, name))) {
    log::error(component, "refused node {} ({}): the cookies differ", name,
               to_string(sender.node()));
    refuse(sender, "the cookies differ");
    drop(sender.address(), "wrong cookie", false);
    return;
  }
  s.name = name;
  send(sender, prove_atom::value,
       cookie_proof(options_.cookie, prove_purpose, nonce, options_.node));
  became_up(s);
}

void node_agent::on_prove(const std::string& proof) {
  auto sender = caf::actor_cast<caf::actor>(current_sender());
  auto i = sessions_.find(sender.address());
  if (i == sessions_.end() || i->second.at != phase::challenged)
    return;
  auto& s = i->second;
  if (!same_proof(proof, cookie_proof(options_.cookie, prove_purpose, s.nonce, s.name))) {
    log::error(component, "refused node {} ({}): the cookies differ", s.name,
               to_string(sender.node()));
    refuse(sender, "the cookies differ");
    drop(sender.address(), "wrong cookie", false);
    return;
  }
  became_up(s);
}

void node_agent::refuse(const caf::actor& to, const std::string& reason) {
  send(to, refuse_atom::value, reason);
}

void node_agent::became_up(session& s) {
  // A new process of a node we still hold (its old one froze or died unnoticed) replaces it.
  std::vector<caf::actor_addr> stale;
  for (const auto& [addr, other] : sessions_)
    if (&other != &s && other.name == s.name && other.at == phase::up)
      stale.push_back(addr);
  for (const auto& addr : stale)
    drop(addr, "replaced by a new process of the same node", false);
  s.at = phase::up;
  auto p = peers_.find(s.name);
  if (p != peers_.end()) {
    p->second.backoff = std::chrono::milliseconds{0};
    p->second.last_problem.clear();
    ++p->second.generation; // cancels a scheduled retry
    p->second.retry_scheduled = false;
  }
  s.joined_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  log::info(component, "node {} joined ({})", s.name, to_string(s.agent.node()));
  send_state(s.agent);
  publish_members();
  ping_peers();
}

// -- measuring links ----------------------------------------------------------------------------

namespace {

constexpr std::chrono::seconds ping_interval{1};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

} // namespace

// Pings every joined peer with this process's steady clock; its pong echoes the time back.
// Repeats once a second while some peer is joined (a new join pings at once and reschedules
// only when no tick is pending).
void node_agent::ping_peers() {
  bool any = false;
  const auto now = steady_ns();
  for (const auto& [addr, s] : sessions_)
    if (s.at == phase::up) {
      send(s.agent, ping_atom::value, now);
      any = true;
    }
  if (any && !ping_scheduled_) {
    ping_scheduled_ = true;
    delayed_send(this, ping_interval, ping_tick_atom::value);
  }
}

void node_agent::on_pong(session& s, std::int64_t sent_ns) {
  const auto elapsed = steady_ns() - sent_ns;
  if (elapsed < 0)
    return; // not a time this process sent
  s.round_trip = std::chrono::nanoseconds{elapsed};
  publish_members();
}

// -- replication --------------------------------------------------------------------------------

void node_agent::send_state(const caf::actor& to) {
  auto local = system().node();
  std::vector<std::string> services;
  std::vector<std::string> contracts;
  std::vector<caf::actor> instances;
  for (const auto& [service, xs] : node_->registry().snapshot()->entries()) {
    auto contract = node_->registry().contract_of(service);
    for (const auto& x : xs) {
      if (x.node() != local)
        continue;
      services.push_back(service);
      contracts.push_back(contract);
      instances.push_back(x);
    }
  }
  std::vector<std::string> topics;
  std::vector<caf::actor> subscribers;
  for (const auto& [topic, xs] : *node_->topics().snapshot())
    for (const auto& x : xs)
      if (x.node() == local) {
        topics.push_back(topic);
        subscribers.push_back(x);
      }
  send(to, state_atom::value, local_groups_, std::move(services), std::move(contracts),
       std::move(instances), std::move(topics), std::move(subscribers));
}

void node_agent::on_state(session& s, std::vector<std::string> groups,
                          std::vector<std::string> services, std::vector<std::string> contracts,
                          std::vector<caf::actor> instances, std::vector<std::string> topics,
                          std::vector<caf::actor> subscribers) {
  if (services.size() != instances.size() || contracts.size() != instances.size()
      || topics.size() != subscribers.size()) {
    log::error(component, "node {} sent a malformed state; ignored", s.name);
    return;
  }
  std::size_t added = 0;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (!from_peer(s, instances[i]))
      continue;
    if (!contracts[i].empty() && node_->registry().contract_of(services[i]).empty())
      node_->registry().record_contract(services[i], contracts[i]);
    node_->registry().add(services[i], instances[i]);
    ++added;
  }
  for (std::size_t i = 0; i < subscribers.size(); ++i)
    if (from_peer(s, subscribers[i]))
      node_->topics().subscribe(topics[i], subscribers[i]);
  s.groups = std::move(groups);
  log::info(component, "node {} serves {} instance(s) and runs groups [{}]", s.name, added,
            fmt::join(s.groups, ", "));
  publish_members();
}

void node_agent::on_local_change(bool topic, std::uint8_t what, const std::string& name,
                                 const caf::actor& instance) {
  if (!instance || instance.node() != system().node())
    return; // entries of other nodes are theirs to replicate
  auto added = what == static_cast<std::uint8_t>(registry_change::kind::added);
  if (topic) {
    if (added)
      broadcast(subscribed_atom::value, name, instance);
    else
      broadcast(unsubscribed_atom::value, name, instance);
  } else if (added) {
    broadcast(service_added_atom::value, name, node_->registry().contract_of(name), instance);
  } else {
    broadcast(service_removed_atom::value, name, instance);
  }
}

template <class... Ts>
void node_agent::broadcast(const Ts&... xs) {
  for (const auto& [addr, s] : sessions_)
    if (s.at == phase::up)
      send(s.agent, xs...);
}

// -- losing peers -------------------------------------------------------------------------------

void node_agent::drop(const caf::actor_addr& who, const std::string& why, bool left) {
  auto i = sessions_.find(who);
  if (i == sessions_.end())
    return;
  auto s = std::move(i->second);
  sessions_.erase(i);
  demonitor(s.agent);
  if (s.at == phase::up) {
    auto services = node_->registry().remove_node(s.agent.node());
    auto subscriptions = node_->topics().remove_node(s.agent.node());
    if (left)
      log::info(component, "node {} left; removed its {} instance(s) and {} subscription(s)",
                s.name, services, subscriptions);
    else
      log::warn(component, "node {} is down: {}; removed its {} instance(s) and {} subscription(s)",
                s.name, why, services, subscriptions);
    publish_members();
    std::function<void(const lost_member&)> watcher;
    {
      std::lock_guard<std::mutex> guard{shared_->mutex};
      watcher = shared_->on_lost;
    }
    if (watcher)
      watcher(lost_member{s.name, to_string(s.agent.node()), left, left ? "it left" : why});
  }
  auto p = peers_.find(s.name);
  if (p != peers_.end() && !leaving_) {
    // Unless another session with it is up (a newer process), keep trying to reach it.
    bool still_up = false;
    for (const auto& [addr, other] : sessions_)
      still_up = still_up || (other.name == s.name && other.at == phase::up);
    if (!still_up)
      schedule_retry(p->second);
  }
}

node_agent::session* node_agent::authenticated_sender() {
  auto sender = caf::actor_cast<caf::actor_addr>(current_sender());
  auto i = sessions_.find(sender);
  if (i == sessions_.end() || i->second.at != phase::up)
    return nullptr;
  return &i->second;
}

bool node_agent::from_peer(const session& s, const caf::actor& x) const {
  // A peer replicates its own instances only: handles of other nodes' actors are ignored.
  return x && x.node() == s.agent.node();
}

void node_agent::publish_members() {
  std::vector<member_info> members;
  for (const auto& [addr, s] : sessions_)
    if (s.at == phase::up)
      members.push_back(
        member_info{s.name, to_string(s.agent.node()), s.groups, s.joined_unix_ms, s.round_trip});
  std::sort(members.begin(), members.end(),
            [](const member_info& a, const member_info& b) { return a.name < b.name; });
  std::lock_guard<std::mutex> guard{shared_->mutex};
  shared_->members = std::move(members);
}

} // namespace microlith::cluster::detail
