// The microlith command with two modules that declare routes in code, for module_routes.sh:
// test.statements (group statements, service statements answering microlith.test.Echo's Ping
// with "statements:<text>", route GET /statements/{text}) and test.broken (group broken, one
// well-formed route and one whose path does not start with '/').
#include "microlith/cli/main.hpp"

#include <microlith/actors/service.hpp>
#include <microlith/services/module.hpp>

#include "proto/test.pb.h"

#include <string>

namespace {

// Answers Ping with the service's name and the request's text.
class named_echo {
public:
  explicit named_echo(std::string name) : name_(std::move(name)) {}

  microlith::reply<microlith::test::PingReply> ping(microlith::call_context&,
                                                    const microlith::test::PingRequest& req) {
    microlith::test::PingReply out;
    out.set_text(name_ + ":" + req.text());
    return out;
  }

private:
  std::string name_;
};

microlith::group_builder echo_group(std::string service) {
  return [service](microlith::group_context& g) {
    return microlith::children{
      g.service(microlith::service<named_echo>(service, "microlith.test.Echo", service)
                  .handle("Ping", &named_echo::ping))};
  };
}

} // namespace

MICROLITH_MODULE(test_statements) {
  return microlith::module_definition{"test.statements"}
    .group("statements", echo_group("statements"))
    .route("GET /statements/{text}", "statements.Ping");
}

MICROLITH_MODULE(test_broken) {
  return microlith::module_definition{"test.broken"}
    .group("broken", echo_group("broken"))
    .route("GET /broken/{text}", "broken.Ping")
    .route("GET broken", "broken.Ping");
}

int main(int argc, char** argv) {
  return microlith::cli::main(argc, argv);
}
