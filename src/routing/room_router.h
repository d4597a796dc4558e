// RoomRouter: the node's part of rooms (docs/protocol.md, "Rooms"; docs/architecture.md, "Rooms").
// It keeps the local memberships (RoomTable: room -> member sessions of this node), registers at
// the master which rooms have members here (through MasterSet, batched, replayed, acks held
// like welcomes), caches room -> nodes routes (a RouteCache of its own, dropped by ROOM_INVALIDATE
// and NODE_DOWN), sends each publish once per target node (PeerOutbox's ROOM_DELIVER batches),
// fans out what arrives to the local members with one shared frame, counts the sessions reached
// from the receipts for the publisher's ack, and answers `members` by asking the room's nodes.
// Owned by the Router and run on its strand: no locks, nothing blocks.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "cache/room_table.h"
#include "cache/route_cache.h"
#include "proto/client_protocol.h"
#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/master_session.h"
#include "routing/master_set.h"
#include "routing/peer_outbox.h"
#include "routing/receipt_verifier.h"

namespace wsg {

class RoomRouter {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  struct Options {
    std::string node_id;
    std::string events;  // this node's PULL address (where MEMBERS_REPLYs come back)
    uint64_t incarnation = 0;
    int64_t delivery_timeout_ms = 2000;
    std::size_t cache_capacity = 100000;
    int64_t cache_ttl_ms = 30000;
    std::size_t max_per_session = 100;  // rooms.max_per_session (0 = no limit)
    std::size_t max_members = 0;        // rooms.max_members, per room and node (0 = no limit)
    bool publish_requires_join = true;  // rooms.publish_requires_join
    // rooms.notices: joins and leaves are sent to the room's nodes (one event per node each) for the
    // members that joined with notices; off, they cost nothing beyond the membership itself.
    bool notices = false;
    std::size_t max_inflight = 262144;  // publishes awaiting receipts
    std::size_t max_queued_per_lookup = 10000;
    std::size_t max_pending_lookups = 100000;
  };
  // What the Router shares with it (all used on the Router's strand only).
  struct Links {
    // The masters: registrations to all, lookups to one (MasterSet).
    MasterSet& masters;
    PeerOutbox& outbox;
    ReceiptVerifier& verifier;
    std::unordered_map<std::string, std::string>& peer_events;  // node id -> events address
  };
  struct Stats {
    std::size_t rooms = 0;           // rooms with a member on this node
    std::size_t memberships = 0;     // (session, room) pairs on this node
    uint64_t publishes = 0;          // publishes accepted from local sessions
    uint64_t deliveries_local = 0;   // frames given to local members: publishes of this node
    uint64_t deliveries_remote = 0;  // frames given to local members: publishes of other nodes
    uint64_t events_sent = 0;        // ROOM_DELIVER items handed to the link (one per target node)
    uint64_t not_here = 0;           // items received for a room with no member here
    uint64_t lookups = 0;            // ROOM_LOOKUPs sent
    uint64_t lookup_timeouts = 0;
    uint64_t refused_inflight = 0;       // publishes refused at max_inflight
    uint64_t errors_too_many_rooms = 0;  // error frames sent from here (wsg_errors_total)
    uint64_t errors_room_full = 0;
    uint64_t fanout_dropped = 0;  // frames refused at a full mailbox (kMaxMailboxItems)
    uint64_t errors_not_joined = 0;
    std::size_t inflight = 0;
  };

  RoomRouter(Strand strand, Options options, Links links, std::function<std::shared_ptr<void>()> keep_alive);

  // --- from sessions (on the strand) ---
  void join(const std::shared_ptr<LocalSession>& session, proto::JoinFrame frame);
  // A join from the token's `join` claim at connect: no frame, no ack; `done` runs when a join
  // with an id would have been acked (or at once when refused by a limit).
  void join_at_connect(const std::shared_ptr<LocalSession>& session, const std::string& room,
                       std::function<void()> done);
  void leave(const std::shared_ptr<LocalSession>& session, proto::LeaveFrame frame);
  // A join or leave made by the server API (POST /api/rooms/join|leave): as a client's without an
  // id, but the session is told with {"type":"joined"|"left","room":R,"by":"server"} (a join once
  // the master registered it, a leave at once; docs/protocol.md, "Rooms"). `done` runs once the
  // join is registered (a publish sent after it reaches the session), or at once when a limit
  // refused it (the session gets the error frame).
  void join_by_server(const std::shared_ptr<LocalSession>& session, const std::string& room,
                      std::function<void()> done);
  void leave_by_server(const std::shared_ptr<LocalSession>& session, const std::string& room);
  void publish(const std::shared_ptr<LocalSession>& session, proto::PublishFrame frame);
  void members(const std::shared_ptr<LocalSession>& session, proto::MembersFrame frame);
  // The session ended: it leaves every room (with notices), rooms left empty are unregistered.
  void session_closed(const LocalSession& session);

  // --- cluster input; false when the message is not a room message ---
  bool handle_master(cluster::Message& message);
  bool handle_peer(cluster::Message& message);
  // Room receipts and members replies the master vouched for (ReceiptVerifier::Verified).
  void send_verified(const std::string& origin, const std::string& events,
                     std::vector<cluster::RoomReceiptItem> receipts, std::vector<cluster::Message> messages);
  void on_node_down(const std::string& node, const std::vector<std::string>& unsent_ids);
  void on_refused(const std::string& node, const std::vector<std::string>& msg_ids);
  void on_routes_stale() { cache_.clear(); }
  void on_replay();
  void sweep(int64_t now);

  Stats stats() const;

 private:
  // The error frame for a join a limit refused (nothing for joined / already_member).
  void refuse_join(const std::shared_ptr<LocalSession>& session, RoomTable::JoinResult result,
                   const std::optional<std::string>& ref);
  enum class Fail : uint8_t { none, timeout, node_down, master_unreachable, peer_unreachable, overloaded };
  static std::string_view to_string(Fail why);
  // The join itself; `on_registered` runs once publishes sent from now on reach the session.
  RoomTable::JoinOutcome do_join(const std::shared_ptr<LocalSession>& session, const std::string& room, bool echo,
                                 bool notices, std::function<void()> on_registered);
  using SessionKey = RoomTable::SessionKey;
  static SessionKey key_of(const LocalSession& s) { return reinterpret_cast<uintptr_t>(&s); }

  struct Publish {
    uint64_t seq = 0;
    std::string id;
    std::string room;
    std::string from;
    std::string body;
    int64_t ts_ms = 0;
    cluster::RoomEvent event = cluster::RoomEvent::message;
    SessionKey exclude = 0;  // the publishing (or joining) session: no copy unless it asked for echo
    std::weak_ptr<LocalSession> sender;
    std::optional<std::string> ref;
    int64_t deadline_ms = 0;
    uint64_t sessions = 0;
    std::vector<std::string> pending;  // nodes whose receipt is awaited
    std::vector<std::string> tried;    // nodes it was handed to
    bool bounced = false;
    bool retried = false;
    bool done = false;
    Fail fail = Fail::none;
  };
  struct PendingMembers {
    std::weak_ptr<LocalSession> session;
    std::optional<std::string> ref;
    std::string room;
    std::string after;
    std::size_t limit = 0;
    int64_t deadline_ms = 0;
    std::vector<std::string> pending;  // nodes asked, not yet answered
    std::set<std::string> users;
    bool more = false;
    bool partial = false;
    bool routed = false;  // the route is known and the nodes were asked
  };
  using Waiter = std::function<void(const std::vector<std::string>* nodes, Fail why)>;
  struct Lookup {
    uint64_t seq = 0;
    int64_t deadline_ms = 0;
    std::vector<Waiter> waiting;
  };

  // The most frames one turn of a session thread takes from its mailbox (bounds that turn's work
  // and the memory of the writes it starts).
  static constexpr std::size_t kFanOutSlice = 256;
  // The most frames waiting in one thread's mailbox (32 bytes each): 32 MiB.
  static constexpr std::size_t kMaxMailboxItems = std::size_t{1} << 20;
  // Room frames on their way from the router to the sessions of one thread (one per I/O context,
  // LocalSession::thread_key): filled on the router's strand, drained on that thread, in order, a
  // slice per turn. One FIFO per thread keeps each publisher's messages in order at every member.
  struct Mailbox {
    struct Item {
      std::shared_ptr<LocalSession> session;
      std::shared_ptr<const std::string> frame;
    };
    std::mutex mu;
    std::deque<Item> items;  // under mu
    bool scheduled = false;  // under mu: a drain is posted to the thread
  };
  // Queues the items (of sessions of the thread `key`) and posts a drain if none is; returns how
  // many were accepted (kMaxMailboxItems).
  uint64_t post_to_mailbox(const void* key, std::vector<Mailbox::Item> items);
  static void drain(const std::shared_ptr<Mailbox>& box);

  static int64_t steady_ms();
  static int64_t wall_ms();
  void reply(const std::shared_ptr<LocalSession>& s, std::string frame);
  void notice(const LocalSession& s, const std::string& room, cluster::RoomEvent event);
  std::shared_ptr<Publish> make_publish(const LocalSession& s, std::string room, std::string body,
                                        cluster::RoomEvent event);
  // Gives the frame to this node's members of `room`; returns how many got it.
  uint64_t fan_out(const std::string& room, cluster::RoomEvent event, const std::string& id, const std::string& from,
                   const std::string& body, int64_t ts_ms, SessionKey exclude);
  // Cached route, else a lookup (single-flight per room; later ones queue behind it in order).
  void route(const std::shared_ptr<Publish>& p);
  void with_route(const std::string& room, bool fresh, Waiter waiter);
  void send_to(const std::shared_ptr<Publish>& p, const std::vector<std::string>& nodes);
  void complete(const std::shared_ptr<Publish>& p);
  void finish(const std::shared_ptr<Publish>& p, Fail why = Fail::none);
  void untrack(const std::string& node, const Publish& p);
  void on_lookup_reply(const cluster::RoomLookupReply& reply);
  void fail_lookup(const std::string& room, uint64_t seq, Fail why);
  void on_deliver(const cluster::RoomDeliver& deliver);
  void on_receipt(const cluster::RoomReceipt& receipt);
  void on_members_query(const cluster::MembersQuery& query);
  void on_members_reply(const cluster::MembersReply& reply);
  void answer_members(uint64_t seq);
  // This node's members of `room` (distinct users, ascending, > after), at most `limit`; `more`
  // when there were more.
  std::vector<std::string> local_users(const std::string& room, const std::string& after, std::size_t limit,
                                       bool& more) const;
  // Sends to `origin` at `events` when the master named it there, else holds it for verification.
  void answer_peer(const std::string& origin, const std::string& events, const std::string& from,
                   cluster::Message message);

  Strand strand_;
  Options opt_;
  Links links_;
  std::function<std::shared_ptr<void>()> keep_alive_;
  RoomTable table_;
  RouteCache cache_;
  std::unordered_map<SessionKey, std::shared_ptr<LocalSession>> sessions_;  // sessions in >= 1 room
  std::unordered_map<const void*, std::shared_ptr<Mailbox>> mailboxes_;     // thread key -> mailbox
  std::unordered_map<std::string, Lookup> lookups_;                         // room -> lookup in flight
  std::unordered_map<uint64_t, std::string> lookup_seqs_;                   // seq -> room
  std::unordered_map<std::string, std::shared_ptr<Publish>> inflight_;      // msg id -> publish
  std::deque<std::pair<int64_t, std::weak_ptr<Publish>>> deadlines_;
  std::unordered_map<std::string, std::unordered_set<std::string>> pending_by_node_;  // node -> msg ids
  std::unordered_map<uint64_t, PendingMembers> members_;                              // seq -> query
  uint64_t counter_ = 0;
  Stats stats_;
  static constexpr std::size_t kSweepBatch = 4096;
};

}  // namespace wsg
