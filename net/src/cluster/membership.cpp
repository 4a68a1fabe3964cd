#include "microlith/net/cluster/cluster.hpp"

#include "cluster/node_agent.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/topics.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

namespace microlith::cluster {

namespace {

constexpr std::string_view component = "cluster";

// The application id of CAF's BASP handshake: a CAF program that is not microlith is refused
// by CAF itself before any of our messages; nodes of another microlith system are refused by
// the agents' handshake, which says why on both sides.
constexpr const char* app_identifier = "microlith";

} // namespace

caf::error configure_transport(node_options& options, const cluster_options& cluster) {
  auto previous = options.configure_system;
  auto interval = caf::timespan{cluster.heartbeat_interval};
  auto timeout = caf::timespan{cluster.heartbeat_timeout};
  bool use_tls = cluster.tls.enabled();
  std::string certificate;
  std::string key;
  if (use_tls) {
    // Refused rather than half-configured: CAF's OpenSSL module without a certificate falls back
    // to anonymous ciphers, which authenticate nobody.
    if (auto err = tls::prepare(cluster.tls))
      return err;
    certificate = cluster.tls.certificate;
    key = cluster.tls.key;
  } else if (!cluster.tls.key.empty()) {
    return make_error(errc::invalid_argument,
                      fmt::format("{} has a key but no certificate", cluster.tls.source));
  }
  options.configure_system = [previous, interval, timeout, use_tls, certificate,
                              key](caf::actor_system_config& cfg) {
    if (previous)
      previous(cfg);
    cfg.load<caf::io::middleman>();
    if (use_tls) {
      cfg.load<caf::openssl::manager>();
      cfg.openssl_certificate = certificate;
      cfg.openssl_key = key;
      // No cafile or capath: CAF's session then loads no trusted certificates, and the verify
      // hook (tls.cpp) decides by the pins alone.
    }
    // Both keys, on every node: a node without heartbeats looks dead to one with a timeout.
    cfg.set("middleman.heartbeat-interval", interval);
    cfg.set("middleman.connection-timeout", timeout);
    cfg.set("middleman.app-identifiers", std::vector<std::string>{app_identifier});
  };
  return {};
}

membership::membership(node& n, cluster_options options)
  : node_(n), options_(std::move(options)), state_(std::make_shared<detail::membership_state>()) {}

caf::expected<std::unique_ptr<membership>> membership::join(node& n, cluster_options options) {
  if (!n.system().has_middleman())
    return make_error(errc::bad_request,
                      fmt::format("node {} cannot join a cluster: its actor system has no "
                                  "middleman (configure it with configure_transport())",
                                  options.node));
  if (options.tls.enabled() && !n.system().has_openssl_manager())
    return make_error(errc::bad_request,
                      fmt::format("node {} cannot join with TLS: its actor system has no OpenSSL "
                                  "module (configure it with configure_transport())",
                                  options.node));
  if (options.heartbeat_timeout <= options.heartbeat_interval)
    return make_error(errc::bad_request,
                      fmt::format("heartbeat_timeout ({} ms) must be greater than "
                                  "heartbeat_interval ({} ms)",
                                  options.heartbeat_timeout.count(),
                                  options.heartbeat_interval.count()));
  std::unique_ptr<membership> self{new membership(n, std::move(options))};
  auto& opts = self->options_;
  if (opts.cookie.empty())
    log::warn(component,
              "no cookie is set: any process that reaches {}:{} and names system \"{}\" can "
              "join (set [cluster] cookie or MICROLITH_COOKIE)",
              opts.host, opts.port, opts.system);
  // Scheduled, not detached: a detached actor's thread lives until the actor object is
  // destroyed, and CAF keeps local actors whose handles went to a peer that died abruptly in its
  // actor registry until the system stops, so ~actor_system would wait for that thread forever.
  // Failure detection does not need the agent's own thread: it is the middleman's heartbeat, on
  // the middleman's I/O thread.
  auto agent = n.system().spawn<detail::node_agent, caf::hidden>(&n, opts, self->state_);
  // With TLS, the OpenSSL module's middleman actor: it accepts only TLS connections (a plaintext
  // peer fails the TLS accept), on the same BASP broker.
  auto port = opts.tls.enabled()
                ? caf::openssl::publish(agent, opts.port, opts.host.c_str(), true)
                : n.system().middleman().publish(agent, opts.port, opts.host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
    return make_error(errc::service_unavailable,
                      fmt::format("node {} cannot listen on {}:{}: {}", opts.node, opts.host,
                                  opts.port, describe(port.error())));
  }
  self->agent_ = agent;
  self->port_ = *port;
  // Local registrations and subscriptions go to the agent, which replicates them. The watchers
  // run under the tables' locks, so they only enqueue.
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(agent);
  n.registry().watch([weak](const registry_change& change) {
    if (auto target = caf::actor_cast<caf::actor>(weak))
      caf::anon_send(target, local_change_atom::value, false,
                     static_cast<std::uint8_t>(change.what), change.name, change.instance);
  });
  n.topics().watch([weak](const registry_change& change) {
    if (auto target = caf::actor_cast<caf::actor>(weak))
      caf::anon_send(target, local_change_atom::value, true, static_cast<std::uint8_t>(change.what),
                     change.name, change.instance);
  });
  log::info(component, "node {} of system {} listens on {}:{}{}; peers: {}", opts.node, opts.system,
            opts.host, self->port_,
            opts.tls.enabled() ? fmt::format(" (TLS, {})", opts.tls.source) : std::string{},
            opts.peers.size());
  return self;
}

membership::~membership() {
  leave();
}

std::uint16_t membership::port() const noexcept {
  return port_;
}

const cluster_options& membership::options() const noexcept {
  return options_;
}

std::vector<member_info> membership::members() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->members;
}

bool membership::group_running(const std::string& group) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  for (const auto& m : state_->members)
    if (std::find(m.groups.begin(), m.groups.end(), group) != m.groups.end())
      return true;
  return false;
}

void membership::watch_lost(std::function<void(const lost_member&)> watcher) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  state_->on_lost = std::move(watcher);
}

void membership::set_local_groups(std::vector<std::string> groups) {
  if (agent_)
    caf::anon_send(agent_, local_groups_atom::value, std::move(groups));
}

void membership::leave() {
  if (!agent_)
    return;
  node_.registry().watch({});
  node_.topics().watch({});
  caf::scoped_actor self{node_.system()};
  self->monitor(agent_);
  self->send(agent_, leave_atom::value);
  self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
  // Also for a TLS port: both middleman actors hand unpublishing to the one BASP broker.
  if (auto unpublished = node_.system().middleman().unpublish(agent_, port_); !unpublished)
    log::debug(component, "could not unpublish the agent: {}", describe(unpublished.error()));
  agent_ = nullptr;
  log::info(component, "node {} left the cluster", options_.node);
}

} // namespace microlith::cluster
