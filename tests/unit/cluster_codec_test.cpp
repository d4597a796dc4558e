// Cluster wire codec (v1, the two types of v2, the room types of v3, the server API types of v4, the
// HELLO_PUBLIC of v5): round trips, golden encodings, refusals of malformed input, fuzzing.
#include "proto/cluster_codec.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace wsg::cluster;
using Catch::Matchers::Contains;

namespace {

const std::string kBinary("\0\x01\x7f\x80\xfe\xff", 6);  // valid in no string field
const std::string kUtf8 = "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80";
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}
std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}
std::string str(const std::string& s) { return le32(static_cast<uint32_t>(s.size())) + s; }
std::string header(Type t) { return std::string{char(version_of(t)), char(static_cast<uint8_t>(t))}; }

// One or more non-trivial values of every message type.
std::vector<Message> samples() {
  return {
      Hello{"node-1", kU64Max, "ws://127.0.0.1:8080/ws", "tcp://127.0.0.1:6001"},
      Hello{"n.1_x-Y", 0, "wss://[::1]:8443/ws", "ipc:///run/wsg/events"},
      HelloReply{0x0123456789abcdefULL, true, ""},
      HelloReply{kU64Max, false, "duplicate node id: node-1 is alive with another incarnation"},
      RegisterSessions{1, {{"alice", "s-1"}, {"a.b_c@d:e-f", "node-1.0a1b2c3d.42"}, {"u", "s"}}},
      RegisterSessions{kU64Max, {}},
      UnregisterSessions{42, {{"bob", "s-2"}}},
      UnregisterSessions{0, {}},
      Ack{7, 8, true},
      Ack{kU64Max, 0, false},
      Lookup{99, "carol@example.com"},
      Lookup{0, std::string(128, 'u')},
      LookupReply{5, 6, "bob", {{"node-1", "tcp://10.0.0.1:6001"}, {"node-2", "tcp://10.0.0.2:6001"}}},
      LookupReply{5, 7, "nobody", {}},
      Heartbeat{"node-2", 123456, kU64Max},
      HeartbeatReply{11, true},
      HeartbeatReply{12, false},
      Invalidate{13, "x@y"},
      NodeDown{14, "node-3"},
      StatusQuery{15, ""},
      StatusQuery{16, "alice"},
      StatusReply{17, 18, R"({"master":{"epoch":17,"sessions":2,"users":1},"nodes":[]})"},
      StatusReply{0, 0, std::string(kMaxString + 10, 'j')},  // the JSON may exceed kMaxString
      PresenceQuery{19, {"bob", "carol", "d", "e:f"}},
      PresenceQuery{20, {}},
      PresenceReply{21, 22, {true, false, false, true}},
      PresenceReply{23, 24, {}},
      Deliver{"node-1",
              "tcp://127.0.0.1:6001",
              {{"m-1", "alice", "bob", 1700000000123, R"({"text":"hi"})"},
               {"m-2", "alice", "bob", -5, "\"" + kUtf8 + "\"\t\r\n\x7f"},
               {"m-3", "a", "b", kI64Min, ""},
               {"m-4", "a", "b", kI64Max, std::string(100000, 'x')}}},
      Deliver{"node-1", "tcp://127.0.0.1:6001", {}},
      Receipt{"node-2", {{"m-1", ReceiptStatus::delivered}, {"m-2", ReceiptStatus::not_here}}},
      InvalidateAck{"bob"},
      InvalidateAck{std::string(128, 'v')},
      Receipt{"node-2", {}},
      Leave{"node-3", 0xfedcba9876543210ULL},
      Leave{std::string(64, 'l'), 0},
      LookupBatch{{{1, "alice"}, {kU64Max, "bob@example.com"}, {0, std::string(128, 'u')}}},
      LookupBatch{std::vector<Lookup>(kMaxLookupBatch, Lookup{7, "x"})},
      LookupBatchReply{31,
                       {{"node-1", "tcp://10.0.0.1:6001"}, {"node-2", "tcp://10.0.0.2:6001"}},
                       {{1, "alice", {0, 1}}, {kU64Max, "bob@example.com", {}}, {0, "carol", {1}}}},
      LookupBatchReply{32, {}, {}},
      // v3: rooms
      RoomRegister{1, {"lobby", "team:eng/backend", "a.b_c@d:e-f/g", std::string(128, 'r')}},
      RoomRegister{kU64Max, {"x"}},
      RoomUnregister{42, {"lobby", "Z/9"}},
      RoomLookup{7, "team:eng"},
      RoomLookup{0, std::string(128, 'r')},
      RoomLookupReply{5, 6, "lobby", {{"node-1", "tcp://10.0.0.1:6001"}, {"node-2", "tcp://10.0.0.2:6001"}}},
      RoomLookupReply{kU64Max, 0, "empty/room", {}},
      RoomInvalidate{13, "lobby"},
      RoomInvalidateAck{"lobby"},
      RoomInvalidateAck{std::string(128, 'v')},
      RoomDeliver{"node-1",
                  "tcp://127.0.0.1:6001",
                  {{"m-1", "lobby", "alice", RoomEvent::message, 1700000000123, R"({"text":"hi"})"},
                   {"m-2", "team:eng/x", "bob", RoomEvent::join, -5, ""},
                   {"m-3", "lobby", "carol@example.com", RoomEvent::leave, kI64Min, ""},
                   {"m-4", "r", "a", RoomEvent::message, kI64Max, "\"" + kUtf8 + "\"\t\r\n\x7f"},
                   {"m-5", std::string(128, 'r'), "a", RoomEvent::message, 0, ""}}},
      RoomReceipt{"node-2",
                  {{"m-1", ReceiptStatus::delivered, 3},
                   {"m-2", ReceiptStatus::not_here, 0},
                   {"m-3", ReceiptStatus::delivered, 0xffffffffu},
                   {"m-4", ReceiptStatus::delivered, 0}}},
      MembersQuery{"node-1", "tcp://127.0.0.1:6001", 9, "alice", "lobby", "", kMaxMembersBatch},
      MembersQuery{"n", "ipc:///run/wsg/events", kU64Max, "bob", "team:eng/backend", "carol@x", 1},
      MembersReply{"node-2", 9, {"alice", "bob", "carol"}, true},
      MembersReply{"node-2", 10, {}, false},
      RoomStatus{11, "lobby"},
      RoomStatus{kU64Max, std::string(128, 'r')},
      RoomCount{3, 4, "team:eng/backend"},
      RoomCountReply{4, "lobby", 10000, 9000},
      RoomCountReply{0, "x", 0xffffffffu, 0},
      UserOp{"node-1", "tcp://127.0.0.1:6001", "m-9", "alice", UserOpKind::disconnect, 4001, "", "banned: spam"},
      UserOp{"n", "e", "m", "bob", UserOpKind::disconnect, 4999, "", std::string(123, 'x')},
      UserOp{"n", "e", "m", "carol@example.com", UserOpKind::join, 0, "team:eng/backend", ""},
      UserOp{"n", "e", "m", "a", UserOpKind::leave, 0, std::string(128, 'r'), ""},
      NodeQuery{12, "node-1"},
      NodeQueryReply{5, 12, {{"node-1", "tcp://127.0.0.1:6001"}}},
      NodeQueryReply{5, kU64Max, {}},
      HelloPublic{"node-1", 7, "ws://0.0.0.0:8080/ws", "tcp://10.0.0.1:6001", "wss://chat.example.com/ws"},
      HelloPublic{"n", kU64Max, "wss://[::1]:8443/ws", "ipc:///run/wsg/events", std::string(kMaxAddressBytes, 'u')},
  };
}

std::set<uint8_t> all_types() {
  std::set<uint8_t> all;
  for (uint8_t t = 1; t <= static_cast<uint8_t>(Type::hello_public); ++t) all.insert(t);
  return all;
}

void require_refused(const std::string& bytes, const std::string& reason_part) {
  std::string error;
  const auto m = decode(bytes, &error);
  REQUIRE_FALSE(m.has_value());
  REQUIRE_THAT(error, Contains(reason_part));
}

}  // namespace

TEST_CASE("every message type round-trips", "[cluster_codec]") {
  std::set<uint8_t> seen;
  for (const Message& m : samples()) {
    const std::string bytes = encode(m).value();
    REQUIRE(bytes.size() >= 2);
    CHECK(static_cast<uint8_t>(bytes[0]) == version_of(type_of(m)));
    CHECK(static_cast<uint8_t>(bytes[1]) == static_cast<uint8_t>(type_of(m)));
    std::string error;
    const auto back = decode(bytes, &error);
    INFO("type " << int(static_cast<uint8_t>(type_of(m))) << ": " << error);
    REQUIRE(back.has_value());
    CHECK(back->index() == m.index());
    CHECK(*back == m);
    CHECK(encode(*back) == bytes);
    seen.insert(static_cast<uint8_t>(type_of(m)));
  }
  CHECK(seen == all_types());
}

TEST_CASE("type_of numbers each alternative as the header declares", "[cluster_codec]") {
  CHECK(type_of(Hello{}) == Type::hello);
  CHECK(type_of(Ack{}) == Type::ack);
  CHECK(type_of(StatusQuery{}) == Type::status);
  CHECK(type_of(PresenceReply{}) == Type::presence_reply);
  CHECK(type_of(Deliver{}) == Type::deliver);
  CHECK(type_of(Receipt{}) == Type::receipt);
  CHECK(type_of(LookupBatchReply{}) == Type::lookup_batch_reply);
  CHECK(type_of(RoomRegister{}) == Type::room_register);
  CHECK(type_of(RoomInvalidateAck{}) == Type::room_invalidate_ack);
  CHECK(type_of(RoomDeliver{}) == Type::room_deliver);
  CHECK(type_of(MembersReply{}) == Type::members_reply);
  CHECK(static_cast<uint8_t>(Type::room_register) == 22);
  CHECK(static_cast<uint8_t>(Type::members_reply) == 31);
}

TEST_CASE("golden encodings (v1 must not change silently)", "[cluster_codec]") {
  SECTION("LOOKUP") {
    const std::string expected(
        "\x01\x06"
        "\x08\x07\x06\x05\x04\x03\x02\x01"
        "\x02\x00\x00\x00"
        "al",
        16);
    CHECK(encode(Lookup{0x0102030405060708ULL, "al"}) == expected);
    CHECK(decode(expected) == std::optional<Message>(Lookup{0x0102030405060708ULL, "al"}));
  }
  SECTION("PRESENCE_REPLY (bools)") {
    const std::string expected(
        "\x01\x0f"
        "\x01\x00\x00\x00\x00\x00\x00\x00"
        "\xff\xff\xff\xff\xff\xff\xff\xff"
        "\x03\x00\x00\x00"
        "\x01\x00\x01",
        25);
    CHECK(encode(PresenceReply{1, kU64Max, {true, false, true}}) == expected);
  }
  SECTION("DELIVER (negative ts) and RECEIPT (status byte)") {
    const std::string deliver = std::string("\x01\x10", 2) + str("n1") + str("tcp://h:1") + le32(1) + str("m") +
                                str("a") + str("b") + std::string("\xfe\xff\xff\xff\xff\xff\xff\xff", 8) + str("{}");
    CHECK(encode(Deliver{"n1", "tcp://h:1", {{"m", "a", "b", -2, "{}"}}}) == deliver);
    const std::string receipt = std::string("\x01\x11", 2) + str("n2") + le32(2) + str("m") + std::string(1, '\x02') +
                                str("k") + std::string(1, '\x01');
    CHECK(encode(Receipt{"n2", {{"m", ReceiptStatus::not_here}, {"k", ReceiptStatus::delivered}}}) == receipt);
  }
}

TEST_CASE("golden encodings of v3 (rooms)", "[cluster_codec]") {
  SECTION("ROOM_INVALIDATE") {
    const std::string expected(
        "\x03\x1a"
        "\x08\x07\x06\x05\x04\x03\x02\x01"
        "\x08\x00\x00\x00"
        "team:a/b",
        22);
    CHECK(encode(RoomInvalidate{0x0102030405060708ULL, "team:a/b"}) == expected);
    CHECK(decode(expected) == std::optional<Message>(RoomInvalidate{0x0102030405060708ULL, "team:a/b"}));
  }
  SECTION("ROOM_COUNT_REPLY (seq, room, sessions, users)") {
    const std::string expected = std::string("\x03\x22", 2) + le64(5) + str("lobby") + le32(7) + le32(6);
    CHECK(encode(RoomCountReply{5, "lobby", 7, 6}).value() == expected);
  }
  SECTION("ROOM_RECEIPT (status byte, then sessions as u32)") {
    const std::string expected(
        "\x03\x1d"
        "\x02\x00\x00\x00"
        "n2"
        "\x02\x00\x00\x00"
        "\x01\x00\x00\x00"
        "m"
        "\x02"
        "\x00\x00\x00\x00"
        "\x01\x00\x00\x00"
        "k"
        "\x01"
        "\x04\x03\x02\x01",
        32);
    const RoomReceipt receipt{"n2", {{"m", ReceiptStatus::not_here, 0}, {"k", ReceiptStatus::delivered, 0x01020304}}};
    CHECK(encode(receipt) == expected);
    CHECK(decode(expected) == std::optional<Message>(receipt));
  }
  SECTION("ROOM_DELIVER (event byte between from and ts_ms)") {
    const std::string expected = std::string("\x03\x1c", 2) + str("n1") + str("tcp://h:1") + le32(1) + str("m") +
                                 str("r/1") + str("a") + std::string(1, '\x03') +
                                 std::string("\xfe\xff\xff\xff\xff\xff\xff\xff", 8) + str("");
    CHECK(encode(RoomDeliver{"n1", "tcp://h:1", {{"m", "r/1", "a", RoomEvent::leave, -2, ""}}}) == expected);
  }
}

TEST_CASE("every type's field layout is pinned", "[cluster_codec]") {
  // Distinct values per field, so that swapping two fields of one struct changes the bytes.
  const std::string T{'\x01'}, F{'\x00'};
  const std::vector<std::pair<Message, std::string>> layouts = {
      {Hello{"n", 2, "w", "e"}, header(Type::hello) + str("n") + le64(2) + str("w") + str("e")},
      {HelloReply{3, true, "r"}, header(Type::hello_reply) + le64(3) + T + str("r")},
      {RegisterSessions{4, {{"u", "s"}}}, header(Type::register_sessions) + le64(4) + le32(1) + str("u") + str("s")},
      {UnregisterSessions{5, {{"u", "s"}}},
       header(Type::unregister_sessions) + le64(5) + le32(1) + str("u") + str("s")},
      {Ack{6, 7, false}, header(Type::ack) + le64(6) + le64(7) + F},
      {Lookup{8, "u"}, header(Type::lookup) + le64(8) + str("u")},
      {LookupReply{9, 10, "u", {{"i", "e"}}},
       header(Type::lookup_reply) + le64(9) + le64(10) + str("u") + le32(1) + str("i") + str("e")},
      {Heartbeat{"n", 11, 12}, header(Type::heartbeat) + str("n") + le64(11) + le64(12)},
      {HeartbeatReply{13, false}, header(Type::heartbeat_reply) + le64(13) + F},
      {Invalidate{14, "u"}, header(Type::invalidate) + le64(14) + str("u")},
      {NodeDown{15, "n"}, header(Type::node_down) + le64(15) + str("n")},
      {StatusQuery{16, "u"}, header(Type::status) + le64(16) + str("u")},
      {StatusReply{17, 18, "{}"}, header(Type::status_reply) + le64(17) + le64(18) + str("{}")},
      {PresenceQuery{19, {"a", "b"}}, header(Type::presence) + le64(19) + le32(2) + str("a") + str("b")},
      {PresenceReply{20, 21, {false, true}}, header(Type::presence_reply) + le64(20) + le64(21) + le32(2) + F + T},
      {Deliver{"n", "e", {{"m", "f", "t", 22, "b"}}},
       header(Type::deliver) + str("n") + str("e") + le32(1) + str("m") + str("f") + str("t") + le64(22) + str("b")},
      {Receipt{"n", {{"m", ReceiptStatus::not_here}}},
       header(Type::receipt) + str("n") + le32(1) + str("m") + std::string(1, '\x02')},
      {InvalidateAck{"u"}, header(Type::invalidate_ack) + str("u")},
      {Leave{"n", 23}, header(Type::leave) + str("n") + le64(23)},
      {LookupBatch{{{24, "u"}, {25, "v"}}},
       header(Type::lookup_batch) + le32(2) + le64(24) + str("u") + le64(25) + str("v")},
      {LookupBatchReply{26, {{"i", "e"}}, {{27, "u", {0}}, {28, "v", {}}}},
       header(Type::lookup_batch_reply) + le64(26) + le32(1) + str("i") + str("e") + le32(2) + le64(27) + str("u") +
           le32(1) + le32(0) + le64(28) + str("v") + le32(0)},
      {RoomRegister{29, {"r", "s"}}, header(Type::room_register) + le64(29) + le32(2) + str("r") + str("s")},
      {RoomUnregister{30, {"r"}}, header(Type::room_unregister) + le64(30) + le32(1) + str("r")},
      {RoomLookup{31, "r"}, header(Type::room_lookup) + le64(31) + str("r")},
      {RoomLookupReply{32, 33, "r", {{"i", "e"}}},
       header(Type::room_lookup_reply) + le64(32) + le64(33) + str("r") + le32(1) + str("i") + str("e")},
      {RoomInvalidate{34, "r"}, header(Type::room_invalidate) + le64(34) + str("r")},
      {RoomInvalidateAck{"r"}, header(Type::room_invalidate_ack) + str("r")},
      {RoomDeliver{"n", "e", {{"m", "r", "f", RoomEvent::message, 35, "b"}, {"k", "s", "g", RoomEvent::join, 36, ""}}},
       header(Type::room_deliver) + str("n") + str("e") + le32(2) + str("m") + str("r") + str("f") + T + le64(35) +
           str("b") + str("k") + str("s") + str("g") + std::string(1, '\x02') + le64(36) + str("")},
      {RoomReceipt{"n", {{"m", ReceiptStatus::delivered, 37}, {"k", ReceiptStatus::not_here, 0}}},
       header(Type::room_receipt) + str("n") + le32(2) + str("m") + T + le32(37) + str("k") + std::string(1, '\x02') +
           le32(0)},
      {MembersQuery{"n", "e", 38, "f", "r", "a", 39},
       header(Type::members_query) + str("n") + str("e") + le64(38) + str("f") + str("r") + str("a") + le32(39)},
      {MembersReply{"n", 40, {"a", "b"}, true},
       header(Type::members_reply) + str("n") + le64(40) + le32(2) + str("a") + str("b") + T},
      {RoomStatus{41, "r"}, header(Type::room_status) + le64(41) + str("r")},
      {RoomCount{42, 43, "r"}, header(Type::room_count) + le64(42) + le64(43) + str("r")},
      {RoomCountReply{44, "r", 45, 46}, header(Type::room_count_reply) + le64(44) + str("r") + le32(45) + le32(46)},
      {UserOp{"n", "e", "m", "u", UserOpKind::disconnect, 4000, "", "x"},
       header(Type::user_op) + str("n") + str("e") + str("m") + str("u") + std::string(1, '\x01') + le32(4000) +
           str("") + str("x")},
      {UserOp{"n", "e", "m", "u", UserOpKind::join, 0, "r", ""}, header(Type::user_op) + str("n") + str("e") +
                                                                     str("m") + str("u") + std::string(1, '\x02') +
                                                                     le32(0) + str("r") + str("")},
      {NodeQuery{47, "i"}, header(Type::node_query) + le64(47) + str("i")},
      {NodeQueryReply{48, 49, {{"i", "e"}}},
       header(Type::node_query_reply) + le64(48) + le64(49) + le32(1) + str("i") + str("e")},
      {HelloPublic{"n", 50, "w", "e", "p"},
       header(Type::hello_public) + str("n") + le64(50) + str("w") + str("e") + str("p")},
  };
  std::set<uint8_t> seen;
  for (const auto& [message, bytes] : layouts) {
    INFO("type " << int(static_cast<uint8_t>(type_of(message))));
    CHECK(encode(message) == bytes);
    CHECK(decode(bytes) == std::optional<Message>(message));
    seen.insert(static_cast<uint8_t>(type_of(message)));
  }
  CHECK(seen == all_types());
}

TEST_CASE("decode refuses a bad header", "[cluster_codec]") {
  std::string error = "unchanged";
  CHECK_FALSE(decode("", &error).has_value());
  CHECK(error == "empty message");
  CHECK_FALSE(decode("").has_value());  // error pointer is optional
  require_refused(std::string(1, '\x01'), "truncated");

  std::string bytes = encode(Ack{1, 2, true}).value();
  REQUIRE(decode(bytes).has_value());
  bytes[0] = 2;
  require_refused(bytes, "unsupported wire version 2");
  bytes[0] = 0;
  require_refused(bytes, "unsupported wire version 0");

  bytes[0] = 5;
  require_refused(bytes, "unsupported wire version 5");
  bytes[0] = static_cast<char>(0xff);
  require_refused(bytes, "unsupported wire version 255");

  bytes[0] = static_cast<char>(kWireVersion);
  for (int type : {0, 20, 21, 22, 31, 32, 99, 255}) {
    bytes[1] = static_cast<char>(type);
    require_refused(bytes, "unknown message type " + std::to_string(type));
  }
  bytes[0] = 2;
  for (int type : {0, 22, 31, 32, 99, 255}) {
    bytes[1] = static_cast<char>(type);
    require_refused(bytes, "unknown message type " + std::to_string(type));
  }
  bytes[0] = 3;
  for (int type : {0, 35, 37, 99, 255}) {
    bytes[1] = static_cast<char>(type);
    require_refused(bytes, "unknown message type " + std::to_string(type));
  }
  bytes[0] = 4;
  for (int type : {0, 38, 99, 255}) {
    bytes[1] = static_cast<char>(type);
    require_refused(bytes, "unknown message type " + std::to_string(type));
  }
  REQUIRE(kLatestWireVersion == 5);
  bytes[0] = static_cast<char>(kLatestWireVersion);
  for (int type : {0, 39, 99, 255}) {
    bytes[1] = static_cast<char>(type);
    require_refused(bytes, "unknown message type " + std::to_string(type));
  }
  bytes[0] = 6;
  bytes[1] = 5;
  require_refused(bytes, "unsupported wire version 6");
}

TEST_CASE("USER_OP and NODE_QUERY_REPLY field rules (v4)", "[cluster_codec]") {
  auto refused = [](const Message& m, const std::string& why) {
    std::string error;
    CHECK_FALSE(encode(m, &error).has_value());
    CHECK_THAT(error, Contains(why));
  };
  refused(UserOp{"n", "e", "m", "u", UserOpKind::disconnect, 3999, "", ""}, "disconnect code not 4000..4999");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::disconnect, 5000, "", ""}, "disconnect code not 4000..4999");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::disconnect, 4000, "", std::string(124, 'x')}, "over 123 bytes");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::disconnect, 4000, "r", ""}, "disconnect with a room");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::join, 0, "", ""}, "without a valid room name");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::leave, 0, "bad room", ""}, "without a valid room name");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::join, 4000, "r", ""}, "join or leave with a code or reason");
  refused(UserOp{"n", "e", "m", "u", UserOpKind::leave, 0, "r", "why"}, "join or leave with a code or reason");
  refused(UserOp{"n", "e", "m", "u", static_cast<UserOpKind>(4), 0, "r", ""}, "unknown user operation");
  refused(NodeQueryReply{1, 2, {{"a", "e"}, {"b", "f"}}}, "more than one node");
  // The decoder refuses the same: an unknown operation byte.
  std::string bytes = encode(UserOp{"n", "e", "m", "u", UserOpKind::leave, 0, "r", ""}).value();
  const std::size_t op_at = 2 + 5 + 5 + 5 + 5;
  REQUIRE(bytes[op_at] == '\x03');
  bytes[op_at] = '\x04';
  require_refused(bytes, "unknown user operation");
  bytes[op_at] = '\x00';
  require_refused(bytes, "unknown user operation");
}

TEST_CASE("wire version 2: its types carry version 2, the v1 types keep version 1", "[cluster_codec]") {
  // What a v1 process receives from a v2 process that has not sent a v2 type is v1 bytes.
  for (uint8_t t = 1; t <= static_cast<uint8_t>(Type::leave); ++t) CHECK(version_of(static_cast<Type>(t)) == 1);
  CHECK(version_of(Type::lookup_batch) == 2);
  CHECK(version_of(Type::lookup_batch_reply) == 2);
  // A v1 type stamped 2 is not canonical, so refused; a v2 type stamped 1 is unknown in v1.
  std::string ack = encode(Ack{1, 2, true}).value();
  ack[0] = 2;
  require_refused(ack, "unsupported wire version 2 for ACK");
  std::string batch = encode(LookupBatch{{{1, "u"}}}).value();
  REQUIRE(static_cast<uint8_t>(batch[0]) == 2);
  batch[0] = 1;
  require_refused(batch, "unknown message type 20 in wire version 1");
}

TEST_CASE("wire version 3: the room types carry version 3, v1 and v2 types keep theirs", "[cluster_codec]") {
  for (uint8_t t = 1; t <= static_cast<uint8_t>(Type::leave); ++t) CHECK(version_of(static_cast<Type>(t)) == 1);
  CHECK(version_of(Type::lookup_batch) == 2);
  CHECK(version_of(Type::lookup_batch_reply) == 2);
  for (uint8_t t = static_cast<uint8_t>(Type::room_register); t <= static_cast<uint8_t>(Type::members_reply); ++t)
    CHECK(version_of(static_cast<Type>(t)) == 3);

  // Each v3 type, stamped 1 or 2 (what a v1 or v2 process would call it): unknown in that version.
  std::set<uint8_t> seen;
  for (const Message& m : samples()) {
    const auto type = static_cast<uint8_t>(type_of(m));
    if (type < static_cast<uint8_t>(Type::room_register) || type > static_cast<uint8_t>(Type::room_count_reply) ||
        seen.count(type))
      continue;
    seen.insert(type);
    std::string bytes = encode(m).value();
    INFO("type " << int(type));
    REQUIRE(static_cast<uint8_t>(bytes[0]) == 3);
    REQUIRE(decode(bytes).has_value());
    for (char version : {'\x01', '\x02'}) {
      bytes[0] = version;
      require_refused(
          bytes, "unknown message type " + std::to_string(type) + " in wire version " + std::to_string(int(version)));
    }
  }
  CHECK(seen.size() == 13);

  // A v1 or v2 type stamped 3 is not canonical.
  std::string ack = encode(Ack{1, 2, true}).value();
  ack[0] = 3;
  require_refused(ack, "unsupported wire version 3 for ACK (a version 1 type)");
  std::string batch = encode(LookupBatch{{{1, "u"}}}).value();
  batch[0] = 3;
  require_refused(batch, "unsupported wire version 3 for LOOKUP_BATCH (a version 2 type)");
  std::string reply = encode(LookupBatchReply{1, {}, {}}).value();
  reply[0] = 3;
  require_refused(reply, "unsupported wire version 3 for LOOKUP_BATCH_REPLY (a version 2 type)");
  // A v3 type stamped 4 is an unknown version.
  std::string room = encode(RoomLookup{1, "r"}).value();
  room[0] = 4;
  require_refused(room, "unsupported wire version 4");
}

TEST_CASE("wire version 4: the server API types carry version 4, and older versions do not know them",
          "[cluster_codec]") {
  std::set<uint8_t> seen;
  for (const Message& m : samples()) {
    const auto type = static_cast<uint8_t>(type_of(m));
    if (type < static_cast<uint8_t>(Type::user_op) || type > static_cast<uint8_t>(Type::node_query_reply) ||
        seen.count(type))
      continue;
    seen.insert(type);
    CHECK(version_of(static_cast<Type>(type)) == 4);
    std::string bytes = encode(m).value();
    INFO("type " << int(type));
    REQUIRE(static_cast<uint8_t>(bytes[0]) == 4);
    REQUIRE(decode(bytes).has_value());
    for (char version : {'\x01', '\x02', '\x03'}) {
      bytes[0] = version;
      require_refused(
          bytes, "unknown message type " + std::to_string(type) + " in wire version " + std::to_string(int(version)));
    }
  }
  CHECK(seen.size() == 3);
  std::string ack = encode(Ack{1, 2, true}).value();
  ack[0] = 4;
  require_refused(ack, "unsupported wire version 4 for ACK (a version 1 type)");
}

TEST_CASE("wire version 5: HELLO_PUBLIC carries version 5 and the HELLO fields plus public_url", "[cluster_codec]") {
  CHECK(version_of(Type::hello_public) == 5);
  CHECK(static_cast<uint8_t>(Type::hello_public) == 38);
  CHECK(type_of(HelloPublic{}) == Type::hello_public);
  // Golden bytes: HELLO's layout (node_id, incarnation, ws_url, events), then public_url.
  const std::string expected = std::string("\x05\x26", 2) + str("node-1") + le64(0x0102030405060708ULL) +
                               str("ws://0.0.0.0:8080/ws") + str("tcp://10.0.0.1:6001") +
                               str("wss://chat.example.com/ws");
  const HelloPublic hello{"node-1", 0x0102030405060708ULL, "ws://0.0.0.0:8080/ws", "tcp://10.0.0.1:6001",
                          "wss://chat.example.com/ws"};
  CHECK(encode(hello) == expected);
  CHECK(decode(expected) == std::optional<Message>(hello));
  // A HELLO without a public URL is still the v1 HELLO, byte for byte (what a v4 master reads).
  CHECK(encode(Hello{"n", 2, "w", "e"}) == std::string("\x01\x01", 2) + str("n") + le64(2) + str("w") + str("e"));
  // Older versions do not know type 38; a v1 type stamped 5 is not canonical.
  std::string bytes = expected;
  for (char version : {'\x01', '\x02', '\x03', '\x04'}) {
    bytes[0] = version;
    require_refused(bytes, "unknown message type 38 in wire version " + std::to_string(int(version)));
  }
  std::string ack = encode(Ack{1, 2, true}).value();
  ack[0] = 5;
  require_refused(ack, "unsupported wire version 5 for ACK (a version 1 type)");
  // public_url is an address: 1..kMaxAddressBytes of printable ASCII without spaces, both ways.
  const auto with_url = [](const std::string& url) {
    return std::string("\x05\x26", 2) + str("n") + le64(1) + str("w") + str("e") + str(url);
  };
  CHECK(decode(with_url(std::string(kMaxAddressBytes, 'u'))).has_value());
  require_refused(with_url(""), "HELLO_PUBLIC: empty address");
  require_refused(with_url(std::string(kMaxAddressBytes + 1, 'u')), "HELLO_PUBLIC: string over its length limit");
  require_refused(with_url("ws://a b/ws"), "HELLO_PUBLIC: address not printable ASCII");
  require_refused(expected + "x", "HELLO_PUBLIC: trailing bytes");
  std::string error;
  CHECK_FALSE(encode(HelloPublic{"n", 1, "w", "e", ""}, &error).has_value());
  CHECK_THAT(error, Contains("HELLO_PUBLIC"));
  CHECK_FALSE(encode(HelloPublic{"n", 1, "w", "e", "ws://h/\n"}).has_value());
}

TEST_CASE("LOOKUP_BATCH and its reply: counts and node indexes are checked both ways", "[cluster_codec]") {
  require_refused(header(Type::lookup_batch) + le32(0), "LOOKUP_BATCH: no lookup");
  CHECK_FALSE(encode(LookupBatch{}).has_value());
  std::string over = header(Type::lookup_batch) + le32(kMaxLookupBatch + 1);
  for (uint32_t i = 0; i <= kMaxLookupBatch; ++i) over += le64(i) + str("u");
  require_refused(over, "LOOKUP_BATCH: more than kMaxLookupBatch lookups");
  CHECK_FALSE(encode(LookupBatch{std::vector<Lookup>(kMaxLookupBatch + 1, Lookup{1, "u"})}).has_value());

  // An index past the table would make the node read outside it.
  const std::string bad_index = header(Type::lookup_batch_reply) + le64(1) + le32(1) + str("i") + str("e") + le32(1) +
                                le64(2) + str("u") + le32(1) + le32(1);
  require_refused(bad_index, "LOOKUP_BATCH_REPLY: node index outside the nodes table");
  CHECK_FALSE(encode(LookupBatchReply{1, {{"i", "e"}}, {{2, "u", {1}}}}).has_value());
  CHECK_FALSE(encode(LookupBatchReply{1, {}, std::vector<LookupResult>(kMaxLookupBatch + 1, LookupResult{1, "u", {}})})
                  .has_value());
  std::string error;
  CHECK_FALSE(encode(LookupBatchReply{1, {}, {{2, "u", {0}}}}, &error).has_value());
  CHECK(error == "LOOKUP_BATCH_REPLY: node index outside the nodes table");
}

TEST_CASE("decode refuses every truncation of valid encodings", "[cluster_codec]") {
  for (const Message& m : samples()) {
    const std::string bytes = encode(m).value();
    REQUIRE(decode(bytes).has_value());
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      std::string error;
      const auto r = decode(std::string_view(bytes).substr(0, len), &error);
      INFO("type " << int(static_cast<uint8_t>(type_of(m))) << " prefix " << len << " of " << bytes.size());
      REQUIRE_FALSE(r.has_value());
      REQUIRE_FALSE(error.empty());
    }
  }
}

TEST_CASE("decode refuses trailing bytes", "[cluster_codec]") {
  for (const Message& m : samples()) {
    const std::string bytes = encode(m).value() + '\0';
    require_refused(bytes, "trailing bytes");
  }
}

TEST_CASE("decode enforces string limits", "[cluster_codec]") {
  // HELLO_REPLY's reason is the one str still bounded by kMaxString (others have tighter rules).
  const std::string at_limit =
      header(Type::hello_reply) + le64(1) + std::string(1, '\0') + str(std::string(kMaxString, 'r'));
  REQUIRE(decode(at_limit).has_value());
  require_refused(header(Type::hello_reply) + le64(1) + std::string(1, '\0') + str(std::string(kMaxString + 1, 'r')),
                  "HELLO_REPLY: string over its length limit");

  // The length is refused even though the bytes are all there.
  const std::string over = header(Type::lookup) + le64(1) + str(std::string(kMaxString + 1, 'u'));
  require_refused(over, "LOOKUP: string over its length limit");
  require_refused(header(Type::lookup) + le64(1) + le32(0xffffffffu), "string over its length limit");

  SECTION("bodies are bounded by kMaxBody") {
    const std::string json_at_limit = header(Type::status_reply) + le64(1) + le64(2) + str(std::string(kMaxBody, '{'));
    const auto ok = decode(json_at_limit);
    REQUIRE(ok.has_value());
    CHECK(std::get<StatusReply>(*ok).json.size() == kMaxBody);

    const std::string json_over = header(Type::status_reply) + le64(1) + le64(2) + str(std::string(kMaxBody + 1, '{'));
    require_refused(json_over, "string over its length limit");

    const std::string body_over = header(Type::deliver) + str("n") + str("e") + le32(1) + str("m") + str("a") +
                                  str("b") + le64(0) + le32(kMaxBody + 1);
    require_refused(body_over, "string over its length limit");
  }
  SECTION("a body over kMaxString but within kMaxBody is fine; other strings are not") {
    const std::string item_tail = str("a") + str("b") + le64(0);
    const std::string long_body = header(Type::deliver) + str("n") + str("e") + le32(1) + str("m") + item_tail +
                                  str(std::string(kMaxString + 1, 'b'));
    CHECK(decode(long_body).has_value());
    const std::string long_id = header(Type::deliver) + str("n") + str("e") + le32(1) +
                                str(std::string(kMaxString + 1, 'm')) + item_tail + str("{}");
    require_refused(long_id, "string over its length limit");
  }
}

TEST_CASE("decode enforces list limits before allocating", "[cluster_codec]") {
  const std::string prefix = header(Type::register_sessions) + le64(1);
  require_refused(prefix + le32(0xffffffffu), "list over kMaxItems");
  require_refused(prefix + le32(kMaxItems + 1), "list over kMaxItems");
  // A count the remaining bytes cannot hold (a SessionRef takes at least 8 bytes).
  require_refused(prefix + le32(kMaxItems) + std::string(64, '\0'), "list count exceeds the remaining bytes");
  require_refused(prefix + le32(2) + str("") + str("") + std::string(7, '\0'),
                  "list count exceeds the remaining bytes");
  CHECK(decode(prefix + le32(2) + str("u") + str("s") + str("v") + str("t")).has_value());

  SECTION("lists of bools and strings") {
    const std::string presence = header(Type::presence_reply) + le64(1) + le64(2);
    const auto full = decode(presence + le32(kMaxItems) + std::string(kMaxItems, '\x01'));
    REQUIRE(full.has_value());
    CHECK(std::get<PresenceReply>(*full).online.size() == kMaxItems);
    require_refused(presence + le32(kMaxItems) + std::string(kMaxItems - 1, '\x01'),
                    "list count exceeds the remaining bytes");
    require_refused(header(Type::presence) + le64(1) + le32(3) + std::string(11, '\0'),
                    "list count exceeds the remaining bytes");
  }
}

TEST_CASE("decode refuses bad bool and enum bytes", "[cluster_codec]") {
  require_refused(header(Type::ack) + le64(1) + le64(2) + std::string(1, '\x02'), "ACK: bool byte not 0 or 1");
  require_refused(header(Type::heartbeat_reply) + le64(1) + std::string(1, '\xff'), "bool byte not 0 or 1");
  require_refused(header(Type::presence_reply) + le64(1) + le64(2) + le32(2) + "\x01\x02", "bool byte not 0 or 1");
  for (char status : {'\x00', '\x03', '\xff'}) {
    require_refused(header(Type::receipt) + str("n") + le32(1) + str("m") + std::string(1, status),
                    "RECEIPT: unknown receipt status");
    require_refused(header(Type::room_receipt) + str("n") + le32(1) + str("m") + std::string(1, status) + le32(0),
                    "ROOM_RECEIPT: unknown receipt status");
  }
  // encode checks the same bytes: a status or event outside the enum is never sent.
  std::string error;
  CHECK_FALSE(encode(Receipt{"n", {{"m", static_cast<ReceiptStatus>(3)}}}, &error).has_value());
  CHECK(error == "RECEIPT: unknown receipt status");
  CHECK_FALSE(encode(RoomReceipt{"n", {{"m", static_cast<ReceiptStatus>(0), 0}}}, &error).has_value());
  CHECK(error == "ROOM_RECEIPT: unknown receipt status");
  CHECK_FALSE(encode(RoomDeliver{"n", "e", {{"m", "r", "f", static_cast<RoomEvent>(4), 0, ""}}}, &error).has_value());
  CHECK(error == "ROOM_DELIVER: unknown room event");
}

TEST_CASE("encode refuses what decode would refuse", "[cluster_codec]") {
  CHECK_FALSE(encode(Lookup{1, std::string(kMaxString + 1, 'u')}).has_value());
  CHECK_FALSE(encode(PresenceReply{1, 2, std::vector<bool>(kMaxItems + 1)}).has_value());
  CHECK_FALSE(encode(PresenceQuery{1, std::vector<std::string>(kMaxItems + 1)}).has_value());
  CHECK(encode(PresenceQuery{1, std::vector<std::string>(kMaxItems, "u")}).has_value());
  Deliver big_item{"n", "e", {{"m", "a", "b", 0, std::string(kMaxBody + 1, 'x')}}};
  CHECK_FALSE(encode(big_item).has_value());
}

TEST_CASE("random and mutated input never crashes and decodes canonically", "[cluster_codec]") {
  std::mt19937_64 rng(0x5eed'c0dec);
  auto below = [&rng](std::size_t n) {
    return static_cast<std::size_t>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng));
  };
  auto byte = [&]() { return static_cast<char>(below(256)); };

  std::vector<std::string> seeds;
  for (const Message& m : samples()) {
    std::string e = encode(m).value();
    if (e.size() <= 4096) seeds.push_back(std::move(e));  // keep the fuzz loop quick
  }
  REQUIRE(seeds.size() >= 17);

  std::size_t decoded = 0, refused = 0;
  auto check = [&](const std::string& buf) {
    std::string error;
    const auto m = decode(buf, &error);  // noexcept: a throw would terminate the test run
    if (m) {
      ++decoded;
      REQUIRE(encode(*m) == buf);
      REQUIRE(decode(encode(*m).value()) == m);
    } else {
      ++refused;
      REQUIRE_FALSE(error.empty());
    }
  };

  for (int i = 0; i < 3000; ++i) {  // random buffers, mostly with a valid header
    std::string buf(below(48), '\0');
    for (char& c : buf) c = byte();
    if (buf.size() >= 2 && below(4) != 0) {
      const auto type = static_cast<Type>(1 + below(static_cast<std::size_t>(Type::members_reply)));
      buf[0] = static_cast<char>(version_of(type));
      buf[1] = static_cast<char>(type);
    }
    check(buf);
  }
  for (int i = 0; i < 6000; ++i) {  // mutations of valid encodings
    std::string buf = seeds[below(seeds.size())];
    const std::size_t edits = 1 + below(3);
    for (std::size_t e = 0; e < edits && !buf.empty(); ++e) {
      const std::size_t at = below(buf.size());
      switch (below(6)) {
        case 0: buf[at] = byte(); break;
        case 1: buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(at), byte()); break;
        case 2: buf.erase(at, 1); break;
        case 3: buf.resize(at); break;
        case 4: {  // a plausible small length or count at a random offset
          const std::string n = le32(static_cast<uint32_t>(below(8)));
          buf.replace(at, std::min<std::size_t>(4, buf.size() - at), n);
          break;
        }
        default:  // a low byte flip keeps most structure and often stays valid
          buf[at] = static_cast<char>(buf[at] ^ static_cast<char>(1u << below(8)));
          break;
      }
    }
    check(buf);
  }
  CHECK(decoded > 100);   // the mutations did reach valid inputs
  CHECK(refused > 1000);  // and malformed ones
}

TEST_CASE("a full router batch (512 DELIVER items, 512 receipts) round-trips in order", "[cluster_codec]") {
  // The router's per-peer outbox sends up to 512 items per ZeroMQ message (PeerOutbox::kOutboxItems).
  Deliver d{"node-1", "tcp://127.0.0.1:6001", {}};
  Receipt r{"node-2", {}};
  for (int i = 0; i < 512; ++i) {
    const std::string id = "1f-" + std::to_string(i);
    d.items.push_back(
        {id, "alice", "bob" + std::to_string(i % 7), 1700000000000 + i, R"({"n":)" + std::to_string(i) + "}"});
    r.items.push_back({id, i % 3 == 0 ? ReceiptStatus::not_here : ReceiptStatus::delivered});
  }
  for (const Message& m : {Message{d}, Message{r}}) {
    std::string error;
    auto decoded = decode(encode(m).value(), &error);
    REQUIRE(decoded);
    CHECK(*decoded == m);
  }
}

// ---- String rules (docs/wire-encoding.md §5) -----------------------------------------------------

namespace {

// A one-string message of each field kind, built by hand so that encode's own check is not used.
std::string lookup_with(const std::string& user) { return header(Type::lookup) + le64(1) + str(user); }
std::string node_down_with(const std::string& id) { return header(Type::node_down) + le64(1) + str(id); }
std::string hello_with(const std::string& id, const std::string& ws, const std::string& events) {
  return header(Type::hello) + str(id) + le64(1) + str(ws) + str(events);
}
std::string receipt_with(const std::string& msg_id) {
  return header(Type::receipt) + str("n") + le32(1) + str(msg_id) + std::string(1, '\x01');
}
std::string register_with(const std::string& user, const std::string& session) {
  return header(Type::register_sessions) + le64(1) + le32(1) + str(user) + str(session);
}
std::string reply_with(const std::string& reason) { return header(Type::hello_reply) + le64(1) + '\x00' + str(reason); }
std::string deliver_with(const std::string& body) {
  return header(Type::deliver) + str("n") + str("tcp://h:1") + le32(1) + str("m") + str("a") + str("b") + le64(0) +
         str(body);
}
std::string status_reply_with(const std::string& json) {
  return header(Type::status_reply) + le64(1) + le64(2) + str(json);
}

}  // namespace

TEST_CASE("decode refuses node ids that are empty, too long or outside [A-Za-z0-9._-]", "[cluster_codec]") {
  CHECK(decode(node_down_with(std::string(kMaxNodeIdBytes, 'n'))).has_value());
  CHECK(decode(node_down_with("Node_1.a-b")).has_value());
  require_refused(node_down_with(std::string(kMaxNodeIdBytes + 1, 'n')), "NODE_DOWN: string over its length limit");
  require_refused(node_down_with(std::string(4090, 'n')), "string over its length limit");
  require_refused(node_down_with(""), "NODE_DOWN: empty node id");
  for (const std::string& bad : std::vector<std::string>{"a b", "a\nb", "a\x1b[2Jb", "a:b", "a@b", "caf\xC3\xA9", "a/b",
                                                         std::string("a\0b", 3)}) {
    INFO(bad);
    require_refused(node_down_with(bad), "node id not of [A-Za-z0-9._-]");
    require_refused(hello_with(bad, "ws://h:1/ws", "tcp://h:2"), "HELLO: node id");
  }
  // Every field holding a node id follows the rule.
  require_refused(header(Type::heartbeat) + str("a b") + le64(0) + le64(0), "HEARTBEAT: node id");
  require_refused(header(Type::leave) + str("") + le64(0), "LEAVE: empty node id");
  require_refused(header(Type::deliver) + str("a\nb") + str("tcp://h:1") + le32(0), "DELIVER: node id");
  require_refused(header(Type::receipt) + str("a\nb") + le32(0), "RECEIPT: node id");
  require_refused(header(Type::lookup_reply) + le64(1) + le64(2) + str("u") + le32(1) + str("a b") + str("tcp://h:1"),
                  "LOOKUP_REPLY: node id");
}

TEST_CASE("decode refuses user ids the client protocol would refuse", "[cluster_codec]") {
  CHECK(decode(lookup_with(std::string(128, 'u'))).has_value());
  CHECK(decode(lookup_with("a.b_c@d:e-f")).has_value());
  require_refused(lookup_with(std::string(129, 'u')), "LOOKUP: string over its length limit");
  for (const std::string& bad : std::vector<std::string>{"", "a b", "a\nb", "caf\xC3\xA9", "a/b", "a\xff"}) {
    INFO(bad);
    require_refused(lookup_with(bad), "LOOKUP: user id not 1-128 bytes of [A-Za-z0-9._@:-]");
    require_refused(register_with(bad, "s"), "REGISTER: user id");
    require_refused(header(Type::invalidate) + le64(1) + str(bad), "INVALIDATE: user id");
    require_refused(header(Type::invalidate_ack) + str(bad), "INVALIDATE_ACK: user id");
    require_refused(header(Type::presence) + le64(1) + le32(2) + str("ok") + str(bad), "PRESENCE: user id");
    require_refused(header(Type::deliver) + str("n") + str("tcp://h:1") + le32(1) + str("m") + str(bad) + str("b") +
                        le64(0) + str("{}"),
                    "DELIVER: user id");
  }
  // STATUS: empty asks for the whole cluster.
  CHECK(decode(header(Type::status) + le64(1) + str("")).has_value());
  require_refused(header(Type::status) + le64(1) + str("a\nb"), "STATUS: user id");
}

TEST_CASE("decode refuses session and message ids that are empty, too long or outside [A-Za-z0-9._@:-]",
          "[cluster_codec]") {
  CHECK(decode(register_with("u", "node-1.0a1b2c3d.42")).has_value());
  CHECK(decode(receipt_with(std::string(kMaxTokenBytes, 'm'))).has_value());
  require_refused(receipt_with(std::string(kMaxTokenBytes + 1, 'm')), "RECEIPT: string over its length limit");
  require_refused(receipt_with(""), "RECEIPT: empty session or message id");
  require_refused(register_with("u", ""), "REGISTER: empty session or message id");
  for (const std::string& bad : std::vector<std::string>{"a b", "a\rb", "\xC3\xA9", "a\"b"}) {
    INFO(bad);
    require_refused(receipt_with(bad), "session or message id not of");
    require_refused(register_with("u", bad), "session or message id not of");
  }
}

TEST_CASE("decode refuses addresses that are empty, too long or not printable ASCII", "[cluster_codec]") {
  CHECK(decode(hello_with("n", "wss://[::1]:8443/ws", "ipc:///run/wsg/events")).has_value());
  CHECK(decode(hello_with("n", "w", std::string(kMaxAddressBytes, 'e'))).has_value());
  require_refused(hello_with("n", "w", std::string(kMaxAddressBytes + 1, 'e')), "HELLO: string over its length limit");
  require_refused(hello_with("n", "", "e"), "HELLO: empty address");
  for (const std::string& bad :
       std::vector<std::string>{"tcp://h:1\xff\xfe", "tcp://h :1", "tcp://h:1\n", "tcp://\xC3\xA9:1", "\x7f"}) {
    INFO(bad);
    require_refused(hello_with("n", "w", bad), "HELLO: address not printable ASCII");
    require_refused(hello_with("n", bad, "e"), "HELLO: address not printable ASCII");
    require_refused(header(Type::deliver) + str("n") + str(bad) + le32(0), "DELIVER: address");
  }
}

TEST_CASE("decode refuses reasons with invalid UTF-8 or control characters", "[cluster_codec]") {
  CHECK(decode(reply_with("")).has_value());
  CHECK(decode(reply_with("node id 'n' is already in use: " + kUtf8)).has_value());
  for (const std::string& bad :
       std::vector<std::string>{"a\nb", "a\x1b[31m", "a\x7f", "\xff", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                "\xE2\x9C", std::string("a\0", 2)}) {
    INFO(bad);
    require_refused(reply_with(bad), "HELLO_REPLY: text not UTF-8 without control characters");
  }
}

TEST_CASE("decode refuses bodies and status JSON that cannot be JSON text (invalid UTF-8, raw control bytes)",
          "[cluster_codec]") {
  for (const std::string& ok :
       std::vector<std::string>{std::string("{}"), "\"" + kUtf8 + "\"", std::string("[1,\n\t2]\r\n"), std::string(""),
                                std::string("\"\x7f\"")}) {
    INFO(ok);
    CHECK(decode(deliver_with(ok)).has_value());
    CHECK(decode(status_reply_with(ok)).has_value());
  }
  for (const std::string& bad :
       std::vector<std::string>{std::string("\"\xff\""), std::string("\"\xC0\xAF\""), std::string("\"\xED\xB0\x80\""),
                                std::string("\"a\x01\""), std::string("{}\x1b"), std::string("\"\0\"", 3),
                                std::string("\"\xF0\x9F\x98\"")}) {
    INFO(bad);
    require_refused(deliver_with(bad), "DELIVER: JSON text not UTF-8 or with a raw control character");
    require_refused(status_reply_with(bad), "STATUS_REPLY: JSON text not UTF-8");
  }
}

TEST_CASE("encode refuses strings that break their field's rule instead of sending them", "[cluster_codec]") {
  CHECK_FALSE(encode(Hello{std::string(kMaxNodeIdBytes + 1, 'n'), 1, "w", "e"}).has_value());
  CHECK_FALSE(encode(Hello{"a\nb", 1, "w", "e"}).has_value());
  CHECK_FALSE(encode(Hello{"n", 1, "w", "tcp://h:1\xff"}).has_value());
  CHECK_FALSE(encode(Lookup{1, ""}).has_value());
  CHECK_FALSE(encode(HelloReply{1, false, "a\x1b"}).has_value());
  CHECK_FALSE(encode(Deliver{"n", "e", {{"m", "a", "b", 0, "\xff"}}}).has_value());
  CHECK_FALSE(encode(PresenceQuery{1, {"ok", "not ok"}}).has_value());
  CHECK(encode(StatusQuery{1, ""}).has_value());
  CHECK(valid_node_id("node-1"));
  CHECK_FALSE(valid_node_id(""));
  CHECK_FALSE(valid_node_id(std::string(65, 'n')));
  CHECK(valid_address("tcp://127.0.0.1:5555"));
  CHECK_FALSE(valid_address("tcp://h:1 "));
}

// ---- v3: rooms ---------------------------------------------------------------------------------

namespace {

std::string room_lookup_with(const std::string& room) { return header(Type::room_lookup) + le64(1) + str(room); }
// A ROOM_DELIVER of one item, built by hand.
std::string room_deliver_with(const std::string& room, char event, const std::string& body) {
  return header(Type::room_deliver) + str("n") + str("tcp://h:1") + le32(1) + str("m") + str(room) + str("a") +
         std::string(1, event) + le64(0) + str(body);
}
std::string room_receipt_with(char status, uint32_t sessions) {
  return header(Type::room_receipt) + str("n") + le32(1) + str("m") + std::string(1, status) + le32(sessions);
}
std::string members_query_with(const std::string& from, const std::string& room, const std::string& after,
                               uint32_t limit) {
  return header(Type::members_query) + str("n") + str("tcp://h:1") + le64(1) + str(from) + str(room) + str(after) +
         le32(limit);
}
std::string members_reply_with(uint32_t users) {
  std::string b = header(Type::members_reply) + str("n") + le64(1) + le32(users);
  for (uint32_t i = 0; i < users; ++i) b += str("u" + std::to_string(i));
  return b + '\x01';
}

}  // namespace

TEST_CASE("decode refuses room names that are empty, too long or outside [A-Za-z0-9._@:/-]", "[cluster_codec]") {
  CHECK(decode(room_lookup_with(std::string(128, 'r'))).has_value());
  CHECK(decode(room_lookup_with("a.b_c@d:e-f/g/H9")).has_value());
  require_refused(room_lookup_with(std::string(129, 'r')), "ROOM_LOOKUP: string over its length limit");
  require_refused(room_lookup_with(std::string(4096, 'r')), "ROOM_LOOKUP: string over its length limit");
  for (const std::string& bad : std::vector<std::string>{"", "a b", "a\nb", "a*", "team:*", "caf\xC3\xA9", "a\\b",
                                                         "a\"b", "a\xff", std::string("a\0b", 3)}) {
    INFO(bad);
    const std::string why = "room name not 1-128 bytes of [A-Za-z0-9._@:/-]";
    require_refused(room_lookup_with(bad), "ROOM_LOOKUP: " + why);
    // Every field holding a room name follows the rule.
    require_refused(header(Type::room_register) + le64(1) + le32(2) + str("ok") + str(bad), "ROOM_REGISTER: " + why);
    require_refused(header(Type::room_unregister) + le64(1) + le32(1) + str(bad), "ROOM_UNREGISTER: " + why);
    require_refused(header(Type::room_lookup_reply) + le64(1) + le64(2) + str(bad) + le32(0),
                    "ROOM_LOOKUP_REPLY: " + why);
    require_refused(header(Type::room_invalidate) + le64(1) + str(bad), "ROOM_INVALIDATE: " + why);
    require_refused(header(Type::room_invalidate_ack) + str(bad), "ROOM_INVALIDATE_ACK: " + why);
    require_refused(room_deliver_with(bad, '\x01', "{}"), "ROOM_DELIVER: " + why);
    require_refused(members_query_with("u", bad, "", 1), "MEMBERS_QUERY: " + why);
    CHECK_FALSE(encode(RoomLookup{1, bad}).has_value());
    CHECK_FALSE(encode(RoomRegister{1, {"ok", bad}}).has_value());
  }
  CHECK_FALSE(encode(RoomInvalidate{1, std::string(129, 'r')}).has_value());
  CHECK(encode(RoomInvalidate{1, std::string(128, 'r')}).has_value());
}

TEST_CASE("v3 records: the other fields follow their kinds' rules", "[cluster_codec]") {
  CHECK(decode(room_deliver_with("r", '\x01', "{}")).has_value());
  require_refused(header(Type::room_deliver) + str("a b") + str("tcp://h:1") + le32(0), "ROOM_DELIVER: node id");
  require_refused(header(Type::room_deliver) + str("n") + str("tcp://h :1") + le32(0), "ROOM_DELIVER: address");
  require_refused(room_deliver_with("r", '\x01', "\"\xff\""), "ROOM_DELIVER: JSON text not UTF-8");
  require_refused(header(Type::room_deliver) + str("n") + str("e") + le32(1) + str("m m") + str("r") + str("a") +
                      '\x01' + le64(0) + str(""),
                  "ROOM_DELIVER: session or message id not of");
  require_refused(header(Type::room_deliver) + str("n") + str("e") + le32(1) + str("m") + str("r") + str("a/b") +
                      '\x01' + le64(0) + str(""),
                  "ROOM_DELIVER: user id");
  require_refused(header(Type::room_receipt) + str("n") + le32(1) + str("") + '\x01' + le32(0),
                  "ROOM_RECEIPT: empty session or message id");
  require_refused(header(Type::room_lookup_reply) + le64(1) + le64(2) + str("r") + le32(1) + str("a b") + str("e"),
                  "ROOM_LOOKUP_REPLY: node id");
  // MEMBERS_QUERY: `from` is a user, `after` a user or empty.
  CHECK(decode(members_query_with("u", "r", "", 1)).has_value());
  CHECK(decode(members_query_with("u", "r", "carol@x", 1)).has_value());
  require_refused(members_query_with("", "r", "", 1), "MEMBERS_QUERY: user id");
  require_refused(members_query_with("u", "r", "a/b", 1), "MEMBERS_QUERY: user id");
  require_refused(members_query_with("u", "r", std::string(129, 'a'), 1), "MEMBERS_QUERY: string over its length");
  require_refused(header(Type::members_reply) + str("n") + le64(1) + le32(2) + str("ok") + str("a b") + '\x00',
                  "MEMBERS_REPLY: user id");
  require_refused(header(Type::members_reply) + str("n") + le64(1) + le32(0) + '\x02', "MEMBERS_REPLY: bool byte");
  CHECK_FALSE(encode(MembersQuery{"n", "e", 1, "", "r", "", 1}).has_value());
  CHECK_FALSE(encode(MembersQuery{"n", "e", 1, "u", "r", "a b", 1}).has_value());
  CHECK_FALSE(encode(MembersReply{"n", 1, {"ok", ""}, false}).has_value());
}

TEST_CASE("ROOM_DELIVER: the event byte is 1, 2 or 3, and a join or leave notice has no body", "[cluster_codec]") {
  for (char event : {'\x01', '\x02', '\x03'}) {
    INFO(int(event));
    const auto m = decode(room_deliver_with("r", event, ""));
    REQUIRE(m.has_value());
    CHECK(static_cast<char>(std::get<RoomDeliver>(*m).items.at(0).event) == event);
  }
  for (char event : {'\x00', '\x04', '\x7f', '\xff'}) {
    INFO(int(event));
    require_refused(room_deliver_with("r", event, ""), "ROOM_DELIVER: unknown room event");
    CHECK_FALSE(
        encode(RoomDeliver{"n", "e", {{"m", "r", "f", static_cast<RoomEvent>(static_cast<uint8_t>(event)), 0, ""}}})
            .has_value());
  }
  CHECK(decode(room_deliver_with("r", '\x01', "{}")).has_value());
  require_refused(room_deliver_with("r", '\x02', "{}"), "ROOM_DELIVER: join or leave notice with a body");
  require_refused(room_deliver_with("r", '\x03', " "), "ROOM_DELIVER: join or leave notice with a body");
  std::string error;
  CHECK_FALSE(encode(RoomDeliver{"n", "e", {{"m", "r", "f", RoomEvent::join, 0, "{}"}}}, &error).has_value());
  CHECK(error == "ROOM_DELIVER: join or leave notice with a body");
  CHECK(encode(RoomDeliver{"n", "e", {{"m", "r", "f", RoomEvent::leave, 0, ""}}}).has_value());
}

TEST_CASE("ROOM_RECEIPT: not_here carries no sessions", "[cluster_codec]") {
  CHECK(decode(room_receipt_with('\x02', 0)).has_value());
  CHECK(decode(room_receipt_with('\x01', 1)).has_value());
  CHECK(decode(room_receipt_with('\x01', 0xffffffffu)).has_value());
  require_refused(room_receipt_with('\x02', 1), "ROOM_RECEIPT: not_here with sessions");
  require_refused(room_receipt_with('\x02', 0xffffffffu), "ROOM_RECEIPT: not_here with sessions");
  std::string error;
  CHECK_FALSE(encode(RoomReceipt{"n", {{"m", ReceiptStatus::delivered, 2}, {"k", ReceiptStatus::not_here, 1}}}, &error)
                  .has_value());
  CHECK(error == "ROOM_RECEIPT: not_here with sessions");
  CHECK(encode(RoomReceipt{"n", {{"m", ReceiptStatus::delivered, 2}, {"k", ReceiptStatus::not_here, 0}}}).has_value());
}

TEST_CASE("MEMBERS_QUERY.limit is 1..kMaxMembersBatch and MEMBERS_REPLY has at most kMaxMembersBatch users",
          "[cluster_codec]") {
  REQUIRE(kMaxMembersBatch == 1001);
  CHECK(decode(members_query_with("u", "r", "", 1)).has_value());
  CHECK(decode(members_query_with("u", "r", "", kMaxMembersBatch)).has_value());
  for (uint32_t limit : {0u, kMaxMembersBatch + 1, 0xffffffffu}) {
    INFO(limit);
    require_refused(members_query_with("u", "r", "", limit), "MEMBERS_QUERY: limit not 1..kMaxMembersBatch");
    std::string error;
    CHECK_FALSE(encode(MembersQuery{"n", "e", 1, "u", "r", "", limit}, &error).has_value());
    CHECK(error == "MEMBERS_QUERY: limit not 1..kMaxMembersBatch");
  }

  const auto full = decode(members_reply_with(kMaxMembersBatch));
  REQUIRE(full.has_value());
  CHECK(std::get<MembersReply>(*full).users.size() == kMaxMembersBatch);
  CHECK(encode(*full) == members_reply_with(kMaxMembersBatch));
  require_refused(members_reply_with(kMaxMembersBatch + 1), "MEMBERS_REPLY: more than kMaxMembersBatch users");
  MembersReply over{"n", 1, {}, true};
  for (uint32_t i = 0; i <= kMaxMembersBatch; ++i) over.users.push_back("u" + std::to_string(i));
  std::string error;
  CHECK_FALSE(encode(over, &error).has_value());
  CHECK(error == "MEMBERS_REPLY: more than kMaxMembersBatch users");
  over.users.pop_back();
  CHECK(encode(over).has_value());
  CHECK(decode(members_reply_with(0)).has_value());  // no member (left) here
}

TEST_CASE("v3 lists: rooms, room items and room receipts are never empty", "[cluster_codec]") {
  require_refused(header(Type::room_register) + le64(1) + le32(0), "ROOM_REGISTER: no room");
  require_refused(header(Type::room_unregister) + le64(1) + le32(0), "ROOM_UNREGISTER: no room");
  require_refused(header(Type::room_deliver) + str("n") + str("e") + le32(0), "ROOM_DELIVER: no item");
  require_refused(header(Type::room_receipt) + str("n") + le32(0), "ROOM_RECEIPT: no item");
  std::string error;
  CHECK_FALSE(encode(RoomRegister{1, {}}, &error).has_value());
  CHECK(error == "ROOM_REGISTER: no room");
  CHECK_FALSE(encode(RoomUnregister{1, {}}, &error).has_value());
  CHECK(error == "ROOM_UNREGISTER: no room");
  CHECK_FALSE(encode(RoomDeliver{"n", "e", {}}, &error).has_value());
  CHECK(error == "ROOM_DELIVER: no item");
  CHECK_FALSE(encode(RoomReceipt{"n", {}}, &error).has_value());
  CHECK(error == "ROOM_RECEIPT: no item");
  // A room with no node and a members page with no user are answers, not malformed.
  CHECK(decode(header(Type::room_lookup_reply) + le64(1) + le64(2) + str("r") + le32(0)).has_value());
  CHECK(encode(MembersReply{"n", 1, {}, false}).has_value());

  // Lists still stop at kMaxItems, and a count the bytes cannot hold is refused before allocating.
  require_refused(header(Type::room_register) + le64(1) + le32(kMaxItems + 1), "ROOM_REGISTER: list over kMaxItems");
  CHECK_FALSE(encode(RoomRegister{1, std::vector<std::string>(kMaxItems + 1, "r")}).has_value());
  // A RoomItem takes at least 25 bytes, a RoomReceiptItem 9.
  require_refused(header(Type::room_deliver) + str("n") + str("e") + le32(2) + std::string(49, '\0'),
                  "ROOM_DELIVER: list count exceeds the remaining bytes");
  require_refused(header(Type::room_receipt) + str("n") + le32(2) + std::string(17, '\0'),
                  "ROOM_RECEIPT: list count exceeds the remaining bytes");
}

TEST_CASE("decode refuses every truncation of one message of each v3 type", "[cluster_codec]") {
  // samples() holds each v3 type (checked by the round trip); here one of each, explicitly.
  const std::vector<Message> v3 = {
      RoomRegister{1, {"a", "b/c"}},
      RoomUnregister{2, {"a"}},
      RoomLookup{3, "a"},
      RoomLookupReply{4, 5, "a", {{"n", "tcp://h:1"}}},
      RoomInvalidate{6, "a"},
      RoomInvalidateAck{"a"},
      RoomDeliver{"n", "tcp://h:1", {{"m", "a", "u", RoomEvent::message, 7, "{}"}}},
      RoomReceipt{"n", {{"m", ReceiptStatus::delivered, 8}}},
      MembersQuery{"n", "tcp://h:1", 9, "u", "a", "t", 10},
      MembersReply{"n", 11, {"u"}, false},
  };
  std::set<uint8_t> types;
  for (const Message& m : v3) {
    const std::string bytes = encode(m).value();
    REQUIRE(decode(bytes) == std::optional<Message>(m));
    types.insert(static_cast<uint8_t>(type_of(m)));
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      std::string error;
      INFO("type " << int(static_cast<uint8_t>(type_of(m))) << " prefix " << len << " of " << bytes.size());
      REQUIRE_FALSE(decode(std::string_view(bytes).substr(0, len), &error).has_value());
      REQUIRE_FALSE(error.empty());
    }
    require_refused(bytes + '\0', "trailing bytes");
  }
  CHECK(types.size() == 10);
}
