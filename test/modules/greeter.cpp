// The greeter test module (module "test.greeter"): group "greeter" runs the service "greeter",
// whose Hello answers "hello NAME from GREETER_VERSION", and the module declares the route
// GET /greet/{name}. Compiled once per test module with its own GREETER_VERSION (and, for
// test_greeter_changed, against the changed contract), to tell loaded libraries apart.
#include "proto/greeter.pb.h"

#include <microlith/actors/service.hpp>
#include <microlith/services/module.hpp>

#ifndef GREETER_VERSION
#error "GREETER_VERSION must name the module's version (a string literal)"
#endif

namespace {

namespace greeter = microlith::test::greeter;

class greeter_state {
public:
  microlith::reply<greeter::HelloReply> hello(microlith::call_context&,
                                              const greeter::HelloRequest& req) {
    greeter::HelloReply out;
    out.set_text("hello " + req.name() + " from " + GREETER_VERSION);
    return out;
  }
};

} // namespace

MICROLITH_MODULE(test_greeter) {
  return microlith::module_definition{"test.greeter"}
    .group("greeter",
           [](microlith::group_context& g) {
             return microlith::children{g.service(
               microlith::service<greeter_state>("greeter", "microlith.test.greeter.Greeter")
                 .handle("Hello", &greeter_state::hello))};
           })
    .route("GET /greet/{name}", "greeter.Hello");
}
