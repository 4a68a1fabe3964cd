// The calls one caller has in flight — an actor (endpoint_actor), an async_caller's port, a
// blocking call from a plain thread — and everything that ends them without an answer of the
// callee's own: the table of calls, one monitor per distinct callee, one deadline timer, and the
// timeout, service_down and caller-closed errors (built by call_errors.hpp).
//
// The table does not send, monitor or schedule anything itself: it tells its owner what to do.
// add() answers the call's id (to put in the envelope), whether the callee is new (monitor it
// now) and whether the call's deadline is the earliest (arm the timer for it: a tick carrying
// that time). The owner hands back what comes in: a reply (take_reply), a callee's down message
// (callee_down), a tick (expire), its own close (drop_all). Calls ended by the table come out as
// (completion, error) pairs that the owner runs when it likes — an async_caller's port runs them
// after releasing its lock.
//
// Allocation-free in steady state: calls live in slots that are reused through a free list, a
// slot keeps the capacity of its strings, and the scratch lists only grow; once the table has
// held the most calls in flight at once, a call answered in time allocates nothing here. A
// call's id names its slot and the slot's generation, so an answer to a call that ended already
// (timed out, say, and its slot reused since) finds nothing. Ids are never 0.
//
// Not thread-safe: its owner serializes the calls (an actor's own thread, or the port's lock).
#pragma once

#include "detail/call_errors.hpp"

#include "microlith/actors/envelope.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace microlith::detail {

/// A call ended by its table: the completion to run and the error to run it with.
template <class Completion>
struct ended_call {
  Completion done;
  caf::error error;
};

/// The calls in flight of one caller; `Completion` is what runs when one ends (a
/// default-constructed Completion is "nothing to run").
template <class Completion>
class pending_calls {
public:
  /// One call in flight.
  struct call {
    /// The instance called (null for a call that fails before it is sent).
    const caf::actor_control_block* callee = nullptr;
    /// When it was made, and when it times out.
    clock::time_point made;
    clock::time_point deadline;
    std::string service;
    std::string method;
    Completion done;
  };

  /// What the owner does after add().
  struct added {
    /// Names the call; the envelope carries it and the answer comes back with it.
    std::uint64_t id = 0;
    /// The callee is new to this table: monitor it, and hand its down message to callee_down().
    bool watch_callee = false;
    /// The deadline is the earliest: arm the timer for it, a tick that hands it to expire().
    bool arm = false;
  };

  using ended = ended_call<Completion>;

  /// Records a call to `callee` (null: none, the owner fails the call itself), made at `made`
  /// and due by `deadline`.
  added add(const caf::actor& callee, clock::time_point made, clock::time_point deadline,
            std::string_view service, std::string_view method, Completion done) {
    std::uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    auto& s = slots_[index];
    s.used = true;
    s.order = ++calls_made_;
    auto& c = s.c;
    c.callee = caf::actor_cast<caf::actor_control_block*>(callee);
    c.made = made;
    c.deadline = deadline;
    c.service.assign(service); // keeps the slot's capacity
    c.method.assign(method);
    c.done = std::move(done);
    ++size_;
    added result;
    result.id = (std::uint64_t{s.generation} << 32) | index;
    if (c.callee != nullptr && watched_.find(c.callee) == watched_.end()) {
      watched_.emplace(c.callee, callee.address());
      result.watch_callee = true;
    }
    if (deadline < armed_) {
      armed_ = deadline;
      result.arm = true;
    }
    return result;
  }

  /// Call `id` while it is in flight, else null.
  call* find(std::uint64_t id) noexcept {
    auto index = static_cast<std::size_t>(id & 0xffffffffu);
    if (index >= slots_.size())
      return nullptr;
    auto& s = slots_[index];
    if (!s.used || s.generation != static_cast<std::uint32_t>(id >> 32))
      return nullptr;
    return &s.c;
  }

  /// Takes the call that `reply` answers out of the table and moves its completion into
  /// `done`; false when no such call is in flight (it ended already: a stale answer, to drop).
  /// A reply that cannot be read (no error of its own) gets its bad_request error here.
  bool take_reply(envelope& reply, Completion& done) {
    auto* c = find(reply.call_id);
    if (c == nullptr)
      return false;
    if (!reply.undecodable.empty() && !reply.error)
      reply.error = unreadable_answer_error(c->service, c->method, reply.undecodable);
    done = std::move(c->done);
    release(static_cast<std::uint32_t>(reply.call_id & 0xffffffffu));
    return true;
  }

  /// The tick armed for `at` fired at `now`: moves every call whose deadline has passed to
  /// `out` with its timeout error, in deadline order (equal deadlines in call order), and
  /// answers the time to arm the next tick for (max: none). A stale tick — one armed before an
  /// earlier one, or after the table stopped waiting — ends nothing and answers max: only the
  /// armed tick re-arms, so ticks never multiply.
  clock::time_point expire(clock::time_point at, clock::time_point now, std::vector<ended>& out) {
    if (at != armed_ || at == clock::time_point::max())
      return clock::time_point::max();
    picked_.clear();
    auto earliest = clock::time_point::max();
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      const auto& s = slots_[i];
      if (!s.used)
        continue;
      if (s.c.deadline <= now)
        picked_.push_back(i);
      else
        earliest = std::min(earliest, s.c.deadline);
    }
    std::sort(picked_.begin(), picked_.end(), [this](std::uint32_t x, std::uint32_t y) {
      const auto& a = slots_[x];
      const auto& b = slots_[y];
      return a.c.deadline != b.c.deadline ? a.c.deadline < b.c.deadline : a.order < b.order;
    });
    for (auto i : picked_) {
      auto& c = slots_[i].c;
      out.push_back({std::move(c.done),
                     timeout_error(c.service, c.method, c.deadline - c.made, now - c.deadline)});
      release(i);
    }
    armed_ = earliest;
    return earliest;
  }

  /// A watched callee went down with `reason`: moves every call to it to `out` with its
  /// service_down error, in call order, and stops watching it. False (nothing moved) for a
  /// callee this table does not watch.
  bool callee_down(const caf::actor_control_block* callee, const caf::error& reason,
                   std::vector<ended>& out) {
    if (watched_.erase(callee) == 0)
      return false;
    pick_in_call_order([callee](const call& c) { return c.callee == callee; });
    for (auto i : picked_) {
      auto& c = slots_[i].c;
      out.push_back({std::move(c.done), callee_down_error(c.service, c.method, reason)});
      release(i);
    }
    return true;
  }

  /// The owner, named `caller`, closes: moves every call to `out` with its caller-closed error,
  /// in call order, and the watched callees to `watched` (to take the monitors off them).
  void drop_all(std::string_view caller, std::vector<ended>& out,
                std::vector<caf::actor_addr>& watched) {
    pick_in_call_order([](const call&) { return true; });
    for (auto i : picked_) {
      auto& c = slots_[i].c;
      out.push_back({std::move(c.done), caller_closed_error(c.service, c.method, caller)});
      release(i);
    }
    for (auto& entry : watched_)
      watched.push_back(std::move(entry.second));
    watched_.clear();
    armed_ = clock::time_point::max();
  }

  /// Forgets every call without running anything, and every callee (the owner is gone).
  void clear() noexcept {
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].used)
        release(i);
    watched_.clear();
    armed_ = clock::time_point::max();
  }

  /// How many calls are in flight.
  std::size_t size() const noexcept { return size_; }

  /// How many calls the slots hold at most without growing.
  std::size_t capacity() const noexcept { return slots_.size(); }

  /// The time of the armed tick (max: none).
  clock::time_point armed() const noexcept { return armed_; }

  /// Whether `callee` is watched (monitored for this table).
  bool watches(const caf::actor_control_block* callee) const { return watched_.count(callee) > 0; }

private:
  struct slot {
    call c;
    std::uint64_t order = 0;      // counts the calls made: sorts calls in call order
    std::uint32_t generation = 1; // no id is 0
    bool used = false;
  };

  /// Frees slot `index`: its completion is destroyed, its strings keep their capacity, and its
  /// next call gets another generation (ids of the calls before it no longer match).
  void release(std::uint32_t index) noexcept {
    auto& s = slots_[index];
    s.used = false;
    s.c.done = Completion{};
    s.c.callee = nullptr;
    if (++s.generation == 0)
      s.generation = 1;
    --size_;
    free_.push_back(index);
  }

  /// Fills picked_ with the slots of the calls for which `pred` holds, in call order.
  template <class Pred>
  void pick_in_call_order(Pred pred) {
    picked_.clear();
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].used && pred(slots_[i].c))
        picked_.push_back(i);
    std::sort(picked_.begin(), picked_.end(), [this](std::uint32_t x, std::uint32_t y) {
      return slots_[x].order < slots_[y].order;
    });
  }

  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;   // slots to reuse, last freed first
  std::vector<std::uint32_t> picked_; // scratch: the slots an ending takes, in their order
  std::size_t size_ = 0;
  std::uint64_t calls_made_ = 0;
  // One monitor per callee, kept until it goes down or the owner closes; the address keeps
  // the control block (which the calls point at) alive until then.
  std::unordered_map<const caf::actor_control_block*, caf::actor_addr> watched_;
  clock::time_point armed_ = clock::time_point::max(); // the armed tick (max: none)
};

} // namespace microlith::detail
