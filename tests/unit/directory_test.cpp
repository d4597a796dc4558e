// The master's directory: nodes, multi-session users, failures, watchers and invalidations.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <random>
#include <set>
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

TEST_CASE("directory: ids longer than the inline 23 bytes round-trip", "[directory]") {
  Directory d;
  hello(d, "n1");
  const std::string user(128, 'u');
  const std::string session = std::string(100, 's') + "-1";
  const std::string inline_user(23, 'v');  // exactly the inline capacity
  REQUIRE(d.register_session("n1", user, session));
  REQUIRE(d.register_session("n1", inline_user, "x"));
  CHECK_FALSE(d.register_session("n1", user, session));
  CHECK(d.sessions_of(user) == Sessions{{"n1", session}});
  CHECK(d.sessions_of(inline_user) == Sessions{{"n1", "x"}});
  CHECK(d.online(user));
  CHECK(d.unregister_session("n1", user, session));
  CHECK_FALSE(d.online(user));
  CHECK(d.user_count() == 1);
}

TEST_CASE("directory: records are reused after users and sessions go", "[directory]") {
  Directory d;
  hello(d, "n1");
  hello(d, "n2");
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i)
      REQUIRE(d.register_session(i % 2 ? "n1" : "n2", "user-" + std::to_string(i), "s" + std::to_string(round)));
    CHECK(d.session_count() == 200);
    CHECK(d.user_count() == 200);
    for (int i = 0; i < 200; i += 2)
      REQUIRE(d.unregister_session("n2", "user-" + std::to_string(i), "s" + std::to_string(round)));
    d.mark_dead("n1");
    CHECK(d.session_count() == 0);
    CHECK(d.user_count() == 0);
    hello(d, "n1", 1, 0);
  }
}

// A model of the directory written the plain way (ordered maps and sets), driven with the real
// one through the same random operations from a fixed seed: every answer must agree. 70 nodes,
// so that watchers past the 64th node index (the side table) are exercised too.
namespace {

struct Model {
  struct Node {
    bool alive = true;
    uint64_t inc = 0;
  };
  std::map<std::string, Node> nodes;
  std::map<std::string, std::map<std::string, std::set<std::string>>> users;  // user -> node -> sessions
  std::map<std::string, std::set<std::string>> watchers;                      // user -> nodes
  std::set<std::string> everyone;
  std::set<std::string> changed;

  bool alive(const std::string& n) const { return nodes.count(n) && nodes.at(n).alive; }
  void mark_changed(const std::string& u) {
    if (watchers.count(u) || everyone.count(u)) changed.insert(u);
  }
  void drop(const std::string& n) {
    for (auto it = users.begin(); it != users.end();) {
      if (it->second.erase(n)) mark_changed(it->first);
      it = it->second.empty() ? users.erase(it) : std::next(it);
    }
  }
  bool reg(const std::string& n, const std::string& u, const std::string& s) {
    if (!alive(n)) return false;
    auto& by_node = users[u];
    const bool node_new = !by_node.count(n);
    if (!by_node[n].insert(s).second) return false;
    if (node_new) mark_changed(u);
    return true;
  }
  bool unreg(const std::string& n, const std::string& u, const std::string& s) {
    auto uit = users.find(u);
    if (uit == users.end() || !uit->second.count(n) || !uit->second[n].erase(s)) return false;
    if (uit->second[n].empty()) {
      uit->second.erase(n);
      mark_changed(u);
    }
    if (uit->second.empty()) users.erase(uit);
    return true;
  }
  void lookup(const std::string& u, const std::string& n) {
    if (!alive(n) || !users.count(u) || everyone.count(u)) return;
    auto& w = watchers[u];
    if (w.size() >= Directory::kMaxWatchersPerUser && !w.count(n)) {
      watchers.erase(u);
      everyone.insert(u);
      return;
    }
    w.insert(n);
  }
  Invalidations take() {
    Invalidations out;
    for (const auto& u : changed) {
      std::vector<std::string> targets;
      if (everyone.count(u)) {
        for (const auto& [id, node] : nodes)
          if (node.alive) targets.push_back(id);
      } else if (watchers.count(u)) {
        for (const auto& id : watchers[u])
          if (alive(id)) targets.push_back(id);
      }
      watchers.erase(u);
      everyone.erase(u);
      if (!targets.empty()) out.emplace_back(u, targets);
    }
    changed.clear();
    return out;
  }
  std::vector<std::string> nodes_for(const std::string& u) const {
    std::vector<std::string> out;
    if (auto it = users.find(u); it != users.end())
      for (const auto& [n, s] : it->second)
        if (alive(n)) out.push_back(n);
    return out;
  }
  Sessions sessions_of(const std::string& u) const {
    Sessions out;
    if (auto it = users.find(u); it != users.end())
      for (const auto& [n, ss] : it->second)
        for (const auto& s : ss) out.emplace_back(n, s);
    return out;
  }
  std::size_t session_count() const {
    std::size_t c = 0;
    for (const auto& [u, by_node] : users)
      for (const auto& [n, ss] : by_node) c += ss.size();
    return c;
  }
};

}  // namespace

TEST_CASE("directory: agrees with a plain model over random operations", "[directory]") {
  Directory d;
  Model m;
  std::mt19937 rng(12345);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::vector<std::string> node_ids;
  for (int i = 0; i < 70; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "n%02d", i);
    node_ids.emplace_back(id);
    hello(d, id);
    m.nodes[id] = Model::Node{true, 1};
  }
  auto user = [&] { return "user-" + std::to_string(pick(40)) + (pick(4) == 0 ? std::string(30, 'x') : ""); };
  auto session = [&] { return "s" + std::to_string(pick(3)); };
  for (int step = 0; step < 20000; ++step) {
    const std::string n = node_ids[static_cast<std::size_t>(pick(70))];
    const std::string u = user();
    INFO("step " << step << " node " << n << " user " << u);
    switch (pick(10)) {
      case 0:
      case 1:
      case 2: {
        const std::string s = session();
        REQUIRE(d.register_session(n, u, s) == m.reg(n, u, s));
        break;
      }
      case 3:
      case 4: {
        const std::string s = session();
        REQUIRE(d.unregister_session(n, u, s) == m.unreg(n, u, s));
        break;
      }
      case 5:
      case 6:
        d.note_lookup(u, n);
        m.lookup(u, n);
        break;
      case 7: REQUIRE(d.take_invalidations() == m.take()); break;
      case 8:
        if (pick(20) == 0) {
          d.mark_dead(n);
          if (m.alive(n)) {
            m.drop(n);
            m.nodes[n].alive = false;
          }
        } else if (!m.alive(n)) {
          hello(d, n, 2);
          m.nodes[n] = Model::Node{true, 2};
        }
        break;
      default:
        REQUIRE(ids(d.nodes_for(u)) == m.nodes_for(u));
        REQUIRE(d.sessions_of(u) == m.sessions_of(u));
        REQUIRE(d.online(u) == (m.users.count(u) > 0));
        break;
    }
    REQUIRE(d.session_count() == m.session_count());
    REQUIRE(d.user_count() == m.users.size());
  }
}
