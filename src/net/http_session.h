// HttpSession: one plain HTTP connection on the node's port: /healthz, the /ws upgrade
// (validated here: the handshake errors of SPEC §2 are answered before any upgrade),
// and 404 for everything else.
#pragma once

#include <memory>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/session_context.h"

namespace wsg {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<SessionContext> ctx);
  void run();

 private:
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void send(boost::beast::http::response<boost::beast::http::string_body> res);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void upgrade();
  boost::beast::http::response<boost::beast::http::string_body> plain(
      boost::beast::http::status status, std::string body, const char* content_type = "text/plain");

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<SessionContext> ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<void> response_;  // keeps the response alive during the write
};

}  // namespace wsg
