#include "modules/modules_service.hpp"

#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/code_server.hpp"
#include "proto/microlith_modules.pb.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace microlith::detail {

namespace {

namespace pb = microlith::modules::v1;

pb::Module to_message(const module_status& s) {
  pb::Module m;
  m.set_name(s.installed.name);
  m.set_version(s.installed.version);
  m.set_sha256(s.installed.sha256);
  m.set_active(s.installed.active);
  m.set_route_prefix(s.installed.route_prefix);
  m.set_node(s.installed.node);
  m.set_installed_at(s.installed.installed_at);
  m.set_loaded(s.loaded);
  m.set_problem(s.problem);
  return m;
}

pb::OperationDone done_with(const google::protobuf::Message& reply) {
  pb::OperationDone done;
  done.set_reply(reply.SerializeAsString());
  return done;
}

pb::OperationDone done_with(const caf::error& err) {
  pb::OperationDone done;
  done.set_error_code(
    err.category() == error_category() ? err.code() : static_cast<std::uint8_t>(errc::internal));
  done.set_error_message(message_of(err));
  return done;
}

class modules_state {
public:
  modules_state(call_context& ctx, code_server* modules, node* host_node)
    : modules_(modules), node_(host_node),
      topic_(fmt::format("microlith.modules.done.{}", next_instance().fetch_add(1))) {
    ctx.subscribe<pb::OperationDone>(topic_, [this](call_context&, const pb::OperationDone& done) {
      auto waiting = waiting_.find(done.operation());
      if (waiting == waiting_.end())
        return;
      auto answer = std::move(waiting->second);
      waiting_.erase(waiting);
      answer(done);
    });
  }

  reply<pb::Module> install(call_context& ctx, const pb::InstallRequest& req) {
    install_options options;
    options.route_prefix = req.route_prefix();
    options.activate = req.activate();
    auto archive = req.archive();
    return run<pb::Module>(ctx, [archive = std::move(archive), options](code_server& m) {
      auto done = m.install(archive, options);
      return done ? done_with(to_message(*done)) : done_with(done.error());
    });
  }

  reply<pb::ModuleList> list(call_context& ctx, const pb::ListRequest&) {
    return run<pb::ModuleList>(ctx, [](code_server& m) {
      pb::ModuleList all;
      for (const auto& s : m.list())
        *all.add_modules() = to_message(s);
      return done_with(all);
    });
  }

  reply<pb::Module> activate(call_context& ctx, const pb::ActivateRequest& req) {
    return run<pb::Module>(ctx, [name = req.name(), version = req.version()](code_server& m) {
      auto done = m.activate(name, version);
      return done ? done_with(to_message(*done)) : done_with(done.error());
    });
  }

  reply<pb::Removed> remove(call_context& ctx, const pb::RemoveRequest& req) {
    return run<pb::Removed>(ctx, [name = req.name()](code_server& m) {
      if (auto err = m.remove(name))
        return done_with(err);
      pb::Removed removed;
      removed.set_name(name);
      return done_with(removed);
    });
  }

private:
  static std::atomic<std::uint64_t>& next_instance() {
    static std::atomic<std::uint64_t> n{1};
    return n;
  }

  // Runs `operation` on the code server's thread; its outcome, published to this instance's
  // topic, answers the promise in this actor.
  template <class Resp>
  reply<Resp> run(call_context& ctx, std::function<pb::OperationDone(code_server&)> operation) {
    auto p = ctx.make_promise<Resp>();
    auto id = next_operation_++;
    waiting_.emplace(id, [p](const pb::OperationDone& done) mutable {
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
    modules_->post(
      [modules = modules_, n = node_, topic = topic_, id, operation = std::move(operation)] {
        auto done = operation(*modules);
        done.set_operation(id);
        n->publish(topic, done);
      });
    return p;
  }

  code_server* modules_;
  node* node_;
  std::string topic_;
  std::uint64_t next_operation_ = 1;
  std::map<std::uint64_t, std::function<void(const pb::OperationDone&)>> waiting_;
};

} // namespace

service_definition modules_service(code_server& modules, node& host_node) {
  return service<modules_state>("modules", "microlith.modules.v1.Modules", &modules, &host_node)
    .handle("Install", &modules_state::install)
    .handle("List", &modules_state::list)
    .handle("Activate", &modules_state::activate)
    .handle("Remove", &modules_state::remove);
}

} // namespace microlith::detail
