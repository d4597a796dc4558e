// HttpSession: one HTTP connection on the node's port: /healthz, the /ws upgrade (validated here:
// the handshake errors of docs/protocol.md, "Handshake failures", are answered before any upgrade),
// static files when http.static_dir is set (net/static_files.h), and 404 for everything else.
//
// A class template on the stream, as in Beast's advanced_server_flex example: PlainHttpSession
// (ClientStream: a TCP stream under a ByteBudget, net/byte_budget.h) when the node serves plain
// HTTP, TlsHttpSession (beast::ssl_stream over a ClientStream) when it serves TLS. The TLS handshake runs first, under
// the same deadline as the first request; a client whose first bytes are not a TLS handshake gets a plain 400 instead.
// Both are instantiated explicitly in http_session.cpp.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "net/byte_budget.h"
#include "net/session_context.h"

namespace wsg {

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(Stream&& stream, std::shared_ptr<SessionContext> ctx);
  void run();

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, ClientStream>;

  void start();
  void on_detect(boost::beast::error_code ec, bool tls);
  void on_handshake(boost::beast::error_code ec, std::size_t used);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void send(boost::beast::http::response<boost::beast::http::string_body> res);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void upgrade();
  // The end of the connection from our side: TLS close_notify (bounded by a deadline), or a TCP
  // shutdown of the sending side.
  void do_shutdown();
  void on_shutdown(boost::beast::error_code ec);
  // Answers a request the parser gave up on (over a size limit) and ends the connection. The
  // unread rest of the request is read and dropped (bounded): closing a socket with unread input
  // sends a TCP reset, which can destroy the answer before the client reads it.
  void refuse_unread(boost::beast::http::status status, std::string body);
  void do_drain();
  boost::beast::http::response<boost::beast::http::string_body> plain(boost::beast::http::status status,
                                                                      std::string body,
                                                                      const char* content_type = "text/plain");

  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<SessionContext> ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<void> response_;  // keeps the response alive during the write
  bool keep_deadline_ = false;      // the first read after a TLS handshake keeps its deadline
  bool drain_ = false;              // do_shutdown reads and drops the rest of the input (plain TCP)
  std::size_t drained_ = 0;
};

using PlainHttpSession = HttpSession<ClientStream>;
using TlsHttpSession = HttpSession<boost::beast::ssl_stream<ClientStream>>;

extern template class HttpSession<ClientStream>;
extern template class HttpSession<boost::beast::ssl_stream<ClientStream>>;

}  // namespace wsg
