// The counter test module (module "test.counter"): group "counter" runs the service "counter",
// whose total is handed over from one version to the next (service<State>::hand_over), and its
// companion "counter_audit". Counter.Add first asks counter_audit.Note, and counts when the
// answer comes: each Add has a promise outstanding meanwhile, as a service calling others has.
// Compiled once per test module with its own COUNTER_VERSION; with COUNTER_REFUSES_STATE, restore
// refuses every handed over state (to prove that a refused state rolls the replace back), and the
// group also runs "counter_extra", a service the other versions lack.
#include "proto/counter.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/services/module.hpp>

#ifndef COUNTER_VERSION
#error "COUNTER_VERSION must name the module's version (a string literal)"
#endif

namespace {

namespace counter = microlith::test::counter;

class counter_state {
public:
  microlith::reply<counter::Total> add(microlith::call_context& ctx,
                                       const counter::AddRequest& req) {
    auto p = ctx.make_promise<counter::Total>();
    ctx.call<counter::Noted>("counter_audit", "Note", req)
      .then(
        [this, p](const counter::Noted& noted) mutable {
          total_ += noted.amount();
          p.deliver(current());
        },
        [p](const caf::error& err) mutable { p.deliver(err); });
    return p;
  }

  microlith::reply<counter::Total> get(microlith::call_context&, const counter::GetRequest&) {
    return current();
  }

  counter::CounterState save() const {
    counter::CounterState s;
    s.set_total(total_);
    return s;
  }

  caf::error restore(microlith::call_context&, const counter::CounterState& s) {
#ifdef COUNTER_REFUSES_STATE
    return microlith::make_error(microlith::errc::failed_precondition,
                                 "version " COUNTER_VERSION " refuses a total of "
                                   + std::to_string(s.total()));
#else
    total_ = s.total();
    return {};
#endif
  }

private:
  counter::Total current() const {
    counter::Total t;
    t.set_total(total_);
    t.set_version(COUNTER_VERSION);
    return t;
  }

  std::int64_t total_ = 0;
};

class audit_state {
public:
  microlith::reply<counter::Noted> note(microlith::call_context&, const counter::AddRequest& req) {
    counter::Noted n;
    n.set_amount(req.amount());
    return n;
  }
};

} // namespace

MICROLITH_MODULE(test_counter) {
  return microlith::module_definition{"test.counter"}
    .group(
      "counter",
      [](microlith::group_context& g) {
        return microlith::children{
          g.service(microlith::service<audit_state>("counter_audit", "microlith.test.counter.Audit")
                      .handle("Note", &audit_state::note)),
          g.service(microlith::service<counter_state>("counter", "microlith.test.counter.Counter")
                      .handle("Add", &counter_state::add)
                      .handle("Get", &counter_state::get)
                      .hand_over(&counter_state::save, &counter_state::restore))
#ifdef COUNTER_REFUSES_STATE
            ,
          // A service only this version has: a replace to it is rolled back, and the calls it
          // took meanwhile must still be answered.
          g.service(microlith::service<audit_state>("counter_extra", "microlith.test.counter.Audit")
                      .handle("Note", &audit_state::note))
#endif
        };
      })
    .route("POST /count", "counter.Add")
    .route("GET /count", "counter.Get");
}
