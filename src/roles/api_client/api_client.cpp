#include "roles/api_client/api_client.h"

#include <chrono>
#include <iostream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// The largest answer read (a members page, a cluster's status).
constexpr std::uint64_t kMaxAnswerBytes = 64 * 1024 * 1024;

}  // namespace

std::string json_quote(const std::string& text) { return boost::json::serialize(boost::json::string(text)); }

ApiClientResponse api_request(const ApiClientOptions& options, const std::string& method, const std::string& target,
                              const std::string& body) {
  ApiClientResponse out;
  auto url = boost::urls::parse_uri(options.url);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    out.error = "--api '" + options.url + "' is not an http://HOST:PORT URL";
    return out;
  }
  const std::string host = url->host();
  const std::string port = url->has_port() ? std::string(url->port()) : "80";
  std::string path = url->path();
  while (!path.empty() && path.back() == '/') path.pop_back();
  path += target;

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  asio::ip::tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{method == "GET" ? http::verb::get : http::verb::post, path, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "wsg-api/" WSG_VERSION);
  if (!options.key.empty()) req.set(http::field::authorization, "Bearer " + options.key);
  if (method != "GET") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  const auto timeout = std::chrono::milliseconds(options.timeout_ms);
  const auto started = std::chrono::steady_clock::now();
  auto left = [&] {
    const auto spent = std::chrono::steady_clock::now() - started;
    return std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds(1), timeout - spent);
  };
  beast::error_code result;
  std::string where = "connect";
  resolver.async_resolve(host, port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type endpoints) {
    if (ec) {
      result = ec;
      where = "resolve";
      return;
    }
    stream.expires_after(left());
    stream.async_connect(endpoints, [&](beast::error_code cec, const asio::ip::tcp::endpoint&) {
      if (cec) {
        result = cec;
        return;
      }
      where = "write";
      stream.expires_after(left());
      http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
        if (wec) {
          result = wec;
          return;
        }
        where = "read";
        stream.expires_after(left());
        http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) { result = rec; });
      });
    });
  });
  ioc.run_for(timeout + std::chrono::milliseconds(100));
  if (!ioc.stopped()) {
    result = beast::error::timeout;
  }
  if (result) {
    out.error = where + " " + options.url + ": " + result.message();
    return out;
  }
  out.status = static_cast<int>(parser.get().result_int());
  out.body = parser.get().body();
  return out;
}

int run_api(const ApiClientOptions& options, const std::string& method, const std::string& target,
            const std::string& body) {
  const auto r = api_request(options, method, target, body);
  if (r.status == 0) {
    std::cerr << "wsg api: " << r.error << "\n";
    return 1;
  }
  std::cout << r.body;
  if (r.body.empty() || r.body.back() != '\n') std::cout << "\n";
  if (r.status < 200 || r.status > 299) {
    std::cerr << "wsg api: HTTP " << r.status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace wsg
