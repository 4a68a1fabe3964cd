// The fingerprint of a request, recorded with its idempotency key: what the key stands for. A
// retry with the key must carry the same request; another request with it is refused. The
// fingerprint is FNV-1a 64 over the method's full name ("bank.Accounts/Deposit"), a newline, and
// the request's deterministic Protobuf serialization, as 16 lowercase hex digits. It is stable
// across processes and builds of one contract: two JSON bodies that parse to the same request
// (other spacing or field order) have the same fingerprint.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace bank {

/// FNV-1a 64 of `bytes`.
inline std::uint64_t fnv1a_64(std::string_view bytes, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

/// The fingerprint of `request` sent to `method` ("bank.Accounts/Deposit"): 16 hex digits.
inline std::string request_fingerprint(std::string_view method,
                                       const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream{&bytes};
    google::protobuf::io::CodedOutputStream out{&stream};
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  auto hash = fnv1a_64(method);
  hash = fnv1a_64("\n", hash);
  hash = fnv1a_64(bytes, hash);
  return fmt::format("{:016x}", hash);
}

} // namespace bank
