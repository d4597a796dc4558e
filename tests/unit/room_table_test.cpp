// A node's room table: joins and their bounds, leaves, swap-removals in the members vector, and
// 100,000 memberships joined and left in random order against a plain model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cache/room_table.h"

namespace {

using wsg::RoomTable;
using Key = RoomTable::SessionKey;
using Result = RoomTable::JoinResult;
using Names = std::vector<std::string>;

// The sessions of a room, sorted (a session present twice shows twice).
std::vector<Key> sessions_in(const RoomTable& t, std::string_view room) {
  std::vector<Key> out;
  if (const auto* members = t.members(room))
    for (const auto& m : *members) out.push_back(m.session);
  std::sort(out.begin(), out.end());
  return out;
}

RoomTable::JoinOutcome join(RoomTable& t, Key s, std::string_view room, bool echo = false, bool notices = false) {
  return t.join(s, room, echo, notices, 0, 0);
}

}  // namespace

TEST_CASE("room table: the first join of a room is first_local, the next ones are not", "[room_table]") {
  RoomTable t;
  auto o = t.join(1, "lobby", true, false, 100, 0);
  CHECK(o.result == Result::joined);
  CHECK(o.first_local);
  o = t.join(2, "lobby", false, true, 100, 0);
  CHECK(o.result == Result::joined);
  CHECK_FALSE(o.first_local);
  CHECK(sessions_in(t, "lobby") == std::vector<Key>{1, 2});
  const auto* m1 = t.member(1, "lobby");
  REQUIRE(m1 != nullptr);
  CHECK(m1->session == 1);
  CHECK(m1->echo);
  CHECK_FALSE(m1->notices);
  const auto* m2 = t.member(2, "lobby");
  REQUIRE(m2 != nullptr);
  CHECK_FALSE(m2->echo);
  CHECK(m2->notices);
  CHECK(t.member(3, "lobby") == nullptr);
  CHECK(t.member(1, "garden") == nullptr);
  CHECK(t.members("garden") == nullptr);
  CHECK(t.room_count() == 1);
  CHECK(t.membership_count() == 2);
}

TEST_CASE("room table: joining again updates the flags and changes nothing else", "[room_table]") {
  RoomTable t;
  join(t, 1, "lobby", false, false);
  join(t, 2, "lobby", false, false);
  const auto o = t.join(1, "lobby", true, true, 1, 2);  // at both bounds: still not a refusal
  CHECK(o.result == Result::already_member);
  CHECK_FALSE(o.first_local);
  const auto* m = t.member(1, "lobby");
  REQUIRE(m != nullptr);
  CHECK(m->echo);
  CHECK(m->notices);
  CHECK_FALSE(t.member(2, "lobby")->echo);
  CHECK(t.join(1, "lobby", false, true, 0, 0).result == Result::already_member);
  CHECK_FALSE(t.member(1, "lobby")->echo);
  CHECK(t.member(1, "lobby")->notices);
  CHECK(sessions_in(t, "lobby") == std::vector<Key>{1, 2});
  CHECK(t.membership_count() == 2);
  CHECK(t.room_count_of(1) == 1);
}

TEST_CASE("room table: a session is refused past max_rooms, and the refusal changes nothing", "[room_table]") {
  RoomTable t;
  CHECK(t.join(7, "a", false, false, 2, 0).result == Result::joined);
  CHECK(t.join(7, "b", false, false, 2, 0).result == Result::joined);
  const auto o = t.join(7, "c", false, false, 2, 0);
  CHECK(o.result == Result::too_many_rooms);
  CHECK_FALSE(o.first_local);
  CHECK(t.members("c") == nullptr);
  CHECK(t.room_count() == 2);
  CHECK(t.room_count_of(7) == 2);
  CHECK(t.rooms_of(7) == Names{"a", "b"});
  CHECK(t.membership_count() == 2);
  // Into an existing room as well.
  join(t, 8, "c");
  CHECK(t.join(7, "c", false, false, 2, 0).result == Result::too_many_rooms);
  CHECK(sessions_in(t, "c") == std::vector<Key>{8});
  // Another session has its own count; a higher bound lets 7 in.
  CHECK(t.join(8, "a", false, false, 2, 0).result == Result::joined);
  CHECK(t.join(7, "c", false, false, 3, 0).result == Result::joined);
  // Both bounds broken: too_many_rooms.
  CHECK(t.join(7, "d", false, false, 3, 0).result == Result::too_many_rooms);
  CHECK(t.join(7, "a", false, false, 3, 1).result == Result::already_member);
  CHECK(t.join(9, "a", false, false, 0, 2).result == Result::room_full);
  join(t, 9, "x");
  CHECK(t.join(9, "a", false, false, 1, 2).result == Result::too_many_rooms);
}

TEST_CASE("room table: max_rooms 0 is unbounded", "[room_table]") {
  RoomTable t;
  for (int i = 0; i < 300; ++i)
    REQUIRE(t.join(1, "r" + std::to_string(i), false, false, 0, 0).result == Result::joined);
  CHECK(t.room_count_of(1) == 300);
  CHECK(t.room_count() == 300);
}

TEST_CASE("room table: a room is refused past max_members, and the refusal changes nothing", "[room_table]") {
  RoomTable t;
  CHECK(t.join(1, "r", false, false, 0, 2).result == Result::joined);
  CHECK(t.join(2, "r", false, false, 0, 2).result == Result::joined);
  const auto o = t.join(3, "r", true, true, 0, 2);
  CHECK(o.result == Result::room_full);
  CHECK_FALSE(o.first_local);
  CHECK(sessions_in(t, "r") == std::vector<Key>{1, 2});
  CHECK(t.member(3, "r") == nullptr);
  CHECK(t.room_count_of(3) == 0);
  CHECK(t.rooms_of(3).empty());
  CHECK(t.membership_count() == 2);
  // A session already elsewhere keeps exactly that.
  join(t, 4, "s");
  CHECK(t.join(4, "r", false, false, 0, 2).result == Result::room_full);
  CHECK(t.rooms_of(4) == Names{"s"});
  // Unbounded, or a room with room left.
  CHECK(t.join(3, "r", false, false, 0, 0).result == Result::joined);
  CHECK(t.join(5, "s", false, false, 0, 2).result == Result::joined);
  CHECK(t.join(6, "s", false, false, 0, 2).result == Result::room_full);
  // After a leave there is room again.
  t.leave(4, "s");
  CHECK(t.join(6, "s", false, false, 0, 2).result == Result::joined);
}

TEST_CASE("room table: leave says whether the session was a member and the room is now empty", "[room_table]") {
  RoomTable t;
  join(t, 1, "r");
  join(t, 2, "r");
  join(t, 2, "s");
  auto o = t.leave(3, "r");  // not a member (unknown session)
  CHECK_FALSE(o.was_member);
  CHECK_FALSE(o.last_local);
  o = t.leave(1, "s");  // not a member (known session and room)
  CHECK_FALSE(o.was_member);
  CHECK_FALSE(o.last_local);
  o = t.leave(1, "nowhere");
  CHECK_FALSE(o.was_member);
  CHECK(t.membership_count() == 3);

  o = t.leave(1, "r");
  CHECK(o.was_member);
  CHECK_FALSE(o.last_local);
  CHECK(sessions_in(t, "r") == std::vector<Key>{2});
  CHECK(t.room_count_of(1) == 0);
  o = t.leave(1, "r");
  CHECK_FALSE(o.was_member);
  o = t.leave(2, "r");
  CHECK(o.was_member);
  CHECK(o.last_local);
  CHECK(t.members("r") == nullptr);
  CHECK(t.rooms() == Names{"s"});
  CHECK(t.room_count() == 1);
  CHECK(t.membership_count() == 1);
  CHECK(t.rooms_of(2) == Names{"s"});
  // The room comes back as new.
  CHECK(join(t, 1, "r").first_local);
}

TEST_CASE("room table: leave_all returns only the rooms it emptied, in order", "[room_table]") {
  RoomTable t;
  join(t, 1, "c");
  join(t, 1, "a");
  join(t, 1, "b");
  join(t, 1, "d");
  join(t, 2, "b");
  join(t, 3, "d");
  CHECK(t.leave_all(1) == Names{"a", "c"});
  CHECK(t.room_count_of(1) == 0);
  CHECK(t.rooms_of(1).empty());
  CHECK(t.rooms() == Names{"b", "d"});
  CHECK(sessions_in(t, "b") == std::vector<Key>{2});
  CHECK(sessions_in(t, "d") == std::vector<Key>{3});
  CHECK(t.membership_count() == 2);
  CHECK(t.leave_all(1).empty());
  CHECK(t.leave_all(99).empty());
  CHECK(t.leave_all(3) == Names{"d"});
  CHECK(t.rooms() == Names{"b"});
}

TEST_CASE("room table: swap-removals keep every remaining member exactly once, flags included", "[room_table]") {
  RoomTable t;
  // Flags that tell the sessions apart: echo for odd keys, notices for keys above 2.
  for (Key s = 1; s <= 5; ++s) join(t, s, "r", s % 2 == 1, s > 2);
  join(t, 2, "other");
  join(t, 5, "other");
  auto check_members = [&](const std::vector<Key>& want) {
    REQUIRE(sessions_in(t, "r") == want);
    for (const Key s : want) {
      const auto* m = t.member(s, "r");
      REQUIRE(m != nullptr);
      CHECK(m->session == s);
      CHECK(m->echo == (s % 2 == 1));
      CHECK(m->notices == (s > 2));
    }
  };
  CHECK(t.leave(2, "r").was_member);  // from the middle
  check_members({1, 3, 4, 5});
  CHECK(t.member(2, "r") == nullptr);
  CHECK(t.leave(1, "r").was_member);  // the first
  check_members({3, 4, 5});
  const auto* members = t.members("r");
  REQUIRE(members != nullptr);
  CHECK(t.leave(members->back().session, "r").was_member);  // the last
  CHECK(sessions_in(t, "r").size() == 2);
  join(t, 6, "r", true, true);
  join(t, 2, "r", false, false);
  CHECK(t.leave_all(4).empty());
  const auto left = sessions_in(t, "r");
  CHECK(left.size() == 3);
  CHECK(std::count(left.begin(), left.end(), 4) == 0);
  // The other room, whose entries moved in its sessions' lists, is intact.
  CHECK(sessions_in(t, "other") == std::vector<Key>{2, 5});
  CHECK(t.member(5, "other") != nullptr);
  CHECK(t.rooms_of(2) == Names{"other", "r"});
  CHECK(t.membership_count() == 5);
}

TEST_CASE("room table: rooms() and rooms_of are ordered", "[room_table]") {
  RoomTable t;
  for (const char* room : {"m", "z", "a", "k"}) join(t, 1, room);
  join(t, 2, "b");
  join(t, 2, "a");
  CHECK(t.rooms() == Names{"a", "b", "k", "m", "z"});
  CHECK(t.rooms_of(1) == Names{"a", "k", "m", "z"});
  CHECK(t.rooms_of(2) == Names{"a", "b"});
  CHECK(t.rooms_of(3).empty());
  CHECK(t.room_count_of(1) == 4);
  CHECK(t.room_count() == 5);
  t.leave(1, "m");
  CHECK(t.rooms() == Names{"a", "b", "k", "z"});
  CHECK(t.rooms_of(1) == Names{"a", "k", "z"});
}

namespace {

// The table's whole state against a model: room -> session -> (echo, notices).
using ModelRooms = std::map<std::string, std::map<Key, std::pair<bool, bool>>>;

void check_against(const RoomTable& t, const ModelRooms& model) {
  std::size_t memberships = 0;
  Names names;
  std::map<Key, Names> by_session;
  for (const auto& [room, members] : model) {
    names.push_back(room);
    memberships += members.size();
    const auto* got = t.members(room);
    REQUIRE(got != nullptr);
    REQUIRE(got->size() == members.size());
    std::vector<Key> want_keys;
    for (const auto& [s, flags] : members) {
      want_keys.push_back(s);
      by_session[s].push_back(room);
      const auto* m = t.member(s, room);
      // One assertion per failure, not per member: this runs over 100,000 members.
      if (m == nullptr || m->session != s || m->echo != flags.first || m->notices != flags.second)
        FAIL("member " << s << " of " << room << " missing or wrong");
    }
    REQUIRE(sessions_in(t, room) == want_keys);
  }
  REQUIRE(t.rooms() == names);
  REQUIRE(t.room_count() == model.size());
  REQUIRE(t.membership_count() == memberships);
  for (const auto& [s, rooms] : by_session) {
    if (t.rooms_of(s) != rooms || t.room_count_of(s) != rooms.size()) FAIL("rooms of " << s << " wrong");
  }
}

}  // namespace

TEST_CASE("room table: 100000 joins left in random order end empty and consistent", "[room_table]") {
  RoomTable t;
  ModelRooms model;
  std::mt19937_64 rng(16);
  // 50,000 sessions in one crowd, each also in one of 1,000 small rooms.
  std::vector<std::pair<Key, std::string>> joins;
  for (Key s = 1; s <= 50000; ++s) {
    joins.emplace_back(s, "crowd");
    joins.emplace_back(s, "small" + std::to_string(rng() % 1000));
  }
  std::shuffle(joins.begin(), joins.end(), rng);
  for (const auto& [s, room] : joins) {
    const bool echo = s % 3 == 0, notices = s % 5 == 0;
    REQUIRE(t.join(s, room, echo, notices, 100, 0).result == Result::joined);
    model[room][s] = {echo, notices};
  }
  REQUIRE(t.membership_count() == 100000);
  REQUIRE(t.members("crowd")->size() == 50000);
  check_against(t, model);
  const std::size_t rooms_joined = model.size();

  std::shuffle(joins.begin(), joins.end(), rng);
  std::size_t emptied = 0;
  for (std::size_t i = 0; i < joins.size(); ++i) {
    const auto& [s, room] = joins[i];
    const auto o = t.leave(s, room);
    REQUIRE(o.was_member);
    auto& members = model[room];
    members.erase(s);
    REQUIRE(o.last_local == members.empty());
    if (members.empty()) {
      model.erase(room);
      ++emptied;
    }
    if (i % 25000 == 24999) check_against(t, model);
  }
  CHECK(emptied == rooms_joined);  // each room emptied once
  CHECK(model.empty());
  CHECK(t.room_count() == 0);
  CHECK(t.membership_count() == 0);
  CHECK(t.rooms().empty());
  CHECK(t.members("crowd") == nullptr);
  CHECK(t.room_count_of(1) == 0);
  CHECK(t.room_count_of(50000) == 0);
  // The emptied table works as new.
  CHECK(t.join(1, "crowd", false, false, 0, 0).first_local);
}

TEST_CASE("room table: random joins, leaves and leave_all match a plain model", "[room_table]") {
  RoomTable t;
  ModelRooms model;
  std::mt19937 rng(2016);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  constexpr std::size_t kMaxRooms = 6, kMaxMembers = 40;
  auto model_rooms_of = [&](Key s) {
    std::size_t n = 0;
    for (const auto& [room, members] : model) n += members.count(s);
    return n;
  };
  std::size_t refusals = 0, leave_alls = 0;
  for (int step = 0; step < 40000; ++step) {
    const Key s = 1 + pick(200);
    const std::string room = "r" + std::to_string(pick(2) ? pick(3) : pick(30));  // three crowded rooms
    const std::size_t op = pick(100);
    if (op < 55) {
      const bool echo = pick(2), notices = pick(2);
      const auto o = t.join(s, room, echo, notices, kMaxRooms, kMaxMembers);
      auto it = model.find(room);
      Result want = Result::joined;
      if (it != model.end() && it->second.count(s)) want = Result::already_member;
      else if (model_rooms_of(s) >= kMaxRooms) want = Result::too_many_rooms;
      else if (it != model.end() && it->second.size() >= kMaxMembers) want = Result::room_full;
      REQUIRE(o.result == want);
      REQUIRE(o.first_local == (want == Result::joined && it == model.end()));
      if (want == Result::joined || want == Result::already_member) model[room][s] = {echo, notices};
      else ++refusals;
    } else if (op < 95) {
      const auto o = t.leave(s, room);
      auto it = model.find(room);
      const bool was = it != model.end() && it->second.erase(s) == 1;
      REQUIRE(o.was_member == was);
      REQUIRE(o.last_local == (was && it->second.empty()));
      if (was && it->second.empty()) model.erase(it);
    } else {
      Names want;
      for (auto it = model.begin(); it != model.end();) {
        if (it->second.erase(s) && it->second.empty()) {
          want.push_back(it->first);
          it = model.erase(it);
        } else {
          ++it;
        }
      }
      REQUIRE(t.leave_all(s) == want);
      ++leave_alls;
    }
    if (step % 2000 == 0) check_against(t, model);
  }
  check_against(t, model);
  CHECK(refusals > 100);
  CHECK(leave_alls > 100);
}
