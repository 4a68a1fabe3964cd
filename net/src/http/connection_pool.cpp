#include "http/connection_pool.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

namespace microlith::http::detail {

connection_pool::connection_pool(boost::asio::io_context& io, std::size_t per_host,
                                 std::size_t waiting, std::chrono::milliseconds idle_timeout)
  : io_(io), per_host_(std::max<std::size_t>(per_host, 1)), waiting_(waiting),
    idle_timeout_(idle_timeout) {}

connection_pool::acquired connection_pool::acquire(const std::string& origin, grant later) {
  auto& o = origins_[origin];
  auto now = std::chrono::steady_clock::now();
  while (!o.idle.empty()) {
    auto c = std::move(o.idle.back());
    o.idle.pop_back();
    if (now - c->idle_since < idle_timeout_ && c->looks_alive())
      return {acquired::kind::reuse, std::move(c), 0};
    c->close(); // closed by the server, or idle too long: its slot is free
    --o.open;
  }
  if (o.open < per_host_) {
    ++o.open;
    return {acquired::kind::open, nullptr, 0};
  }
  if (o.line.size() >= waiting_)
    return {acquired::kind::full, nullptr, 0};
  auto ticket = ++tickets_;
  o.line.push_back({ticket, std::move(later)});
  return {acquired::kind::wait, nullptr, ticket};
}

void connection_pool::release(const std::string& origin,
                              std::shared_ptr<http_connection> connection, bool reusable) {
  auto& o = origins_[origin];
  if (reusable && connection) {
    connection->idle_since = std::chrono::steady_clock::now();
    if (!o.line.empty()) {
      auto next = std::move(o.line.front());
      o.line.pop_front();
      boost::asio::post(io_, [later = std::move(next.later), c = std::move(connection)]() mutable {
        later(std::move(c));
      });
      return;
    }
    o.idle.push_back(std::move(connection));
    return;
  }
  if (connection)
    connection->close();
  if (!o.line.empty()) {
    auto next = std::move(o.line.front()); // takes the slot over: open stays as it is
    o.line.pop_front();
    boost::asio::post(io_, [later = std::move(next.later)]() mutable { later(nullptr); });
    return;
  }
  if (o.open > 0)
    --o.open;
  if (o.open == 0 && o.idle.empty() && o.line.empty())
    origins_.erase(origin); // nothing of that origin left: the table holds origins in use only
}

void connection_pool::cancel(const std::string& origin, std::uint64_t ticket) {
  auto o = origins_.find(origin);
  if (o == origins_.end())
    return;
  auto& line = o->second.line;
  line.erase(std::remove_if(line.begin(), line.end(),
                            [ticket](const waiter& w) { return w.ticket == ticket; }),
             line.end());
  if (o->second.open == 0 && o->second.idle.empty() && line.empty())
    origins_.erase(o);
}

void connection_pool::close_idle() {
  for (auto& [origin, o] : origins_) {
    for (auto& c : o.idle)
      c->close();
    o.open -= std::min(o.open, o.idle.size());
    o.idle.clear();
  }
}

} // namespace microlith::http::detail
