// Cluster wire protocol (docs/wire-encoding.md): the messages exchanged over ZeroMQ between nodes, the master
// and `wsg status`, and their binary encoding. Pure functions, no I/O; decode() refuses any
// malformed input (truncated, oversized, unknown version or type, trailing bytes) without throwing.
//
// Encoding v1 (every ZeroMQ message is one frame; integers little-endian):
//   u8 version (=1) | u8 type | fields of that type, in declaration order:
//     u8/u32/u64/i64 fixed width; bool as u8 (0|1);
//     str  = u32 length + bytes, each field of a kind with its own length limit and charset
//            (node ids, user ids, session/message ids, addresses, text, JSON: see the .cpp);
//     list = u32 count + items (count bounded by kMaxItems); vector<bool> = count + 1 byte each;
//     ReceiptStatus as u8; records (SessionRef, ...) as their fields, nothing in front.
//   Canonical: every accepted input re-encodes to the same bytes. A new field or type is a new
//   version. Full description, semantics and rollout policy: docs/wire-encoding.md.
// Version 2 adds two types (LOOKUP_BATCH, LOOKUP_BATCH_REPLY) and changes nothing else. Each
// message carries the version that introduced its type: types 1-19 are still written as version 1
// (byte for byte what a v1 process sends and accepts), types 20-21 as version 2, which a v1
// process refuses. This codec reads every version, and a node sends v2 types only when its
// configuration says every process of the cluster reads them (cluster.wire_version = 2).
// Version 3 adds ten types (22-31: rooms, ROOM_REGISTER .. MEMBERS_REPLY) and changes nothing
// else: they carry version 3, which v1 and v2 processes refuse. They are sent only when clients
// use rooms, whatever cluster.wire_version says, so rooms work once every process reads v3.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace wsg::cluster {

inline constexpr uint8_t kWireVersion = 1;              // the base message set, types 1-19
inline constexpr uint8_t kLatestWireVersion = 5;        // what this codec reads and can write
inline constexpr uint32_t kMaxLookupBatch = 256;        // lookups in one LOOKUP_BATCH (v2), results in its reply
inline constexpr uint32_t kMaxMembersBatch = 1001;      // users in one MEMBERS_REPLY (v3); MEMBERS_QUERY.limit 1..this
inline constexpr uint32_t kMaxString = 4096;            // reasons (HELLO_REPLY)
inline constexpr uint32_t kMaxBody = 16 * 1024 * 1024;  // message bodies and status JSON
inline constexpr uint32_t kMaxItems = 65536;            // entries of one list
inline constexpr uint32_t kMaxNodeIdBytes = 64;         // node ids: [A-Za-z0-9._-]
inline constexpr uint32_t kMaxTokenBytes = 128;         // session and message ids: [A-Za-z0-9._@:-]
inline constexpr uint32_t kMaxAddressBytes = 512;       // ws_url, events: printable ASCII, no space
// (user ids follow the client protocol's rule, proto::valid_user_id: 1..128 of [A-Za-z0-9._@:-];
// room names proto::valid_room_name: 1..128 of [A-Za-z0-9._@:/-].)

// Bounds on one ZeroMQ message, set as ZMQ_MAXMSGSIZE on every cluster socket (docs/security.md,
// "Cluster links"): libzmq refuses a frame that declares more, before it allocates, and drops the
// connection. Each is the largest message a wsg process legitimately sends on that link, with room.
//   to the master (its ROUTER): a REGISTER batch of 1000 sessions is at most 264 KB (ids <= 128
//     bytes); PRESENCE carries at most 100 user ids. ROOM_REGISTER and ROOM_UNREGISTER (v3) take
//     132 bytes per room at most: a sender must cut them well below kMaxItems rooms (1000 rooms
//     are at most 133 KB), since a whole kMaxItems list would not fit.
inline constexpr int64_t kMaxToMasterBytes = 1024 * 1024;
//   from the master to a node (the node's DEALER): LOOKUP_REPLY and ROOM_LOOKUP_REPLY list alive
//     nodes (<= 584 bytes each), PRESENCE_REPLY at most kMaxItems bools.
inline constexpr int64_t kMaxToNodeBytes = 1024 * 1024;
//   from the master to `wsg status`: STATUS_REPLY, whose JSON the codec bounds at kMaxBody.
inline constexpr int64_t kMaxToStatusBytes = kMaxBody + 64 * 1024;
//   node to node (the PULL): a DELIVER batch is cut once it reaches 256 KiB (PeerOutbox::
//   kOutboxBytes), so it is at most that plus one item, whose body is at most the sender's
//   limits.max_message_bytes (every node of a cluster must use the same value); RECEIPT batches
//   of 512 items are under 70 KB. ROOM_DELIVER (v3) is batched and cut the same way (a RoomItem
//   is at most 409 bytes plus its body); ROOM_RECEIPT batches of 512 items are under 71 KB, a
//   MEMBERS_REPLY (at most kMaxMembersBatch user ids) under 133 KB.
inline constexpr int64_t max_peer_message_bytes(int64_t max_message_bytes) { return max_message_bytes + 512 * 1024; }
// Handshake bound (ZMQ_HANDSHAKE_IVL) of every cluster socket: a connection that has not finished
// its ZMTP (and CURVE) handshake by then is closed, so pending handshakes cannot pile up for long.
inline constexpr int kHandshakeMs = 5000;

enum class Type : uint8_t {
  hello = 1,
  hello_reply = 2,
  register_sessions = 3,
  unregister_sessions = 4,
  ack = 5,
  lookup = 6,
  lookup_reply = 7,
  heartbeat = 8,
  heartbeat_reply = 9,
  invalidate = 10,
  node_down = 11,
  status = 12,
  status_reply = 13,
  presence = 14,
  presence_reply = 15,
  deliver = 16,
  receipt = 17,
  invalidate_ack = 18,
  leave = 19,
  lookup_batch = 20,         // v2
  lookup_batch_reply = 21,   // v2
  room_register = 22,        // v3
  room_unregister = 23,      // v3
  room_lookup = 24,          // v3
  room_lookup_reply = 25,    // v3
  room_invalidate = 26,      // v3
  room_invalidate_ack = 27,  // v3
  room_deliver = 28,         // v3
  room_receipt = 29,         // v3
  members_query = 30,        // v3
  members_reply = 31,        // v3
  room_status = 32,          // v3
  room_count = 33,           // v3
  room_count_reply = 34,     // v3
  user_op = 35,              // v4
  node_query = 36,           // v4
  node_query_reply = 37,     // v4
  hello_public = 38,         // v5
};
// The wire version that introduced `t`, which every message of that type carries.
constexpr uint8_t version_of(Type t) {
  const auto n = static_cast<uint8_t>(t);
  return n >= 38 ? 5 : n >= 35 ? 4 : n >= 22 ? 3 : n >= 20 ? 2 : 1;
}

struct SessionRef {
  std::string user;
  std::string session;
  bool operator==(const SessionRef&) const = default;
};
struct NodeAddr {
  std::string id;
  std::string events;  // ZeroMQ address of the node's PULL socket
  bool operator==(const NodeAddr&) const = default;
};

// node -> master. `incarnation` is random per node process: a HELLO for a live node id with
// another incarnation is a duplicate node and refused.
struct Hello {
  std::string node_id;
  uint64_t incarnation = 0;
  std::string ws_url;
  std::string events;
  bool operator==(const Hello&) const = default;
};
// node -> master (v5): a HELLO with the node's public WebSocket URL (node.public_url), sent instead
// of HELLO when one is set. Answered by HELLO_REPLY exactly as a HELLO is.
struct HelloPublic {
  std::string node_id;
  uint64_t incarnation = 0;
  std::string ws_url;
  std::string events;
  std::string public_url;  // what clients should connect to (behind a load balancer or NAT)
  bool operator==(const HelloPublic&) const = default;
};
// master -> node
struct HelloReply {
  uint64_t epoch = 0;
  bool accepted = false;
  std::string reason;
  bool operator==(const HelloReply&) const = default;
};
// node -> master, batched; answered by Ack with the same seq.
struct RegisterSessions {
  uint64_t seq = 0;
  std::vector<SessionRef> sessions;
  bool operator==(const RegisterSessions&) const = default;
};
struct UnregisterSessions {
  uint64_t seq = 0;
  std::vector<SessionRef> sessions;
  bool operator==(const UnregisterSessions&) const = default;
};
// master -> node: a request `seq` was applied. ok=false when the sender is not a known node
// (for example after a master restart): the node must HELLO again and replay its sessions.
struct Ack {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  bool ok = true;
  bool operator==(const Ack&) const = default;
};
// node -> master
struct Lookup {
  uint64_t seq = 0;
  std::string user;
  bool operator==(const Lookup&) const = default;
};
// master -> node: the nodes holding at least one session of `user` (empty: offline).
struct LookupReply {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::string user;
  std::vector<NodeAddr> nodes;
  bool operator==(const LookupReply&) const = default;
};
// node -> master
struct Heartbeat {
  std::string node_id;
  uint64_t sessions = 0;
  uint64_t messages = 0;  // messages accepted since start
  bool operator==(const Heartbeat&) const = default;
};
// master -> node; known=false: the master does not know this node (re-HELLO and replay).
struct HeartbeatReply {
  uint64_t epoch = 0;
  bool known = true;
  bool operator==(const HeartbeatReply&) const = default;
};
// master -> node, unsolicited
struct Invalidate {
  uint64_t epoch = 0;
  std::string user;
  bool operator==(const Invalidate&) const = default;
};
struct NodeDown {
  uint64_t epoch = 0;
  std::string node_id;
  bool operator==(const NodeDown&) const = default;
};
// status client -> master; empty user = the whole cluster.
struct StatusQuery {
  uint64_t seq = 0;
  std::string user;
  bool operator==(const StatusQuery&) const = default;
};
// master -> status client: the JSON document `wsg status --json` prints (man/wsg.1, COMMANDS).
struct StatusReply {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::string json;
  bool operator==(const StatusReply&) const = default;
};
// node -> master
struct PresenceQuery {
  uint64_t seq = 0;
  std::vector<std::string> users;
  bool operator==(const PresenceQuery&) const = default;
};
// master -> node: online[i] answers users[i] of the query.
struct PresenceReply {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::vector<bool> online;
  bool operator==(const PresenceReply&) const = default;
};

// node -> node. A batch of messages for users of the receiving node. Each item is answered
// by a receipt pushed to `origin_events`.
struct DeliverItem {
  std::string msg_id;
  std::string from;
  std::string to;
  int64_t ts_ms = 0;
  std::string body;  // JSON text, forwarded verbatim
  bool operator==(const DeliverItem&) const = default;
};
struct Deliver {
  std::string origin_node;
  std::string origin_events;
  std::vector<DeliverItem> items;
  bool operator==(const Deliver&) const = default;
};
enum class ReceiptStatus : uint8_t { delivered = 1, not_here = 2 };
struct ReceiptItem {
  std::string msg_id;
  ReceiptStatus status = ReceiptStatus::delivered;
  bool operator==(const ReceiptItem&) const = default;
};
struct Receipt {
  std::string origin_node;  // the node that sends the receipt
  std::vector<ReceiptItem> items;
  bool operator==(const Receipt&) const = default;
};

// node -> master: INVALIDATE(user) was applied on the node's router (its cached route is gone).
// The master holds a registration's ACK until the watchers confirmed (bounded by a timeout), so
// a session is welcomed only once no node can still route its user the old way.
struct InvalidateAck {
  std::string user;
  bool operator==(const InvalidateAck&) const = default;
};

// node -> master: this incarnation has drained and is going away (sent after its UNREGISTERs).
// The master declares it dead at once, so the same id can HELLO again without waiting for
// master.node_timeout_ms. No reply.
struct Leave {
  std::string node_id;
  uint64_t incarnation = 0;
  bool operator==(const Leave&) const = default;
};

// node -> master (v2): several LOOKUPs in one message, 1..kMaxLookupBatch of them, each with its
// own seq. Sent only by a node configured with cluster.wire_version = 2.
struct LookupBatch {
  std::vector<Lookup> lookups;
  bool operator==(const LookupBatch&) const = default;
};
// One answer of a LOOKUP_BATCH_REPLY: the lookup's seq and user, and the nodes holding the user
// as indexes into the reply's `nodes` table (each < its size; empty: offline).
struct LookupResult {
  uint64_t seq = 0;
  std::string user;
  std::vector<uint32_t> nodes;
  bool operator==(const LookupResult&) const = default;
};
// master -> node (v2): answers to the lookups of one LOOKUP_BATCH that the master can answer now
// (at most kMaxLookupBatch; a lookup held by the master's recovery window is answered later by a
// plain LOOKUP_REPLY with its seq). Each node named once, in `nodes`.
struct LookupBatchReply {
  uint64_t epoch = 0;
  std::vector<NodeAddr> nodes;
  std::vector<LookupResult> results;
  bool operator==(const LookupBatchReply&) const = default;
};

// ---- Version 3: rooms (docs/wire-encoding.md, "Rooms") ------------------------------------------
// The master knows, per room, the nodes with at least one member (not the members); publishes go
// node to node like DELIVER. Room names are proto::valid_room_name.

// node -> master: this node now has members of these rooms (1..kMaxItems of them); answered by
// Ack with the same seq, held until the nodes that looked a room up confirmed ROOM_INVALIDATE.
struct RoomRegister {
  uint64_t seq = 0;
  std::vector<std::string> rooms;
  bool operator==(const RoomRegister&) const = default;
};
// node -> master: no member of these rooms is left on this node (1..kMaxItems rooms); Ack.
struct RoomUnregister {
  uint64_t seq = 0;
  std::vector<std::string> rooms;
  bool operator==(const RoomUnregister&) const = default;
};
// node -> master
struct RoomLookup {
  uint64_t seq = 0;
  std::string room;
  bool operator==(const RoomLookup&) const = default;
};
// master -> node: the alive nodes with at least one member of `room` (empty: none).
struct RoomLookupReply {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::string room;
  std::vector<NodeAddr> nodes;
  bool operator==(const RoomLookupReply&) const = default;
};
// master -> node, unsolicited: the room's node set changed, drop the cached route.
struct RoomInvalidate {
  uint64_t epoch = 0;
  std::string room;
  bool operator==(const RoomInvalidate&) const = default;
};
// node -> master: ROOM_INVALIDATE(room) was applied.
struct RoomInvalidateAck {
  std::string room;
  bool operator==(const RoomInvalidateAck&) const = default;
};
enum class RoomEvent : uint8_t { message = 1, join = 2, leave = 3 };
// One publish (event message) or membership notice (join/leave: `from` is the user who joined or
// left, and `body` is empty).
struct RoomItem {
  std::string msg_id;
  std::string room;
  std::string from;
  RoomEvent event = RoomEvent::message;
  int64_t ts_ms = 0;
  std::string body;  // JSON text, forwarded verbatim (may be empty)
  bool operator==(const RoomItem&) const = default;
};
// node -> node: fan each item out to the local members of its room; each item is answered by a
// RoomReceiptItem pushed to `origin_events`. At least one item.
struct RoomDeliver {
  std::string origin_node;
  std::string origin_events;
  std::vector<RoomItem> items;
  bool operator==(const RoomDeliver&) const = default;
};
// `sessions`: the local sessions the item was written to. not_here (no member of the room here
// any more) carries sessions == 0.
struct RoomReceiptItem {
  std::string msg_id;
  ReceiptStatus status = ReceiptStatus::delivered;
  uint32_t sessions = 0;
  bool operator==(const RoomReceiptItem&) const = default;
};
// node -> node: answers to ROOM_DELIVER items (at least one).
struct RoomReceipt {
  std::string origin_node;  // the node that sends the receipt
  std::vector<RoomReceiptItem> items;
  bool operator==(const RoomReceipt&) const = default;
};
// node -> node: the receiver's local members of `room` (distinct user ids in ascending order, each
// greater than `after` when it is not empty), at most `limit` (1..kMaxMembersBatch) of them,
// answered by a MEMBERS_REPLY with the same seq pushed to `origin_events`. `from`: the asking user.
struct MembersQuery {
  std::string origin_node;
  std::string origin_events;
  uint64_t seq = 0;
  std::string from;
  std::string room;
  std::string after;
  uint32_t limit = 0;
  bool operator==(const MembersQuery&) const = default;
};
// node -> node: at most kMaxMembersBatch user ids; `more`: the node has members after the last.
struct MembersReply {
  std::string origin_node;  // the node that answers
  uint64_t seq = 0;
  std::vector<std::string> users;
  bool more = false;
  bool operator==(const MembersReply&) const = default;
};
// status client -> master (`wsg status --room R`): answered by STATUS_REPLY with the same seq once
// the room's nodes counted their members (ROOM_COUNT), or after a bounded wait without the silent ones.
struct RoomStatus {
  uint64_t seq = 0;
  std::string room;
  bool operator==(const RoomStatus&) const = default;
};
// master -> node: how many members of `room` do you have?
struct RoomCount {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::string room;
  bool operator==(const RoomCount&) const = default;
};
// node -> master: member sessions and distinct users of `room` on this node.
struct RoomCountReply {
  uint64_t seq = 0;
  std::string room;
  uint32_t sessions = 0;
  uint32_t users = 0;
  bool operator==(const RoomCountReply&) const = default;
};

// v4: the server API's operations on every session of a user (docs/api.md), routed like a DELIVER
// (to the nodes the master names for `user`) and answered by a RECEIPT item with the same msg_id:
// delivered = applied to at least one session of `user` there, not_here = none there.
enum class UserOpKind : uint8_t { disconnect = 1, join = 2, leave = 3 };
inline constexpr std::size_t kMaxCloseReasonBytes = 123;  // a WebSocket close frame's reason (RFC 6455 5.5)
// node -> node. disconnect: `code` 4000..4999, `reason` at most kMaxCloseReasonBytes, `room` empty;
// join and leave: `room` a valid room name, `code` 0, `reason` empty.
struct UserOp {
  std::string origin_node;
  std::string origin_events;
  std::string msg_id;
  std::string user;
  UserOpKind op = UserOpKind::disconnect;
  uint32_t code = 0;
  std::string room;
  std::string reason;
  bool operator==(const UserOp&) const = default;
};

// node -> master (v4): where is node `node_id`? Asked to vouch for a DELIVER's origin whose sender
// the master cannot place (a server API call's service name is no registered user).
struct NodeQuery {
  uint64_t seq = 0;
  std::string node_id;
  bool operator==(const NodeQuery&) const = default;
};
// master -> node (v4): the node at its events address when it is alive, else no entry.
struct NodeQueryReply {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::vector<NodeAddr> nodes;  // at most one
  bool operator==(const NodeQueryReply&) const = default;
};

using Message =
    std::variant<Hello, HelloReply, RegisterSessions, UnregisterSessions, Ack, Lookup, LookupReply, Heartbeat,
                 HeartbeatReply, Invalidate, NodeDown, StatusQuery, StatusReply, PresenceQuery, PresenceReply, Deliver,
                 Receipt, InvalidateAck, Leave, LookupBatch, LookupBatchReply, RoomRegister, RoomUnregister, RoomLookup,
                 RoomLookupReply, RoomInvalidate, RoomInvalidateAck, RoomDeliver, RoomReceipt, MembersQuery,
                 MembersReply, RoomStatus, RoomCount, RoomCountReply, UserOp, NodeQuery, NodeQueryReply, HelloPublic>;

Type type_of(const Message& m);
// The message's bytes, or nullopt (and in `error`, when given, the type and a short reason) when a
// string or list breaks the limits or the field rules decode() enforces: never emits undecodable
// bytes, never throws (issue 14: no exceptions past start-up). Every caller acts on a refusal
// (ZmqLinks counts it as a drop, the master logs it, `wsg status` exits 2).
std::optional<std::string> encode(const Message& m, std::string* error = nullptr) noexcept;
// Returns nullopt for any malformed input, including a string that breaks its field's rule
// (docs/wire-encoding.md §5); `error`, when given, receives a short reason. Every string of a
// decoded message is therefore safe to log and to put in JSON.
std::optional<Message> decode(std::string_view bytes, std::string* error = nullptr) noexcept;

// The rules decode applies to node ids and to addresses (events, ws_url), for senders that check
// their own configuration before they start.
bool valid_node_id(std::string_view s);
bool valid_address(std::string_view s);

}  // namespace wsg::cluster
