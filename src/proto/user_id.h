// User ids: the one rule for the name a client connects as (docs/protocol.md), shared by the client
// protocol, the cluster codec, the JWT check and the HTTP upgrade.
#pragma once

#include <cstddef>
#include <string_view>

namespace wsg::proto {

inline constexpr std::size_t kMaxUserIdBytes = 128;

// A user id is 1..128 bytes of [A-Za-z0-9._@:-].
bool valid_user_id(std::string_view id);

}  // namespace wsg::proto
