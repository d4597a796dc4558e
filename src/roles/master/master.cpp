#include "roles/master/master.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/json.hpp>
#include <zmq.hpp>

#include "cache/directory.h"
#include "cache/room_directory.h"
#include "config/config_secrets.h"
#include "config/curve.h"
#include "net/curve_zmq.h"
#include "net/listen_address.h"
#include "net/metrics_server.h"
#include "net/webhook_sender.h"
#include "net/zmq_socket.h"
#include "proto/cluster_codec.h"
#include "telemetry/logging.h"
#include "telemetry/metrics.h"

namespace wsg {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The master: one thread owns the ROUTER socket and the Directory. The only thing shared is the
// metrics sample it publishes (under a mutex) for the metrics.listen thread.
class Master {
 public:
  explicit Master(const Config& config)
      : cfg_(config), log_(logging::get("master")), router_(ctx_, zmq::socket_type::router) {
    std::random_device rd;
    // 53 bits: the epoch stays exact as a JSON number in every client.
    epoch_ = ((static_cast<uint64_t>(rd()) << 32) ^ rd()) & ((uint64_t{1} << 53) - 1);
    if (epoch_ == 0) epoch_ = 1;
  }

  int run() {
    // Throws ConfigError (exit 2) for a bad or unreadable key.
    const auto keys = curve::cluster_keys(cfg_.cluster);
    start_webhooks();  // throws ConfigError (exit 2) for a missing or unreadable secret
    try {
      if (keys) {
        // The ZAP handler exists before the ROUTER accepts anyone.
        zap_ = std::make_unique<curve::ZapHandler>(ctx_, *keys);
        curve::make_server(router_, *keys);
      }
      router_.set(zmq::sockopt::linger, 0);
      router_.set(zmq::sockopt::sndhwm, 100000);
      router_.set(zmq::sockopt::rcvhwm, 100000);
      router_.set(zmq::sockopt::router_mandatory, false);
      // Bounded before anyone connects: a frame declaring more than any node sends is refused by
      // libzmq before it allocates (with or without CURVE: handshake frames too), and a
      // connection that does not finish its handshake in time is closed (docs/security.md).
      router_.set(zmq::sockopt::maxmsgsize, cluster::kMaxToMasterBytes);
      router_.set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
      monitor_ = std::make_unique<curve::HandshakeMonitor>(ctx_, router_, "router");
      router_.bind(cfg_.master.bind);
    } catch (const zmq::error_t& e) {
      log_->error("cannot bind {}: {}", cfg_.master.bind, e.what());
      return 1;
    }
    log_->info("master listening on {} (epoch {:x})", cfg_.master.bind, epoch_);
    recovery_until_ms_ = steady_ms() + recovery_window_ms(cfg_.master.node_timeout_ms);
    if (keys) {
      log_->info(
          "cluster links use ZeroMQ CURVE: only holders of the cluster secret key get in (key from {}; "
          "cluster public key {})",
          keys->source, keys->public_key);
    } else if (zmq_endpoint_loopback(cfg_.master.bind)) {
      log_->warn(
          "cluster links are not encrypted or authenticated (no cluster.curve_secret_key; see "
          "`wsg keygen`): keep {} on a private network",
          cfg_.master.bind);
    } else {
      // On every start (docs/operations.md, "Start-up warnings"): what the network can do here.
      log_->warn(
          "cluster links are not encrypted or authenticated (no cluster.curve_secret_key; see `wsg keygen`) and "
          "master.bind {} is not on loopback: anyone on that network can join the cluster as a node, take over "
          "any user's messages, read the directory and inject messages as any user",
          cfg_.master.bind);
    }
    publish(steady_ms(), true);
    if (!cfg_.metrics.listen.empty()) {
      try {
        metrics_server_ = std::make_unique<MetricsServer>(
            cfg_.metrics.listen, [this](std::string_view path) { return serve_metrics(path); });
      } catch (const ConfigError&) {
        throw;  // a bad metrics.listen value: exit 2 naming the key, like every configuration error
      } catch (const std::exception& e) {
        log_->error("{}", e.what());
        return 1;
      }
      metrics_server_->start();
      log_->info("serving /metrics and /healthz on {} (port {})", cfg_.metrics.listen, metrics_server_->port());
    }
    zmq_pollitem_t items[3] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {zap_ ? zap_->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    const int item_count = zap_ ? 3 : 2;
    int64_t next_expiry = steady_ms() + 100;
    while (!g_stop.load()) {
      int rc = zmq_poll(
          items, item_count,
          pending_acks_.empty() && held_count_ == 0 && held_room_count_ == 0 && pending_room_status_.empty() ? 100 : 5);
      if (rc < 0 && zmq_errno() != EINTR) {
        log_->error("zmq_poll: {}", zmq_strerror(zmq_errno()));
        return 1;
      }
      if (zap_ && (items[2].revents & ZMQ_POLLIN)) answer_zap();
      if (items[1].revents & ZMQ_POLLIN) watch_handshakes();
      if (items[0].revents & ZMQ_POLLIN) receive_batch();
      const int64_t now = steady_ms();
      report_refusals(now);
      flush_pending_acks(now);
      if (!pending_room_status_.empty()) flush_room_status(now);
      if ((held_count_ > 0 || held_room_count_ > 0) && now >= recovery_until_ms_) answer_all_held_lookups();
      if (now >= next_expiry) {
        expire(now);
        next_expiry = now + 100;
      }
      if (now >= next_publish_ms_) publish(now, true);
    }
    log_->info("master stopping");
    publish(steady_ms(), false);
    if (webhooks_) webhooks_->stop(std::chrono::milliseconds(cfg_.webhooks.flush_timeout_ms));
    if (metrics_server_) metrics_server_->stop();
    return 0;
  }

 private:
  // Each message is [routing id, body]: read whole (zsock::recv_multipart keeps at most the two
  // frames used; a longer message is read to its end and dropped as malformed).
  // At most 4,096 units of work per turn, so that expiry, acks and /healthz's view keep their
  // pace: a message is one unit, a LOOKUP_BATCH one per lookup more.
  void receive_batch() {
    std::vector<zmq::message_t> frames;
    for (std::size_t work = 0; work < 4096; ++work) {
      bool truncated = false;
      const auto st = zsock::recv_multipart(router_, frames, 2, &truncated);
      if (st.result == zsock::RecvResult::would_block) return;
      if (!st.received()) {
        // The loop polls again: a broken ROUTER shows as repeated warnings, throttled.
        if (uint64_t held = 0; io_warning_.allow(held))
          log_->warn("recv: {} ({} more socket errors since the last warning)", st.reason(), held);
        return;
      }
      // The routing id ROUTER prepends, then the body: exactly one frame, else malformed.
      if (frames.size() != 2 || truncated) {
        ++bad_;
        continue;
      }
      const zmq::message_t& body = frames[1];
      std::string error;
      auto msg = cluster::decode(std::string_view(body.data<char>(), body.size()), &error);
      if (!msg) {
        ++bad_;
        if (uint64_t held = 0; malformed_warning_.allow(held)) {
          log_->warn("dropped a malformed message: {} ({} more dropped since the last warning)", error, held);
        }
        continue;
      }
      if (const auto* batch = std::get_if<cluster::LookupBatch>(&*msg)) work += batch->lookups.size();
      handle(frames[0].to_string(), *msg);
    }
  }

  void answer_zap() {
    const uint64_t unanswered = zap_->unanswered();
    refused_ += zap_->handle_pending();
    if (zap_->unanswered() == unanswered) return;
    if (uint64_t held = 0; io_warning_.allow(held))
      log_->warn("ZAP handler could not answer: {} ({} more socket errors since the last warning)", zap_->last_error(),
                 held);
  }

  // Failed handshakes on the ROUTER: a node or `wsg status` with another key, or none.
  void watch_handshakes() {
    for (const auto& event : monitor_->read_pending()) {
      if (event.kind == curve::HandshakeMonitor::Kind::succeeded || event.kind == curve::HandshakeMonitor::Kind::other)
        continue;
      log_->debug("{}", curve::RefusalDetector::describe(event));
      // A refusal by the ZAP handler is counted there (with the client's address). A connection
      // lost during its handshake (no detail) is the client's doing, not a refusal.
      if (event.kind == curve::HandshakeMonitor::Kind::failed_protocol) {
        ++refused_;
        last_refusal_ = curve::RefusalDetector::describe(event);
      }
    }
  }

  // Refused clients retry every second or so: one warning per 10 s at most.
  void report_refusals(int64_t now) {
    if (refused_ == reported_refused_ || now < next_refusal_report_ms_) return;
    std::string last = last_refusal_;
    if (zap_ && zap_->refused() > reported_zap_refused_)
      last = "CURVE key of " + zap_->last_refused_address() + " is not the cluster's";
    log_->warn(
        "refused {} cluster connection(s) (a node or `wsg status` with another cluster key, or none?); "
        "last: {}",
        refused_ - reported_refused_, last);
    reported_refused_ = refused_;
    reported_zap_refused_ = zap_ ? zap_->refused() : 0;
    next_refusal_report_ms_ = now + 10000;
  }

  // The metrics.listen thread's view of the master: copied under the mutex at most every 10 ms
  // (and at least every 100 ms, the loop's tick), so it is never more than a tick old.
  void publish(int64_t now, bool running) {
    next_publish_ms_ = now + 10;
    counters_.published_ms = now;
    counters_.running = running;
    counters_.epoch = epoch_;
    counters_.nodes_alive = 0;
    counters_.nodes_dead = 0;
    for (const auto* n : dir_.nodes()) ++(n->alive ? counters_.nodes_alive : counters_.nodes_dead);
    counters_.sessions = dir_.session_count();
    counters_.users = dir_.user_count();
    counters_.rooms = rooms_.room_count();
    counters_.room_memberships = rooms_.membership_count();
    counters_.refused_connections = refused_;
    counters_.malformed = bad_;
    std::lock_guard lock(sample_mutex_);
    sample_ = counters_;
  }

  // On the metrics.listen thread.
  MetricsServer::Response serve_metrics(std::string_view path) {
    MasterSample sample;
    {
      std::lock_guard lock(sample_mutex_);
      sample = sample_;
    }
    if (path == "/metrics") return {200, kMetricsContentType, metrics_.render(sample)};
    if (path == "/healthz") {
      auto health = master_health(sample, steady_ms());
      return {static_cast<unsigned>(health.status), "application/json", std::move(health.body)};
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  void count(MasterRequest type) { ++counters_.requests[static_cast<std::size_t>(type)]; }

  // Never throws: nothing a peer sends may stop the master. encode() refuses a message with a
  // string over its limit or breaking its rule; every string here was decoded (so checked) or
  // configured, so that is a bug, logged and counted as unsendable rather than fatal.
  void reply(const std::string& ident, const cluster::Message& m) {
    reply_within(ident, m, std::numeric_limits<std::size_t>::max());
  }
  // Returns false only when the encoded message is over `max_bytes` (nothing sent: the caller
  // splits it); every other outcome is handled here.
  bool reply_within(const std::string& ident, const cluster::Message& m, std::size_t max_bytes) {
    std::string why;
    const auto bytes = cluster::encode(m, &why);
    if (!bytes) {
      ++unsendable_;
      if (uint64_t held = 0; unsendable_warning_.allow(held))
        log_->error("not sent: {} ({} more not sent since the last warning)", why, held);
      return true;
    }
    if (bytes->size() > max_bytes) return false;
    // ROUTER_MANDATORY is off: a message to an unknown or departed routing id, or over the
    // high-water mark of a node that does not read, is dropped by libzmq without an error. What
    // is refused here (a closing context, in practice) is counted and the message is lost, as a
    // node's request would be in flight: the node retries or times out.
    const auto st = zsock::send_multipart(router_, {ident, *bytes});
    if (st.sent()) return true;
    if (st.result == zsock::SendResult::would_block) {
      ++counters_.replies_dropped_hwm;
    } else {
      ++counters_.replies_dropped_failed;
    }
    if (uint64_t held = 0; io_warning_.allow(held))
      log_->warn("send: {} ({} more socket errors since the last warning)", st.reason(), held);
    return true;
  }

  const std::string* node_of(const std::string& ident) {
    auto it = ident_node_.find(ident);
    if (it == ident_node_.end()) return nullptr;
    if (!dir_.is_alive(it->second)) return nullptr;
    return &it->second;
  }

  void handle(const std::string& ident, cluster::Message& message) {
    const int64_t now = steady_ms();
    if (!timed_out_.empty()) heard_from_timed_out(ident, now);
    std::visit([&](auto& m) { on(ident, m, now); }, message);
  }

  void on(const std::string& ident, cluster::Hello& m, int64_t now) {
    hello(ident, m.node_id, m.incarnation, m.ws_url, m.events, {}, now);
  }
  // v5: a HELLO with the node's public URL (node.public_url).
  void on(const std::string& ident, cluster::HelloPublic& m, int64_t now) {
    hello(ident, m.node_id, m.incarnation, m.ws_url, m.events, m.public_url, now);
  }

  void hello(const std::string& ident, const std::string& node_id, uint64_t incarnation, const std::string& ws_url,
             const std::string& events, const std::string& public_url, int64_t now) {
    count(MasterRequest::hello);
    if (node_id.empty()) return reply(ident, cluster::HelloReply{epoch_, false, "empty node id"});
    auto result = dir_.hello(node_id, incarnation, ws_url, events, now, public_url);
    if (result == Directory::HelloResult::duplicate) {
      ++counters_.hello_refused;
      log_->warn("refused HELLO from a second node with id '{}'", logging::printable(node_id));
      // The id is at most kMaxNodeIdBytes (decode), so the reason stays far below kMaxString.
      return reply(ident,
                   cluster::HelloReply{epoch_, false, "node id '" + node_id + "' is already in use by a live node"});
    }
    // Forget an older routing id of the same node.
    auto old = node_ident_.find(node_id);
    if (old != node_ident_.end() && old->second != ident) ident_node_.erase(old->second);
    node_ident_[node_id] = ident;
    ident_node_[ident] = node_id;
    timed_out_.erase(node_id);  // back (a new process, or HELLO again after its known = false)
    log_->info("node {} joined ({}, events {}{}{})", logging::printable(node_id), logging::printable(ws_url),
               logging::printable(events), public_url.empty() ? "" : ", public URL ", logging::printable(public_url));
    reply(ident, cluster::HelloReply{epoch_, true, {}});
    send_invalidations();
  }

  void on(const std::string& ident, cluster::RegisterSessions& m, int64_t now) {
    count(MasterRequest::register_sessions);
    const std::string* node = node_of(ident);
    if (!node) return reply(ident, cluster::Ack{epoch_, m.seq, false});
    dir_.touch(*node, now);
    for (auto& s : m.sessions) {
      const bool was_online = hook_users_ && dir_.online(s.user);
      if (dir_.register_session(*node, s.user, s.session) && hook_users_ && !was_online)
        user_event(webhook::EventKind::user_online, s.user, *node, s.session, {});
      if (held_count_ > 0) answer_held_lookups(s.user);
    }
    // The node welcomes the session only after the ack, and the ack waits until every node
    // that may have cached the user's old route confirmed the INVALIDATE (or kInvalidateWait
    // passed): a message sent after the welcome cannot take the old route (docs/protocol.md, "Delivery semantics").
    auto waiting = send_invalidations();
    if (waiting.empty()) return reply(ident, cluster::Ack{epoch_, m.seq, true});
    pending_acks_.push_back(PendingAck{ident, m.seq, std::move(waiting), now + kInvalidateWaitMs});
  }

  void on(const std::string& ident, cluster::InvalidateAck& m, int64_t) {
    count(MasterRequest::invalidate_ack);
    confirm(ident, m.user);
  }

  // A node confirmed an invalidation of `key` (a user id, or kRoomKey + a room name): the held
  // registration acks that waited only for it go out.
  void confirm(const std::string& ident, const std::string& key_name) {
    auto it = ident_node_.find(ident);
    if (it == ident_node_.end()) return;
    const std::pair<std::string, std::string> key{it->second, key_name};
    for (auto p = pending_acks_.begin(); p != pending_acks_.end();) {
      p->waiting.erase(key);
      if (p->waiting.empty()) {
        reply(p->ident, cluster::Ack{epoch_, p->seq, true});
        p = pending_acks_.erase(p);
      } else {
        ++p;
      }
    }
  }

  // Registration acks whose watchers did not all confirm in time go out anyway.
  void flush_pending_acks(int64_t now) {
    while (!pending_acks_.empty() && pending_acks_.front().deadline_ms <= now) {
      auto& p = pending_acks_.front();
      ++counters_.invalidation_wait_timeouts;
      log_->debug("registration {} acked without {} invalidation confirmations", p.seq, p.waiting.size());
      reply(p.ident, cluster::Ack{epoch_, p.seq, true});
      pending_acks_.pop_front();
    }
  }

  void on(const std::string& ident, cluster::UnregisterSessions& m, int64_t now) {
    count(MasterRequest::unregister_sessions);
    const std::string* node = node_of(ident);
    if (!node) return reply(ident, cluster::Ack{epoch_, m.seq, false});
    dir_.touch(*node, now);
    for (auto& s : m.sessions) {
      if (dir_.unregister_session(*node, s.user, s.session) && hook_users_ && !dir_.online(s.user))
        user_event(webhook::EventKind::user_offline, s.user, *node, s.session, "closed");
    }
    send_invalidations();
    reply(ident, cluster::Ack{epoch_, m.seq, true});
  }

  void on(const std::string& ident, cluster::Lookup& m, int64_t now) {
    count(MasterRequest::lookup);
    const std::string* node = node_of(ident);
    if (node) dir_.touch(*node, now);
    if (take_lookup(ident, node, m.seq, m.user, now)) answer_lookup(ident, m.seq, m.user);
  }

  // One lookup, alone or in a batch: the asking node becomes a watcher of `user`. False when the
  // answer is held (and given later by answer_held_lookups, as a LOOKUP_REPLY).
  bool take_lookup(const std::string& ident, const std::string* node, uint64_t seq, const std::string& user,
                   int64_t now) {
    if (node) dir_.note_lookup(user, *node);
    if (now < recovery_until_ms_ && held_count_ < kMaxHeldLookups && dir_.nodes_for(user).empty()) {
      // Just started: the nodes are still re-registering their sessions (each learns of the new
      // master from its next heartbeat reply and replays). "Nobody has this user" is not known
      // yet, so the answer waits for the user's registration or the window's end.
      held_lookups_[user].emplace_back(ident, seq);
      ++held_count_;
      return false;
    }
    return true;
  }

  // Wire v2: the lookups of a batch answered in one message, each node named once in its table.
  void on(const std::string& ident, cluster::LookupBatch& m, int64_t now) {
    count(MasterRequest::lookup_batch);
    const std::string* node = node_of(ident);
    if (node) dir_.touch(*node, now);
    cluster::LookupBatchReply r{epoch_, {}, {}};
    r.results.reserve(m.lookups.size());
    std::vector<const Directory::NodeInfo*> table;  // r.nodes[i] is table[i]
    for (auto& l : m.lookups) {
      if (!take_lookup(ident, node, l.seq, l.user, now)) continue;
      auto& result = r.results.emplace_back(cluster::LookupResult{l.seq, std::move(l.user), {}});
      for (const auto* n : dir_.nodes_for(result.user)) {
        auto at = std::find(table.begin(), table.end(), n);
        if (at == table.end()) {
          table.push_back(n);
          r.nodes.push_back(cluster::NodeAddr{n->id, n->events});
          at = table.end() - 1;
        }
        result.nodes.push_back(static_cast<uint32_t>(at - table.begin()));
      }
      ++(result.nodes.empty() ? counters_.lookups_offline : counters_.lookups_online);
    }
    if (r.results.empty() || reply_within(ident, r, cluster::kMaxToNodeBytes)) return;
    // Larger than the node accepts (hundreds of nodes per user): one LOOKUP_REPLY per lookup.
    for (auto& result : r.results) {
      cluster::LookupReply one{epoch_, result.seq, std::move(result.user), {}};
      for (uint32_t i : result.nodes) one.nodes.push_back(r.nodes[i]);
      reply(ident, one);
    }
  }

  void answer_lookup(const std::string& ident, uint64_t seq, const std::string& user) {
    cluster::LookupReply r{epoch_, seq, user, {}};
    for (const auto* n : dir_.nodes_for(user)) r.nodes.push_back(cluster::NodeAddr{n->id, n->events});
    ++(r.nodes.empty() ? counters_.lookups_offline : counters_.lookups_online);
    reply(ident, r);
  }

  // Held lookups of `user`, now that it is registered.
  void answer_held_lookups(const std::string& user) {
    auto it = held_lookups_.find(user);
    if (it == held_lookups_.end()) return;
    for (auto& [ident, seq] : it->second) answer_lookup(ident, seq, user);
    held_count_ -= it->second.size();
    held_lookups_.erase(it);
  }

  // The recovery window is over: whatever is still held is answered as the directory stands.
  void answer_all_held_lookups() {
    for (auto& [user, waiting] : held_lookups_) {
      for (auto& [ident, seq] : waiting) answer_lookup(ident, seq, user);
    }
    held_lookups_.clear();
    held_count_ = 0;
    for (auto& [room, waiting] : held_room_lookups_) {
      for (auto& [ident, seq] : waiting) answer_room_lookup(ident, seq, room);
    }
    held_room_lookups_.clear();
    held_room_count_ = 0;
  }

  void on(const std::string& ident, cluster::Heartbeat& m, int64_t now) {
    count(MasterRequest::heartbeat);
    const std::string* node = node_of(ident);
    const bool known = node && *node == m.node_id && dir_.touch(*node, now);
    reply(ident, cluster::HeartbeatReply{epoch_, known});
  }

  void on(const std::string& ident, cluster::PresenceQuery& m, int64_t now) {
    count(MasterRequest::presence);
    if (const std::string* node = node_of(ident)) dir_.touch(*node, now);
    cluster::PresenceReply r{epoch_, m.seq, {}};
    r.online.reserve(m.users.size());
    for (auto& u : m.users) r.online.push_back(dir_.online(u));
    reply(ident, r);
  }

  void on(const std::string& ident, cluster::StatusQuery& m, int64_t now) {
    count(MasterRequest::status);
    namespace json = boost::json;
    json::object doc;
    if (!m.user.empty()) {
      doc["user"] = m.user;
      json::array sessions;
      for (auto& [node, session] : dir_.sessions_of(m.user)) {
        sessions.push_back(json::object{{"node", node}, {"session", session}});
      }
      doc["sessions"] = std::move(sessions);
    } else {
      doc["master"] = json::object{{"epoch", epoch_},
                                   {"bind", cfg_.master.bind},
                                   {"sessions", dir_.session_count()},
                                   {"users", dir_.user_count()},
                                   {"rooms", rooms_.room_count()},
                                   {"node_timeout_ms", cfg_.master.node_timeout_ms}};
      json::array nodes;
      for (const auto* n : dir_.nodes()) {
        nodes.push_back(json::object{{"id", n->id},
                                     {"ws", n->ws_url},
                                     {"public_url", n->public_url},
                                     {"events", n->events},
                                     {"alive", n->alive},
                                     {"sessions", n->sessions},
                                     {"last_heartbeat_ms", now - n->last_heartbeat_ms}});
      }
      doc["nodes"] = std::move(nodes);
    }
    reply(ident, cluster::StatusReply{epoch_, m.seq, json::serialize(doc)});
  }

  // v4: a node verifying a DELIVER's origin whose sender is no registered user (a server API call).
  void on(const std::string& ident, cluster::NodeQuery& m, int64_t now) {
    count(MasterRequest::node_query);
    if (const std::string* node = node_of(ident)) dir_.touch(*node, now);
    cluster::NodeQueryReply r{epoch_, m.seq, {}};
    if (const auto* info = dir_.node(m.node_id); info && info->alive) r.nodes.push_back({info->id, info->events});
    reply(ident, r);
  }

  void on(const std::string& ident, cluster::Leave& m, int64_t) {
    count(MasterRequest::leave);
    const std::string* node = node_of(ident);
    const auto* info = dir_.node(m.node_id);
    if (!node || *node != m.node_id || !info || info->incarnation != m.incarnation) return;
    ++counters_.node_deaths_left;
    log_->info("node {} left (drained)", m.node_id);
    const auto users = hook_users_ ? dir_.users_on(m.node_id) : std::vector<std::string>{};
    dir_.mark_dead(m.node_id);
    users_gone(users, m.node_id);
    drop_rooms(m.node_id);
    announce_down(m.node_id);
    send_invalidations();
  }

  // ---- rooms (wire v3): per room, the nodes with members (RoomDirectory)

  void on(const std::string& ident, cluster::RoomRegister& m, int64_t now) {
    count(MasterRequest::room_register);
    const std::string* node = node_of(ident);
    if (!node) return reply(ident, cluster::Ack{epoch_, m.seq, false});
    dir_.touch(*node, now);
    for (auto& room : m.rooms) {
      const bool was_occupied = hook_rooms_ && rooms_.occupied(room);
      if (rooms_.add(room, *node) && hook_rooms_ && !was_occupied)
        room_event(webhook::EventKind::room_occupied, room, *node, {});
      if (held_room_count_ > 0) answer_held_room_lookups(room);
    }
    // As for sessions: acked once every node that may have cached the room's old route dropped it,
    // so a publish sent after the member's `joined` reaches it.
    auto waiting = send_invalidations();
    if (waiting.empty()) return reply(ident, cluster::Ack{epoch_, m.seq, true});
    pending_acks_.push_back(PendingAck{ident, m.seq, std::move(waiting), now + kInvalidateWaitMs});
  }

  void on(const std::string& ident, cluster::RoomUnregister& m, int64_t now) {
    count(MasterRequest::room_unregister);
    const std::string* node = node_of(ident);
    if (!node) return reply(ident, cluster::Ack{epoch_, m.seq, false});
    dir_.touch(*node, now);
    for (auto& room : m.rooms) {
      if (rooms_.remove(room, *node) && hook_rooms_ && !rooms_.occupied(room))
        room_event(webhook::EventKind::room_vacated, room, *node, "left");
    }
    send_invalidations();
    reply(ident, cluster::Ack{epoch_, m.seq, true});
  }

  void on(const std::string& ident, cluster::RoomLookup& m, int64_t now) {
    count(MasterRequest::room_lookup);
    const std::string* node = node_of(ident);
    if (node) {
      dir_.touch(*node, now);
      rooms_.note_lookup(m.room, *node);
    }
    if (now < recovery_until_ms_ && held_room_count_ < kMaxHeldLookups && rooms_.nodes_for(m.room).empty()) {
      // Just started: the nodes are still replaying their rooms (see take_lookup).
      held_room_lookups_[m.room].emplace_back(ident, m.seq);
      ++held_room_count_;
      return;
    }
    answer_room_lookup(ident, m.seq, m.room);
  }

  void answer_room_lookup(const std::string& ident, uint64_t seq, const std::string& room) {
    cluster::RoomLookupReply r{epoch_, seq, room, {}};
    for (const auto& id : rooms_.nodes_for(room)) {
      const auto* n = dir_.node(id);
      if (n && n->alive) r.nodes.push_back(cluster::NodeAddr{n->id, n->events});
    }
    reply(ident, r);
  }

  void answer_held_room_lookups(const std::string& room) {
    auto it = held_room_lookups_.find(room);
    if (it == held_room_lookups_.end()) return;
    for (auto& [ident, seq] : it->second) answer_room_lookup(ident, seq, room);
    held_room_count_ -= it->second.size();
    held_room_lookups_.erase(it);
  }

  void on(const std::string& ident, cluster::RoomInvalidateAck& m, int64_t) {
    count(MasterRequest::room_invalidate_ack);
    confirm(ident, kRoomKey + m.room);
  }

  // `wsg status --room`: queries waiting for the room's nodes to count (ROOM_COUNT), by our seq.
  struct PendingRoomStatus {
    std::string ident;
    uint64_t seq = 0;
    std::string room;
    std::set<std::string> waiting;                                // node ids not answered yet
    std::map<std::string, std::pair<uint32_t, uint32_t>> counts;  // node -> (sessions, users)
    int64_t deadline_ms = 0;
  };
  static constexpr int64_t kRoomStatusWaitMs = 1000;
  static constexpr std::size_t kMaxPendingRoomStatus = 64;
  // `wsg status --room R`: the room's nodes count their members; answered when all did, or after
  // kRoomStatusWaitMs without the silent ones (flush_room_status).
  void on(const std::string& ident, cluster::RoomStatus& m, int64_t now) {
    count(MasterRequest::status);
    PendingRoomStatus p{ident, m.seq, m.room, {}, {}, now + kRoomStatusWaitMs};
    const uint64_t id = ++room_status_seq_;
    for (const auto& node : rooms_.nodes_for(m.room)) {
      auto it = node_ident_.find(node);
      if (it == node_ident_.end() || !dir_.is_alive(node)) continue;
      p.waiting.insert(node);
      reply(it->second, cluster::RoomCount{epoch_, id, m.room});
    }
    if (p.waiting.empty() || pending_room_status_.size() >= kMaxPendingRoomStatus) return answer_room_status(p);
    pending_room_status_.emplace(id, std::move(p));
  }

  void on(const std::string& ident, cluster::RoomCountReply& m, int64_t) {
    const std::string* node = node_of(ident);
    auto it = pending_room_status_.find(m.seq);
    if (!node || it == pending_room_status_.end() || it->second.room != m.room) return;
    if (it->second.waiting.erase(*node) == 0) return;
    it->second.counts[*node] = {m.sessions, m.users};
    if (!it->second.waiting.empty()) return;
    answer_room_status(it->second);
    pending_room_status_.erase(it);
  }

  void flush_room_status(int64_t now) {
    for (auto it = pending_room_status_.begin(); it != pending_room_status_.end();) {
      if (it->second.deadline_ms > now) {
        ++it;
        continue;
      }
      answer_room_status(it->second);
      it = pending_room_status_.erase(it);
    }
  }

  void answer_room_status(const PendingRoomStatus& p) {
    namespace json = boost::json;
    json::object doc;
    doc["room"] = p.room;
    json::array nodes;
    uint64_t sessions = 0;
    for (const auto& [node, c] : p.counts) {
      nodes.push_back(json::object{{"id", node}, {"sessions", c.first}, {"users", c.second}});
      sessions += c.first;
    }
    for (const auto& node : p.waiting) nodes.push_back(json::object{{"id", node}, {"answered", false}});
    doc["nodes"] = std::move(nodes);
    doc["sessions"] = sessions;
    doc["partial"] = !p.waiting.empty();
    reply(p.ident, cluster::StatusReply{epoch_, p.seq, json::serialize(doc)});
  }

  // The node is dead: it leaves every room. No ROOM_INVALIDATE: every node gets NODE_DOWN and
  // drops the node from its cached room routes itself.
  void drop_rooms(const std::string& node) {
    const auto rooms = hook_rooms_ ? rooms_.rooms_of(node) : std::vector<std::string>{};
    rooms_.drop_node(node);
    for (const auto& room : rooms)
      if (!rooms_.occupied(room)) room_event(webhook::EventKind::room_vacated, room, node, "node_down");
  }

  // ---- webhooks (docs/api.md, "Webhooks"): the master sends the user and room events. Emitting
  // only queues the event for the sender's own thread.

  void start_webhooks() {
    if (cfg_.webhooks.url.empty()) return;
    auto opt = WebhookSender::options(cfg_.webhooks, secrets::webhook_secret(cfg_.webhooks).value, "master");
    using K = webhook::EventKind;
    const auto on = [&opt](K k) { return opt.events[static_cast<std::size_t>(k)]; };
    hook_users_ = on(K::user_online) || on(K::user_offline);
    hook_rooms_ = on(K::room_occupied) || on(K::room_vacated);
    if (!hook_users_ && !hook_rooms_) return;  // only message.undelivered: the nodes send it
    webhooks_ = std::make_unique<WebhookSender>(std::move(opt), metrics_.registry());
    webhooks_->start();
    log_->info("webhooks: user and room events to {}", cfg_.webhooks.url);
  }

  void user_event(webhook::EventKind kind, const std::string& user, const std::string& node, const std::string& session,
                  std::string reason) {
    if (!webhooks_->wants(kind)) return;
    webhook::Event e;
    e.kind = kind;
    e.ts_ms = unix_ms();
    e.user = user;
    e.node = node;
    e.session = session;
    e.reason = std::move(reason);
    webhooks_->emit(std::move(e));
  }

  void room_event(webhook::EventKind kind, const std::string& room, const std::string& node, std::string reason) {
    if (!webhooks_->wants(kind)) return;
    webhook::Event e;
    e.kind = kind;
    e.ts_ms = unix_ms();
    e.room = room;
    e.node = node;
    e.reason = std::move(reason);
    webhooks_->emit(std::move(e));
  }

  // The node died or left: its users with no session left elsewhere went offline.
  void users_gone(const std::vector<std::string>& users, const std::string& node) {
    for (const auto& u : users)
      if (!dir_.online(u)) user_event(webhook::EventKind::user_offline, u, node, {}, "node_down");
  }

  // Messages only a master sends, or node-to-node ones: not for us.
  template <class M>
  void on(const std::string&, M&, int64_t) {
    ++bad_;
  }

  // Sends INVALIDATE(user) to the watchers of every changed user; returns the (node, user)
  // confirmations to expect.
  std::set<std::pair<std::string, std::string>> send_invalidations() {
    std::set<std::pair<std::string, std::string>> sent;
    for (auto& [user, nodes] : dir_.take_invalidations()) {
      for (auto& n : nodes) {
        auto it = node_ident_.find(n);
        if (it == node_ident_.end()) continue;
        reply(it->second, cluster::Invalidate{epoch_, user});
        ++counters_.invalidations_sent;
        sent.emplace(n, user);
      }
    }
    for (auto& inv : rooms_.take_invalidations()) {
      std::vector<std::string> targets = std::move(inv.nodes);
      if (inv.everyone) {
        targets.clear();
        for (const auto* n : dir_.nodes()) {
          if (n->alive) targets.push_back(n->id);
        }
      }
      for (auto& n : targets) {
        if (!dir_.is_alive(n)) continue;
        auto it = node_ident_.find(n);
        if (it == node_ident_.end()) continue;
        reply(it->second, cluster::RoomInvalidate{epoch_, inv.room});
        ++counters_.room_invalidations_sent;
        sent.emplace(n, kRoomKey + inv.room);
      }
    }
    return sent;
  }

  void expire(int64_t now) {
    // The users of the nodes about to be declared dead, for user.offline (only with webhooks).
    std::map<std::string, std::vector<std::string>> dead_users;
    if (hook_users_) {
      for (const auto* n : dir_.nodes())
        if (n->alive && n->last_heartbeat_ms < now - cfg_.master.node_timeout_ms)
          dead_users[n->id] = dir_.users_on(n->id);
    }
    auto dead = dir_.expire(now, cfg_.master.node_timeout_ms);
    counters_.node_deaths_timeout += dead.size();
    for (auto& id : dead) {
      if (timed_out_.size() < kMaxTimedOut) timed_out_.insert(id);
      log_->warn("node {} declared dead (no heartbeat for {} ms)", id, cfg_.master.node_timeout_ms);
      users_gone(dead_users[id], id);
      drop_rooms(id);
      announce_down(id);
    }
    if (!dead.empty()) send_invalidations();
  }

  // A message from a node this master declared dead for its silence: either that node was cut
  // off, or this master was (every node went silent at once) and the others are about to come
  // back too. Their sessions are not in the directory until they HELLO and replay them, so
  // "no node" is not known yet: the recovery window opens again, as after a start (lookups of
  // users the directory does not hold wait until they are registered or the window ends), instead
  // of answering `offline` for users who never left. One message per node reopens it once.
  void heard_from_timed_out(const std::string& ident, int64_t now) {
    auto it = ident_node_.find(ident);
    if (it == ident_node_.end() || dir_.is_alive(it->second)) return;
    if (timed_out_.erase(it->second) == 0) return;
    const int64_t window = recovery_window_ms(cfg_.master.node_timeout_ms);
    recovery_until_ms_ = std::max(recovery_until_ms_, now + window);
    log_->info(
        "node {}, declared dead for its silence, is back: lookups of users not registered yet wait up to {} ms "
        "for the nodes' replay",
        logging::printable(it->second), window);
  }

  // NODE_DOWN(id) to every alive node.
  void announce_down(const std::string& id) {
    for (const auto* n : dir_.nodes()) {
      if (!n->alive) continue;
      auto it = node_ident_.find(n->id);
      if (it != node_ident_.end()) reply(it->second, cluster::NodeDown{epoch_, id});
    }
  }

  const Config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  uint64_t epoch_ = 0;
  Directory dir_;
  RoomDirectory rooms_;
  // Pending-ack keys of room invalidations: '#' + room name ('#' is in no user id).
  static inline const std::string kRoomKey = "#";
  std::unordered_map<std::string, std::string> ident_node_;  // routing id -> node id
  std::unordered_map<std::string, std::string> node_ident_;  // node id -> routing id
  uint64_t bad_ = 0;
  // Declared after router_ and ctx_: destroyed (closed) before them.
  std::unique_ptr<curve::ZapHandler> zap_;            // with CURVE only
  std::unique_ptr<curve::HandshakeMonitor> monitor_;  // handshake failures on the ROUTER, for logs
  uint64_t refused_ = 0;
  uint64_t reported_refused_ = 0;
  uint64_t reported_zap_refused_ = 0;
  int64_t next_refusal_report_ms_ = 0;
  std::string last_refusal_;

  static constexpr int64_t kInvalidateWaitMs = 50;
  // Recovery window after start: half of master.node_timeout_ms (every live node heartbeats well
  // within that, learns it is unknown here and replays its sessions), at most 1.5 s so that a
  // held lookup is answered before the asking node's cluster.delivery_timeout_ms (2 s by default).
  static int64_t recovery_window_ms(int64_t node_timeout_ms) { return std::min<int64_t>(node_timeout_ms / 2, 1500); }
  static constexpr std::size_t kMaxHeldLookups = 100000;
  int64_t recovery_until_ms_ = 0;
  // Nodes declared dead for their silence that have not been heard from since (the first message
  // of one reopens the recovery window); bounded, a node beyond the bound only loses that.
  static constexpr std::size_t kMaxTimedOut = 4096;
  std::unordered_set<std::string> timed_out_;
  // Lookups held during the recovery window: user -> (routing id, seq) of each asker.
  std::unordered_map<std::string, std::vector<std::pair<std::string, uint64_t>>> held_lookups_;
  std::size_t held_count_ = 0;
  // The same for room lookups: room -> (routing id, seq).
  std::unordered_map<std::string, std::vector<std::pair<std::string, uint64_t>>> held_room_lookups_;
  std::size_t held_room_count_ = 0;
  std::map<uint64_t, PendingRoomStatus> pending_room_status_;
  uint64_t room_status_seq_ = 0;
  struct PendingAck {
    std::string ident;
    uint64_t seq;
    std::set<std::pair<std::string, std::string>> waiting;  // (node id, user) to confirm
    int64_t deadline_ms;
  };
  std::deque<PendingAck> pending_acks_;  // in deadline order (the wait is constant)

  logging::Throttle malformed_warning_{std::chrono::seconds(10)};
  logging::Throttle io_warning_{std::chrono::seconds(10)};  // refused sends and receives
  uint64_t unsendable_ = 0;                                 // replies encode() refused (a bug): logged, never thrown
  logging::Throttle unsendable_warning_{std::chrono::seconds(10)};
  // Metrics: counted here (this thread), published to sample_ for the metrics.listen thread.
  MasterSample counters_;
  int64_t next_publish_ms_ = 0;
  std::mutex sample_mutex_;
  MasterSample sample_;  // guarded by sample_mutex_
  MasterMetrics metrics_;
  // Webhooks: the user and room events (the sender's own thread); null when off.
  bool hook_users_ = false;
  bool hook_rooms_ = false;
  std::unique_ptr<WebhookSender> webhooks_;
  // Declared last: stopped (its thread joined) before anything it reads is destroyed.
  std::unique_ptr<MetricsServer> metrics_server_;
};

}  // namespace

int run_master(const Config& config) {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  Master master(config);
  return master.run();
}

}  // namespace wsg
