// Webhook events (docs/api.md, "Webhooks"): what the master and the nodes tell the application's
// HTTP endpoint, their JSON form, a batch's body and its signature. No I/O: the sender is
// src/net/webhook_sender.*, the queue and retry policy src/proto/webhook_queue.*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsg::webhook {

enum class EventKind : uint8_t { user_online, user_offline, room_occupied, room_vacated, message_undelivered };
inline constexpr std::size_t kEventKindCount = 5;

// "user.online", "user.offline", "room.occupied", "room.vacated", "message.undelivered".
std::string_view to_string(EventKind kind);
// The kind named `name` (as to_string writes it); nullopt for any other name.
std::optional<EventKind> event_kind(std::string_view name);
// Every name, in enum order, comma-separated (for error messages and docs).
std::string event_names();

// One event. Which fields it carries depends on its kind (docs/api.md lists them); an empty string
// field is left out of the JSON.
struct Event {
  EventKind kind = EventKind::user_online;
  std::string id;       // unique in the cluster (set by the sender): for receivers that drop duplicates
  int64_t ts_ms = 0;    // when it happened: milliseconds since the Unix epoch
  std::string user;     // user.*
  std::string room;     // room.*
  std::string node;     // the node whose session or membership made the change; the sender's node
  std::string session;  // user.*: the session that opened first / closed last ("" after a node death)
  std::string
      reason;  // user.offline, room.vacated: "closed"/"left" or "node_down"; message.undelivered: the ack's reason
  std::string status;  // message.undelivered: "offline" or "failed"
  // message.undelivered: the message, as its recipient would have had it
  std::string message_id;
  std::string from;
  std::string to;
  std::string body;  // JSON text, as the client sent it (copied unparsed)
  int64_t message_ts_ms = 0;
  int64_t queued_ms = 0;  // steady clock, when the sender queued it (not sent)

  // Bytes the event holds, roughly (for the queue's byte bound).
  std::size_t weight() const;
};

// Appends the event as one JSON object.
void append_json(std::string& out, const Event& event);
// A request body: the events as one JSON array, in order.
std::string encode_batch(const std::vector<Event>& events);

// The X-Wsg-Signature header's value: lower-case hex of HMAC-SHA256 keyed with `secret` over
// `timestamp` + "." + `body` (`timestamp` is the X-Wsg-Timestamp header's value, Unix seconds).
std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body);

}  // namespace wsg::webhook
