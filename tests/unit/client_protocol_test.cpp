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

// ------------------------------------------------------------------------------------------------
// Rooms: decoding (docs/protocol.md, "Rooms")

namespace {

const char* const kBadRoomMessage = "field 'room' is not a valid room name (1-128 bytes of [A-Za-z0-9._@:/-])";
const char* const kBadLimitMessage = "field 'limit' must be an integer from 1 to 1000";
const char* const kBadAfterMessage = "field 'after' must be a valid user id";

// A refusal with this code, message and ref.
void expect_refusal(const std::string& frame, ErrorCode code, const std::string& message,
                    const std::optional<std::string>& ref) {
  INFO("frame: " << frame);
  const auto e = expect_error(decode_client_frame(frame), code);
  CHECK(e.message == message);
  CHECK(e.ref == ref);
}

}  // namespace

TEST_CASE("decode join with and without its options", "[client_protocol][rooms]") {
  const auto& plain = expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"team:eng","id":"j1"})"));
  CHECK(plain.room == "team:eng");
  CHECK_FALSE(plain.echo);
  CHECK_FALSE(plain.notices);
  CHECK(plain.id == std::optional<std::string>("j1"));

  const auto& both =
      expect<JoinFrame>(decode_client_frame(R"({"notices":true,"type":"join","echo":true,"room":"a/b.c_d@e:f-9"})"));
  CHECK(both.room == "a/b.c_d@e:f-9");
  CHECK(both.echo);
  CHECK(both.notices);
  CHECK_FALSE(both.id);

  const auto& echo_only = expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"r","echo":true})"));
  CHECK(echo_only.echo);
  CHECK_FALSE(echo_only.notices);
  const auto& notices_only = expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"r","notices":true})"));
  CHECK_FALSE(notices_only.echo);
  CHECK(notices_only.notices);
  const auto& off =
      expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"r","echo":false,"notices":false,"id":""})"));
  CHECK_FALSE(off.echo);
  CHECK_FALSE(off.notices);
  CHECK(off.id == std::optional<std::string>(""));
}

TEST_CASE("decode leave", "[client_protocol][rooms]") {
  const auto& with = expect<LeaveFrame>(decode_client_frame(R"({"type":"leave","room":"lobby","id":"l1"})"));
  CHECK(with.room == "lobby");
  CHECK(with.id == std::optional<std::string>("l1"));
  const auto& without = expect<LeaveFrame>(decode_client_frame(R"({"room":"lobby","type":"leave"})"));
  CHECK(without.room == "lobby");
  CHECK_FALSE(without.id);
}

TEST_CASE("decode publish keeps the body verbatim, as send does", "[client_protocol][rooms]") {
  const auto& f =
      expect<PublishFrame>(decode_client_frame(R"({"type":"publish","room":"lobby","body":{"text":"hi"},"id":"p1"})"));
  CHECK(f.room == "lobby");
  CHECK(f.body == R"({"text":"hi"})");
  CHECK(f.id == std::optional<std::string>("p1"));

  const char* bodies[] = {
      "null",
      "false",
      "-0",
      "1e3",
      "12345678901234567890123",
      "1.50e-02",
      R"("")",
      R"("a \"b\" \\ \/ \u00e9 😀")",
      "[ 1 ,\n 2 ]",
      R"({ "body" : { "body" : 1 } , "room" : "x y" })",
  };
  for (const char* body : bodies) {
    INFO("body: " << body);
    for (const std::string& frame :
         {std::string(R"({"type":"publish","room":"r","body":)") + body + "}",
          std::string(R"({"body": )") + body + " \n,\"type\":\"publish\",\"x\":\"\\\\\",\"room\":\"r\"}"}) {
      INFO("frame: " << frame);
      const auto& p = expect<PublishFrame>(decode_client_frame(frame));
      CHECK(p.body == body);
      CHECK(p.room == "r");
      CHECK_FALSE(p.id);
    }
  }
  // The escaped name of the member is "body" too.
  CHECK(expect<PublishFrame>(decode_client_frame(R"({"type":"publish","room":"r","b\u006fdy":[ 2 ]})")).body ==
        "[ 2 ]");
}

TEST_CASE("publish: body missing is bad_request, null is a body", "[client_protocol][rooms]") {
  expect_refusal(R"({"type":"publish","room":"r","id":"p2"})", ErrorCode::bad_request, "missing field 'body'",
                 std::string("p2"));
  expect_refusal(R"({"type":"publish","room":"r","meta":{"body":1}})", ErrorCode::bad_request, "missing field 'body'",
                 std::nullopt);
  CHECK(expect<PublishFrame>(decode_client_frame(R"({"type":"publish","room":"r","body":null})")).body == "null");
}

TEST_CASE("decode members with defaults, after and limit", "[client_protocol][rooms]") {
  const auto& plain = expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"lobby","id":"m1"})"));
  CHECK(plain.room == "lobby");
  CHECK(plain.after.empty());
  CHECK(plain.limit == 100);
  CHECK(plain.limit == kDefaultMembersLimit);
  CHECK(plain.id == std::optional<std::string>("m1"));

  const auto& page =
      expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"lobby","after":"bob","limit":25})"));
  CHECK(page.after == "bob");
  CHECK(page.limit == 25);
  CHECK_FALSE(page.id);

  CHECK(expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","limit":1})")).limit == 1);
  CHECK(expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","limit":1000})")).limit == 1000);
  CHECK(kMaxMembersLimit == 1000);
  const std::string u128 = ids(128, 'u');
  CHECK(expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","after":")" + u128 + "\"}")).after ==
        u128);
  CHECK(expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","after":"A.b_c@d:e-1"})")).after ==
        "A.b_c@d:e-1");
}

TEST_CASE("members: limit must be an integer from 1 to 1000", "[client_protocol][rooms]") {
  for (const char* limit :
       {"0", "-1", "-0", "1001", "1e3", "5e2", "1.0", "1000.0", "2.5", "1E1", "18446744073709551615",
        "18446744073709551616", "-9223372036854775808", "1e999", R"("5")", "null", "true", "[5]", R"({"n":5})"}) {
    INFO("limit: " << limit);
    expect_refusal(std::string(R"({"type":"members","room":"r","id":"m2","limit":)") + limit + "}",
                   ErrorCode::bad_request, kBadLimitMessage, std::string("m2"));
  }
  expect_refusal(R"({"type":"members","room":"r","limit":0})", ErrorCode::bad_request, kBadLimitMessage, std::nullopt);
}

TEST_CASE("members: after must be a valid user id", "[client_protocol][rooms]") {
  for (const std::string& after : {std::string(R"("")"), std::string(R"("a b")"), std::string(R"("a/b")"),
                                   std::string(R"("\u00e9")"), "\"" + ids(129, 'u') + "\"", std::string("7"),
                                   std::string("null"), std::string("true"), std::string(R"(["bob"])")}) {
    INFO("after: " << after);
    expect_refusal(R"({"type":"members","room":"r","id":"m3","after":)" + after + "}", ErrorCode::bad_request,
                   kBadAfterMessage, std::string("m3"));
  }
  // after is checked before limit.
  expect_refusal(R"({"type":"members","room":"r","limit":0,"after":"a b"})", ErrorCode::bad_request, kBadAfterMessage,
                 std::nullopt);
}

TEST_CASE("join: echo and notices must be booleans", "[client_protocol][rooms]") {
  for (const char* field : {"echo", "notices"}) {
    for (const char* value : {"1", "0", R"("true")", "null", "[]", "{}", "1.0"}) {
      const std::string frame = std::string(R"({"type":"join","room":"r","id":"j2",")") + field + "\":" + value + "}";
      expect_refusal(frame, ErrorCode::bad_request, std::string("field '") + field + "' must be a boolean",
                     std::string("j2"));
    }
  }
  // echo is checked before notices.
  expect_refusal(R"({"type":"join","room":"r","notices":1,"echo":1})", ErrorCode::bad_request,
                 "field 'echo' must be a boolean", std::nullopt);
}

TEST_CASE("room missing, ill-typed or invalid, for every room frame", "[client_protocol][rooms]") {
  // Each frame type with whatever else it needs to be valid.
  const std::string rest[] = {R"("type":"join")", R"("type":"leave")", R"("type":"publish","body":1)",
                              R"("type":"members")"};
  for (const auto& r : rest) {
    INFO("frame type: " << r);
    expect_refusal("{" + r + R"(,"id":"r1"})", ErrorCode::bad_request, "missing field 'room'", std::string("r1"));
    expect_refusal("{" + r + "}", ErrorCode::bad_request, "missing field 'room'", std::nullopt);
    // A "room" only inside another member is missing.
    expect_refusal("{" + r + R"(,"meta":{"room":"r"},"id":"r1"})", ErrorCode::bad_request, "missing field 'room'",
                   std::string("r1"));
    for (const char* room : {"null", "7", "true", R"(["r"])", R"({"room":"r"})"}) {
      expect_refusal("{" + r + R"(,"id":"r1","room":)" + room + "}", ErrorCode::bad_request,
                     "field 'room' must be a string", std::string("r1"));
    }
    for (const std::string& room :
         {std::string(""), std::string("a b"), std::string("a*"), std::string("*"), std::string("team:*"),
          std::string("a,b"), std::string("a\\\\b"), std::string("\\u00e9"), std::string("é"), std::string("a\\u0000"),
          std::string("a\\n"), std::string("a#b"), std::string("a?b"), ids(129, 'r')}) {
      expect_refusal("{" + r + R"(,"id":"r1","room":")" + room + "\"}", ErrorCode::bad_room, kBadRoomMessage,
                     std::string("r1"));
    }
    expect_refusal("{" + r + R"(,"room":"a b"})", ErrorCode::bad_room, kBadRoomMessage, std::nullopt);
  }
}

TEST_CASE("room names at the length limit, escaped or not", "[client_protocol][rooms]") {
  const std::string r128 = ids(128, 'r');
  CHECK(expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":")" + r128 + "\"}")).room == r128);
  expect_refusal(R"({"type":"join","room":")" + r128 + "r\"}", ErrorCode::bad_room, kBadRoomMessage, std::nullopt);
  // The limit counts the decoded bytes.
  const std::string escaped128 = ids(127, 'r') + R"(\u0072)";
  CHECK(expect<LeaveFrame>(decode_client_frame(R"({"type":"leave","room":")" + escaped128 + "\"}")).room == r128);
  expect_refusal(R"({"type":"leave","room":")" + escaped128 + "r\"}", ErrorCode::bad_room, kBadRoomMessage,
                 std::nullopt);
  // Escapes decode: "\/" is '/', a room character.
  CHECK(expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"t\u0065am\/a"})")).room == "team/a");
  CHECK(expect<JoinFrame>(decode_client_frame(R"({"t\u0079pe":"j\u006fin","r\u006fom":"x","\u0065cho":true})")).echo);
}

TEST_CASE("room frames: the order of the checks", "[client_protocol][rooms]") {
  // An invalid id: refused without ref, after the type is known, before the room.
  expect_refusal(R"({"type":"join","room":"a b","id":7})", ErrorCode::bad_request,
                 "field 'id' must be a string of at most 64 bytes", std::nullopt);
  expect_refusal(R"({"type":"members","id":")" + ids(65) + "\"}", ErrorCode::bad_request,
                 "field 'id' must be a string of at most 64 bytes", std::nullopt);
  // The room, whole (missing, ill-typed, invalid), before the type's own fields.
  expect_refusal(R"({"type":"join","room":"a b","echo":1,"id":"o1"})", ErrorCode::bad_room, kBadRoomMessage,
                 std::string("o1"));
  expect_refusal(R"({"type":"join","echo":1,"id":"o1"})", ErrorCode::bad_request, "missing field 'room'",
                 std::string("o1"));
  expect_refusal(R"({"type":"publish","room":"","id":"o1"})", ErrorCode::bad_room, kBadRoomMessage, std::string("o1"));
  expect_refusal(R"({"type":"publish","room":1,"id":"o1"})", ErrorCode::bad_request, "field 'room' must be a string",
                 std::string("o1"));
  expect_refusal(R"({"type":"members","room":"*","after":"","limit":0,"id":"o1"})", ErrorCode::bad_room,
                 kBadRoomMessage, std::string("o1"));
  // Unknown types stay unknown, whatever room fields they carry.
  for (const char* t : {"Join", "joins", "joi", "LEAVE", "publis", "publishx", "member", "membersx", "room", "rooms",
                        "subscribe", "notice"}) {
    INFO("type: " << t);
    expect_refusal(std::string(R"({"type":")") + t + R"(","room":"r","body":1,"id":"u1"})", ErrorCode::unknown_type,
                   "unknown frame type", std::string("u1"));
  }
}

TEST_CASE("room frames: fields of other frame types are ignored, and the other way round", "[client_protocol][rooms]") {
  const auto& s = expect<SendFrame>(decode_client_frame(
      R"({"type":"send","to":"bob","body":1,"room":"x y","echo":7,"notices":"n","after":1,"limit":-1})"));
  CHECK(s.to == "bob");
  CHECK(s.body == "1");
  expect<PingFrame>(decode_client_frame(R"({"type":"ping","room":7,"limit":0})"));
  CHECK(expect<PresenceFrame>(decode_client_frame(R"({"type":"presence","users":["bob"],"room":""})")).users ==
        std::vector<std::string>{"bob"});
  // A send's fields in room frames.
  const auto& j =
      expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"r","to":"x y","users":[1],"limit":0})"));
  CHECK(j.room == "r");
  const auto& m = expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","echo":1,"body":2})"));
  CHECK(m.limit == 100);
  expect<LeaveFrame>(decode_client_frame(R"({"type":"leave","room":"r","echo":"no","after":"x y"})"));
  // Nested look-alikes do not count.
  const auto& n = expect<MembersFrame>(decode_client_frame(
      R"({"type":"members","room":"r","x":{"limit":0,"after":"a b","room":"*"},"y":[{"echo":1}]})"));
  CHECK(n.room == "r");
  CHECK(n.after.empty());
  CHECK(n.limit == 100);
  CHECK_FALSE(expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"r","x":{"echo":true}})")).echo);
}

TEST_CASE("room frames: repeated members count by their last occurrence", "[client_protocol][rooms]") {
  CHECK(expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":"a b","room":"second"})")).room == "second");
  CHECK(expect<JoinFrame>(decode_client_frame(R"({"type":"join","room":7,"room":"second"})")).room == "second");
  expect_refusal(R"({"type":"join","room":"first","room":"a b","id":"d1"})", ErrorCode::bad_room, kBadRoomMessage,
                 std::string("d1"));
  expect_refusal(R"({"type":"leave","room":"first","room":null,"id":"d1"})", ErrorCode::bad_request,
                 "field 'room' must be a string", std::string("d1"));
  // A long first value does not stick.
  CHECK(expect<LeaveFrame>(decode_client_frame(R"({"type":"leave","room":")" + ids(200) + R"(","room":"ok"})")).room ==
        "ok");

  const auto& j = expect<JoinFrame>(
      decode_client_frame(R"({"type":"join","room":"r","echo":true,"echo":false,"notices":1,"notices":true})"));
  CHECK_FALSE(j.echo);
  CHECK(j.notices);
  expect_refusal(R"({"type":"join","room":"r","echo":true,"echo":"true"})", ErrorCode::bad_request,
                 "field 'echo' must be a boolean", std::nullopt);

  const auto& m =
      expect<MembersFrame>(decode_client_frame(R"({"type":"members","room":"r","after":"a b","after":"carol",)"
                                               R"("limit":0,"limit":1.5,"limit":7})"));
  CHECK(m.after == "carol");
  CHECK(m.limit == 7);
  expect_refusal(R"({"type":"members","room":"r","limit":7,"limit":1001})", ErrorCode::bad_request, kBadLimitMessage,
                 std::nullopt);
  expect_refusal(R"({"type":"members","room":"r","after":"bob","after":""})", ErrorCode::bad_request, kBadAfterMessage,
                 std::nullopt);

  const std::string frame = R"({"type":"publish","body":1,"room":"r","body": [ "last" ] ,"b\u006fdy":{"x":2}})";
  CHECK(parse_object(frame).at("body") == json::parse(R"({"x":2})"));
  CHECK(expect<PublishFrame>(decode_client_frame(frame)).body == R"({"x":2})");
}

TEST_CASE("room frames: unparsable or non-object frames are refused as before", "[client_protocol][rooms]") {
  expect_refusal(R"({"type":"join","room":"r")", ErrorCode::bad_json, "frame is not valid JSON", std::nullopt);
  expect_refusal(R"({"type":"join","room":"r",})", ErrorCode::bad_json, "frame is not valid JSON", std::nullopt);
  expect_refusal("{\"type\":\"join\",\"room\":\"\xff\"}", ErrorCode::bad_json, "frame is not valid JSON", std::nullopt);
  expect_refusal(R"([{"type":"join","room":"r"}])", ErrorCode::bad_request, "frame must be a JSON object",
                 std::nullopt);
}

// ------------------------------------------------------------------------------------------------
// Rooms: encoding

TEST_CASE("to_string of the room error codes and publish statuses", "[client_protocol][rooms]") {
  CHECK(to_string(ErrorCode::bad_room) == "bad_room");
  CHECK(to_string(ErrorCode::too_many_rooms) == "too_many_rooms");
  CHECK(to_string(ErrorCode::not_allowed) == "not_allowed");
  CHECK(to_string(ErrorCode::not_joined) == "not_joined");
  CHECK(to_string(ErrorCode::room_full) == "room_full");
  // Appended after the existing codes: their values do not change.
  CHECK(static_cast<int>(ErrorCode::internal) == 7);
  CHECK(static_cast<int>(ErrorCode::bad_room) == 8);
  CHECK(static_cast<int>(ErrorCode::room_full) == 12);
  CHECK(to_string(PublishStatus::delivered) == "delivered");
  CHECK(to_string(PublishStatus::no_members) == "no_members");
  CHECK(to_string(PublishStatus::failed) == "failed");
  CHECK(encode_error(ErrorCode::not_joined, "join the room first", std::string("p1")) ==
        R"({"type":"error","code":"not_joined","message":"join the room first","ref":"p1"})");
}

TEST_CASE("encode_room_by_server", "[client_protocol][rooms]") {
  CHECK(encode_room_by_server("joined", "team:eng") == R"({"type":"joined","room":"team:eng","by":"server"})");
  CHECK(encode_room_by_server("left", "a/b") == R"({"type":"left","room":"a/b","by":"server"})");
}

TEST_CASE("encode_room_ack", "[client_protocol][rooms]") {
  CHECK(encode_room_ack("j1", "joined", "team:eng") ==
        R"({"type":"ack","ref":"j1","status":"joined","room":"team:eng"})");
  CHECK(encode_room_ack("l1", "left", "a/b") == R"({"type":"ack","ref":"l1","status":"left","room":"a/b"})");
  CHECK(encode_room_ack("", "left", "r") == R"({"type":"ack","ref":"","status":"left","room":"r"})");
  const auto o = parse_object(encode_room_ack("j1", "joined", "r"));
  CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "status", "room"});
}

TEST_CASE("encode_publish_ack with every status", "[client_protocol][rooms]") {
  CHECK(encode_publish_ack("p1", "node-1.ab.7", "lobby", PublishStatus::delivered, 3) ==
        R"({"type":"ack","ref":"p1","id":"node-1.ab.7","status":"delivered","room":"lobby","sessions":3})");
  CHECK(encode_publish_ack("p2", "m", "lobby", PublishStatus::no_members, 0) ==
        R"({"type":"ack","ref":"p2","id":"m","status":"no_members","room":"lobby","sessions":0})");
  CHECK(encode_publish_ack("p3", "m", "lobby", PublishStatus::failed, 2, "timeout") ==
        R"({"type":"ack","ref":"p3","id":"m","status":"failed","room":"lobby","sessions":2,"reason":"timeout"})");
  CHECK(encode_publish_ack("p4", "m", "r", PublishStatus::delivered, UINT64_MAX) ==
        R"({"type":"ack","ref":"p4","id":"m","status":"delivered","room":"r","sessions":18446744073709551615})");
  const auto o = parse_object(encode_publish_ack("p3", "m", "lobby", PublishStatus::failed, 0, "node_down"));
  CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "id", "status", "room", "sessions", "reason"});
  CHECK(str(o.at("reason")) == "node_down");
  REQUIRE(o.at("sessions").is_int64());
  CHECK(o.at("sessions").as_int64() == 0);
}

TEST_CASE("encode_room_message", "[client_protocol][rooms]") {
  const std::string s = encode_room_message("lobby", "node-1.ab.7", "alice", R"({"text":"hi"})", 1700000000123);
  CHECK(
      s ==
      R"({"type":"message","room":"lobby","id":"node-1.ab.7","from":"alice","body":{"text":"hi"},"ts":1700000000123})");
  const auto o = parse_object(s);
  CHECK(keys_of(o) == std::set<std::string>{"type", "room", "id", "from", "body", "ts"});
  // An empty body is null; negative and extreme times are written in full.
  CHECK(encode_room_message("r", "m", "a", "", -5) ==
        R"({"type":"message","room":"r","id":"m","from":"a","body":null,"ts":-5})");
  CHECK(encode_room_message("r", "m", "a", "0", INT64_MIN) ==
        R"({"type":"message","room":"r","id":"m","from":"a","body":0,"ts":-9223372036854775808})");
  // The body of a publish reaches the members verbatim.
  const std::string body = R"({ "t" : "a \"q\" \\ \u00e9 😀" , "n" : [ 1.50e-02 , -0 ] })";
  const auto& p = expect<PublishFrame>(decode_client_frame(R"({"type":"publish","room":"r","body":)" + body + "}"));
  const std::string msg = encode_room_message(p.room, "m", "alice", p.body, 1);
  CHECK(msg == R"({"type":"message","room":"r","id":"m","from":"alice","body":)" + body + R"(,"ts":1})");
  CHECK(parse_object(msg).at("body") == json::parse(body));
}

TEST_CASE("encode_room_notice", "[client_protocol][rooms]") {
  CHECK(encode_room_notice("lobby", "join", "bob", 1700000000123) ==
        R"({"type":"notice","room":"lobby","event":"join","user":"bob","ts":1700000000123})");
  CHECK(encode_room_notice("a/b", "leave", "carol", 0) ==
        R"({"type":"notice","room":"a/b","event":"leave","user":"carol","ts":0})");
  const auto o = parse_object(encode_room_notice("r", "leave", "u", 5));
  CHECK(keys_of(o) == std::set<std::string>{"type", "room", "event", "user", "ts"});
}

TEST_CASE("encode_members", "[client_protocol][rooms]") {
  CHECK(encode_members(std::string("m1"), "lobby", {"alice", "bob"}, "bob", true) ==
        R"({"type":"members","ref":"m1","room":"lobby","users":["alice","bob"],"next":"bob","partial":true})");
  CHECK(encode_members(std::nullopt, "lobby", {"alice"}, "", false) ==
        R"({"type":"members","room":"lobby","users":["alice"]})");
  CHECK(encode_members(std::string("m2"), "r", {}, "", false) ==
        R"({"type":"members","ref":"m2","room":"r","users":[]})");
  CHECK(encode_members(std::nullopt, "r", {}, "", true) ==
        R"({"type":"members","room":"r","users":[],"partial":true})");
  CHECK(encode_members(std::string(""), "r", {"a", "b", "c"}, "c", false) ==
        R"({"type":"members","ref":"","room":"r","users":["a","b","c"],"next":"c"})");
  const auto o = parse_object(encode_members(std::string("m1"), "r", {"a", "b"}, "b", true));
  CHECK(keys_of(o) == std::set<std::string>{"type", "ref", "room", "users", "next", "partial"});
  CHECK(o.at("users") == json::parse(R"(["a","b"])"));
  CHECK(o.at("partial") == json::value(true));
}

TEST_CASE("room encoders escape strings correctly", "[client_protocol][rooms]") {
  CHECK(encode_room_message("r", "m", "a\"b\\c\n\x01", "1", 2) ==
        R"({"type":"message","room":"r","id":"m","from":"a\"b\\c\n\u0001","body":1,"ts":2})");
  CHECK(encode_room_notice("r", "join", "q\"\x1f", 2) ==
        R"({"type":"notice","room":"r","event":"join","user":"q\"\u001f","ts":2})");
  CHECK(encode_members(std::string("\"x\""), "r", {"a\\b", "é😀"}, "\t", false) ==
        R"({"type":"members","ref":"\"x\"","room":"r","users":["a\\b","é😀"],"next":"\t"})");

  std::string nasty = "q\"b\\s/ \b\f\n\r\t";
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "\x7f é ü € 😀 \xe2\x80\xa8 end";
  auto o = parse_object(encode_room_ack(nasty, nasty, nasty));
  CHECK(str(o.at("ref")) == nasty);
  CHECK(str(o.at("status")) == nasty);
  CHECK(str(o.at("room")) == nasty);
  o = parse_object(encode_publish_ack(nasty, nasty, nasty, PublishStatus::failed, 1, nasty));
  CHECK(str(o.at("ref")) == nasty);
  CHECK(str(o.at("id")) == nasty);
  CHECK(str(o.at("room")) == nasty);
  CHECK(str(o.at("reason")) == nasty);
  o = parse_object(encode_room_message(nasty, nasty, nasty, "null", 0));
  CHECK(str(o.at("room")) == nasty);
  CHECK(str(o.at("id")) == nasty);
  CHECK(str(o.at("from")) == nasty);
  o = parse_object(encode_room_notice(nasty, nasty, nasty, 0));
  CHECK(str(o.at("room")) == nasty);
  CHECK(str(o.at("event")) == nasty);
  CHECK(str(o.at("user")) == nasty);
  o = parse_object(encode_members(nasty, nasty, {nasty, nasty}, nasty, true));
  CHECK(str(o.at("ref")) == nasty);
  CHECK(str(o.at("room")) == nasty);
  CHECK(str(o.at("next")) == nasty);
  CHECK(o.at("users").as_array().size() == 2);
  CHECK(str(o.at("users").as_array().at(1)) == nasty);
  // Invalid UTF-8 is replaced, keeping the output valid JSON.
  o = parse_object(encode_room_notice("r", "join", "a\xff", 0));
  CHECK(str(o.at("user")) == "a\xef\xbf\xbd");
}

TEST_CASE("mutated room frames never throw and decode to valid frames", "[client_protocol][rooms]") {
  std::mt19937 rng(20260116u);  // fixed seed: failures are reproducible
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const std::vector<std::string> seeds = {
      R"({"type":"join","room":"team:eng","echo":true,"notices":false,"id":"j1"})",
      R"({"type":"leave","room":"a/b","id":"l1"})",
      R"({"type":"publish","room":"lobby","body":{"text":"hi","n":[1,2.5,null]},"id":"p1"})",
      R"({"type":"members","room":"lobby","after":"bob","limit":25,"id":"m1"})",
  };
  const std::string alphabet = "{}[]\":,\\ \t\nabtynul0123456789.-+eE/*@\x01\x80\xc3\xff";
  int decoded = 0;
  int refused = 0;
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
    INFO("frame: " << f);
    DecodeResult r;
    REQUIRE_NOTHROW(r = decode_client_frame(f));
    if (const auto* e = std::get_if<DecodeError>(&r)) {
      ++refused;
      CHECK(e->code != ErrorCode::internal);
      if (e->ref) CHECK(e->ref->size() <= kMaxClientIdBytes);
      continue;
    }
    ++decoded;
    const json::object o = json::parse(f).as_object();
    if (const auto* j = std::get_if<JoinFrame>(&r)) {
      CHECK(valid_room_name(j->room));
      CHECK(str(o.at("room")) == j->room);
      CHECK(j->echo == (o.contains("echo") && o.at("echo") == json::value(true)));
      CHECK(j->notices == (o.contains("notices") && o.at("notices") == json::value(true)));
    } else if (const auto* l = std::get_if<LeaveFrame>(&r)) {
      CHECK(valid_room_name(l->room));
      CHECK(str(o.at("room")) == l->room);
    } else if (const auto* p = std::get_if<PublishFrame>(&r)) {
      CHECK(valid_room_name(p->room));
      CHECK(f.find(p->body) != std::string::npos);
      CHECK(json::parse(p->body) == o.at("body"));
    } else if (const auto* m = std::get_if<MembersFrame>(&r)) {
      CHECK(valid_room_name(m->room));
      CHECK(m->limit >= 1);
      CHECK(m->limit <= kMaxMembersLimit);
      CHECK((m->after.empty() || valid_user_id(m->after)));
      if (o.contains("limit")) CHECK(o.at("limit").to_number<std::int64_t>() == static_cast<std::int64_t>(m->limit));
    }
  }
  CHECK(decoded > 0);
  CHECK(refused > 0);
}
