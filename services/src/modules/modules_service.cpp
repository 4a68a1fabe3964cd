#include "modules/modules_service.hpp"

#include "modules/module_message.hpp"
#include "modules/posted_operations.hpp"

#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/code_server.hpp"
#include "proto/microlith_modules.pb.h"

#include <utility>

namespace microlith::detail {

namespace {

namespace pb = microlith::modules::v1;

class modules_state {
public:
  modules_state(call_context& ctx, code_server* modules, node* host_node)
    : operations_(ctx, modules, host_node) {}

  reply<pb::Module> install(call_context& ctx, const pb::InstallRequest& req) {
    install_options options;
    options.route_prefix = req.route_prefix();
    options.activate = req.activate();
    options.node = req.node();
    auto archive = req.archive();
    return run<pb::Module>(ctx, [archive = std::move(archive), options](code_server& m) {
      auto done = m.install(archive, options);
      return done ? done_with(module_message(*done)) : done_with(done.error());
    });
  }

  reply<pb::ModuleList> list(call_context& ctx, const pb::ListRequest&) {
    return run<pb::ModuleList>(ctx, [](code_server& m) {
      pb::ModuleList all;
      for (const auto& s : m.list())
        *all.add_modules() = module_message(s);
      return done_with(all);
    });
  }

  reply<pb::Module> activate(call_context& ctx, const pb::ActivateRequest& req) {
    return run<pb::Module>(
      ctx, [name = req.name(), version = req.version(), node = req.node()](code_server& m) {
        auto done = m.activate(name, version, node);
        return done ? done_with(module_message(*done)) : done_with(done.error());
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
  template <class Resp>
  reply<Resp> run(call_context& ctx, posted_operations::operation op) {
    return operations_.run<Resp>(ctx, std::move(op));
  }

  posted_operations operations_;
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
