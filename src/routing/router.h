// Router: the node's routing state machine, on its own strand. It owns the local session
// registry (user -> sessions on this node), the route cache, the peers' addresses, pending
// lookups, in-flight deliveries with their per-user flows (barriers), node deaths, receipts and
// presence queries. Its pieces run on the same strand and report back to it: MasterSession (the
// node's HELLO, heartbeat and session registrations at the master), PeerOutbox (the per-peer
// DELIVER/RECEIPT batches) and ReceiptVerifier (receipts held until the master vouches for their
// origin). Sessions and ZmqLinks (on the same io_context) only post to it; nothing here blocks
// (the only lock is the latency histograms' mutex, uncontended except while /metrics renders
// them).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "cache/delivered_ids.h"
#include "cache/route_cache.h"
#include "proto/client_protocol.h"
#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/master_session.h"
#include "routing/master_set.h"
#include "routing/outgoing.h"
#include "routing/peer_link.h"
#include "routing/peer_outbox.h"
#include "routing/receipt_verifier.h"
#include "routing/room_router.h"
#include "telemetry/logging.h"
#include "telemetry/metrics.h"

namespace wsg {

class Router : public std::enable_shared_from_this<Router> {
 public:
  struct Options {
    std::string node_id;
    uint64_t incarnation = 0;
    std::string ws_url;
    std::string public_url;  // node.public_url ("" = none): sent to the master in HELLO_PUBLIC (v5)
    std::string events;      // advertised PULL address
    int64_t heartbeat_ms = 1000;
    int64_t delivery_timeout_ms = 2000;
    std::size_t cache_capacity = 100000;
    int64_t cache_ttl_ms = 30000;
    std::size_t max_inflight = 262144;          // deliveries awaiting receipts
    std::size_t max_queued_per_lookup = 10000;  // sends waiting on one user's lookup
    std::size_t max_pending_lookups = 100000;   // users being looked up at once
    std::size_t register_batch = 1000;          // sessions per REGISTER/UNREGISTER
    // Delivered message ids are remembered for dedup_ms (a retry can only arrive while its sender
    // still has the message in flight, i.e. within delivery_timeout_ms), at most dedup_window of them.
    std::size_t dedup_window = 100000;
    int64_t dedup_ms = 0;  // 0 = 2 x delivery_timeout_ms + 1 s
    // Outbox coalescing: a peer batch goes out at once when the previous flush is at least this
    // old, else at previous flush + this (so under load each wake-up of libzmq's I/O threads and
    // of the peer carries many messages; an isolated message is never delayed). 0 = never wait.
    std::chrono::microseconds outbox_coalesce{200};
    // cluster.wire_version: the highest cluster wire version this node sends. 2: the lookups a
    // strand turn starts go to the master in one LOOKUP_BATCH (a lone one stays a LOOKUP); only
    // when every process of the cluster reads v2 (docs/wire-encoding.md, "Versioning").
    int wire_version = 1;
    // Rooms (RoomRouter::Options): rooms.max_per_session, rooms.max_members, rooms.publish_requires_join.
    std::size_t rooms_max_per_session = 100;
    std::size_t rooms_max_members = 0;
    bool rooms_publish_requires_join = true;
    bool rooms_notices = false;
    // Where the latency histograms are observed (on the router strand). Null: a private one.
    std::shared_ptr<NodeMetrics> metrics;
    // Called on the router strand, once, when a message accepted here settles `offline` or
    // `failed` (with or without a client id), with the ack's reason ("" for offline): the node's
    // message.undelivered webhook. Must not block. Null: nothing.
    std::function<void(const Outgoing&, proto::AckStatus, std::string_view reason)> on_undelivered;
  };

  // Called once, on the router strand, when the master refuses this node (duplicate id).
  using FatalHandler = std::function<void(const std::string& reason)>;

  // `masters[i]` is the link to master i of cluster.master (at least one).
  Router(boost::asio::io_context& ioc, Options options, std::vector<MasterLink*> masters, PeerLink& peers,
         FatalHandler on_fatal);
  Router(boost::asio::io_context& ioc, Options options, MasterLink& master, PeerLink& peers, FatalHandler on_fatal)
      : Router(ioc, std::move(options), std::vector<MasterLink*>{&master}, peers, std::move(on_fatal)) {}

  // Sends HELLO and starts the heartbeat and sweep timers.
  void start();
  // Closes every session with 1001 "drain", unregisters them, then calls `done` (on the strand)
  // once no session is left or `timeout_ms` passed.
  void drain(int64_t timeout_ms, std::function<void()> done);
  void stop_timers();

  // --- from sessions (any thread) ---
  // Registers at the master; `on_registered` runs (on the router strand) once the master
  // acknowledged, or once the registration was queued for replay while the master is away.
  // `join_rooms` (the token's `join` claim): rooms it becomes a member of first; `on_registered`
  // then waits for those rooms' registrations too.
  void add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered,
                   std::vector<std::string> join_rooms = {});
  void remove_session(std::shared_ptr<LocalSession> session);
  void send(std::shared_ptr<LocalSession> from, proto::SendFrame frame);
  void presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame);
  // Rooms (RoomRouter, on the router strand).
  void join(std::shared_ptr<LocalSession> from, proto::JoinFrame frame);
  void leave(std::shared_ptr<LocalSession> from, proto::LeaveFrame frame);
  void publish(std::shared_ptr<LocalSession> from, proto::PublishFrame frame);
  void members(std::shared_ptr<LocalSession> from, proto::MembersFrame frame);
  // --- server API (src/net/api_server; any thread) ---
  // Sends, publishes, presence and members queries of the API go through send(), publish(),
  // presence() and members() above, from a LocalSession whose is_service() is true. Operations on
  // every session of a user, wherever they are (routed like a message to the user: the same
  // lookups, per-user order and receipts; docs/api.md):
  enum class UserOp : uint8_t { disconnect = 1, join = 2, leave = 3 };
  struct UserOpRequest {
    UserOp op = UserOp::disconnect;
    std::string user;
    std::string room;      // join, leave: a valid room name
    uint16_t code = 4000;  // disconnect: the close code, 4000..4999
    std::string reason;    // disconnect: the close reason, at most 123 bytes of UTF-8
  };
  struct UserOpResult {
    // delivered: applied to at least one session; offline: the user had none; failed: not
    // confirmed by every node holding the user (`reason` as a failed ack's).
    proto::AckStatus status = proto::AckStatus::failed;
    std::string reason;
  };
  // `done` runs once, on the router strand.
  void user_op(UserOpRequest request, std::function<void(UserOpResult)> done);
  // The master's answer to a STATUS query (the JSON `wsg status --json` prints; `user` non-empty:
  // that user's sessions). nullopt when the master did not answer within the heartbeat timeout.
  // `done` runs once, on the router strand.
  void cluster_status(std::string user, std::function<void(std::optional<std::string>)> done);

  // Room counters, on the router strand (for sample() and tests).
  void room_stats(std::function<void(RoomRouter::Stats)> done);

  // --- metrics (any thread)
  // Fills the router's part of a NodeSample on the router strand and calls `done` there with it
  // (/metrics: the caller renders it on its own thread). Costs one pass over the sessions.
  void sample(std::function<void(NodeSample)> done);

  // --- from ZmqLinks (the router's thread) ---
  // A batch read in one turn: one post, handled in order.
  // Messages from master `index` (cluster.master's order).
  void on_master_messages(std::size_t index, std::vector<cluster::Message> batch);
  void on_master_messages(std::vector<cluster::Message> batch) { on_master_messages(0, std::move(batch)); }
  void on_peer_messages(std::vector<cluster::Message> batch);

  // Readable from any thread.
  bool ready() const { return masters_.ready(); }  // accepted by a master, link alive
  std::size_t session_count() const { return session_count_.load(); }

 private:
  struct Flow;
  struct LookupState {
    uint64_t seq = 0;
    std::vector<std::shared_ptr<Outgoing>> waiting;
  };
  struct PendingPresence {
    std::weak_ptr<LocalSession> session;
    std::optional<std::string> ref;
    std::vector<std::string> users;
    int64_t deadline_ms;
  };
  struct PendingLookup {
    std::string user;
    int64_t deadline_ms;
    std::chrono::steady_clock::time_point sent;
  };
  static int64_t steady_ms();
  static int64_t wall_ms();

  void do_add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered,
                      std::vector<std::string> join_rooms);
  void do_remove_session(const std::shared_ptr<LocalSession>& session);
  void do_send(std::shared_ptr<LocalSession> from, proto::SendFrame frame);
  void do_presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame);
  void do_user_op(UserOpRequest request, std::function<void(UserOpResult)> done);
  void do_cluster_status(std::string user, std::function<void(std::optional<std::string>)> done);
  // Applies a server API operation to this node's sessions of `user`; returns how many it reached.
  // When that is not 0, `applied` runs once (on the strand) when the operation took effect on all
  // of them: at once for disconnect and leave, once registered at the master for a join.
  std::size_t apply_user_op(const std::string& user, const UserOpSpec& op, std::function<void()> applied);
  // The local part of an operation took effect: a deferred `delivered` answer goes now.
  void op_applied_here(const std::shared_ptr<Outgoing>& out);
  // What a delivery does on this node: the message written to the recipient's sessions, or the
  // operation applied to them; returns how many sessions.
  std::size_t apply_local(const std::shared_ptr<Outgoing>& out);
  // Hands a server API operation to `node` (after everything queued for peers, so it keeps its
  // place among the user's messages). False when the link refused it.
  bool send_user_op(const std::string& node, const std::string& events, const Outgoing& out);
  void on_user_op(const cluster::UserOp& op);
  // Receipts for what `origin` (at `events`) sent: at once when the master named it to us, else
  // held by the verifier (asking where `from` is, or for the origin itself when `from` is empty).
  void send_receipts(const std::string& origin, const std::string& events, const std::string& from,
                     std::vector<cluster::ReceiptItem> items);
  void handle_master(cluster::Message& message);
  void handle_peer(cluster::Message& message);

  // MasterSession's handlers: drop the cached routes; register every local session again; what
  // the heartbeat reports.
  void on_routes_stale();
  void on_replay();
  MasterSession::Load load() const;

  // Delivery.
  std::size_t deliver_local(const std::string& user, const std::shared_ptr<const std::string>& frame);
  // Local delivery, then route() — or held behind the user's barrier.
  void dispatch(const std::shared_ptr<Outgoing>& out);
  void dispatch_now(const std::shared_ptr<Outgoing>& out);
  // The user's route changed (invalidated, bounced, node down, a local session came or went):
  // messages to it still awaiting receipts become a barrier later messages wait behind.
  void route_changed(const std::string& user);
  // Dispatches up to kReleaseBatch held messages of a user whose barrier is lifted; posts itself
  // again while more are held.
  void release_held(const std::string& user);
  void schedule_release(Flow& flow, const std::string& user);
  void erase_flow_if_idle(const std::string& user);
  // Messages handed to `node` whose receipt is awaited (for on_node_down).
  void track_pending(const std::string& node, const std::shared_ptr<Outgoing>& out);
  void untrack_pending(const std::string& node, const Outgoing& out);
  // Retries up to kRetryBatch messages of retry_queue_; posts itself again while more wait.
  void retry_some();
  // Cached route, else a lookup (single-flight per user).
  void route(const std::shared_ptr<Outgoing>& out);
  void route_to(const std::shared_ptr<Outgoing>& out, const std::vector<std::string>& nodes);
  void start_lookup(const std::string& user, std::shared_ptr<Outgoing> out);
  // Wire v2: gathers this turn's lookups; flush_lookups sends them (posted once per turn, or at
  // once when kMaxLookupBatch are gathered).
  void queue_lookup(uint64_t seq, const std::string& user);
  void flush_lookups();
  // The link refused lookup `seq` of `user`: no answer will come, so what waits on it fails now.
  void fail_lookup(const std::string& user, uint64_t seq);
  void on_lookup_reply(cluster::LookupReply& reply);
  void on_deliver(const cluster::Deliver& deliver);
  // PeerOutbox's handler: a DELIVER batch to `node` the link refused.
  void on_deliver_refused(const std::string& node, std::vector<std::shared_ptr<Outgoing>> outs);
  void remember_delivered(const std::string& msg_id);
  void on_receipt(const cluster::Receipt& receipt);
  void on_node_down(const std::string& node_id);
  // Why a message is acked `failed` (the ack's `reason`, docs/protocol.md).
  enum class Fail : uint8_t { none, timeout, node_down, master_unreachable, peer_unreachable, overloaded, moved };
  static std::string_view to_string(Fail why);
  // Sends the ack once (if the sender gave an id).
  void ack(const std::shared_ptr<Outgoing>& out, proto::AckStatus status, Fail why = Fail::none);
  // Acks if not yet acked and forgets the delivery.
  void finish(const std::shared_ptr<Outgoing>& out, proto::AckStatus status, Fail why = Fail::none);
  // A LOOKUP reply to a verification (ReceiptVerifier): sends the receipts it vouches for.
  bool verify_reply(const cluster::LookupReply& reply);
  // No receipt pending any more: retry once after a bounce, else finish.
  void complete(const std::shared_ptr<Outgoing>& out);
  void answer_presence(PendingPresence& p, const std::vector<bool>* online);

  void arm_sweep();
  void sweep();
  void sweep_deadlines(int64_t now);

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  Options opt_;
  // Lookups, presence queries, verifications and invalidation acks go here directly; HELLO,
  // heartbeats and registrations through masters_.
  boost::asio::steady_timer sweep_timer_;
  MasterSet masters_;

  // Local sessions.
  std::unordered_map<std::string, std::vector<std::shared_ptr<LocalSession>>> local_;
  std::atomic<std::size_t> session_count_{0};

  // Routing.
  RouteCache cache_;
  std::unordered_map<std::string, std::string> peer_events_;  // node id -> events address
  PeerOutbox outbox_;                                     // DELIVERs and RECEIPTs waiting for the turn's end, per peer
  std::unordered_map<std::string, LookupState> lookups_;  // user -> lookup in flight
  std::unordered_map<uint64_t, PendingLookup> lookup_seqs_;              // seq -> the lookup
  std::vector<cluster::Lookup> lookup_batch_;                            // wire v2: started this turn, not yet sent
  std::unordered_map<std::string, std::shared_ptr<Outgoing>> inflight_;  // msg id -> delivery
  std::deque<std::pair<int64_t, std::weak_ptr<Outgoing>>> deadlines_;
  // Per recipient user, while it has messages awaiting receipts or held behind a barrier. Every
  // operation on it is O(1) amortised per message (docs/architecture.md, "Cost bounds"):
  //  - `awaiting`: messages handed to peers, in routing order; settled ones popped from the front;
  //  - a route change marks what is in `awaiting` and not yet marked (awaiting[0, marked) is done):
  //    each message is marked at most once, and `barrier` counts the marked ones not yet settled;
  //  - `held`: messages sent since, dispatched in order (kReleaseBatch per strand turn) once
  //    `barrier` reaches zero, so none overtakes an earlier one at a session that appeared meanwhile.
  struct Flow {
    std::deque<std::shared_ptr<Outgoing>> awaiting;
    std::size_t marked = 0;
    std::size_t barrier = 0;
    std::deque<std::shared_ptr<Outgoing>> held;
    bool release_posted = false;
  };
  std::unordered_map<std::string, Flow> flows_;
  // Per peer node, the messages whose receipt from it is awaited (by message sequence number):
  // a node's death touches only these.
  std::unordered_map<std::string, std::unordered_map<uint64_t, std::shared_ptr<Outgoing>>> pending_by_node_;
  // Messages whose node died under them, retried kRetryBatch per strand turn, in send order.
  std::deque<std::shared_ptr<Outgoing>> retry_queue_;
  bool retry_posted_ = false;
  static constexpr std::size_t kReleaseBatch = 512;
  static constexpr std::size_t kRetryBatch = 512;
  static constexpr std::size_t kSweepBatch = 4096;
  // Receipts for a DELIVER whose origin the master has not named to us yet.
  ReceiptVerifier verifier_;
  std::unordered_map<uint64_t, PendingPresence> presence_;
  // STATUS queries of the server API (GET /api/info), by seq; at most kMaxPendingStatus.
  struct PendingStatus {
    std::function<void(std::optional<std::string>)> done;
    int64_t deadline_ms = 0;
  };
  std::unordered_map<uint64_t, PendingStatus> status_;
  static constexpr std::size_t kMaxPendingStatus = 64;
  DeliveredIds delivered_ids_{opt_.dedup_window};  // dedup of DELIVERs: ids delivered here lately
  // Rooms: memberships, room routes, publishes (after the pieces it shares: master session,
  // outbox, verifier, peer addresses).
  RoomRouter rooms_;
  uint64_t msg_counter_ = 0;

  bool draining_ = false;
  std::function<void()> drain_done_;
  bool stopped_ = false;

  // Metrics: plain counters (this strand only), read by sample(); histograms observed here.
  struct Counters {
    uint64_t messages_accepted = 0;
    uint64_t messages_local = 0;  // (remote ones: outbox_.delivered_items())
    uint64_t bounces = 0;
    uint64_t lookups = 0;
    uint64_t lookup_timeouts = 0;
    uint64_t errors_internal = 0;
    std::array<uint64_t, NodeSample::kReceivedCount> received{};
    std::array<uint64_t, kAckStatusCount> acks{};
    std::array<uint64_t, NodeSample::kBoundCount> bound_hits{};
  };
  Counters counters_;
  std::shared_ptr<NodeMetrics> metrics_;
  prometheus::Histogram& lookup_latency_;
  prometheus::Histogram& delivery_latency_local_;
  prometheus::Histogram& delivery_latency_remote_;
  logging::Throttle bound_warning_{std::chrono::seconds(10)};
};

}  // namespace wsg
