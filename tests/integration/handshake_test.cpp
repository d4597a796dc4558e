// Connecting (docs/protocol.md, "Connecting") and the node's HTTP port (docs/operations.md,
// "Endpoints").
#include "test_util.h"

using namespace wsg::it;

TEST_CASE("welcome names the user the session and the node", "[integration]") {
  Cluster c;
  auto a1 = join(c, 0, "alice");
  auto a2 = join(c, 0, "alice");
  auto b = join(c, 1, "bob");

  CHECK(a1.node == "node-1");
  CHECK(b.node == "node-2");
  // session ids are unique in the cluster
  CHECK(a1.session != a2.session);
  CHECK(a1.session != b.session);
  CHECK(a2.session != b.session);
  // nothing else arrives unasked: the next answer on each connection is the pong
  expect_alive(*a1, "p-a1");
  expect_alive(*a2, "p-a2");
  expect_alive(*b, "p-b");
}

TEST_CASE("handshake with a missing or invalid user id is refused with 400", "[integration]") {
  Cluster c(1);
  const std::string too_long(129, 'a');
  for (const std::string& target :
       std::vector<std::string>{"/ws", "/ws?", "/ws?user=", "/ws?foo=alice", "/ws?user=bad%20user", "/ws?user=a/b",
                                "/ws?user=%C3%A9", "/ws?user=a%2Cb", "/ws?user=" + too_long}) {
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), target);
    INFO("target " << target << ": http " << r.http_status << " " << r.error);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 400);
  }
  // the node is still serving
  join(c, 0, "alice");
}

TEST_CASE("valid user ids at the edges of the syntax are accepted", "[integration]") {
  Cluster c(1);
  const std::string longest(128, 'z');
  join(c, 0, longest);
  join(c, 0, "a.B_c@d:e-1");
  join(c, 0, "0");
  // a percent-encoded id (what a browser's encodeURIComponent produces) is decoded
  join(c, 0, "alice@example.com", "/ws?user=alice%40example.com");
  join(c, 0, "x:y", "/ws?user=x%3Ay");
}

TEST_CASE("unknown paths answer 404 and healthz answers 200 with JSON", "[integration]") {
  Cluster c(1);
  for (const std::string& target :
       std::vector<std::string>{"/nope?user=alice", "/", "/ws/extra?user=alice", "/wss?user=alice"}) {
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), target);
    INFO("websocket upgrade on " << target << ": http " << r.http_status << " " << r.error);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 404);
  }
  for (const std::string& target : std::vector<std::string>{"/nope", "/index.html", "/healthz/x"}) {
    auto r = http_get(c.ws_port(0), target);
    INFO("GET " << target << ": " << r.status << " " << r.error);
    CHECK(r.status == 404);
  }
  auto h = http_get(c.ws_port(0), "/healthz");
  INFO("GET /healthz: " << h.status << " " << h.error << " body: " << h.body);
  REQUIRE(h.status == 200);
  CHECK_NOTHROW(parse_object(h.body));
}

TEST_CASE("the welcome is the first frame even while messages for the user are streaming in", "[integration]") {
  // bob already has a session on each node and alice keeps sending to bob: every new session of
  // bob must get its welcome before any message (the router knows the session before the master
  // acknowledged it).
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 0, "bob");
  auto bob2 = join(c, 1, "bob");
  int sent = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 20; ++i, ++sent) {
      alice->send_json({{"type", "send"}, {"to", "bob"}, {"body", sent}});
    }
    // join() requires the first frame to be the welcome naming the user and the node
    auto extra = join(c, static_cast<std::size_t>(round % 2), "bob");
    CHECK(extra.user == "bob");
  }
}
