// The server API's requests and answers. See api_request.h.
//
// A request is parsed once into a Boost.JSON tree (bounded nesting, strict JSON, valid UTF-8) for
// its fields; a publish's body is then taken from the text itself (json_member_text), so it is
// forwarded exactly as written.
#include "proto/api_request.h"

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include <boost/json.hpp>

namespace wsg::proto::api {

namespace json = boost::json;

namespace {

// The frame object is depth 1, as for a client frame; a batch adds two levels.
constexpr std::size_t kMaxDepth = 66;

Error bad_json(std::string message) { return Error{400, "bad_json", std::move(message)}; }
Error bad_request(std::string message) { return Error{400, "bad_request", std::move(message)}; }
Error too_large(std::string message) { return Error{413, "too_large", std::move(message)}; }

std::optional<json::value> parse_json(std::string_view text, std::string& why) {
  json::parse_options opt;
  opt.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), opt);
  if (ec) {
    why = ec.message();
    return std::nullopt;
  }
  return v;
}

// A string member: nullopt when absent; `bad` set when present and not a string.
const json::string* string_member(const json::object& o, std::string_view key, bool& bad) {
  const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return nullptr;
  if (!v->is_string()) {
    bad = true;
    return nullptr;
  }
  return &v->get_string();
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

// One publish, from its object and that object's exact text.
PublishItem parse_one(const json::value& value, std::string_view text, const Limits& limits) {
  if (!value.is_object()) return bad_request("a publish must be a JSON object");
  const json::object& o = value.get_object();
  Publish p;
  bool bad = false;

  if (const auto* id = string_member(o, "id", bad)) {
    if (id->size() > kMaxClientIdBytes) bad = true;
    else p.ref = std::string(view(*id));
  }
  if (bad) return bad_request("field 'id' must be a string of at most 64 bytes");

  if (const auto* from = string_member(o, "from", bad)) {
    if (!valid_user_id(view(*from))) bad = true;
    else p.from = std::string(view(*from));
  }
  if (bad) return bad_request("field 'from' must be a valid user id (1-128 bytes of [A-Za-z0-9._@:-])");

  const bool has_to = o.contains("to");
  const bool has_users = o.contains("users");
  const bool has_room = o.contains("room");
  if (int(has_to) + int(has_users) + int(has_room) != 1)
    return bad_request("give exactly one of 'to', 'users' and 'room'");
  if (has_to) {
    const auto* to = string_member(o, "to", bad);
    if (to == nullptr || !valid_user_id(view(*to)))
      return bad_request("field 'to' must be a valid user id (1-128 bytes of [A-Za-z0-9._@:-])");
    p.target = Publish::Target::user;
    p.users.emplace_back(view(*to));
  } else if (has_users) {
    const json::value& users = o.at("users");
    if (!users.is_array() || users.get_array().empty())
      return bad_request("field 'users' must be a non-empty array of user ids");
    const auto& array = users.get_array();
    if (array.size() > limits.max_users)
      return too_large("field 'users' holds " + std::to_string(array.size()) + " users; at most " +
                       std::to_string(limits.max_users) + " (api.max_users_per_publish)");
    p.target = Publish::Target::users;
    std::unordered_set<std::string_view> seen;
    for (std::size_t i = 0; i < array.size(); ++i) {
      const auto& u = array[i];
      if (!u.is_string() || !valid_user_id(view(u.get_string())))
        return bad_request("field 'users': element " + std::to_string(i + 1) + " is not a valid user id");
      if (seen.insert(view(u.get_string())).second) p.users.emplace_back(view(u.get_string()));
    }
  } else {
    const auto* room = string_member(o, "room", bad);
    if (room == nullptr || !valid_room_name(view(*room)))
      return bad_request("field 'room' must be a valid room name (1-128 bytes of [A-Za-z0-9._@:/-])");
    p.target = Publish::Target::room;
    p.room = std::string(view(*room));
  }

  if (!o.contains("body")) return bad_request("missing field 'body'");
  const std::string_view body = json_member_text(text, "body");
  if (body.empty()) return bad_request("missing field 'body'");  // cannot happen on parsed text
  if (body.size() > limits.max_body_bytes)
    return too_large("the body is " + std::to_string(body.size()) + " bytes; at most " +
                     std::to_string(limits.max_body_bytes) + " (limits.max_message_bytes)");
  p.body = std::string(body);
  return p;
}

std::variant<PublishRequest, Error> parse_items(const json::array& array, std::string_view array_text,
                                                const Limits& limits) {
  if (array.empty()) return bad_request("a batch needs at least one item");
  if (array.size() > limits.max_batch)
    return too_large("the batch holds " + std::to_string(array.size()) + " items; at most " +
                     std::to_string(limits.max_batch) + " (api.max_batch)");
  const auto texts = json_array_elements(array_text);
  if (texts.size() != array.size()) return bad_json("unreadable array");  // cannot happen on parsed text
  PublishRequest r;
  r.batch = true;
  r.items.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) r.items.push_back(parse_one(array[i], texts[i], limits));
  return r;
}

}  // namespace

std::variant<PublishRequest, Error> parse_publish(std::string_view text, const Limits& limits) {
  std::string why;
  auto v = parse_json(text, why);
  if (!v) return bad_json("the request body is not valid JSON: " + why);
  if (v->is_array()) return parse_items(v->get_array(), text, limits);
  PublishRequest r;
  r.items.push_back(parse_one(*v, text, limits));
  if (auto* e = std::get_if<Error>(&r.items.front())) return std::move(*e);
  return r;
}

std::variant<PublishRequest, Error> parse_batch(std::string_view text, const Limits& limits) {
  std::string why;
  auto v = parse_json(text, why);
  if (!v) return bad_json("the request body is not valid JSON: " + why);
  if (!v->is_object()) return bad_request("a batch must be a JSON object {\"requests\": [...]}");
  const json::value* requests = v->get_object().if_contains("requests");
  if (requests == nullptr || !requests->is_array())
    return bad_request("field 'requests' must be an array of publishes");
  return parse_items(requests->get_array(), json_member_text(text, "requests"), limits);
}

std::variant<UserOp, Error> parse_user_op(UserOpKind kind, std::string_view text) {
  std::string why;
  auto v = parse_json(text, why);
  if (!v) return bad_json("the request body is not valid JSON: " + why);
  if (!v->is_object()) return bad_request("the request must be a JSON object");
  const json::object& o = v->get_object();
  UserOp op;
  op.kind = kind;
  bool bad = false;
  const auto* user = string_member(o, "user", bad);
  if (user == nullptr || !valid_user_id(view(*user)))
    return bad_request("field 'user' must be a valid user id (1-128 bytes of [A-Za-z0-9._@:-])");
  op.user = std::string(view(*user));
  if (kind == UserOpKind::disconnect) {
    if (const json::value* code = o.if_contains("code")) {
      // (a uint64 is above int64's range, so out of 4000..4999 too)
      const int64_t n = code->is_int64() ? code->get_int64() : -1;
      if (n < 4000 || n > 4999) return bad_request("field 'code' must be an integer in 4000..4999");
      op.code = static_cast<uint16_t>(n);
    }
    if (const auto* reason = string_member(o, "reason", bad)) {
      if (reason->size() > kMaxCloseReasonBytes) bad = true;
      else op.reason = std::string(view(*reason));
    }
    if (bad) return bad_request("field 'reason' must be a string of at most 123 bytes");
  } else {
    const auto* room = string_member(o, "room", bad);
    if (room == nullptr || !valid_room_name(view(*room)))
      return bad_request("field 'room' must be a valid room name (1-128 bytes of [A-Za-z0-9._@:/-])");
    op.room = std::string(view(*room));
  }
  return op;
}

std::variant<std::vector<std::string>, Error> presence_users(const std::vector<std::string>& values) {
  if (values.empty()) return bad_request("give at least one user: ?user=U (repeatable)");
  if (values.size() > kMaxPresenceUsers)
    return too_large("at most " + std::to_string(kMaxPresenceUsers) + " users per presence query");
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;
  for (const auto& u : values) {
    if (!valid_user_id(u)) return bad_request("'" + u.substr(0, 64) + "' is not a valid user id");
    if (seen.insert(u).second) out.push_back(u);
  }
  return out;
}

std::variant<MembersFrame, Error> members_query(std::string_view room, std::string_view after, std::string_view limit) {
  MembersFrame m;
  if (!valid_room_name(room)) return bad_request("not a valid room name (1-128 bytes of [A-Za-z0-9._@:/-])");
  m.room = std::string(room);
  if (!after.empty()) {
    if (!valid_user_id(after)) return bad_request("'after' must be a valid user id");
    m.after = std::string(after);
  }
  if (!limit.empty()) {
    std::size_t n = 0;
    const auto res = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (res.ec != std::errc() || res.ptr != limit.data() + limit.size() || n < 1 || n > kMaxMembersLimit)
      return bad_request("'limit' must be an integer in 1.." + std::to_string(kMaxMembersLimit));
    m.limit = n;
  }
  return m;
}

std::string encode_error(std::string_view code, std::string_view message) {
  json::object o;
  o["error"] = json::string_view(code.data(), code.size());
  o["message"] = json::string_view(message.data(), message.size());
  return json::serialize(o);
}

namespace {

void put_user_result(json::object& o, const UserResult& r) {
  o["user"] = r.user;
  o["status"] = std::string(to_string(r.status));
  if (!r.id.empty()) o["id"] = r.id;
  if (!r.reason.empty()) o["reason"] = r.reason;
}

}  // namespace

std::string encode_publish_answer(const Publish& publish, const std::vector<UserResult>& users,
                                  const RoomResult& room) {
  json::object o;
  if (publish.ref) o["ref"] = *publish.ref;
  switch (publish.target) {
    case Publish::Target::user:
      if (!users.empty()) put_user_result(o, users.front());
      break;
    case Publish::Target::users: {
      json::array results;
      results.reserve(users.size());
      for (const auto& r : users) {
        json::object item;
        put_user_result(item, r);
        results.emplace_back(std::move(item));
      }
      o["results"] = std::move(results);
      break;
    }
    case Publish::Target::room:
      o["room"] = publish.room;
      o["status"] = std::string(to_string(room.status));
      o["sessions"] = room.sessions;
      if (!room.id.empty()) o["id"] = room.id;
      if (!room.reason.empty()) o["reason"] = room.reason;
      break;
  }
  return json::serialize(o);
}

std::string encode_user_op_answer(std::string_view user, AckStatus status, std::string_view reason) {
  json::object o;
  o["user"] = json::string_view(user.data(), user.size());
  o["status"] = std::string(to_string(status));
  if (!reason.empty()) o["reason"] = json::string_view(reason.data(), reason.size());
  return json::serialize(o);
}

}  // namespace wsg::proto::api
