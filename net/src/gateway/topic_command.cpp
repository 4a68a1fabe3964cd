#include "gateway/topic_command.hpp"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

namespace microlith::gateway {

// {"subscribe": "t"} or {"unsubscribe": "t"}: the first of the two verbs the object has decides.
std::variant<topic_command, std::string> parse_topic_command(std::string_view message) {
  google::protobuf::Struct request;
  if (!google::protobuf::util::JsonStringToMessage(
         google::protobuf::StringPiece(message.data(), message.size()), &request)
         .ok())
    return std::string{"expected a JSON object such as {\"subscribe\": \"balances\"}"};
  const auto& fields = request.fields();
  for (const char* verb : {"subscribe", "unsubscribe"}) {
    auto i = fields.find(verb);
    if (i == fields.end())
      continue;
    if (i->second.kind_case() != google::protobuf::Value::kStringValue
        || i->second.string_value().empty())
      return fmt::format("\"{}\" expects a topic name (a non-empty string)", verb);
    return topic_command{verb == std::string_view{"subscribe"}, i->second.string_value()};
  }
  return std::string{"expected {\"subscribe\": \"topic\"} or {\"unsubscribe\": \"topic\"}"};
}

} // namespace microlith::gateway
