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

#include "proto/user_id.h"

namespace wsg::proto {

inline constexpr std::size_t kMaxClientIdBytes = 64;
inline constexpr std::size_t kMaxPresenceUsers = 100;

enum class ErrorCode {
  bad_json,
  bad_request,
  unknown_type,
  bad_recipient,
  rate_limited,
  too_large,
  binary_unsupported,
  internal,
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
struct DecodeError {
  ErrorCode code;
  std::string message;
  std::optional<std::string> ref;  // the frame's id when it had a valid one
};

using DecodeResult = std::variant<SendFrame, PresenceFrame, PingFrame, DecodeError>;

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

}  // namespace wsg::proto
