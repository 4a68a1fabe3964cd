#include "microlith/actors/detail/message_cast.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"

#include <google/protobuf/message.h>

#include <fmt/format.h>

namespace microlith::detail {

caf::error wrong_reply_type(const google::protobuf::Descriptor* expected, const message_ptr& got) {
  return make_error(errc::bad_request,
                    fmt::format("expected a reply of type {}, got {}", expected->full_name(),
                                got ? got->GetDescriptor()->full_name() : "no body"));
}

void log_wrong_topic_type(const std::string& subscriber, const std::string& topic,
                          const std::string& expected, const message_ptr& got) {
  log::warn(subscriber, "dropped a message published to {}: expected {}, got {}", topic, expected,
            got ? got->GetDescriptor()->full_name() : "no body");
}

} // namespace microlith::detail
