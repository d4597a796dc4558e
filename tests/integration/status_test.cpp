// `wsg status --json` (man/wsg.1, COMMANDS) and session unregistration on close.
#include "test_util.h"

using namespace wsg::it;

namespace {

// Requires the documented shape of `wsg status --json`.
void check_status_shape(const json::object& st, Cluster& c) {
  INFO("status: " << dump(st));
  REQUIRE(st.contains("master"));
  REQUIRE(st.at("master").is_object());
  const auto& m = st.at("master").as_object();
  CHECK(m.contains("epoch"));
  CHECK_NOTHROW(num(m, "sessions"));
  CHECK_NOTHROW(num(m, "users"));
  REQUIRE(st.contains("nodes"));
  REQUIRE(st.at("nodes").is_array());
  CHECK(st.at("nodes").as_array().size() == c.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto* n = find_node(st, c.node_id(i));
    INFO("node " << c.node_id(i));
    REQUIRE(n != nullptr);
    CHECK(str(*n, "ws").find("127.0.0.1:" + std::to_string(c.ws_port(i))) != std::string::npos);
    CHECK(str(*n, "events").find("127.0.0.1:" + std::to_string(c.node(i).events_port)) != std::string::npos);
    CHECK(n->contains("alive"));
    CHECK((n->contains("alive") && n->at("alive") == json::value(true)));
    CHECK_NOTHROW(num(*n, "sessions"));
    REQUIRE_NOTHROW(num(*n, "last_heartbeat_ms"));
    CHECK(num(*n, "last_heartbeat_ms") >= 0);
    CHECK(num(*n, "last_heartbeat_ms") < 3000);  // heartbeat every 1000 ms by default
  }
}

std::set<std::pair<std::string, std::string>> user_sessions(Cluster& c, const std::string& user) {
  auto u = c.status_user(user);
  INFO("status --user " << user << ": " << dump(u));
  REQUIRE(str(u, "user") == user);
  REQUIRE(u.contains("sessions"));
  REQUIRE(u.at("sessions").is_array());
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& s : u.at("sessions").as_array()) {
    REQUIRE(s.is_object());
    out.emplace(str(s.as_object(), "node"), str(s.as_object(), "session"));
  }
  CHECK(out.size() == u.at("sessions").as_array().size());
  return out;
}

// Sends to `user` until the ack says `offline` (or the deadline passes).
bool becomes_offline(Session& sender, const std::string& user, std::chrono::milliseconds timeout) {
  int n = 0;
  std::string last;
  bool ok = poll_until(
      [&] {
        const std::string ref = "probe-" + user + "-" + std::to_string(n++);
        sender->send_json(send_frame(user, "are you there?", ref));
        auto a = expect_frame(*sender, "ack");
        REQUIRE(str(a, "ref") == ref);
        last = dump(a);
        return str(a, "status") == "offline";
      },
      timeout);
  INFO("last ack: " << last);
  CHECK(ok);
  return ok;
}

}  // namespace

TEST_CASE("status --json counts sessions users and nodes", "[integration]") {
  Cluster c;
  auto st0 = c.status_json();
  check_status_shape(st0, c);
  CHECK(master_count(st0, "sessions") == 0);
  CHECK(master_count(st0, "users") == 0);
  CHECK(node_sessions(st0, "node-1") == 0);
  CHECK(node_sessions(st0, "node-2") == 0);
  const json::value epoch = st0.at("master").as_object().at("epoch");

  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 1, "bob");
  auto bob2 = join(c, 1, "bob");
  auto bob3 = join(c, 0, "bob");

  // welcome comes after the master acknowledged the registration: the counts are exact now
  auto st = c.status_json();
  INFO("status: " << dump(st));
  check_status_shape(st, c);
  CHECK(master_count(st, "sessions") == 4);
  CHECK(master_count(st, "users") == 2);
  CHECK(st.at("master").as_object().at("epoch") == epoch);
  // per-node counts may come with the heartbeat: poll
  bool per_node = poll_until(
      [&] {
        auto s = c.status_json();
        return node_sessions(s, "node-1") == 2 && node_sessions(s, "node-2") == 2;
      },
      3000ms);
  INFO("last status: " << dump(c.status_json()));
  CHECK(per_node);

  CHECK(user_sessions(c, "alice") == std::set<std::pair<std::string, std::string>>{{"node-1", alice.session}});
  CHECK(user_sessions(c, "bob") == std::set<std::pair<std::string, std::string>>{
                                       {"node-2", bob1.session}, {"node-2", bob2.session}, {"node-1", bob3.session}});
  CHECK(user_sessions(c, "nobody").empty());

  // the readable table works too
  auto table = c.run_status({});
  INFO("status table: " << table.out << table.err);
  CHECK(table.exit_code == std::optional<int>(0));
  CHECK(table.out.find("node-1") != std::string::npos);
  CHECK(table.out.find("node-2") != std::string::npos);
}

TEST_CASE("sessions are unregistered when connections close", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 1, "carol");
  auto dave = join(c, 0, "dave");

  // routes get cached at node-1
  for (auto* s : {&bob, &carol, &dave}) {
    alice->send_json(send_frame(s->user, "hi", "hi-" + s->user));
    expect_ack(*alice, "hi-" + s->user, "delivered");
    REQUIRE((*s)->next().has_value());
  }
  auto st = c.status_json();
  CHECK(master_count(st, "sessions") == 4);
  CHECK(master_count(st, "users") == 4);

  auto counts_are = [&](int64_t sessions, int64_t users, int n1, int n2) {
    return poll_until(
        [&] {
          auto s = c.status_json();
          return master_count(s, "sessions") == sessions && master_count(s, "users") == users &&
                 node_sessions(s, "node-1") == n1 && node_sessions(s, "node-2") == n2;
        },
        5000ms);
  };

  SECTION("polite close") {
    bob->close();
    CHECK(counts_are(3, 3, 2, 1));
    CHECK(user_sessions(c, "bob").empty());
    becomes_offline(alice, "bob", 3000ms);
  }
  SECTION("abrupt disconnect") {
    carol->drop();
    CHECK(counts_are(3, 3, 2, 1));
    CHECK(user_sessions(c, "carol").empty());
    becomes_offline(alice, "carol", 3000ms);
  }
  SECTION("local session closed") {
    dave->close();
    CHECK(counts_are(3, 3, 1, 2));
    becomes_offline(alice, "dave", 3000ms);
  }
  SECTION("everyone leaves") {
    bob->close();
    carol->drop();
    dave->close();
    alice->close();
    CHECK(counts_are(0, 0, 0, 0));
  }
}
