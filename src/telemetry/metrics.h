// Prometheus metrics of both roles (prometheus-cpp core: a Registry and the TextSerializer; its
// civetweb Exposer is not used). No I/O: the HTTP side is in src/net (the node's HttpSession, the
// master's MetricsServer) and the owners of the numbers hand them over as a sample.
//
// Cost on the message path: almost nothing is counted through prometheus-cpp. Counters live where
// they are incremented (plain integers on the router strand, relaxed atomics where several threads
// write) and are copied into the registry's counters at scrape time (render()), so a message pays
// no label look-up and no extra atomic read-modify-write. Only the two latency histograms are
// observed per message, through references obtained once, on the router strand: their mutex is
// uncontended except during a scrape.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proto/client_protocol.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace wsg {

// The exposition's Content-Type (Prometheus text format 0.0.4).
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Why a node's WebSocket session ended (wsg_sessions_closed_total{reason}).
enum class CloseReason : std::size_t {
  client,     // the client sent a close frame
  lost,       // the TCP connection ended without a close frame (EOF, reset)
  timeout,    // idle timeout: the client stopped answering pings
  drain,      // node shutdown (1001)
  slow,       // send queue full (1008 slow)
  rate,       // far over the rate limit (1008 rate)
  binary,     // a binary frame (1003)
  too_large,  // a frame over limits.max_message_bytes (1009)
  error,      // anything else (a socket error, a failed handshake write)
  api,        // closed by the server API (POST /api/disconnect, 4000..4999)
};
inline constexpr std::size_t kCloseReasonCount = 10;
const char* to_string(CloseReason reason);

inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(proto::ErrorCode::room_full) + 1;
inline constexpr std::size_t kAckStatusCount = static_cast<std::size_t>(proto::AckStatus::failed) + 1;

// Everything a node's /metrics shows, gathered at scrape time. The router part is filled on the
// router strand (Router::sample); the rest from atomics, on the scraping thread.
struct NodeSample {
  // --- router strand
  bool ready = false;
  uint64_t sessions = 0;
  uint64_t users = 0;
  uint64_t send_queue_bytes = 0;
  uint64_t cache_entries = 0;
  uint64_t deliveries_in_flight = 0;
  uint64_t lookups_in_flight = 0;
  uint64_t messages_accepted = 0;
  uint64_t messages_local = 0;    // written to this node's sessions of the recipient (once per message)
  uint64_t messages_remote = 0;   // a DELIVER pushed to a peer node (once per node)
  uint64_t messages_bounced = 0;  // a peer answered not_here
  enum Received : std::size_t { received_delivered, received_not_here, received_duplicate, kReceivedCount };
  std::array<uint64_t, kReceivedCount> deliveries_received{};  // DELIVER items from peers, by outcome
  std::array<uint64_t, kAckStatusCount> acks{};                // by proto::AckStatus
  enum Bound : std::size_t {
    bound_in_flight,
    bound_lookup_queue,
    bound_lookups,
    bound_unverified_receipts,
    kBoundCount
  };
  std::array<uint64_t, kBoundCount> bound_hits{};
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_evictions = 0;    // capacity
  uint64_t cache_expirations = 0;  // TTL
  uint64_t cache_invalidations = 0;
  uint64_t lookups = 0;  // LOOKUPs sent to the master
  uint64_t lookup_timeouts = 0;
  // Several masters (MasterSet): how many are listed and reachable; reads asked again of another
  // master because the first did not answer in time (hedge) or answered "nobody" (confirm).
  uint64_t masters = 1;
  uint64_t masters_reachable = 0;
  uint64_t master_reads_hedged = 0;
  uint64_t master_reads_confirmed = 0;
  // Rooms (RoomRouter::Stats)
  uint64_t rooms = 0;         // rooms with a member on this node
  uint64_t room_members = 0;  // (session, room) memberships on this node
  uint64_t room_publishes = 0;
  uint64_t room_deliveries_local = 0;   // frames to members here, published here
  uint64_t room_deliveries_remote = 0;  // frames to members here, published on other nodes
  uint64_t room_events_sent = 0;        // ROOM_DELIVER items to other nodes (one per publish and node)
  uint64_t room_not_here = 0;           // items for rooms with no member here any more
  uint64_t room_lookups = 0;            // ROOM_LOOKUPs sent to the master
  uint64_t room_lookup_timeouts = 0;
  uint64_t room_publishes_in_flight = 0;
  uint64_t room_fanout_dropped = 0;  // frames refused at a full session-thread mailbox
  // --- router strand and sessions (added up)
  std::array<uint64_t, kErrorCodeCount> errors{};  // error frames sent, by proto::ErrorCode
  // --- sessions (atomics in SessionContext)
  int64_t connections = 0;
  uint64_t sessions_opened = 0;
  std::array<uint64_t, kCloseReasonCount> sessions_closed{};
  // --- ZmqLinks (atomics in ZmqLinkStats)
  uint64_t zmq_queue_drops = 0;
  uint64_t zmq_hwm_drops = 0;
  uint64_t zmq_send_failures = 0;  // sends the socket refused for another reason than its high-water mark
  uint64_t zmq_peer_evictions = 0;
  uint64_t cluster_malformed = 0;
};

class NodeMetrics {
 public:
  NodeMetrics();
  ~NodeMetrics();
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  // Observed on the router strand, per answered lookup / per message acked `delivered`.
  prometheus::Histogram& lookup_latency() { return *lookup_latency_; }
  prometheus::Histogram& delivery_latency_local() { return *delivery_local_; }
  prometheus::Histogram& delivery_latency_remote() { return *delivery_remote_; }

  // Copies `sample` into the registry and returns the exposition. Thread-safe (one scrape at a
  // time; the histograms may be observed meanwhile). Counters never go down: a smaller value
  // than the last one rendered leaves them as they are.
  std::string render(const NodeSample& sample);

  prometheus::Registry& registry() { return *registry_; }

 private:
  struct Instruments;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Instruments> m_;
  prometheus::Histogram* lookup_latency_ = nullptr;
  prometheus::Histogram* delivery_local_ = nullptr;
  prometheus::Histogram* delivery_remote_ = nullptr;
  std::mutex mutex_;
};

// The master's request types (wsg_master_requests_total{type}).
enum class MasterRequest : std::size_t {
  hello,
  register_sessions,
  unregister_sessions,
  lookup,
  heartbeat,
  presence,
  status,
  invalidate_ack,
  leave,
  lookup_batch,   // v2: one per LOOKUP_BATCH message (its lookups count in wsg_master_lookups_total)
  room_register,  // v3 (rooms)
  room_unregister,
  room_lookup,
  room_invalidate_ack,
  node_query,  // v4 (a DELIVER's origin verified for a server API call)
};
inline constexpr std::size_t kMasterRequestCount = 15;
const char* to_string(MasterRequest type);

// What the master's loop publishes for its metrics endpoint (a copy under a mutex, see Master).
struct MasterSample {
  int64_t published_ms = 0;  // steady clock, when the loop published this
  bool running = false;      // the loop is running (false before it starts and once it stops)
  uint64_t epoch = 0;
  uint64_t nodes_alive = 0;
  uint64_t nodes_dead = 0;
  uint64_t sessions = 0;
  uint64_t users = 0;
  std::array<uint64_t, kMasterRequestCount> requests{};
  uint64_t lookups_online = 0;  // the user had sessions
  uint64_t lookups_offline = 0;
  uint64_t invalidations_sent = 0;
  uint64_t invalidation_wait_timeouts = 0;  // registrations acked before every watcher confirmed
  uint64_t hello_refused = 0;               // duplicate node ids
  uint64_t node_deaths_timeout = 0;
  uint64_t node_deaths_left = 0;
  uint64_t refused_connections = 0;  // CURVE handshakes refused (ZAP, mechanism mismatch)
  uint64_t malformed = 0;
  uint64_t rooms = 0;                    // rooms with members on at least one alive node
  uint64_t room_memberships = 0;         // (room, node) pairs
  uint64_t room_invalidations_sent = 0;  // ROOM_INVALIDATE messages
  // Replies (and INVALIDATE, NODE_DOWN) the ROUTER refused: its high-water mark, or another error.
  uint64_t replies_dropped_hwm = 0;
  uint64_t replies_dropped_failed = 0;
};

class MasterMetrics {
 public:
  MasterMetrics();
  ~MasterMetrics();
  MasterMetrics(const MasterMetrics&) = delete;
  MasterMetrics& operator=(const MasterMetrics&) = delete;

  // As NodeMetrics::render.
  std::string render(const MasterSample& sample);

  prometheus::Registry& registry() { return *registry_; }

 private:
  struct Instruments;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Instruments> m_;
  std::mutex mutex_;
};

// The master's /healthz: 200 {"status":"ok",...} while its loop runs and published within
// `stall_ms` of `now_ms`, else 503 with status "stalled" or "stopped".
struct Health {
  int status = 200;
  std::string body;  // JSON, one line
};
Health master_health(const MasterSample& sample, int64_t now_ms, int64_t stall_ms = 2000);

}  // namespace wsg
