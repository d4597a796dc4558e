// Refused frames (docs/protocol.md, "Frames", "Error codes"): each code that applies without auth
// or rate-limit configuration. A refused frame never closes the connection (except the size and
// binary cases) and is never delivered.
#include "test_util.h"

using namespace wsg::it;

namespace {

// After the refused frames: a valid message from `sender` must be the first frame `bob` sees.
void nothing_was_delivered(Session& sender, Session& bob, const std::string& marker) {
  const int64_t t0 = unix_ms();
  sender->send_json(send_frame("bob", json::string_view(marker), "marker"));
  expect_ack(*sender, "marker", "delivered");
  auto m = bob->next();
  REQUIRE(m.has_value());
  check_message(*m, sender.user, "bob", json::value(json::string_view(marker)), t0, unix_ms());
}

}  // namespace

TEST_CASE("error bad_json for text that is not JSON", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  for (const std::string& text :
       std::vector<std::string>{"{not json", "", "{\"type\":\"send\",\"to\":\"bob\",\"id\":\"x\",", "send bob hello",
                                "{\"type\":\"ping\"} trailing"}) {
    INFO("frame: " << text);
    alice->send_text(text);
    expect_error(*alice, "bad_json", std::nullopt);
  }
  // JSON, but not an object: refused as bad_json or bad_request, never delivered
  for (const std::string& text : std::vector<std::string>{"[1,2,3]", "\"just a string\"", "null", "42"}) {
    INFO("frame: " << text);
    alice->send_text(text);
    auto e = expect_frame(*alice, "error");
    INFO("error: " << dump(e));
    CHECK((str(e, "code") == "bad_json" || str(e, "code") == "bad_request"));
  }
  expect_alive(*alice, "still-here");
  nothing_was_delivered(alice, bob, "after bad_json");
}

TEST_CASE("error bad_request for missing or ill-typed fields", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");

  struct Case {
    std::string frame;
    std::optional<std::string> ref;
  };
  const std::string id65(65, 'i');
  json::array users101;
  for (int i = 0; i < 101; ++i) users101.push_back(json::value("u" + std::to_string(i)));
  const std::vector<Case> cases = {
      {R"({"type":"send","body":1,"id":"r1"})", "r1"},                                            // missing to
      {R"({"type":"send","to":"bob","id":"r2"})", "r2"},                                          // missing body
      {R"({"type":"send","to":"bob","body":1,"id":7})", std::nullopt},                            // id not a string
      {R"({"type":"send","to":"bob","body":1,"id":null})", std::nullopt},                         // id not a string
      {R"({"type":"send","to":"bob","body":1,"id":")" + id65 + R"("})", std::nullopt},            // 65-byte id
      {R"({"type":"send","to":42,"body":1,"id":"r5"})", "r5"},                                    // to not a string
      {R"({"type":"send","to":["bob"],"body":1,"id":"r6"})", "r6"},                               // to not a string
      {R"({"to":"bob","body":1,"id":"r7"})", "r7"},                                               // missing type
      {R"({"type":7,"id":"r8"})", "r8"},                                                          // type not a string
      {R"({"type":"presence","users":"bob","id":"r9"})", "r9"},                                   // users not an array
      {R"({"type":"presence","id":"r10"})", "r10"},                                               // users missing
      {R"({"type":"presence","users":[1,2],"id":"r11"})", "r11"},                                 // names not strings
      {R"({"type":"presence","users":)" + json::serialize(users101) + R"(,"id":"r12"})", "r12"},  // > 100 names
      {R"({"type":"ping","id":5})", std::nullopt},                                                // id not a string
  };
  for (const auto& cs : cases) {
    INFO("frame: " << cs.frame.substr(0, 200));
    alice->send_text(cs.frame);
    expect_error(*alice, "bad_request", cs.ref);
  }
  expect_alive(*alice, "still-here");
  nothing_was_delivered(alice, bob, "after bad_request");

  // the edges that are valid: a 64-byte id, a null body, unknown fields, 100 presence names
  const std::string id64(64, 'k');
  const int64_t t0 = unix_ms();
  alice->send_text(R"({"type":"send","to":"bob","body":1,"id":")" + id64 + R"("})");
  expect_ack(*alice, id64, "delivered");
  check_message(expect_frame(*bob, "message"), "alice", "bob", json::value(1), t0, unix_ms());

  alice->send_text(R"({"type":"send","to":"bob","body":null,"id":"nullbody"})");
  expect_ack(*alice, "nullbody", "delivered");
  auto m = bob->next();
  REQUIRE(m.has_value());
  check_message(*m, "alice", "bob", json::value(nullptr), t0, unix_ms());

  alice->send_text(R"({"type":"send","to":"bob","body":"x","id":"extra","future":{"a":[1]},"v":2})");
  expect_ack(*alice, "extra", "delivered");
  check_message(expect_frame(*bob, "message"), "alice", "bob", json::value("x"), t0, unix_ms());

  json::array users100;
  for (int i = 0; i < 100; ++i) users100.push_back(json::value("u" + std::to_string(i)));
  alice->send_json({{"type", "presence"}, {"users", users100}, {"id", "p100"}});
  auto p = expect_frame(*alice, "presence");
  CHECK(str(p, "ref") == "p100");
  CHECK(p.at("users").as_object().size() == 100);
  expect_alive(*bob, "bob-fine");
}

TEST_CASE("error unknown_type for an unknown or server-only type", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  alice->send_text(R"({"type":"dance","id":"u1"})");
  expect_error(*alice, "unknown_type", std::string("u1"));
  alice->send_text(R"({"type":"SEND","to":"bob","body":1})");
  expect_error(*alice, "unknown_type", std::nullopt);
  for (const char* t : {"welcome", "message", "ack", "pong", "error", ""}) {
    INFO("type " << t);
    alice->send_json({{"type", t}, {"to", "bob"}, {"body", 1}, {"id", "u2"}});
    expect_error(*alice, "unknown_type", std::string("u2"));
  }
  expect_alive(*alice, "still-here");
  nothing_was_delivered(alice, bob, "after unknown_type");
}

TEST_CASE("error bad_recipient for an invalid user id", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  int n = 0;
  for (const std::string& to : std::vector<std::string>{std::string(""), std::string("bad user"), std::string("a/b"),
                                                        std::string("h\xc3\xa9llo"), std::string("bob\n"),
                                                        std::string(129, 'a'), std::string("bob,carol")}) {
    const std::string ref = "br" + std::to_string(n++);
    INFO("to: '" << to << "'");
    alice->send_json(send_frame(to, "hi", ref));
    expect_error(*alice, "bad_recipient", ref);
  }
  expect_alive(*alice, "still-here");
  nothing_was_delivered(alice, bob, "after bad_recipient");
  // 128 bytes is still a valid id: nobody has it, so offline
  alice->send_json(send_frame(std::string(128, 'a'), "hi", "long-ok"));
  expect_ack(*alice, "long-ok", "offline");
}

namespace {

// A send frame to bob whose serialised size is exactly `size` bytes.
std::string send_of_size(std::size_t size, const std::string& id) {
  const std::string head = R"({"type":"send","to":"bob","id":")" + id + R"(","body":")";
  const std::string tail = R"("})";
  REQUIRE(size > head.size() + tail.size());
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

}  // namespace

TEST_CASE("a frame over 64 KiB closes the connection with 1009", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  auto carol = join(c, 0, "carol");

  // up to the limit (65536 bytes) is accepted and delivered
  alice->send_text(send_of_size(60 * 1024, "big60k"));
  expect_ack(*alice, "big60k", "delivered");
  auto m = bob->next();
  REQUIRE(m.has_value());
  CHECK(str(*m, "type") == "message");
  alice->send_text(send_of_size(65536, "big64k"));
  expect_ack(*alice, "big64k", "delivered");
  auto m2 = bob->next();
  REQUIRE(m2.has_value());
  CHECK(str(*m2, "type") == "message");
  CHECK(m2->at("body").as_string().size() > 65000);

  // one byte more: closed with 1009 (a too_large error frame before the close is allowed)
  alice->send_text_raw(send_of_size(65537, "over"));
  auto f = alice->next();
  if (f) {
    INFO("frame before the close: " << dump(*f));
    CHECK(str(*f, "type") == "error");
    CHECK(str(*f, "code") == "too_large");
    CHECK_FALSE(alice->next(2000ms).has_value());
  }
  auto close = alice->expect_close();
  REQUIRE(close.has_value());
  INFO("close reason: " << close->reason);
  CHECK(close->code == 1009);

  // far over the limit, too
  auto alice2 = join(c, 0, "alice");
  alice2->send_text_raw(send_of_size(256 * 1024, "way-over"));
  auto close2 = alice2->expect_close();
  REQUIRE(close2.has_value());
  CHECK(close2->code == 1009);

  // never delivered; everyone else unaffected
  nothing_was_delivered(carol, bob, "after too_large");
  expect_alive(*carol, "carol-fine");
}

TEST_CASE("a binary frame closes the connection with 1003", "[integration]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  auto carol = join(c, 0, "carol");

  alice->send_binary(R"({"type":"send","to":"bob","body":"binary","id":"b1"})");
  auto f = alice->next();
  if (f) {
    // a binary_unsupported error frame before the close is allowed
    INFO("frame before the close: " << dump(*f));
    CHECK(str(*f, "type") == "error");
    CHECK(str(*f, "code") == "binary_unsupported");
    CHECK_FALSE(alice->next(2000ms).has_value());
  }
  auto close = alice->expect_close();
  REQUIRE(close.has_value());
  INFO("close reason: " << close->reason);
  CHECK(close->code == 1003);

  nothing_was_delivered(carol, bob, "after binary");
  expect_alive(*carol, "carol-fine");
}
