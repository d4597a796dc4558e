// Failures (docs/architecture.md, "Failures"): a node killed with SIGKILL; a node at its connection
// limit (docs/protocol.md, "Handshake failures").
#include "test_util.h"

using namespace wsg::it;

TEST_CASE("messages to a killed node's users get failed or offline acks and never hang", "[integration]") {
  ClusterOptions o;
  o.nodes = 2;
  o.node_specs = {NodeSpec{"node-1", {"--delivery-timeout-ms", "500"}}, NodeSpec{"node-2", {}}};
  Cluster c(o);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  alice->send_json(send_frame("bob", 1, "c1"));  // node-1 caches bob -> node-2
  expect_ack(*alice, "c1", "delivered");
  REQUIRE(bob->next().has_value());

  c.node(1).process->kill();
  REQUIRE(c.node(1).process->wait_exit(2000ms).has_value());
  bob->expect_close(2000ms);

  // right away: failed (not confirmed within the delivery timeout) or offline, within the bound
  const auto t = Clock::now();
  alice->send_json(send_frame("bob", 2, "c2"));
  auto a = expect_frame(*alice, "ack", 3000ms);
  INFO("ack after the kill: " << dump(a) << " after "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count()
                              << " ms");
  CHECK(str(a, "ref") == "c2");
  CHECK((str(a, "status") == "failed" || str(a, "status") == "offline"));

  // the master declares node-2 dead after master.node_timeout_ms (3000) and drops its sessions
  bool dead = poll_until(
      [&] {
        auto st = c.status_json();
        const auto* n = find_node(st, "node-2");
        return n && n->contains("alive") && n->at("alive") == json::value(false) && master_count(st, "sessions") == 1 &&
               master_count(st, "users") == 1;
      },
      6000ms);
  INFO("status: " << dump(c.status_json()));
  CHECK(dead);
  // from then on: offline
  alice->send_json(send_frame("bob", 3, "c3"));
  expect_ack(*alice, "c3", "offline");
  // node-1 still serves
  auto carol = join(c, 0, "carol");
  alice->send_json(send_frame("carol", 4, "c4"));
  expect_ack(*alice, "c4", "delivered");
}

TEST_CASE("a node at its connection limit refuses the handshake with 503", "[integration]") {
  ClusterOptions o;
  o.nodes = 1;
  o.node_specs = {NodeSpec{"node-1", {"--max-connections", "2"}}};
  Cluster c(o);
  auto a = join(c, 0, "alice");
  auto b = join(c, 0, "bob");
  {
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), "/ws?user=carol");
    INFO("third connection: http " << r.http_status << " " << r.error);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 503);
  }
  // a slot frees when a session leaves
  b->close();
  std::unique_ptr<WsClient> carol;
  bool in = poll_until(
      [&] {
        carol = std::make_unique<WsClient>();
        return carol->connect(c.ws_port(0), "/ws?user=carol").connected;
      },
      3000ms);
  REQUIRE(in);
  auto w = expect_frame(*carol, "welcome");
  CHECK(str(w, "user") == "carol");
}
