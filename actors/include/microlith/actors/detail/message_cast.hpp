// The type check of a message body against the C++ class a reply or a subscriber expects, and
// what is reported when the body holds another type.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <typeinfo>

namespace microlith::detail {

/// The pointer to `T` in `body` when it holds a `T`, else nullptr.
template <class T>
const T* message_cast(const message_ptr& body) {
  if (!body)
    return nullptr;
  const google::protobuf::Message& held = *body;
  // typeid, not GetDescriptor(): cheaper than a descriptor lookup (docs/benchmarks.md).
  return typeid(held) == typeid(T) ? static_cast<const T*>(&held) : nullptr;
}

/// "bad_request: expected bank.Balance, got bank.Entry" for a reply of the wrong type.
caf::error wrong_reply_type(const google::protobuf::Descriptor* expected, const message_ptr& got);

/// Logs a published message dropped because it is not of the type its subscriber expects.
void log_wrong_topic_type(const std::string& subscriber, const std::string& topic,
                          const std::string& expected, const message_ptr& got);

} // namespace microlith::detail
