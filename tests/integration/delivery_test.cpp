// Delivery paths and acks (docs/protocol.md, "Server → client", "Delivery semantics").
#include "test_util.h"

#include <map>
#include <vector>

using namespace wsg::it;

namespace {

// Bodies of several JSON kinds, as raw JSON text (sent verbatim, compared as JSON values).
const std::vector<std::string> kBodies = {
    R"({"text":"hello","n":1,"nested":{"a":[1,2,{"b":null}],"e":{}}})",
    R"("a plain string")",
    R"("unicode h\u00e9llo \u2713 \ud83d\ude00 é ✓ 😀 \"quoted\" back\\slash\n\ttab \u0001 nul:\u0000:end")",
    R"("")",
    R"(42)",
    R"(-7)",
    R"(3.25)",
    R"(1e300)",
    R"(9007199254740993)",
    R"(18446744073709551615)",
    R"(-9223372036854775808)",
    R"(true)",
    R"(false)",
    R"(null)",
    R"([])",
    R"({})",
    R"([1,"two",3.5,null,true,{"x":[]}])",
};

std::string raw_send(const std::string& to, const std::string& raw_body, const std::string& id) {
  return R"({"type":"send","to":")" + to + R"(","id":")" + id + R"(","body":)" + raw_body + "}";
}

// Sends every body of kBodies from `from` to `to` (pipelined) and checks that `to` receives them
// in order with their fields, and that `from` gets one `delivered` ack per id, naming the message id.
void exchange_all_bodies(Session& from, Session& to, const std::string& prefix) {
  const int64_t t0 = unix_ms();
  for (std::size_t i = 0; i < kBodies.size(); ++i)
    from->send_text(raw_send(to.user, kBodies[i], prefix + std::to_string(i)));

  std::vector<std::string> msg_ids;
  for (std::size_t i = 0; i < kBodies.size(); ++i) {
    auto m = to->next();
    INFO("waiting for message " << i << " (" << kBodies[i] << ") at " << to.user);
    REQUIRE(m.has_value());
    check_message(*m, from.user, to.user, json::parse(kBodies[i]), t0, unix_ms());
    msg_ids.push_back(str(*m, "id"));
  }
  CHECK(std::set<std::string>(msg_ids.begin(), msg_ids.end()).size() == msg_ids.size());

  std::map<std::string, json::object> acks;
  for (std::size_t i = 0; i < kBodies.size(); ++i) {
    auto a = expect_frame(*from, "ack");
    INFO("ack: " << dump(a));
    CHECK(acks.count(str(a, "ref")) == 0);
    acks[str(a, "ref")] = a;
  }
  for (std::size_t i = 0; i < kBodies.size(); ++i) {
    const std::string ref = prefix + std::to_string(i);
    INFO("ack for " << ref);
    REQUIRE(acks.count(ref) == 1);
    CHECK(str(acks[ref], "status") == "delivered");
    CHECK(str(acks[ref], "id") == msg_ids[i]);
  }
  // no duplicates and nothing else pending on either side
  expect_alive(*from, prefix + "-ping");
  expect_alive(*to, prefix + "-ping2");
}

}  // namespace

TEST_CASE("cross-node delivery both ways with delivered acks and exact bodies", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  exchange_all_bodies(alice, bob, "a2b-");
  exchange_all_bodies(bob, alice, "b2a-");
  // and again, now that the routes are cached
  exchange_all_bodies(alice, bob, "a2b-again-");
}

TEST_CASE("bodies arrive intact whatever the layout of the send frame", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 0, "carol");
  struct Case {
    std::string frame;
    std::string body;  // expected body, as JSON text
  };
  const std::vector<Case> cases = {
      // body first, whitespace everywhere
      {"{ \"body\" : { \"k\" : [ 1 , 2 ] , \"s\" : \"}\\\"{,]\" } ,\n\t\"type\" : \"send\" , \"to\" : \"TO\" , \"id\" "
       ": \"ID\" }",
       R"({"k":[1,2],"s":"}\"{,]"})"},
      // pretty-printed over several lines, body in the middle
      {"{\n  \"type\": \"send\",\n  \"body\": [\n    \"a\",\n    {\"b\": null}\n  ],\n  \"to\": \"TO\",\n  \"id\": "
       "\"ID\"\n}\n",
       R"(["a",{"b":null}])"},
      // escapes that look like structure
      {R"({"type":"send","to":"TO","id":"ID","body":"\"body\":\"x\",\"to\":\"mallory\""})",
       R"("\"body\":\"x\",\"to\":\"mallory\"")"},
      // an unknown field after the body holding another "body"
      {R"({"type":"send","to":"TO","body":{"body":1},"id":"ID","x":{"body":2}})", R"({"body":1})"},
      // numbers in several spellings
      {R"({"type":"send","to":"TO","id":"ID","body":[0,-0,1E2,1e-2,-1.5e+3,123456789012]})",
       R"([0,-0,1E2,1e-2,-1.5e+3,123456789012])"},
  };
  int n = 0;
  for (Session* to : {&bob, &carol}) {
    for (const auto& cs : cases) {
      const std::string id = "layout" + std::to_string(n++);
      std::string frame = cs.frame;
      frame.replace(frame.find("TO"), 2, to->user);
      frame.replace(frame.find("ID"), 2, id);
      INFO("frame: " << frame);
      const int64_t t0 = unix_ms();
      alice->send_text(frame);
      expect_ack(*alice, id, "delivered");
      auto m = (*to)->next();
      REQUIRE(m.has_value());
      check_message(*m, "alice", to->user, json::parse(cs.body), t0, unix_ms());
    }
  }
}

TEST_CASE("same-node delivery with delivered acks", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  exchange_all_bodies(alice, bob, "a2b-");
  exchange_all_bodies(bob, alice, "b2a-");
}

TEST_CASE("a message reaches every session of the recipient exactly once", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 0, "bob");
  auto bob2 = join(c, 1, "bob");
  auto bob3 = join(c, 1, "bob");

  const int64_t t0 = unix_ms();
  alice->send_json(send_frame("bob", json::parse(R"({"n":1})"), "m1"));
  alice->send_json(send_frame("bob", json::parse(R"({"n":2})"), "m2"));

  std::set<std::string> ids_m1;
  for (Session* b : {&bob1, &bob2, &bob3}) {
    INFO("bob session " << b->session << " on " << b->node);
    // FIFO per (sender session, recipient session): m1 then m2, and a duplicate m1 would show up
    // before m2.
    auto m1 = (*b)->next();
    REQUIRE(m1.has_value());
    check_message(*m1, "alice", "bob", json::parse(R"({"n":1})"), t0, unix_ms());
    ids_m1.insert(str(*m1, "id"));
    auto m2 = (*b)->next();
    REQUIRE(m2.has_value());
    check_message(*m2, "alice", "bob", json::parse(R"({"n":2})"), t0, unix_ms());
    expect_alive(**b, "pb");
  }
  // the same message (one id) went to all three sessions
  CHECK(ids_m1.size() == 1);

  // exactly one ack per send, and the sender gets no message
  std::set<std::string> refs;
  for (int i = 0; i < 2; ++i) {
    auto a = expect_frame(*alice, "ack");
    INFO("ack: " << dump(a));
    CHECK(str(a, "status") == "delivered");
    CHECK(refs.insert(str(a, "ref")).second);
    if (str(a, "ref") == "m1") CHECK(str(a, "id") == *ids_m1.begin());
  }
  CHECK(refs == std::set<std::string>{"m1", "m2"});
  expect_alive(*alice, "pa");
}

TEST_CASE("a message to yourself reaches all your sessions including the sender", "[integration]") {
  Cluster c;
  auto a1 = join(c, 0, "alice");
  auto a2 = join(c, 0, "alice");
  auto a3 = join(c, 1, "alice");

  const int64_t t0 = unix_ms();
  a1->send_json(send_frame("alice", "note to self", "self1"));

  // the sender gets the message and the ack, in either order
  std::optional<json::object> msg, ack;
  for (int i = 0; i < 2; ++i) {
    auto f = a1->next();
    REQUIRE(f.has_value());
    INFO("frame at the sending session: " << dump(*f));
    if (str(*f, "type") == "message") {
      CHECK_FALSE(msg.has_value());
      msg = *f;
    } else {
      REQUIRE(str(*f, "type") == "ack");
      CHECK_FALSE(ack.has_value());
      ack = *f;
    }
  }
  REQUIRE(msg.has_value());
  REQUIRE(ack.has_value());
  check_message(*msg, "alice", "alice", json::value("note to self"), t0, unix_ms());
  CHECK(str(*ack, "ref") == "self1");
  CHECK(str(*ack, "status") == "delivered");
  CHECK(str(*ack, "id") == str(*msg, "id"));
  expect_alive(*a1, "p1");

  for (Session* s : {&a2, &a3}) {
    INFO("other alice session on " << s->node);
    auto m = (*s)->next();
    REQUIRE(m.has_value());
    check_message(*m, "alice", "alice", json::value("note to self"), t0, unix_ms());
    CHECK(str(*m, "id") == str(*msg, "id"));
    expect_alive(**s, "p");
  }
}

TEST_CASE("a message to a user with no session is acked offline", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  alice->send_json(send_frame("nobody", "hello?", "o1"));
  expect_ack(*alice, "o1", "offline");
  // asked again (nothing may have been cached as "offline" wrongly, nor delivered)
  alice->send_json(send_frame("nobody", "hello again?", "o2"));
  expect_ack(*alice, "o2", "offline");
  bob->send_json(send_frame("nobody", json::value(nullptr), "o3"));
  expect_ack(*bob, "o3", "offline");
  expect_alive(*alice, "pa");
  expect_alive(*bob, "pb");
}

TEST_CASE("a send without id gets no ack but is delivered", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  const int64_t t0 = unix_ms();
  alice->send_json(send_frame("bob", "no id here"));
  auto m = bob->next();
  REQUIRE(m.has_value());
  check_message(*m, "alice", "bob", json::value("no id here"), t0, unix_ms());

  // a later send with an id: its ack must be the first frame alice sees (no ack for the first)
  alice->send_json(send_frame("bob", "with id", "w1"));
  expect_ack(*alice, "w1", "delivered");
  auto m2 = bob->next();
  REQUIRE(m2.has_value());
  check_message(*m2, "alice", "bob", json::value("with id"), t0, unix_ms());
  expect_alive(*alice, "pa");

  // same on one node, and to an offline user
  auto carol = join(c, 0, "carol");
  alice->send_json(send_frame("carol", "local, no id"));
  auto m3 = carol->next();
  REQUIRE(m3.has_value());
  check_message(*m3, "alice", "carol", json::value("local, no id"), t0, unix_ms());
  alice->send_json(send_frame("nobody", "offline, no id"));
  expect_alive(*alice, "pa2");
}

TEST_CASE("a user who moves to another node keeps receiving messages", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  {
    auto bob = join(c, 1, "bob");
    alice->send_json(send_frame("bob", 1, "r1"));  // caches bob -> node-2 at node-1
    expect_ack(*alice, "r1", "delivered");
    REQUIRE(bob->next().has_value());
    bob->close();
  }
  // bob comes back on node-1 (alice's node), then on node-2 again: a session that got its
  // welcome receives every message sent later (docs/protocol.md, "Delivery semantics")
  auto bob_local = join(c, 0, "bob");
  const int64_t t0 = unix_ms();
  alice->send_json(send_frame("bob", 2, "r2"));
  expect_ack(*alice, "r2", "delivered");
  auto m = bob_local->next();
  REQUIRE(m.has_value());
  check_message(*m, "alice", "bob", json::value(2), t0, unix_ms());
  bob_local->close();

  auto bob_remote = join(c, 1, "bob");
  alice->send_json(send_frame("bob", 3, "r3"));
  expect_ack(*alice, "r3", "delivered");
  // r2 may reach this session too: node-1 delivered it locally (and acked it) and also sent it
  // along its cached route to node-2, which the invalidation for bob's first session may not have
  // removed yet. If that DELIVER arrives after this session's welcome, the session gets it: a
  // message to bob, sent before the session existed, which the contract allows (at most once per
  // session; every message sent after the welcome). Seen on a busy CI machine. r3 must come,
  // and nothing but r2 before it.
  auto m3 = bob_remote->next();
  REQUIRE(m3.has_value());
  if (m3->at("body") == json::value(2)) {
    m3 = bob_remote->next();
    REQUIRE(m3.has_value());
  }
  check_message(*m3, "alice", "bob", json::value(3), t0, unix_ms());
}
