// Cluster wire codec, versions 1 to 5 (see cluster_codec.h and docs/wire-encoding.md).
//
// Each struct's layout is written exactly once, in a `fields(m, f)` description that presents
// the fields to a visitor `f` in wire order. Three visitors walk those descriptions:
//   Sizer  - computes the exact encoded size and enforces the limits (encode reserves once);
//   Writer - appends the fields to the output;
//   Reader - a cursor over the input that fills the fields and stops at the first error.
#include "proto/cluster_codec.h"

#include <array>
#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "proto/room_name.h"
#include "proto/user_id.h"

namespace wsg::cluster {
namespace {

// The kind of a string field: its length limit and its rule (docs/wire-encoding.md §5).
enum class Str : uint8_t {
  node_id,        // 1..64 bytes of [A-Za-z0-9._-] (config's node.id rule)
  user,           // a user id of the client protocol: 1..128 bytes of [A-Za-z0-9._@:-]
  user_or_empty,  // the same, or empty (STATUS: the whole cluster)
  token,          // session and message ids: 1..128 bytes of [A-Za-z0-9._@:-]
  address,        // ws_url and ZeroMQ addresses: 1..512 bytes of printable ASCII, no space
  text,           // reasons: up to kMaxString bytes of UTF-8 without control characters
  json,           // bodies and the status JSON: up to kMaxBody bytes of UTF-8, no raw C0 but \t \n \r
  room,           // room names (v3): proto::valid_room_name, 1..128 bytes of [A-Za-z0-9._@:/-]
};

// ---- String rules -----------------------------------------------------------------------------
// Every string arrives from the network: decode checks each one against its field kind, so that
// no caller ever stores, logs or serialises (status JSON) a string it could not print. encode
// checks the same rules, so every process only ever emits what every receiver accepts.

constexpr std::array<bool, 256> make_table(std::string_view extra, bool upper_lower_digits) {
  std::array<bool, 256> t{};
  if (upper_lower_digits) {
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  }
  for (char c : extra) t[static_cast<unsigned char>(c)] = true;
  return t;
}
// Node ids: what config accepts for node.id (and the node-<port> default).
constexpr auto kNodeIdChar = make_table("._-", true);
// Session and message ids: the user-id charset (wsg makes them of [A-Za-z0-9.-]).
constexpr auto kTokenChar = make_table("._@:-", true);
// Addresses: printable ASCII, no space.
constexpr std::array<bool, 256> kAddressChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0x21; c < 0x7f; ++c) t[static_cast<std::size_t>(c)] = true;
  return t;
}();

constexpr uint32_t max_bytes(Str kind) {
  switch (kind) {
    case Str::node_id: return kMaxNodeIdBytes;
    case Str::user:
    case Str::user_or_empty: return static_cast<uint32_t>(proto::kMaxUserIdBytes);
    case Str::token: return kMaxTokenBytes;
    case Str::address: return kMaxAddressBytes;
    case Str::text: return kMaxString;
    case Str::json: return kMaxBody;
    case Str::room: return static_cast<uint32_t>(proto::kMaxRoomNameBytes);
  }
  return 0;
}

bool all_of(std::string_view s, const std::array<bool, 256>& table) {
  for (char c : s)
    if (!table[static_cast<unsigned char>(c)]) return false;
  return true;
}

// Valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) whose ASCII bytes are
// all allowed by `ascii_ok`.
bool utf8_with(std::string_view s, const std::array<bool, 128>& ascii_ok) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  auto cont = [&](const unsigned char* q) { return q < end && (*q & 0xC0) == 0x80; };
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (!ascii_ok[c]) return false;
      ++p;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(p + 1)) return false;
      p += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(p + 1) || !cont(p + 2)) return false;
      if (c == 0xE0 && p[1] < 0xA0) return false;  // overlong
      if (c == 0xED && p[1] > 0x9F) return false;  // UTF-16 surrogate
      p += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(p + 1) || !cont(p + 2) || !cont(p + 3)) return false;
      if (c == 0xF0 && p[1] < 0x90) return false;  // overlong
      if (c == 0xF4 && p[1] > 0x8F) return false;  // above U+10FFFF
      p += 4;
    } else {
      return false;
    }
  }
  return true;
}
// Text (reasons): no control character at all (C0 or DEL): a reason is logged and shown.
constexpr std::array<bool, 128> kTextAscii = [] {
  std::array<bool, 128> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[static_cast<std::size_t>(c)] = true;
  return t;
}();
// JSON text: JSON allows no raw C0 byte but its whitespace (tab, LF, CR); inside strings every
// other one must be escaped. A necessary condition of valid JSON, checked at memory speed.
constexpr std::array<bool, 128> kJsonAscii = [] {
  std::array<bool, 128> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<std::size_t>(c)] = true;
  t['\t'] = t['\n'] = t['\r'] = true;
  return t;
}();

// nullptr when `s` (already within max_bytes(kind)) follows its kind's rule, else why not.
const char* string_problem(Str kind, std::string_view s) {
  switch (kind) {
    case Str::node_id:
      if (s.empty()) return "empty node id";
      return all_of(s, kNodeIdChar) ? nullptr : "node id not of [A-Za-z0-9._-]";
    case Str::user_or_empty:
      if (s.empty()) return nullptr;
      [[fallthrough]];
    case Str::user: return proto::valid_user_id(s) ? nullptr : "user id not 1-128 bytes of [A-Za-z0-9._@:-]";
    case Str::token:
      if (s.empty()) return "empty session or message id";
      return all_of(s, kTokenChar) ? nullptr : "session or message id not of [A-Za-z0-9._@:-]";
    case Str::address:
      if (s.empty()) return "empty address";
      return all_of(s, kAddressChar) ? nullptr : "address not printable ASCII";
    case Str::text: return utf8_with(s, kTextAscii) ? nullptr : "text not UTF-8 without control characters";
    case Str::json: return utf8_with(s, kJsonAscii) ? nullptr : "JSON text not UTF-8 or with a raw control character";
    case Str::room: return proto::valid_room_name(s) ? nullptr : "room name not 1-128 bytes of [A-Za-z0-9._@:/-]";
  }
  return "unknown string kind";
}

// ---- Message descriptions ---------------------------------------------------------------------
// Every string names its field kind (Str): the kind sets its length limit and its charset.

template <class M, class T>
concept Is = std::same_as<std::remove_const_t<M>, T>;

#define WSG_DESCRIBE(T)       \
  template <class M, class F> \
  requires Is<M, T>           \
  constexpr void fields(M& m, F& f)

WSG_DESCRIBE(SessionRef) {
  f(m.user, Str::user);
  f(m.session, Str::token);
}
WSG_DESCRIBE(NodeAddr) {
  f(m.id, Str::node_id);
  f(m.events, Str::address);
}
WSG_DESCRIBE(DeliverItem) {
  f(m.msg_id, Str::token);
  f(m.from, Str::user);
  f(m.to, Str::user);
  f(m.ts_ms);
  f(m.body, Str::json);
}
WSG_DESCRIBE(ReceiptItem) {
  f(m.msg_id, Str::token);
  f(m.status);
}

WSG_DESCRIBE(Hello) {
  f(m.node_id, Str::node_id);
  f(m.incarnation);
  f(m.ws_url, Str::address);
  f(m.events, Str::address);
}
WSG_DESCRIBE(HelloPublic) {
  f(m.node_id, Str::node_id);
  f(m.incarnation);
  f(m.ws_url, Str::address);
  f(m.events, Str::address);
  f(m.public_url, Str::address);
}
WSG_DESCRIBE(HelloReply) {
  f(m.epoch);
  f(m.accepted);
  f(m.reason, Str::text);
}
WSG_DESCRIBE(RegisterSessions) {
  f(m.seq);
  f(m.sessions);
}
WSG_DESCRIBE(UnregisterSessions) {
  f(m.seq);
  f(m.sessions);
}
WSG_DESCRIBE(Ack) {
  f(m.epoch);
  f(m.seq);
  f(m.ok);
}
WSG_DESCRIBE(Lookup) {
  f(m.seq);
  f(m.user, Str::user);
}
WSG_DESCRIBE(LookupReply) {
  f(m.epoch);
  f(m.seq);
  f(m.user, Str::user);
  f(m.nodes);
}
WSG_DESCRIBE(Heartbeat) {
  f(m.node_id, Str::node_id);
  f(m.sessions);
  f(m.messages);
}
WSG_DESCRIBE(HeartbeatReply) {
  f(m.epoch);
  f(m.known);
}
WSG_DESCRIBE(Invalidate) {
  f(m.epoch);
  f(m.user, Str::user);
}
WSG_DESCRIBE(NodeDown) {
  f(m.epoch);
  f(m.node_id, Str::node_id);
}
WSG_DESCRIBE(StatusQuery) {
  f(m.seq);
  f(m.user, Str::user_or_empty);
}
WSG_DESCRIBE(StatusReply) {
  f(m.epoch);
  f(m.seq);
  f(m.json, Str::json);
}
WSG_DESCRIBE(PresenceQuery) {
  f(m.seq);
  f(m.users, Str::user);
}
WSG_DESCRIBE(PresenceReply) {
  f(m.epoch);
  f(m.seq);
  f(m.online);
}
WSG_DESCRIBE(Deliver) {
  f(m.origin_node, Str::node_id);
  f(m.origin_events, Str::address);
  f(m.items);
}
WSG_DESCRIBE(Receipt) {
  f(m.origin_node, Str::node_id);
  f(m.items);
}
WSG_DESCRIBE(InvalidateAck) { f(m.user, Str::user); }
WSG_DESCRIBE(Leave) {
  f(m.node_id, Str::node_id);
  f(m.incarnation);
}
WSG_DESCRIBE(LookupBatch) { f(m.lookups); }
WSG_DESCRIBE(LookupResult) {
  f(m.seq);
  f(m.user, Str::user);
  f(m.nodes);
}
WSG_DESCRIBE(LookupBatchReply) {
  f(m.epoch);
  f(m.nodes);
  f(m.results);
}

// v3: rooms
WSG_DESCRIBE(RoomRegister) {
  f(m.seq);
  f(m.rooms, Str::room);
}
WSG_DESCRIBE(RoomUnregister) {
  f(m.seq);
  f(m.rooms, Str::room);
}
WSG_DESCRIBE(RoomLookup) {
  f(m.seq);
  f(m.room, Str::room);
}
WSG_DESCRIBE(RoomLookupReply) {
  f(m.epoch);
  f(m.seq);
  f(m.room, Str::room);
  f(m.nodes);
}
WSG_DESCRIBE(RoomInvalidate) {
  f(m.epoch);
  f(m.room, Str::room);
}
WSG_DESCRIBE(RoomInvalidateAck) { f(m.room, Str::room); }
WSG_DESCRIBE(RoomItem) {
  f(m.msg_id, Str::token);
  f(m.room, Str::room);
  f(m.from, Str::user);
  f(m.event);
  f(m.ts_ms);
  f(m.body, Str::json);
}
WSG_DESCRIBE(RoomDeliver) {
  f(m.origin_node, Str::node_id);
  f(m.origin_events, Str::address);
  f(m.items);
}
WSG_DESCRIBE(RoomReceiptItem) {
  f(m.msg_id, Str::token);
  f(m.status);
  f(m.sessions);
}
WSG_DESCRIBE(RoomReceipt) {
  f(m.origin_node, Str::node_id);
  f(m.items);
}
WSG_DESCRIBE(MembersQuery) {
  f(m.origin_node, Str::node_id);
  f(m.origin_events, Str::address);
  f(m.seq);
  f(m.from, Str::user);
  f(m.room, Str::room);
  f(m.after, Str::user_or_empty);
  f(m.limit);
}
WSG_DESCRIBE(MembersReply) {
  f(m.origin_node, Str::node_id);
  f(m.seq);
  f(m.users, Str::user);
  f(m.more);
}
WSG_DESCRIBE(RoomStatus) {
  f(m.seq);
  f(m.room, Str::room);
}
WSG_DESCRIBE(RoomCount) {
  f(m.epoch);
  f(m.seq);
  f(m.room, Str::room);
}
WSG_DESCRIBE(RoomCountReply) {
  f(m.seq);
  f(m.room, Str::room);
  f(m.sessions);
  f(m.users);
}

// v4: the server API
WSG_DESCRIBE(UserOp) {
  f(m.origin_node, Str::node_id);
  f(m.origin_events, Str::address);
  f(m.msg_id, Str::token);
  f(m.user, Str::user);
  f(m.op);
  f(m.code);
  f(m.room, Str::text);
  f(m.reason, Str::text);
}
WSG_DESCRIBE(NodeQuery) {
  f(m.seq);
  f(m.node_id, Str::node_id);
}
WSG_DESCRIBE(NodeQueryReply) {
  f(m.epoch);
  f(m.seq);
  f(m.nodes);
}

#undef WSG_DESCRIBE

struct AnyVisitor {
  template <class... A>
  constexpr void operator()(A&&...) {}
};
template <class T>
concept Described = requires(T& t, AnyVisitor& v) {
  fields(t, v);
};

// Rules beyond one field's: checked by encode (never sent) and decode (refused) alike.
template <class T>
const char* message_problem(const T&) {
  return nullptr;
}
const char* message_problem(const LookupBatch& m) {
  if (m.lookups.empty()) return "no lookup";
  return m.lookups.size() > kMaxLookupBatch ? "more than kMaxLookupBatch lookups" : nullptr;
}
const char* message_problem(const LookupBatchReply& m) {
  if (m.results.size() > kMaxLookupBatch) return "more than kMaxLookupBatch results";
  for (const LookupResult& r : m.results) {
    for (uint32_t i : r.nodes)
      if (i >= m.nodes.size()) return "node index outside the nodes table";
  }
  return nullptr;
}
const char* message_problem(const RoomRegister& m) { return m.rooms.empty() ? "no room" : nullptr; }
const char* message_problem(const RoomUnregister& m) { return m.rooms.empty() ? "no room" : nullptr; }
const char* message_problem(const RoomDeliver& m) {
  if (m.items.empty()) return "no item";
  for (const RoomItem& item : m.items)
    if (item.event != RoomEvent::message && !item.body.empty()) return "join or leave notice with a body";
  return nullptr;
}
const char* message_problem(const RoomReceipt& m) {
  if (m.items.empty()) return "no item";
  for (const RoomReceiptItem& item : m.items)
    if (item.status == ReceiptStatus::not_here && item.sessions != 0) return "not_here with sessions";
  return nullptr;
}
const char* message_problem(const MembersQuery& m) {
  return m.limit == 0 || m.limit > kMaxMembersBatch ? "limit not 1..kMaxMembersBatch" : nullptr;
}
const char* message_problem(const UserOp& m) {
  if (m.op == UserOpKind::disconnect) {
    if (m.code < 4000 || m.code > 4999) return "disconnect code not 4000..4999";
    if (m.reason.size() > kMaxCloseReasonBytes) return "disconnect reason over 123 bytes";
    return m.room.empty() ? nullptr : "disconnect with a room";
  }
  if (!proto::valid_room_name(m.room)) return "join or leave without a valid room name";
  return m.code != 0 || !m.reason.empty() ? "join or leave with a code or reason" : nullptr;
}
const char* message_problem(const NodeQueryReply& m) { return m.nodes.size() > 1 ? "more than one node" : nullptr; }
const char* message_problem(const MembersReply& m) {
  return m.users.size() > kMaxMembersBatch ? "more than kMaxMembersBatch users" : nullptr;
}

// ---- Message types ----------------------------------------------------------------------------

// Type number N is variant alternative N-1; checked here so that reordering either breaks the build.
template <Type t, class T>
constexpr bool kMaps = std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(t) - 1, Message>, T>;
static_assert(kMaps<Type::hello, Hello> && kMaps<Type::hello_reply, HelloReply> &&
              kMaps<Type::register_sessions, RegisterSessions> &&
              kMaps<Type::unregister_sessions, UnregisterSessions> && kMaps<Type::ack, Ack> &&
              kMaps<Type::lookup, Lookup> && kMaps<Type::lookup_reply, LookupReply> &&
              kMaps<Type::heartbeat, Heartbeat> && kMaps<Type::heartbeat_reply, HeartbeatReply> &&
              kMaps<Type::invalidate, Invalidate> && kMaps<Type::node_down, NodeDown> &&
              kMaps<Type::status, StatusQuery> && kMaps<Type::status_reply, StatusReply> &&
              kMaps<Type::presence, PresenceQuery> && kMaps<Type::presence_reply, PresenceReply> &&
              kMaps<Type::deliver, Deliver> && kMaps<Type::receipt, Receipt> &&
              kMaps<Type::invalidate_ack, InvalidateAck> && kMaps<Type::leave, Leave> &&
              kMaps<Type::lookup_batch, LookupBatch> && kMaps<Type::lookup_batch_reply, LookupBatchReply>);
static_assert(kMaps<Type::room_register, RoomRegister> && kMaps<Type::room_unregister, RoomUnregister> &&
              kMaps<Type::room_lookup, RoomLookup> && kMaps<Type::room_lookup_reply, RoomLookupReply> &&
              kMaps<Type::room_invalidate, RoomInvalidate> && kMaps<Type::room_invalidate_ack, RoomInvalidateAck> &&
              kMaps<Type::room_deliver, RoomDeliver> && kMaps<Type::room_receipt, RoomReceipt> &&
              kMaps<Type::members_query, MembersQuery> && kMaps<Type::members_reply, MembersReply> &&
              kMaps<Type::room_status, RoomStatus> && kMaps<Type::room_count, RoomCount> &&
              kMaps<Type::room_count_reply, RoomCountReply>);
static_assert(kMaps<Type::user_op, UserOp> && kMaps<Type::node_query, NodeQuery> &&
              kMaps<Type::node_query_reply, NodeQueryReply>);
static_assert(kMaps<Type::hello_public, HelloPublic>);
constexpr std::size_t kTypeCount = std::variant_size_v<Message>;
static_assert(kTypeCount == static_cast<std::size_t>(Type::hello_public));
static_assert(version_of(Type::leave) == kWireVersion && version_of(Type::lookup_batch) == 2 &&
              version_of(Type::lookup_batch_reply) == 2 && version_of(Type::room_register) == 3 &&
              version_of(Type::room_count_reply) == 3 && version_of(Type::user_op) == 4 &&
              version_of(Type::hello_public) == kLatestWireVersion);

// For error messages, indexed by type - 1 (the names docs/wire-encoding.md uses).
constexpr std::array<const char*, kTypeCount> kTypeNames = {
    "HELLO",
    "HELLO_REPLY",
    "REGISTER",
    "UNREGISTER",
    "ACK",
    "LOOKUP",
    "LOOKUP_REPLY",
    "HEARTBEAT",
    "HEARTBEAT_REPLY",
    "INVALIDATE",
    "NODE_DOWN",
    "STATUS",
    "STATUS_REPLY",
    "PRESENCE",
    "PRESENCE_REPLY",
    "DELIVER",
    "RECEIPT",
    "INVALIDATE_ACK",
    "LEAVE",
    "LOOKUP_BATCH",
    "LOOKUP_BATCH_REPLY",
    "ROOM_REGISTER",
    "ROOM_UNREGISTER",
    "ROOM_LOOKUP",
    "ROOM_LOOKUP_REPLY",
    "ROOM_INVALIDATE",
    "ROOM_INVALIDATE_ACK",
    "ROOM_DELIVER",
    "ROOM_RECEIPT",
    "MEMBERS_QUERY",
    "MEMBERS_REPLY",
    "ROOM_STATUS",
    "ROOM_COUNT",
    "ROOM_COUNT_REPLY",
    "USER_OP",
    "NODE_QUERY",
    "NODE_QUERY_REPLY",
    "HELLO_PUBLIC",
};

// ---- Sizer ------------------------------------------------------------------------------------

class Sizer {
 public:
  // `check`: enforce the limits and string rules (encode); off only for min_wire_size.
  constexpr explicit Sizer(bool check = true) : check_(check) {}
  constexpr std::size_t size() const { return n_; }

  constexpr void operator()(uint32_t) { n_ += 4; }
  constexpr void operator()(uint64_t) { n_ += 8; }
  constexpr void operator()(int64_t) { n_ += 8; }
  constexpr void operator()(bool) { n_ += 1; }
  constexpr void operator()(ReceiptStatus v) {
    if (check_ && !error_ && v != ReceiptStatus::delivered && v != ReceiptStatus::not_here)
      error_ = "unknown receipt status";
    n_ += 1;
  }
  constexpr void operator()(RoomEvent v) {
    if (check_ && !error_ && v != RoomEvent::message && v != RoomEvent::join && v != RoomEvent::leave)
      error_ = "unknown room event";
    n_ += 1;
  }
  constexpr void operator()(UserOpKind v) {
    if (check_ && !error_ && v != UserOpKind::disconnect && v != UserOpKind::join && v != UserOpKind::leave)
      error_ = "unknown user operation";
    n_ += 1;
  }
  void operator()(const std::string& s, Str kind) {
    if (check_ && !error_) {
      if (s.size() > max_bytes(kind)) error_ = "string over its limit";
      else if (const char* why = string_problem(kind, s)) error_ = why;
    }
    n_ += 4 + s.size();
  }
  void operator()(const std::vector<std::string>& v, Str kind) {
    count(v.size());
    for (const std::string& s : v) (*this)(s, kind);
  }
  constexpr void operator()(const std::vector<bool>& v) {
    count(v.size());
    n_ += v.size();
  }
  template <class T>
  constexpr void operator()(const std::vector<T>& v) {
    count(v.size());
    for (const T& item : v) (*this)(item);
  }
  template <Described T>
  constexpr void operator()(const T& m) {
    fields(m, *this);
  }

 private:
  constexpr void count(std::size_t n) {
    if (check_ && !error_ && n > kMaxItems) error_ = "list over kMaxItems";
    n_ += 4;
  }
  bool check_ = true;
  std::size_t n_ = 0;
  const char* error_ = nullptr;  // the first limit or rule broken (encode refuses the message)

 public:
  const char* error() const { return error_; }
};

// The fewest bytes one list item of type T can take on the wire: the size of a default value
// (empty strings and lists, zero integers). Lets decode refuse a count the input cannot hold.
// (Not constexpr: constexpr std::string is not portable to every compiler we may meet yet.)
template <class T>
std::size_t min_wire_size() {
  static const std::size_t size = [] {
    Sizer s(false);
    s(T{});
    return s.size();
  }();
  return size;
}

// ---- Writer -----------------------------------------------------------------------------------

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void operator()(uint32_t v) { le(v, 4); }
  void operator()(uint64_t v) { le(v, 8); }
  void operator()(int64_t v) { le(static_cast<uint64_t>(v), 8); }
  void operator()(bool v) { u8(v ? 1 : 0); }
  void operator()(ReceiptStatus v) { u8(static_cast<uint8_t>(v)); }
  void operator()(RoomEvent v) { u8(static_cast<uint8_t>(v)); }
  void operator()(UserOpKind v) { u8(static_cast<uint8_t>(v)); }
  void operator()(const std::string& s, Str /*checked by Sizer*/) {
    le(s.size(), 4);
    out_.append(s);
  }
  void operator()(const std::vector<std::string>& v, Str kind) {
    le(v.size(), 4);
    for (const std::string& s : v) (*this)(s, kind);
  }
  void operator()(const std::vector<bool>& v) {
    le(v.size(), 4);
    for (bool b : v) u8(b ? 1 : 0);
  }
  template <class T>
  void operator()(const std::vector<T>& v) {
    le(v.size(), 4);
    for (const T& item : v) (*this)(item);
  }
  template <Described T>
  void operator()(const T& m) {
    fields(m, *this);
  }

 private:
  void le(uint64_t v, int bytes) {
    char b[8];
    for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out_.append(b, static_cast<std::size_t>(bytes));
  }
  std::string& out_;
};

// ---- Reader -----------------------------------------------------------------------------------

class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  const char* error() const { return error_; }
  void refuse(const char* why) { fail(why); }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

  void operator()(uint32_t& v) {
    if (need(4)) v = static_cast<uint32_t>(le(4));
  }
  void operator()(uint64_t& v) {
    if (need(8)) v = le(8);
  }
  void operator()(int64_t& v) {
    if (need(8)) v = static_cast<int64_t>(le(8));
  }
  void operator()(bool& v) {
    if (!need(1)) return;
    const auto b = static_cast<uint8_t>(*p_++);
    if (b > 1) return fail("bool byte not 0 or 1");
    v = b == 1;
  }
  void operator()(ReceiptStatus& v) {
    if (!need(1)) return;
    const auto b = static_cast<uint8_t>(*p_++);
    if (b != static_cast<uint8_t>(ReceiptStatus::delivered) && b != static_cast<uint8_t>(ReceiptStatus::not_here))
      return fail("unknown receipt status");
    v = static_cast<ReceiptStatus>(b);
  }
  void operator()(RoomEvent& v) {
    if (!need(1)) return;
    const auto b = static_cast<uint8_t>(*p_++);
    if (b < static_cast<uint8_t>(RoomEvent::message) || b > static_cast<uint8_t>(RoomEvent::leave))
      return fail("unknown room event");
    v = static_cast<RoomEvent>(b);
  }
  void operator()(UserOpKind& v) {
    if (!need(1)) return;
    const auto b = static_cast<uint8_t>(*p_++);
    if (b < static_cast<uint8_t>(UserOpKind::disconnect) || b > static_cast<uint8_t>(UserOpKind::leave))
      return fail("unknown user operation");
    v = static_cast<UserOpKind>(b);
  }
  void operator()(std::string& s, Str kind) {
    if (!need(4)) return;
    const auto n = static_cast<uint32_t>(le(4));
    if (n > max_bytes(kind)) return fail("string over its length limit");
    if (!need(n)) return;
    if (const char* why = string_problem(kind, std::string_view(p_, n))) return fail(why);
    s.assign(p_, n);
    p_ += n;
  }
  void operator()(std::vector<std::string>& v, Str kind) {
    const uint32_t n = count(4);  // a str is at least its length
    v.reserve(n);
    for (uint32_t i = 0; i < n && !error_; ++i) (*this)(v.emplace_back(), kind);
  }
  void operator()(std::vector<bool>& v) {
    const uint32_t n = count(1);
    v.reserve(n);
    for (uint32_t i = 0; i < n && !error_; ++i) {
      bool b = false;
      (*this)(b);
      v.push_back(b);
    }
  }
  template <class T>
  void operator()(std::vector<T>& v) {
    const uint32_t n = count(min_wire_size<T>());
    v.reserve(n);
    for (uint32_t i = 0; i < n && !error_; ++i) (*this)(v.emplace_back());
  }
  template <Described T>
  void operator()(T& m) {
    fields(m, *this);
  }

 private:
  bool need(std::size_t n) {
    if (error_) return false;
    if (remaining() < n) {
      fail("truncated");
      return false;
    }
    return true;
  }
  void fail(const char* why) {
    if (!error_) error_ = why;
  }
  uint64_t le(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += bytes;
    return v;
  }
  // A list count, refused before anything is reserved when it exceeds kMaxItems or when the
  // remaining input cannot hold that many items of at least `min_item` bytes each.
  uint32_t count(std::size_t min_item) {
    if (!need(4)) return 0;
    const auto n = static_cast<uint32_t>(le(4));
    if (n > kMaxItems) {
      fail("list over kMaxItems");
      return 0;
    }
    if (static_cast<std::size_t>(n) * min_item > remaining()) {
      fail("list count exceeds the remaining bytes");
      return 0;
    }
    return n;
  }

  const char* p_;
  const char* end_;
  const char* error_ = nullptr;
};

using DecodeFn = Message (*)(Reader&);

template <std::size_t I>
Message decode_as(Reader& r) {
  Message m{std::in_place_index<I>};
  r(std::get<I>(m));
  if (!r.error())
    if (const char* why = message_problem(std::get<I>(m))) r.refuse(why);
  return m;
}

template <std::size_t... I>
constexpr std::array<DecodeFn, sizeof...(I)> make_decoders(std::index_sequence<I...>) {
  return {&decode_as<I>...};
}
constexpr auto kDecoders = make_decoders(std::make_index_sequence<kTypeCount>{});

}  // namespace

bool valid_node_id(std::string_view s) {
  return s.size() <= kMaxNodeIdBytes && string_problem(Str::node_id, s) == nullptr;
}
bool valid_address(std::string_view s) {
  return s.size() <= kMaxAddressBytes && string_problem(Str::address, s) == nullptr;
}

Type type_of(const Message& m) { return static_cast<Type>(m.index() + 1); }

std::optional<std::string> encode(const Message& m, std::string* error) noexcept {
  return std::visit(
      [&m, error](const auto& msg) -> std::optional<std::string> {
        Sizer sizer;
        sizer(msg);
        const char* why = sizer.error() ? sizer.error() : message_problem(msg);
        if (why) {
          if (error) *error = std::string(kTypeNames[m.index()]) + ": " + why;
          return std::nullopt;
        }
        std::string out;
        out.reserve(2 + sizer.size());
        Writer w(out);
        w.u8(version_of(type_of(m)));
        w.u8(static_cast<uint8_t>(type_of(m)));
        w(msg);
        return out;
      },
      m);
}

std::optional<Message> decode(std::string_view bytes, std::string* error) noexcept {
  std::string why;
  try {
    if (bytes.size() < 2) {
      why = bytes.empty() ? "empty message" : "truncated header";
    } else if (const auto version = static_cast<uint8_t>(bytes[0]);
               version < kWireVersion || version > kLatestWireVersion) {
      why = "unsupported wire version " + std::to_string(version);
    } else if (const auto type = static_cast<uint8_t>(bytes[1]); type == 0 || type > kTypeCount) {
      why = "unknown message type " + std::to_string(type);
    } else if (const uint8_t introduced = version_of(static_cast<Type>(type)); version < introduced) {
      why = "unknown message type " + std::to_string(type) + " in wire version " + std::to_string(version);
    } else if (version != introduced) {
      // Canonical: a type has one version byte, the one that introduced it.
      why = "unsupported wire version " + std::to_string(version) + " for " + kTypeNames[type - 1] + " (a version " +
            std::to_string(introduced) + " type)";
    } else {
      Reader r(bytes.substr(2));
      Message m = kDecoders[type - 1](r);
      if (!r.error() && r.remaining() == 0) return m;
      why = std::string(kTypeNames[type - 1]) + ": " + (r.error() ? r.error() : "trailing bytes");
    }
  } catch (...) {  // std::bad_alloc; lengths are checked against the input before any allocation
    why = "out of memory";
  }
  if (error) {
    try {
      *error = std::move(why);
    } catch (...) {
    }
  }
  return std::nullopt;
}

}  // namespace wsg::cluster
