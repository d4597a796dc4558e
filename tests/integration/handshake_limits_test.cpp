// Bounds on the handshake request (docs/protocol.md "Handshake failures"): headers over 8 KiB
// (an oversized JWT among them) get 431 and a clean close, a malformed Sec-WebSocket-Key gets 400,
// and a user past limits.max_sessions_per_user on a node gets 429.
#include "cluster_ops.h"
#include "test_util.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <string>
#include <vector>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct RawExchange {
  std::string received;   // everything the node sent until the end of the connection
  beast::error_code end;  // how it ended: eof for a clean close, connection_reset for a reset
};

// Writes `request` as is on a new TCP connection, then reads until the node ends the connection
// or `timeout` passes (end is then beast::error::timeout).
RawExchange raw_exchange(uint16_t port, const std::string& request, std::chrono::milliseconds timeout = 5000ms) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  RawExchange out;
  std::array<char, 4096> chunk{};
  std::function<void()> read_more = [&] {
    stream.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
      out.received.append(chunk.data(), n);
      if (ec) {
        out.end = ec;
        return;
      }
      read_more();
    });
  };
  stream.expires_after(timeout);
  stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
    if (ec) {
      out.end = ec;
      return;
    }
    asio::async_write(stream, asio::buffer(request), [&](beast::error_code ec, std::size_t) {
      if (ec) {
        out.end = ec;
        return;
      }
      read_more();
    });
  });
  ioc.run();
  return out;
}

// A WebSocket upgrade request; "Connection: Upgrade, close" so that a refusal ends the connection.
std::string upgrade_request(const std::string& target, const std::string& extra_headers,
                            const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n"
         "Sec-WebSocket-Key: " +
         key + "\r\nSec-WebSocket-Version: 13\r\n" + extra_headers + "\r\n";
}

ClusterOptions jwt_cluster() {
  const auto config = write_file("jwt.toml", "[auth]\nmode = \"jwt\"\nsecret = \"it-secret-0123456789\"\n");
  ClusterOptions o;
  o.nodes = 1;
  o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  return o;
}

// A JWT-shaped token of about `bytes` bytes (three base64url parts; it does not verify).
std::string long_token(std::size_t bytes) {
  return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + std::string(bytes, 'A') + ".c2ln";
}

}  // namespace

TEST_CASE("a 10 KB token in ?token= or Authorization gets 431 and a clean close, not a reset", "[integration]") {
  Cluster c(jwt_cluster());
  const auto token = long_token(10 * 1024);
  SECTION("in the query string") {
    auto r = raw_exchange(c.ws_port(0), upgrade_request("/ws?token=" + token, ""));
    INFO("ended with '" << r.end.message() << "' after: " << r.received);
    CHECK(r.received.rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(r.received.find("Connection: close") != std::string::npos);
    CHECK(r.received.find("8 KiB") != std::string::npos);
    CHECK(r.end == asio::error::eof);
  }
  SECTION("in an Authorization header") {
    auto r = raw_exchange(c.ws_port(0), upgrade_request("/ws", "Authorization: Bearer " + token + "\r\n"));
    INFO("ended with '" << r.end.message() << "' after: " << r.received);
    CHECK(r.received.rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(r.end == asio::error::eof);
  }
  // the node still answers
  CHECK(http_get(c.ws_port(0), "/healthz").status == 200);
}

TEST_CASE("a Sec-WebSocket-Key that is not the base64 of 16 bytes gets 400 and no upgrade", "[integration]") {
  Cluster c(1);
  for (const std::string key : {"abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!",
                                "dGhlIHNhbXBs*SBub25jZQ==", "dGhlIHNhbXBsZSBub25jZSE="}) {
    auto r = raw_exchange(c.ws_port(0), upgrade_request("/ws?user=alice", "", key), 2000ms);
    INFO("key '" << key << "': " << r.received);
    CHECK(r.received.rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(r.received.find("Sec-WebSocket-Key") != std::string::npos);
    CHECK(r.end == asio::error::eof);
  }
  CHECK(health(c.ws_port(0)).sessions == 0);
  // a valid key (RFC 6455's example) is upgraded
  auto r = raw_exchange(c.ws_port(0), upgrade_request("/ws?user=alice", ""), 500ms);
  INFO(r.received);
  CHECK(r.received.rfind("HTTP/1.1 101 ", 0) == 0);
}

TEST_CASE("limits.max_sessions_per_user: the 17th session of a user on a node gets 429 while other users connect",
          "[integration]") {
  Cluster c(1);  // the default limits.max_sessions_per_user: 16
  std::vector<Session> alice;
  for (int i = 0; i < 16; ++i) alice.push_back(join(c, 0, "alice"));
  {
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), "/ws?user=alice");
    INFO("17th: http " << r.http_status << " " << r.error << " body " << r.body);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 429);
    CHECK(r.body.find("max_sessions_per_user") != std::string::npos);
  }
  CHECK(health(c.ws_port(0)).sessions == 16);
  auto bob = join(c, 0, "bob");
  expect_alive(*bob, "b-alive");
  // a session that ends frees its place
  alice.back()->close();
  alice.pop_back();
  bool again = false;
  for (int i = 0; i < 100 && !again; ++i) {
    WsClient probe;
    auto r = probe.connect(c.ws_port(0), "/ws?user=alice");
    again = r.connected;
    if (!again) {
      REQUIRE(r.http_status == 429);
      poll_until([&] { return health(c.ws_port(0)).sessions == 16; }, 50ms);  // paces the retries
    }
  }
  CHECK(again);
}

TEST_CASE("a request body over 16 KiB gets 413 and a clean close, not a reset", "[integration]") {
  Cluster c(1);
  const std::string body(20 * 1024, 'x');
  auto r = raw_exchange(c.ws_port(0),
                        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                        "Content-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
  INFO("ended with '" << r.end.message() << "' after: " << r.received);
  CHECK(r.received.rfind("HTTP/1.1 413 ", 0) == 0);
  CHECK(r.received.find("16 KiB") != std::string::npos);
  CHECK(r.end == asio::error::eof);
}
