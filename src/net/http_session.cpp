#include "net/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>
#include <variant>

#include "client_protocol.h"
#include "jwt.h"
#include "logging.h"
#include "net/ws_session.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = 16 * 1024;
}  // namespace

HttpSession::HttpSession(asio::ip::tcp::socket&& socket, std::shared_ptr<SessionContext> ctx)
    : stream_(std::move(socket)), ctx_(std::move(ctx)) {}

void HttpSession::run() {
  asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
}

void HttpSession::do_read() {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(kBodyLimit);
  stream_.expires_after(kRequestTimeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

http::response<http::string_body> HttpSession::plain(http::status status, std::string body, const char* content_type) {
  http::response<http::string_body> res{status, parser_->get().version()};
  res.set(http::field::server, "wsg/" WSG_VERSION);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(parser_->get().keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) {
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  if (ec) {
    if (ec != beast::error::timeout && ec != asio::error::operation_aborted && ec != asio::error::eof) {
      logging::get("http")->debug("read: {}", ec.message());
    }
    return;
  }
  auto& req = parser_->get();
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) return send(plain(http::status::bad_request, "bad request target\n"));
  const auto path = url->path();

  if (path == "/ws") return upgrade();
  if (path == "/healthz") {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      return send(plain(http::status::method_not_allowed, "method not allowed\n"));
    }
    const bool draining = ctx_->draining.load();
    const bool ready = ctx_->router->ready();
    std::string body = std::string("{\"status\":\"") + (draining ? "draining" : ready ? "ok" : "master_unreachable") +
                       "\",\"node\":\"" + ctx_->node_id + "\",\"sessions\":" +
                       std::to_string(ctx_->router->session_count()) + "}\n";
    return send(plain(!draining && ready ? http::status::ok : http::status::service_unavailable, std::move(body),
                      "application/json"));
  }
  return send(plain(http::status::not_found, "not found\n"));
}

void HttpSession::upgrade() {
  auto& req = parser_->get();
  if (!websocket::is_upgrade(req)) {
    auto res = plain(http::status::upgrade_required, "WebSocket upgrade required\n");
    res.set(http::field::upgrade, "websocket");
    return send(std::move(res));
  }
  if (ctx_->draining.load()) return send(plain(http::status::service_unavailable, "draining\n"));

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
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    auto result = jwt::verify(token, ctx_->jwt_secret, static_cast<int64_t>(now));
    if (const auto* refused = std::get_if<jwt::Refused>(&result)) {
      return send(plain(http::status::unauthorized, "invalid token: " + refused->reason + "\n"));
    }
    user = std::move(std::get<std::string>(result));
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
  stream_.expires_never();
  // The WsSession now owns the connection (and decrements `connections` when it ends).
  std::make_shared<WsSession>(std::move(stream_), ctx_, std::move(user))->run(parser_->release());
}

void HttpSession::send(http::response<http::string_body> res) {
  auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
  response_ = sp;
  const bool keep_alive = sp->keep_alive();
  http::async_write(stream_, *sp, beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), keep_alive));
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (!keep_alive) {
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  do_read();
}

}  // namespace wsg
