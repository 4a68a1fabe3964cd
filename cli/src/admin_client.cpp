#include "admin_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>

namespace microlith::cli {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// A string field of a JSON object body; nothing when the body is not a JSON object or the field
// is absent or not a string.
std::optional<std::string> json_string_field(const std::string& body, const std::string& name) {
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(body, &object).ok())
    return std::nullopt;
  auto it = object.fields().find(name);
  if (it == object.fields().end()
      || it->second.kind_case() != google::protobuf::Value::kStringValue)
    return std::nullopt;
  return it->second.string_value();
}

} // namespace

std::optional<gateway_url> parse_gateway_url(std::string url) {
  bool tls = false;
  if (url.rfind("http://", 0) == 0) {
    url.erase(0, 7);
  } else if (url.rfind("https://", 0) == 0) {
    url.erase(0, 8);
    tls = true;
  }
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  auto colon = url.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == url.size()
      || url.find('/') != std::string::npos)
    return std::nullopt;
  auto port = url.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return gateway_url{url.substr(0, colon), port, tls};
}

bool admin_token_set() {
  const char* token = std::getenv("MICROLITH_ADMIN_TOKEN");
  return token != nullptr && *token != '\0';
}

namespace {

// Runs the asynchronous operation `start` begins to its end, at most `limit` (the TCP stream's
// timeout ends it with beast::error::timeout); throws its error. Synchronous calls would have no
// working limit: Asio answers a socket timeout's EAGAIN by polling again without one.
template <class Start>
void bounded(boost::asio::io_context& ioc, beast::tcp_stream& tcp, std::chrono::seconds limit,
             Start start) {
  beast::error_code result;
  tcp.expires_after(limit);
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  if (result == beast::error::timeout)
    throw std::runtime_error(fmt::format("no answer within {} s", limit.count()));
  if (result)
    throw boost::system::system_error(result);
}

// Sends `call` over `stream` (TCP, or TLS over TCP) and reads the answer, each step bounded by
// call.limit.
template <class Stream>
admin_answer exchange(boost::asio::io_context& ioc, Stream& stream, const gateway_url& where,
                      const admin_call& call) {
  auto& tcp = beast::get_lowest_layer(stream);
  http::request<http::string_body> req{http::string_to_verb(call.verb), call.target, 11};
  req.set(http::field::host, where.host);
  if (admin_token_set())
    req.set(http::field::authorization,
            fmt::format("Bearer {}", std::getenv("MICROLITH_ADMIN_TOKEN")));
  req.keep_alive(false);
  if (!call.body.empty()) {
    req.set(http::field::content_type, call.content_type);
    req.set(http::field::expect, "100-continue");
    req.body() = call.body;
  }
  req.prepare_payload();
  http::request_serializer<http::string_body> serializer{req};
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  auto read_answer = [&] {
    parser.emplace();
    parser->body_limit(64 * 1024 * 1024);
    bounded(ioc, tcp, call.limit,
            [&](auto done) { http::async_read(stream, buffer, *parser, std::move(done)); });
  };
  auto write = [&] {
    bounded(ioc, tcp, call.limit,
            [&](auto done) { http::async_write(stream, serializer, std::move(done)); });
  };
  if (call.body.empty()) {
    write();
    read_answer();
  } else {
    // The head first: the gateway answers 100 Continue, or refuses before the body is sent.
    bounded(ioc, tcp, call.limit,
            [&](auto done) { http::async_write_header(stream, serializer, std::move(done)); });
    read_answer();
    if (parser->get().result() == http::status::continue_) {
      write();
      read_answer();
    }
  }
  auto& res = parser->get();
  return admin_answer{res.result_int(), res.body(), std::string(res[http::field::retry_after])};
}

// Makes `ssl` (a connection of a context that trusts OpenSSL's default certificates, which
// SSL_CERT_FILE and SSL_CERT_DIR replace) verify the gateway's certificate and its name (or IP
// address) against `host`.
void verify_gateway(SSL* ssl, const std::string& host) {
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec); // an IP address, or a name
  auto* param = SSL_get0_param(ssl);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    SSL_set_tlsext_host_name(ssl, host.c_str()); // SNI, for a name only (RFC 6066)
  }
}

} // namespace

admin_answer send_admin_request(const gateway_url& where, const admin_call& call) {
  boost::asio::io_context ioc;
  tcp::resolver resolver{ioc};
  auto endpoints = resolver.resolve(where.host, where.port);
  if (!where.tls) {
    beast::tcp_stream stream{ioc};
    bounded(ioc, stream, call.limit,
            [&](auto done) { stream.async_connect(endpoints, std::move(done)); });
    return exchange(ioc, stream, where, call);
  }
  boost::asio::ssl::context context{boost::asio::ssl::context::tls_client};
  context.set_options(boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3
                      | boost::asio::ssl::context::no_tlsv1
                      | boost::asio::ssl::context::no_tlsv1_1);
  context.set_default_verify_paths();
  context.set_verify_mode(boost::asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream{ioc, context};
  verify_gateway(stream.native_handle(), where.host);
  auto& tcp = beast::get_lowest_layer(stream);
  bounded(ioc, tcp, call.limit, [&](auto done) { tcp.async_connect(endpoints, std::move(done)); });
  try {
    bounded(ioc, tcp, call.limit, [&](auto done) {
      stream.async_handshake(boost::asio::ssl::stream_base::client, std::move(done));
    });
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(fmt::format(
      "TLS handshake: {} (the gateway's certificate is checked against the system's trusted "
      "certificates; for a certificate of your own, set SSL_CERT_FILE to it or to its CA's)",
      e.code().message()));
  }
  return exchange(ioc, stream, where, call);
}

std::string server_message(const std::string& body) {
  return json_string_field(body, "message").value_or(body);
}

std::string server_error_name(const std::string& body) {
  return json_string_field(body, "error").value_or("");
}

void explain_failure(std::string_view command, const std::string& url, const admin_answer& answer,
                     std::string_view endpoint_hint) {
  const auto status = answer.status;
  const auto message = server_message(answer.body);
  if (status == 401 || status == 403)
    fmt::print(stderr,
               "{}: {} refused the request ({}): {}; set MICROLITH_ADMIN_TOKEN to the system's "
               "admin token ([admin] token in its file, or the MICROLITH_ADMIN_TOKEN it runs "
               "with){}\n",
               command, url, status, message,
               admin_token_set() ? "" : " (MICROLITH_ADMIN_TOKEN is not set here)");
  else if (status == 429)
    fmt::print(stderr,
               "{}: {} refused the request (429): {}; wait {} s, then retry with "
               "MICROLITH_ADMIN_TOKEN set to the system's admin token\n",
               command, url, message, answer.retry_after.empty() ? "a few" : answer.retry_after);
  else if (status == 404 && server_error_name(answer.body) == "no_route")
    fmt::print(stderr, "{}: {} has no such admin endpoint ({})\n", command, url, endpoint_hint);
  else
    fmt::print(stderr, "{}: {} refused the request ({}): {}\n", command, url, status, message);
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-'
        || c == '.' || c == '_' || c == '~')
      out += c;
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

int reload_routes(const std::string& url) {
  constexpr std::string_view command = "microlith routes reload";
  auto where = parse_gateway_url(url);
  if (!where) {
    fmt::print(stderr,
               "{}: expected the gateway's URL such as http://127.0.0.1:8080 or https://HOST:PORT, "
               "got \"{}\"\n",
               command, url);
    return 2;
  }
  admin_answer answer;
  try {
    admin_call call;
    call.target = "/_microlith/reload";
    call.limit = std::chrono::seconds{30}; // a reload validates every route: bounded, not instant
    answer = send_admin_request(*where, call);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: cannot reach {}: {}\n", command, url, e.what());
    return 1;
  }
  fmt::print("{}\n", answer.body);
  if (answer.status == 200)
    return 0;
  if (answer.status != 400) // a refused reload's reason is the body printed above
    explain_failure(command, url, answer, "set admin = true in the gateway group's [http] table");
  return 1;
}

int call_admin_json(std::string_view command, const std::string& url, const admin_call& call,
                    std::string_view endpoint_hint, google::protobuf::Message& out) {
  auto where = parse_gateway_url(url);
  if (!where) {
    fmt::print(stderr,
               "{}: expected the gateway's URL such as http://127.0.0.1:8080 or https://HOST:PORT, "
               "got \"{}\"\n",
               command, url);
    return 2;
  }
  admin_answer answer;
  try {
    answer = send_admin_request(*where, call);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: cannot reach {}: {}\n", command, url, e.what());
    return 1;
  }
  if (answer.status != 200) {
    explain_failure(command, url, answer, endpoint_hint);
    return 1;
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(answer.body, &out, options).ok()) {
    fmt::print(stderr, "{}: {} answered 200 with a body that is not the expected JSON: {}\n",
               command, url, answer.body);
    return 1;
  }
  return 0;
}

std::string utc(std::int64_t unix_ms) {
  if (unix_ms <= 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i)
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    fmt::print("{}\n", line);
  }
}

} // namespace microlith::cli
