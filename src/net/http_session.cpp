#include "net/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>
#include <variant>

#include "net/node_metrics.h"
#include "net/static_files.h"
#include "net/ws_session.h"
#include "proto/client_protocol.h"
#include "proto/jwt.h"
#include "telemetry/build_info.h"
#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// A JSON string literal of `s` (/healthz).
std::string json_string(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }
// Deadline for a request, from its first byte (or from the accept, for the first one) to its end.
// With TLS the first one also covers the TLS handshake.
constexpr auto kRequestTimeout = std::chrono::seconds(10);
// How long the TLS close (our close_notify, then the peer's) may take before the socket is closed.
constexpr auto kShutdownTimeout = std::chrono::seconds(2);
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = 16 * 1024;
// How much of a refused request's unread rest is read and dropped before the socket is closed.
constexpr std::size_t kDrainLimit = 64 * 1024;
// The whole answer to a plain-text client on the TLS port (written on the TCP stream, no TLS).
constexpr std::string_view kTlsOnly =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: close\r\n"
    "Content-Length: 51\r\n"
    "\r\n"
    "This port speaks TLS only: use https:// or wss://.\n";
static_assert(kTlsOnly.size() - kTlsOnly.find("\r\n\r\n") - 4 == 51, "Content-Length of kTlsOnly");

// RFC 6455 §4.1: Sec-WebSocket-Key is the base64 of 16 bytes: 22 base64 characters and "==".
bool valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  });
}

// Connection ends that are routine, not worth a log line.
bool routine(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated;
}
}  // namespace

template <class Stream>
HttpSession<Stream>::HttpSession(Stream&& stream, std::shared_ptr<SessionContext> ctx)
    : stream_(std::move(stream)), ctx_(std::move(ctx)) {}

template <class Stream>
void HttpSession<Stream>::run() {
  asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::start, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::start() {
  if constexpr (kTls) {
    // A client that connects and never completes the TLS handshake is dropped at the deadline,
    // which then also bounds the first request.
    beast::get_lowest_layer(stream_).expires_after(kRequestTimeout);
    keep_deadline_ = true;
    // The first bytes tell a TLS ClientHello from a plain request (Beast's advanced_server_flex):
    // a plain client gets a readable 400 instead of a connection closed without a word.
    beast::async_detect_ssl(beast::get_lowest_layer(stream_), buffer_,
                            beast::bind_front_handler(&HttpSession::on_detect, this->shared_from_this()));
  } else {
    do_read();
  }
}

template <class Stream>
void HttpSession<Stream>::on_detect(beast::error_code ec, bool tls) {
  if (ec) {
    if (!routine(ec)) logging::get("http")->debug("detect tls: {}", ec.message());
    return;
  }
  if constexpr (kTls) {
    if (!tls) {
      asio::async_write(beast::get_lowest_layer(stream_), asio::buffer(kTlsOnly.data(), kTlsOnly.size()),
                        [self = this->shared_from_this()](beast::error_code, std::size_t) {
                          beast::error_code ignored;
                          auto& socket = beast::get_lowest_layer(self->stream_).socket();
                          socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                          socket.close(ignored);
                        });
      return;
    }
    // The bytes detect_ssl read are the start of the handshake: hand them to it.
    stream_.async_handshake(asio::ssl::stream_base::server, buffer_.data(),
                            beast::bind_front_handler(&HttpSession::on_handshake, this->shared_from_this()));
  }
}

template <class Stream>
void HttpSession<Stream>::on_handshake(beast::error_code ec, std::size_t used) {
  if (ec) {
    // e.g. an unsupported protocol version, a certificate the client refuses, the deadline
    if (!routine(ec)) logging::get("http")->debug("tls handshake: {}", ec.message());
    return;
  }
  buffer_.consume(used);
  do_read();
}

template <class Stream>
void HttpSession<Stream>::do_read() {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(kBodyLimit);
  if (keep_deadline_) {
    keep_deadline_ = false;
  } else {
    beast::get_lowest_layer(stream_).expires_after(kRequestTimeout);
  }
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
}

template <class Stream>
http::response<http::string_body> HttpSession<Stream>::plain(http::status status, std::string body,
                                                             const char* content_type) {
  http::response<http::string_body> res{status, parser_->get().version()};
  res.set(http::field::server, "wsg/" WSG_VERSION);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(parser_->get().keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

template <class Stream>
void HttpSession<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) return do_shutdown();
  // Over a size limit: a readable answer instead of a dropped connection (a JWT too long for
  // the headers gets 431, not the 401 of a refused token: the parser stops before auth).
  if (ec == http::error::header_limit) {
    return refuse_unread(http::status::request_header_fields_too_large,
                         "request header fields too large: the request line and headers are limited to " +
                             std::to_string(kHeaderLimit / 1024) + " KiB\n");
  }
  if (ec == http::error::body_limit) {
    return refuse_unread(http::status::payload_too_large,
                         "request body too large: it is limited to " + std::to_string(kBodyLimit / 1024) + " KiB\n");
  }
  if (ec) {
    if (!routine(ec)) logging::get("http")->debug("read: {}", ec.message());
    return;
  }
  auto& req = parser_->get();
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) return send(plain(http::status::bad_request, "bad request target\n"));
  const auto path = url->path();

  if (path == "/ws") return upgrade();
  if ((path == "/healthz" || path == "/metrics") && req.method() != http::verb::get &&
      req.method() != http::verb::head) {
    auto res = plain(http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
    return send(std::move(res));
  }
  if (path == "/healthz") {
    const bool draining = ctx_->draining.load();
    const bool ready = ctx_->router->ready();
    const BuildInfo& build = build_info();
    std::string body = std::string("{\"status\":\"") +
                       (draining ? "draining"
                        : ready  ? "ok"
                                 : "master_unreachable") +
                       "\",\"node\":\"" + ctx_->node_id +
                       "\",\"sessions\":" + std::to_string(ctx_->router->session_count()) +
                       ",\"version\":" + json_string(build.version) + ",\"commit\":" + json_string(build.commit) +
                       ",\"public_url\":" + json_string(ctx_->public_url) + "}\n";
    return send(plain(!draining && ready ? http::status::ok : http::status::service_unavailable, std::move(body),
                      "application/json"));
  }
  if (path == "/metrics") {
    return scrape_node_metrics(ctx_, stream_.get_executor(), [self = this->shared_from_this()](std::string text) {
      self->send(self->plain(http::status::ok, std::move(text), kMetricsContentType));
    });
  }
  if (ctx_->static_files) return send(ctx_->static_files->serve(req, path));
  return send(plain(http::status::not_found, "not found\n"));
}

template <class Stream>
void HttpSession<Stream>::upgrade() {
  auto& req = parser_->get();
  if (!websocket::is_upgrade(req)) {
    auto res = plain(http::status::upgrade_required, "WebSocket upgrade required\n");
    res.set(http::field::upgrade, "websocket");
    return send(std::move(res));
  }
  if (ctx_->draining.load()) return send(plain(http::status::service_unavailable, "draining\n"));
  if (auto key = req.find(http::field::sec_websocket_key); key == req.end() || !valid_websocket_key(key->value())) {
    return send(plain(http::status::bad_request,
                      "invalid Sec-WebSocket-Key: it must be the base64 of 16 bytes (24 characters ending in ==)\n"));
  }

  // Origin (cross-site WebSocket hijacking): a browser always sends it; others may not.
  const auto& allowed = ctx_->http.allowed_origins;
  if (!allowed.empty()) {
    auto origin = req.find(http::field::origin);
    if (origin != req.end()) {
      const auto value = origin->value();
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return send(plain(http::status::forbidden, "origin not allowed\n"));
      }
    }
  }

  std::string user;
  jwt::Claims claims;
  auto url = boost::urls::parse_origin_form(req.target());
  auto params = url->params();
  if (ctx_->auth_mode == SessionContext::AuthMode::jwt) {
    // The identity is the token's `sub`; `?user=` plays no part.
    std::string token;
    if (auto it = params.find("token"); it != params.end() && (*it).has_value) {
      token = std::string((*it).value);
    } else if (auto h = req.find(http::field::authorization); h != req.end()) {
      const std::string_view value = h->value();
      constexpr std::string_view kScheme = "bearer ";
      if (value.size() <= kScheme.size() ||
          !std::equal(kScheme.begin(), kScheme.end(), value.begin(),
                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
        return send(plain(http::status::unauthorized, "unsupported authorization scheme\n"));
      }
      auto rest = value.substr(kScheme.size());
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
      token = std::string(rest);
    }
    if (token.empty()) return send(plain(http::status::unauthorized, "missing token\n"));
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    auto result = jwt::verify_claims(token, ctx_->jwt, static_cast<int64_t>(now_ms));
    if (const auto* refused = std::get_if<jwt::Refused>(&result)) {
      return send(plain(http::status::unauthorized, "invalid token: " + refused->reason + "\n"));
    }
    claims = std::move(std::get<jwt::Claims>(result));
    user = claims.sub;
  } else {
    auto it = params.find("user");
    if (it == params.end() || !(*it).has_value) return send(plain(http::status::bad_request, "missing user\n"));
    user = std::string((*it).value);
  }
  if (!proto::valid_user_id(user)) return send(plain(http::status::bad_request, "invalid user id\n"));

  const int64_t max = ctx_->limits.max_connections;
  if (ctx_->connections.fetch_add(1) >= max && max > 0) {
    ctx_->connections.fetch_sub(1);
    return send(plain(http::status::service_unavailable, "node full\n"));
  }
  if (!ctx_->user_sessions.try_add(user, ctx_->limits.max_sessions_per_user)) {
    ctx_->connections.fetch_sub(1);
    return send(plain(http::status::too_many_requests,
                      "too many sessions for this user on this node (limits.max_sessions_per_user = " +
                          std::to_string(ctx_->limits.max_sessions_per_user) + ")\n"));
  }
  beast::get_lowest_layer(stream_).expires_never();
  // The WsSession now owns the connection (and decrements `connections` and `user_sessions` when
  // it ends).
  auto session = std::make_shared<WsSession<Stream>>(std::move(stream_), ctx_, std::move(user));
  session->set_room_claims(std::move(claims));
  session->run(parser_->release());
}

template <class Stream>
void HttpSession<Stream>::send(http::response<http::string_body> res) {
  auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
  response_ = sp;
  const bool keep_alive = sp->keep_alive();
  http::async_write(stream_, *sp,
                    beast::bind_front_handler(&HttpSession::on_write, this->shared_from_this(), keep_alive));
}

template <class Stream>
void HttpSession<Stream>::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (!keep_alive) return do_shutdown();
  do_read();
}

template <class Stream>
void HttpSession<Stream>::do_shutdown() {
  if constexpr (kTls) {
    // close_notify, then wait for the peer's: a peer that never answers is cut at the deadline.
    beast::get_lowest_layer(stream_).expires_after(kShutdownTimeout);
    stream_.async_shutdown(beast::bind_front_handler(&HttpSession::on_shutdown, this->shared_from_this()));
  } else {
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (drain_ && !ec) {
      drain_ = false;
      stream_.expires_after(kShutdownTimeout);
      do_drain();
    }
  }
}

template <class Stream>
void HttpSession<Stream>::refuse_unread(http::status status, std::string body) {
  // parser_ stopped inside the request: its version and keep-alive are not known, so HTTP/1.1
  // and close.
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "wsg/" WSG_VERSION);
  res.set(http::field::content_type, "text/plain");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();
  drain_ = true;
  send(std::move(res));
}

template <class Stream>
void HttpSession<Stream>::do_drain() {
  // Bounded by kDrainLimit bytes and by the deadline do_shutdown set; ends at the client's FIN.
  buffer_.consume(buffer_.size());
  if (drained_ >= kDrainLimit) return;
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            if (ec) return;
                            self->drained_ += n;
                            self->buffer_.commit(n);
                            self->do_drain();
                          });
}

template <class Stream>
void HttpSession<Stream>::on_shutdown(beast::error_code ec) {
  if (ec && !routine(ec)) logging::get("http")->debug("tls shutdown: {}", ec.message());
  // the socket is closed when the session goes away
}

template class HttpSession<ClientStream>;
template class HttpSession<beast::ssl_stream<ClientStream>>;

}  // namespace wsg
