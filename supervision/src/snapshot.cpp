// Snapshots of a supervision tree: rendering one as text, and asking a supervisor for one from
// a plain thread.
#include "microlith/supervision/snapshot.hpp"

#include "microlith/actors/error.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace microlith {

caf::expected<tree_snapshot> snapshot_of(caf::actor_system& sys, const caf::actor& supervisor,
                                         std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<tree_snapshot> result = make_error(errc::timeout, "no snapshot");
  self->request(supervisor, timeout, snapshot_atom::value)
    .receive([&](tree_snapshot& tree) { result = std::move(tree); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

namespace {

// `text` with `"`, `\` and newlines escaped by a backslash, to stand between quotes on one line.
std::string escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

} // namespace

std::string exit_text(const caf::error& reason) {
  if (!reason)
    return "normal";
  if (reason.category() == caf::atom("system")
      && reason.code() == static_cast<std::uint8_t>(caf::sec::runtime_error)) {
    const auto& ctx = reason.context();
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      return ctx.get_as<std::string>(0);
  }
  if (reason.category() == caf::atom("exit")) {
    auto code = static_cast<caf::exit_reason>(reason.code());
    return code == caf::exit_reason::kill ? "killed" : caf::to_string(code);
  }
  return describe(reason);
}

std::string to_text(const tree_snapshot& tree) {
  std::string out;
  auto line = [&](const tree_snapshot& x, int depth, auto& self) -> void {
    out += fmt::format("{:{}}{} {} {}", "", depth * 2, x.id, x.kind, x.state);
    if (depth > 0)
      out += fmt::format(" restarts={}", x.restarts);
    if (x.actor != 0)
      out += x.node.empty() ? fmt::format(" actor={}", x.actor)
                            : fmt::format(" actor={}@{}", x.actor, x.node);
    else if (depth == 0 && !x.node.empty())
      out += " node=" + x.node;
    if (x.mailbox >= 0)
      out += fmt::format(" mailbox={}", x.mailbox);
    if (!x.services.empty())
      out += fmt::format(" services={}", fmt::join(x.services, ","));
    if (!x.last_exit_reason.empty())
      out += " last_exit=\"" + escaped(x.last_exit_reason) + '"';
    out += '\n';
    for (const auto& c : x.children)
      self(c, depth + 1, self);
  };
  line(tree, 0, line);
  return out;
}

} // namespace microlith
