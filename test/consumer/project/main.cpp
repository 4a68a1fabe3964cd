// The greeter system's program. `greeter_system selftest` starts the system from an inline system
// file in this process, calls the service once and stops; anything else is microlith's command.
#include "greeter.pb.h"

#include <microlith/actors/node.hpp>
#include <microlith/cli/main.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/system_file.hpp>

#include <cstdio>
#include <cstring>

namespace {

int selftest() {
  auto config = microlith::parse_system_file(R"(
[system]
name = "greeter"
[groups.greeter]
module = "demo.greeter"
)",
                                             "inline.toml");
  microlith::node n{microlith::node_options_for(config)};
  microlith::host h{n, config};
  if (auto err = h.start()) {
    std::fprintf(stderr, "start failed: %s\n", microlith::describe(err).c_str());
    return 1;
  }
  greeter::Hello hello;
  hello.set_name("consumer");
  microlith::blocking_call_options opts;
  opts.correlation_id = "consumer-1";
  auto reply = n.call<greeter::Greeting>("greeter", "Greet", hello, opts);
  if (!reply || reply->text() != "hello, consumer" || reply->correlation_id() != "consumer-1") {
    std::fprintf(stderr, "unexpected reply: %s\n",
                 reply ? reply->ShortDebugString().c_str()
                       : microlith::describe(reply.error()).c_str());
    return 1;
  }
  std::printf("%s\n", reply->text().c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "selftest") == 0)
    return selftest();
  return microlith::cli::main(argc, argv);
}
