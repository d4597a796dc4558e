#include "proto/room_name.h"

#include <array>

namespace wsg::proto {

namespace {

constexpr std::array<bool, 256> make_room_table() {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : {'.', '_', '@', ':', '/', '-'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kRoomChar = make_room_table();

bool room_chars(std::string_view s) {
  for (char c : s) {
    if (!kRoomChar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace

bool valid_room_name(std::string_view room) {
  return !room.empty() && room.size() <= kMaxRoomNameBytes && room_chars(room);
}

bool valid_room_pattern(std::string_view pattern) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*') {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return prefix.size() < kMaxRoomNameBytes && room_chars(prefix);
  }
  return valid_room_name(pattern);
}

bool room_matches(std::string_view pattern, std::string_view room) {
  if (!valid_room_pattern(pattern)) return false;
  if (pattern.back() == '*') return room.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1);
  return pattern == room;
}

}  // namespace wsg::proto
