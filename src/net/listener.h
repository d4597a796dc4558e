// Listener: accepts TCP connections on node.listen (on the pool's main context); each connection
// goes to the pool's next context, on a strand of its own, with an HttpSession: a TlsHttpSession
// when the SessionContext holds a TLS context, else a PlainHttpSession.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include "net/io_pool.h"
#include "net/session_context.h"

namespace wsg {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens; throws std::runtime_error (start-up only).
  Listener(IoPool& pool, boost::asio::ip::tcp::endpoint endpoint, std::shared_ptr<SessionContext> ctx);
  void run();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  IoPool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // accept errors (EMFILE...): wait before the next try
  std::shared_ptr<SessionContext> ctx_;
};

}  // namespace wsg
