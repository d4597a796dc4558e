// Rooms (docs/protocol.md, "Rooms"): join, leave, publish and members across real nodes; the
// publish acks' counts; the membership race (a member whose join was acked gets every publish sent
// after it); FIFO per publisher; node death and master restart with rooms.
#include "cluster_ops.h"

#include <map>

#include "proto/jwt.h"

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

  // `wsg status --room`: the room's nodes and their member counts.
  auto carol = join(c, 1, "carol");
  auto alice2 = join(c, 1, "alice");
  join_room(carol, "solo");
  join_room(alice2, "solo");
  auto r = c.run_status({"--room", "solo", "--json"});
  INFO("status --room: " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto doc = parse_object(r.out);
  CHECK(str(doc, "room") == "solo");
  CHECK(num(doc, "sessions") == 3);
  CHECK(doc.at("partial") == json::value(false));
  std::map<std::string, std::pair<int64_t, int64_t>> per_node;
  for (auto& n : doc.at("nodes").as_array()) {
    const auto& o = n.as_object();
    per_node[str(o, "id")] = {num(o, "sessions"), num(o, "users")};
  }
  CHECK(per_node == std::map<std::string, std::pair<int64_t, int64_t>>{{"node-1", {1, 1}}, {"node-2", {2, 2}}});
  auto table = c.run_status({"--room", "solo"});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("room solo") != std::string::npos);
  auto none = c.run_status({"--room", "nobody-here", "--json"});
  CHECK(none.exit_code == 0);
  CHECK(num(parse_object(none.out), "sessions") == 0);
  auto bad = c.run_status({"--room", "no spaces"});
  CHECK(bad.exit_code == 2);
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

TEST_CASE("rooms: a killed node's members are dropped, and rooms keep working across a master restart",
          "[integration][rooms][failures]") {
  const Timings t;
  Cluster c(fast_cluster(3, t));
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 2, "carol");
  for (auto* s : {&alice, &bob, &carol}) join_room(*s, "ops");
  alice->send_json(publish_frame("ops", 1, "warm"));
  expect_room_message(bob, "ops", "alice", 1);
  expect_room_message(carol, "ops", "alice", 1);
  CHECK(num(expect_publish_ack(alice, "warm", "delivered"), "sessions") == 2);

  // node-3 dies: once the master declared it dead, publishes count only the live members.
  c.node(2).process->kill();
  REQUIRE(poll_until(
      [&] {
        auto st = c.status_json();
        for (auto& n : st.at("nodes").as_array()) {
          const auto& o = n.as_object();
          if (str(o, "id") == "node-3") return !o.at("alive").as_bool();
        }
        return false;
      },
      ms(t.node_timeout_ms + 3000)));
  alice->send_json(publish_frame("ops", 2, "after-kill"));
  expect_room_message(bob, "ops", "alice", 2);
  auto ack = expect_publish_ack(alice, "after-kill", "delivered", ms(t.delivery_timeout_ms + 2000));
  CHECK(num(ack, "sessions") == 1);

  // The master is killed and restarted: cached routes carry publishes meanwhile, and the nodes
  // replay their rooms to the new master, so a node that never looked the room up finds it.
  const int64_t epoch0 = num(c.status_json().at("master").as_object(), "epoch");
  c.master().kill();
  REQUIRE(c.master().wait_exit(ms(2000)).has_value());
  alice->send_json(publish_frame("ops", 3, "outage"));
  expect_room_message(bob, "ops", "alice", 3);
  CHECK(num(expect_publish_ack(alice, "outage", "delivered"), "sessions") == 1);
  auto master2 = restart_master(c, master_flags(t));
  // Both live nodes replayed the room: the new master counts alice's and bob's sessions in it.
  REQUIRE(poll_until(
      [&] {
        auto st = c.status_json();
        if (num(st.at("master").as_object(), "epoch") == epoch0) return false;
        auto r = c.run_status({"--room", "ops", "--json"});
        return r.exit_code == 0 && num(parse_object(r.out), "sessions") == 2;
      },
      ms(5000)));
  // bob had never published to "ops": his node looks it up at the new master.
  bob->send_json(publish_frame("ops", 4, "after-restart"));
  expect_room_message(alice, "ops", "bob", 4);
  CHECK(num(expect_publish_ack(bob, "after-restart", "delivered", ms(t.delivery_timeout_ms + 2000)), "sessions") == 1);
  // A member who joins on a third node after the restart gets the next publish.
  auto erin = join(c, 1, "erin");
  join_room(erin, "ops");
  alice->send_json(publish_frame("ops", 5, "p5"));
  expect_room_message(bob, "ops", "alice", 5);
  expect_room_message(erin, "ops", "alice", 5);
  CHECK(num(expect_publish_ack(alice, "p5", "delivered"), "sessions") == 2);
  CHECK(stop_checked(*master2, ms(5000)).empty());
}

TEST_CASE("rooms: JWT rooms claims limit joins and publishes, and join claims make members at connect",
          "[integration][rooms][auth]") {
  const std::string secret = "rooms-secret-0123456789";
  const auto config = write_file("rooms-jwt.toml", "[auth]\nmode = \"jwt\"\nsecret = \"" + secret + "\"\n");
  ClusterOptions o;
  o.nodes = 2;
  for (int i = 0; i < 2; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  Cluster c(o);
  auto token = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"token", "--secret", secret};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_command(wsg_binary(), args, 5000ms);
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.size() - 1);
  };
  // alice may use team:* and lobby, and is put in team:red at connect; bob may use any room.
  auto alice =
      join(c, 0, "alice",
           "/ws?token=" + token({"--user", "alice", "--room", "team:*", "--room", "lobby", "--join", "team:red"}));
  auto bob = join(c, 1, "bob", "/ws?token=" + token({"--user", "bob", "--join", "team:red"}));
  // Both are members of team:red from their welcome on: a publish reaches the other at once.
  bob->send_json(publish_frame("team:red", "go", "b1"));
  expect_room_message(alice, "team:red", "bob", "go");
  CHECK(num(expect_publish_ack(bob, "b1", "delivered"), "sessions") == 1);

  alice->send_json(join_frame("private", "j1"));
  expect_error(*alice, "not_allowed", std::string("j1"));
  alice->send_json(publish_frame("team:blue", "x", "p1"));  // allowed, but not a member
  expect_error(*alice, "not_joined", std::string("p1"));
  alice->send_json({{"type", "members"}, {"room", "private"}, {"id", "m1"}});
  expect_error(*alice, "not_allowed", std::string("m1"));
  join_room(alice, "team:blue");
  join_room(alice, "lobby");
  join_room(bob, "private");

  // A token whose join claim is outside its rooms claim is refused at the handshake (wsg token
  // will not mint one: the library's mint does not check).
  wsg::jwt::Claims bad;
  bad.sub = "eve";
  bad.rooms_limited = true;
  bad.rooms = {"a"};
  bad.join = {"b"};
  WsClient ws;
  auto r = ws.connect(c.ws_port(0), "/ws?token=" + wsg::jwt::mint(bad, secret, unix_ms() / 1000, 600));
  INFO("http " << r.http_status << " " << r.body);
  CHECK_FALSE(r.connected);
  CHECK(r.http_status == 401);
  CHECK(r.body.find("join claim") != std::string::npos);
}

TEST_CASE("rooms: with rooms.notices, members that asked for them see joins and leaves on every node",
          "[integration][rooms]") {
  const auto config = write_file("rooms-notices.toml", "[rooms]\nnotices = true\n");
  ClusterOptions o;
  o.nodes = 2;
  for (int i = 0; i < 2; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  Cluster c(o);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 0, "carol");
  join_room(alice, "hall", false, true);
  join_room(carol, "hall");  // no notices for carol
  {
    auto n = expect_frame(*alice, "notice");
    INFO("notice: " << dump(n));
    CHECK(str(n, "room") == "hall");
    CHECK(str(n, "event") == "join");
    CHECK(str(n, "user") == "carol");
  }
  join_room(bob, "hall");  // another node
  auto n = expect_frame(*alice, "notice");
  CHECK(str(n, "user") == "bob");
  CHECK(str(n, "event") == "join");
  bob->close();
  n = expect_frame(*alice, "notice");
  CHECK(str(n, "user") == "bob");
  CHECK(str(n, "event") == "leave");
  expect_alive(*carol, "c-alive");  // carol asked for none
}
