#include "roles/status/status.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

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

// What one master's answer says, for the MASTERS section and `masters[]` (man/wsg.1, status):
// counts as the table shows them, and what the agreement compares.
struct Summary {
  std::optional<json::value> nodes;     // rows of the answer's node table (--user: distinct nodes)
  std::optional<json::value> sessions;  // master.sessions; --room: the room's sessions; --user: rows
  std::optional<json::value> users;     // master.users (cluster-wide form only)
  std::set<std::string> node_ids;       // cluster-wide and --room: the ids of the listed nodes
  std::set<std::pair<std::string, std::string>> user_sessions;  // --user: (node, session)
  json::object extra;         // fields of the answer worth repeating per master (epoch, ...)
  bool cluster_wide = false;  // neither --user nor --room: the counts are compared too
};

Summary summarize(const json::object& doc) {
  Summary s;
  auto node_ids = [&](const json::value* nodes) {
    if (!nodes || !nodes->is_array()) return;
    for (const auto& n : nodes->as_array()) {
      if (n.is_object()) s.node_ids.insert(str(n.as_object().if_contains("id")));
    }
  };
  if (doc.contains("room")) {
    node_ids(doc.if_contains("nodes"));
    s.nodes = static_cast<uint64_t>(s.node_ids.size());
    if (const auto* v = doc.if_contains("sessions")) s.sessions = *v;
    if (const auto* v = doc.if_contains("partial")) s.extra["partial"] = *v;
    return s;
  }
  if (doc.contains("user")) {
    std::set<std::string> nodes;
    uint64_t rows = 0;
    if (const auto* sessions = doc.if_contains("sessions"); sessions && sessions->is_array()) {
      for (const auto& x : sessions->as_array()) {
        if (!x.is_object()) continue;
        const auto& o = x.as_object();
        s.user_sessions.emplace(str(o.if_contains("node")), str(o.if_contains("session")));
        nodes.insert(str(o.if_contains("node")));
        ++rows;
      }
    }
    s.nodes = static_cast<uint64_t>(nodes.size());
    s.sessions = rows;
    return s;
  }
  s.cluster_wide = true;
  const auto* nodes = doc.if_contains("nodes");
  node_ids(nodes);
  s.nodes = static_cast<uint64_t>(nodes && nodes->is_array() ? nodes->as_array().size() : 0);
  if (const auto* master = doc.if_contains("master"); master && master->is_object()) {
    const auto& m = master->as_object();
    if (const auto* v = m.if_contains("sessions")) s.sessions = *v;
    if (const auto* v = m.if_contains("users")) s.users = *v;
    for (const char* key : {"epoch", "rooms"}) {
      if (const auto* v = m.if_contains(key)) s.extra[key] = *v;
    }
  }
  return s;
}

// What `masters_agree` compares: the node sets (cluster-wide and --room), the session and user
// counts (cluster-wide), the user's (node, session) pairs (--user).
bool same(const Summary& a, const Summary& b) {
  if (a.node_ids != b.node_ids || a.user_sessions != b.user_sessions) return false;
  if (a.cluster_wide != b.cluster_wide) return false;
  return !a.cluster_wide || (a.sessions == b.sessions && a.users == b.users);
}

// One master being asked.
struct Asked {
  std::string address;
  std::unique_ptr<zmq::socket_t> dealer;
  // Watches the handshakes: a master that refuses our key (or our lack of one) is reported as
  // such, without waiting for the timeout.
  std::unique_ptr<curve::HandshakeMonitor> monitor;
  std::unique_ptr<curve::RefusalDetector> refusal;
  std::optional<json::object> answer;
  std::string failure;  // why there is no answer ("" while waiting, and once answered)
  bool done() const { return answer.has_value() || !failure.empty(); }
};

std::string unreachable(const std::string& address, const std::string& why) {
  return "cannot reach the master at " + address + ": " + why;
}

// Connects and queues the query; sets `failure` when the socket cannot be made or refuses it.
void ask(Asked& a, zmq::context_t& ctx, const StatusOptions& options, const std::string& query) {
  try {
    a.dealer = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    a.dealer->set(zmq::sockopt::linger, 0);
    // The reply is bounded like every cluster message (docs/security.md, "Cluster links").
    a.dealer->set(zmq::sockopt::maxmsgsize, cluster::kMaxToStatusBytes);
    a.dealer->set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
    if (options.curve) curve::make_client(*a.dealer, *options.curve);
    a.monitor = std::make_unique<curve::HandshakeMonitor>(ctx, *a.dealer, "status");
    a.dealer->connect(a.address);
  } catch (const zmq::error_t& e) {
    a.failure = unreachable(a.address, e.what());
    return;
  }
  a.refusal = std::make_unique<curve::RefusalDetector>("the master", options.curve.has_value());
  // A connected DEALER queues the query at once (its pipe exists before the TCP connection does),
  // so the non-blocking send is refused only by a broken socket.
  if (const auto sent = zsock::send(*a.dealer, query); !sent.sent()) a.failure = unreachable(a.address, sent.reason());
}

// Reads what the master's sockets hold: handshake events, then replies.
// `single`: the only master asked (its messages are worded as before several could be).
void read(Asked& a, bool dealer_ready, bool monitor_ready, uint64_t seq, bool single) {
  if (monitor_ready) {
    for (const auto& event : a.monitor->read_pending()) {
      if (auto reason = a.refusal->on_event(event)) {
        a.failure = *reason;
        return;
      }
    }
  }
  if (!dealer_ready) return;
  while (!a.done()) {
    zmq::message_t msg;
    const auto got = zsock::recv(*a.dealer, msg);
    if (got.result == zsock::RecvResult::would_block) return;
    if (!got.received()) {
      a.failure = unreachable(a.address, got.reason());
      return;
    }
    auto decoded = cluster::decode(std::string_view(msg.data<char>(), msg.size()));
    auto* reply = decoded ? std::get_if<cluster::StatusReply>(&*decoded) : nullptr;
    if (!reply || reply->seq != seq) continue;
    boost::system::error_code ec;
    auto doc = json::parse(reply->json, ec);
    if (ec || !doc.is_object()) {
      a.failure =
          single ? "the master sent an unreadable status" : "the master at " + a.address + " sent an unreadable status";
      return;
    }
    a.answer = std::move(doc.as_object());
  }
}

// `masters[]` of --json: one object per listed master, in list order.
json::array masters_json(const std::vector<std::unique_ptr<Asked>>& asked, bool user_mode) {
  json::array out;
  for (const auto& a : asked) {
    json::object o{{"address", a->address}, {"answered", a->answer.has_value()}};
    if (a->answer) {
      const Summary s = summarize(*a->answer);
      if (s.extra.contains("epoch")) o["epoch"] = s.extra.at("epoch");
      if (s.nodes) o["nodes"] = *s.nodes;
      if (s.sessions) o["sessions"] = *s.sessions;
      if (s.users) o["users"] = *s.users;
      for (const auto& [key, value] : s.extra) {
        if (key != "epoch") o[key] = value;
      }
      if (user_mode) {
        json::array sessions;
        for (const auto& [node, session] : s.user_sessions)
          sessions.push_back(json::object{{"node", node}, {"session", session}});
        o["user_sessions"] = std::move(sessions);
      } else {
        json::array ids;
        for (const auto& id : s.node_ids) ids.push_back(json::string(id));
        o["node_ids"] = std::move(ids);
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The MASTERS section of the table (only when more than one master is listed).
void print_masters(const std::vector<std::unique_ptr<Asked>>& asked, bool agree) {
  auto count = [](const std::optional<json::value>& v) { return v ? str(&*v) : std::string("-"); };
  std::cout << "\nMASTERS\n";
  std::cout << fmt::format("{:<32} {:<8} {:>6} {:>9} {:>7}\n", "ADDRESS", "ANSWERED", "NODES", "SESSIONS", "USERS");
  for (const auto& a : asked) {
    if (!a->answer) {
      std::cout << fmt::format("{:<32} {:<8} {:>6} {:>9} {:>7}\n", a->address, "no", "-", "-", "-");
      continue;
    }
    const Summary s = summarize(*a->answer);
    std::cout << fmt::format("{:<32} {:<8} {:>6} {:>9} {:>7}\n", a->address, "yes", count(s.nodes), count(s.sessions),
                             count(s.users));
  }
  std::cout << "masters agree: " << (agree ? "yes" : "no") << "\n";
}

}  // namespace

int run_status(const StatusOptions& options) {
  if (options.masters.empty()) {
    std::cerr << "wsg status: no master address\n";
    return 2;
  }
  std::random_device rd;
  const uint64_t seq = (static_cast<uint64_t>(rd()) << 32) ^ rd();
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

  zmq::context_t ctx(1);
  std::vector<std::unique_ptr<Asked>> asked;
  for (const auto& address : options.masters) {
    asked.push_back(std::make_unique<Asked>());
    asked.back()->address = address;
    ask(*asked.back(), ctx, options, query);
  }

  // One deadline for all; a master that answers first does not cut the others short.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  std::vector<zmq_pollitem_t> items;
  std::vector<Asked*> polled;
  while (true) {
    items.clear();
    polled.clear();
    for (auto& a : asked) {
      if (a->done()) continue;
      polled.push_back(a.get());
      items.push_back({a->dealer->handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({a->monitor->socket().handle(), 0, ZMQ_POLLIN, 0});
    }
    if (polled.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (zmq_poll(items.data(), static_cast<int>(items.size()), static_cast<long>(left.count())) <= 0) continue;
    for (std::size_t i = 0; i < polled.size(); ++i) {
      read(*polled[i], items[2 * i].revents & ZMQ_POLLIN, items[2 * i + 1].revents & ZMQ_POLLIN, seq,
           asked.size() == 1);
    }
  }
  for (auto& a : asked) {
    if (!a->done())
      a->failure =
          "no answer from the master at " + a->address + " within " + std::to_string(options.timeout_ms) + " ms";
  }

  const Asked* first = nullptr;
  for (const auto& a : asked) {
    if (a->answer) {
      first = a.get();
      break;
    }
  }
  if (!first) {
    for (const auto& a : asked) std::cerr << "wsg status: " << a->failure << "\n";
    return 1;
  }
  for (const auto& a : asked) {
    if (!a->answer) std::cerr << "wsg status: warning: " << a->failure << "\n";
  }

  // Agreement: every listed master answered, and the same nodes (and, cluster-wide, the same
  // session and user counts), or for --user the same sessions.
  bool agree = true;
  const Summary reference = summarize(*first->answer);
  for (const auto& a : asked) agree = agree && a->answer && same(summarize(*a->answer), reference);

  if (options.json) {
    json::object doc = *first->answer;
    doc["masters"] = masters_json(asked, !options.user.empty());
    doc["masters_agree"] = agree;
    std::cout << json::serialize(doc) << "\n";
    return 0;
  }
  print_table(*first->answer);
  if (asked.size() > 1) print_masters(asked, agree);
  return 0;
}

}  // namespace wsg
