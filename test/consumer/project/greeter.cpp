// The greeter module: one group with one service, defined with microlith's public API only.
#include "greeter.pb.h"

#include <microlith/actors/service.hpp>
#include <microlith/services/module.hpp>

namespace {

class greeter_state {
public:
  microlith::reply<greeter::Greeting> greet(microlith::call_context& ctx,
                                            const greeter::Hello& req) {
    if (req.name().empty())
      return microlith::fail("a greeting needs a name");
    greeter::Greeting out;
    out.set_text("hello, " + req.name());
    out.set_correlation_id(ctx.correlation_id());
    return out;
  }
};

} // namespace

MICROLITH_MODULE(greeter) {
  return microlith::module_definition{"demo.greeter"}.group(
    "greeter", [](microlith::group_context& g) {
      return microlith::children{
        g.service(microlith::service<greeter_state>("greeter", "greeter.Greeter")
                    .handle("Greet", &greeter_state::greet))};
    });
}
