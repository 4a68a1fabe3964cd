// The gateway's HTTP <-> Protobuf binding (rules in http_binding.hpp): the JSON body through
// Protobuf's own JSON mapping, then query and path parameters set by reflection, then answers
// and errors rendered as JSON.
#include "microlith/net/gateway/http_binding.hpp"

#include <microlith/actors/error.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace microlith::gateway {

namespace {

namespace pb = google::protobuf;

/// The longest part of a request value quoted back in an error message, in bytes.
constexpr std::size_t k_max_quoted = 64;

// ---- Text helpers --------------------------------------------------------------------------

/// True for the whitespace JSON and HTTP headers allow around values.
bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// `text` without leading and trailing whitespace.
std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

/// ASCII-only case-insensitive equality (media types are case-insensitive).
bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    auto y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y)
      return false;
  }
  return true;
}

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) noexcept {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// The value of a hex digit, or -1.
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The length of the well-formed UTF-8 sequence `text` starts with, or 0 when it starts with
/// none (a stray continuation byte, a truncated or overlong sequence, a surrogate).
std::size_t utf8_sequence_length(std::string_view text) noexcept {
  if (text.empty())
    return 0;
  auto lead = static_cast<unsigned char>(text[0]);
  if (lead < 0x80)
    return 1;
  std::size_t length = 0;
  std::uint32_t code_point = 0;
  std::uint32_t smallest = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, smallest = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length)
    return 0;
  for (std::size_t i = 1; i < length; ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) != 0x80)
      return 0;
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  if (code_point < smallest || code_point > 0x10FFFF
      || (code_point >= 0xD800 && code_point <= 0xDFFF))
    return 0;
  return length;
}

/// True when `text` is well-formed UTF-8 (what Protobuf requires of a proto3 string field).
bool is_utf8(std::string_view text) noexcept {
  while (!text.empty()) {
    auto length = utf8_sequence_length(text);
    if (length == 0)
      return false;
    text.remove_prefix(length);
  }
  return true;
}

/// A request value as an error message quotes it: in double quotes, cut after k_max_quoted
/// bytes (at a character boundary) so an error body stays small whatever was sent.
std::string quote_value(std::string_view value) {
  if (value.size() <= k_max_quoted)
    return fmt::format("\"{}\"", value);
  auto cut = k_max_quoted;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
    --cut;
  return fmt::format("\"{}...\"", value.substr(0, cut));
}

/// Appends `text` as a JSON string literal: quotes, backslashes and control characters escaped;
/// a byte that is not part of well-formed UTF-8 becomes U+FFFD, so the output is valid JSON.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  while (!text.empty()) {
    auto c = static_cast<unsigned char>(text.front());
    if (c >= 0x80) {
      auto length = utf8_sequence_length(text);
      if (length == 0) {
        out += "\\ufffd";
        length = 1;
      } else {
        out.append(text.substr(0, length));
      }
      text.remove_prefix(length);
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        else
          out += static_cast<char>(c);
    }
    text.remove_prefix(1);
  }
  out += '"';
}

// ---- The body ------------------------------------------------------------------------------

/// True for "application/json" in any letter case, with or without parameters
/// ("application/json; charset=utf-8").
bool is_json_media_type(std::string_view content_type) noexcept {
  return iequals(trim(content_type.substr(0, content_type.find(';'))), "application/json");
}

/// A binding error from the status text of JsonStringToMessage. Protobuf 3.21 reports:
///   an unknown field         `foo: Cannot find field.`
///     (inside a nested message `(inner) foo: Cannot find field.`)
///   a value of a wrong type  `(amount): invalid value "abc" for type TYPE_INT32`
///     (paths such as `inner.x`, `tags[0]`, `labels[0].value`)
///   a root that is no object `: Root element must be a message.`
///   malformed JSON           `Unexpected end of string. Expected a value.` followed by two
///     more lines: a short piece of the input (about 20 bytes, from at or before the fault),
///     and a `^` under the fault.
/// The field is taken from the first three forms; the message keeps Protobuf's first line
/// (without the empty path of the third form) and, for malformed JSON, the input from the
/// fault on.
binding_error json_error(std::string_view status_text) {
  auto newline = status_text.find('\n');
  auto head = status_text.substr(0, newline);
  std::string_view near;
  if (newline != std::string_view::npos) {
    auto rest = status_text.substr(newline + 1);
    auto segment = rest.substr(0, rest.find('\n'));
    if (segment.size() < rest.size()) {
      auto caret = rest.substr(segment.size() + 1).find('^');
      if (caret != std::string_view::npos && caret <= segment.size())
        near = trim(segment.substr(caret));
    }
  }
  binding_error err;
  constexpr std::string_view unknown_field = ": Cannot find field.";
  if (ends_with(head, unknown_field)) {
    auto where = head.substr(0, head.size() - unknown_field.size());
    auto close = where.find(") ");
    if (starts_with(where, "(") && close != std::string_view::npos)
      err.field = fmt::format("{}.{}", where.substr(1, close - 1), where.substr(close + 2));
    else
      err.field = std::string{where};
  } else if (starts_with(head, "(")) {
    auto close = head.find("): ");
    if (close != std::string_view::npos)
      err.field = std::string{head.substr(1, close - 1)};
  } else if (starts_with(head, ": ")) {
    head.remove_prefix(2);
  }
  err.message = fmt::format("invalid JSON body: {}", head);
  if (!near.empty())
    err.message += fmt::format(" (at {})", quote_value(near));
  return err;
}

/// The deepest nesting raw_control_in_string() names in a field path; deeper levels are counted
/// but left out of the path.
constexpr std::size_t k_max_path_depth = 64;

/// RFC 8259 §7: a JSON string holds no raw U+0000..U+001F (they must be escaped, as `\u0000`).
/// Protobuf 3.21's parser takes such strings (all but a raw NUL, which it reports as a missing
/// closing quote), so the gateway looks for one itself. Answers the error for the first raw
/// control character inside a string of `body`, naming the field whose value (or the object
/// whose member name) holds it as a path (`name`, `inner.x`, `tags[0]`), as json_error does;
/// nothing when there is none. Only scans: malformed JSON is left for Protobuf to report.
std::optional<binding_error> raw_control_in_string(std::string_view body) {
  // Most bodies hold no byte below 0x20 at all (no string can then hold one): one pass.
  if (std::none_of(body.begin(), body.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return std::nullopt;
  struct level {
    bool object;           // an object, else an array
    std::string_view name; // an object's current member name, as written (escapes kept)
    std::size_t index = 0; // an array's current element
    bool naming = true;    // an object's next string is a member name
  };
  std::vector<level> levels;
  std::size_t hidden = 0; // levels below k_max_path_depth
  auto path = [&] {
    std::string out;
    for (const auto& l : levels) {
      if (!l.object)
        fmt::format_to(std::back_inserter(out), "[{}]", l.index);
      else if (!l.name.empty())
        out += out.empty() ? std::string{l.name} : fmt::format(".{}", l.name);
    }
    return out;
  };
  auto push = [&](bool object) {
    if (levels.size() < k_max_path_depth)
      levels.push_back(level{object, {}, 0, true});
    else
      ++hidden;
  };
  auto pop = [&] {
    if (hidden > 0)
      --hidden;
    else if (!levels.empty())
      levels.pop_back();
  };
  for (std::size_t i = 0; i < body.size(); ++i) {
    switch (body[i]) {
      case '{': push(true); break;
      case '[': push(false); break;
      case '}':
      case ']': pop(); break;
      case ',':
        if (hidden == 0 && !levels.empty()) {
          auto& l = levels.back();
          if (l.object)
            l.naming = true, l.name = {};
          else
            ++l.index;
        }
        break;
      case '"': {
        auto start = ++i;
        while (i < body.size() && body[i] != '"') {
          auto c = static_cast<unsigned char>(body[i]);
          if (c < 0x20) {
            bool in_name =
              hidden == 0 && !levels.empty() && levels.back().object && levels.back().naming;
            auto where = in_name ? "a member name" : "a string";
            return binding_error{
              path(), fmt::format("invalid JSON body: a raw control character (U+{:04X}) in {} "
                                  "at byte {}: JSON strings must escape it (RFC 8259 section 7), "
                                  "as \\u{:04x}",
                                  c, where, i, c)};
          }
          i += body[i] == '\\' ? 2 : 1;
        }
        if (hidden == 0 && !levels.empty() && levels.back().object && levels.back().naming) {
          levels.back().name = body.substr(start, std::min(i, body.size()) - start);
          levels.back().naming = false;
        }
        break;
      }
      default: break;
    }
  }
  return std::nullopt;
}

/// Rule 1: fills `message` from a JSON body; an empty (or all-whitespace) body leaves it as is.
/// An absent Content-Type is taken as JSON: only a content type that says otherwise is refused.
std::optional<binding_error> bind_body(pb::Message& message, std::string_view body,
                                       std::string_view content_type) {
  if (trim(body).empty())
    return std::nullopt;
  if (!trim(content_type).empty() && !is_json_media_type(content_type))
    return binding_error{"Content-Type",
                         fmt::format("expected a JSON body (Content-Type: application/json), got "
                                     "Content-Type {}",
                                     quote_value(content_type))};
  if (auto err = raw_control_in_string(body))
    return err;
  pb::util::JsonParseOptions options; // ignore_unknown_fields = false: an unknown field is an error
  auto status =
    pb::util::JsonStringToMessage(pb::StringPiece{body.data(), body.size()}, &message, options);
  if (status.ok())
    return std::nullopt;
  auto text = status.message();
  return json_error(std::string_view{text.data(), text.size()});
}

// ---- Parameters ----------------------------------------------------------------------------

/// How a parsed number failed.
enum class number_fault { none, junk, out_of_range };

/// Parses all of `text` as a T (an integer or floating-point type). No sign for unsigned
/// types, no leading '+' or whitespace, no empty text.
template <class T>
number_fault parse_number(std::string_view text, T& out) noexcept {
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, out);
  if (ec == std::errc::result_out_of_range)
    return number_fault::out_of_range;
  if (ec != std::errc{} || end != last)
    return number_fault::junk;
  return number_fault::none;
}

/// The error of a parameter whose text is not a number of the field's type.
binding_error number_error(const pb::FieldDescriptor& field, const param& p, bool integer,
                           number_fault fault) {
  auto unsigned_type = field.cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32
                       || field.cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64;
  auto what = !integer ? "a number" : unsigned_type ? "a non-negative integer" : "an integer";
  auto message = fmt::format("expected {} ({}) for field \"{}\", got {}", what, field.type_name(),
                             field.name(), quote_value(p.value));
  if (fault == number_fault::out_of_range)
    message += " (out of range)";
  return binding_error{p.name, std::move(message)};
}

/// Sets a numeric field from a parameter through `setter` (Reflection::SetInt32, ...).
template <class T>
std::optional<binding_error>
set_number(pb::Message& message, const pb::FieldDescriptor& field, const param& p,
           void (pb::Reflection::*setter)(pb::Message*, const pb::FieldDescriptor*, T) const) {
  T value{};
  if (auto fault = parse_number(p.value, value); fault != number_fault::none)
    return number_error(field, p, std::is_integral_v<T>, fault);
  (message.GetReflection()->*setter)(&message, &field, value);
  return std::nullopt;
}

/// Sets an enum field from a value name or number. A number outside the enum is taken only
/// for an open (proto3) enum, as Protobuf's JSON mapping does; a closed enum would move it to
/// the unknown fields instead.
std::optional<binding_error> set_enum(pb::Message& message, const pb::FieldDescriptor& field,
                                      const param& p) {
  const auto& type = *field.enum_type();
  const auto& reflection = *message.GetReflection();
  if (const auto* value = type.FindValueByName(p.value)) {
    reflection.SetEnum(&message, &field, value);
    return std::nullopt;
  }
  std::int32_t number = 0;
  if (parse_number(p.value, number) == number_fault::none
      && (type.FindValueByNumber(number) != nullptr
          || field.file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO3)) {
    reflection.SetEnumValue(&message, &field, number);
    return std::nullopt;
  }
  std::string names;
  for (int i = 0; i < type.value_count(); ++i) {
    if (i > 0)
      names += ", ";
    names += type.value(i)->name();
  }
  return binding_error{p.name,
                       fmt::format("expected a value of enum {} ({}) or its number for "
                                   "field \"{}\", got {}",
                                   type.full_name(), names, field.name(), quote_value(p.value))};
}

/// The first ASCII control character of `text` (U+0000..U+001F, U+007F) as its byte value and
/// offset; nothing when there is none. A byte test, so it holds for bytes fields as for text.
std::optional<std::pair<unsigned, std::size_t>> control_character(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F)
      return std::pair{static_cast<unsigned>(c), i};
  }
  return std::nullopt;
}

/// Rules 2 and 3 refuse a parameter whose decoded value holds a control character (`%00`,
/// `%0A`, ...), whatever its field's type: a NUL or a line break in an id is a trap for every
/// store and log downstream, and no field needs one from a URL (binary data goes in the body,
/// as base64). `kind` is "path" or "query".
std::optional<binding_error> check_param_text(std::string_view kind, const param& p) {
  auto found = control_character(p.value);
  if (!found)
    return std::nullopt;
  return binding_error{p.name, fmt::format("{} parameter \"{}\": expected text without control "
                                           "characters (U+0000..U+001F, U+007F), got U+{:04X} "
                                           "at byte {} of its decoded value",
                                           kind, p.name, found->first, found->second)};
}

/// Rules 2 and 3: sets the singular scalar field named by `p` from its text.
std::optional<binding_error> bind_param(pb::Message& message, const param& p) {
  using fd = pb::FieldDescriptor;
  const auto& type = *message.GetDescriptor();
  const auto* field = type.FindFieldByName(p.name);
  if (field == nullptr)
    return binding_error{p.name,
                         fmt::format("\"{}\" is not a field of {}", p.name, type.full_name())};
  auto refuse = [&](std::string_view kind) {
    return binding_error{p.name, fmt::format("field \"{}\" is {}: a path or query parameter can "
                                             "only set a singular scalar field",
                                             field->name(), kind)};
  };
  if (field->is_map())
    return refuse("a map");
  if (field->is_repeated())
    return refuse("a repeated field");
  if (field->cpp_type() == fd::CPPTYPE_MESSAGE)
    return refuse(fmt::format("a message ({})", field->message_type()->full_name()));
  const auto& reflection = *message.GetReflection();
  switch (field->cpp_type()) {
    case fd::CPPTYPE_STRING:
      if (field->type() == fd::TYPE_STRING && !is_utf8(p.value))
        return binding_error{p.name,
                             fmt::format("expected UTF-8 text for field \"{}\"", field->name())};
      reflection.SetString(&message, field, p.value);
      return std::nullopt;
    case fd::CPPTYPE_BOOL:
      if (p.value != "true" && p.value != "false")
        return binding_error{p.name, fmt::format("expected true or false for field \"{}\", got {}",
                                                 field->name(), quote_value(p.value))};
      reflection.SetBool(&message, field, p.value == "true");
      return std::nullopt;
    case fd::CPPTYPE_INT32: return set_number(message, *field, p, &pb::Reflection::SetInt32);
    case fd::CPPTYPE_INT64: return set_number(message, *field, p, &pb::Reflection::SetInt64);
    case fd::CPPTYPE_UINT32: return set_number(message, *field, p, &pb::Reflection::SetUInt32);
    case fd::CPPTYPE_UINT64: return set_number(message, *field, p, &pb::Reflection::SetUInt64);
    case fd::CPPTYPE_FLOAT: return set_number(message, *field, p, &pb::Reflection::SetFloat);
    case fd::CPPTYPE_DOUBLE: return set_number(message, *field, p, &pb::Reflection::SetDouble);
    case fd::CPPTYPE_ENUM: return set_enum(message, *field, p);
    case fd::CPPTYPE_MESSAGE: break; // refused above
  }
  return refuse("of an unsupported type");
}

// ---- Plain answers -------------------------------------------------------------------------

/// Whether messages of type `d` can be printed without Protobuf's JSON printer, byte for byte
/// as it would print them (with the options of to_json): a proto3 message that is not a
/// well-known type, has no oneof (proto3 `optional` included), declares its fields in number
/// order, and has only singular string, bool, integer and enum fields.
bool plain_type(const pb::Descriptor& d) {
  using fd = pb::FieldDescriptor;
  if (d.file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3 || d.oneof_decl_count() > 0
      || d.extension_range_count() > 0 || starts_with(d.file()->name(), "google/protobuf/"))
    return false;
  int last = 0;
  for (int i = 0; i < d.field_count(); ++i) {
    const auto* f = d.field(i);
    if (f->number() <= last || f->is_repeated())
      return false;
    last = f->number();
    switch (f->type()) {
      case fd::TYPE_STRING:
      case fd::TYPE_BOOL:
      case fd::TYPE_INT32:
      case fd::TYPE_SINT32:
      case fd::TYPE_SFIXED32:
      case fd::TYPE_UINT32:
      case fd::TYPE_FIXED32:
      case fd::TYPE_INT64:
      case fd::TYPE_SINT64:
      case fd::TYPE_SFIXED64:
      case fd::TYPE_UINT64:
      case fd::TYPE_FIXED64:
      case fd::TYPE_ENUM: break;
      default: return false; // floating point, bytes, messages: Protobuf's own formatting
    }
  }
  return true;
}

/// plain_type(d), remembered per thread.
bool is_plain_type(const pb::Descriptor& d) {
  thread_local std::unordered_map<const pb::Descriptor*, bool> known;
  auto i = known.find(&d);
  if (i == known.end())
    i = known.emplace(&d, plain_type(d)).first;
  return i->second;
}

/// True when Protobuf prints `text` as it is between quotes: letters, digits, space and
/// punctuation that JSON (and Protobuf's HTML-safe escaping) leave alone.
bool plain_text(std::string_view text) noexcept {
  for (char c : text) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!plain) {
      switch (c) {
        case ' ':
        case '!':
        case '#':
        case '$':
        case '%':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case '-':
        case '.':
        case '/':
        case ':':
        case ';':
        case '?':
        case '@':
        case '[':
        case ']':
        case '^':
        case '_':
        case '{':
        case '|':
        case '}':
        case '~': plain = true; break;
        default: break;
      }
    }
    if (!plain)
      return false;
  }
  return true;
}

template <class T>
void append_number(std::string& out, T value, bool quoted) {
  char digits[24];
  auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  if (quoted)
    out += '"';
  out.append(digits, end);
  if (quoted)
    out += '"';
}

/// Prints a message of a plain type into `out`; false (with `out` unfinished) when a string
/// value is not plain text.
bool print_plain(const pb::Message& message, std::string& out) {
  using fd = pb::FieldDescriptor;
  const auto& d = *message.GetDescriptor();
  const auto& r = *message.GetReflection();
  out += '{';
  std::string scratch;
  for (int i = 0; i < d.field_count(); ++i) {
    const auto* f = d.field(i);
    if (i > 0)
      out += ',';
    out += '"';
    out += f->name(); // proto names are [A-Za-z0-9_]
    out += "\":";
    switch (f->type()) {
      case fd::TYPE_STRING: {
        const auto& text = r.GetStringReference(message, f, &scratch);
        if (!plain_text(text))
          return false;
        out += '"';
        out += text;
        out += '"';
        break;
      }
      case fd::TYPE_BOOL: out += r.GetBool(message, f) ? "true" : "false"; break;
      case fd::TYPE_INT32:
      case fd::TYPE_SINT32:
      case fd::TYPE_SFIXED32: append_number(out, r.GetInt32(message, f), false); break;
      case fd::TYPE_UINT32:
      case fd::TYPE_FIXED32: append_number(out, r.GetUInt32(message, f), false); break;
      case fd::TYPE_INT64:
      case fd::TYPE_SINT64:
      case fd::TYPE_SFIXED64: append_number(out, r.GetInt64(message, f), true); break;
      case fd::TYPE_UINT64:
      case fd::TYPE_FIXED64: append_number(out, r.GetUInt64(message, f), true); break;
      case fd::TYPE_ENUM: {
        auto number = r.GetEnumValue(message, f);
        if (const auto* value = f->enum_type()->FindValueByNumber(number)) {
          out += '"';
          out += value->name();
          out += '"';
        } else {
          append_number(out, number, false); // a value this build does not know
        }
        break;
      }
      default: return false; // not a plain type
    }
  }
  out += '}';
  return true;
}

} // namespace

// ---- Requests ------------------------------------------------------------------------------

binding_result bind_request(const pb::Descriptor& type, std::string_view body,
                            std::string_view content_type, const std::vector<param>& query,
                            const std::vector<param>& path) {
  binding_result result;
  const auto* prototype = pb::MessageFactory::generated_factory()->GetPrototype(&type);
  if (prototype == nullptr) {
    result.error.message = fmt::format("{} is not a compiled-in message type", type.full_name());
    return result;
  }
  std::unique_ptr<pb::Message> message{prototype->New()};
  if (auto err = bind_body(*message, body, content_type)) {
    result.error = std::move(*err);
    return result;
  }
  // Query before path: a path parameter overwrites a query parameter of the same name.
  for (const auto* params : {&query, &path}) {
    auto kind = params == &query ? "query" : "path";
    for (const auto& p : *params) {
      if (auto err = check_param_text(kind, p)) {
        result.error = std::move(*err);
        return result;
      }
      if (auto err = bind_param(*message, p)) {
        result.error = std::move(*err);
        return result;
      }
    }
  }
  result.message = std::move(message);
  return result;
}

caf::expected<std::vector<param>> parse_query(std::string_view query) {
  std::vector<param> params;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (item.empty())
      continue; // "a=1&&b=2", a trailing '&'
    auto eq = item.find('=');
    auto raw_name = item.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    auto name = percent_decode(raw_name, true);
    if (!name)
      return make_error(
        errc::bad_request,
        fmt::format("query parameter {}: {}", quote_value(raw_name), message_of(name.error())));
    if (name->empty())
      return make_error(errc::bad_request,
                        fmt::format("query parameter without a name: {}", quote_value(item)));
    auto value = percent_decode(raw_value, true);
    if (!value)
      return make_error(errc::bad_request, fmt::format("query parameter {}: {}", quote_value(*name),
                                                       message_of(value.error())));
    for (const auto& p : params)
      if (p.name == *name)
        return make_error(
          errc::bad_request,
          fmt::format("query parameter {} is given more than once", quote_value(*name)));
    params.push_back(param{std::move(*name), std::move(*value)});
  }
  return params;
}

caf::expected<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      auto escape = text.substr(i, 3);
      auto high = escape.size() > 1 ? hex_value(escape[1]) : 0;
      auto low = escape.size() > 2 ? hex_value(escape[2]) : 0;
      if (high < 0 || low < 0)
        return make_error(errc::bad_request, fmt::format("malformed percent escape {} in {}",
                                                         quote_value(escape), quote_value(text)));
      if (escape.size() < 3)
        return make_error(errc::bad_request, fmt::format("truncated percent escape {} at the end "
                                                         "of {}",
                                                         quote_value(escape), quote_value(text)));
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

// ---- Idempotency keys ----------------------------------------------------------------------

caf::expected<std::string> parse_idempotency_key(std::string_view value) {
  auto refuse = [&](std::string_view why) {
    return make_error(errc::bad_request,
                      fmt::format("Idempotency-Key: {}; expected 1 to {} printable ASCII "
                                  "characters, bare (abc-123) or quoted (\"abc-123\")",
                                  why, max_idempotency_key));
  };
  // Optional whitespace around a field value is not part of it (RFC 9110 §5.5).
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  std::string key;
  if (!value.empty() && value.front() == '"') {
    // An sf-string (RFC 8941 §3.3.3): printable ASCII, `\` escapes only `"` and `\`.
    std::size_t i = 1;
    for (; i < value.size() && value[i] != '"'; ++i) {
      char c = value[i];
      if (c == '\\') {
        if (++i == value.size() || (value[i] != '"' && value[i] != '\\'))
          return refuse("a backslash in a quoted key escapes only \" or \\");
        c = value[i];
      } else if (c < 0x20 || c > 0x7e) {
        return refuse("a quoted key holds a character that is not printable ASCII");
      }
      key += c;
    }
    if (i == value.size())
      return refuse("the quoted key has no closing quote");
    if (i + 1 != value.size())
      return refuse("text follows the quoted key");
  } else {
    for (char c : value)
      if (c <= 0x20 || c > 0x7e || c == '"')
        return refuse(
          fmt::format("a bare key holds the character 0x{:02x}", static_cast<unsigned char>(c)));
    key = std::string(value);
  }
  if (key.empty())
    return refuse("the key is empty");
  if (key.size() > max_idempotency_key)
    return refuse(fmt::format("the key has {} characters", key.size()));
  return key;
}

// ---- Answers and errors --------------------------------------------------------------------

std::string to_json(const pb::Message& message) {
  // Small answers of plain types (most of them) skip Protobuf's printer, which goes through a
  // type resolver and an object writer tree: about ten times the work for {"text":"hello"}.
  if (is_plain_type(*message.GetDescriptor())) {
    std::string out;
    out.reserve(64);
    if (print_plain(message, out))
      return out;
  }
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing fails only for messages JSON cannot show (an Any of an unknown type, a Timestamp
  // out of range); the empty string, never a valid output otherwise, says so.
  if (!pb::util::MessageToJsonString(message, &out, options).ok())
    return {};
  return out;
}

unsigned status_of(const caf::error& err) {
  switch (code_of(err)) {
    case errc::service_unavailable:
    case errc::service_down: return 503;
    case errc::timeout: return 504;
    case errc::bad_request:
    case errc::invalid_argument:
    case errc::failed_precondition:
    case errc::out_of_range: return 400;
    case errc::no_such_method:
    case errc::not_found: return 404;
    case errc::already_exists:
    case errc::aborted: return 409;
    case errc::permission_denied: return 403;
    case errc::unauthenticated: return 401;
    case errc::resource_exhausted: return 429;
    case errc::unimplemented: return 501;
    case errc::idempotency_key_reused: return 422;
    case errc::remote_error:
    case errc::internal:
    case errc::data_loss:
    case errc::none: return 500;
  }
  return 500; // a code this build does not know
}

std::string error_name(const caf::error& err) {
  auto code = code_of(err);
  auto name = to_string(code);
  if (code == errc::none || name == "unknown")
    return "internal";
  return std::string{name};
}

std::string error_body(std::string_view name, std::string_view message, std::string_view request_id,
                       std::string_view field) {
  std::string out;
  out.reserve(48 + name.size() + message.size() + request_id.size() + field.size());
  out += "{\"error\":";
  append_json_string(out, name);
  out += ",\"message\":";
  append_json_string(out, message);
  out += ",\"request_id\":";
  append_json_string(out, request_id);
  if (!field.empty()) {
    out += ",\"field\":";
    append_json_string(out, field);
  }
  out += '}';
  return out;
}

std::string json_quote(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

} // namespace microlith::gateway
