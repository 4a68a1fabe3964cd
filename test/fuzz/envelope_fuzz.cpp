// An envelope's wire form (actors/src/envelope.cpp): what a node reads from another node's bytes,
// through CAF's binary deserializer with the node's actor system, as BASP reads a payload. The
// first byte chooses the form: even, the envelope alone (its inspect, then from_wire); odd, a
// CAF message holding one (the type name first, as on the wire). Whatever the bytes, decoding
// ends in an envelope or an error, and a decoded envelope written again reads back to the same
// envelope (its deadline aside, which counts the time left).
#include "fuzz_target.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/node.hpp>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

constexpr const char* target = "envelope";

// The node whose actor system decodes (its error category and the envelope's type registered as
// a running node has them); one per process, kept to its end.
microlith::node& decoding_node() {
  static auto* instance = [] {
    microlith::node_options options;
    options.name = "fuzz";
    options.threads = 1;
    options.call_metrics = false;
    return new microlith::node(std::move(options));
  }();
  return *instance;
}

std::vector<char> encode(caf::actor_system& system, microlith::envelope& env) {
  std::vector<char> bytes;
  caf::binary_serializer sink{system, bytes};
  auto err = sink(env);
  MICROLITH_FUZZ_CHECK(target, !err, "a decoded envelope does not encode");
  return bytes;
}

// A body's bytes with map entries in key order (Protobuf orders a map's entries as it likes).
std::string body_bytes(const microlith::envelope& env) {
  std::string bytes;
  if (!env.body)
    return bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  env.body->SerializeToCodedStream(&coded);
  return bytes;
}

// Two envelopes read from the wire, the second from the first's bytes: equal but for the
// deadline, which counts the time left from when each was read and written (both have one or
// neither has; the time left moves by the time the fuzzer took, give or take rounding to whole
// milliseconds: bounded here generously, a busy machine can pause a process for a while).
bool same_envelope(const microlith::envelope& x, const microlith::envelope& y) {
  auto a = microlith::to_wire(x);
  auto b = microlith::to_wire(y);
  auto deadline_kept = (a.deadline_ms_left < 0) == (b.deadline_ms_left < 0)
                       && b.deadline_ms_left <= a.deadline_ms_left + 1000
                       && b.deadline_ms_left + 10000 >= a.deadline_ms_left;
  return deadline_kept && a.kind == b.kind && a.call_id == b.call_id && a.service == b.service
         && a.method == b.method && a.body_type == b.body_type && body_bytes(x) == body_bytes(y)
         && a.error == b.error && a.correlation_id == b.correlation_id && a.caller == b.caller
         && a.hops == b.hops && a.idempotency_key == b.idempotency_key
         && a.toggle_override_names == b.toggle_override_names
         && a.toggle_override_values == b.toggle_override_values
         && a.toggles_digest == b.toggles_digest && a.job_id == b.job_id
         && a.job_attempt == b.job_attempt && a.trace_flags == b.trace_flags
         && a.parent_span == b.parent_span;
}

} // namespace

MICROLITH_FUZZ_TARGET(envelope) {
  if (size == 0)
    return 0;
  auto& system = decoding_node().system();
  const auto* bytes = reinterpret_cast<const char*>(data) + 1;
  const auto length = size - 1;
  microlith::envelope env;
  if (data[0] % 2 == 0) {
    caf::binary_deserializer source{system, bytes, length};
    if (source(env))
      return 0;
  } else {
    caf::message msg;
    caf::binary_deserializer source{system, bytes, length};
    if (source(msg) || !msg.match_elements<microlith::envelope>())
      return 0;
    env = msg.get_as<microlith::envelope>(0);
  }
  // Written again and read back, the envelope is the same (its deadline counts down).
  auto bytes_again = encode(system, env);
  microlith::envelope again;
  caf::binary_deserializer source{system, bytes_again};
  MICROLITH_FUZZ_CHECK(target, !source(again), "an encoded envelope does not decode");
  MICROLITH_FUZZ_CHECK(target, same_envelope(env, again),
                       "an envelope written and read again changed");
  return 0;
}

#ifndef MICROLITH_LIBFUZZER
#include "proto/test.pb.h"

#include <microlith/actors/error.hpp>

#include <fstream>

namespace {

// Envelopes of each kind with every field a node sends, in both forms (the first byte).
void write_envelope_seeds(const std::string& folder) {
  auto& system = decoding_node().system();
  std::vector<microlith::envelope_wire> wires;
  microlith::test::PingRequest ping;
  ping.set_text("hello");
  microlith::envelope_wire call;
  call.kind = 0;
  call.call_id = 42;
  call.service = "echo";
  call.method = "Ping";
  call.body_type = ping.GetDescriptor()->full_name();
  call.body_bytes = ping.SerializeAsString();
  call.correlation_id = "req-1";
  call.caller = "gateway";
  call.deadline_ms_left = 5000;
  call.hops = 1;
  call.idempotency_key = "8e03978e-40d5";
  call.toggle_override_names = {"bank.transfer_fee", "bank.new_limits"};
  call.toggle_override_values = std::string{"\1\0", 2};
  call.toggles_digest = 0x1234567890abcdefULL;
  call.job_id = 7;
  call.job_attempt = 2;
  call.trace_flags = microlith::wire_traced | microlith::wire_trace_forced;
  call.parent_span = 99;
  wires.push_back(call);
  auto cast = call;
  cast.kind = 1;
  cast.call_id = 0;
  cast.body_type = "microlith.test.NoSuchType";
  wires.push_back(cast);
  microlith::envelope_wire reply;
  reply.kind = 2;
  reply.call_id = 42;
  reply.service = "echo";
  reply.method = "Ping";
  reply.error = microlith::make_error(microlith::errc::not_found, "no account 12");
  wires.push_back(reply);
  auto publish = microlith::envelope_wire{};
  publish.kind = 3;
  publish.service = "balances";
  publish.body_type = ping.GetDescriptor()->full_name();
  publish.body_bytes = "\x0a\x03"
                       "abc";
  wires.push_back(publish);
  int n = 0;
  for (auto& wire : wires) {
    std::vector<char> alone;
    caf::binary_serializer{system, alone}(wire);
    std::vector<char> as_message;
    auto msg = caf::make_message(microlith::from_wire(wire));
    caf::binary_serializer{system, as_message}(msg);
    for (auto [form, bytes] : {std::pair{'\0', &alone}, std::pair{'\1', &as_message}}) {
      std::ofstream out(folder + "/seed-" + std::to_string(++n), std::ios::binary);
      out.put(form);
      out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    }
  }
}

const microlith::fuzz::seed_registration envelope_seeds{"envelope", &write_envelope_seeds};

} // namespace
#endif
