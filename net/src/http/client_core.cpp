#include "http/client_core.hpp"

#include "http/http_errors.hpp"
#include "http/http_exchange.hpp"

#include "microlith/actors/log.hpp"
#include "microlith/actors/thread_name.hpp"

#include <boost/asio/post.hpp>

#include <fmt/format.h>

#include <exception>
#include <stdexcept>
#include <vector>

namespace microlith::http::detail {

namespace asio = boost::asio;

client_core::client_core(http_client_options opts)
  : options(std::move(opts)),
    pool(io, options.max_connections_per_host, options.max_waiting_per_host, options.idle_timeout) {
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2
                  | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1
                  | asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (options.system_ca)
    tls.set_default_verify_paths(ec); // a system without a CA store trusts what ca_file names
  if (!options.ca_file.empty()) {
    tls.load_verify_file(options.ca_file, ec);
    if (ec)
      throw std::invalid_argument(
        fmt::format("http_client_options::ca_file \"{}\" cannot be read as PEM certificates ({})",
                    options.ca_file, ec.message()));
  }
}

void client_core::start() {
  work_.emplace(io.get_executor());
  thread_ = std::thread{[this] {
    name_this_thread("ml.http_client");
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        // A completion that threw (a caller's callback): the other requests go on.
        log::error("http_client", "a request's completion threw: {}", e.what());
      }
    }
  }};
}

void client_core::stop() {
  if (closed_.exchange(true))
    return;
  asio::post(io, [this] {
    std::vector<http_exchange*> live{in_flight.begin(), in_flight.end()};
    for (auto* exchange : live)
      exchange->abort();
    pool.close_idle();
  });
  work_.reset();
  if (thread_.joinable())
    thread_.join();
}

void client_core::submit(http_request request, clock::time_point started,
                         clock::time_point deadline, std::function<void(http_outcome)> done) {
  asio::post(
    io, [this, request = std::move(request), started, deadline, done = std::move(done)]() mutable {
      auto url = parse_http_url(request.url);
      if (!url)
        return done(http_outcome{{}, url.error()});
      if (closed_) {
        auto name = request_name(request.method, *url);
        return done(http_outcome{{}, client_closed(name)});
      }
      auto exchange = std::make_shared<http_exchange>(*this, std::move(request), std::move(*url),
                                                      started, deadline, std::move(done));
      exchange->start();
    });
}

} // namespace microlith::http::detail
