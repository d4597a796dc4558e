// Unit tests for the room-name rule and the JWT room patterns (src/proto/room_name.h,
// docs/protocol.md, "Rooms").
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "proto/room_name.h"

using namespace wsg::proto;

TEST_CASE("valid_room_name: lengths", "[room_name]") {
  CHECK(kMaxRoomNameBytes == 128);
  CHECK(valid_room_name("a"));
  CHECK(valid_room_name(std::string(128, 'r')));
  CHECK_FALSE(valid_room_name(std::string(129, 'r')));
  CHECK_FALSE(valid_room_name(""));
  CHECK_FALSE(valid_room_name(std::string(1000, 'r')));
}

TEST_CASE("valid_room_name: every allowed byte, and no other", "[room_name]") {
  CHECK(valid_room_name("abcdefghijklmnopqrstuvwxyz"));
  CHECK(valid_room_name("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  CHECK(valid_room_name("0123456789"));
  CHECK(valid_room_name("._@:/-"));
  CHECK(valid_room_name("team:eng/backend-2.0_x@corp"));
  for (const char* one : {".", "_", "@", ":", "/", "-", "z", "Z", "0", "9"}) {
    INFO(one);
    CHECK(valid_room_name(one));
  }
  for (const char* bad : {"a b",  " ",    "a*",   "*",   "a*b", "team:*", "a+b", "a#b",         "a?b",  "a,b", "a\"b",
                          "a\\b", "a\tb", "a\nb", "a~b", "a%b", "a'b",    "é",   "caf\xc3\xa9", "\xff", "\x7f"}) {
    INFO(bad);
    CHECK_FALSE(valid_room_name(bad));
  }
  CHECK_FALSE(valid_room_name(std::string_view("a\0b", 3)));
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || ch == '.' ||
                         ch == '_' || ch == '@' || ch == ':' || ch == '/' || ch == '-';
    INFO("byte " << c);
    CHECK(valid_room_name(std::string_view(&ch, 1)) == allowed);
    // Wherever it is in the name.
    const std::string inside = std::string("ab") + ch + "cd";
    CHECK(valid_room_name(inside) == allowed);
  }
}

TEST_CASE("valid_room_pattern", "[room_name]") {
  // "*" alone: every room.
  CHECK(valid_room_pattern("*"));
  // A room name: an exact match.
  CHECK(valid_room_pattern("lobby"));
  CHECK(valid_room_pattern("team:eng"));
  CHECK(valid_room_pattern(std::string(128, 'r')));
  CHECK_FALSE(valid_room_pattern(std::string(129, 'r')));
  // A prefix then one '*' at the end.
  CHECK(valid_room_pattern("team:*"));
  CHECK(valid_room_pattern("a*"));
  CHECK(valid_room_pattern("a/b/*"));
  // The prefix is shorter than a room name may be: the pattern itself is at most 128 bytes.
  CHECK(valid_room_pattern(std::string(127, 'p') + "*"));
  CHECK_FALSE(valid_room_pattern(std::string(128, 'p') + "*"));
  // Not patterns.
  for (const char* bad : {"", "**", "a**", "*a", "a*b", "*:team", "team:**", "te am:*", "é*", "a *", "* "}) {
    INFO(bad);
    CHECK_FALSE(valid_room_pattern(bad));
  }
}

TEST_CASE("room_matches", "[room_name]") {
  // "*" matches every room.
  CHECK(room_matches("*", "a"));
  CHECK(room_matches("*", "team:eng"));
  CHECK(room_matches("*", std::string(128, 'r')));
  // An exact name matches only itself (case-sensitive, no prefix or suffix).
  CHECK(room_matches("lobby", "lobby"));
  CHECK_FALSE(room_matches("lobby", "Lobby"));
  CHECK_FALSE(room_matches("lobby", "lobby2"));
  CHECK_FALSE(room_matches("lobby", "lobb"));
  CHECK_FALSE(room_matches("lobby2", "lobby"));
  // A prefix pattern matches every room that starts with the prefix, the prefix itself included.
  CHECK(room_matches("team:*", "team:eng"));
  CHECK(room_matches("team:*", "team:"));
  CHECK(room_matches("team:*", "team:eng/backend"));
  CHECK_FALSE(room_matches("team:*", "team"));
  CHECK_FALSE(room_matches("team:*", "teams:eng"));
  CHECK_FALSE(room_matches("team:*", "Team:eng"));
  CHECK_FALSE(room_matches("team:*", "x:team:eng"));
  CHECK(room_matches("a*", "a"));
  CHECK(room_matches("a*", "abc"));
  CHECK_FALSE(room_matches("a*", "ba"));
  const std::string p127(127, 'p');
  CHECK(room_matches(p127 + "*", p127 + "x"));
  CHECK(room_matches(p127 + "*", p127));
  CHECK_FALSE(room_matches(p127 + "*", std::string(126, 'p') + "x"));
  // '*' in a room name is not a wildcard, and an invalid pattern matches nothing.
  CHECK_FALSE(room_matches("a*b", "a*b"));
  CHECK_FALSE(room_matches("a*b", "axb"));
  CHECK_FALSE(room_matches("", "a"));
  CHECK_FALSE(room_matches("**", "a"));
  CHECK_FALSE(room_matches("*a", "ba"));
  CHECK_FALSE(room_matches("te am:*", "te am:x"));
  CHECK_FALSE(room_matches(std::string(128, 'p') + "*", std::string(128, 'p')));
}
