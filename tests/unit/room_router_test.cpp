// Rooms in the Router (RoomRouter) on their own: in-memory fakes of MasterLink, PeerLink and
// LocalSession, one io_context run by the test. Each case drives joins, publishes and the messages
// the master and the peers would send, and checks what goes out and what the sessions are told.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
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
  explicit Fixture(bool publish_requires_join = true, bool notices = false) {
    wsg::Router::Options o;
    o.node_id = "node-1";
    o.incarnation = 1;
    o.events = "tcp://127.0.0.1:1";
    o.delivery_timeout_ms = 60000;  // nothing times out while a case runs
    o.outbox_coalesce = std::chrono::microseconds(0);
    o.rooms_max_per_session = 3;
    o.rooms_publish_requires_join = publish_requires_join;
    o.rooms_notices = notices;
    router = std::make_shared<wsg::Router>(ioc, o, master, peers, [](const std::string&) {});
    router->on_master_messages({cluster::HelloReply{kEpoch, true, {}}});
    run();
    alice = add("alice");
    bob = add("bob");
    master.sent.clear();
  }
  std::shared_ptr<FakeSession> add(const std::string& user) {
    auto s = std::make_shared<FakeSession>(user, "s-" + user);
    router->add_session(s, [] {});
    run();
    return s;
  }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  void join(const std::shared_ptr<FakeSession>& s, const std::string& room, const std::string& id, bool echo = false) {
    router->join(s, wsg::proto::JoinFrame{room, echo, false, id});
    run();
  }
  void publish(const std::shared_ptr<FakeSession>& s, const std::string& room, const std::string& id) {
    router->publish(s, wsg::proto::PublishFrame{room, "\"hi\"", id});
    run();
  }
  // Acks the ROOM_REGISTERs sent so far.
  void ack_registrations() {
    for (auto& r : master.take<cluster::RoomRegister>()) {
      router->on_master_messages({cluster::Ack{kEpoch, r.seq, true}});
    }
    run();
  }
  static cluster::NodeAddr node(const std::string& id) { return {id, "tcp://127.0.0.1:9" + id.substr(5)}; }
  // The ROOM_DELIVER items sent to `node`.
  std::vector<cluster::RoomItem> items_to(const std::string& node) const {
    std::vector<cluster::RoomItem> out;
    for (auto& s : peers.sent) {
      if (s.node != node) continue;
      if (auto* d = std::get_if<cluster::RoomDeliver>(&s.message))
        out.insert(out.end(), d->items.begin(), d->items.end());
    }
    return out;
  }
  std::vector<json::object> of_type(const FakeSession& s, const std::string& type) const {
    std::vector<json::object> out;
    for (auto& f : s.frames) {
      if (f.at("type") == type.c_str()) out.push_back(f);
    }
    return out;
  }

  asio::io_context ioc;
  FakeMaster master;
  FakePeers peers;
  std::shared_ptr<wsg::Router> router;
  std::shared_ptr<FakeSession> alice;
  std::shared_ptr<FakeSession> bob;
};

}  // namespace

TEST_CASE("rooms: the first member registers the room, and its joined ack waits for the master's ack",
          "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  auto regs = f.master.sent_of<cluster::RoomRegister>();
  REQUIRE(regs.size() == 1);
  CHECK(regs[0].rooms == std::vector<std::string>{"lobby"});
  CHECK(f.alice->acks().count("j1") == 0);
  // A second member on this node registers nothing and waits for the same ack.
  f.join(f.bob, "lobby", "j2");
  CHECK(f.master.sent_of<cluster::RoomRegister>().size() == 1);
  CHECK(f.bob->acks().count("j2") == 0);
  f.ack_registrations();
  REQUIRE(f.alice->acks().count("j1") == 1);
  CHECK(f.alice->acks().at("j1").at("status") == "joined");
  REQUIRE(f.bob->acks().count("j2") == 1);
  // A join once registered is acked at once.
  auto carol = f.add("carol");
  f.join(carol, "lobby", "j3");
  CHECK(carol->acks().count("j3") == 1);
  CHECK(f.master.sent_of<cluster::RoomRegister>().empty());
}

TEST_CASE("rooms: the last member leaving unregisters the room; a join and leave in one turn send nothing",
          "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  f.ack_registrations();
  f.router->leave(f.alice, wsg::proto::LeaveFrame{"lobby", std::string("l1")});
  f.run();
  auto unregs = f.master.take<cluster::RoomUnregister>();
  REQUIRE(unregs.size() == 1);
  CHECK(unregs[0].rooms == std::vector<std::string>{"lobby"});
  CHECK(f.alice->acks().at("l1").at("status") == "left");

  f.router->join(f.bob, wsg::proto::JoinFrame{"quick", false, false, std::string("j2")});
  f.router->leave(f.bob, wsg::proto::LeaveFrame{"quick", std::string("l2")});
  f.run();
  CHECK(f.master.sent_of<cluster::RoomRegister>().empty());
  CHECK(f.master.sent_of<cluster::RoomUnregister>().empty());
  // The join's ack went before the leave's.
  std::vector<std::string> order;
  for (auto& fr : f.bob->frames) order.emplace_back(fr.at("ref").as_string());
  CHECK(order == std::vector<std::string>{"j2", "l2"});
}

TEST_CASE("rooms: a publish goes once to each other node of the room and its ack adds up their receipts",
          "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  f.join(f.bob, "lobby", "j2");
  f.ack_registrations();
  f.master.sent.clear();
  f.publish(f.alice, "lobby", "p1");
  // bob (here) got it at once, alice (no echo) did not.
  REQUIRE(f.of_type(*f.bob, "message").size() == 1);
  CHECK(f.of_type(*f.alice, "message").empty());
  auto lookups = f.master.take<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.router->on_master_messages({cluster::RoomLookupReply{
      kEpoch, lookups[0].seq, "lobby", {Fixture::node("node-1"), Fixture::node("node-2"), Fixture::node("node-3")}}});
  f.run();
  auto to2 = f.items_to("node-2");
  auto to3 = f.items_to("node-3");
  REQUIRE(to2.size() == 1);
  REQUIRE(to3.size() == 1);
  CHECK(f.items_to("node-1").empty());
  CHECK(to2[0].room == "lobby");
  CHECK(to2[0].from == "alice");
  CHECK(f.alice->acks().count("p1") == 0);
  f.router->on_peer_messages({cluster::RoomReceipt{"node-2", {{to2[0].msg_id, cluster::ReceiptStatus::delivered, 5}}}});
  f.run();
  CHECK(f.alice->acks().count("p1") == 0);
  f.router->on_peer_messages({cluster::RoomReceipt{"node-3", {{to3[0].msg_id, cluster::ReceiptStatus::delivered, 2}}}});
  f.run();
  auto ack = f.alice->acks().at("p1");
  CHECK(ack.at("status") == "delivered");
  CHECK(ack.at("sessions") == 8);  // bob here, 5 on node-2, 2 on node-3

  // The route is cached: the next publish asks the master nothing.
  f.publish(f.alice, "lobby", "p2");
  CHECK(f.master.sent_of<cluster::RoomLookup>().empty());
  CHECK(f.items_to("node-2").size() == 2);
}

TEST_CASE("rooms: a bounced publish is retried once with a fresh lookup, to the nodes not tried", "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  f.ack_registrations();
  f.master.sent.clear();
  f.publish(f.alice, "lobby", "p1");
  auto lookups = f.master.take<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.router->on_master_messages(
      {cluster::RoomLookupReply{kEpoch, lookups[0].seq, "lobby", {Fixture::node("node-1"), Fixture::node("node-2")}}});
  f.run();
  auto to2 = f.items_to("node-2");
  REQUIRE(to2.size() == 1);
  f.router->on_peer_messages({cluster::RoomReceipt{"node-2", {{to2[0].msg_id, cluster::ReceiptStatus::not_here, 0}}}});
  f.run();
  lookups = f.master.take<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.router->on_master_messages(
      {cluster::RoomLookupReply{kEpoch, lookups[0].seq, "lobby", {Fixture::node("node-1"), Fixture::node("node-3")}}});
  f.run();
  CHECK(f.items_to("node-2").size() == 1);  // not sent to node-2 again
  auto to3 = f.items_to("node-3");
  REQUIRE(to3.size() == 1);
  CHECK(to3[0].msg_id == to2[0].msg_id);
  f.router->on_peer_messages({cluster::RoomReceipt{"node-3", {{to3[0].msg_id, cluster::ReceiptStatus::delivered, 1}}}});
  f.run();
  CHECK(f.alice->acks().at("p1").at("status") == "delivered");
  CHECK(f.alice->acks().at("p1").at("sessions") == 1);
}

TEST_CASE("rooms: a node that dies before its receipt makes the ack failed (node_down) with what was confirmed",
          "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  f.join(f.bob, "lobby", "j2");
  f.ack_registrations();
  f.master.sent.clear();
  f.publish(f.alice, "lobby", "p1");
  auto lookups = f.master.take<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.router->on_master_messages({cluster::RoomLookupReply{kEpoch, lookups[0].seq, "lobby", {Fixture::node("node-2")}}});
  f.run();
  f.router->on_master_messages({cluster::NodeDown{kEpoch, "node-2"}});
  f.run();
  auto ack = f.alice->acks().at("p1");
  CHECK(ack.at("status") == "failed");
  CHECK(ack.at("reason") == "node_down");
  CHECK(ack.at("sessions") == 1);  // bob, here
}

TEST_CASE("rooms: no_members, not_joined, too_many_rooms", "[room_router]") {
  Fixture f;
  f.join(f.alice, "solo", "j1");
  f.ack_registrations();
  f.master.sent.clear();
  f.publish(f.alice, "solo", "p1");
  auto lookups = f.master.take<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.router->on_master_messages({cluster::RoomLookupReply{kEpoch, lookups[0].seq, "solo", {Fixture::node("node-1")}}});
  f.run();
  CHECK(f.alice->acks().at("p1").at("status") == "no_members");
  CHECK(f.alice->acks().at("p1").at("sessions") == 0);

  f.publish(f.bob, "solo", "p2");
  auto errors = f.of_type(*f.bob, "error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("code") == "not_joined");
  CHECK(errors[0].at("ref") == "p2");

  f.join(f.bob, "r1", "a");
  f.join(f.bob, "r2", "b");
  f.join(f.bob, "r3", "c");
  f.join(f.bob, "r4", "d");  // rooms_max_per_session = 3
  errors = f.of_type(*f.bob, "error");
  REQUIRE(errors.size() == 2);
  CHECK(errors[1].at("code") == "too_many_rooms");
  CHECK(errors[1].at("ref") == "d");
}

TEST_CASE("rooms: a ROOM_DELIVER fans out to the local members once each and is answered with their count",
          "[room_router]") {
  Fixture f;
  f.join(f.alice, "lobby", "j1");
  f.join(f.bob, "lobby", "j2");
  f.ack_registrations();
  f.master.sent.clear();
  f.router->on_peer_messages(
      {cluster::RoomDeliver{"node-2",
                            Fixture::node("node-2").events,
                            {{"2-r1", "lobby", "zed", cluster::RoomEvent::message, 1, "{\"a\":1}"},
                             {"2-r2", "nowhere", "zed", cluster::RoomEvent::message, 1, "2"}}}});
  f.run();
  REQUIRE(f.of_type(*f.alice, "message").size() == 1);
  REQUIRE(f.of_type(*f.bob, "message").size() == 1);
  CHECK(f.of_type(*f.bob, "message")[0].at("room") == "lobby");
  CHECK(f.of_type(*f.bob, "message")[0].at("from") == "zed");
  // node-2 was never named by the master: the receipts wait until it vouches for it (LOOKUP of
  // the publisher, which must list node-2 at that address).
  CHECK(f.peers.sent.empty());
  auto lookups = f.master.take<cluster::Lookup>();
  REQUIRE(lookups.size() == 1);
  CHECK(lookups[0].user == "zed");
  f.router->on_master_messages({cluster::LookupReply{kEpoch, lookups[0].seq, "zed", {Fixture::node("node-2")}}});
  f.run();
  std::vector<cluster::RoomReceiptItem> receipts;
  for (auto& s : f.peers.sent) {
    if (auto* r = std::get_if<cluster::RoomReceipt>(&s.message))
      receipts.insert(receipts.end(), r->items.begin(), r->items.end());
  }
  REQUIRE(receipts.size() == 2);
  CHECK(receipts[0].msg_id == "2-r1");
  CHECK(receipts[0].status == cluster::ReceiptStatus::delivered);
  CHECK(receipts[0].sessions == 2);
  CHECK(receipts[1].status == cluster::ReceiptStatus::not_here);
}

TEST_CASE("rooms: after a master restart every room is registered again", "[room_router]") {
  Fixture f;
  f.join(f.alice, "a-room", "j1");
  f.join(f.bob, "b-room", "j2");
  f.ack_registrations();
  f.master.sent.clear();
  // A new master (another epoch) answers HELLO: the node replays sessions and rooms.
  f.router->on_master_messages({cluster::HelloReply{kEpoch + 1, true, {}}});
  f.run();
  std::vector<std::string> rooms;
  for (auto& r : f.master.sent_of<cluster::RoomRegister>()) rooms.insert(rooms.end(), r.rooms.begin(), r.rooms.end());
  std::sort(rooms.begin(), rooms.end());
  CHECK(rooms == std::vector<std::string>{"a-room", "b-room"});
}

TEST_CASE("rooms: a session joined by its token at connect is welcomed once the room is registered", "[room_router]") {
  Fixture f;
  auto carol = std::make_shared<FakeSession>("carol", "s-carol");
  bool welcomed = false;
  f.router->add_session(carol, [&] { welcomed = true; }, {"lobby", "team:red"});
  f.run();
  // The session's registration and the two rooms' registrations are out; the welcome waits for all.
  const auto room_regs = f.master.sent_of<cluster::RoomRegister>();
  std::vector<std::string> rooms;
  for (auto& r : room_regs) rooms.insert(rooms.end(), r.rooms.begin(), r.rooms.end());
  std::sort(rooms.begin(), rooms.end());
  CHECK(rooms == std::vector<std::string>{"lobby", "team:red"});
  auto regs = f.master.take<cluster::RegisterSessions>();
  REQUIRE(regs.size() == 1);
  f.router->on_master_messages({cluster::Ack{kEpoch, regs[0].seq, true}});
  f.run();
  CHECK_FALSE(welcomed);
  f.join(f.alice, "lobby", "j-alice");  // alice joins too: waits for the same registration
  CHECK(f.alice->acks().count("j-alice") == 0);
  for (auto& r : room_regs) f.router->on_master_messages({cluster::Ack{kEpoch, r.seq, true}});
  f.run();
  CHECK(welcomed);
  CHECK(f.alice->acks().count("j-alice") == 1);
}

TEST_CASE("rooms: with notices, a join and a leave are announced to members that asked, here and on other nodes",
          "[room_router]") {
  Fixture f(true, true);
  f.router->join(f.alice, wsg::proto::JoinFrame{"hall", false, true, std::string("j1")});
  f.run();
  // alice's own join is announced too, so the room is looked up.
  auto lookups = f.master.sent_of<cluster::RoomLookup>();
  REQUIRE(lookups.size() == 1);
  f.ack_registrations();
  f.router->on_master_messages(
      {cluster::RoomLookupReply{kEpoch, lookups[0].seq, "hall", {Fixture::node("node-1"), Fixture::node("node-2")}}});
  f.run();
  REQUIRE(f.items_to("node-2").size() == 1);
  CHECK(f.items_to("node-2")[0].from == "alice");
  f.join(f.bob, "hall", "j2");  // the route is cached now
  auto notices = f.of_type(*f.alice, "notice");
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].at("event") == "join");
  CHECK(notices[0].at("user") == "bob");
  CHECK(f.of_type(*f.bob, "notice").empty());  // bob asked for none, and it was his own join
  auto items = f.items_to("node-2");
  REQUIRE(items.size() == 2);
  CHECK(items[1].event == cluster::RoomEvent::join);
  CHECK(items[1].from == "bob");
  CHECK(items[1].body.empty());
  // A notice needs no receipt: nothing waits in flight for it.
  f.router->leave(f.bob, wsg::proto::LeaveFrame{"hall", std::nullopt});
  f.run();
  notices = f.of_type(*f.alice, "notice");
  REQUIRE(notices.size() == 2);
  CHECK(notices[1].at("event") == "leave");
  CHECK(f.items_to("node-2").size() == 3);
}

TEST_CASE("rooms: the fan-out goes through one mailbox per session thread, a slice per turn, in order",
          "[room_router]") {
  Fixture f;
  wsg::fakes::FakeThread one;
  wsg::fakes::FakeThread two;
  std::vector<std::shared_ptr<wsg::fakes::FakeThreadSession>> members;
  const auto add_on = [&f, &members](wsg::fakes::FakeThread& t, int i) {
    auto s = std::make_shared<wsg::fakes::FakeThreadSession>("u" + std::to_string(i), "t-" + std::to_string(i), t);
    f.router->add_session(s, [] {});
    f.run();
    f.router->join(s, wsg::proto::JoinFrame{"big", false, false, "j" + std::to_string(i)});
    f.run();
    members.push_back(s);
  };
  // 600 members on thread one, 10 on thread two, and alice without a thread (her frames are given
  // with deliver(), as before).
  for (int i = 0; i < 600; ++i) add_on(one, i);
  for (int i = 600; i < 610; ++i) add_on(two, i);
  f.join(f.alice, "big", "ja");
  // The joined acks are given with deliver(): they wait on the threads, not yet run.
  f.ack_registrations();
  CHECK(one.fan_out_posts == 0);
  CHECK(members.front()->frames.empty());

  const auto deliver = [&f](const std::string& id) {
    f.router->on_peer_messages({cluster::RoomDeliver{
        "node-2", Fixture::node("node-2").events, {{id, "big", "zed", cluster::RoomEvent::message, 1, "1"}}}});
    f.run();
  };
  deliver("2-r1");
  // One drain posted per thread, whatever the number of its sessions.
  CHECK(one.fan_out_posts == 1);
  CHECK(two.fan_out_posts == 1);
  CHECK(f.of_type(*f.alice, "message").size() == 1);
  CHECK(f.of_type(*members.front(), "message").empty());
  // A second message while the first waits: queued behind it, no second drain.
  deliver("2-r2");
  CHECK(one.fan_out_posts == 1);
  // Each turn of thread one gives at most 256 frames (the acks posted before run first).
  one.run();
  CHECK(f.of_type(*members[255], "message").size() == 1);
  CHECK(f.of_type(*members[256], "message").empty());
  CHECK(one.fan_out_posts == 2);  // the rest is posted again, behind what this turn queued
  for (int turn = 0; turn < 10 && !one.posted.empty(); ++turn) one.run();
  two.run();
  CHECK(one.fan_out_posts == 5);  // 1,200 frames: 5 turns of at most 256
  CHECK(two.fan_out_posts == 1);
  // Each session got its joined ack (deliver()) first, then the two messages, in the order the
  // router gave them.
  for (auto& s : members) {
    REQUIRE(s->frames.size() == 3);
    CHECK(s->frames[0].at("type") == "ack");
    CHECK(s->frames[1].at("id") == "2-r1");
    CHECK(s->frames[2].at("id") == "2-r2");
  }
  // Both receipts counted every member: 600 + 10 + alice.
  f.router->on_master_messages(
      {cluster::LookupReply{kEpoch, f.master.take<cluster::Lookup>().at(0).seq, "zed", {Fixture::node("node-2")}}});
  f.run();
  std::vector<cluster::RoomReceiptItem> receipts;
  for (auto& sent : f.peers.sent) {
    if (auto* r = std::get_if<cluster::RoomReceipt>(&sent.message))
      receipts.insert(receipts.end(), r->items.begin(), r->items.end());
  }
  REQUIRE(receipts.size() == 2);
  CHECK(receipts[0].sessions == 611);
  CHECK(receipts[1].sessions == 611);
}
