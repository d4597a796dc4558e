#include "roles/status/status.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include <fmt/format.h>
#include <boost/json.hpp>
#include <zmq.hpp>

#include "net/curve_zmq.h"
#include "net/zmq_socket.h"
#include "proto/cluster_codec.h"
#include "telemetry/logging.h"

namespace wsg {

namespace json = boost::json;

namespace {

std::string str(const json::value* v) {
  if (!v) return "-";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

void print_table(const json::object& doc) {
  if (auto* r = doc.if_contains("room")) {
    std::cout << "room " << str(r) << "  sessions " << str(doc.if_contains("sessions")) << "\n";
    const auto* nodes = doc.if_contains("nodes");
    if (!nodes || !nodes->is_array() || nodes->as_array().empty()) {
      std::cout << "  (no members)\n";
      return;
    }
    std::cout << fmt::format("  {:<20} {:>9} {:>7}\n", "NODE", "SESSIONS", "USERS");
    for (auto& n : nodes->as_array()) {
      if (!n.is_object()) continue;
      const auto& o = n.as_object();
      if (o.contains("answered")) {
        std::cout << fmt::format("  {:<20} {:>9} {:>7}\n", str(o.if_contains("id")), "?", "?");
      } else {
        std::cout << fmt::format("  {:<20} {:>9} {:>7}\n", str(o.if_contains("id")), str(o.if_contains("sessions")),
                                 str(o.if_contains("users")));
      }
    }
    return;
  }
  if (auto* u = doc.if_contains("user")) {
    std::cout << "user " << str(u) << "\n";
    const auto* sessions = doc.if_contains("sessions");
    if (!sessions || !sessions->is_array() || sessions->as_array().empty()) {
      std::cout << "  (no sessions: offline)\n";
      return;
    }
    std::cout << fmt::format("  {:<20} {}\n", "NODE", "SESSION");
    for (auto& s : sessions->as_array()) {
      if (!s.is_object()) continue;
      std::cout << fmt::format("  {:<20} {}\n", str(s.as_object().if_contains("node")),
                               str(s.as_object().if_contains("session")));
    }
    return;
  }
  const auto* master = doc.if_contains("master");
  if (master && master->is_object()) {
    const auto& m = master->as_object();
    std::cout << fmt::format("master epoch {}  sessions {}  users {}\n", str(m.if_contains("epoch")),
                             str(m.if_contains("sessions")), str(m.if_contains("users")));
  }
  // PUBLIC URL last (node.public_url, "-" when none or from a master older than wire v5): the
  // columns before it keep their places for scripts that read them.
  std::cout << fmt::format("{:<16} {:<6} {:>9} {:>10}  {:<28} {:<28} {}\n", "NODE", "ALIVE", "SESSIONS", "HEARTBEAT",
                           "WEBSOCKET", "EVENTS", "PUBLIC URL");
  if (const auto* nodes = doc.if_contains("nodes"); nodes && nodes->is_array()) {
    for (auto& n : nodes->as_array()) {
      if (!n.is_object()) continue;
      const auto& o = n.as_object();
      const auto* alive = o.if_contains("alive");
      const std::string public_url = str(o.if_contains("public_url"));
      std::cout << fmt::format("{:<16} {:<6} {:>9} {:>8}ms  {:<28} {:<28} {}\n", str(o.if_contains("id")),
                               alive && alive->is_bool() && alive->as_bool() ? "yes" : "no",
                               str(o.if_contains("sessions")), str(o.if_contains("last_heartbeat_ms")),
                               str(o.if_contains("ws")), str(o.if_contains("events")),
                               public_url.empty() ? "-" : public_url);
    }
  }
}

}  // namespace

int run_status(const StatusOptions& options) {
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  std::random_device rd;
  const uint64_t seq = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  // Watches the handshakes: a master that refuses our key (or our lack of one) is reported as
  // such, without waiting for the timeout.
  std::unique_ptr<curve::HandshakeMonitor> monitor;
  std::string query;
  if (!options.room.empty()) {
    if (auto bytes = cluster::encode(cluster::RoomStatus{seq, options.room})) {
      query = std::move(*bytes);
    } else {  // the codec's rule for room names
      std::cerr << "wsg status: '" << logging::printable(options.room)
                << "' is not a room name (1-128 bytes of [A-Za-z0-9._@:/-])\n";
      return 2;
    }
  } else if (auto bytes = cluster::encode(cluster::StatusQuery{seq, options.user})) {
    query = std::move(*bytes);
  } else {  // the codec's rule for user ids
    std::cerr << "wsg status: '" << logging::printable(options.user)
              << "' is not a user id (1-128 bytes of [A-Za-z0-9._@:-])\n";
    return 2;
  }
  try {
    dealer.set(zmq::sockopt::linger, 0);
    // The reply is bounded like every cluster message (docs/security.md, "Cluster links").
    dealer.set(zmq::sockopt::maxmsgsize, cluster::kMaxToStatusBytes);
    dealer.set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
    if (options.curve) curve::make_client(dealer, *options.curve);
    monitor = std::make_unique<curve::HandshakeMonitor>(ctx, dealer, "status");
    dealer.connect(options.master);
  } catch (const zmq::error_t& e) {
    std::cerr << "wsg status: cannot reach the master at " << options.master << ": " << e.what() << "\n";
    return 1;
  }
  // A connected DEALER queues the query at once (its pipe exists before the TCP connection does),
  // so the non-blocking send is refused only by a broken socket.
  if (const auto sent = zsock::send(dealer, query); !sent.sent()) {
    std::cerr << "wsg status: cannot reach the master at " << options.master << ": " << sent.reason() << "\n";
    return 1;
  }
  curve::RefusalDetector refusal("the master", options.curve.has_value());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  zmq_pollitem_t items[2] = {{dealer.handle(), 0, ZMQ_POLLIN, 0}, {monitor->socket().handle(), 0, ZMQ_POLLIN, 0}};
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (zmq_poll(items, 2, static_cast<long>(left.count())) <= 0) continue;
    if (items[1].revents & ZMQ_POLLIN) {
      for (const auto& event : monitor->read_pending()) {
        if (auto reason = refusal.on_event(event)) {
          std::cerr << "wsg status: " << *reason << "\n";
          return 1;
        }
      }
    }
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t msg;
    const auto got = zsock::recv(dealer, msg);
    if (got.result == zsock::RecvResult::would_block) continue;
    if (!got.received()) {
      std::cerr << "wsg status: cannot reach the master at " << options.master << ": " << got.reason() << "\n";
      return 1;
    }
    auto decoded = cluster::decode(std::string_view(msg.data<char>(), msg.size()));
    auto* reply = decoded ? std::get_if<cluster::StatusReply>(&*decoded) : nullptr;
    if (!reply || reply->seq != seq) continue;
    if (options.json) {
      std::cout << reply->json << "\n";
      return 0;
    }
    boost::system::error_code ec;
    auto doc = json::parse(reply->json, ec);
    if (ec || !doc.is_object()) {
      std::cerr << "wsg status: the master sent an unreadable status\n";
      return 1;
    }
    print_table(doc.as_object());
    return 0;
  }
  std::cerr << "wsg status: no answer from the master at " << options.master << " within " << options.timeout_ms
            << " ms\n";
  return 1;
}

}  // namespace wsg
