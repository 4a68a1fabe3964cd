// A local HTTP/1.1 server for the client's tests, on 127.0.0.1 with an OS-chosen port, plain or
// TLS: a thread accepts, a thread per connection reads requests (Beast) and answers each as the
// test's script says: a response, or a misbehaviour (hold until released, never answer, a
// truncated body, a body over a size, a reset). It counts connections and requests. Stopping
// (the destructor) wakes every thread and joins it.
#pragma once

#include "test_certificate.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace http_test {

/// A request as the server read it.
struct seen_request {
  std::string method;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// The first header named `name` (case-insensitive), or "".
  std::string header(const std::string& name) const;
};

/// How the server answers one request.
struct answer {
  enum class kind {
    respond,  ///< status, headers, body; closes after it unless keep_alive
    hold,     ///< responds as `respond` once release() is called
    hang,     ///< never answers; waits for the client to close
    truncate, ///< announces `declared` body bytes, sends `body`, closes
    oversize, ///< announces `declared` body bytes, sends `body`, waits for the client to close
    reset,    ///< closes with SO_LINGER 0: the client gets a reset
  };
  kind how = kind::respond;
  unsigned status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;
  /// respond: close the connection after the response although it announced keep-alive.
  bool close_after = false;
  std::size_t declared = 0;

  static answer ok(std::string body) {
    answer a;
    a.body = std::move(body);
    return a;
  }
  static answer with(kind how) {
    answer a;
    a.how = how;
    return a;
  }
};

using script = std::function<answer(const seen_request&)>;

class test_server {
public:
  /// Listens now; TLS with `tls`'s certificate and key when it is set.
  explicit test_server(script answers, const test_certificate* tls = nullptr);
  ~test_server();

  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  /// http(s)://127.0.0.1:PORT + path.
  std::string url(const std::string& path) const;

  std::size_t connections() const;
  std::size_t requests() const;
  /// Requests held (answer::kind::hold) and not released yet.
  std::size_t held() const;
  /// Lets the held requests be answered.
  void release();

  struct state;

private:
  std::shared_ptr<state> state_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  std::thread acceptor_;
};

} // namespace http_test
