// The keep-alive connections of a client, per origin (scheme, host, port): at most
// `per_host` open at once; a request beyond that waits in line (at most `waiting`), and takes
// the next connection released or the slot of the next one closed. An idle connection is reused
// only while it looks alive and has been idle less than `idle_timeout`.
//
// Runs on the client's one I/O thread only (no lock).
#pragma once

#include "http/http_connection.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace microlith::http::detail {

class connection_pool {
public:
  /// A connection handed over: an idle one to reuse, or null: a slot to open a new one in.
  using grant = std::function<void(std::shared_ptr<http_connection>)>;

  /// How a request gets its connection.
  struct acquired {
    enum class kind { reuse, open, wait, full } how = kind::open;
    std::shared_ptr<http_connection> connection; ///< for reuse
    std::uint64_t ticket = 0;                    ///< for wait: what cancel() takes
  };

  connection_pool(boost::asio::io_context& io, std::size_t per_host, std::size_t waiting,
                  std::chrono::milliseconds idle_timeout);

  /// A connection to `origin` now (an idle one, or a free slot), or a place in line: `later`
  /// runs (posted, never inside acquire or release) when a connection or a slot frees up.
  acquired acquire(const std::string& origin, grant later);

  /// Gives back the slot of a connection to `origin`: kept for reuse when `reusable`, else
  /// closed (`connection` may be null: a connection never made).
  void release(const std::string& origin, std::shared_ptr<http_connection> connection,
               bool reusable);

  /// Leaves the line (a request whose deadline passed while waiting).
  void cancel(const std::string& origin, std::uint64_t ticket);

  /// Closes every idle connection (the client closes).
  void close_idle();

private:
  struct waiter {
    std::uint64_t ticket;
    grant later;
  };
  struct origin_state {
    std::size_t open = 0; // slots taken: connections in use, idle, or being made
    std::vector<std::shared_ptr<http_connection>> idle; // most recently used last
    std::deque<waiter> line;
  };

  boost::asio::io_context& io_;
  std::size_t per_host_;
  std::size_t waiting_;
  std::chrono::milliseconds idle_timeout_;
  std::uint64_t tickets_ = 0;
  std::unordered_map<std::string, origin_state> origins_;
};

} // namespace microlith::http::detail
