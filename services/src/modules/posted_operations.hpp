// How the services of the code server (the `modules` service, and in a cluster the replica
// service "modules@NODE") answer: each request's operation runs on one of the code server's
// threads (code_server::post, or post_for_peer for other nodes' requests: they block while
// groups start and stop), and its outcome comes back to the
// service's actor through a topic that only this instance subscribes to, where it answers the
// caller's promise. The topic names this process's node id: topics are cluster-wide, and another
// node's instance must never receive this one's outcomes.
#pragma once

#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/code_server.hpp"
#include "proto/microlith_modules.pb.h"

#include <caf/event_based_actor.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace microlith::detail {

/// An operation's outcome: the answer, serialized.
inline microlith::modules::v1::OperationDone done_with(const google::protobuf::Message& reply) {
  microlith::modules::v1::OperationDone done;
  done.set_reply(reply.SerializeAsString());
  return done;
}

/// An operation's outcome: its error (microlith's kind, or internal) and message.
inline microlith::modules::v1::OperationDone done_with(const caf::error& err) {
  microlith::modules::v1::OperationDone done;
  done.set_error_code(
    err.category() == error_category() ? err.code() : static_cast<std::uint8_t>(errc::internal));
  done.set_error_message(message_of(err));
  return done;
}

/// The operations one service instance has posted to the code server and not yet answered.
class posted_operations {
public:
  using operation = std::function<microlith::modules::v1::OperationDone(code_server&)>;

  /// Where the operations run: code_server::post, or (for other nodes' requests)
  /// code_server::post_for_peer.
  enum class thread { own, for_peers };

  /// For the instance whose state is being built in `ctx`.
  posted_operations(call_context& ctx, code_server* modules, node* host_node,
                    thread where = thread::own)
    : modules_(modules), node_(host_node), where_(where),
      topic_(fmt::format("microlith.modules.done.{}.{}", to_string(ctx.self()->node()),
                         next_instance().fetch_add(1))) {
    ctx.subscribe<microlith::modules::v1::OperationDone>(
      topic_, [this](call_context&, const microlith::modules::v1::OperationDone& done) {
        auto waiting = waiting_.find(done.operation());
        if (waiting == waiting_.end())
          return;
        auto answer = std::move(waiting->second);
        waiting_.erase(waiting);
        answer(done);
      });
  }

  posted_operations(const posted_operations&) = delete;
  posted_operations& operator=(const posted_operations&) = delete;

  /// Runs `op` on the code server's thread; its outcome answers the request being handled.
  template <class Resp>
  reply<Resp> run(call_context& ctx, operation op) {
    auto p = ctx.make_promise<Resp>();
    auto id = next_operation_++;
    waiting_.emplace(id, [p](const microlith::modules::v1::OperationDone& done) mutable {
      if (done.error_code() != 0) {
        p.deliver(make_error(static_cast<errc>(done.error_code()), done.error_message()));
        return;
      }
      Resp answer;
      if (!answer.ParseFromString(done.reply())) {
        p.deliver(make_error(errc::internal, "the modules operation answered an unreadable reply"));
        return;
      }
      p.deliver(std::move(answer));
    });
    auto run = [modules = modules_, n = node_, topic = topic_, id, op = std::move(op)] {
      auto done = op(*modules);
      done.set_operation(id);
      n->publish(topic, done);
    };
    if (where_ == thread::for_peers)
      modules_->post_for_peer(std::move(run));
    else
      modules_->post(std::move(run));
    return p;
  }

private:
  static std::atomic<std::uint64_t>& next_instance() {
    static std::atomic<std::uint64_t> n{1};
    return n;
  }

  code_server* modules_;
  node* node_;
  thread where_;
  std::string topic_;
  std::uint64_t next_operation_ = 1;
  std::map<std::uint64_t, std::function<void(const microlith::modules::v1::OperationDone&)>>
    waiting_;
};

} // namespace microlith::detail
