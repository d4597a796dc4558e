// Webhooks without I/O: event encoding, the signature, the queue's bounds, the verdicts and the
// back-off (src/proto/webhook_event.*, src/proto/webhook_queue.*), the URL rule and the
// [webhooks] configuration keys.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "config/config.h"
#include "proto/webhook_event.h"
#include "proto/webhook_queue.h"
#include "text/http_url.h"

using namespace wsg;
using namespace wsg::webhook;

namespace {

Event user_event(const std::string& user, std::size_t pad = 0) {
  Event e;
  e.kind = EventKind::user_online;
  e.ts_ms = 1700000000123;
  e.user = user;
  e.node = "n1";
  e.session = std::string(pad, 's');
  return e;
}

}  // namespace

TEST_CASE("webhook events: names round-trip and match the configuration's list", "[webhook]") {
  for (std::size_t i = 0; i < kEventKindCount; ++i) {
    const auto kind = static_cast<EventKind>(i);
    REQUIRE(event_kind(to_string(kind)) == kind);
    // config.cpp keeps its own copy of the names: every one must be accepted there.
    auto c = Config::parse("[webhooks]\nevents = [\"" + std::string(to_string(kind)) + "\"]\n", "t.toml");
    CHECK(c.webhooks.events.size() == 1);
  }
  CHECK_FALSE(event_kind("user.away"));
}

TEST_CASE("webhook events: JSON of every kind", "[webhook]") {
  Event on = user_event("al\"ice");
  on.id = "e1";
  on.session = "s1";
  CHECK(encode_batch({on}) ==
        R"([{"event":"user.online","id":"e1","ts":1700000000123,"user":"al\"ice","node":"n1","session":"s1"}])");

  Event off = user_event("bob");
  off.kind = EventKind::user_offline;
  off.reason = "node_down";
  Event room;
  room.kind = EventKind::room_vacated;
  room.ts_ms = 5;
  room.room = "lobby";
  room.node = "n2";
  room.reason = "left";
  Event und;
  und.kind = EventKind::message_undelivered;
  und.ts_ms = 7;
  und.node = "n1";
  und.status = "offline";
  und.message_id = "ab-1";
  und.from = "alice";
  und.to = "bob";
  und.body = R"({"text":"hi"})";
  und.message_ts_ms = 6;
  const std::string body = encode_batch({off, room, und});
  auto v = boost::json::parse(body);  // valid JSON
  REQUIRE(v.as_array().size() == 3);
  CHECK(v.as_array()[0].as_object().at("reason") == "node_down");
  CHECK_FALSE(v.as_array()[0].as_object().contains("session"));
  CHECK(v.as_array()[1].as_object().at("room") == "lobby");
  const auto& u = v.as_array()[2].as_object();
  CHECK(u.at("event") == "message.undelivered");
  CHECK(u.at("status") == "offline");
  CHECK_FALSE(u.contains("reason"));
  CHECK(u.at("message").as_object().at("body").as_object().at("text") == "hi");
  CHECK(u.at("message").as_object().at("to") == "bob");
  CHECK(u.at("message").as_object().at("ts") == 6);
  CHECK(encode_batch({}) == "[]");
}

TEST_CASE("webhook signature: HMAC-SHA256 hex over TIMESTAMP.BODY (known answer)", "[webhook]") {
  // python3: hmac.new(b'key', b'1700000000.[{"event":"user.online"}]', hashlib.sha256).hexdigest()
  CHECK(sign("key", "1700000000", R"([{"event":"user.online"}])") ==
        "87e713d9d4011ec5b03bf92c5fab11768ba301f129dec6418ce7cd537a1b6142");
  CHECK(sign("key", "1700000001", R"([{"event":"user.online"}])") !=
        "87e713d9d4011ec5b03bf92c5fab11768ba301f129dec6418ce7cd537a1b6142");
}

TEST_CASE("webhook queue: drops the oldest past its bounds, batches in order", "[webhook]") {
  EventQueue q(3, 1 << 20);
  CHECK(q.push(user_event("a")) == 0);
  CHECK(q.push(user_event("b")) == 0);
  CHECK(q.push(user_event("c")) == 0);
  CHECK(q.push(user_event("d")) == 1);  // "a" goes
  REQUIRE(q.size() == 3);
  CHECK(q.front().user == "b");
  auto batch = q.take(2, 1 << 20);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].user == "b");
  CHECK(batch[1].user == "c");
  // Two more arrive while the batch is out; it fails and comes back in front: the oldest go.
  q.push(user_event("e"));
  q.push(user_event("f"));
  CHECK(q.put_back(std::move(batch)) == 2);
  REQUIRE(q.size() == 3);
  CHECK(q.take(10, 1 << 20).front().user == "d");

  SECTION("the byte bound") {
    EventQueue small(100, 1000);
    for (int i = 0; i < 5; ++i) small.push(user_event(std::to_string(i), 300));
    CHECK(small.bytes() <= 1000);
    CHECK(small.front().user == "3");
    // A batch is cut by bytes, but the first event always goes.
    CHECK(small.take(10, 10).size() == 1);
    // One event larger than the bound stays alone.
    CHECK(small.push(user_event("big", 5000)) == 1);
    CHECK(small.size() == 1);
  }
}

TEST_CASE("webhook verdicts and back-off bounds", "[webhook]") {
  CHECK(judge(200) == Verdict::sent);
  CHECK(judge(204) == Verdict::sent);
  CHECK(judge(500) == Verdict::retry);
  CHECK(judge(503) == Verdict::retry);
  CHECK(judge(408) == Verdict::retry);
  CHECK(judge(429) == Verdict::retry);
  CHECK(judge(400) == Verdict::drop);
  CHECK(judge(401) == Verdict::drop);
  CHECK(judge(301) == Verdict::drop);
  for (uint64_t r : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, ~uint64_t{0}}) {
    for (unsigned attempt = 1; attempt < 40; ++attempt) {
      const int64_t d = std::min<int64_t>(30000, 500LL << std::min(attempt - 1, 20u));
      const int64_t b = backoff_ms(attempt, 500, 30000, r);
      INFO("attempt " << attempt << " random " << r);
      CHECK(b >= d / 2);
      CHECK(b <= d);
    }
  }
  CHECK(backoff_ms(1, 500, 30000, 0) == 250);
  CHECK(backoff_ms(3, 500, 30000, ~uint64_t{0}) <= 2000);
  CHECK(backoff_ms(1, 1, 1, 0) >= 1);
}

TEST_CASE("webhook URL and configuration keys", "[webhook][config]") {
  std::string why;
  auto u = parse_http_url("http://127.0.0.1:8099/hooks?x=1", why);
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8099);
  CHECK(u->target == "/hooks?x=1");
  u = parse_http_url("http://example.com", why);
  REQUIRE(u);
  CHECK(u->port == 80);
  CHECK(u->target == "/");
  CHECK(u->host_header == "example.com");
  CHECK_FALSE(u->tls);
  // https://: default port 443, the same host and target rules.
  u = parse_http_url("https://example.com", why);
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "example.com");
  CHECK(u->port == 443);
  CHECK(u->target == "/");
  CHECK(u->host_header == "example.com");
  u = parse_http_url("https://[::1]:8443/in?a=b", why);
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "::1");
  CHECK(u->port == 8443);
  CHECK(u->target == "/in?a=b");
  CHECK(u->host_header == "[::1]:8443");
  u = parse_http_url("https://127.0.0.1?x", why);
  REQUIRE(u);
  CHECK(u->port == 443);
  CHECK(u->target == "/?x");
  CHECK_FALSE(parse_http_url("https://", why));
  CHECK(why.find("no host") != std::string::npos);
  CHECK_FALSE(parse_http_url("https://u@h/", why));
  CHECK_FALSE(parse_http_url("https://h/#f", why));
  CHECK_FALSE(parse_http_url("https://h:0/", why));
  CHECK_FALSE(parse_http_url("HTTPS://h/", why));
  CHECK_FALSE(parse_http_url("ftp://x/", why));
  CHECK_FALSE(parse_http_url("http://:80/", why));
  CHECK_FALSE(parse_http_url("http://h:99999/", why));

  const auto error_of = [](const std::string& toml) {
    try {
      Config::parse(toml, "w.toml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of("[webhooks]\nurl = \"ftp://h/\"\nsecret = \"s\"\n").find("key 'webhooks.url'") != std::string::npos);
  CHECK(error_of("[webhooks]\nurl = \"https://h/\"\nsecret = \"s\"\n").empty());
  CHECK(error_of("[webhooks]\nurl = \"http://h/\"\nsecret = \"s\"\nca_file = \"ca.pem\"\n").find("https://") !=
        std::string::npos);
  CHECK(error_of("[webhooks]\nurl = \"http://h/\"\n").find("needs webhooks.secret") != std::string::npos);
  CHECK(error_of("[webhooks]\nevents = [\"user.away\"]\n").find("unknown event 'user.away'") != std::string::npos);
  CHECK(error_of("[webhooks]\nbatch_max = 0\n").find("key 'webhooks.batch_max'") != std::string::npos);
  CHECK(error_of("[webhooks]\nsecret = \"a\"\nsecret_file = \"f\"\n").find("set only one") != std::string::npos);
  CHECK(error_of("[webhooks]\nretry_initial_ms = 100\nretry_max_ms = 50\n").find("retry_max_ms") != std::string::npos);
  auto c = Config::parse("[webhooks]\nurl = \"http://127.0.0.1:1/h\"\nsecret = \"s3cret\"\n", "w.toml");
  CHECK(c.webhooks.batch_max == 100);
  CHECK(c.to_toml().find("s3cret") == std::string::npos);  // redacted
  CHECK(c.webhooks.ca_file.empty());
  c = Config::parse("[webhooks]\nurl = \"https://127.0.0.1:1/h\"\nsecret = \"s\"\nca_file = \"/x/ca.pem\"\n", "w.toml");
  CHECK(c.webhooks.ca_file == "/x/ca.pem");
}
