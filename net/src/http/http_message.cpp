#include "microlith/net/http/http_message.hpp"

#include <boost/beast/core/string.hpp>

#include <utility>

namespace microlith::http {

http_request http_request::get(std::string url) {
  http_request r;
  r.url = std::move(url);
  return r;
}

http_request http_request::post(std::string url, std::string body, std::string content_type) {
  http_request r;
  r.method = "POST";
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers.push_back({"Content-Type", std::move(content_type)});
  return r;
}

const std::string* http_response::find_header(std::string_view name) const noexcept {
  for (const auto& h : headers)
    if (boost::beast::iequals(h.name, boost::beast::string_view{name.data(), name.size()}))
      return &h.value;
  return nullptr;
}

bool is_idempotent(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE"
         || method == "OPTIONS" || method == "TRACE";
}

} // namespace microlith::http
