// The server API (docs/api.md, "Server API") against real processes: every endpoint, every error,
// its bounds, the `wsg api` command, and the refusal to start without a key off loopback.
//
// [user_op] (disconnect, join, leave) and [info] exercise Router::user_op (wire v4 USER_OP) and
// Router::cluster_status; [service_receipts]: a cross-node publish from the API, whose sender (a
// service name) is no registered user, so the receiving node verifies the API's node through
// NODE_QUERY (docs/wire-encoding.md, "Server API (v4)") before it sends its receipt.
#include "test_util.h"

#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

using namespace wsg::it;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

const std::string kKey = "test-api-key-0123456789";

// One keep-alive HTTP connection to the API.
class ApiConn {
 public:
  explicit ApiConn(uint16_t port) : port_(port), stream_(ioc_) {}

  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                       std::optional<std::string> key = kKey, std::chrono::milliseconds timeout = 10000ms) {
    HttpResponse out;
    beast::error_code result;
    if (!connected_) {
      stream_.expires_after(timeout);
      stream_.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
                            [&](beast::error_code ec) { result = ec; });
      if (!run(timeout) || result) {
        out.error = "connect: " + (result ? result.message() : std::string("timeout"));
        return out;
      }
      connected_ = true;
    }
    http::request<http::string_body> req{method == "GET" ? http::verb::get : http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (key) req.set(http::field::authorization, "Bearer " + *key);
    if (method != "GET") {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    stream_.expires_after(timeout);
    http::async_write(stream_, req, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(stream_, buffer_, parser, [&](beast::error_code rec, std::size_t) { result = rec; });
    });
    if (!run(timeout) || result) {
      out.error = result ? result.message() : "timeout";
      connected_ = false;
      return out;
    }
    out.status = static_cast<int>(parser.get().result_int());
    out.body = parser.get().body();
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers[name] = std::string(f.value());
    }
    if (!parser.get().keep_alive()) {
      beast::error_code ignored;
      stream_.socket().close(ignored);
      connected_ = false;
    }
    return out;
  }

 private:
  bool run(std::chrono::milliseconds timeout) {
    ioc_.restart();
    ioc_.run_for(timeout + 500ms);
    return ioc_.stopped();
  }

  uint16_t port_;
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

HttpResponse api(uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                 std::optional<std::string> key = kKey) {
  ApiConn conn(port);
  return conn.request(method, target, body, std::move(key));
}

json::object answer(const HttpResponse& r, int status) {
  INFO("HTTP " << r.status << " " << r.error << " " << r.body);
  REQUIRE(r.status == status);
  CHECK((r.headers.count("content-type") && r.headers.at("content-type") == "application/json"));
  return parse_object(r.body);
}

void expect_api_error(const HttpResponse& r, int status, const std::string& code) {
  auto o = answer(r, status);
  INFO(dump(o));
  CHECK(str(o, "error") == code);
  CHECK(!str(o, "message").empty());
}

// A node configuration file with an [api] section (and `extra` TOML appended).
std::string api_config(uint16_t api_port, const std::string& extra = "", bool with_key = true,
                       const std::string& host = "127.0.0.1") {
  static int n = 0;
  const auto path = test_dir() / ("api-" + std::to_string(++n) + ".toml");
  std::ofstream f(path);
  f << "[api]\nlisten = \"" << host << ":" << api_port << "\"\n";
  if (with_key) f << "key = \"" << kKey << "\"\n";
  f << extra;
  return path.string();
}

// A cluster of `nodes` with the API on node 0 at the returned port.
struct ApiCluster {
  uint16_t api_port;
  std::unique_ptr<Cluster> cluster;
};
ApiCluster api_cluster(int nodes, const std::string& extra = "", bool with_key = true) {
  ApiCluster c;
  c.api_port = free_port();
  ClusterOptions o;
  o.nodes = nodes;
  o.node_specs.resize(static_cast<std::size_t>(nodes));
  o.node_specs[0].extra_args = {"--config", api_config(c.api_port, extra, with_key)};
  c.cluster = std::make_unique<Cluster>(o);
  return c;
}

void join_room(Session& s, const std::string& room) {
  s->send_json({{"type", "join"}, {"room", room}, {"id", "j-" + room}});
  auto a = expect_frame(*s, "ack");
  INFO(dump(a));
  CHECK(str(a, "status") == "joined");
}

}  // namespace

// Needs the router to accept receipts for a service sender across nodes (see the file comment).
TEST_CASE("api: publish to users on two nodes, with from, id and offline users", "[api][service_receipts]") {
  auto c = api_cluster(2);
  auto alice = join(*c.cluster, 0, "alice");
  auto bob = join(*c.cluster, 1, "bob");

  const int64_t t0 = unix_ms();
  auto one = answer(api(c.api_port, "POST", "/api/publish",
                        R"({"to":"bob","body":{"text":"hi", "n": 1.50},"id":"r1","from":"billing"})"),
                    200);
  INFO(dump(one));
  CHECK(str(one, "ref") == "r1");
  CHECK(str(one, "user") == "bob");
  CHECK(str(one, "status") == "delivered");
  CHECK(!str(one, "id").empty());
  auto m = expect_frame(*bob, "message");
  check_message(m, "billing", "bob", json::parse(R"({"text":"hi","n":1.50})"), t0, unix_ms());
  CHECK(str(m, "id") == str(one, "id"));
  // The body's text is kept as written.
  bob->send_json({{"type", "ping"}, {"id", "p"}});

  auto many = answer(api(c.api_port, "POST", "/api/publish", R"({"users":["alice","bob","carol"],"body":7})"), 200);
  INFO(dump(many));
  REQUIRE(many.at("results").is_array());
  const auto& results = many.at("results").as_array();
  REQUIRE(results.size() == 3);
  CHECK(str(results[0].as_object(), "user") == "alice");
  CHECK(str(results[0].as_object(), "status") == "delivered");
  CHECK(str(results[1].as_object(), "status") == "delivered");
  CHECK(str(results[2].as_object(), "user") == "carol");
  CHECK(str(results[2].as_object(), "status") == "offline");
  check_message(expect_frame(*alice, "message"), "server", "alice", json::value(7), t0, unix_ms());
  expect_frame(*bob, "pong");
  check_message(expect_frame(*bob, "message"), "server", "bob", json::value(7), t0, unix_ms());
}

TEST_CASE("api: the body reaches the recipient byte for byte", "[api]") {
  auto c = api_cluster(1);
  auto alice = join(*c.cluster, 0, "alice");
  auto r = answer(api(c.api_port, "POST", "/api/publish", R"({"to":"alice","body": {"n": 1.50, "e": 1E2 }})"), 200);
  CHECK(str(r, "status") == "delivered");
  auto raw = alice->next_raw();
  REQUIRE(raw);
  CHECK(raw->find(R"("body":{"n": 1.50, "e": 1E2 })") != std::string::npos);
}

// Needs the router to accept receipts for a service sender across nodes (see the file comment).
TEST_CASE("api: publish to a room with members on two nodes; no members; batches", "[api][service_receipts]") {
  auto c = api_cluster(2);
  auto alice = join(*c.cluster, 0, "alice");
  auto bob = join(*c.cluster, 1, "bob");
  join_room(alice, "lobby");
  join_room(bob, "lobby");

  auto r = answer(api(c.api_port, "POST", "/api/publish", R"({"room":"lobby","body":{"t":"news"},"id":"p1"})"), 200);
  INFO(dump(r));
  CHECK(str(r, "room") == "lobby");
  CHECK(str(r, "ref") == "p1");
  CHECK(str(r, "status") == "delivered");
  CHECK(num(r, "sessions") == 2);
  for (auto* s : {&alice, &bob}) {
    auto m = expect_frame(**s, "message");
    CHECK(str(m, "room") == "lobby");
    CHECK(str(m, "from") == "server");
    CHECK(m.at("body") == json::parse(R"({"t":"news"})"));
  }

  auto none = answer(api(c.api_port, "POST", "/api/publish", R"({"room":"empty","body":1})"), 200);
  CHECK(str(none, "status") == "no_members");
  CHECK(num(none, "sessions") == 0);

  auto batch =
      answer(api(c.api_port, "POST", "/api/batch",
                 R"({"requests":[{"to":"alice","body":1},{"to":"bad id","body":1},{"room":"lobby","body":2}]})"),
             200);
  INFO(dump(batch));
  const auto& items = batch.at("results").as_array();
  REQUIRE(items.size() == 3);
  CHECK(str(items[0].as_object(), "status") == "delivered");
  CHECK(str(items[1].as_object(), "error") == "bad_request");
  CHECK(str(items[2].as_object(), "status") == "delivered");
  CHECK(num(items[2].as_object(), "sessions") == 2);

  auto array =
      answer(api(c.api_port, "POST", "/api/publish", R"([{"to":"bob","body":3},{"to":"nobody","body":3}])"), 200);
  const auto& a = array.at("results").as_array();
  REQUIRE(a.size() == 2);
  CHECK(str(a[0].as_object(), "status") == "delivered");
  CHECK(str(a[1].as_object(), "status") == "offline");

  auto over = api(
      c.api_port, "POST", "/api/batch", R"({"requests":[)" + [] {
        std::string s;
        for (int i = 0; i < 101; ++i) s += std::string(i ? "," : "") + R"({"to":"a","body":1})";
        return s;
      }() + "]}");
  expect_api_error(over, 413, "too_large");
}

// Needs the router to accept receipts for a service sender across nodes (see the file comment).
TEST_CASE("api: presence and members, cluster-wide", "[api][service_receipts]") {
  auto c = api_cluster(2);
  auto alice = join(*c.cluster, 0, "alice");
  auto bob = join(*c.cluster, 1, "bob");
  join_room(alice, "lobby");
  join_room(bob, "lobby");

  auto p = answer(api(c.api_port, "GET", "/api/presence?user=alice&user=bob&user=carol"), 200);
  INFO(dump(p));
  const auto& users = p.at("users").as_object();
  CHECK(users.at("alice") == json::value(true));
  CHECK(users.at("bob") == json::value(true));
  CHECK(users.at("carol") == json::value(false));
  expect_api_error(api(c.api_port, "GET", "/api/presence"), 400, "bad_request");
  expect_api_error(api(c.api_port, "GET", "/api/presence?user=a%20b"), 400, "bad_request");

  auto m = answer(api(c.api_port, "GET", "/api/rooms/lobby/members"), 200);
  INFO(dump(m));
  CHECK(str(m, "room") == "lobby");
  std::set<std::string> names;
  for (const auto& u : m.at("users").as_array()) names.insert(std::string(u.as_string()));
  CHECK(names == std::set<std::string>{"alice", "bob"});
  auto page = answer(api(c.api_port, "GET", "/api/rooms/lobby/members?limit=1"), 200);
  CHECK(page.at("users").as_array().size() == 1);
  expect_api_error(api(c.api_port, "GET", "/api/rooms/lobby/members?limit=0"), 400, "bad_request");
}

TEST_CASE("api: errors: bad JSON, bad fields, auth, unknown paths, methods, body size", "[api]") {
  auto c = api_cluster(1, "max_body_bytes = 2048\n[limits]\nmax_message_bytes = 1024\n");
  const auto port = c.api_port;
  expect_api_error(api(port, "POST", "/api/publish", "{\"to\":"), 400, "bad_json");
  expect_api_error(api(port, "POST", "/api/publish", R"({"to":"a b","body":1})"), 400, "bad_request");
  expect_api_error(api(port, "POST", "/api/publish", R"({"to":"a"})"), 400, "bad_request");
  expect_api_error(api(port, "POST", "/api/disconnect", R"({"user":"a","code":1000})"), 400, "bad_request");
  expect_api_error(api(port, "POST", "/api/rooms/join", R"({"user":"a","room":"bad room"})"), 400, "bad_request");

  auto missing = api(port, "GET", "/api/presence?user=a", "", std::nullopt);
  expect_api_error(missing, 401, "unauthorized");
  CHECK(missing.headers["www-authenticate"] == "Bearer");
  expect_api_error(api(port, "GET", "/api/presence?user=a", "", kKey + "x"), 401, "unauthorized");
  expect_api_error(api(port, "GET", "/api/presence?user=a", "", "wrong"), 401, "unauthorized");
  expect_api_error(api(port, "GET", "/nope", "", std::nullopt), 401, "unauthorized");  // nothing told without the key

  expect_api_error(api(port, "GET", "/api/nope"), 404, "not_found");
  expect_api_error(api(port, "GET", "/"), 404, "not_found");
  expect_api_error(api(port, "GET", "/api/publish"), 405, "method_not_allowed");
  expect_api_error(api(port, "POST", "/api/presence"), 405, "method_not_allowed");

  // Over api.max_body_bytes: 413 and the connection ends.
  const std::string big = R"({"to":"alice","body":")" + std::string(3000, 'x') + "\"}";
  expect_api_error(api(port, "POST", "/api/publish", big), 413, "too_large");
  // A body over limits.max_message_bytes within api.max_body_bytes: 413 too.
  const std::string body_over = R"({"to":"alice","body":")" + std::string(1100, 'x') + "\"}";
  REQUIRE(body_over.size() < 2048);
  auto r = api(port, "POST", "/api/publish", body_over);
  expect_api_error(r, 413, "too_large");

  // The connection stays usable after an error (keep-alive).
  ApiConn conn(port);
  expect_api_error(conn.request("POST", "/api/publish", "[1,"), 400, "bad_json");
  auto ok = answer(conn.request("POST", "/api/publish", R"({"to":"nobody","body":1})"), 200);
  CHECK(str(ok, "status") == "offline");

  // Every answer above is counted by endpoint and status (docs/operations.md, "Server API").
  const auto metrics = http_get(c.cluster->ws_port(0), "/metrics").body;
  auto count = [&](const std::string& endpoint, int code) {
    const std::string series =
        "wsg_api_requests_total{code=\"" + std::to_string(code) + "\",endpoint=\"" + endpoint + "\"} ";
    const auto at = metrics.find(series);
    INFO(series);
    REQUIRE(at != std::string::npos);
    return std::stod(metrics.substr(at + series.size()));
  };
  CHECK(count("publish", 400) == 4);  // bad JSON, bad to, no body, and the keep-alive one
  CHECK(count("disconnect", 400) == 1);
  CHECK(count("rooms_join", 400) == 1);
  CHECK(count("presence", 401) == 3);
  CHECK(count("other", 401) == 1);
  CHECK(count("other", 404) == 2);
  CHECK(count("publish", 405) == 1);
  CHECK(count("presence", 405) == 1);
  CHECK(count("publish", 413) == 2);
  CHECK(count("publish", 200) == 1);
  CHECK(metrics.find("wsg_api_request_duration_seconds_count ") != std::string::npos);
}

TEST_CASE("api: a client that sends Expect: 100-continue gets a 100 before it sends the body", "[api]") {
  auto c = api_cluster(1);
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.expires_after(10s);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), c.api_port));
  const std::string body = R"({"to":"nobody","body":")" + std::string(2000, 'x') + "\"}";
  const std::string head =
      "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
      "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  asio::write(s, asio::buffer(head));
  // Nothing of the body sent yet: the node must answer 100 first (else this read runs into the
  // stream's deadline and fails).
  beast::flat_buffer buf;
  http::response_parser<http::empty_body> interim;
  http::read_header(s, buf, interim);
  CHECK(interim.get().result() == http::status::continue_);
  asio::write(s, asio::buffer(body));
  http::response<http::string_body> res;
  http::read(s, buf, res);
  CHECK(res.result_int() == 200);
  CHECK(res.body().find(R"("status":"offline")") != std::string::npos);
}

TEST_CASE("api: requests over api.requests_per_second get 429 with Retry-After", "[api]") {
  auto c = api_cluster(1, "requests_per_second = 1\nburst = 2\n");
  ApiConn conn(c.api_port);
  int refused = 0;
  HttpResponse last;
  for (int i = 0; i < 6; ++i) {
    auto r = conn.request("GET", "/api/presence?user=alice");
    REQUIRE((r.status == 200 || r.status == 429));
    if (r.status == 429) {
      ++refused;
      last = r;
    }
  }
  CHECK(refused >= 3);
  expect_api_error(last, 429, "rate_limited");
  CHECK(last.headers["retry-after"] == "1");
}

TEST_CASE("api: 503 once the master is lost", "[api]") {
  auto c = api_cluster(1, "", true);
  CHECK(api(c.api_port, "GET", "/api/presence?user=a").status == 200);
  c.cluster->master().kill();
  HttpResponse last;
  const bool unavailable = poll_until(
      [&] {
        last = api(c.api_port, "POST", "/api/publish", R"({"to":"a","body":1})");
        return last.status == 503;
      },
      15000ms);
  INFO(last.status << " " << last.body);
  REQUIRE(unavailable);
  expect_api_error(last, 503, "unavailable");
}

TEST_CASE("api: 503 while the node drains", "[api]") {
  auto c = api_cluster(1);
  // A WebSocket client that never reads: its session outlives the drain's close frame, so the
  // node keeps draining for a few seconds.
  asio::io_context ioc;
  beast::websocket::stream<asio::ip::tcp::socket> stuck(ioc);
  stuck.next_layer().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), c.cluster->ws_port(0)));
  stuck.handshake("127.0.0.1", "/ws?user=stuck");

  ApiConn conn(c.api_port);
  REQUIRE(conn.request("GET", "/api/presence?user=stuck").status == 200);
  c.cluster->node(0).process->terminate();
  HttpResponse last;
  const bool draining = poll_until(
      [&] {
        last = conn.request("GET", "/api/presence?user=stuck");
        return last.status == 503;
      },
      5000ms);
  INFO(last.status << " " << last.error << " " << last.body);
  REQUIRE(draining);
  expect_api_error(last, 503, "unavailable");
  CHECK(last.body.find("draining") != std::string::npos);
}

TEST_CASE("api: a node refuses api.listen off loopback without a key; loopback without a key is open", "[api]") {
  const auto port = free_port();
  auto r = run_command(wsg_binary(),
                       {"node", "--config", api_config(port, "", false, "0.0.0.0"), "--master", "tcp://127.0.0.1:1"},
                       10000ms);
  INFO(r.err);
  REQUIRE(r.exit_code);
  CHECK(*r.exit_code == 2);
  CHECK(r.err.find("api.listen") != std::string::npos);

  auto c = api_cluster(1, "", false);
  auto open = answer(api(c.api_port, "GET", "/api/presence?user=a", "", std::nullopt), 200);
  CHECK(open.contains("users"));
}

// Needs the router to accept receipts for a service sender across nodes (see the file comment).
TEST_CASE("api: the wsg api command", "[api][service_receipts]") {
  auto c = api_cluster(2);
  auto alice = join(*c.cluster, 1, "alice");
  const auto key_file = test_dir() / "api.key";
  std::ofstream(key_file) << kKey << "\n";
  const std::vector<std::string> common{"--api", "http://127.0.0.1:" + std::to_string(c.api_port), "--key-file",
                                        key_file.string()};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> all{"api"};
    const auto sub = args.front();
    all.push_back(sub);
    all.insert(all.end(), common.begin(), common.end());
    all.insert(all.end(), args.begin() + 1, args.end());
    return run_command(wsg_binary(), all, 15000ms);
  };

  auto pub = with({"publish", "--to", "alice", "--body", R"({"text":"hi"})", "--from", "ops"});
  INFO(pub.out << pub.err);
  REQUIRE(pub.exit_code == 0);
  CHECK(str(parse_object(pub.out), "status") == "delivered");
  auto m = expect_frame(*alice, "message");
  CHECK(str(m, "from") == "ops");
  CHECK(m.at("body") == json::parse(R"({"text":"hi"})"));

  auto pres = with({"presence", "alice", "bob"});
  INFO(pres.out << pres.err);
  REQUIRE(pres.exit_code == 0);
  auto p = parse_object(pres.out);
  CHECK(p.at("users").as_object().at("alice") == json::value(true));
  CHECK(p.at("users").as_object().at("bob") == json::value(false));

  auto room = with({"publish", "--room", "empty", "--body", "1"});
  REQUIRE(room.exit_code == 0);
  CHECK(str(parse_object(room.out), "status") == "no_members");

  // HTTP errors exit 1; usage errors 2.
  auto bad = with({"publish", "--to", "bad id", "--body", "1"});
  CHECK(bad.exit_code == 1);
  CHECK(str(parse_object(bad.out), "error") == "bad_request");
  auto wrong_key = run_command(
      wsg_binary(), {"api", "presence", "--api", "http://127.0.0.1:" + std::to_string(c.api_port), "alice"}, 15000ms);
  CHECK(wrong_key.exit_code == 1);
  auto usage = with({"publish", "--to", "alice", "--body", "{not json"});
  CHECK(usage.exit_code == 2);

  // Needs Router::user_op (fails until it lands): the disconnect's answer names the user's state.
  auto disc = with({"disconnect", "--user", "alice", "--code", "4001", "--reason", "banned"});
  INFO(disc.out << disc.err);
  REQUIRE(disc.exit_code == 0);
  CHECK(str(parse_object(disc.out), "status") == "delivered");
  auto closed = alice->expect_close();
  REQUIRE(closed);
  CHECK(closed->code == 4001);
}

// ---- These need Router::user_op / Router::cluster_status (issue 17, the router's part). ----

TEST_CASE("api: disconnect every session of a user across nodes", "[api][user_op]") {
  auto c = api_cluster(2);
  auto a0 = join(*c.cluster, 0, "alice");
  auto a1 = join(*c.cluster, 1, "alice");
  auto bob = join(*c.cluster, 1, "bob");
  auto r = answer(api(c.api_port, "POST", "/api/disconnect", R"({"user":"alice","code":4001,"reason":"banned"})"), 200);
  INFO(dump(r));
  CHECK(str(r, "user") == "alice");
  CHECK(str(r, "status") == "delivered");
  for (auto* s : {&a0, &a1}) {
    auto closed = (*s)->expect_close();
    REQUIRE(closed);
    CHECK(closed->code == 4001);
    CHECK(closed->reason == "banned");
  }
  expect_alive(*bob, "still-here");
  auto offline = answer(api(c.api_port, "POST", "/api/disconnect", R"({"user":"carol"})"), 200);
  CHECK(str(offline, "status") == "offline");
}

TEST_CASE("api: join and leave a room for every session of a user", "[api][user_op]") {
  auto c = api_cluster(2);
  // bob on both nodes: the API's own node applies it here, the other through a USER_OP.
  auto bob_there = join(*c.cluster, 1, "bob");
  auto bob_here = join(*c.cluster, 0, "bob");
  auto j = answer(api(c.api_port, "POST", "/api/rooms/join", R"({"user":"bob","room":"lobby"})"), 200);
  INFO(dump(j));
  CHECK(str(j, "status") == "delivered");
  for (auto* bob : {bob_there.ws.get(), bob_here.ws.get()}) {
    auto joined = expect_frame(*bob, "joined");
    CHECK(str(joined, "room") == "lobby");
    CHECK(str(joined, "by") == "server");
  }
  // The answer came once both joins were registered: a publish right after reaches both.
  auto r = answer(api(c.api_port, "POST", "/api/publish", R"({"room":"lobby","body":1})"), 200);
  INFO(dump(r));
  CHECK(str(r, "status") == "delivered");
  CHECK(r.at("sessions").as_int64() == 2);
  for (auto* bob : {bob_there.ws.get(), bob_here.ws.get()})
    CHECK(str(expect_frame(*bob, "message"), "room") == "lobby");

  auto l = answer(api(c.api_port, "POST", "/api/rooms/leave", R"({"user":"bob","room":"lobby"})"), 200);
  CHECK(str(l, "status") == "delivered");
  for (auto* bob : {bob_there.ws.get(), bob_here.ws.get()}) CHECK(str(expect_frame(*bob, "left"), "room") == "lobby");
  auto after = answer(api(c.api_port, "POST", "/api/publish", R"({"room":"lobby","body":2})"), 200);
  CHECK(str(after, "status") == "no_members");
  auto offline = answer(api(c.api_port, "POST", "/api/rooms/join", R"({"user":"carol","room":"lobby"})"), 200);
  CHECK(str(offline, "status") == "offline");
}

TEST_CASE("api: info shows the cluster as wsg status --json does", "[api][info]") {
  auto c = api_cluster(2);
  auto r = answer(api(c.api_port, "GET", "/api/info"), 200);
  INFO(dump(r));
  REQUIRE(r.contains("nodes"));
  CHECK(find_node(r, c.cluster->node_id(0)) != nullptr);
  CHECK(find_node(r, c.cluster->node_id(1)) != nullptr);
}
