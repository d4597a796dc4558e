// libFuzzer target: the client frame decoder (docs/protocol.md) and the encoders' string escaping.
//
// Every input is decoded with decode_client_frame() and, independently, with json::parse into a
// tree on which the frame rules are applied again (reference() below). The two must agree on the
// outcome: the error code and ref of a refusal, or the frame's fields (a send body must be the
// verbatim text of the body member: valid JSON equal to the tree's value, no surrounding
// whitespace, a slice of the input). The input is also used as a string field of encoded frames,
// which must always be valid JSON and carry the string unchanged when it is valid UTF-8.
#include "proto/client_protocol.h"

#include <boost/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace json = boost::json;
using namespace wsg::proto;

#define FUZZ_CHECK(cond)                                                                                   \
  do {                                                                                                     \
    if (!(cond)) {                                                                                         \
      std::fprintf(stderr, "fuzz_client_protocol: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                                        \
    }                                                                                                      \
  } while (0)

namespace {

// The decoder's parse options (client_protocol.cpp): strict JSON, nesting at most 64.
json::parse_options frame_options() {
  json::parse_options opts;
  opts.max_depth = 64;
  opts.allow_comments = false;
  opts.allow_trailing_commas = false;
  opts.allow_invalid_utf8 = false;
  return opts;
}

std::optional<json::value> parse(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec, {}, frame_options());
  if (ec) return std::nullopt;
  return v;
}

// Written from docs/protocol.md ("Identity"), not shared with the decoder: 1..128 bytes of
// [A-Za-z0-9._@:-].
bool user_id_ok(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '@' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Written from docs/protocol.md ("Room names"), not shared with the decoder: 1..128 bytes of
// [A-Za-z0-9._@:/-].
bool room_ok(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (c != '/' && !user_id_ok(std::string_view(&c, 1))) return false;
  }
  return true;
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t more = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      more = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      more = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      more = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= more) return false;
    for (std::size_t k = 1; k <= more; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += more + 1;
  }
  return true;
}

bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Equality of two JSON values where a number the parser turned into NaN (Boost.JSON 1.81 reads
// `-0e+315` that way) equals itself: the oracle compares what was parsed twice from the same
// text, and NaN != NaN would call that a mismatch (a finding of 2026-12-05, now in the corpus).
bool same_value(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    return x == y || (std::isnan(x) && std::isnan(y));
  }
  if (a.is_array() && b.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same_value(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object() && b.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const json::value* other = y.if_contains(kv.key());
      if (!other || !same_value(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// What the decoder must answer, from the frame rules applied to json::parse's tree.
struct Expected {
  std::optional<ErrorCode> code;   // a refusal, or nullopt for a frame
  std::optional<std::string> ref;  // a refusal's ref, or the frame's id
  std::string type;
  std::string to;
  const json::value* body = nullptr;
  std::vector<std::string> users;
  // Rooms:
  std::string room;
  bool echo = false, notices = false;
  std::string after;
  std::size_t limit = 100;
};

Expected refuse(ErrorCode code, std::optional<std::string> ref = std::nullopt) {
  Expected e;
  e.code = code;
  e.ref = std::move(ref);
  return e;
}

Expected reference(const std::optional<json::value>& root) {
  if (!root) return refuse(ErrorCode::bad_json);
  if (!root->is_object()) return refuse(ErrorCode::bad_request);
  const json::object& o = root->as_object();

  std::optional<std::string> id;
  bool id_invalid = false;
  if (const json::value* v = o.if_contains("id")) {
    if (v->is_string() && v->as_string().size() <= 64) {
      id = std::string(v->as_string());
    } else {
      id_invalid = true;
    }
  }
  const json::value* type = o.if_contains("type");
  if (type == nullptr || !type->is_string()) return refuse(ErrorCode::bad_request, id);
  const std::string t(type->as_string());
  const bool room_type = t == "join" || t == "leave" || t == "publish" || t == "members";
  if (t != "send" && t != "presence" && t != "ping" && !room_type) return refuse(ErrorCode::unknown_type, id);
  if (id_invalid) return refuse(ErrorCode::bad_request);

  Expected e;
  e.type = t;
  e.ref = id;
  if (t == "send") {
    const json::value* to = o.if_contains("to");
    if (to == nullptr || !to->is_string()) return refuse(ErrorCode::bad_request, id);
    e.body = o.if_contains("body");
    if (e.body == nullptr) return refuse(ErrorCode::bad_request, id);
    e.to = std::string(to->as_string());
    if (!user_id_ok(e.to)) return refuse(ErrorCode::bad_recipient, id);
  } else if (room_type) {
    const json::value* room = o.if_contains("room");
    if (room == nullptr || !room->is_string()) return refuse(ErrorCode::bad_request, id);
    e.room = std::string(room->as_string());
    if (!room_ok(e.room)) return refuse(ErrorCode::bad_room, id);
    if (t == "join") {
      const json::value* echo = o.if_contains("echo");
      if (echo != nullptr && !echo->is_bool()) return refuse(ErrorCode::bad_request, id);
      const json::value* notices = o.if_contains("notices");
      if (notices != nullptr && !notices->is_bool()) return refuse(ErrorCode::bad_request, id);
      e.echo = echo != nullptr && echo->as_bool();
      e.notices = notices != nullptr && notices->as_bool();
    } else if (t == "publish") {
      e.body = o.if_contains("body");
      if (e.body == nullptr) return refuse(ErrorCode::bad_request, id);
    } else if (t == "members") {
      if (const json::value* after = o.if_contains("after")) {
        if (!after->is_string() || !user_id_ok(after->as_string())) return refuse(ErrorCode::bad_request, id);
        e.after = std::string(after->as_string());
      }
      if (const json::value* limit = o.if_contains("limit")) {
        // An integer (not 1.0, not 5e2) from 1 to 1000.
        const bool in_range = (limit->is_int64() && limit->as_int64() >= 1 && limit->as_int64() <= 1000) ||
                              (limit->is_uint64() && limit->as_uint64() >= 1 && limit->as_uint64() <= 1000);
        if (!in_range) return refuse(ErrorCode::bad_request, id);
        e.limit = static_cast<std::size_t>(limit->to_number<std::int64_t>());
      }
    }
  } else if (t == "presence") {
    const json::value* users = o.if_contains("users");
    if (users == nullptr || !users->is_array()) return refuse(ErrorCode::bad_request, id);
    const json::array& a = users->as_array();
    if (a.size() > 100) return refuse(ErrorCode::bad_request, id);
    for (const json::value& u : a)
      if (!u.is_string()) return refuse(ErrorCode::bad_request, id);
    for (const json::value& u : a) {
      const std::string name(u.as_string());
      if (!user_id_ok(name)) return refuse(ErrorCode::bad_recipient, id);
      bool seen = false;
      for (const auto& prev : e.users) seen = seen || prev == name;
      if (!seen) e.users.push_back(name);
    }
  }
  return e;
}

// An encoded frame: valid JSON, an object, with the expected "type".
json::object parse_encoded(const std::string& frame, std::string_view type) {
  auto v = parse(frame);
  FUZZ_CHECK(v.has_value());
  FUZZ_CHECK(v->is_object());
  const json::value* t = v->as_object().if_contains("type");
  FUZZ_CHECK(t != nullptr && t->is_string() && t->as_string() == type);
  return std::move(v->as_object());
}

// The input as a string field of an encoded frame: escaped into valid JSON, unchanged when it is
// valid UTF-8 (else each invalid byte becomes U+FFFD, so it cannot come back equal).
void check_escaping(std::string_view text) {
  const std::string s(text);
  const json::object pong = parse_encoded(encode_pong(s), "pong");
  const json::value* ref = pong.if_contains("ref");
  FUZZ_CHECK(ref != nullptr && ref->is_string());
  FUZZ_CHECK((ref->as_string() == text) == valid_utf8(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const DecodeResult got = decode_client_frame(text);
  const std::optional<json::value> tree = parse(text);
  const Expected want = reference(tree);

  if (const auto* err = std::get_if<DecodeError>(&got)) {
    FUZZ_CHECK(err->code != ErrorCode::internal);
    FUZZ_CHECK(want.code.has_value() && *want.code == err->code);
    FUZZ_CHECK(err->ref == want.ref);
    FUZZ_CHECK(!err->message.empty());
    const json::object frame = parse_encoded(encode_error(err->code, err->message, err->ref), "error");
    FUZZ_CHECK(frame.at("code").as_string() == to_string(err->code));
  } else {
    FUZZ_CHECK(!want.code.has_value());
  }

  if (const auto* send = std::get_if<SendFrame>(&got)) {
    FUZZ_CHECK(want.type == "send");
    FUZZ_CHECK(send->id == want.ref);
    FUZZ_CHECK(send->to == want.to);
    // The body: the verbatim text of the body member, a slice of the input.
    const std::string& body = send->body;
    FUZZ_CHECK(!body.empty());
    FUZZ_CHECK(!is_json_ws(body.front()) && !is_json_ws(body.back()));
    FUZZ_CHECK(text.find(body) != std::string_view::npos);
    const auto parsed_body = parse(body);
    FUZZ_CHECK(parsed_body.has_value());
    FUZZ_CHECK(want.body != nullptr && same_value(*parsed_body, *want.body));
    // Forwarded verbatim inside a message frame, it is still the same value.
    const json::object message = parse_encoded(encode_message("m1", "alice", send->to, body, 1700000000000), "message");
    FUZZ_CHECK(same_value(message.at("body"), *want.body));
    FUZZ_CHECK(message.at("to").as_string() == send->to);
  } else if (const auto* presence = std::get_if<PresenceFrame>(&got)) {
    FUZZ_CHECK(want.type == "presence");
    FUZZ_CHECK(presence->id == want.ref);
    FUZZ_CHECK(presence->users == want.users);
    std::vector<std::pair<std::string, bool>> answer;
    for (const auto& u : presence->users) answer.emplace_back(u, u.size() % 2 == 0);
    const json::object frame = parse_encoded(encode_presence(presence->id, answer), "presence");
    FUZZ_CHECK(frame.at("users").as_object().size() == presence->users.size());
  } else if (const auto* ping = std::get_if<PingFrame>(&got)) {
    FUZZ_CHECK(want.type == "ping");
    FUZZ_CHECK(ping->id == want.ref);
    parse_encoded(encode_pong(ping->id), "pong");
  }

  if (const auto* join = std::get_if<JoinFrame>(&got)) {
    FUZZ_CHECK(want.type == "join");
    FUZZ_CHECK(join->id == want.ref);
    FUZZ_CHECK(join->room == want.room && join->echo == want.echo && join->notices == want.notices);
    if (join->id) parse_encoded(encode_room_ack(*join->id, "joined", join->room), "ack");
  } else if (const auto* leave = std::get_if<LeaveFrame>(&got)) {
    FUZZ_CHECK(want.type == "leave");
    FUZZ_CHECK(leave->id == want.ref);
    FUZZ_CHECK(leave->room == want.room);
  } else if (const auto* publish = std::get_if<PublishFrame>(&got)) {
    FUZZ_CHECK(want.type == "publish");
    FUZZ_CHECK(publish->id == want.ref);
    FUZZ_CHECK(publish->room == want.room);
    const std::string& body = publish->body;
    FUZZ_CHECK(!body.empty());
    FUZZ_CHECK(!is_json_ws(body.front()) && !is_json_ws(body.back()));
    FUZZ_CHECK(text.find(body) != std::string_view::npos);
    const auto parsed_body = parse(body);
    FUZZ_CHECK(parsed_body.has_value());
    FUZZ_CHECK(want.body != nullptr && same_value(*parsed_body, *want.body));
    const json::object message =
        parse_encoded(encode_room_message(publish->room, "m1", "alice", body, 1700000000000), "message");
    FUZZ_CHECK(same_value(message.at("body"), *want.body));
    FUZZ_CHECK(message.at("room").as_string() == publish->room);
  } else if (const auto* members = std::get_if<MembersFrame>(&got)) {
    FUZZ_CHECK(want.type == "members");
    FUZZ_CHECK(members->id == want.ref);
    FUZZ_CHECK(members->room == want.room && members->after == want.after && members->limit == want.limit);
    const json::object frame =
        parse_encoded(encode_members(members->id, members->room, {members->after}, members->after, true), "members");
    FUZZ_CHECK(frame.at("room").as_string() == members->room);
  }

  check_escaping(text);
  return 0;
}
