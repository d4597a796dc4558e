#include "net/api_server.h"

#include <stdexcept>

#include <boost/asio/strand.hpp>

#include "config/config_secrets.h"
#include "net/api_session.h"
#include "net/listen_address.h"
#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;

ApiSetup prepare_api(const Config& config) {
  ApiSetup setup;
  if (config.api.listen.empty()) return setup;
  setup.endpoints = listen_endpoints("api.listen", config.api.listen);
  if (auto key = secrets::api_key(config.api)) {
    setup.key = std::move(key->value);
    logging::get("api")->info("server API key from {}", key->source);
    return setup;
  }
  if (!loopback_only(setup.endpoints)) {
    throw ConfigError("key 'api.listen': '" + config.api.listen +
                      "' is not a loopback address: the server API needs a key there (api.key, api.key_file or "
                      "the environment variable " +
                      secrets::kApiKeyEnv + ")");
  }
  logging::get("api")->warn(
      "the server API on {} has no key (api.key): any local process may publish and disconnect users",
      config.api.listen);
  return setup;
}

std::shared_ptr<ApiServer> ApiServer::start(IoPool& pool, const ApiSetup& setup, std::shared_ptr<ApiContext> ctx) {
  std::string error = "api.listen: no address";
  for (const auto& endpoint : setup.endpoints) {
    try {
      auto server = std::make_shared<ApiServer>(pool, endpoint, ctx);
      server->run();
      return server;
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  throw std::runtime_error(error);
}

ApiServer::ApiServer(IoPool& pool, asio::ip::tcp::endpoint endpoint, std::shared_ptr<ApiContext> ctx)
    : pool_(pool),
      acceptor_(asio::make_strand(pool.main())),
      retry_timer_(acceptor_.get_executor()),
      ctx_(std::move(ctx)) {
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("api.listen: cannot listen on " + endpoint.address().to_string() + ":" +
                             std::to_string(endpoint.port()) + ": " + ec.message());
  }
}

void ApiServer::run() { do_accept(); }

void ApiServer::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->retry_timer_.cancel();
  });
}

void ApiServer::do_accept() {
  acceptor_.async_accept(asio::make_strand(pool_.next()),
                         beast::bind_front_handler(&ApiServer::on_accept, shared_from_this()));
}

void ApiServer::on_accept(beast::error_code ec, asio::ip::tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    logging::get("api")->warn("accept: {} (retrying in 50 ms)", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (wait_ec || !self->acceptor_.is_open()) return;
      self->do_accept();
    });
    return;
  }
  if (ctx_->connections.fetch_add(1) >= ctx_->api.max_connections) {
    // Bound hit (api.max_connections): the new connection is closed, the open ones keep going.
    ctx_->connections.fetch_sub(1);
    if (uint64_t held = 0; refused_warning_.allow(held)) {
      logging::get("api")->warn("api.max_connections ({}) reached: connection refused ({} more since the last warning)",
                                ctx_->api.max_connections, held);
    }
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    beast::error_code opt_ec;
    socket.set_option(asio::ip::tcp::no_delay(true), opt_ec);
    std::make_shared<ApiSession>(std::move(socket), ctx_)->run();
  }
  do_accept();
}

}  // namespace wsg
