// ApiServer: the server API's listener (api.listen; docs/api.md, "Server API"). Accepts on the
// pool's main context and hands each connection to the pool's next context, on a strand of its
// own, as an ApiSession. At most api.max_connections connections at once: one more is closed at
// once (policy: refuse new, keep the open ones).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include "net/api_context.h"
#include "net/io_pool.h"
#include "telemetry/logging.h"

namespace wsg {

// What api.listen and the key stand for, checked at start-up before anything starts.
struct ApiSetup {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // empty: the API is off
  std::optional<std::string> key;                         // nullopt: no key (loopback only)
};
// Resolves api.listen and finds the key (api.key, api.key_file, $WSG_API_KEY). Throws ConfigError
// (exit 2) for a malformed or unresolvable address, an unreadable or short key, or a non-loopback
// address without a key; warns (logger "api") for a loopback address without one.
ApiSetup prepare_api(const Config& config);

class ApiServer : public std::enable_shared_from_this<ApiServer> {
 public:
  // Binds and listens; throws std::runtime_error (start-up only).
  ApiServer(IoPool& pool, boost::asio::ip::tcp::endpoint endpoint, std::shared_ptr<ApiContext> ctx);
  // The first of `setup.endpoints` that binds, started; throws std::runtime_error when none binds.
  static std::shared_ptr<ApiServer> start(IoPool& pool, const ApiSetup& setup, std::shared_ptr<ApiContext> ctx);
  void run();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  IoPool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<ApiContext> ctx_;
  logging::Throttle refused_warning_{std::chrono::seconds(10)};
};

}  // namespace wsg
