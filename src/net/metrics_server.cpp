#include "net/metrics_server.h"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/listen_address.h"
#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr int kMaxConnections = 64;
}  // namespace

// Connections and pending handlers refer to it by a plain pointer: they are owned by `ioc`, which
// is destroyed (with them) first.
struct MetricsServer::Impl {
  int connections = 0;  // the server's thread only (and ~io_context, which destroys connections)
  Handler handler;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  bool stopped = false;
  uint16_t port = 0;  // the bound port (read before the thread starts: no race on the acceptor)

  void do_accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, MetricsServer::Impl* server) : stream_(std::move(socket)), server_(server) {
    ++server_->connections;
  }
  ~Connection() { --server_->connections; }

  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

 private:
  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec) return;  // timeout, reset, a request over the limits: drop the connection
    const auto& req = parser_->get();
    MetricsServer::Response r;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      r = {405, "text/plain; charset=utf-8", "method not allowed\n"};
    } else {
      std::string_view target = req.target();
      const auto query = target.find('?');
      if (query != std::string_view::npos) target = target.substr(0, query);
      try {
        r = server_->handler(target);
      } catch (const std::exception& e) {
        logging::get("metrics")->warn("{}: {}", std::string(target), e.what());
        r = {500, "text/plain; charset=utf-8", "internal error\n"};
      }
    }
    res_.emplace(static_cast<http::status>(r.status), req.version());
    res_->set(http::field::server, "wsg/" WSG_VERSION);
    res_->set(http::field::content_type, r.content_type);
    res_->set(http::field::cache_control, "no-store");
    res_->keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      res_->content_length(r.body.size());
    } else {
      res_->body() = std::move(r.body);
      res_->prepare_payload();
    }
    http::async_write(stream_, *res_, beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    const bool keep_alive = res_->keep_alive();
    res_.reset();
    if (ec) return;
    if (!keep_alive) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  MetricsServer::Impl* server_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
};

}  // namespace

void MetricsServer::Impl::do_accept() {
  acceptor.async_accept([self = this](beast::error_code ec, tcp::socket socket) {
    if (!self->acceptor.is_open()) return;
    if (ec) {
      // EMFILE and friends: the pending connection stays in the backlog; try again shortly.
      logging::get("metrics")->warn("accept: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(self->ioc, std::chrono::milliseconds(50));
      timer->async_wait([self, timer](beast::error_code) {
        if (self->acceptor.is_open()) self->do_accept();
      });
      return;
    }
    if (self->connections < kMaxConnections) {
      std::make_shared<Connection>(std::move(socket), self)->read();
    }  // else: closed at once (the socket goes out of scope)
    self->do_accept();
  });
}

MetricsServer::MetricsServer(const std::string& listen, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  // Throws ConfigError for a malformed value or a host name that does not resolve.
  const auto endpoints = listen_endpoints("metrics.listen", listen);
  beast::error_code ec;
  std::string last_error = "no address";
  for (const auto& entry : endpoints) {
    auto& acceptor = impl_->acceptor;
    if (acceptor.is_open()) acceptor.close(ec);
    acceptor.open(entry.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) impl_->port = acceptor.local_endpoint(ec).port();
    if (!ec) return;
    last_error = ec.message();
  }
  if (impl_->acceptor.is_open()) impl_->acceptor.close(ec);
  throw std::runtime_error("cannot listen on metrics.listen '" + listen + "': " + last_error);
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::start() {
  impl_->do_accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

void MetricsServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->ioc.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t MetricsServer::port() const { return impl_->port; }

}  // namespace wsg
