// Rooms (docs/protocol.md, "Rooms"): join, leave, publish and members across real nodes; the
// publish acks' counts; the membership race (a member whose join was acked gets every publish sent
// after it); FIFO per publisher; node death and master restart with rooms.
#include "cluster_ops.h"

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

json::object join_frame(const std::string& room, const std::string& id, bool echo = false, bool notices = false) {
  json::object o{{"type", "join"}, {"room", room}, {"id", id}};
  if (echo) o["echo"] = true;
  if (notices) o["notices"] = true;
  return o;
}

json::object publish_frame(const std::string& room, const json::value& body, const std::string& id = "") {
  json::object o{{"type", "publish"}, {"room", room}, {"body", body}};
  if (!id.empty()) o["id"] = id;
  return o;
}

void join_room(Session& s, const std::string& room, bool echo = false, bool notices = false) {
  const std::string ref = "j-" + room;
  s->send_json(join_frame(room, ref, echo, notices));
  auto a = expect_frame(*s, "ack");
  INFO("join ack: " << dump(a));
  CHECK(str(a, "ref") == ref);
  CHECK(str(a, "status") == "joined");
  CHECK(str(a, "room") == room);
}

// The publish ack for `ref`: its status and session count.
json::object expect_publish_ack(Session& s, const std::string& ref, const std::string& status,
                                std::chrono::milliseconds timeout = kFrameTimeout) {
  auto a = expect_frame(*s, "ack", timeout);
  INFO("publish ack: " << dump(a));
  CHECK(str(a, "ref") == ref);
  CHECK(str(a, "status") == status);
  CHECK(!str(a, "id").empty());
  REQUIRE(a.contains("sessions"));
  return a;
}

json::object expect_room_message(Session& s, const std::string& room, const std::string& from,
                                 const json::value& body) {
  auto m = expect_frame(*s, "message");
  INFO("room message: " << dump(m));
  CHECK(str(m, "room") == room);
  CHECK(str(m, "from") == from);
  CHECK(!str(m, "id").empty());
  CHECK(m.at("body") == body);
  CHECK(has(m, "ts"));
  CHECK_FALSE(m.contains("to"));
  return m;
}

}  // namespace

TEST_CASE("rooms: a publish reaches every member on three nodes once, and the ack counts them",
          "[integration][rooms]") {
  Cluster c(3);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 2, "carol");
  auto dave = join(c, 1, "dave");  // on a member's node, not a member
  join_room(alice, "lobby");
  join_room(bob, "lobby");
  join_room(carol, "lobby");

  alice->send_json(publish_frame("lobby", json::object{{"text", "hi all"}}, "p1"));
  expect_room_message(bob, "lobby", "alice", json::object{{"text", "hi all"}});
  expect_room_message(carol, "lobby", "alice", json::object{{"text", "hi all"}});
  auto ack = expect_publish_ack(alice, "p1", "delivered");
  CHECK(num(ack, "sessions") == 2);
  CHECK(str(ack, "room") == "lobby");
  // Nobody else got a copy: the next frame each gets is the answer to its ping.
  expect_alive(*alice, "a-alive");
  expect_alive(*bob, "b-alive");
  expect_alive(*carol, "c-alive");
  expect_alive(*dave, "d-alive");

  // From another node, without an id: no ack, the members still get it.
  carol->send_json(publish_frame("lobby", "from carol"));
  expect_room_message(alice, "lobby", "carol", "from carol");
  expect_room_message(bob, "lobby", "carol", "from carol");
  expect_alive(*carol, "c-alive2");

  // A second session of bob joins on another node: both of his sessions count.
  auto bob2 = join(c, 2, "bob");
  join_room(bob2, "lobby");
  alice->send_json(publish_frame("lobby", 3, "p2"));
  expect_room_message(bob, "lobby", "alice", 3);
  expect_room_message(bob2, "lobby", "alice", 3);
  expect_room_message(carol, "lobby", "alice", 3);
  CHECK(num(expect_publish_ack(alice, "p2", "delivered"), "sessions") == 3);

  // bob leaves: acked, and no more copies for that session.
  bob->send_json({{"type", "leave"}, {"room", "lobby"}, {"id", "l1"}});
  auto left = expect_frame(*bob, "ack");
  CHECK(str(left, "ref") == "l1");
  CHECK(str(left, "status") == "left");
  alice->send_json(publish_frame("lobby", 4, "p3"));
  expect_room_message(bob2, "lobby", "alice", 4);
  expect_room_message(carol, "lobby", "alice", 4);
  CHECK(num(expect_publish_ack(alice, "p3", "delivered"), "sessions") == 2);
  expect_alive(*bob, "b-alive2");

  // echo: a member that asked for it gets its own publishes.
  join_room(alice, "lobby", true);  // joining again updates the flags
  alice->send_json(publish_frame("lobby", 5, "p4"));
  expect_room_message(alice, "lobby", "alice", 5);
  CHECK(num(expect_publish_ack(alice, "p4", "delivered"), "sessions") == 3);
}

TEST_CASE("rooms: no_members, not_joined, bad names, and the status counts", "[integration][rooms]") {
  Cluster c(2);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  join_room(alice, "solo");
  alice->send_json(publish_frame("solo", "anyone?", "p1"));
  CHECK(num(expect_publish_ack(alice, "p1", "no_members"), "sessions") == 0);

  bob->send_json(publish_frame("solo", "let me in", "p2"));
  expect_error(*bob, "not_joined", std::string("p2"));
  bob->send_json(join_frame("no spaces", "j2"));
  expect_error(*bob, "bad_room", std::string("j2"));
  bob->send_json({{"type", "members"}, {"room", std::string(129, 'r')}, {"id", "m1"}});
  expect_error(*bob, "bad_room", std::string("m1"));
  // Leaving a room one is not in is acked too.
  bob->send_json({{"type", "leave"}, {"room", "solo"}, {"id", "l1"}});
  auto left = expect_frame(*bob, "ack");
  CHECK(str(left, "status") == "left");

  auto status = c.status_json();
  INFO("status: " << dump(status));
  REQUIRE(status.at("master").as_object().contains("rooms"));
  CHECK(num(status.at("master").as_object(), "rooms") == 1);
}

TEST_CASE("rooms: members lists the users of every node, in pages", "[integration][rooms]") {
  Cluster c(2);
  std::vector<Session> sessions;
  const std::vector<std::string> users{"u01", "u02", "u03", "u04", "u05", "u06", "u07"};
  for (std::size_t i = 0; i < users.size(); ++i) {
    sessions.push_back(join(c, i % 2, users[i]));
    join_room(sessions.back(), "club");
  }
  auto outsider = join(c, 0, "zed");
  outsider->send_json({{"type", "members"}, {"room", "club"}, {"id", "m1"}});
  auto all = expect_frame(*outsider, "members");
  INFO("members: " << dump(all));
  CHECK(str(all, "ref") == "m1");
  CHECK(str(all, "room") == "club");
  json::array expected;
  for (auto& u : users) expected.emplace_back(u);
  CHECK(all.at("users") == json::value(expected));
  CHECK_FALSE(all.contains("next"));
  CHECK_FALSE(all.contains("partial"));

  // Pages of 3: the cursor walks the sorted list across both nodes.
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    json::object q{{"type", "members"}, {"room", "club"}, {"limit", 3}, {"id", "pg" + std::to_string(page)}};
    if (!after.empty()) q["after"] = after;
    outsider->send_json(q);
    auto r = expect_frame(*outsider, "members");
    INFO("page " << page << ": " << dump(r));
    for (auto& u : r.at("users").as_array()) seen.emplace_back(u.as_string());
    if (!r.contains("next")) break;
    after = str(r, "next");
    CHECK(after == seen.back());
  }
  CHECK(seen == users);

  outsider->send_json({{"type", "members"}, {"room", "empty-room"}, {"id", "m2"}});
  auto none = expect_frame(*outsider, "members");
  CHECK(none.at("users").as_array().empty());
}

TEST_CASE("rooms: a member whose join was acked gets every publish sent after it, from every node",
          "[integration][rooms]") {
  ClusterOptions o;
  o.nodes = 3;
  o.node_specs.resize(3);
  o.node_specs[0].extra_args = {"--config",
                                write_file("open-rooms.toml", "[rooms]\npublish_requires_join = false\n").string()};
  Cluster c(o);
  auto alice = join(c, 0, "alice");  // publisher, not a member (rooms.publish_requires_join = false)
  auto carol = join(c, 2, "carol");  // an early member on node 2
  // The publisher's node caches each room's route {node-2}; then bob joins on node 1 (the room's
  // first member there): once bob has his `joined`, alice's next publish must reach him.
  for (int round = 0; round < 10; ++round) {
    const std::string room = "race-" + std::to_string(round);
    join_room(carol, room);
    alice->send_json(publish_frame(room, json::object{{"n", 0}}, "warm" + std::to_string(round)));
    expect_room_message(carol, room, "alice", json::object{{"n", 0}});
    CHECK(num(expect_publish_ack(alice, "warm" + std::to_string(round), "delivered"), "sessions") == 1);
    auto bob = join(c, 1, "bob" + std::to_string(round));
    join_room(bob, room);
    alice->send_json(publish_frame(room, json::object{{"n", 1}}, "after" + std::to_string(round)));
    expect_room_message(bob, room, "alice", json::object{{"n", 1}});
    expect_room_message(carol, room, "alice", json::object{{"n", 1}});
    CHECK(num(expect_publish_ack(alice, "after" + std::to_string(round), "delivered"), "sessions") == 2);
  }
}

TEST_CASE("rooms: messages of one publisher arrive in publish order at every member", "[integration][rooms]") {
  Cluster c(3);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 2, "carol");
  auto erin = join(c, 0, "erin");
  for (auto* s : {&alice, &bob, &carol, &erin}) join_room(*s, "fifo");
  constexpr int kCount = 300;
  for (int i = 0; i < kCount; ++i) alice->send_json(publish_frame("fifo", i, "f" + std::to_string(i)));
  for (auto* s : {&bob, &carol, &erin}) {
    for (int i = 0; i < kCount; ++i) {
      auto m = expect_frame(**s, "message");
      REQUIRE(num(m, "body") == i);
    }
  }
  int acked = 0;
  while (acked < kCount) {
    auto a = expect_frame(*alice, "ack");
    REQUIRE(str(a, "status") == "delivered");
    CHECK(num(a, "sessions") == 3);
    ++acked;
  }
}
