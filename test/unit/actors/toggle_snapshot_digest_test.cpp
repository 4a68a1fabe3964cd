// The digest of a toggle snapshot (toggle_snapshot::digest), the identity that travels with a
// call to other nodes: equal values give equal digests whatever order they were given in and
// whatever the descriptions say, and any change of a gate or of a group's members changes it.
// And the ring of snapshots a node published (detail::toggle_holder, node::published_toggles):
// bounded at 64, the oldest leaves first, values published again move to the newest place.
#include "detail/toggle_holder.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/toggles.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

using microlith::percentage_kind;
using microlith::toggle_gates;
using microlith::toggle_groups;
using microlith::toggle_snapshot;
using microlith::toggle_state;

namespace {

toggle_state toggle(std::string name, toggle_gates gates = {}, std::string description = "") {
  toggle_state t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.gates = std::move(gates);
  return t;
}

// Two toggles with every kind of gate, and a group with members.
struct values {
  toggle_gates a;
  toggle_gates b;
  toggle_groups groups;

  values() {
    a.boolean = true;
    a.actors = {{"ada", true}, {"bob", false}};
    a.groups = {{"staff", true}};
    b.percentage = percentage_kind::actors;
    b.percent = 25;
    groups = {{"staff", {"ada", "eve"}}};
  }

  std::uint64_t digest() const {
    return toggle_snapshot{{toggle("demo.a", a), toggle("demo.b", b)}, groups}.digest();
  }
};

std::shared_ptr<const toggle_snapshot> with_percent(int percent) {
  toggle_gates g;
  g.percentage = percentage_kind::time;
  g.percent = percent;
  return std::make_shared<const toggle_snapshot>(std::vector<toggle_state>{toggle("t", g)},
                                                 toggle_groups{});
}

} // namespace

TEST_CASE("snapshots of the same values have the same digest", "[unit]") {
  const values v;
  // Built in another order, with other descriptions and declared defaults: the same digest.
  auto b = toggle("demo.b", v.b, "another text");
  b.default_value = true;
  toggle_snapshot reordered{{b, toggle("demo.a", v.a, "a flag")}, v.groups};
  CHECK(reordered.digest() == v.digest());
  // A group without members decides what an absent group does.
  auto groups = v.groups;
  groups["empty"] = {};
  CHECK(toggle_snapshot({toggle("demo.a", v.a), toggle("demo.b", v.b)}, groups).digest()
        == v.digest());
  // Never 0 (0 on the wire means no snapshot), also for the empty snapshot.
  CHECK(v.digest() != 0);
  CHECK(toggle_snapshot{}.digest() != 0);
  CHECK(toggle_snapshot{}.digest() == toggle_snapshot({}, {}).digest());
}

TEST_CASE("any change of a value or a gate changes the digest", "[unit]") {
  const values base;
  const std::vector<std::pair<std::string, std::function<void(values&)>>> changes{
    {"boolean", [](values& v) { v.a.boolean = false; }},
    {"an actor's value", [](values& v) { v.a.actors["bob"] = true; }},
    {"an actor added", [](values& v) { v.a.actors["cy"] = true; }},
    {"an actor removed", [](values& v) { v.a.actors.erase("bob"); }},
    {"an actor's key",
     [](values& v) {
       v.a.actors = {{"adab", true}, {"ob", false}};
     }},
    {"a group gate's value", [](values& v) { v.a.groups["staff"] = false; }},
    {"a group gate added", [](values& v) { v.b.groups["staff"] = true; }},
    {"the percentage's kind", [](values& v) { v.b.percentage = percentage_kind::time; }},
    {"the percentage", [](values& v) { v.b.percent = 26; }},
    {"a group's member added", [](values& v) { v.groups["staff"].insert("bob"); }},
    {"a group's member removed", [](values& v) { v.groups["staff"].erase("eve"); }},
    {"a group added", [](values& v) { v.groups["ops"] = {"cy"}; }},
    {"a gate moved to the other toggle",
     [](values& v) {
       v.a.actors.erase("ada");
       v.b.actors["ada"] = true;
     }},
  };
  std::set<std::uint64_t> seen{base.digest()};
  for (const auto& [what, change] : changes) {
    INFO(what);
    values v;
    change(v);
    CHECK(v.digest() != base.digest());
    seen.insert(v.digest());
  }
  CHECK(seen.size() == changes.size() + 1); // and no two changes collide

  // A toggle's name, and a toggle added.
  CHECK(toggle_snapshot({toggle("demo.a", base.a), toggle("demo.c", base.b)}, base.groups).digest()
        != base.digest());
  CHECK(toggle_snapshot({toggle("demo.a", base.a), toggle("demo.b", base.b), toggle("demo.c")},
                        base.groups)
          .digest()
        != base.digest());
}

TEST_CASE("the ring of published snapshots keeps the last 64 and evicts the oldest", "[unit]") {
  microlith::detail::toggle_holder holder;
  REQUIRE(microlith::detail::toggle_holder::recent_snapshots == 64);
  const auto empty = holder.current()->digest();
  CHECK(holder.find(empty) == holder.current());

  std::vector<std::shared_ptr<const toggle_snapshot>> published;
  for (int p = 1; p <= 64; ++p) {
    published.push_back(with_percent(p));
    holder.publish(published.back());
  }
  // 64 published: each is found, as the very snapshot published; the empty one has left.
  CHECK(holder.recent_digests().size() == 64);
  for (const auto& s : published)
    CHECK(holder.find(s->digest()) == s);
  CHECK(holder.find(empty) == nullptr);

  // One more: the oldest leaves, the ring stays at 64.
  published.push_back(with_percent(65));
  holder.publish(published.back());
  CHECK(holder.recent_digests().size() == 64);
  CHECK(holder.find(published[0]->digest()) == nullptr);
  CHECK(holder.find(published[1]->digest()) == published[1]);

  // Values published again (a new snapshot of them) take the newest place, once: the next
  // eviction takes the one after them.
  auto again = with_percent(2);
  holder.publish(again);
  CHECK(holder.recent_digests().size() == 64);
  CHECK(holder.recent_digests().back() == again->digest());
  CHECK(holder.find(again->digest()) == again);
  holder.publish(with_percent(66));
  CHECK(holder.find(again->digest()) == again);
  CHECK(holder.find(published[2]->digest()) == nullptr);
  CHECK(holder.find(published[3]->digest()) == published[3]);

  // 0 and digests never published find nothing, and create nothing.
  CHECK(holder.find(0) == nullptr);
  CHECK(holder.find(0x0123456789abcdefULL) == nullptr);
  CHECK(holder.recent_digests().size() == 64);
}

TEST_CASE("a node answers the snapshots it published by digest", "[unit]") {
  microlith::node node;
  auto old_values = with_percent(10);
  auto new_values = with_percent(20);
  node.publish_toggles(old_values);
  node.publish_toggles(new_values);
  CHECK(node.published_toggles(old_values->digest()) == old_values);
  CHECK(node.published_toggles(new_values->digest()) == new_values);
  CHECK(node.published_toggles(with_percent(30)->digest()) == nullptr);
  CHECK(node.toggle_snapshot_misses() == 0);
}

TEST_CASE("the wire form of an envelope carries its snapshot's digest and not its values",
          "[unit]") {
  auto snapshot = with_percent(40);
  microlith::envelope env;
  env.meta.toggles = snapshot;
  auto wire = microlith::to_wire(env);
  CHECK(wire.toggles_digest == snapshot->digest());
  auto back = microlith::from_wire(wire);
  CHECK(back.meta.toggles == nullptr);
  CHECK(back.meta.toggles_digest == snapshot->digest());
  // Passed on without being resolved (no snapshot held): the digest it arrived with goes on.
  CHECK(microlith::to_wire(back).toggles_digest == snapshot->digest());
  // No snapshot: 0.
  CHECK(microlith::to_wire(microlith::envelope{}).toggles_digest == 0);
}
