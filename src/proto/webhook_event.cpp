#include "proto/webhook_event.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "text/text_quote.h"

namespace wsg::webhook {

namespace {

constexpr std::array<std::string_view, kEventKindCount> kNames = {"user.online", "user.offline", "room.occupied",
                                                                  "room.vacated", "message.undelivered"};

void field(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += ",\"";
  out += name;
  out += "\":\"";
  text::append_json_escaped(out, value);
  out += '"';
}

void number(std::string& out, std::string_view name, int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

std::string_view to_string(EventKind kind) { return kNames[static_cast<std::size_t>(kind)]; }

std::optional<EventKind> event_kind(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<EventKind>(i);
  return std::nullopt;
}

std::string event_names() {
  std::string out;
  for (auto n : kNames) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::size_t Event::weight() const {
  return 96 + id.size() + user.size() + room.size() + node.size() + session.size() + reason.size() + status.size() +
         message_id.size() + from.size() + to.size() + body.size();
}

void append_json(std::string& out, const Event& e) {
  out += "{\"event\":\"";
  out += to_string(e.kind);
  out += '"';
  field(out, "id", e.id);
  number(out, "ts", e.ts_ms);
  switch (e.kind) {
    case EventKind::user_online:
    case EventKind::user_offline:
      field(out, "user", e.user);
      field(out, "node", e.node);
      field(out, "session", e.session);
      field(out, "reason", e.reason);
      break;
    case EventKind::room_occupied:
    case EventKind::room_vacated:
      field(out, "room", e.room);
      field(out, "node", e.node);
      field(out, "reason", e.reason);
      break;
    case EventKind::message_undelivered:
      field(out, "node", e.node);
      field(out, "status", e.status);
      field(out, "reason", e.reason);
      out += ",\"message\":{\"id\":\"";
      text::append_json_escaped(out, e.message_id);
      out += "\",\"from\":\"";
      text::append_json_escaped(out, e.from);
      out += "\",\"to\":\"";
      text::append_json_escaped(out, e.to);
      out += "\",\"ts\":";
      out += std::to_string(e.message_ts_ms);
      // The body is JSON already (the client's decoder checked it): copied as it is.
      out += ",\"body\":";
      out += e.body.empty() ? std::string_view("null") : std::string_view(e.body);
      out += '}';
      break;
  }
  out += '}';
}

std::string encode_batch(const std::vector<Event>& events) {
  std::string out = "[";
  for (const auto& e : events) {
    if (out.size() > 1) out += ',';
    append_json(out, e);
  }
  out += ']';
  return out;
}

std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string data;
  data.reserve(timestamp.size() + 1 + body.size());
  data.append(timestamp);
  data += '.';
  data.append(body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(secret.data());
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), md, &len) == nullptr) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xf];
  }
  return hex;
}

}  // namespace wsg::webhook
