// Client protocol v1 (docs/protocol.md): decoding of client frames and encoding of server frames.
// Pure functions: no I/O, no allocation beyond the results, safe on any untrusted input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "proto/room_name.h"
#include "proto/user_id.h"

namespace wsg::proto {

inline constexpr std::size_t kMaxClientIdBytes = 64;
inline constexpr std::size_t kMaxPresenceUsers = 100;
// A members request's page size: `limit` when given (1..kMaxMembersLimit), else the default.
inline constexpr std::size_t kDefaultMembersLimit = 100;
inline constexpr std::size_t kMaxMembersLimit = 1000;

enum class ErrorCode {
  bad_json,
  bad_request,
  unknown_type,
  bad_recipient,
  rate_limited,
  too_large,
  binary_unsupported,
  internal,
  // Rooms (docs/protocol.md, "Rooms"):
  bad_room,        // a room name that breaks the room-name rule
  too_many_rooms,  // a join past rooms.max_per_session
  not_allowed,     // a join or publish the JWT `rooms` claim does not allow
  not_joined,      // a publish to a room the session is not in (rooms.publish_requires_join)
  room_full,       // a join past rooms.max_members on this node
};
std::string_view to_string(ErrorCode code);

enum class AckStatus { delivered, offline, failed };
std::string_view to_string(AckStatus status);

struct SendFrame {
  std::string to;
  std::string body;  // the body's JSON text exactly as the client wrote it (any value)
  std::optional<std::string> id;
};
struct PresenceFrame {
  std::vector<std::string> users;  // each a valid user id, at most kMaxPresenceUsers
  std::optional<std::string> id;
};
struct PingFrame {
  std::optional<std::string> id;
};
// Rooms (docs/protocol.md, "Rooms"). Every `room` is a valid room name (valid_room_name).
struct JoinFrame {
  std::string room;
  bool echo = false;     // the session's own publishes to the room come back to it
  bool notices = false;  // the session gets a notice when another session joins or leaves the room
  std::optional<std::string> id;
};
struct LeaveFrame {
  std::string room;
  std::optional<std::string> id;
};
struct PublishFrame {
  std::string room;
  std::string body;  // the body's JSON text exactly as the client wrote it (any value), as in SendFrame
  std::optional<std::string> id;
};
struct MembersFrame {
  std::string room;
  std::string after;                         // a valid user id: the page starts after it; empty = from the start
  std::size_t limit = kDefaultMembersLimit;  // 1..kMaxMembersLimit
  std::optional<std::string> id;
};
struct DecodeError {
  ErrorCode code;
  std::string message;
  std::optional<std::string> ref;  // the frame's id when it had a valid one
};

using DecodeResult =
    std::variant<SendFrame, PresenceFrame, PingFrame, JoinFrame, LeaveFrame, PublishFrame, MembersFrame, DecodeError>;

// The outcome of a publish, for its ack: delivered to at least one session, to none (the room had
// no member session to deliver to), or not confirmed by every node (`reason` says why).
enum class PublishStatus { delivered, no_members, failed };
std::string_view to_string(PublishStatus status);

// Decodes one text frame. Never throws; every refusal is a DecodeError with its code
// (docs/protocol.md, "Error codes").
DecodeResult decode_client_frame(std::string_view text);

// Server -> client frames, each a compact JSON object. `body` is JSON text written verbatim.
std::string encode_welcome(std::string_view user, std::string_view session, std::string_view node);
std::string encode_message(std::string_view id, std::string_view from, std::string_view to, std::string_view body,
                           int64_t ts_ms);
// `reason` (failed acks only, empty = none): why the node could not confirm delivery; a short
// token from docs/protocol.md's ack table (timeout, node_down, master_unreachable, overloaded).
std::string encode_ack(std::string_view ref, std::string_view id, AckStatus status, std::string_view reason = {});
std::string encode_presence(const std::optional<std::string>& ref,
                            const std::vector<std::pair<std::string, bool>>& users);
std::string encode_pong(const std::optional<std::string>& ref);
std::string encode_error(ErrorCode code, std::string_view message, const std::optional<std::string>& ref);

// Rooms.
// {"type":"ack","ref":REF,"status":STATUS,"room":ROOM}, STATUS "joined" or "left".
std::string encode_room_ack(std::string_view ref, std::string_view status, std::string_view room);
// {"type":STATUS,"room":ROOM,"by":"server"}, STATUS "joined" or "left": the server API made the
// session join or leave the room (docs/protocol.md, "Rooms").
std::string encode_room_by_server(std::string_view status, std::string_view room);
// {"type":"ack","ref":REF,"id":ID,"status":STATUS,"room":ROOM,"sessions":N}, plus "reason" when
// `reason` is not empty (as in encode_ack).
std::string encode_publish_ack(std::string_view ref, std::string_view id, std::string_view room, PublishStatus status,
                               uint64_t sessions, std::string_view reason = {});
// {"type":"message","room":ROOM,"id":ID,"from":FROM,"body":BODY,"ts":TS}; an empty body is written
// as null, as in encode_message.
std::string encode_room_message(std::string_view room, std::string_view id, std::string_view from,
                                std::string_view body, int64_t ts_ms);
// {"type":"notice","room":ROOM,"event":EVENT,"user":USER,"ts":TS}, EVENT "join" or "leave".
std::string encode_room_notice(std::string_view room, std::string_view event, std::string_view user, int64_t ts_ms);
// {"type":"members","ref":REF,"room":ROOM,"users":[...],"next":NEXT,"partial":true}: `ref` only
// when given, `next` only when not empty, `partial` only when true.
std::string encode_members(const std::optional<std::string>& ref, std::string_view room,
                           const std::vector<std::string>& users, std::string_view next, bool partial);

}  // namespace wsg::proto
