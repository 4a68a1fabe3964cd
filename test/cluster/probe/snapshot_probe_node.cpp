// The `microlith` command with one more module linked in, "test.snapshot_probe", for the tests
// of the toggle snapshot a request keeps across nodes (test/cluster/toggle_snapshot_test.cpp):
//
//   group "outer": service "outer" (microlith.test.probe.Outer), route POST /probe/enter.
//     Enter reads toggle demo.flag, creates the file `entered` names, waits (at most 60 s) for
//     the file `wait_for` names, reads demo.flag again, then calls inner.See and answers the
//     three values. The wait lets a test change the toggle on every node while the request is
//     in its handler, and let the nested call go only once that change is in force everywhere.
//   group "inner": service "inner" (microlith.test.probe.Inner), route GET /probe/see.
//     See answers demo.flag as its request sees it.
//
// The wait blocks one scheduler thread of its node: the systems of these tests give each node
// four.
#include "proto/snapshot_probe.pb.h"

#include <microlith/actors/service.hpp>
#include <microlith/cli/main.hpp>
#include <microlith/services/module.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

namespace probe = microlith::test::probe;
namespace fs = std::filesystem;

const char* const flag = "demo.flag";

const char* on_off(bool on) {
  return on ? "on" : "off";
}

class inner_state {
public:
  microlith::reply<probe::Seen> see(microlith::call_context& ctx, const probe::SeeRequest&) {
    probe::Seen out;
    out.set_flag(on_off(ctx.enabled(flag)));
    return out;
  }
};

class outer_state {
public:
  microlith::reply<probe::EnterReply> enter(microlith::call_context& ctx,
                                            const probe::EnterRequest& req) {
    probe::EnterReply out;
    out.set_outer(on_off(ctx.enabled(flag)));
    if (!req.entered().empty())
      std::ofstream{req.entered()} << "entered\n";
    if (!req.wait_for().empty()) {
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds{60};
      while (!fs::exists(req.wait_for())) {
        if (std::chrono::steady_clock::now() > limit)
          return microlith::make_error(microlith::errc::timeout,
                                       "the file " + req.wait_for() + " did not appear in 60 s");
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
      }
    }
    out.set_outer_after(on_off(ctx.enabled(flag)));
    auto promise = ctx.make_promise<probe::EnterReply>();
    microlith::call_options options;
    options.timeout = std::chrono::seconds{30};
    ctx.call<probe::Seen>("inner", "See", probe::SeeRequest{}, options)
      .then(
        [promise, out](const probe::Seen& seen) mutable {
          out.set_inner(seen.flag());
          promise.deliver(std::move(out));
        },
        [promise](const caf::error& err) mutable { promise.deliver(err); });
    return promise;
  }
};

} // namespace

MICROLITH_MODULE(test_snapshot_probe) {
  return microlith::module_definition{"test.snapshot_probe"}
    .group("outer",
           [](microlith::group_context& g) {
             return microlith::children{
               g.service(microlith::service<outer_state>("outer", "microlith.test.probe.Outer")
                           .handle("Enter", &outer_state::enter)
                           .checks_toggles({flag}))};
           })
    .group("inner",
           [](microlith::group_context& g) {
             return microlith::children{
               g.service(microlith::service<inner_state>("inner", "microlith.test.probe.Inner")
                           .handle("See", &inner_state::see)
                           .checks_toggles({flag}))};
           })
    .route("POST /probe/enter", "outer.Enter")
    .route("GET /probe/see", "inner.See");
}

int main(int argc, char** argv) {
  return microlith::cli::main(argc, argv);
}
