// Room names and room patterns: the one rule for the name of a room (docs/protocol.md, "Rooms"),
// shared by the client protocol, the cluster codec and the JWT claims check.
#pragma once

#include <cstddef>
#include <string_view>

namespace wsg::proto {

inline constexpr std::size_t kMaxRoomNameBytes = 128;

// A room name is 1..128 bytes of [A-Za-z0-9._@:/-].
bool valid_room_name(std::string_view room);

// A pattern of the JWT `rooms` claim: a room name (exact match), or a room-name prefix followed by
// one `*` at the end ("team:*" matches every room starting with "team:"), or "*" alone (every room).
bool valid_room_pattern(std::string_view pattern);
// Whether `room` (a valid name) matches `pattern` (valid_room_pattern; an invalid one matches nothing).
bool room_matches(std::string_view pattern, std::string_view room);

}  // namespace wsg::proto
