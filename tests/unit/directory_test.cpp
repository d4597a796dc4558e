// The master's directory: nodes, multi-session users, failures, watchers and invalidations.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cache/directory.h"

namespace {

using wsg::Directory;
using Hello = Directory::HelloResult;
using Invalidations = std::vector<std::pair<std::string, std::vector<std::string>>>;
using Sessions = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> ids(const std::vector<const Directory::NodeInfo*>& nodes) {
  std::vector<std::string> out;
  for (const auto* n : nodes) out.push_back(n->id);
  return out;
}

void hello(Directory& d, const std::string& id, uint64_t inc = 1, int64_t now = 0) {
  REQUIRE(d.hello(id, inc, "ws://" + id, "tcp://" + id, now) == Hello::accepted);
}

}  // namespace

TEST_CASE("directory: hello registers a node", "[directory]") {
  Directory d;
  CHECK(d.hello("node-1", 7, "ws://h:1/ws", "tcp://h:6001", 1234) == Hello::accepted);
  const auto* n = d.node("node-1");
  REQUIRE(n != nullptr);
  CHECK(n->id == "node-1");
  CHECK(n->incarnation == 7);
  CHECK(n->ws_url == "ws://h:1/ws");
  CHECK(n->events == "tcp://h:6001");
  CHECK(n->alive);
  CHECK(n->last_heartbeat_ms == 1234);
  CHECK(n->sessions == 0);
  CHECK(d.is_alive("node-1"));
  CHECK_FALSE(d.is_alive("node-2"));
  CHECK(d.node("node-2") == nullptr);
}

TEST_CASE("directory: nodes() lists every node, dead ones included, by id", "[directory]") {
  Directory d;
  hello(d, "n3");
  hello(d, "n1");
  hello(d, "n2");
  d.mark_dead("n2");
  auto all = d.nodes();
  CHECK(ids(all) == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK_FALSE(all[1]->alive);
}

TEST_CASE("directory: a second live node with the same id is refused until the first is dead", "[directory]") {
  Directory d;
  hello(d, "node-1", 1, 0);
  REQUIRE(d.register_session("node-1", "alice", "s1"));
  CHECK(d.hello("node-1", 2, "ws://other", "tcp://other", 50) == Hello::duplicate);
  // nothing changed
  const auto* n = d.node("node-1");
  CHECK(n->incarnation == 1);
  CHECK(n->ws_url == "ws://node-1");
  CHECK(n->events == "tcp://node-1");
  CHECK(n->last_heartbeat_ms == 0);
  CHECK(n->sessions == 1);
  CHECK(d.session_count() == 1);
  CHECK(d.online("alice"));

  d.mark_dead("node-1");
  CHECK(d.hello("node-1", 2, "ws://other", "tcp://other", 100) == Hello::accepted);
  n = d.node("node-1");
  CHECK(n->alive);
  CHECK(n->incarnation == 2);
  CHECK(n->ws_url == "ws://other");
  CHECK(n->events == "tcp://other");
  CHECK(n->last_heartbeat_ms == 100);
  CHECK(n->sessions == 0);  // the new incarnation starts empty
  CHECK(d.session_count() == 0);
  CHECK_FALSE(d.online("alice"));
  // and now the old incarnation is the duplicate
  CHECK(d.hello("node-1", 1, "ws://x", "tcp://x", 200) == Hello::duplicate);
}

TEST_CASE("directory: re-HELLO of the same incarnation keeps the sessions", "[directory]") {
  Directory d;
  hello(d, "node-1", 5, 0);
  hello(d, "node-2", 1, 0);
  REQUIRE(d.register_session("node-1", "alice", "s1"));
  REQUIRE(d.register_session("node-1", "bob", "s2"));
  CHECK(d.hello("node-1", 5, "ws://new", "tcp://new", 900) == Hello::accepted);
  const auto* n = d.node("node-1");
  CHECK(n->sessions == 2);
  CHECK(n->last_heartbeat_ms == 900);
  CHECK(n->ws_url == "ws://new");
  CHECK(n->events == "tcp://new");
  CHECK(d.session_count() == 2);
  CHECK(d.sessions_of("alice") == Sessions{{"node-1", "s1"}});
  CHECK(ids(d.nodes_for("bob")) == std::vector<std::string>{"node-1"});
}

TEST_CASE("directory: the same incarnation of a dead node comes back empty", "[directory]") {
  Directory d;
  hello(d, "node-1", 5, 0);
  REQUIRE(d.register_session("node-1", "alice", "s1"));
  d.mark_dead("node-1");
  CHECK(d.hello("node-1", 5, "ws://node-1", "tcp://node-1", 10) == Hello::accepted);
  CHECK(d.is_alive("node-1"));
  CHECK(d.node("node-1")->sessions == 0);
  CHECK(d.session_count() == 0);
  CHECK_FALSE(d.online("alice"));
  CHECK(d.register_session("node-1", "alice", "s1"));  // it can re-register
  CHECK(d.session_count() == 1);
}

TEST_CASE("directory: multi-session users across nodes", "[directory]") {
  Directory d;
  hello(d, "n2");
  hello(d, "n1");
  hello(d, "n3");
  CHECK(d.register_session("n2", "alice", "a-2"));
  CHECK(d.register_session("n1", "alice", "a-1b"));
  CHECK(d.register_session("n1", "alice", "a-1a"));
  CHECK(d.register_session("n3", "bob", "b-3"));

  CHECK(d.session_count() == 4);
  CHECK(d.user_count() == 2);
  CHECK(d.node("n1")->sessions == 2);
  CHECK(d.node("n2")->sessions == 1);
  CHECK(d.node("n3")->sessions == 1);
  CHECK(ids(d.nodes_for("alice")) == std::vector<std::string>{"n1", "n2"});
  CHECK(ids(d.nodes_for("bob")) == std::vector<std::string>{"n3"});
  CHECK(d.nodes_for("carol").empty());
  CHECK(d.sessions_of("alice") == Sessions{{"n1", "a-1a"}, {"n1", "a-1b"}, {"n2", "a-2"}});
  CHECK(d.sessions_of("carol").empty());
  CHECK(d.online("alice"));
  CHECK_FALSE(d.online("carol"));

  SECTION("registering the same session twice is a no-op") {
    CHECK_FALSE(d.register_session("n1", "alice", "a-1a"));
    CHECK(d.session_count() == 4);
    CHECK(d.node("n1")->sessions == 2);
    CHECK(d.sessions_of("alice").size() == 3);
  }
  SECTION("unregistering what is not there changes nothing") {
    CHECK_FALSE(d.unregister_session("n1", "alice", "nope"));
    CHECK_FALSE(d.unregister_session("n3", "alice", "a-1a"));  // right session, wrong node
    CHECK_FALSE(d.unregister_session("n1", "carol", "a-1a"));
    CHECK_FALSE(d.unregister_session("unknown", "alice", "a-1a"));
    CHECK(d.session_count() == 4);
    CHECK(d.user_count() == 2);
  }
  SECTION("unregistering down to nothing removes the user") {
    CHECK(d.unregister_session("n1", "alice", "a-1a"));
    CHECK(ids(d.nodes_for("alice")) == std::vector<std::string>{"n1", "n2"});
    CHECK(d.node("n1")->sessions == 1);
    CHECK(d.unregister_session("n1", "alice", "a-1b"));
    CHECK(ids(d.nodes_for("alice")) == std::vector<std::string>{"n2"});
    CHECK(d.node("n1")->sessions == 0);
    CHECK_FALSE(d.unregister_session("n1", "alice", "a-1b"));  // twice
    CHECK(d.session_count() == 2);
    CHECK(d.user_count() == 2);
    CHECK(d.unregister_session("n2", "alice", "a-2"));
    CHECK_FALSE(d.online("alice"));
    CHECK(d.nodes_for("alice").empty());
    CHECK(d.sessions_of("alice").empty());
    CHECK(d.user_count() == 1);
    CHECK(d.session_count() == 1);
    CHECK(d.node("n2")->sessions == 0);
    // and the user can come back
    CHECK(d.register_session("n3", "alice", "a-3"));
    CHECK(ids(d.nodes_for("alice")) == std::vector<std::string>{"n3"});
    CHECK(d.user_count() == 2);
  }
  SECTION("the same session id under two users or two nodes is distinct") {
    CHECK(d.register_session("n3", "alice", "b-3"));
    CHECK(d.register_session("n2", "bob", "b-3"));
    CHECK(d.session_count() == 6);
    CHECK(d.sessions_of("bob") == Sessions{{"n2", "b-3"}, {"n3", "b-3"}});
  }
}

TEST_CASE("directory: registrations on unknown or dead nodes are refused", "[directory]") {
  Directory d;
  hello(d, "n1");
  CHECK_FALSE(d.register_session("ghost", "alice", "s1"));
  CHECK_FALSE(d.online("alice"));
  CHECK(d.user_count() == 0);
  d.mark_dead("n1");
  CHECK_FALSE(d.register_session("n1", "alice", "s1"));
  CHECK_FALSE(d.online("alice"));
  CHECK(d.user_count() == 0);
  CHECK(d.session_count() == 0);
  CHECK(d.node("n1")->sessions == 0);
  CHECK(d.node("ghost") == nullptr);  // a refused registration does not create a node
}

TEST_CASE("directory: mark_dead drops the node's sessions", "[directory]") {
  Directory d;
  hello(d, "n1");
  hello(d, "n2");
  REQUIRE(d.register_session("n1", "alice", "a1"));
  REQUIRE(d.register_session("n2", "alice", "a2"));
  REQUIRE(d.register_session("n1", "bob", "b1"));
  REQUIRE(d.register_session("n1", "bob", "b2"));
  REQUIRE(d.register_session("n2", "carol", "c2"));

  d.mark_dead("n1");
  CHECK_FALSE(d.is_alive("n1"));
  CHECK(d.node("n1")->sessions == 0);
  CHECK(d.node("n2")->sessions == 2);
  CHECK(d.session_count() == 2);
  CHECK(d.user_count() == 2);
  CHECK_FALSE(d.online("bob"));
  CHECK(ids(d.nodes_for("alice")) == std::vector<std::string>{"n2"});
  CHECK(d.sessions_of("alice") == Sessions{{"n2", "a2"}});
  CHECK_FALSE(d.unregister_session("n1", "alice", "a1"));  // already gone
  CHECK(d.session_count() == 2);

  d.mark_dead("n1");  // twice: no-op
  d.mark_dead("ghost");
  CHECK(d.session_count() == 2);
  CHECK_FALSE(d.touch("n1", 5));
}

TEST_CASE("directory: touch and expire with injected times", "[directory]") {
  Directory d;
  hello(d, "n1", 1, 0);
  hello(d, "n2", 1, 0);
  hello(d, "n3", 1, 1000);
  REQUIRE(d.register_session("n1", "alice", "a1"));
  CHECK(d.touch("n2", 2000));
  CHECK(d.node("n2")->last_heartbeat_ms == 2000);
  CHECK_FALSE(d.touch("ghost", 2000));

  // timeout 3000 at 3999: cutoff 999, n1 (0) is older; n3 (1000) and n2 (2000) are not
  CHECK(d.expire(3999, 3000) == std::vector<std::string>{"n1"});
  CHECK_FALSE(d.is_alive("n1"));
  CHECK_FALSE(d.online("alice"));
  CHECK(d.session_count() == 0);
  // exactly at the limit (last == now - timeout) a node is still alive
  CHECK(d.expire(4000, 3000).empty());
  CHECK(d.is_alive("n3"));
  // one past it, it is not; an already dead node is not reported again
  CHECK(d.expire(4001, 3000) == std::vector<std::string>{"n3"});
  CHECK(d.expire(10000, 3000) == std::vector<std::string>{"n2"});
  CHECK(d.expire(20000, 3000).empty());
  CHECK_FALSE(d.touch("n2", 20000));  // a dead node is not revived by a heartbeat
  CHECK_FALSE(d.is_alive("n2"));
}

TEST_CASE("directory: nodes_for only returns alive nodes", "[directory]") {
  Directory d;
  hello(d, "n1");
  hello(d, "n2");
  REQUIRE(d.register_session("n1", "alice", "a1"));
  REQUIRE(d.register_session("n2", "alice", "a2"));
  d.expire(10, 5);  // both dead (heartbeat 0 < 5)
  CHECK(d.nodes_for("alice").empty());
  CHECK_FALSE(d.online("alice"));
}

TEST_CASE("directory: watchers get invalidations when the user's nodes change", "[directory]") {
  Directory d;
  for (auto id : {"n1", "n2", "n3", "n4"}) hello(d, id);
  REQUIRE(d.register_session("n1", "alice", "a1"));
  d.note_lookup("alice", "n3");
  d.note_lookup("alice", "n2");
  d.note_lookup("alice", "n3");  // twice: one watcher

  SECTION("another session on a node already holding the user changes no route") {
    CHECK(d.register_session("n1", "alice", "a1b"));
    CHECK(d.take_invalidations().empty());
    CHECK(d.unregister_session("n1", "alice", "a1b"));
    CHECK(d.take_invalidations().empty());
    // the watchers are still remembered for the next real change
    CHECK(d.register_session("n4", "alice", "a4"));
    CHECK(d.take_invalidations() == Invalidations{{"alice", {"n2", "n3"}}});
  }
  SECTION("a session on a new node") {
    CHECK(d.register_session("n4", "alice", "a4"));
    CHECK(d.take_invalidations() == Invalidations{{"alice", {"n2", "n3"}}});
    CHECK(d.take_invalidations().empty());  // taken once
    // the watchers were cleared: the next change invalidates nobody until a new lookup
    CHECK(d.unregister_session("n4", "alice", "a4"));
    CHECK(d.take_invalidations().empty());
    d.note_lookup("alice", "n4");
    CHECK(d.unregister_session("n1", "alice", "a1"));  // alice goes offline
    CHECK(d.take_invalidations() == Invalidations{{"alice", {"n4"}}});
  }
  SECTION("the node dies") {
    d.mark_dead("n1");
    CHECK(d.take_invalidations() == Invalidations{{"alice", {"n2", "n3"}}});
  }
  SECTION("dead watchers are skipped, a user with only dead watchers is left out") {
    d.mark_dead("n2");
    CHECK(d.register_session("n4", "alice", "a4"));
    CHECK(d.take_invalidations() == Invalidations{{"alice", {"n3"}}});
    d.note_lookup("alice", "n3");
    d.mark_dead("n3");
    CHECK(d.unregister_session("n4", "alice", "a4"));
    CHECK(d.take_invalidations().empty());
  }
}

TEST_CASE("directory: lookups that cannot be cached are not remembered", "[directory]") {
  Directory d;
  hello(d, "n1");
  hello(d, "n2");
  d.note_lookup("alice", "n2");   // alice offline: the node caches nothing
  d.note_lookup("bob", "ghost");  // unknown node
  REQUIRE(d.register_session("n1", "alice", "a1"));
  REQUIRE(d.register_session("n1", "bob", "b1"));
  CHECK(d.take_invalidations().empty());
  d.mark_dead("n2");
  d.note_lookup("alice", "n2");  // dead node
  REQUIRE(d.unregister_session("n1", "alice", "a1"));
  CHECK(d.take_invalidations().empty());
}

TEST_CASE("directory: invalidations for several users are ordered by user", "[directory]") {
  Directory d;
  hello(d, "n1");
  hello(d, "n2");
  hello(d, "n3");
  for (auto u : {"zed", "alice", "mike", "quiet"}) REQUIRE(d.register_session("n1", u, std::string(u) + "-s"));
  d.note_lookup("zed", "n3");
  d.note_lookup("zed", "n2");
  d.note_lookup("alice", "n2");
  d.note_lookup("mike", "n3");
  for (auto u : {"zed", "alice", "mike", "quiet"}) REQUIRE(d.register_session("n2", u, std::string(u) + "-t"));
  CHECK(d.take_invalidations() == Invalidations{{"alice", {"n2"}}, {"mike", {"n3"}}, {"zed", {"n2", "n3"}}});
}

TEST_CASE("directory: watchers are bounded, past the bound everyone is invalidated", "[directory]") {
  Directory d;
  const std::size_t max = Directory::kMaxWatchersPerUser;
  std::vector<std::string> all;
  for (std::size_t i = 0; i < max + 5; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "n%03zu", i);
    all.emplace_back(id);
    hello(d, id);
  }
  REQUIRE(d.register_session(all[0], "alice", "a"));
  REQUIRE(d.register_session(all[0], "bob", "b"));

  // exactly kMaxWatchersPerUser watchers: still tracked one by one
  for (std::size_t i = 0; i < max; ++i) d.note_lookup("alice", all[i]);
  d.note_lookup("alice", all[3]);  // an existing watcher again does not overflow
  REQUIRE(d.register_session(all[1], "alice", "a1"));
  auto inv = d.take_invalidations();
  REQUIRE(inv.size() == 1);
  CHECK(inv[0].first == "alice");
  CHECK(inv[0].second == std::vector<std::string>(all.begin(), all.begin() + static_cast<long>(max)));

  // one more distinct watcher: everyone, including nodes that never looked alice up
  for (std::size_t i = 0; i <= max; ++i) d.note_lookup("bob", all[i]);
  d.mark_dead(all[max + 4]);  // dead nodes are never targets
  std::vector<std::string> alive(all.begin(), all.begin() + static_cast<long>(max + 4));
  REQUIRE(d.register_session(all[2], "bob", "b2"));
  inv = d.take_invalidations();
  REQUIRE(inv.size() == 1);
  CHECK(inv[0].first == "bob");
  CHECK(inv[0].second == alive);

  // "everyone" is cleared with the watchers: the next change invalidates nobody
  REQUIRE(d.unregister_session(all[2], "bob", "b2"));
  CHECK(d.take_invalidations().empty());
}
