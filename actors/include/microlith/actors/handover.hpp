// The protocol by which one version of a service hands over to the next (OTP's code_change), as
// a module replace runs it (services' code_server). A service opts in with
// service<State>::hand_over; this header is for the code that replaces versions, not for
// services.
//
// For each service of the version replaced, with `old` an instance of the running version and
// `next` the instance of the new version that takes its place:
//  1. While an expected_handover for the service lives, a new instance whose definition hands
//     over its state registers when it starts but holds every request that reaches it.
//  2. The old instance leaves the registry (the caller removes it), then retire_instance: from
//     then on it sends every request that reaches it to `next`, and once it has no call and no
//     promise outstanding it answers its state (saved as the message its definition names).
//  3. import_state gives that state to `next`, which restores it and goes on holding requests.
//  4. commit_handover: `next` serves the requests it held, in order, then everything else.
// Before an old instance stops, drain_instance waits until the requests it passed on are
// answered (it passes a call on as its own call, so its caller, which watches it, gets the
// answer through it). A rollback instead: abandon_handover sends `next`'s held requests (and every
// later one) back to `old`, after telling `old` to serve again (one sender, so `old` resumes
// first); an old instance that has no `next` gets resume_instance. Requests are never dropped on
// the way: a request that finds the instance it resolved retired is passed on, and answered through
// it.
#pragma once

#include "microlith/actors/node.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace microlith {

/// A service's state as its old instance saved it.
struct handed_state {
  std::string type;  ///< the message's full name ("acme.statements.v1.CacheState"); empty: none
  std::string bytes; ///< its wire form
};

/// While it lives, new instances of `services` started on `n` whose definition hands over a
/// state wait for one (step 1) before they serve.
class expected_handover {
public:
  expected_handover(node& n, std::vector<std::string> services);
  ~expected_handover();

  expected_handover(const expected_handover&) = delete;
  expected_handover& operator=(const expected_handover&) = delete;

private:
  node& node_;
  std::vector<std::string> services_;
};

/// Step 2: retires `old`, which passes later requests to `successor` (none when null: it serves
/// them itself until it stops), and answers its state once nothing is outstanding. An error when
/// that does not happen within `limit` (calls still running), or when saving the state threw.
caf::expected<handed_state> retire_instance(node& n, const caf::actor& old,
                                            const caf::actor& successor,
                                            std::chrono::milliseconds limit);

/// Step 3: gives `next` the state `old` handed over. True when `next` was waiting for a state
/// (and restored it, or started fresh when `state` is empty); false when its definition hands
/// over none (it serves already, and the state is dropped). An error when it refuses the state.
caf::expected<bool> import_state(node& n, const caf::actor& next, const handed_state& state,
                                 std::chrono::milliseconds limit);

/// Waits until `instance` has no call (its own, or a request it passed on) and no promise
/// outstanding: before an instance that passes requests on is stopped. An error when that does
/// not happen within `limit`.
caf::error drain_instance(node& n, const caf::actor& instance, std::chrono::milliseconds limit);

/// Step 4: `next` serves what it held, then everything.
void commit_handover(const caf::actor& next);

/// The rollback of a new instance: `old` serves again and gets what `next` held and receives.
void abandon_handover(const caf::actor& next, const caf::actor& old);

/// The rollback of an old instance without a successor: it serves again (and registers again).
void resume_instance(const caf::actor& old);

} // namespace microlith
