// The master's room directory: node sets, watchers and invalidations, node deaths, and a randomized
// comparison with a plain model past the 64th node.
#include <catch2/catch.hpp>

#include <cstddef>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cache/room_directory.h"

namespace {

using wsg::RoomDirectory;
using Ids = std::vector<std::string>;

// An invalidation as one comparable value.
struct Inv {
  std::string room;
  Ids nodes;
  bool everyone;
  bool operator==(const Inv&) const = default;
};

std::vector<Inv> take(RoomDirectory& d) {
  std::vector<Inv> out;
  for (auto& i : d.take_invalidations()) out.push_back(Inv{i.room, i.nodes, i.everyone});
  return out;
}

std::string node_name(std::size_t i) {
  std::string s = "n" + std::to_string(i);
  return s.size() < 3 ? "n0" + s.substr(1) : s;  // n00..n99: ordered by id as by number
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Inv> {
  static std::string convert(const Inv& i) {
    std::string s = "{" + i.room + (i.everyone ? " everyone" : "") + " [";
    for (const auto& n : i.nodes) s += n + " ";
    return s + "]}";
  }
};
}  // namespace Catch

TEST_CASE("room directory: add and remove say whether the node set changed", "[room_directory]") {
  RoomDirectory d;
  CHECK(d.add("lobby", "n1"));
  CHECK_FALSE(d.add("lobby", "n1"));
  CHECK(d.add("lobby", "n2"));
  CHECK(d.membership_count() == 2);
  CHECK(d.room_count() == 1);
  CHECK_FALSE(d.remove("lobby", "n3"));   // unknown node
  CHECK_FALSE(d.remove("garden", "n1"));  // unknown room
  CHECK(d.add("garden", "n2"));
  CHECK_FALSE(d.remove("garden", "n1"));  // known node, not in that room
  CHECK(d.remove("lobby", "n1"));
  CHECK_FALSE(d.remove("lobby", "n1"));
  CHECK(d.nodes_for("lobby") == Ids{"n2"});
  CHECK(d.membership_count() == 2);
  CHECK(d.room_count() == 2);
}

TEST_CASE("room directory: nodes_for is ordered by id, not by arrival", "[room_directory]") {
  RoomDirectory d;
  d.add("r", "node-c");
  d.add("r", "node-a");
  d.add("other", "node-d");
  d.add("r", "node-d");
  d.add("r", "node-b");
  CHECK(d.nodes_for("r") == Ids{"node-a", "node-b", "node-c", "node-d"});
  CHECK(d.nodes_for("other") == Ids{"node-d"});
  CHECK(d.nodes_for("nowhere").empty());
}

TEST_CASE("room directory: rooms_of lists a node's rooms in order, watched ones left out", "[room_directory]") {
  RoomDirectory d;
  d.add("zeta", "n1");
  d.add("alpha", "n1");
  d.add("mid", "n1");
  d.add("mid", "n2");
  d.add("solo", "n2");
  d.note_lookup("solo", "n1");  // a watcher, not a member
  CHECK(d.rooms_of("n1") == Ids{"alpha", "mid", "zeta"});
  CHECK(d.rooms_of("n2") == Ids{"mid", "solo"});
  CHECK(d.rooms_of("n9").empty());
  d.remove("alpha", "n1");
  CHECK(d.rooms_of("n1") == Ids{"mid", "zeta"});
}

TEST_CASE("room directory: only watched rooms that changed are invalidated, once", "[room_directory]") {
  RoomDirectory d;
  d.add("watched", "n1");
  d.add("unwatched", "n1");
  d.note_lookup("watched", "n3");
  d.note_lookup("watched", "n2");
  d.note_lookup("watched", "n2");  // twice: one watcher
  CHECK(take(d).empty());          // looked up, but nothing changed

  CHECK(d.add("watched", "n4"));
  CHECK(d.add("unwatched", "n4"));
  CHECK(take(d) == std::vector<Inv>{{"watched", {"n2", "n3"}, false}});
  CHECK(take(d).empty());  // reported once

  // The watchers were cleared: the next change has no one to tell.
  CHECK(d.remove("watched", "n4"));
  CHECK(take(d).empty());
  // A change that is no change marks nothing.
  d.note_lookup("watched", "n2");
  CHECK_FALSE(d.add("watched", "n1"));
  CHECK_FALSE(d.remove("watched", "n5"));
  CHECK(take(d).empty());
}

TEST_CASE("room directory: invalidations are ordered by room, several changes make one", "[room_directory]") {
  RoomDirectory d;
  for (const char* room : {"c", "a", "b"}) {
    d.add(room, "n1");
    d.note_lookup(room, "n2");
  }
  d.add("c", "n3");
  d.add("a", "n3");
  d.remove("a", "n3");
  d.add("a", "n4");
  d.add("b", "n3");
  CHECK(take(d) == std::vector<Inv>{{"a", {"n2"}, false}, {"b", {"n2"}, false}, {"c", {"n2"}, false}});
}

TEST_CASE("room directory: note_lookup after a change re-arms the watcher", "[room_directory]") {
  RoomDirectory d;
  d.add("r", "n1");
  d.note_lookup("r", "n2");
  d.add("r", "n3");
  CHECK(take(d) == std::vector<Inv>{{"r", {"n2"}, false}});
  d.note_lookup("r", "n2");
  d.note_lookup("r", "n5");
  d.remove("r", "n3");
  CHECK(take(d) == std::vector<Inv>{{"r", {"n2", "n5"}, false}});
}

TEST_CASE("room directory: note_lookup of a room with no node is ignored", "[room_directory]") {
  RoomDirectory d;
  d.note_lookup("ghost", "n2");  // never existed
  d.add("ghost", "n1");
  CHECK(take(d).empty());

  d.remove("ghost", "n1");  // unwatched: forgotten at once
  CHECK(d.room_count() == 0);
  d.note_lookup("ghost", "n2");  // empty again
  d.add("ghost", "n1");
  CHECK(take(d).empty());
  CHECK(d.nodes_for("ghost") == Ids{"n1"});
}

TEST_CASE("room directory: an emptied watched room is reported, then forgotten", "[room_directory]") {
  RoomDirectory d;
  d.add("r", "n1");
  d.add("keep", "n1");
  d.note_lookup("r", "n2");
  CHECK(d.remove("r", "n1"));
  CHECK(d.room_count() == 1);  // only rooms with a node count
  CHECK(d.nodes_for("r").empty());
  CHECK(d.rooms_of("n1") == Ids{"keep"});
  d.note_lookup("r", "n3");  // kept for its pending invalidation, but empty: no watcher added
  CHECK(take(d) == std::vector<Inv>{{"r", {"n2"}, false}});
  // Forgotten with its watchers: coming back unwatched, its change tells no one.
  d.add("r", "n1");
  CHECK(take(d).empty());
  CHECK(d.room_count() == 2);
}

TEST_CASE("room directory: past 64 watchers a room is watched by everyone", "[room_directory]") {
  RoomDirectory d;
  d.add("crowd", "n1");
  d.add("edge", "n1");
  Ids watchers;
  for (std::size_t i = 0; i < RoomDirectory::kMaxWatchersPerRoom; ++i) {
    const std::string id = "w" + std::to_string(100 + i);
    watchers.push_back(id);
    d.note_lookup("crowd", id);
    d.note_lookup("edge", id);
  }
  d.note_lookup("crowd", "w100");  // a known watcher is not one more
  d.note_lookup("crowd", "extra");
  d.note_lookup("crowd", "extra2");  // already everyone
  d.add("crowd", "n2");
  d.add("edge", "n2");
  CHECK(take(d) == std::vector<Inv>{{"crowd", {}, true}, {"edge", watchers, false}});
  // Everyone is cleared with the watchers.
  d.note_lookup("crowd", "w100");
  d.remove("crowd", "n2");
  CHECK(take(d) == std::vector<Inv>{{"crowd", {"w100"}, false}});
}

TEST_CASE("room directory: drop_node leaves rooms and watchers, marks nothing changed", "[room_directory]") {
  RoomDirectory d;
  d.add("a", "n1");
  d.add("a", "n2");
  d.add("b", "n1");
  d.add("c", "n2");
  d.add("d", "n3");
  d.note_lookup("a", "n3");
  d.note_lookup("b", "n3");  // b has only n1: emptied by the drop
  d.note_lookup("c", "n1");  // n1 watches c
  d.note_lookup("c", "n3");
  REQUIRE(d.membership_count() == 5);

  CHECK(d.drop_node("n1") == 2);
  CHECK(take(d).empty());  // every node drops n1 from its cached routes itself
  CHECK(d.nodes_for("a") == Ids{"n2"});
  CHECK(d.nodes_for("b").empty());
  CHECK(d.nodes_for("c") == Ids{"n2"});
  CHECK(d.rooms_of("n1").empty());
  CHECK(d.rooms_of("n2") == Ids{"a", "c"});
  CHECK(d.room_count() == 3);
  CHECK(d.membership_count() == 3);
  CHECK(d.drop_node("n1") == 0);
  CHECK(d.drop_node("never-seen") == 0);

  // n1 no longer watches c; n3 still does.
  d.add("c", "n3");
  CHECK(take(d) == std::vector<Inv>{{"c", {"n3"}, false}});
  // b was forgotten, its watcher n3 with it.
  d.add("b", "n2");
  CHECK(take(d).empty());
  // A node that comes back (and a new one, which may take n1's place inside) starts clean.
  d.add("e", "n2");
  d.note_lookup("e", "n3");
  d.add("e", "n9");
  d.add("e", "n1");
  CHECK(take(d) == std::vector<Inv>{{"e", {"n3"}, false}});
  CHECK(d.rooms_of("n9") == Ids{"e"});
  CHECK(d.rooms_of("n1") == Ids{"e"});
}

TEST_CASE("room directory: a change pending when its only watcher dies is dropped quietly", "[room_directory]") {
  RoomDirectory d;
  d.add("r", "n1");
  d.note_lookup("r", "n2");
  d.add("r", "n3");   // changed, n2 to tell
  d.drop_node("n2");  // ... but n2 is gone
  CHECK(take(d).empty());
  d.remove("r", "n1");
  d.note_lookup("r", "n4");
  CHECK(d.drop_node("n3") == 1);  // r emptied by a death with a watcher left: forgotten
  CHECK(d.room_count() == 0);
  CHECK(d.membership_count() == 0);
  d.add("r", "n1");
  CHECK(take(d).empty());
}

// A plain model of the semantics, with standard containers.
namespace {

struct Model {
  std::map<std::string, std::set<std::string>> nodes;     // room -> nodes (non-empty, or pending)
  std::map<std::string, std::set<std::string>> watchers;  // room -> watchers
  std::set<std::string> everyone;
  std::set<std::string> changed;

  bool watched(const std::string& r) const {
    return everyone.count(r) || (watchers.count(r) && !watchers.at(r).empty());
  }
  void mark(const std::string& r) {
    if (watched(r)) changed.insert(r);
  }
  void forget_if_done(const std::string& r) {
    if ((!nodes.count(r) || nodes[r].empty()) && !changed.count(r)) {
      nodes.erase(r);
      watchers.erase(r);
      everyone.erase(r);
    }
  }
  bool add(const std::string& r, const std::string& n) {
    if (!nodes[r].insert(n).second) return false;
    mark(r);
    return true;
  }
  bool remove(const std::string& r, const std::string& n) {
    if (!nodes.count(r) || !nodes[r].erase(n)) return false;
    mark(r);
    forget_if_done(r);
    return true;
  }
  void note_lookup(const std::string& r, const std::string& n) {
    if (!nodes.count(r) || nodes[r].empty() || everyone.count(r)) return;
    auto& w = watchers[r];
    if (w.count(n)) return;
    if (w.size() >= RoomDirectory::kMaxWatchersPerRoom) {
      w.clear();
      everyone.insert(r);
      return;
    }
    w.insert(n);
  }
  std::vector<Inv> take() {
    std::vector<Inv> out;
    for (const auto& r : changed) {
      if (everyone.count(r)) out.push_back(Inv{r, {}, true});
      else if (watchers.count(r) && !watchers[r].empty())
        out.push_back(Inv{r, Ids(watchers[r].begin(), watchers[r].end()), false});
      watchers.erase(r);
      everyone.erase(r);
    }
    const auto was = changed;
    changed.clear();
    for (const auto& r : was) forget_if_done(r);
    return out;
  }
  std::size_t drop(const std::string& n) {
    std::size_t count = 0;
    std::vector<std::string> rooms;
    for (auto& [r, set] : nodes) {
      count += set.erase(n);
      rooms.push_back(r);
    }
    for (auto& [r, set] : watchers) set.erase(n);
    for (const auto& r : rooms) forget_if_done(r);
    return count;
  }
  std::size_t room_count() const {
    std::size_t c = 0;
    for (const auto& [r, set] : nodes) c += !set.empty();
    return c;
  }
  std::size_t membership_count() const {
    std::size_t c = 0;
    for (const auto& [r, set] : nodes) c += set.size();
    return c;
  }
};

}  // namespace

TEST_CASE("room directory: matches a plain model over random operations past the 64th node", "[room_directory]") {
  RoomDirectory d;
  Model m;
  std::mt19937 rng(1616);
  constexpr std::size_t kNodes = 90;  // indices past 63 take the side vectors
  constexpr std::size_t kRooms = 40;
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  auto check_all = [&] {
    REQUIRE(d.room_count() == m.room_count());
    REQUIRE(d.membership_count() == m.membership_count());
    for (std::size_t r = 0; r < kRooms; ++r) {
      const std::string room = "room" + std::to_string(r);
      Ids want;
      if (m.nodes.count(room)) want.assign(m.nodes[room].begin(), m.nodes[room].end());
      REQUIRE(d.nodes_for(room) == want);
    }
    for (std::size_t n = 0; n < kNodes; ++n) {
      const std::string node = node_name(n);
      Ids want;
      for (const auto& [room, set] : m.nodes)
        if (set.count(node)) want.push_back(room);
      REQUIRE(d.rooms_of(node) == want);
    }
  };
  std::size_t invalidations = 0, everyone = 0, drops = 0;
  for (int step = 0; step < 60000; ++step) {
    // Two hot rooms gather watchers; the others are spread thin.
    const std::string room = "room" + std::to_string(pick(2) ? pick(2) : pick(kRooms));
    // Low-numbered nodes have members more often, so rooms have a few nodes and many watchers.
    const std::string node = node_name(pick(2) ? pick(8) : pick(kNodes));
    // Phases of frequent and of rare invalidation rounds: the rare ones let watchers pile up past 64.
    const int phase = (step / 2000) % 3;
    const std::size_t takes = phase == 0 ? 50 : phase == 1 ? 5 : 1;  // per mille
    const std::size_t op = pick(1000);
    if (op < takes) {
      const auto got = take(d);
      REQUIRE(got == m.take());
      invalidations += got.size();
      for (const auto& i : got) everyone += i.everyone;
    } else if (op < takes + 10) {
      REQUIRE(d.drop_node(node) == m.drop(node));
      ++drops;
    } else if (op < 300) {
      REQUIRE(d.add(room, node) == m.add(room, node));
    } else if (op < 550) {
      REQUIRE(d.remove(room, node) == m.remove(room, node));
    } else {
      const std::string watcher = node_name(pick(kNodes));
      d.note_lookup(room, watcher);
      m.note_lookup(room, watcher);
    }
    if (step % 5000 == 0) check_all();
  }
  check_all();
  REQUIRE(take(d) == m.take());
  // The run exercised what it is meant to.
  CHECK(invalidations > 100);
  CHECK(everyone > 0);
  CHECK(drops > 100);
}
