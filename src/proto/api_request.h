// The server API's requests and answers (docs/api.md, "Server API"): validation of the JSON bodies
// the application's backend POSTs, and the JSON the API answers with. Pure functions: no I/O, safe
// on any untrusted input (the HTTP side, src/net/api_session, bounds the text's size first).
//
// A publish's body is kept as the exact text the caller wrote (like a client's send, see
// client_protocol.h), so numbers and strings reach the recipients unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/client_protocol.h"

namespace wsg::proto::api {

// The `from` of a publish that names none: what recipients see as the message's `from`.
inline constexpr std::string_view kDefaultFrom = "server";
// A close code of POST /api/disconnect: 4000..4999 (the application's range, RFC 6455 §7.4.2).
inline constexpr uint16_t kDefaultCloseCode = 4000;
// A close reason fits a close frame's 125-byte payload with its 2-byte code.
inline constexpr std::size_t kMaxCloseReasonBytes = 123;

struct Limits {
  std::size_t max_users = 1000;            // api.max_users_per_publish
  std::size_t max_batch = 100;             // api.max_batch
  std::size_t max_body_bytes = 64 * 1024;  // limits.max_message_bytes: one message body's text
};

// A refused request (or batch item): HTTP status 400 or 413, and the JSON error code.
struct Error {
  unsigned status = 400;
  std::string code;  // bad_json, bad_request, too_large
  std::string message;
};

struct Publish {
  enum class Target : uint8_t { user, users, room };
  Target target = Target::user;
  std::vector<std::string> users;  // user: one; users: 1..max_users valid ids, duplicates removed (first kept)
  std::string room;                // room: a valid room name
  std::string body;                // the body's JSON text as written (any value)
  std::optional<std::string> ref;  // the caller's `id`, echoed as `ref`
  std::string from = std::string(kDefaultFrom);
};

using PublishItem = std::variant<Publish, Error>;

struct PublishRequest {
  // A batch (an array posted to /api/publish, or /api/batch's `requests`) is answered with
  // {"results":[...]}, one answer per item in order; an invalid item gets an error object in its
  // place. A single publish is answered with its own answer.
  bool batch = false;
  std::vector<PublishItem> items;
};

// POST /api/publish: an object (one publish) or an array of them (a batch of at most max_batch).
std::variant<PublishRequest, Error> parse_publish(std::string_view text, const Limits& limits);
// POST /api/batch: {"requests": [publish, ...]} (at most max_batch items).
std::variant<PublishRequest, Error> parse_batch(std::string_view text, const Limits& limits);

enum class UserOpKind : uint8_t { disconnect, join, leave };
struct UserOp {
  UserOpKind kind = UserOpKind::disconnect;
  std::string user;
  std::string room;                   // join, leave
  uint16_t code = kDefaultCloseCode;  // disconnect
  std::string reason;                 // disconnect: at most kMaxCloseReasonBytes
};
// POST /api/disconnect {"user","code"?,"reason"?}; /api/rooms/join, /api/rooms/leave {"user","room"}.
std::variant<UserOp, Error> parse_user_op(UserOpKind kind, std::string_view text);

// GET /api/presence?user=U&user=V...: 1..kMaxPresenceUsers valid ids (duplicates removed).
std::variant<std::vector<std::string>, Error> presence_users(const std::vector<std::string>& values);
// GET /api/rooms/R/members?after=&limit=: `after` empty or a valid user id; `limit` empty or
// 1..kMaxMembersLimit.
std::variant<MembersFrame, Error> members_query(std::string_view room, std::string_view after, std::string_view limit);

// ------------------------------------------------------------------------------------------- answers

// {"error":CODE,"message":TEXT}
std::string encode_error(std::string_view code, std::string_view message);

struct UserResult {
  std::string user;
  AckStatus status = AckStatus::failed;
  std::string id;      // the message id (empty: none was assigned)
  std::string reason;  // failed: why
};
struct RoomResult {
  PublishStatus status = PublishStatus::failed;
  uint64_t sessions = 0;
  std::string id;
  std::string reason;
};
// A publish's answer: target user {"ref"?,"user","status","id","reason"?}; users
// {"ref"?,"results":[{"user","status","id","reason"?},...]}; room
// {"ref"?,"room","status","sessions","id","reason"?}.
std::string encode_publish_answer(const Publish& publish, const std::vector<UserResult>& users, const RoomResult& room);
// {"user":U,"status":S,"reason"?:R} (disconnect, join, leave).
std::string encode_user_op_answer(std::string_view user, AckStatus status, std::string_view reason);

}  // namespace wsg::proto::api
