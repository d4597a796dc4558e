// Route changes (docs/protocol.md, "Delivery semantics"): a session that got its welcome receives
// every message sent later to its user from any node, whatever the sender's node had cached; a
// session that left does not make a message to its user fail.
#include "test_util.h"

using namespace wsg::it;

namespace {

void receives(Session& s, const std::string& from, const json::value& body, int64_t t0) {
  INFO(s.user << " session " << s.session << " on " << s.node);
  auto m = s->next();
  REQUIRE(m.has_value());
  check_message(*m, from, s.user, body, t0, unix_ms());
}

}  // namespace

TEST_CASE("a new session on a third node gets messages right after its welcome", "[integration]") {
  Cluster c(3);
  auto alice = join(c, 0, "alice");
  auto bob2 = join(c, 1, "bob");
  // node-1 looks bob up and caches bob -> {node-2}
  alice->send_json(send_frame("bob", 1, "c1"));
  expect_ack(*alice, "c1", "delivered");
  const int64_t t0 = unix_ms();
  receives(bob2, "alice", json::value(1), t0);

  // bob also joins on node-3: node-1's cached route is stale now
  auto bob3 = join(c, 2, "bob");
  alice->send_json(send_frame("bob", 2, "c2"));
  expect_ack(*alice, "c2", "delivered");
  receives(bob2, "alice", json::value(2), t0);
  receives(bob3, "alice", json::value(2), t0);
  expect_alive(*bob2, "p2");
  expect_alive(*bob3, "p3");
}

TEST_CASE("a new remote session of a user who is local to the sender gets messages", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 0, "bob");
  alice->send_json(send_frame("bob", 1, "c1"));
  expect_ack(*alice, "c1", "delivered");
  const int64_t t0 = unix_ms();
  receives(bob1, "alice", json::value(1), t0);

  // bob joins on node-2 too: node-1 must not stop at its local session
  auto bob2 = join(c, 1, "bob");
  alice->send_json(send_frame("bob", 2, "c2"));
  expect_ack(*alice, "c2", "delivered");
  receives(bob1, "alice", json::value(2), t0);
  receives(bob2, "alice", json::value(2), t0);
  expect_alive(*bob1, "p1");
  expect_alive(*bob2, "p2");
}

TEST_CASE("a remote session of the recipient appears after the sender cached it offline", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  alice->send_json(send_frame("bob", 1, "c1"));
  expect_ack(*alice, "c1", "offline");
  auto bob = join(c, 1, "bob");
  const int64_t t0 = unix_ms();
  alice->send_json(send_frame("bob", 2, "c2"));
  expect_ack(*alice, "c2", "delivered");
  receives(bob, "alice", json::value(2), t0);
}

TEST_CASE("when one of several sessions leaves the others still get messages", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 0, "bob");
  auto bob2 = join(c, 1, "bob");
  alice->send_json(send_frame("bob", 1, "c1"));
  expect_ack(*alice, "c1", "delivered");
  const int64_t t0 = unix_ms();
  receives(bob1, "alice", json::value(1), t0);
  receives(bob2, "alice", json::value(1), t0);

  // the remote session leaves (node-1 may still have it cached): delivered to the local one
  bob2->close();
  alice->send_json(send_frame("bob", 2, "c2"));
  expect_ack(*alice, "c2", "delivered");
  receives(bob1, "alice", json::value(2), t0);

  // the local one leaves, a remote one comes: delivered there
  auto bob3 = join(c, 1, "bob");
  bob1->close();
  alice->send_json(send_frame("bob", 3, "c3"));
  expect_ack(*alice, "c3", "delivered");
  // Message 2 may legitimately reach bob3 too: node-1 acks `delivered` as soon as bob1 has it,
  // while its DELIVER to node-2 can still bounce (not_here: bob2 left) and be retried after a
  // fresh lookup, which by then lists bob3. If it comes, it must come before 3 (FIFO per
  // sender session -> recipient session) and only once.
  auto first = bob3->next();
  REQUIRE(first.has_value());
  if (first->contains("body") && first->at("body") == json::value(2)) {
    check_message(*first, "alice", "bob", json::value(2), t0, unix_ms());
    receives(bob3, "alice", json::value(3), t0);
  } else {
    check_message(*first, "alice", "bob", json::value(3), t0, unix_ms());
  }
  expect_alive(*bob3, "p3");
}
