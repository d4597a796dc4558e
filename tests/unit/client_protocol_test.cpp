// Unit tests for the client protocol codec (docs/protocol.md).
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <variant>

#include "proto/client_protocol.h"

namespace json = boost::json;
using namespace wsg::proto;

namespace {

template <class T>
T expect(const DecodeResult& r) {
  if (const auto* e = std::get_if<DecodeError>(&r)) {
    if constexpr (!std::is_same_v<T, DecodeError>) {
      FAIL("unexpected DecodeError " << to_string(e->code) << ": " << e->message);
    }
  }
  REQUIRE(std::holds_alternative<T>(r));
  return std::get<T>(r);
}

DecodeError expect_error(const DecodeResult& r, ErrorCode code) {
  REQUIRE(std::holds_alternative<DecodeError>(r));
  const auto& e = std::get<DecodeError>(r);
  INFO("got " << to_string(e.code) << ": " << e.message);
  CHECK(e.code == code);
  CHECK_FALSE(e.message.empty());
  return e;
}

json::object parse_object(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  INFO(text);
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::set<std::string> keys_of(const json::object& o) {
  std::set<std::string> k;
  for (const auto& kv : o) k.emplace(kv.key());
  return k;
}

std::string str(const json::value& v) {
  REQUIRE(v.is_string());
  return std::string(v.as_string().data(), v.as_string().size());
}

std::string ids(std::size_t n, char c = 'a') { return std::string(n, c); }

}  // namespace

// ------------------------------------------------------------------------------------------------
// Decoding: valid frames

TEST_CASE("decode send with id", "[client_protocol]") {
  auto r = decode_client_frame(R"({"type":"send","to":"bob","body":{"text":"hi"},"id":"c1"})");
  const auto& f = expect<SendFrame>(r);
  CHECK(f.to == "bob");
  CHECK(f.body == R"({"text":"hi"})");
  REQUIRE(f.id);
  CHECK(*f.id == "c1");
}

TEST_CASE("decode send without id", "[client_protocol]") {
  const auto& f = expect<SendFrame>(decode_client_frame(R"({"type":"send","to":"bob","body":"x"})"));
  CHECK(f.to == "bob");
  CHECK(f.body == R"("x")");
  CHECK_FALSE(f.id);
}

TEST_CASE("decode presence", "[client_protocol]") {
  auto r = decode_client_frame(R"({"type":"presence","users":["bob","carol"],"id":"q1"})");
  const auto& f = expect<PresenceFrame>(r);
  CHECK(f.users == std::vector<std::string>{"bob", "carol"});
  REQUIRE(f.id);
  CHECK(*f.id == "q1");

  const auto& empty = expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":[]})"));
  CHECK(empty.users.empty());
  CHECK_FALSE(empty.id);
}

TEST_CASE("decode presence drops duplicate names, keeping first-seen order", "[client_protocol]") {
  const auto& f =
      expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":["carol","bob","carol","bob","dave"]})"));
  CHECK(f.users == std::vector<std::string>{"carol", "bob", "dave"});
}

TEST_CASE("decode ping with and without id", "[client_protocol]") {
  const auto& with = expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":"p1"})"));
  REQUIRE(with.id);
  CHECK(*with.id == "p1");
  const auto& without = expect<PingFrame>(decode_client_frame(R"({"type":"ping"})"));
  CHECK_FALSE(without.id);
}

TEST_CASE("decode tolerates whitespace and field order", "[client_protocol]") {
  const auto& f = expect<SendFrame>(decode_client_frame(
      " \n\t{ \"id\" : \"c9\" , \"body\" : [ 1 , 2 ] , \"to\" : \"bob\" , \"type\" : \"send\" }\r\n"));
  CHECK(f.to == "bob");
  CHECK(f.body == "[ 1 , 2 ]");  // verbatim, without the whitespace around the value
  CHECK(*f.id == "c9");
}

TEST_CASE("unknown fields are ignored", "[client_protocol]") {
  const auto& s = expect<SendFrame>(
      decode_client_frame(R"({"type":"send","to":"bob","body":1,"id":"c1","prio":9,"meta":{"x":[1,{"y":null}]}})"));
  CHECK(s.to == "bob");
  CHECK(s.body == "1");
  const auto& p = expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":["bob"],"extra":"yes"})"));
  CHECK(p.users.size() == 1);
  const auto& g = expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":"p","ts":123})"));
  CHECK(*g.id == "p");
}

TEST_CASE("send body of every JSON kind round-trips", "[client_protocol]") {
  const char* bodies[] = {
      "null",
      "true",
      "false",
      "0",
      "-42",
      "9223372036854775807",
      "18446744073709551615",
      "3.25",
      "-1e-7",
      R"("")",
      R"("hello \"world\" \\ \n \u0001 é 😀")",
      "[]",
      "{}",
      R"([1,"two",null,true,{"three":3}])",
      R"({"a":{"b":{"c":[[[{"d":"e"}]]]}},"n":null,"f":false})",
  };
  for (const char* body : bodies) {
    INFO("body: " << body);
    const std::string frame = std::string(R"({"type":"send","to":"bob","body":)") + body + "}";
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    // The very text the client wrote (so also the same value).
    CHECK(f.body == body);
    CHECK(json::parse(f.body) == json::parse(body));
    // The body is written verbatim into a message frame, which stays valid JSON.
    const auto msg = parse_object(encode_message("m1", "alice", "bob", f.body, 1));
    CHECK(msg.at("body") == json::parse(body));
  }
}

TEST_CASE("send body null is distinct from a missing body", "[client_protocol]") {
  const auto& f = expect<SendFrame>(decode_client_frame(R"({"type":"send","to":"bob","body":null})"));
  CHECK(f.body == "null");
  expect_error(decode_client_frame(R"({"type":"send","to":"bob"})"), ErrorCode::bad_request);
}

TEST_CASE("send body whitespace inside the value is kept", "[client_protocol]") {
  const auto& f = expect<SendFrame>(
      decode_client_frame("{\"type\":\"send\",\"to\":\"bob\",\"body\": { \"a\" : [ 1 , 2 ] ,\n \"b\" : \" x y \" } }"));
  CHECK(f.body == "{ \"a\" : [ 1 , 2 ] ,\n \"b\" : \" x y \" }");
  // Whitespace around the value (before it, and before the next ',' or '}') is not part of it.
  const auto& g =
      expect<SendFrame>(decode_client_frame("{\"type\":\"send\",\"body\"\r\n:\t [\t1,\r\n2 ]\n\t ,\"to\":\"bob\"}"));
  CHECK(g.body == "[\t1,\r\n2 ]");
  const auto& h = expect<SendFrame>(decode_client_frame("{\"type\":\"send\",\"to\":\"bob\",\"body\": 7 \n}"));
  CHECK(h.body == "7");
}

TEST_CASE("send body numbers keep their spelling", "[client_protocol]") {
  const char* numbers[] = {
      "2.5",
      "1e3",
      "1E3",
      "1E+3",
      "-0",
      "-0.0",
      "0.10",
      "1.50e-02",
      "12345678901234567890123",
      "-12345678901234567890123.4567890123456789",
      "[2.5,1e3,-0,12345678901234567890123]",
      R"({"n":1.0,"m":[0e0,100]})",
      "1e999",
      "-1e999",  // beyond a double: re-serialising them wrote Infinity, which is not JSON
  };
  for (const char* n : numbers) {
    INFO("body: " << n);
    const std::string frame = std::string(R"({"type":"send","to":"bob","body":)") + n + R"(,"id":"c1"})";
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    CHECK(f.body == n);
    // And it reaches the recipient with the same spelling.
    const std::string msg = encode_message("m1", "alice", "bob", f.body, 1);
    CHECK(msg.find(std::string(R"("body":)") + n + R"(,"ts":1})") != std::string::npos);
    CHECK(parse_object(msg).at("body") == json::parse(n));
  }
}

TEST_CASE("send body strings with escapes are kept verbatim", "[client_protocol]") {
  // Each body is followed by more members: a scanner that mis-skips an escape would run into them.
  const char* bodies[] = {
      R"("\\")",    // one escaped backslash: the closing quote is real
      R"("\"")",    // one escaped quote
      R"("\\\"")",  // backslash, then quote
      R"("a \"b\" \\ \/ \b\f\n\r\t \u00e9 \u00E9 é \ud83d\ude00 😀")",
      R"("\",\"body\":1,\"x\":\"")",  // looks like members, but is one string
      R"(["\\",{"k\"":"\\\""},"]}"])",
  };
  for (const char* b : bodies) {
    INFO("body: " << b);
    for (const std::string& frame :
         {std::string(R"({"type":"send","to":"bob","body":)") + b + R"(,"id":"c1","x":"\\"})",
          std::string(R"({"body":)") + b + R"(,"type":"send","to":"bob"})"}) {
      INFO("frame: " << frame);
      const auto& f = expect<SendFrame>(decode_client_frame(frame));
      CHECK(f.body == b);
      CHECK(f.to == "bob");
    }
  }
}

TEST_CASE("send body nested structures are kept verbatim", "[client_protocol]") {
  const std::string body =
      R"({"a" : [ {"b":[[],[[ ]]],"c":{"d":"}]}]}]","e" :{}}}, [ 1.0 ] ],"body":"inner","f":[{"body":2}] })";
  const auto& f =
      expect<SendFrame>(decode_client_frame(R"({"type":"send","to":"bob","body":)" + body + R"(,"id":"c1"})"));
  CHECK(f.body == body);
  // 62 levels (the most a body may have) are copied whole too.
  std::string deep;
  for (int i = 0; i < 62; ++i) deep += i % 2 ? "{\"k\" : " : "[ ";
  deep += "1.0";
  for (int i = 61; i >= 0; --i) deep += i % 2 ? " }" : " ]";
  const auto& g = expect<SendFrame>(decode_client_frame(R"({"type":"send","to":"bob","body":)" + deep + "}"));
  CHECK(g.body == deep);
}

TEST_CASE("send body is found wherever it is among the members", "[client_protocol]") {
  // Decoys: "body" keys inside other members' values, "body" inside strings, and similar names.
  const std::string body = R"({ "v" : 1.50 })";
  const std::string frames[] = {
      R"({"body":)" + body + R"(,"type":"send","to":"bob","id":"c1"})",
      R"({"type":"send","body":)" + body + R"(,"to":"bob","id":"c1"})",
      R"({"type":"send","to":"bob","id":"c1","body":)" + body + "}",
      R"({"meta":{"body":2.0},"bodyx":3.0,"bod":4.0,"Body":5.0,"note":"\"body\":6.0","list":[{"body":7.0}],)"
      R"("type":"send","to":"bob","body":)" +
          body + R"(,"after":{"body":8.0},"id":"c1"})",
      R"({"type":"send","to":"bob","x":"\\","body":)" + body + R"(,"y":"\\\"body\":9"})",
  };
  for (const auto& frame : frames) {
    INFO("frame: " << frame);
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    CHECK(f.body == body);
    CHECK(f.to == "bob");
  }
  // A "body" only inside another member is still a missing body.
  const auto& e = expect_error(decode_client_frame(R"({"type":"send","to":"bob","meta":{"body":1},"id":"c1"})"),
                               ErrorCode::bad_request);
  CHECK(e.ref == std::optional<std::string>("c1"));
}

TEST_CASE("send body key is matched on its decoded name", "[client_protocol]") {
  for (const char* key : {R"(b\u006fdy)", R"(\u0062\u006F\u0064\u0079)", R"(bod\u0079)"}) {
    INFO("key: " << key);
    const std::string frame = std::string(R"({"type":"send","to":"bob",")") + key + R"(": [ 2.50 ] })";
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    CHECK(f.body == "[ 2.50 ]");
  }
  // Names that only look like "body" when escapes are misread are other members.
  for (const char* key : {R"(body\u0000)", R"(b\u00f6dy)", R"(\\body)", R"(body\n)", R"(b\u006fd)"}) {
    INFO("key: " << key);
    const std::string frame = std::string(R"({"type":"send","to":"bob","body":1.0,")") + key + R"(":2.0})";
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    CHECK(f.body == "1.0");
  }
}

TEST_CASE("send with duplicate body members uses the last, as Boost.JSON does", "[client_protocol]") {
  // wsg accepts duplicate members (the frame rules do not refuse them) and, like Boost.JSON's
  // parse, which the other fields are read from, keeps the last one. This pins that Boost.JSON
  // behaviour too: if an upgrade changes it, the scanner must follow.
  const std::string frames[] = {
      R"({"type":"send","to":"bob","body":1.0,"body": [ 2.0 ] })",
      R"({"type":"send","body":1.0,"to":"bob","b\u006fdy": [ 2.0 ] })",
      R"({"b\u006fdy":"first","type":"send","body":3,"to":"bob","body": [ 2.0 ] })",
      R"({"type":"send","body":{"body":0},"to":"bob","body":null,"x":1,"body": [ 2.0 ] ,"y":{"body":5}})",
  };
  for (const auto& frame : frames) {
    INFO("frame: " << frame);
    CHECK(parse_object(frame).at("body") == json::parse("[2.0]"));
    const auto& f = expect<SendFrame>(decode_client_frame(frame));
    CHECK(f.body == "[ 2.0 ]");
  }
  // The other members follow the same rule, so duplicates are consistent across the frame.
  const auto& g =
      expect<SendFrame>(decode_client_frame(R"({"type":"send","to":"carol","body":1,"to":"bob","id":"a","id":"b"})"));
  CHECK(g.to == "bob");
  REQUIRE(g.id);
  CHECK(*g.id == "b");
}

// ------------------------------------------------------------------------------------------------
// Decoding: refusals

TEST_CASE("unparsable frames are bad_json without ref", "[client_protocol]") {
  const char* frames[] = {
      "",
      "   ",
      "{",
      R"({"type":"ping","id":"p1")",
      R"({"type":"ping","id":"p1"}})",
      R"({"type":"ping","id":"p1"} {})",
      R"({'type':'ping'})",
      R"({"type":"ping",})",
      R"({"type":"ping" /* c */})",
      "{\"type\":\"ping\",\"id\":\"\xff\"}",  // invalid UTF-8
      "nul",
  };
  for (const char* f : frames) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_json);
    CHECK_FALSE(e.ref);
  }
}

TEST_CASE("nesting deeper than the limit is bad_json while reasonable nesting is fine", "[client_protocol]") {
  auto nested = [](int depth) {
    std::string body;
    for (int i = 0; i < depth; ++i) body += '[';
    for (int i = 0; i < depth; ++i) body += ']';
    return std::string(R"({"type":"send","to":"bob","id":"c1","body":)") + body + "}";
  };
  expect<SendFrame>(decode_client_frame(nested(32)));
  // 64 levels counting the frame object itself (docs/protocol.md states this limit).
  expect<SendFrame>(decode_client_frame(nested(63)));
  const auto e = expect_error(decode_client_frame(nested(64)), ErrorCode::bad_json);
  CHECK_FALSE(e.ref);
  expect_error(decode_client_frame(nested(10000)), ErrorCode::bad_json);
}

TEST_CASE("valid JSON that is not an object is bad_request", "[client_protocol]") {
  for (const char* f :
       {"[]", R"(["type","ping"])", R"([{"type":"ping","id":"p1"}])", "null", "42", R"("ping")", "true"}) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
    CHECK(e.message == "frame must be a JSON object");
    CHECK_FALSE(e.ref);
  }
}

TEST_CASE("type missing or not a string is bad_request, carrying a valid id", "[client_protocol]") {
  SECTION("missing") {
    const auto& e = expect_error(decode_client_frame(R"({"id":"x1"})"), ErrorCode::bad_request);
    REQUIRE(e.ref);
    CHECK(*e.ref == "x1");
  }
  SECTION("missing, no id") {
    const auto& e = expect_error(decode_client_frame(R"({"to":"bob"})"), ErrorCode::bad_request);
    CHECK_FALSE(e.ref);
  }
  for (const char* f : {R"({"type":null,"id":"x1"})", R"({"type":1,"id":"x1"})", R"({"type":["send"],"id":"x1"})",
                        R"({"type":{"v":"send"},"id":"x1"})"}) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
    REQUIRE(e.ref);
    CHECK(*e.ref == "x1");
  }
}

TEST_CASE("unknown type is unknown_type, carrying a valid id", "[client_protocol]") {
  const auto& e = expect_error(decode_client_frame(R"({"type":"subscribe","id":"u1"})"), ErrorCode::unknown_type);
  REQUIRE(e.ref);
  CHECK(*e.ref == "u1");
  const auto& e2 = expect_error(decode_client_frame(R"({"type":"SEND","to":"bob","body":1})"), ErrorCode::unknown_type);
  CHECK_FALSE(e2.ref);
  // Server->client types are not client frames.
  expect_error(decode_client_frame(R"({"type":"pong"})"), ErrorCode::unknown_type);
  expect_error(decode_client_frame(R"({"type":""})"), ErrorCode::unknown_type);
}

TEST_CASE("id must be a string of at most 64 bytes", "[client_protocol]") {
  SECTION("64 bytes is accepted and echoed in refusals") {
    const std::string id = ids(64);
    const auto& p = expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":")" + id + "\"}"));
    CHECK(*p.id == id);
    const auto& e =
        expect_error(decode_client_frame(R"({"type":"send","to":"bob","id":")" + id + "\"}"), ErrorCode::bad_request);
    REQUIRE(e.ref);
    CHECK(*e.ref == id);
  }
  SECTION("64 bytes counted in UTF-8 bytes, not characters") {
    // 32 two-byte characters = 64 bytes: accepted; 33 = 66 bytes: refused.
    std::string ok, big;
    for (int i = 0; i < 32; ++i) ok += "\xc3\xa9";
    big = ok + "\xc3\xa9";
    expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":")" + ok + "\"}"));
    const auto& e = expect_error(decode_client_frame(R"({"type":"ping","id":")" + big + "\"}"), ErrorCode::bad_request);
    CHECK_FALSE(e.ref);
  }
  SECTION("65 bytes is refused without ref, for every frame type") {
    const std::string id = ids(65);
    for (const std::string& f :
         {R"({"type":"ping","id":")" + id + "\"}", R"({"type":"send","to":"bob","body":1,"id":")" + id + "\"}",
          R"({"type":"presence","users":["bob"],"id":")" + id + "\"}"}) {
      INFO("frame: " << f);
      const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
      CHECK_FALSE(e.ref);
    }
  }
  SECTION("non-string ids are refused without ref") {
    for (const char* f : {R"({"type":"ping","id":1})", R"({"type":"ping","id":null})", R"({"type":"ping","id":["p1"]})",
                          R"({"type":"ping","id":{"a":"p1"}})", R"({"type":"send","to":"bob","body":1,"id":true})"}) {
      INFO("frame: " << f);
      const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
      CHECK_FALSE(e.ref);
    }
  }
  SECTION("an empty string id is valid") {
    const auto& p = expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":""})"));
    REQUIRE(p.id);
    CHECK(p.id->empty());
  }
}

TEST_CASE("send: 'to' missing or ill-typed is bad_request with ref", "[client_protocol]") {
  for (const char* f :
       {R"({"type":"send","body":1,"id":"c1"})", R"({"type":"send","to":null,"body":1,"id":"c1"})",
        R"({"type":"send","to":7,"body":1,"id":"c1"})", R"({"type":"send","to":["bob"],"body":1,"id":"c1"})"}) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
    REQUIRE(e.ref);
    CHECK(*e.ref == "c1");
  }
}

TEST_CASE("send: body missing is bad_request with ref", "[client_protocol]") {
  const auto& e = expect_error(decode_client_frame(R"({"type":"send","to":"bob","id":"c2"})"), ErrorCode::bad_request);
  REQUIRE(e.ref);
  CHECK(*e.ref == "c2");
}

TEST_CASE("send: invalid recipient is bad_recipient with ref", "[client_protocol]") {
  for (const std::string& to : {std::string(""), std::string("bo b"), std::string("bob/1"), std::string("b\\u00e9b"),
                                std::string("bob\\n"), ids(129, 'x')}) {
    INFO("to: " << to);
    const auto& e = expect_error(decode_client_frame(R"({"type":"send","to":")" + to + R"(","body":1,"id":"c3"})"),
                                 ErrorCode::bad_recipient);
    REQUIRE(e.ref);
    CHECK(*e.ref == "c3");
  }
  const auto& no_ref =
      expect_error(decode_client_frame(R"({"type":"send","to":"","body":1})"), ErrorCode::bad_recipient);
  CHECK_FALSE(no_ref.ref);
}

TEST_CASE("send: 128-byte user id accepted, 129 refused", "[client_protocol]") {
  const std::string u128 = ids(128, 'u');
  const auto& f = expect<SendFrame>(decode_client_frame(R"({"type":"send","to":")" + u128 + R"(","body":null})"));
  CHECK(f.to == u128);
  expect_error(decode_client_frame(R"({"type":"send","to":")" + u128 + R"(u","body":null})"), ErrorCode::bad_recipient);
}

TEST_CASE("valid_user_id", "[client_protocol]") {
  CHECK(valid_user_id("a"));
  CHECK(valid_user_id("Alice.Smith_01@example.com:dev-2"));
  CHECK(valid_user_id(ids(128)));
  CHECK_FALSE(valid_user_id(ids(129)));
  CHECK_FALSE(valid_user_id(""));
  for (const char* bad : {"a b", "a/b", "a+b", "a#b", "a\"b", "a\\b", "é", "a\tb", "a,b", "a?b", "a=b"}) {
    INFO(bad);
    CHECK_FALSE(valid_user_id(bad));
  }
  CHECK_FALSE(valid_user_id(std::string_view("a\0b", 3)));
  // Every allowed byte, and no other byte, is accepted.
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || ch == '.' ||
                         ch == '_' || ch == '@' || ch == ':' || ch == '-';
    INFO("byte " << c);
    CHECK(valid_user_id(std::string_view(&ch, 1)) == allowed);
  }
}

TEST_CASE("presence: users missing or ill-typed is bad_request with ref", "[client_protocol]") {
  for (const char* f :
       {R"({"type":"presence","id":"q1"})", R"({"type":"presence","users":"bob","id":"q1"})",
        R"({"type":"presence","users":null,"id":"q1"})", R"({"type":"presence","users":{"bob":1},"id":"q1"})",
        R"({"type":"presence","users":["bob",1],"id":"q1"})", R"({"type":"presence","users":["bob",null],"id":"q1"})",
        R"({"type":"presence","users":[["bob"]],"id":"q1"})",
        // structure is checked before validity
        R"({"type":"presence","users":["bad id",7],"id":"q1"})"}) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_request);
    REQUIRE(e.ref);
    CHECK(*e.ref == "q1");
  }
}

TEST_CASE("presence: 100 users accepted, 101 refused", "[client_protocol]") {
  auto frame = [](int n) {
    std::string f = R"({"type":"presence","id":"q2","users":[)";
    for (int i = 0; i < n; ++i) {
      if (i) f += ',';
      f += "\"user" + std::to_string(i) + "\"";
    }
    return f + "]}";
  };
  const auto& ok = expect<PresenceFrame>(decode_client_frame(frame(100)));
  CHECK(ok.users.size() == 100);
  CHECK(ok.users.front() == "user0");
  CHECK(ok.users.back() == "user99");
  const auto& e = expect_error(decode_client_frame(frame(101)), ErrorCode::bad_request);
  REQUIRE(e.ref);
  CHECK(*e.ref == "q2");
}

TEST_CASE("presence: an invalid name is bad_recipient with ref", "[client_protocol]") {
  for (const char* f :
       {R"({"type":"presence","users":["bob","no way"],"id":"q3"})", R"({"type":"presence","users":[""],"id":"q3"})",
        R"({"type":"presence","users":["bob","carol","x/y"],"id":"q3"})"}) {
    INFO("frame: " << f);
    const auto& e = expect_error(decode_client_frame(f), ErrorCode::bad_recipient);
    REQUIRE(e.ref);
    CHECK(*e.ref == "q3");
  }
  const auto& e =
      expect_error(decode_client_frame(R"({"type":"presence","users":["bob","x y"]})"), ErrorCode::bad_recipient);
  CHECK_FALSE(e.ref);
  CHECK(e.message.find("users[1]") != std::string::npos);
}

TEST_CASE("unknown type with an invalid id is unknown_type without ref", "[client_protocol]") {
  const auto& e = expect_error(decode_client_frame(R"({"type":"nope","id":5})"), ErrorCode::unknown_type);
  CHECK_FALSE(e.ref);
}

// ------------------------------------------------------------------------------------------------
// Encoding

TEST_CASE("repeated members count by their last occurrence and nested look-alikes do not count", "[client_protocol]") {
  // id: an invalid first id does not stick, a valid first id does not survive an invalid last one.
  CHECK(*expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":1,"id":"p2"})")).id == "p2");
  CHECK_FALSE(expect_error(decode_client_frame(R"({"type":"ping","id":"p1","id":7})"), ErrorCode::bad_request).ref);
  CHECK_FALSE(expect<PingFrame>(decode_client_frame(R"({"type":"ping","meta":{"id":"zz"},"x":["id"]})")).id);
  // type and to
  expect<PingFrame>(decode_client_frame(R"({"type":"nope","type":"ping"})"));
  expect_error(decode_client_frame(R"({"type":"ping","type":"nope"})"), ErrorCode::unknown_type);
  expect_error(decode_client_frame(R"({"type":"ping","x":{"type":"send"},"type":1})"), ErrorCode::bad_request);
  CHECK(expect<SendFrame>(decode_client_frame(R"({"type":"send","to":7,"to":"bob","body":1})")).to == "bob");
  expect_error(decode_client_frame(R"({"type":"send","to":"bob","to":[],"body":1})"), ErrorCode::bad_request);
  expect_error(decode_client_frame(R"({"type":"send","x":{"to":"bob"},"body":1})"), ErrorCode::bad_request);
  // users: each occurrence starts afresh
  const std::string many = [] {
    std::string u = "[";
    for (int i = 0; i < 101; ++i) u += (i ? ",\"u" : "\"u") + std::to_string(i) + "\"";
    return u + "]";
  }();
  CHECK(expect<PresenceFrame>(
            decode_client_frame(R"({"type":"presence","users":[1,"x y"],"users":["bob","bob","carol"]})"))
            .users == std::vector<std::string>{"bob", "carol"});
  CHECK(expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":)" + many + R"(,"users":["bob"]})"))
            .users == std::vector<std::string>{"bob"});
  expect_error(decode_client_frame(R"({"type":"presence","users":["bob"],"users":)" + many + "}"),
               ErrorCode::bad_request);
  expect_error(decode_client_frame(R"({"type":"presence","users":["bob"],"users":"bob"})"), ErrorCode::bad_request);
  expect_error(decode_client_frame(R"({"type":"presence","users":["bob"],"users":["x y"]})"), ErrorCode::bad_recipient);
  CHECK(expect<PresenceFrame>(
            decode_client_frame(R"({"type":"presence","users":["bob"],"x":{"users":[1]},"y":[{"users":"z"}]})"))
            .users == std::vector<std::string>{"bob"});
  // An element that is itself an array or object is one ill-typed element, whatever it holds.
  const auto& e =
      expect_error(decode_client_frame(R"({"type":"presence","users":["bob",["carol",1],{"a":"b"},"dave"],"id":"q"})"),
                   ErrorCode::bad_request);
  CHECK(e.message == "users[1] must be a string");
  // 100 elements, one of them an array of names: still 100 elements (not 102), one ill-typed.
  std::string hundred = R"({"type":"presence","users":[["a","b"])";
  for (int i = 1; i < 100; ++i) hundred += ",\"u" + std::to_string(i) + "\"";
  const auto& e100 = expect_error(decode_client_frame(hundred + "]}"), ErrorCode::bad_request);
  CHECK(e100.message == "users[0] must be a string");
}

TEST_CASE("escaped strings are decoded in type, to, id and users", "[client_protocol]") {
  const auto& s = expect<SendFrame>(
      decode_client_frame(R"({"t\u0079pe":"s\u0065nd","\u0074o":"\u0062ob","body":1,"id":"c\u0031"})"));
  CHECK(s.to == "bob");
  CHECK(*s.id == "c1");
  CHECK(expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":["\u0062ob","b\u006fb"]})")).users ==
        std::vector<std::string>{"bob"});
  // Near misses of the known types and of 'presence' in length.
  for (const char* t : {"presenc", "presencee", R"(presence\u0000)", R"(p\u0000)", "sen", "Ping"}) {
    INFO("type: " << t);
    expect_error(decode_client_frame(std::string(R"({"type":")") + t + R"("})"), ErrorCode::unknown_type);
  }
  // Exactly at the limits, and one byte over, when the value is escaped.
  const std::string id64 = ids(63) + R"(\u0061)";
  CHECK(expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":")" + id64 + "\"}")).id->size() == 64);
  expect_error(decode_client_frame(R"({"type":"ping","id":")" + id64 + "a\"}"), ErrorCode::bad_request);
  const std::string to128 = ids(127, 'u') + R"(\u0075)";
  CHECK(expect<SendFrame>(decode_client_frame(R"({"type":"send","to":")" + to128 + R"(","body":1})")).to ==
        ids(128, 'u'));
  expect_error(decode_client_frame(R"({"type":"send","to":")" + to128 + R"(u","body":1})"), ErrorCode::bad_recipient);
  expect_error(decode_client_frame(R"({"type":"presence","users":[")" + to128 + R"(u"]})"), ErrorCode::bad_recipient);
}

TEST_CASE("to_string of codes and statuses", "[client_protocol]") {
  CHECK(to_string(ErrorCode::bad_json) == "bad_json");
  CHECK(to_string(ErrorCode::bad_request) == "bad_request");
  CHECK(to_string(ErrorCode::unknown_type) == "unknown_type");
  CHECK(to_string(ErrorCode::bad_recipient) == "bad_recipient");
  CHECK(to_string(ErrorCode::rate_limited) == "rate_limited");
  CHECK(to_string(ErrorCode::too_large) == "too_large");
  CHECK(to_string(ErrorCode::binary_unsupported) == "binary_unsupported");
  CHECK(to_string(ErrorCode::internal) == "internal");
  CHECK(to_string(AckStatus::delivered) == "delivered");
  CHECK(to_string(AckStatus::offline) == "offline");
  CHECK(to_string(AckStatus::failed) == "failed");
}

TEST_CASE("encode_welcome", "[client_protocol]") {
  const std::string s = encode_welcome("alice", "s-123", "node-1");
  CHECK(s == R"({"type":"welcome","user":"alice","session":"s-123","node":"node-1"})");
  const auto o = parse_object(s);
  CHECK(keys_of(o) == std::set<std::string>{"type", "user", "session", "node"});
  CHECK(str(o.at("type")) == "welcome");
  CHECK(str(o.at("user")) == "alice");
  CHECK(str(o.at("session")) == "s-123");
  CHECK(str(o.at("node")) == "node-1");
}

TEST_CASE("encode_message", "[client_protocol]") {
  const std::string s = encode_message("m-1", "alice", "bob", R"({"text":"hi"})", 1700000000123);
  CHECK(s == R"({"type":"message","id":"m-1","from":"alice","to":"bob","body":{"text":"hi"},"ts":1700000000123})");
  const auto o = parse_object(s);
  CHECK(keys_of(o) == std::set<std::string>{"type", "id", "from", "to", "body", "ts"});
  CHECK(str(o.at("type")) == "message");
  CHECK(str(o.at("id")) == "m-1");
  CHECK(str(o.at("from")) == "alice");
  CHECK(str(o.at("to")) == "bob");
  CHECK(o.at("body") == json::parse(R"({"text":"hi"})"));
  REQUIRE(o.at("ts").is_int64());
  CHECK(o.at("ts").as_int64() == 1700000000123);

  const auto neg = parse_object(encode_message("m", "a", "b", "null", -5));
  CHECK(neg.at("ts").as_int64() == -5);
  CHECK(neg.at("body").is_null());
  const auto big = parse_object(encode_message("m", "a", "b", "0", INT64_MAX));
  CHECK(big.at("ts").as_int64() == INT64_MAX);
}

TEST_CASE("encode_ack with every status", "[client_protocol]") {
  for (auto st : {AckStatus::delivered, AckStatus::offline, AckStatus::failed}) {
    const auto o = parse_object(encode_ack("c1", "m-9", st));
    CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "id", "status"});
    CHECK(str(o.at("type")) == "ack");
    CHECK(str(o.at("ref")) == "c1");
    CHECK(str(o.at("id")) == "m-9");
    CHECK(str(o.at("status")) == std::string(to_string(st)));
  }
  CHECK(encode_ack("c1", "m-9", AckStatus::offline) == R"({"type":"ack","ref":"c1","id":"m-9","status":"offline"})");
}

TEST_CASE("encode_ack with a failure reason adds the reason field", "[client_protocol]") {
  CHECK(encode_ack("c1", "m-9", AckStatus::failed, "node_down") ==
        R"({"type":"ack","ref":"c1","id":"m-9","status":"failed","reason":"node_down"})");
  const auto o = parse_object(encode_ack("c1", "m-9", AckStatus::failed, "timeout"));
  CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "id", "status", "reason"});
  CHECK(str(o.at("reason")) == "timeout");
}

TEST_CASE("encode_presence", "[client_protocol]") {
  SECTION("with ref") {
    const std::string s = encode_presence(std::string("q1"), {{"bob", true}, {"carol", false}});
    CHECK(s == R"({"type":"presence","ref":"q1","users":{"bob":true,"carol":false}})");
    const auto o = parse_object(s);
    CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "users"});
    const auto& users = o.at("users").as_object();
    CHECK(users.size() == 2);
    CHECK(users.at("bob") == json::value(true));
    CHECK(users.at("carol") == json::value(false));
  }
  SECTION("without ref, empty") {
    const std::string s = encode_presence(std::nullopt, {});
    CHECK(s == R"({"type":"presence","users":{}})");
    const auto o = parse_object(s);
    CHECK(keys_of(o) == std::set<std::string>{"type", "users"});
  }
}

TEST_CASE("encode_pong", "[client_protocol]") {
  CHECK(encode_pong(std::string("p1")) == R"({"type":"pong","ref":"p1"})");
  CHECK(encode_pong(std::nullopt) == R"({"type":"pong"})");
  CHECK(keys_of(parse_object(encode_pong(std::string("p1")))) == std::set<std::string>{"type", "ref"});
  CHECK(keys_of(parse_object(encode_pong(std::nullopt))) == std::set<std::string>{"type"});
}

TEST_CASE("encode_error", "[client_protocol]") {
  const std::string s = encode_error(ErrorCode::bad_recipient, "no such id", std::string("c1"));
  CHECK(s == R"({"type":"error","code":"bad_recipient","message":"no such id","ref":"c1"})");
  const auto o = parse_object(s);
  CHECK(keys_of(o) == std::set<std::string>{"type", "code", "message", "ref"});
  const auto n = parse_object(encode_error(ErrorCode::rate_limited, "slow down", std::nullopt));
  CHECK(keys_of(n) == std::set<std::string>{"type", "code", "message"});
  CHECK(str(n.at("code")) == "rate_limited");
  CHECK(str(n.at("message")) == "slow down");
}

TEST_CASE("encoders escape strings correctly", "[client_protocol]") {
  std::string nasty = "q\"b\\s/ \b\f\n\r\t";
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "\x7f é ü € 😀 \xe2\x80\xa8 end";  // includes U+2028 and DEL

  SECTION("exact escapes") {
    CHECK(encode_pong(std::string("a\"b\\c\n\x01")) == R"({"type":"pong","ref":"a\"b\\c\n\u0001"})");
    CHECK(encode_pong(std::string("\x1f\b\f\r\t")) == R"({"type":"pong","ref":"\u001f\b\f\r\t"})");
    CHECK(encode_pong(std::string("é😀")) == "{\"type\":\"pong\",\"ref\":\"é😀\"}");
  }
  SECTION("round trip through every encoder") {
    auto o = parse_object(encode_error(ErrorCode::internal, nasty, nasty));
    CHECK(str(o.at("message")) == nasty);
    CHECK(str(o.at("ref")) == nasty);
    o = parse_object(encode_welcome(nasty, nasty, nasty));
    CHECK(str(o.at("user")) == nasty);
    CHECK(str(o.at("session")) == nasty);
    CHECK(str(o.at("node")) == nasty);
    o = parse_object(encode_message(nasty, nasty, nasty, "1", 0));
    CHECK(str(o.at("id")) == nasty);
    CHECK(str(o.at("from")) == nasty);
    CHECK(str(o.at("to")) == nasty);
    o = parse_object(encode_ack(nasty, nasty, AckStatus::failed));
    CHECK(str(o.at("ref")) == nasty);
    CHECK(str(o.at("id")) == nasty);
    o = parse_object(encode_presence(nasty, {{nasty, true}}));
    CHECK(str(o.at("ref")) == nasty);
    CHECK(o.at("users").as_object().at(nasty) == json::value(true));
    o = parse_object(encode_pong(nasty));
    CHECK(str(o.at("ref")) == nasty);
  }
  SECTION("invalid UTF-8 is replaced, keeping the output valid JSON") {
    const std::string bad = std::string("a\xff") + "b\xc3" + "c\xed\xa0\x80" + "d\xf8\x88\x80\x80\x80" + "e\xc0\xaf" +
                            "\xe2\x82";  // stray, truncated, surrogate, 5-byte, overlong
    const auto o = parse_object(encode_error(ErrorCode::internal, bad, std::nullopt));
    const std::string m = str(o.at("message"));
    CHECK(m.find('a') == 0);
    CHECK(m.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
    CHECK(m.find('e') != std::string::npos);
  }
}

TEST_CASE("decoded ids survive being echoed back", "[client_protocol]") {
  // A client id with escapes decodes to raw bytes; encoding it as ref gives the same string back.
  const auto& p = expect<PingFrame>(decode_client_frame(R"({"type":"ping","id":"a\"b\\c\u0000\u00e9\ud83d\ude00"})"));
  REQUIRE(p.id);
  CHECK(*p.id == std::string("a\"b\\c\0é😀", 12));
  const auto o = parse_object(encode_pong(p.id));
  CHECK(str(o.at("ref")) == *p.id);
}

// ------------------------------------------------------------------------------------------------
// Robustness

TEST_CASE("random bytes and mutated frames never throw", "[client_protocol]") {
  std::mt19937 rng(20240601u);  // fixed seed: failures are reproducible
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };

  const std::vector<std::string> seeds = {
      R"({"type":"send","to":"bob","body":{"text":"hi","n":[1,2.5,null,true]},"id":"c1"})",
      R"({"type":"presence","users":["bob","carol"],"id":"q1"})",
      R"({"type":"ping","id":"p1"})",
      R"({"type":"send","to":"bob","body":"\u00e9\n"})",
  };
  const std::string alphabet = "{}[]\":,\\ \t\nabtynul0123456789.-+eE\x01\x80\xc3\xff";

  int decoded = 0;
  int refused = 0;
  auto check = [&](const std::string& in) {
    INFO("input size " << in.size());
    DecodeResult r;
    REQUIRE_NOTHROW(r = decode_client_frame(in));
    if (const auto* e = std::get_if<DecodeError>(&r)) {
      ++refused;
      CHECK(e->code != ErrorCode::internal);  // e.g. a body the parser saw but the scanner missed
      // Every refusal encodes to a valid error frame.
      const auto o = parse_object(encode_error(e->code, e->message, e->ref));
      CHECK(o.contains("code"));
      if (e->ref) CHECK(e->ref->size() <= kMaxClientIdBytes);
    } else {
      ++decoded;
      if (const auto* s = std::get_if<SendFrame>(&r)) {
        CHECK(valid_user_id(s->to));
        json::error_code ec;
        const json::value body = json::parse(s->body, ec);
        CHECK_FALSE(ec);
        // A verbatim slice of the frame, and the same value as the body member Boost.JSON kept.
        CHECK(in.find(s->body) != std::string::npos);
        CHECK(body == json::parse(in).as_object().at("body"));
      } else if (const auto* p = std::get_if<PresenceFrame>(&r)) {
        CHECK(p->users.size() <= kMaxPresenceUsers);
        for (const auto& u : p->users) CHECK(valid_user_id(u));
      }
    }
  };

  for (int i = 0; i < 2000; ++i) {
    std::string junk(pick(64), '\0');
    for (char& c : junk) c = static_cast<char>(pick(256));
    check(junk);
  }
  for (int i = 0; i < 4000; ++i) {
    std::string f = seeds[pick(seeds.size())];
    const std::size_t edits = 1 + pick(4);
    for (std::size_t k = 0; k < edits && !f.empty(); ++k) {
      const std::size_t pos = pick(f.size());
      switch (pick(4)) {
        case 0: f[pos] = alphabet[pick(alphabet.size())]; break;
        case 1: f.insert(f.begin() + static_cast<std::ptrdiff_t>(pos), alphabet[pick(alphabet.size())]); break;
        case 2: f.erase(pos, 1 + pick(3)); break;
        default: f = f.substr(0, pos); break;
      }
    }
    check(f);
  }
  // Both paths were exercised.
  CHECK(decoded > 0);
  CHECK(refused > 0);
}
