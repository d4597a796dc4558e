// Router: the node's routing state machine, on its own strand. It owns the local session
// registry (user -> sessions on this node), the route cache, the peers' addresses, pending
// lookups, in-flight deliveries and the node's registration at the master. Sessions and ZmqLinks
// (on the same io_context) only post to it; nothing here blocks (the only lock is the latency histograms'
// mutex, uncontended except while /metrics renders them).
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
#include "client_protocol.h"
#include "cluster_codec.h"
#include "logging.h"
#include "metrics.h"
#include "net/master_link.h"
#include "net/peer_link.h"
#include "roles/local_session.h"

namespace wsg {

class Router : public std::enable_shared_from_this<Router> {
 public:
  struct Options {
    std::string node_id;
    uint64_t incarnation = 0;
    std::string ws_url;
    std::string events;               // advertised PULL address
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
    int64_t dedup_ms = 0;                       // 0 = 2 x delivery_timeout_ms + 1 s
    // Outbox coalescing: a peer batch goes out at once when the previous flush is at least this
    // old, else at previous flush + this (so under load each wake-up of libzmq's I/O threads and
    // of the peer carries many messages; an isolated message is never delayed). 0 = never wait.
    std::chrono::microseconds outbox_coalesce{200};
    // Where the latency histograms are observed (on the router strand). Null: a private one.
    std::shared_ptr<NodeMetrics> metrics;
  };

  // Called once, on the router strand, when the master refuses this node (duplicate id).
  using FatalHandler = std::function<void(const std::string& reason)>;

  Router(boost::asio::io_context& ioc, Options options, MasterLink& master, PeerLink& peers,
         FatalHandler on_fatal);

  // Sends HELLO and starts the heartbeat and sweep timers.
  void start();
  // Closes every session with 1001 "drain", unregisters them, then calls `done` (on the strand)
  // once no session is left or `timeout_ms` passed.
  void drain(int64_t timeout_ms, std::function<void()> done);
  void stop_timers();

  // --- from sessions (any thread) ---
  // Registers at the master; `on_registered` runs (on the router strand) once the master
  // acknowledged, or once the registration was queued for replay while the master is away.
  void add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered);
  void remove_session(std::shared_ptr<LocalSession> session);
  void send(std::shared_ptr<LocalSession> from, proto::SendFrame frame);
  void presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame);

  // --- metrics (any thread)
  // Fills the router's part of a NodeSample on the router strand and calls `done` there with it
  // (/metrics: the caller renders it on its own thread). Costs one pass over the sessions.
  void sample(std::function<void(NodeSample)> done);

  // --- from ZmqLinks (the router's thread) ---
  void on_master_message(cluster::Message message);
  void on_peer_message(cluster::Message message);
  // A batch read in one turn: one post, handled in order.
  void on_master_messages(std::vector<cluster::Message> batch);
  void on_peer_messages(std::vector<cluster::Message> batch);

  // Readable from any thread.
  bool ready() const { return ready_.load(); }              // accepted by the master, link alive
  std::size_t session_count() const { return session_count_.load(); }

 private:
  struct Outgoing;
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
  struct PendingWelcome {
    std::function<void()> callback;
    int64_t deadline_ms;
  };

  static int64_t steady_ms();
  static int64_t wall_ms();

  void do_add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered);
  void do_remove_session(const std::shared_ptr<LocalSession>& session);
  void do_send(std::shared_ptr<LocalSession> from, proto::SendFrame frame);
  void do_presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame);
  void handle_master(cluster::Message& message);
  void handle_peer(cluster::Message& message);

  // Registration at the master.
  void send_hello();
  void on_hello_reply(const cluster::HelloReply& reply);
  void check_epoch(uint64_t epoch);
  // Any message from the master: after a silence long enough to count as lost, replay.
  void heard_from_master();
  void queue_register(const LocalSession& s);
  void queue_unregister(const LocalSession& s);
  void schedule_flush();
  void flush_registrations();
  void on_ack(const cluster::Ack& ack);
  void replay_sessions();

  // Delivery.
  std::size_t deliver_local(const std::string& user, const std::shared_ptr<const std::string>& frame);
  // Local delivery, then route() — or held behind the user's barrier.
  void dispatch(const std::shared_ptr<Outgoing>& out);
  // The user's route changed (invalidated, bounced, node down, a local session came or went):
  // messages to it still awaiting receipts become a barrier later messages wait behind.
  void route_changed(const std::string& user);
  // Lifts the user's barrier once every message in it is settled; dispatches what it held.
  void release(const std::string& user);
  // Cached route, else a lookup (single-flight per user).
  void route(const std::shared_ptr<Outgoing>& out);
  void route_to(const std::shared_ptr<Outgoing>& out, const std::vector<std::string>& nodes);
  void start_lookup(const std::string& user, std::shared_ptr<Outgoing> out);
  void on_lookup_reply(cluster::LookupReply& reply);
  void on_deliver(const cluster::Deliver& deliver);
  // Per-peer outbox: DELIVER and RECEIPT items queued during this strand turn go out as one
  // ZeroMQ message per peer and kind, flushed by a post at the end of the turn (or at once when a
  // batch reaches kOutboxItems items / kOutboxBytes bytes).
  void queue_deliver(const std::string& node, const std::string& events, const std::shared_ptr<Outgoing>& out);
  void queue_receipt(const std::string& node, const std::string& events, cluster::ReceiptItem item);
  void schedule_outbox_flush();
  void flush_outbox();
  void flush_peer(const std::string& node);
  void remember_delivered(const std::string& msg_id);
  void on_receipt(const cluster::Receipt& receipt);
  void on_node_down(const std::string& node_id);
  // Sends the ack once (if the sender gave an id).
  void ack(const std::shared_ptr<Outgoing>& out, proto::AckStatus status);
  // Acks if not yet acked and forgets the delivery.
  void finish(const std::shared_ptr<Outgoing>& out, proto::AckStatus status);
  // No receipt pending any more: retry once after a bounce, else finish.
  void complete(const std::shared_ptr<Outgoing>& out);
  void answer_presence(PendingPresence& p, const std::vector<bool>* online);

  void arm_heartbeat();
  void arm_sweep();
  void sweep();
  bool master_lost(int64_t now) const;

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  Options opt_;
  MasterLink& master_;
  PeerLink& peers_link_;
  FatalHandler on_fatal_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer sweep_timer_;

  // Master link state.
  uint64_t epoch_ = 0;
  bool hello_ok_ = false;
  int64_t last_master_ms_ = 0;
  int64_t hello_sent_ms_ = 0;
  uint64_t seq_ = 0;
  std::vector<cluster::SessionRef> reg_batch_;
  std::vector<cluster::SessionRef> unreg_batch_;
  bool flush_scheduled_ = false;
  std::unordered_map<uint64_t, std::vector<std::string>> reg_inflight_;  // seq -> session ids
  std::unordered_map<std::string, PendingWelcome> pending_welcome_;     // session id -> welcome

  // Local sessions.
  std::unordered_map<std::string, std::vector<std::shared_ptr<LocalSession>>> local_;
  std::atomic<std::size_t> session_count_{0};

  // Routing.
  RouteCache cache_;
  std::unordered_map<std::string, std::string> peer_events_;  // node id -> events address
  struct PeerOutbox {
    std::string deliver_events;                        // where the DELIVERs go (peer_events_)
    std::vector<cluster::DeliverItem> delivers;
    std::vector<std::shared_ptr<Outgoing>> deliver_outs;  // parallel to `delivers`
    std::size_t deliver_bytes = 0;
    std::string receipt_events;                        // the origin's events address
    std::vector<cluster::ReceiptItem> receipts;
  };
  static constexpr std::size_t kOutboxItems = 512;
  static constexpr std::size_t kOutboxBytes = 256 * 1024;
  std::unordered_map<std::string, PeerOutbox> outbox_;  // node id -> what waits for the turn's end
  bool outbox_flush_scheduled_ = false;
  boost::asio::steady_timer outbox_timer_;
  std::chrono::steady_clock::time_point last_outbox_flush_{};
  std::unordered_map<std::string, LookupState> lookups_;     // user -> lookup in flight
  std::unordered_map<uint64_t, PendingLookup> lookup_seqs_;                   // seq -> the lookup
  std::unordered_map<std::string, std::shared_ptr<Outgoing>> inflight_;        // msg id -> delivery
  std::deque<std::pair<int64_t, std::weak_ptr<Outgoing>>> deadlines_;
  // user -> its messages awaiting receipts, in send order (settled ones pruned from the front).
  std::unordered_map<std::string, std::deque<std::weak_ptr<Outgoing>>> awaiting_;
  struct Barrier {
    std::vector<std::weak_ptr<Outgoing>> earlier;    // in flight when the route changed
    std::vector<std::shared_ptr<Outgoing>> held;     // sent since, waiting for `earlier`
  };
  std::unordered_map<std::string, Barrier> barriers_;
  std::unordered_map<uint64_t, PendingPresence> presence_;
  DeliveredIds delivered_ids_{opt_.dedup_window};  // dedup of DELIVERs: ids delivered here lately
  uint64_t msg_counter_ = 0;

  bool draining_ = false;
  std::function<void()> drain_done_;
  bool stopped_ = false;
  std::atomic<bool> ready_{false};

  // Metrics: plain counters (this strand only), read by sample(); histograms observed here.
  struct Counters {
    uint64_t messages_accepted = 0;
    uint64_t messages_local = 0;
    uint64_t messages_remote = 0;
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
