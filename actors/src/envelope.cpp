#include "microlith/actors/envelope.hpp"
#include "microlith/actors/toggles.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <fmt/format.h>

#include <algorithm>

namespace microlith {

namespace {

// A type name or service name quoted in an error is cut here: it came from another process.
constexpr std::size_t max_quoted = 128;

std::string clipped_quote(const std::string& text) {
  if (text.size() <= max_quoted)
    return "\"" + text + "\"";
  return "\"" + text.substr(0, max_quoted) + "...\"";
}

// The longest time left a received envelope's deadline keeps (365 days).
constexpr std::int64_t max_wire_time_left = 365LL * 24 * 3600 * 1000;

} // namespace

envelope_wire to_wire(const envelope& env) {
  envelope_wire out;
  out.kind = static_cast<std::uint8_t>(env.kind);
  out.call_id = env.call_id;
  out.service = env.service;
  out.method = env.method;
  if (env.body) {
    out.body_type = env.body->GetDescriptor()->full_name();
    env.body->SerializeToString(&out.body_bytes);
  }
  out.error = env.error;
  out.correlation_id = env.meta.correlation_id;
  out.caller = env.meta.caller;
  if (env.meta.deadline != clock::time_point{}) {
    auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(env.meta.deadline - clock::now());
    out.deadline_ms_left = std::max<std::int64_t>(0, left.count());
  }
  out.hops = env.meta.hops;
  out.idempotency_key = env.meta.idempotency_key;
  if (env.meta.toggle_overrides) {
    out.toggle_override_names.reserve(env.meta.toggle_overrides->size());
    out.toggle_override_values.reserve(env.meta.toggle_overrides->size());
    for (const auto& o : *env.meta.toggle_overrides) {
      out.toggle_override_names.push_back(o.name);
      out.toggle_override_values.push_back(o.on ? '\1' : '\0');
    }
  }
  // The digest the request arrived with wins over the snapshot this node substituted: on a miss
  // here, the next node may still hold the values the request entered the system with.
  out.toggles_digest = env.meta.toggles_digest != 0 ? env.meta.toggles_digest
                       : env.meta.toggles           ? env.meta.toggles->digest()
                                                    : 0;
  out.job_id = env.meta.job_id;
  out.job_attempt = env.meta.job_attempt;
  if (env.meta.traced) {
    out.trace_flags = static_cast<std::uint8_t>(
      env.meta.trace_forced ? wire_traced | wire_trace_forced : wire_traced);
    out.parent_span = env.meta.parent_span;
  }
  return out;
}

envelope from_wire(envelope_wire wire) {
  namespace pb = google::protobuf;
  envelope out;
  out.kind = wire.kind <= static_cast<std::uint8_t>(envelope_kind::publish)
               ? static_cast<envelope_kind>(wire.kind)
               : envelope_kind::cast;
  if (wire.kind > static_cast<std::uint8_t>(envelope_kind::publish))
    out.undecodable = fmt::format("unknown envelope kind {}", wire.kind);
  out.call_id = wire.call_id;
  out.service = std::move(wire.service);
  out.method = std::move(wire.method);
  out.error = std::move(wire.error);
  out.meta.correlation_id = std::move(wire.correlation_id);
  out.meta.caller = std::move(wire.caller);
  // The time left, at most max_wire_time_left: a larger value from another process (a year's
  // worth of milliseconds times a million overflows the clock's nanoseconds) means "a long time".
  if (wire.deadline_ms_left >= 0)
    out.meta.deadline =
      clock::now() + std::chrono::milliseconds(std::min(wire.deadline_ms_left, max_wire_time_left));
  out.meta.hops = wire.hops;
  out.meta.idempotency_key = std::move(wire.idempotency_key);
  // Only compared with the digests of snapshots this node published (toggle_holder::find).
  out.meta.toggles_digest = wire.toggles_digest;
  // Untrusted until the receiving endpoint validates them against its node (declared names,
  // policy): here only bounded, never looked up or recorded anywhere.
  const auto overrides = std::min(
    {wire.toggle_override_names.size(), wire.toggle_override_values.size(), max_toggle_overrides});
  if (overrides > 0) {
    auto list = std::make_shared<toggle_overrides>();
    list->reserve(overrides);
    for (std::size_t i = 0; i < overrides; ++i)
      list->push_back(
        {std::move(wire.toggle_override_names[i]), wire.toggle_override_values[i] != '\0'});
    out.meta.toggle_overrides = std::move(list);
  }
  // A job's id and attempt are kept together or not at all: an attempt out of range (or a job
  // without one) from another process is dropped rather than shown to a handler.
  if (wire.job_id > 0 && wire.job_attempt >= 1 && wire.job_attempt <= max_wire_job_attempt) {
    out.meta.job_id = wire.job_id;
    out.meta.job_attempt = wire.job_attempt;
  }
  if ((wire.trace_flags & wire_traced) != 0) {
    out.meta.traced = true;
    out.meta.trace_forced = (wire.trace_flags & wire_trace_forced) != 0;
    out.meta.parent_span = wire.parent_span;
  }
  if (wire.body_type.empty())
    return out;
  const auto* type = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(wire.body_type);
  const auto* prototype =
    type == nullptr ? nullptr : pb::MessageFactory::generated_factory()->GetPrototype(type);
  if (prototype == nullptr) {
    out.undecodable = fmt::format("this node does not know the message type {} (is its "
                                  "generated code linked in?)",
                                  clipped_quote(wire.body_type));
    return out;
  }
  std::unique_ptr<pb::Message> body{prototype->New()};
  if (!body->ParseFromString(wire.body_bytes)) {
    out.undecodable =
      fmt::format("{} bytes do not parse as {}", wire.body_bytes.size(), wire.body_type);
    return out;
  }
  out.body = message_ptr{std::move(body)};
  return out;
}

} // namespace microlith
