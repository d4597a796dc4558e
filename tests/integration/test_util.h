// Catch2-aware helpers shared by the integration test files.
#pragma once

#include <catch2/catch.hpp>

#include "harness.h"

#include <memory>
#include <optional>
#include <set>
#include <string>

namespace wsg::it {

namespace json = boost::json;

// A connected, welcomed session.
struct Session {
  std::unique_ptr<WsClient> ws;
  std::string user;
  std::string session;  // from the welcome
  std::string node;     // from the welcome
  WsClient* operator->() { return ws.get(); }
  WsClient& operator*() { return *ws; }
};

// Connects `target` (default /ws?user=USER) to the node on `port` whose id is `node_id`; requires
// the upgrade and a welcome frame naming the user and the node.
inline Session join_port(uint16_t port, const std::string& user, const std::string& node_id,
                         const std::string& target = "") {
  Session s;
  s.ws = std::make_unique<WsClient>();
  s.user = user;
  const std::string t = target.empty() ? "/ws?user=" + user : target;
  auto r = s.ws->connect(port, t);
  INFO("connecting " << t << " to " << node_id << " (port " << port << "): http " << r.http_status << " " << r.error
                     << " " << r.body);
  REQUIRE(r.connected);
  auto w = s.ws->next();
  REQUIRE(w.has_value());
  INFO("first frame: " << dump(*w));
  REQUIRE(str(*w, "type") == "welcome");
  REQUIRE(str(*w, "user") == user);
  REQUIRE(str(*w, "node") == node_id);
  s.session = str(*w, "session");
  REQUIRE(!s.session.empty());
  s.node = node_id;
  return s;
}

// The same for node `node_index` of a Cluster.
inline Session join(Cluster& c, std::size_t node_index, const std::string& user, const std::string& target = "") {
  return join_port(c.ws_port(node_index), user, c.node_id(node_index), target);
}

// The next frame, required to exist and to be of `type`.
inline json::object expect_frame(WsClient& ws, const std::string& type,
                                 std::chrono::milliseconds timeout = kFrameTimeout) {
  auto f = ws.next(timeout);
  INFO("waiting for a '" << type << "' frame");
  REQUIRE(f.has_value());
  INFO("got: " << dump(*f));
  REQUIRE(str(*f, "type") == type);
  return *f;
}

inline json::object send_frame(const std::string& to, const json::value& body,
                               std::optional<std::string> id = std::nullopt) {
  json::object o{{"type", "send"}, {"to", to}, {"body", body}};
  if (id) o["id"] = *id;
  return o;
}

// Next frame must be an ack for `ref` with `status`; returns it.
inline json::object expect_ack(WsClient& ws, const std::string& ref, const std::string& status,
                               std::chrono::milliseconds timeout = kFrameTimeout) {
  auto a = expect_frame(ws, "ack", timeout);
  INFO("ack: " << dump(a));
  CHECK(str(a, "ref") == ref);
  CHECK(str(a, "status") == status);
  CHECK(!str(a, "id").empty());
  return a;
}

// Next frame must be an error with `code`; `ref` when given, else no ref at all.
inline json::object expect_error(WsClient& ws, const std::string& code, std::optional<std::string> ref,
                                 std::chrono::milliseconds timeout = kFrameTimeout) {
  auto e = expect_frame(ws, "error", timeout);
  INFO("error frame: " << dump(e));
  CHECK(str(e, "code") == code);
  CHECK(e.contains("message"));
  CHECK((e.contains("message") && e.at("message").is_string()));
  if (ref) CHECK(str(e, "ref") == *ref);
  else CHECK(!e.contains("ref"));
  return e;
}

// The connection still works: a ping with `id` is answered by the next frame, a pong.
inline void expect_alive(WsClient& ws, const std::string& id) {
  ws.send_json({{"type", "ping"}, {"id", id}});
  auto p = expect_frame(ws, "pong");
  CHECK(str(p, "ref") == id);
}

// Message frame checks (docs/protocol.md, "message"): fields, body, ts between t0 and t1 (ms) give
// or take 1 s.
inline void check_message(const json::object& m, const std::string& from, const std::string& to,
                          const json::value& body, int64_t t0, int64_t t1) {
  INFO("message: " << dump(m) << " expected body " << dump(body));
  REQUIRE(str(m, "type") == "message");
  CHECK(!str(m, "id").empty());
  CHECK(str(m, "from") == from);
  CHECK(str(m, "to") == to);
  REQUIRE(m.contains("body"));
  CHECK(m.at("body") == body);
  REQUIRE(m.contains("ts"));
  REQUIRE((m.at("ts").is_int64() || m.at("ts").is_uint64()));
  const int64_t ts = num(m, "ts");
  CHECK(ts >= t0 - 1000);
  CHECK(ts <= t1 + 1000);
}

inline int node_sessions(const json::object& status, const std::string& node_id) {
  for (const auto& n : status.at("nodes").as_array())
    if (str(n.as_object(), "id") == node_id) return static_cast<int>(num(n.as_object(), "sessions"));
  return -1;
}

inline const json::object* find_node(const json::object& status, const std::string& node_id) {
  if (!status.contains("nodes") || !status.at("nodes").is_array()) return nullptr;
  for (const auto& n : status.at("nodes").as_array())
    if (n.is_object() && str(n.as_object(), "id") == node_id) return &n.as_object();
  return nullptr;
}

inline int64_t master_count(const json::object& status, const char* key) {
  return num(status.at("master").as_object(), key);
}

}  // namespace wsg::it
