// The X-Microlith-Toggles header: a test's per-call toggle overrides through the gateway
// (docs/toggles.md, "Per-call overrides"). Its value is comma-separated `NAME=on|off` items,
// optional spaces and tabs around items and around `=`:
//
//   X-Microlith-Toggles: bank.transfer_fee=on, bank.new_limits=off
//
// Bounded before anything is looked up: at most max_toggle_overrides_header bytes and
// max_toggle_overrides items; every name must be a toggle the node declares. Nothing in the
// value is ever recorded anywhere: a name is only compared with the declared ones. The gateway
// reads the header only when the node honours overrides ([toggles] test_overrides = true);
// otherwise it is not parsed, only counted (node::count_ignored_overrides).
#pragma once

#include "microlith/actors/toggles.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <string_view>

namespace microlith::gateway {

/// The header's name.
inline constexpr std::string_view toggle_overrides_header = "X-Microlith-Toggles";

/// The longest value of the header the gateway reads, in bytes.
inline constexpr std::size_t max_toggle_overrides_header = 1024;

/// The overrides of an X-Microlith-Toggles value, in the order given, for a node whose declared
/// toggles are those of `declared`; a bad_request error that starts with the header's name and
/// says what is wrong: too long, too many items, an empty item, an item without `=`, a value
/// other than on or off, a name that is not a declared toggle, a name given twice.
caf::expected<toggle_overrides> parse_toggle_overrides_header(std::string_view value,
                                                              const toggle_snapshot& declared);

} // namespace microlith::gateway
