#include "telemetry/metrics.h"
#include "telemetry/build_info.h"

#include <chrono>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace wsg {

namespace pm = prometheus;

const char* to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::client: return "client";
    case CloseReason::lost: return "lost";
    case CloseReason::timeout: return "timeout";
    case CloseReason::drain: return "drain";
    case CloseReason::slow: return "slow";
    case CloseReason::rate: return "rate";
    case CloseReason::binary: return "binary";
    case CloseReason::too_large: return "too_large";
    case CloseReason::error: return "error";
    case CloseReason::api: return "api";
  }
  return "error";
}

const char* to_string(MasterRequest type) {
  switch (type) {
    case MasterRequest::hello: return "hello";
    case MasterRequest::register_sessions: return "register";
    case MasterRequest::unregister_sessions: return "unregister";
    case MasterRequest::lookup: return "lookup";
    case MasterRequest::heartbeat: return "heartbeat";
    case MasterRequest::presence: return "presence";
    case MasterRequest::status: return "status";
    case MasterRequest::invalidate_ack: return "invalidate_ack";
    case MasterRequest::leave: return "leave";
    case MasterRequest::lookup_batch: return "lookup_batch";
    case MasterRequest::room_register: return "room_register";
    case MasterRequest::room_unregister: return "room_unregister";
    case MasterRequest::room_lookup: return "room_lookup";
    case MasterRequest::room_invalidate_ack: return "room_invalidate_ack";
    case MasterRequest::node_query: return "node_query";
  }
  return "unknown";
}

namespace {

static_assert(kCloseReasonCount == static_cast<std::size_t>(CloseReason::api) + 1);
static_assert(kMasterRequestCount == static_cast<std::size_t>(MasterRequest::node_query) + 1);

// Seconds, from 100 µs (a lookup on loopback) to the default delivery timeout and past it.
const pm::Histogram::BucketBoundaries kLatencyBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};

pm::Family<pm::Counter>& counters(pm::Registry& r, const std::string& name, const std::string& help) {
  return pm::BuildCounter().Name(name).Help(help).Register(r);
}

pm::Family<pm::Gauge>& gauges(pm::Registry& r, const std::string& name, const std::string& help) {
  return pm::BuildGauge().Name(name).Help(help).Register(r);
}

pm::Gauge& gauge(pm::Registry& r, const std::string& name, const std::string& help) {
  return gauges(r, name, help).Add({});
}

pm::Counter& counter(pm::Registry& r, const std::string& name, const std::string& help) {
  return counters(r, name, help).Add({});
}

// A counter kept elsewhere, copied in at scrape time. Counters never go down.
void mirror(pm::Counter* c, uint64_t value) {
  const double delta = static_cast<double>(value) - c->Value();
  if (delta > 0) c->Increment(delta);
}

template <std::size_t N>
void mirror(const std::array<pm::Counter*, N>& c, const std::array<uint64_t, N>& values) {
  for (std::size_t i = 0; i < N; ++i) mirror(c[i], values[i]);
}

void set(pm::Gauge* g, double value) { g->Set(value); }

// Build information and the process start time, common to both roles.
void add_process_metrics(pm::Registry& r, const char* role) {
  const BuildInfo& build = build_info();
  gauges(r, "wsg_build_info",
         "Always 1; labels give the wsg version, the git commit, the build type and the process role.")
      .Add({{"version", build.version}, {"commit", build.commit}, {"build_type", build.build_type}, {"role", role}})
      .Set(1);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  gauge(r, "wsg_start_time_seconds", "Start time of the process, in seconds since the Unix epoch.")
      .Set(std::chrono::duration<double>(now).count());
}

std::string serialize(const pm::Registry& r) { return pm::TextSerializer().Serialize(r.Collect()); }

}  // namespace

// ------------------------------------------------------------------------------------------- node

struct NodeMetrics::Instruments {
  pm::Gauge* ready;
  pm::Gauge* connections;
  pm::Gauge* sessions;
  pm::Gauge* users;
  pm::Gauge* send_queue_bytes;
  pm::Gauge* cache_entries;
  pm::Gauge* deliveries_in_flight;
  pm::Gauge* lookups_in_flight;
  pm::Counter* sessions_opened;
  std::array<pm::Counter*, kCloseReasonCount> sessions_closed;
  pm::Counter* accepted;
  pm::Counter* local;
  pm::Counter* remote;
  pm::Counter* bounced;
  std::array<pm::Counter*, NodeSample::kReceivedCount> received;
  std::array<pm::Counter*, kAckStatusCount> acks;
  std::array<pm::Counter*, NodeSample::kBoundCount> bounds;
  std::array<pm::Counter*, kErrorCodeCount> errors;
  pm::Counter* cache_hits;
  pm::Counter* cache_misses;
  pm::Counter* cache_evicted_capacity;
  pm::Counter* cache_evicted_expired;
  pm::Counter* cache_invalidations;
  pm::Counter* lookups;
  pm::Counter* lookup_timeouts;
  pm::Gauge* masters;
  pm::Gauge* masters_reachable;
  pm::Counter* reads_hedged;
  pm::Counter* reads_confirmed;
  pm::Gauge* rooms;
  pm::Gauge* room_members;
  pm::Gauge* room_publishes_in_flight;
  pm::Counter* room_publishes;
  pm::Counter* room_deliveries_local;
  pm::Counter* room_deliveries_remote;
  pm::Counter* room_events_sent;
  pm::Counter* room_not_here;
  pm::Counter* room_lookups;
  pm::Counter* room_fanout_dropped;
  pm::Counter* room_lookup_timeouts;
  pm::Counter* zmq_queue_full;
  pm::Counter* zmq_hwm;
  pm::Counter* zmq_failed;
  pm::Counter* zmq_peer_evictions;
  pm::Counter* malformed;
};

NodeMetrics::NodeMetrics() : registry_(std::make_shared<pm::Registry>()), m_(std::make_unique<Instruments>()) {
  auto& r = *registry_;
  auto& m = *m_;
  add_process_metrics(r, "node");
  m.ready = &gauge(r, "wsg_ready", "1 while the node serves (registered at the master, not draining): /healthz 200.");
  m.connections = &gauge(r, "wsg_connections", "Open WebSocket connections (counted from the upgrade).");
  m.sessions = &gauge(r, "wsg_sessions", "WebSocket sessions registered with the router.");
  m.users = &gauge(r, "wsg_users", "Distinct users with at least one session on this node.");
  m.send_queue_bytes =
      &gauge(r, "wsg_send_queue_bytes", "Bytes waiting in the sessions' send queues, summed over every session.");
  m.cache_entries = &gauge(r, "wsg_route_cache_entries", "Users in the route cache.");
  m.deliveries_in_flight =
      &gauge(r, "wsg_deliveries_in_flight", "Accepted messages not settled yet (awaiting receipts or a lookup).");
  m.lookups_in_flight = &gauge(r, "wsg_master_lookups_in_flight", "Users being looked up at the master.");

  m.sessions_opened = &counter(r, "wsg_sessions_opened_total", "WebSocket sessions opened (upgrade completed).");
  auto& closed = counters(r, "wsg_sessions_closed_total", "WebSocket sessions closed, by reason.");
  for (std::size_t i = 0; i < kCloseReasonCount; ++i)
    m.sessions_closed[i] = &closed.Add({{"reason", to_string(static_cast<CloseReason>(i))}});

  m.accepted = &counter(r, "wsg_messages_accepted_total", "send frames accepted from this node's clients.");
  auto& messages = counters(r, "wsg_messages_total",
                            "Messages routed by path: local (written to this node's sessions of the recipient, once "
                            "per message), remote (a DELIVER pushed to a peer node, once per node), bounced (a peer "
                            "answered not_here).");
  m.local = &messages.Add({{"path", "local"}});
  m.remote = &messages.Add({{"path", "remote"}});
  m.bounced = &messages.Add({{"path", "bounced"}});
  auto& received = counters(r, "wsg_deliveries_received_total",
                            "Messages delivered to this node by peers, by outcome (the receipt it answered).");
  m.received[NodeSample::received_delivered] = &received.Add({{"result", "delivered"}});
  m.received[NodeSample::received_not_here] = &received.Add({{"result", "not_here"}});
  m.received[NodeSample::received_duplicate] = &received.Add({{"result", "duplicate"}});
  auto& acks = counters(r, "wsg_acks_total",
                        "Outcome of every accepted message, by ack status (counted for sends without an id too).");
  for (std::size_t i = 0; i < kAckStatusCount; ++i)
    m.acks[i] = &acks.Add({{"status", std::string(proto::to_string(static_cast<proto::AckStatus>(i)))}});
  auto& bounds = counters(r, "wsg_bound_hits_total", "Messages acked failed at once because a bound was reached.");
  m.bounds[NodeSample::bound_in_flight] = &bounds.Add({{"bound", "in_flight"}});
  m.bounds[NodeSample::bound_lookup_queue] = &bounds.Add({{"bound", "lookup_queue"}});
  m.bounds[NodeSample::bound_lookups] = &bounds.Add({{"bound", "lookups"}});
  m.bounds[NodeSample::bound_unverified_receipts] = &bounds.Add({{"bound", "unverified_receipts"}});
  auto& errors = counters(r, "wsg_errors_total", "error frames sent to clients, by code.");
  for (std::size_t i = 0; i < kErrorCodeCount; ++i)
    m.errors[i] = &errors.Add({{"code", std::string(proto::to_string(static_cast<proto::ErrorCode>(i)))}});

  m.cache_hits = &counter(r, "wsg_route_cache_hits_total", "Route cache look-ups that found a live entry.");
  m.cache_misses =
      &counter(r, "wsg_route_cache_misses_total", "Route cache look-ups that found none (or an expired one).");
  auto& evictions = counters(r, "wsg_route_cache_evictions_total",
                             "Route cache entries dropped by the cache itself: capacity (LRU) or expired (TTL).");
  m.cache_evicted_capacity = &evictions.Add({{"reason", "capacity"}});
  m.cache_evicted_expired = &evictions.Add({{"reason", "expired"}});
  m.cache_invalidations = &counter(r, "wsg_route_cache_invalidations_total",
                                   "Route cache entries dropped because the route changed (INVALIDATE, not_here, "
                                   "NODE_DOWN, a local session, a master restart).");
  m.lookups = &counter(r, "wsg_master_lookups_total", "LOOKUPs sent to the master.");
  m.rooms = &gauge(r, "wsg_rooms", "Rooms with at least one member on this node.");
  m.room_members = &gauge(r, "wsg_room_members", "Room memberships of this node's sessions.");
  m.room_publishes_in_flight =
      &gauge(r, "wsg_room_publishes_in_flight", "Room publishes of this node awaiting other nodes' receipts.");
  m.room_publishes = &counter(r, "wsg_room_publishes_total", "Room publishes accepted from this node's sessions.");
  auto& room_deliveries = counters(r, "wsg_room_deliveries_total",
                                   "Room frames given to this node's members, by where the publish came from.");
  m.room_deliveries_local = &room_deliveries.Add({{"path", "local"}});
  m.room_deliveries_remote = &room_deliveries.Add({{"path", "remote"}});
  m.room_events_sent =
      &counter(r, "wsg_room_events_sent_total",
               "Room publishes and notices sent to other nodes: one per publish and node with members.");
  m.room_not_here = &counter(r, "wsg_room_events_not_here_total",
                             "Room events received for a room with no member on this node any more.");
  m.room_lookups = &counter(r, "wsg_room_lookups_total", "ROOM_LOOKUPs sent to the master.");
  m.room_fanout_dropped =
      &counter(r, "wsg_room_fanout_dropped_total",
               "Room frames not given to a member because its I/O thread had 1,048,576 frames waiting.");
  m.room_lookup_timeouts = &counter(r, "wsg_room_lookup_timeouts_total",
                                    "ROOM_LOOKUPs the master did not answer within delivery_timeout_ms.");
  m.lookup_timeouts =
      &counter(r, "wsg_master_lookup_timeouts_total", "LOOKUPs the master did not answer within delivery_timeout_ms.");
  m.masters = &gauge(r, "wsg_masters", "Masters listed in cluster.master.");
  m.masters_reachable =
      &gauge(r, "wsg_masters_reachable", "Masters that accepted this node and were heard from lately.");
  auto& again = counters(r, "wsg_master_reads_asked_again_total",
                         "Reads (lookups, presence, room lookups) asked again of another master, by reason: "
                         "hedge (no answer within min(delivery_timeout_ms / 4, 500 ms)), confirm (an answer that "
                         "found nobody, confirmed by a second master).");
  m.reads_hedged = &again.Add({{"reason", "hedge"}});
  m.reads_confirmed = &again.Add({{"reason", "confirm"}});
  lookup_latency_ = &pm::BuildHistogram()
                         .Name("wsg_master_lookup_latency_seconds")
                         .Help("Time from sending a LOOKUP to the master to its answer, in seconds.")
                         .Register(r)
                         .Add({}, kLatencyBuckets);
  auto& delivery = pm::BuildHistogram()
                       .Name("wsg_delivery_latency_seconds")
                       .Help(
                           "Time from accepting a message to its first delivered confirmation, in seconds: local "
                           "(queued to a session here) or remote (a peer's receipt).")
                       .Register(r);
  delivery_local_ = &delivery.Add({{"path", "local"}}, kLatencyBuckets);
  delivery_remote_ = &delivery.Add({{"path", "remote"}}, kLatencyBuckets);

  auto& drops = counters(r, "wsg_zmq_dropped_total",
                         "Cluster messages dropped on the way out: queue_full (sends posted to the router's thread "
                         "from another, over 65,536) "
                         "or hwm (ZeroMQ high-water mark, or an unreachable peer address), "
                         "or failed (the socket refused the send for another reason).");
  m.zmq_queue_full = &drops.Add({{"reason", "queue_full"}});
  m.zmq_hwm = &drops.Add({{"reason", "hwm"}});
  m.zmq_failed = &drops.Add({{"reason", "failed"}});
  m.zmq_peer_evictions = &counter(r, "wsg_zmq_peer_evictions_total",
                                  "Peer PUSH sockets closed because the bound on open peer sockets was reached.");
  m.malformed = &counter(r, "wsg_cluster_malformed_messages_total", "Inbound cluster messages that failed to decode.");
}

NodeMetrics::~NodeMetrics() = default;

std::string NodeMetrics::render(const NodeSample& s) {
  std::lock_guard lock(mutex_);
  auto& m = *m_;
  set(m.ready, s.ready ? 1 : 0);
  set(m.connections, static_cast<double>(s.connections));
  set(m.sessions, static_cast<double>(s.sessions));
  set(m.users, static_cast<double>(s.users));
  set(m.send_queue_bytes, static_cast<double>(s.send_queue_bytes));
  set(m.cache_entries, static_cast<double>(s.cache_entries));
  set(m.deliveries_in_flight, static_cast<double>(s.deliveries_in_flight));
  set(m.lookups_in_flight, static_cast<double>(s.lookups_in_flight));
  mirror(m.sessions_opened, s.sessions_opened);
  mirror(m.sessions_closed, s.sessions_closed);
  mirror(m.accepted, s.messages_accepted);
  mirror(m.local, s.messages_local);
  mirror(m.remote, s.messages_remote);
  mirror(m.bounced, s.messages_bounced);
  mirror(m.received, s.deliveries_received);
  mirror(m.acks, s.acks);
  mirror(m.bounds, s.bound_hits);
  mirror(m.errors, s.errors);
  mirror(m.cache_hits, s.cache_hits);
  mirror(m.cache_misses, s.cache_misses);
  mirror(m.cache_evicted_capacity, s.cache_evictions);
  mirror(m.cache_evicted_expired, s.cache_expirations);
  mirror(m.cache_invalidations, s.cache_invalidations);
  mirror(m.lookups, s.lookups);
  mirror(m.lookup_timeouts, s.lookup_timeouts);
  set(m.masters, static_cast<double>(s.masters));
  set(m.masters_reachable, static_cast<double>(s.masters_reachable));
  mirror(m.reads_hedged, s.master_reads_hedged);
  mirror(m.reads_confirmed, s.master_reads_confirmed);
  set(m.rooms, static_cast<double>(s.rooms));
  set(m.room_members, static_cast<double>(s.room_members));
  set(m.room_publishes_in_flight, static_cast<double>(s.room_publishes_in_flight));
  mirror(m.room_publishes, s.room_publishes);
  mirror(m.room_deliveries_local, s.room_deliveries_local);
  mirror(m.room_deliveries_remote, s.room_deliveries_remote);
  mirror(m.room_events_sent, s.room_events_sent);
  mirror(m.room_not_here, s.room_not_here);
  mirror(m.room_lookups, s.room_lookups);
  mirror(m.room_fanout_dropped, s.room_fanout_dropped);
  mirror(m.room_lookup_timeouts, s.room_lookup_timeouts);
  mirror(m.zmq_queue_full, s.zmq_queue_drops);
  mirror(m.zmq_hwm, s.zmq_hwm_drops);
  mirror(m.zmq_failed, s.zmq_send_failures);
  mirror(m.zmq_peer_evictions, s.zmq_peer_evictions);
  mirror(m.malformed, s.cluster_malformed);
  return serialize(*registry_);
}

// ----------------------------------------------------------------------------------------- master

struct MasterMetrics::Instruments {
  pm::Gauge* nodes_alive;
  pm::Gauge* nodes_dead;
  pm::Gauge* sessions;
  pm::Gauge* users;
  std::array<pm::Counter*, kMasterRequestCount> requests;
  pm::Counter* lookups_online;
  pm::Counter* lookups_offline;
  pm::Counter* invalidations_sent;
  pm::Counter* invalidation_wait_timeouts;
  pm::Counter* hello_refused;
  pm::Counter* deaths_timeout;
  pm::Counter* deaths_left;
  pm::Counter* refused_connections;
  pm::Counter* malformed;
  pm::Counter* replies_dropped_hwm;
  pm::Counter* replies_dropped_failed;
  pm::Gauge* rooms;
  pm::Gauge* room_memberships;
  pm::Counter* room_invalidations_sent;
};

MasterMetrics::MasterMetrics() : registry_(std::make_shared<pm::Registry>()), m_(std::make_unique<Instruments>()) {
  auto& r = *registry_;
  auto& m = *m_;
  add_process_metrics(r, "master");
  auto& nodes = gauges(r, "wsg_master_nodes", "Nodes the master knows, by state (dead ones until they come back).");
  m.nodes_alive = &nodes.Add({{"state", "alive"}});
  m.nodes_dead = &nodes.Add({{"state", "dead"}});
  m.sessions = &gauge(r, "wsg_master_sessions", "Sessions in the directory, on alive nodes.");
  m.users = &gauge(r, "wsg_master_users", "Users with at least one session in the directory.");
  m.rooms = &gauge(r, "wsg_master_rooms", "Rooms with members on at least one node.");
  m.room_memberships =
      &gauge(r, "wsg_master_room_nodes", "Room memberships of nodes: (room, node) pairs, summed over the rooms.");
  m.room_invalidations_sent =
      &counter(r, "wsg_master_room_invalidations_sent_total", "ROOM_INVALIDATE messages sent to nodes.");
  auto& requests = counters(r, "wsg_master_requests_total", "Requests the master handled, by type.");
  for (std::size_t i = 0; i < kMasterRequestCount; ++i)
    m.requests[i] = &requests.Add({{"type", to_string(static_cast<MasterRequest>(i))}});
  auto& lookups = counters(r, "wsg_master_lookups_total",
                           "LOOKUPs answered, by result: online (the user has "
                           "sessions) or offline.");
  m.lookups_online = &lookups.Add({{"result", "online"}});
  m.lookups_offline = &lookups.Add({{"result", "offline"}});
  m.invalidations_sent = &counter(r, "wsg_master_invalidations_sent_total", "INVALIDATE messages sent to nodes.");
  m.invalidation_wait_timeouts =
      &counter(r, "wsg_master_invalidation_wait_timeouts_total",
               "Registrations acked after the 50 ms wait without every INVALIDATE confirmed.");
  m.hello_refused =
      &counter(r, "wsg_master_hello_refused_total", "HELLOs refused: the node id belongs to a live node.");
  auto& deaths = counters(r, "wsg_master_node_deaths_total",
                          "Nodes declared dead: timeout (no message for master.node_timeout_ms) or left (drained).");
  m.deaths_timeout = &deaths.Add({{"reason", "timeout"}});
  m.deaths_left = &deaths.Add({{"reason", "left"}});
  m.refused_connections = &counter(r, "wsg_master_refused_connections_total",
                                   "Cluster connections refused at the CURVE handshake (another key, or none).");
  m.malformed = &counter(r, "wsg_master_malformed_messages_total",
                         "Messages dropped: undecodable, or of a type the master does not accept.");
  auto& replies_dropped = counters(r, "wsg_master_replies_dropped_total",
                                   "Messages to nodes the ROUTER refused to send: hwm (ZeroMQ high-water mark) or "
                                   "failed (another socket error).");
  m.replies_dropped_hwm = &replies_dropped.Add({{"reason", "hwm"}});
  m.replies_dropped_failed = &replies_dropped.Add({{"reason", "failed"}});
}

MasterMetrics::~MasterMetrics() = default;

std::string MasterMetrics::render(const MasterSample& s) {
  std::lock_guard lock(mutex_);
  auto& m = *m_;
  set(m.nodes_alive, static_cast<double>(s.nodes_alive));
  set(m.nodes_dead, static_cast<double>(s.nodes_dead));
  set(m.sessions, static_cast<double>(s.sessions));
  set(m.users, static_cast<double>(s.users));
  set(m.rooms, static_cast<double>(s.rooms));
  set(m.room_memberships, static_cast<double>(s.room_memberships));
  mirror(m.room_invalidations_sent, s.room_invalidations_sent);
  mirror(m.requests, s.requests);
  mirror(m.lookups_online, s.lookups_online);
  mirror(m.lookups_offline, s.lookups_offline);
  mirror(m.invalidations_sent, s.invalidations_sent);
  mirror(m.invalidation_wait_timeouts, s.invalidation_wait_timeouts);
  mirror(m.hello_refused, s.hello_refused);
  mirror(m.deaths_timeout, s.node_deaths_timeout);
  mirror(m.deaths_left, s.node_deaths_left);
  mirror(m.refused_connections, s.refused_connections);
  mirror(m.malformed, s.malformed);
  mirror(m.replies_dropped_hwm, s.replies_dropped_hwm);
  mirror(m.replies_dropped_failed, s.replies_dropped_failed);
  return serialize(*registry_);
}

Health master_health(const MasterSample& s, int64_t now_ms, int64_t stall_ms) {
  Health h;
  const char* status = "ok";
  if (!s.running) {
    status = "stopped";
  } else if (now_ms - s.published_ms > stall_ms) {
    status = "stalled";
  }
  h.status = std::string_view(status) == "ok" ? 200 : 503;
  h.body = std::string("{\"status\":\"") + status + "\",\"role\":\"master\",\"epoch\":" + std::to_string(s.epoch) +
           ",\"nodes_alive\":" + std::to_string(s.nodes_alive) + ",\"sessions\":" + std::to_string(s.sessions) +
           ",\"users\":" + std::to_string(s.users) +
           // Both are of [A-Za-z0-9._+-] (cmake/Version.cmake): no JSON escaping needed.
           ",\"version\":\"" + build_info().version + "\",\"commit\":\"" + build_info().commit + "\"}\n";
  return h;
}

}  // namespace wsg
