// The Router on its own: in-memory fakes of MasterLink, PeerLink and LocalSession, one io_context
// run by the test (no processes, no sockets, no sleeps). Each case drives the router with the
// messages the master and the peers would send, and checks what it sends back and what the
// sender's session is told.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/peer_link.h"
#include "routing/router.h"

namespace asio = boost::asio;
namespace cluster = wsg::cluster;
namespace json = boost::json;

namespace {

using wsg::fakes::FakeMaster;
using wsg::fakes::FakePeers;
using wsg::fakes::FakeSession;

constexpr uint64_t kEpoch = 7;

struct Fixture {
  explicit Fixture(int wire_version = 1) {
    wsg::Router::Options o;
    o.wire_version = wire_version;
    o.node_id = "node-1";
    o.incarnation = 1;
    o.events = "tcp://127.0.0.1:1";
    o.delivery_timeout_ms = 60000;  // nothing times out while a case runs
    o.outbox_coalesce = std::chrono::microseconds(0);
    router = std::make_shared<wsg::Router>(ioc, o, master, peers, [](const std::string&) {});
    // Registered at the master (no start(): no timers run in these tests).
    router->on_master_messages({cluster::HelloReply{kEpoch, true, {}}});
    run();
    alice = std::make_shared<FakeSession>("alice", "s-alice");
    router->add_session(alice, [] {});
    run();
    master.sent.clear();
  }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  void send(const std::string& to, int n, const std::string& prefix = "m") {
    for (int i = 0; i < n; ++i)
      router->send(alice, wsg::proto::SendFrame{to, std::to_string(i), prefix + std::to_string(i)});
    run();
  }
  void answer_lookup(const cluster::Lookup& l, std::vector<cluster::NodeAddr> nodes) {
    router->on_master_messages({cluster::LookupReply{kEpoch, l.seq, l.user, std::move(nodes)}});
    run();
  }
  static cluster::NodeAddr node(const std::string& id) { return {id, "tcp://127.0.0.1:9" + id.substr(5)}; }

  asio::io_context ioc;
  FakeMaster master;
  FakePeers peers;
  std::shared_ptr<wsg::Router> router;
  std::shared_ptr<FakeSession> alice;
};

// `session` got exactly `n` acks, all `failed` with `reason`.
void require_all_failed(const FakeSession& session, std::size_t n, const std::string& reason) {
  const auto acks = session.acks();
  REQUIRE(acks.size() == n);
  for (auto& [ref, ack] : acks) {
    INFO("ack of " << ref);
    CHECK(ack.at("status") == "failed");
    CHECK(ack.at("reason") == reason.c_str());
  }
}

// The message counter part of an id ("<incarnation>-<counter>", both hex) for order checks.
uint64_t counter_of(const std::string& id) { return std::stoull(id.substr(id.find('-') + 1), nullptr, 16); }

}  // namespace

TEST_CASE("router: messages retried after their node died go to the new node in send order", "[router]") {
  Fixture f;
  f.send("bob", 200);
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-2")});
  REQUIRE(f.peers.delivered_ids("node-2").size() == 200);

  // node-2 dies before any receipt; bob is on node-3 now.
  f.router->on_master_messages({cluster::NodeDown{kEpoch, "node-2"}});
  f.run();
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  CHECK(lookups[0].user == "bob");
  f.answer_lookup(lookups[0], {Fixture::node("node-3")});

  const auto ids = f.peers.delivered_ids("node-3");
  REQUIRE(ids.size() == 200);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    INFO("retry " << i << ": " << ids[i - 1] << " then " << ids[i]);
    REQUIRE(counter_of(ids[i - 1]) < counter_of(ids[i]));
  }
}

TEST_CASE("router: a message handed to a node that died is acked failed (node_down), never offline", "[router]") {
  Fixture f;
  f.send("bob", 3);
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-2")});
  f.router->on_master_messages({cluster::NodeDown{kEpoch, "node-2"}});
  f.run();
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {});  // the master: bob has no session any more

  const auto acks = f.alice->acks();
  REQUIRE(acks.size() == 3);
  for (auto& [ref, ack] : acks) {
    INFO(json::serialize(ack));
    CHECK(ack.at("status") == "failed");
    CHECK(ack.at("reason") == "node_down");
  }
  // A message that was never handed to any node and finds nobody is `offline`, without reason.
  f.send("carol", 1, "c");
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {});
  const auto c = f.alice->acks().at("c0");
  CHECK(c.at("status") == "offline");
  CHECK_FALSE(c.contains("reason"));
}

TEST_CASE("router: messages sent after a node death wait behind the retried ones", "[router]") {
  Fixture f;
  f.send("bob", 50, "a");
  auto lookups = f.master.take_lookups();
  f.answer_lookup(lookups.at(0), {Fixture::node("node-2")});
  f.router->on_master_messages({cluster::NodeDown{kEpoch, "node-2"}});
  f.run();
  // Sent while the retries' lookup is out: held, not routed ahead of them.
  f.send("bob", 50, "b");
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-3")});
  auto ids = f.peers.delivered_ids("node-3");
  REQUIRE(ids.size() >= 50);
  // The later ones go out only after the retried ones are settled: confirm those.
  cluster::Receipt r{"node-3", {}};
  for (std::size_t i = 0; i < 50; ++i) r.items.push_back({ids[i], cluster::ReceiptStatus::delivered});
  f.router->on_peer_messages({r});
  f.run();
  lookups = f.master.take_lookups();
  if (!lookups.empty()) f.answer_lookup(lookups[0], {Fixture::node("node-3")});
  ids = f.peers.delivered_ids("node-3");
  REQUIRE(ids.size() == 100);
  for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(counter_of(ids[i - 1]) < counter_of(ids[i]));
}

TEST_CASE("router: receipts go only to origins the master vouches for", "[router]") {
  Fixture f;
  auto deliver = [&](const std::string& origin, const std::string& events, const std::string& id) {
    f.router->on_peer_messages({cluster::Deliver{origin, events, {{id, "mallory", "alice", 1, "1"}}}});
    f.run();
  };
  // A DELIVER from an origin this node has not heard of: delivered, but its receipt waits for the
  // master's word on where the sender is.
  deliver("node-x", "tcp://127.0.0.1:7001", "x-1");
  CHECK(f.alice->frames.size() == 1);
  CHECK_FALSE(f.peers.sent_anything_to("node-x"));
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  CHECK(lookups[0].user == "mallory");
  f.answer_lookup(lookups[0], {});  // the master knows no such node holding mallory
  CHECK_FALSE(f.peers.sent_anything_to("node-x"));

  // A real peer: the master lists it at that address, and the held receipt goes out.
  deliver("node-2", "tcp://127.0.0.1:92", "y-1");
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-2")});
  REQUIRE(f.peers.sent_anything_to("node-2"));
  // Known from now on: the next receipt goes without asking.
  deliver("node-2", "tcp://127.0.0.1:92", "y-2");
  CHECK(f.master.take_lookups().empty());

  // More made-up origins than the table holds (1,024; the oldest evicted), their lookups not
  // answered yet: a real peer arriving last is still verified, and no fake gets anything.
  for (int i = 0; i < 1100; ++i)
    deliver("fake-" + std::to_string(i), "tcp://127.0.0.1:" + std::to_string(10000 + i), "z-" + std::to_string(i));
  auto fake_lookups = f.master.take_lookups();
  CHECK(fake_lookups.size() == 1100);
  deliver("node-3", "tcp://127.0.0.1:93", "w-1");
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-3")});
  CHECK(f.peers.sent_anything_to("node-3"));
  for (auto& l : fake_lookups) f.answer_lookup(l, {});
  for (int i = 0; i < 1100; ++i) CHECK_FALSE(f.peers.sent_anything_to("fake-" + std::to_string(i)));
}

TEST_CASE("router: a route change holds later messages until the earlier ones are settled", "[router]") {
  Fixture f;
  f.send("bob", 3, "a");
  auto lookups = f.master.take_lookups();
  f.answer_lookup(lookups.at(0), {Fixture::node("node-2")});
  REQUIRE(f.peers.delivered_ids("node-2").size() == 3);
  // bob moved: the master invalidates his route while a0..a2 still await receipts.
  f.router->on_master_messages({cluster::Invalidate{kEpoch, "bob"}});
  f.run();
  CHECK(f.master.sent_of<cluster::InvalidateAck>().size() == 1);
  f.send("bob", 2, "b");
  CHECK(f.master.take_lookups().empty());  // held: not even looked up yet
  CHECK(f.peers.delivered_ids("node-3").empty());
  // node-2 answers: two delivered, one not_here (bob left it).
  const auto ids = f.peers.delivered_ids("node-2");
  f.router->on_peer_messages({cluster::Receipt{"node-2",
                                               {{ids[0], cluster::ReceiptStatus::delivered},
                                                {ids[1], cluster::ReceiptStatus::delivered},
                                                {ids[2], cluster::ReceiptStatus::not_here}}}});
  f.run();
  // a2 is retried through a fresh lookup; b0, b1 still wait behind it, in the same lookup queue.
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-3")});
  auto moved = f.peers.delivered_ids("node-3");
  REQUIRE(!moved.empty());
  CHECK(moved[0] == ids[2]);
  cluster::Receipt r{"node-3", {}};
  for (auto& id : moved) r.items.push_back({id, cluster::ReceiptStatus::delivered});
  f.router->on_peer_messages({r});
  f.run();
  moved = f.peers.delivered_ids("node-3");
  REQUIRE(moved.size() == 3);
  for (std::size_t i = 1; i < moved.size(); ++i) CHECK(counter_of(moved[i - 1]) < counter_of(moved[i]));
  const auto acks = f.alice->acks();
  CHECK(acks.at("a0").at("status") == "delivered");
  CHECK(acks.at("a2").at("status") == "delivered");
}

TEST_CASE("router: a not_here bounce is retried once through a fresh lookup, then acked failed (moved)", "[router]") {
  Fixture f;
  f.send("bob", 1);
  auto lookups = f.master.take_lookups();
  f.answer_lookup(lookups.at(0), {Fixture::node("node-2")});
  auto id = f.peers.delivered_ids("node-2").at(0);
  f.router->on_peer_messages({cluster::Receipt{"node-2", {{id, cluster::ReceiptStatus::not_here}}}});
  f.run();
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);  // the retry asks the master, not the cache
  f.answer_lookup(lookups[0], {Fixture::node("node-3")});
  REQUIRE(f.peers.delivered_ids("node-3") == std::vector<std::string>{id});
  f.router->on_peer_messages({cluster::Receipt{"node-3", {{id, cluster::ReceiptStatus::not_here}}}});
  f.run();
  CHECK(f.master.take_lookups().empty());  // once only
  const auto ack = f.alice->acks().at("m0");
  CHECK(ack.at("status") == "failed");
  CHECK(ack.at("reason") == "moved");
}

TEST_CASE("router: a DELIVER the peer link refuses is acked failed at once (peer_unreachable)", "[router]") {
  Fixture f;
  f.peers.refuse = true;
  f.send("bob", 2);
  auto lookups = f.master.take_lookups();
  f.answer_lookup(lookups.at(0), {Fixture::node("node-2")});
  const auto acks = f.alice->acks();
  REQUIRE(acks.size() == 2);
  for (auto& [ref, ack] : acks) {
    CHECK(ack.at("status") == "failed");
    CHECK(ack.at("reason") == "peer_unreachable");
  }
}

TEST_CASE("router: lookups fail at once when the master link refuses them", "[router]") {
  Fixture f;
  f.master.refuse = true;
  f.send("bob", 3);
  require_all_failed(*f.alice, 3, "master_unreachable");  // no wait for the delivery timeout (60 s here)
  // The link accepts again: the next message is looked up normally.
  f.master.refuse = false;
  f.send("bob", 1, "n");
  CHECK(f.master.take_lookups().size() == 1);
}

TEST_CASE("router: a restarted master gets a HELLO and every live session replayed", "[router]") {
  Fixture f;
  auto carol = std::make_shared<FakeSession>("carol", "s-carol");
  f.router->add_session(carol, [] {});
  f.run();
  f.master.sent.clear();
  // A reply with another epoch: the master restarted and forgot this node.
  f.router->on_master_messages({cluster::HeartbeatReply{kEpoch + 1, false}});
  f.run();
  REQUIRE(f.master.sent_of<cluster::Hello>().size() == 1);
  f.master.sent.clear();
  f.router->on_master_messages({cluster::HelloReply{kEpoch + 1, true, {}}});
  f.run();
  std::set<std::string> replayed;
  for (auto& r : f.master.sent_of<cluster::RegisterSessions>()) {
    for (auto& s : r.sessions) replayed.insert(s.user + "/" + s.session);
  }
  CHECK(replayed == std::set<std::string>{"alice/s-alice", "carol/s-carol"});
  // The route cache was flushed: a send asks the master afresh.
  f.send("bob", 1);
  CHECK(f.master.take_lookups().size() == 1);
}

TEST_CASE("router (wire v2): the lookups one turn starts go in one LOOKUP_BATCH, and its answers route each user",
          "[router]") {
  Fixture f(2);
  for (const std::string user : {"bob", "carol", "dave"}) {
    f.router->send(f.alice, wsg::proto::SendFrame{user, "1", user + "-0"});
    f.router->send(f.alice, wsg::proto::SendFrame{user, "2", user + "-1"});
  }
  f.run();
  const auto batches = f.master.sent_of<cluster::LookupBatch>();
  REQUIRE(batches.size() == 1);
  CHECK(f.master.sent_of<cluster::Lookup>().empty());
  const auto& lookups = batches[0].lookups;
  REQUIRE(lookups.size() == 3);  // one per user (single-flight), in the order they were started
  CHECK(lookups[0].user == "bob");
  CHECK(lookups[1].user == "carol");
  CHECK(lookups[2].user == "dave");
  f.master.sent.clear();

  // The master answers bob and carol now, through its node table; dave's answer was held (its
  // recovery window) and comes later as a plain LOOKUP_REPLY with dave's seq.
  f.router->on_master_messages(
      {cluster::LookupBatchReply{kEpoch,
                                 {Fixture::node("node-3"), Fixture::node("node-2")},
                                 {{lookups[0].seq, "bob", {1}}, {lookups[1].seq, "carol", {0, 1}}}}});
  f.run();
  CHECK(f.peers.delivered_ids("node-2").size() == 4);  // bob's two and carol's two
  CHECK(f.peers.delivered_ids("node-3").size() == 2);  // carol's two
  CHECK(f.alice->acks().empty());                      // nothing settled yet: receipts pending
  f.answer_lookup(lookups[2], {});
  const auto acks = f.alice->acks();
  REQUIRE(acks.size() == 2);
  CHECK(acks.at("dave-0").at("status") == "offline");
  CHECK(acks.at("dave-1").at("status") == "offline");
  // The routes are cached: the next messages to bob and carol ask the master nothing.
  f.send("bob", 1, "again");
  f.send("carol", 1, "again-c");
  CHECK(f.master.sent.empty());
}

TEST_CASE("router (wire v2): a lone lookup stays a LOOKUP; more than 256 in one turn go in several batches",
          "[router]") {
  Fixture f(2);
  f.send("bob", 2);
  CHECK(f.master.sent_of<cluster::LookupBatch>().empty());
  CHECK(f.master.take_lookups().size() == 1);

  for (int u = 0; u < 300; ++u) f.router->send(f.alice, wsg::proto::SendFrame{"u" + std::to_string(u), "1", {}});
  f.run();
  const auto batches = f.master.sent_of<cluster::LookupBatch>();
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].lookups.size() == cluster::kMaxLookupBatch);
  CHECK(batches[1].lookups.size() == 300 - cluster::kMaxLookupBatch);
  CHECK(batches[0].lookups.front().user == "u0");
  CHECK(batches[1].lookups.back().user == "u299");
}

TEST_CASE("router (wire v2): every lookup of a batch the master link refuses fails at once", "[router]") {
  Fixture f(2);
  f.master.refuse = true;
  for (const std::string user : {"bob", "carol", "dave"})
    f.router->send(f.alice, wsg::proto::SendFrame{user, "1", user});
  f.run();
  require_all_failed(*f.alice, 3, "master_unreachable");  // no wait for the delivery timeout (60 s here)
  f.master.refuse = false;
  f.send("bob", 1, "n");
  CHECK(f.master.take_lookups().size() == 1);  // looked up again, not stuck behind the failed one
}

// ---- server API (Router::user_op, Router::cluster_status; docs/api.md)

namespace {

struct OpOutcome {
  bool called = false;
  wsg::proto::AckStatus status = wsg::proto::AckStatus::failed;
  std::string reason;
};

std::shared_ptr<OpOutcome> user_op(Fixture& f, wsg::Router::UserOp op, const std::string& user,
                                   const std::string& room = "", uint16_t code = 4000, const std::string& reason = "") {
  auto out = std::make_shared<OpOutcome>();
  f.router->user_op(wsg::Router::UserOpRequest{op, user, room, code, reason}, [out](wsg::Router::UserOpResult r) {
    REQUIRE_FALSE(out->called);
    out->called = true;
    out->status = r.status;
    out->reason = r.reason;
  });
  f.run();
  return out;
}

}  // namespace

TEST_CASE("router (api): a disconnect closes the user's sessions here and is answered delivered", "[router][api]") {
  Fixture f;
  auto second = std::make_shared<FakeSession>("alice", "s-alice-2");
  f.router->add_session(second, [] {});
  f.run();
  auto out = user_op(f, wsg::Router::UserOp::disconnect, "alice", "", 4001, "banned");
  // Applied here at once; the master is still asked whether alice is elsewhere too.
  REQUIRE(f.alice->closes.size() == 1);
  CHECK(f.alice->closes[0] == std::pair<uint16_t, std::string>{4001, "banned"});
  REQUIRE(second->closes.size() == 1);
  CHECK(out->called);
  CHECK(out->status == wsg::proto::AckStatus::delivered);
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-1")});
  CHECK(f.alice->closes.size() == 1);  // never twice
}

TEST_CASE("router (api): an operation on a user elsewhere goes to its nodes after the messages sent before it",
          "[router][api]") {
  Fixture f;
  f.send("bob", 2);
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-2"), Fixture::node("node-3")});
  // A message and the operation in the same strand turn: the message's DELIVER is still in the
  // outbox when the USER_OP goes, and must go first.
  f.router->send(f.alice, wsg::proto::SendFrame{"bob", "2", "m2"});
  auto out = user_op(f, wsg::Router::UserOp::join, "bob", "lobby");
  CHECK_FALSE(out->called);
  // The route is cached: no new lookup; each node got its DELIVERs, then the USER_OP.
  CHECK(f.master.take_lookups().empty());
  for (const std::string node : {"node-2", "node-3"}) {
    INFO(node);
    std::vector<int> kinds;  // 0 DELIVER, 1 USER_OP
    const cluster::UserOp* op = nullptr;
    for (auto& sent : f.peers.sent) {
      if (sent.node != node) continue;
      if (std::holds_alternative<cluster::Deliver>(sent.message)) kinds.push_back(0);
      if (auto* u = std::get_if<cluster::UserOp>(&sent.message)) {
        kinds.push_back(1);
        op = u;
      }
    }
    CHECK(kinds == std::vector<int>{0, 0, 1});
    REQUIRE(op);
    CHECK(op->user == "bob");
    CHECK(op->op == cluster::UserOpKind::join);
    CHECK(op->room == "lobby");
    CHECK(op->origin_node == "node-1");
  }
  const std::string op_id = std::get<cluster::UserOp>(f.peers.sent.back().message).msg_id;
  // node-2 has no session of bob any more, node-3 applied it: delivered once node-3 says so.
  f.router->on_peer_messages({cluster::Receipt{"node-2", {{op_id, cluster::ReceiptStatus::not_here}}}});
  f.run();
  CHECK_FALSE(out->called);
  f.router->on_peer_messages({cluster::Receipt{"node-3", {{op_id, cluster::ReceiptStatus::delivered}}}});
  f.run();
  REQUIRE(out->called);
  CHECK(out->status == wsg::proto::AckStatus::delivered);
}

TEST_CASE("router (api): an operation on a user with no session is offline; a refused link fails it", "[router][api]") {
  Fixture f;
  auto out = user_op(f, wsg::Router::UserOp::leave, "zed", "lobby");
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {});
  REQUIRE(out->called);
  CHECK(out->status == wsg::proto::AckStatus::offline);

  f.peers.refuse = true;
  out = user_op(f, wsg::Router::UserOp::disconnect, "yan", "", 4002, "");
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {Fixture::node("node-2")});
  REQUIRE(out->called);
  CHECK(out->status == wsg::proto::AckStatus::failed);
  CHECK(out->reason == "peer_unreachable");

  // What breaks the wire rules is refused before anything is sent.
  out = user_op(f, wsg::Router::UserOp::disconnect, "alice", "", 1000, "");
  REQUIRE(out->called);
  CHECK(out->status == wsg::proto::AckStatus::failed);
  CHECK(out->reason == "invalid");
  CHECK(f.alice->closes.empty());
}

TEST_CASE(
    "router (api): a USER_OP from a peer is applied once and its receipt goes once the master vouches "
    "for the origin node",
    "[router][api]") {
  Fixture f;
  const cluster::UserOp op{"node-9", "tcp://127.0.0.1:99", "9-1", "alice", cluster::UserOpKind::disconnect, 4003, "",
                           "revoked"};
  f.router->on_peer_messages({op});
  f.run();
  REQUIRE(f.alice->closes.size() == 1);
  CHECK(f.alice->closes[0].first == 4003);
  CHECK_FALSE(f.peers.sent_anything_to("node-9"));
  // No sender user to look up: the master is asked for the node itself.
  auto queries = f.master.take<cluster::NodeQuery>();
  REQUIRE(queries.size() == 1);
  CHECK(queries[0].node_id == "node-9");
  f.router->on_master_messages({cluster::NodeQueryReply{kEpoch, queries[0].seq, {{"node-9", "tcp://127.0.0.1:99"}}}});
  f.run();
  REQUIRE(f.peers.sent.size() == 1);
  auto receipt = std::get<cluster::Receipt>(f.peers.sent[0].message);
  REQUIRE(receipt.items.size() == 1);
  CHECK(receipt.items[0].msg_id == "9-1");
  CHECK(receipt.items[0].status == cluster::ReceiptStatus::delivered);
  // A retry of it: confirmed again, not applied again.
  f.router->on_peer_messages({op});
  f.run();
  CHECK(f.alice->closes.size() == 1);
  REQUIRE(f.peers.sent.size() == 2);
  CHECK(std::get<cluster::Receipt>(f.peers.sent[1].message).items.at(0).status == cluster::ReceiptStatus::delivered);
  // For a user not here: not_here.
  f.router->on_peer_messages(
      {cluster::UserOp{"node-9", "tcp://127.0.0.1:99", "9-2", "nobody", cluster::UserOpKind::join, 0, "lobby", ""}});
  f.run();
  REQUIRE(f.peers.sent.size() == 3);
  CHECK(std::get<cluster::Receipt>(f.peers.sent[2].message).items.at(0).status == cluster::ReceiptStatus::not_here);
}

TEST_CASE("router (api): a DELIVER whose sender the master cannot place is verified through its origin node",
          "[router][api]") {
  Fixture f;
  // A server API call's service name is no registered user: LOOKUP finds nobody, so the master is
  // asked for the origin node itself.
  f.router->on_peer_messages({cluster::Deliver{"node-5", "tcp://127.0.0.1:95", {{"5-1", "server", "alice", 1, "1"}}}});
  f.run();
  CHECK(f.alice->frames.size() == 1);
  auto lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  CHECK(lookups[0].user == "server");
  f.answer_lookup(lookups[0], {});
  CHECK_FALSE(f.peers.sent_anything_to("node-5"));
  auto queries = f.master.take<cluster::NodeQuery>();
  REQUIRE(queries.size() == 1);
  CHECK(queries[0].node_id == "node-5");
  f.router->on_master_messages({cluster::NodeQueryReply{kEpoch, queries[0].seq, {{"node-5", "tcp://127.0.0.1:95"}}}});
  f.run();
  CHECK(f.peers.sent_anything_to("node-5"));

  // An origin the master does not know at that address gets nothing, and is asked about once.
  f.router->on_peer_messages({cluster::Deliver{"node-6", "tcp://127.0.0.1:96", {{"6-1", "server", "alice", 1, "1"}}}});
  f.run();
  lookups = f.master.take_lookups();
  REQUIRE(lookups.size() == 1);
  f.answer_lookup(lookups[0], {});
  queries = f.master.take<cluster::NodeQuery>();
  REQUIRE(queries.size() == 1);
  f.router->on_master_messages({cluster::NodeQueryReply{kEpoch, queries[0].seq, {}}});
  f.run();
  CHECK_FALSE(f.peers.sent_anything_to("node-6"));
  CHECK(f.master.sent.empty());
}

TEST_CASE("router (api): cluster_status asks the master and answers with its JSON", "[router][api]") {
  Fixture f;
  std::optional<std::string> got;
  bool called = false;
  f.router->cluster_status("", [&](std::optional<std::string> json) {
    called = true;
    got = std::move(json);
  });
  f.run();
  auto queries = f.master.take<cluster::StatusQuery>();
  REQUIRE(queries.size() == 1);
  CHECK(queries[0].user.empty());
  CHECK_FALSE(called);
  f.router->on_master_messages({cluster::StatusReply{kEpoch, queries[0].seq, R"({"nodes":[]})"}});
  f.run();
  REQUIRE(called);
  CHECK(got == std::optional<std::string>(R"({"nodes":[]})"));

  // The link refuses: answered nullopt at once.
  called = false;
  f.master.refuse = true;
  f.router->cluster_status("alice", [&](std::optional<std::string> json) {
    called = true;
    got = std::move(json);
  });
  f.run();
  REQUIRE(called);
  CHECK_FALSE(got.has_value());
}
