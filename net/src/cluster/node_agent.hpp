// The node agent: the one actor a node publishes to the others. It owns this node's side of the
// cluster: connecting to the peers of the system file with backoff, the handshake (system name,
// then a cookie proof each way), replicating registrations both ways, and dropping a peer's
// entries when the middleman reports its connection lost.
//
// The handshake, initiated by A towards B:
//   A -> B  join(system, A, nonce_a)
//   B -> A  challenge(system, B, nonce_b, proof_B(nonce_a))   or refuse(reason)
//   A -> B  prove(proof_A(nonce_b)), then A's state            or refuse(reason)
//   B -> A  B's state (after checking A's proof)               or refuse(reason)
// A node sends its registry only to a peer that has proven it knows the cookie, and ignores
// everything but the handshake from a peer that has not.
#pragma once

#include "microlith/net/cluster/cluster.hpp"

#include "microlith/actors/registry.hpp"

#include "detail/atoms.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace microlith::cluster::detail {

/// What the agent shares with the membership handle (read from other threads).
struct membership_state {
  mutable std::mutex mutex;
  std::vector<member_info> members;                // requires mutex
  std::function<void(const lost_member&)> on_lost; // requires mutex
};

class node_agent final : public caf::event_based_actor {
public:
  node_agent(caf::actor_config& cfg, microlith::node* n, cluster_options options,
             std::shared_ptr<membership_state> shared);

  caf::behavior make_behavior() override;

  const char* name() const override { return "microlith.node_agent"; }

  void on_exit() override;

private:
  enum class phase : std::uint8_t {
    joining,    ///< we sent join, waiting for the challenge
    challenged, ///< we answered a join with a challenge, waiting for the proof
    up,         ///< authenticated both ways
  };

  struct session {
    caf::actor agent; ///< the peer's agent (a proxy)
    phase at = phase::joining;
    std::string name;  ///< the peer's node name (known once it introduced itself)
    std::string nonce; ///< the nonce we sent, which its proof must answer
    std::vector<std::string> groups;
    std::int64_t joined_unix_ms = 0;        ///< when it became up
    std::chrono::nanoseconds round_trip{0}; ///< of the newest ping answered; 0 before
  };

  struct peer {
    peer_address address;
    bool connecting = false;
    bool retry_scheduled = false;
    std::uint64_t generation = 0; ///< retries of an older schedule are ignored
    std::chrono::milliseconds backoff{0};
    std::string last_problem; ///< logged once until it changes
  };

  // -- connecting -----------------------------------------------------------------------------
  void connect(const std::string& peer_name);
  void schedule_retry(peer& p);
  void note_problem(peer& p, std::string problem);
  void start_session(const caf::actor& remote, const std::string& expected_name);

  // -- the handshake --------------------------------------------------------------------------
  void on_join(const std::string& system, const std::string& name, const std::string& nonce);
  void on_challenge(const std::string& system, const std::string& name, const std::string& nonce,
                    const std::string& proof);
  void on_prove(const std::string& proof);
  void refuse(const caf::actor& to, const std::string& reason);
  void became_up(session& s);

  // -- replication ----------------------------------------------------------------------------
  void send_state(const caf::actor& to);
  void on_state(session& s, std::vector<std::string> groups, std::vector<std::string> services,
                std::vector<std::string> contracts, std::vector<caf::actor> instances,
                std::vector<std::string> topics, std::vector<caf::actor> subscribers);
  void on_local_change(bool topic, std::uint8_t what, const std::string& name,
                       const caf::actor& instance);
  template <class... Ts>
  void broadcast(const Ts&... xs);

  // -- measuring links ------------------------------------------------------------------------
  void ping_peers();
  void on_pong(session& s, std::int64_t sent_ns);

  // -- losing peers ---------------------------------------------------------------------------
  void drop(const caf::actor_addr& who, const std::string& why, bool left);
  session* authenticated_sender();
  bool from_peer(const session& s, const caf::actor& x) const;
  void publish_members();

  microlith::node* node_;
  cluster_options options_;
  std::shared_ptr<membership_state> shared_;
  std::map<caf::actor_addr, session> sessions_;
  std::map<std::string, peer> peers_;
  std::vector<std::string> local_groups_;
  bool leaving_ = false;
  bool ping_scheduled_ = false;
};

} // namespace microlith::cluster::detail
