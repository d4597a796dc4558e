// presence and ping (docs/protocol.md, "presence", "ping").
#include "test_util.h"

using namespace wsg::it;

namespace {

json::object ask_presence(WsClient& ws, const json::array& users, const std::string& id) {
  ws.send_json({{"type", "presence"}, {"users", users}, {"id", id}});
  auto p = expect_frame(ws, "presence");
  INFO("presence answer: " << dump(p));
  CHECK(str(p, "ref") == id);
  REQUIRE(p.contains("users"));
  REQUIRE(p.at("users").is_object());
  return p.at("users").as_object();
}

}  // namespace

TEST_CASE("presence reports users online on any node and offline users", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto dave = join(c, 0, "dave");

  auto users = ask_presence(*alice, {"bob", "carol", "alice", "dave"}, "q1");
  INFO("users: " << dump(users));
  CHECK(users.size() == 4);
  CHECK(users["bob"] == json::value(true));
  CHECK(users["carol"] == json::value(false));
  CHECK(users["alice"] == json::value(true));
  CHECK(users["dave"] == json::value(true));

  // from the other node
  auto users2 = ask_presence(*bob, {"alice", "dave", "carol"}, "q2");
  CHECK(users2["alice"] == json::value(true));
  CHECK(users2["dave"] == json::value(true));
  CHECK(users2["carol"] == json::value(false));

  // without an id: answered, no ref
  bob->send_json({{"type", "presence"}, {"users", json::array{"alice"}}});
  auto p = expect_frame(*bob, "presence");
  INFO("presence without id: " << dump(p));
  CHECK_FALSE(p.contains("ref"));
  CHECK(p.at("users").as_object()["alice"] == json::value(true));

  // an empty list is a valid question
  auto none = ask_presence(*alice, json::array{}, "q-empty");
  CHECK(none.empty());

  // bob leaves: alice sees him offline (polling until the deadline)
  bob->close();
  int n = 0;
  bool offline = poll_until(
      [&] {
        auto u = ask_presence(*alice, {"bob"}, "poll" + std::to_string(n++));
        return u["bob"] == json::value(false);
      },
      3000ms);
  CHECK(offline);
  // and online again when he comes back, on any node
  auto bob2 = join(c, 0, "bob");
  auto back = ask_presence(*alice, {"bob"}, "q3");
  CHECK(back["bob"] == json::value(true));
}

TEST_CASE("ping is answered with pong carrying the ref", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  alice->send_json({{"type", "ping"}, {"id", "p1"}});
  auto p = expect_frame(*alice, "pong");
  INFO("pong: " << dump(p));
  CHECK(str(p, "ref") == "p1");

  alice->send_json({{"type", "ping"}});
  auto q = expect_frame(*alice, "pong");
  INFO("pong without id: " << dump(q));
  CHECK_FALSE(q.contains("ref"));

  // several in a row come back in order
  for (int i = 0; i < 20; ++i) alice->send_json({{"type", "ping"}, {"id", "s" + std::to_string(i)}});
  for (int i = 0; i < 20; ++i) {
    auto r = expect_frame(*alice, "pong");
    CHECK(str(r, "ref") == "s" + std::to_string(i));
  }
}
