// wsg-master-bench: the master's own scale, measured (docs/benchmarks.md, "The master"). Speaks
// the cluster protocol (docs/wire-encoding.md) as a set of synthetic nodes, with no WebSocket at
// all, so what it measures is the master alone:
//   1. N synthetic nodes HELLO;
//   2. they REGISTER S sessions (user "<prefix>u<k>", session "<prefix>s<k>" on node k mod N) in
//      batches, a window of batches in flight per node: registrations/s, and the master's RSS
//      before and after (bytes per registered session) when --pid names it;
//   3. they LOOKUP random registered users, a window of lookups in flight in all, for --lookups
//      lookups or --lookup-seconds: lookups/s, round-trip latency (p50/p99/max), answers checked
//      against the node that registered the user; with --lookup-batch N > 1 up to N lookups go in
//      one LOOKUP_BATCH (wire v2);
//   4. with --room-churn-rate R: room membership churn (wire v3) for --room-churn-seconds: the
//      nodes register and unregister rooms (a node's first member joining, its last leaving) at R
//      operations/s over --rooms rooms, each also registered by a second node (members that stay)
//      and watched by a third that looked it up (and looks it up again after each ROOM_INVALIDATE,
//      as a node that keeps publishing to it does):
//      operations/s, ack latency (an ack waits for the watchers' ROOM_INVALIDATE_ACK) and the
//      master's CPU per operation;
//   5. one STATUS query (what `wsg status` asks for), its round trip and size;
//   6. each node says LEAVE (the master forgets its sessions at once).
// Every node HEARTBEATs every --heartbeat-ms meanwhile. With --pid the master's CPU time
// (utime+stime, /proc/PID/stat) is sampled around phases 2 and 3: µs per registration and per
// lookup.
//
//   wsg-master-bench --master tcp://127.0.0.1:5555 [--pid PID] [--nodes 10] [--sessions 100000]
//                    [--batch 1000] [--window 4] [--lookups 200000] [--lookup-window 512]
//                    [--lookup-batch 1] [--lookup-seconds 30] [--room-churn-rate 0] [--room-churn-seconds 10]
//                    [--rooms 10000] [--heartbeat-ms 500] [--prefix S] [--json FILE] [--timeout 300]
//
// One thread, one zmq_poll loop over the nodes' DEALER sockets; every wait is bounded by
// --timeout. Exit 0 when every phase completed with every answer right, 1 otherwise, 2 on bad
// usage. Plain-text cluster links only (no CURVE key).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <zmq.hpp>

#include "proto/cluster_codec.h"

namespace {

namespace cluster = wsg::cluster;
using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Options {
  std::string master = "tcp://127.0.0.1:5555";
  int pid = 0;
  int nodes = 10;
  int64_t sessions = 100000;
  int batch = 1000;
  int window = 4;
  int64_t lookups = 200000;
  int lookup_window = 512;
  int lookup_batch = 1;
  double lookup_seconds = 30;
  int room_churn_rate = 0;  // room registrations + unregistrations per second; 0 = no churn phase
  double room_churn_seconds = 10;
  int rooms = 10000;
  int heartbeat_ms = 500;
  std::string prefix;
  std::string json_file;
  double timeout = 300;
};

// The master's RSS (KiB, VmRSS) and CPU time (µs, utime+stime); nullopt without --pid or when
// the process is gone.
std::optional<int64_t> rss_kib(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return std::nullopt;
}
std::optional<int64_t> cpu_us(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  const long tck = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1000000 / (tck > 0 ? tck : 100);
}

// Log-bucketed latency histogram (1 % buckets), in nanoseconds.
class Histogram {
 public:
  void record(int64_t ns) {
    const double v = std::max<double>(1.0, static_cast<double>(ns));
    const auto i = std::min<std::size_t>(kBuckets - 1, static_cast<std::size_t>(std::log(v) / std::log(1.01)));
    ++counts_[i];
    ++count_;
    max_ = std::max(max_, ns);
  }
  std::optional<double> quantile_us(double q) const {
    if (count_ == 0) return std::nullopt;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::pow(1.01, static_cast<double>(i) + 0.5) / 1000.0;
    }
    return static_cast<double>(max_) / 1000.0;
  }
  double max_us() const { return static_cast<double>(max_) / 1000.0; }
  uint64_t count() const { return count_; }

 private:
  static constexpr std::size_t kBuckets = 2600;
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets, 0);
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

struct Node {
  std::string id;
  zmq::socket_t socket;
  int64_t next_heartbeat_ns = 0;
  int64_t registered = 0;  // sessions acknowledged
  int64_t next_user = 0;   // the next k (of this node's residue class) to put in a batch
  int in_flight = 0;       // REGISTER batches awaiting their ACK
  uint64_t incarnation = 0;
  bool hello_ok = false;
};

class Bench {
 public:
  explicit Bench(Options o)
      : o_(std::move(o)), ctx_(1), deadline_ns_(now_ns() + static_cast<int64_t>(o_.timeout * 1e9)) {}

  int run() {
    connect();
    if (!phase_hello()) return finish(false);
    const auto rss0 = rss_kib(o_.pid);
    const auto cpu0 = cpu_us(o_.pid);
    const int64_t t0 = now_ns();
    if (!phase_register()) return finish(false);
    const int64_t t1 = now_ns();
    const auto rss1 = rss_kib(o_.pid);
    const auto cpu1 = cpu_us(o_.pid);
    reg_seconds_ = static_cast<double>(t1 - t0) / 1e9;
    report_["register"] = boost::json::object{
        {"sessions", o_.sessions},
        {"seconds", reg_seconds_},
        {"per_second", static_cast<double>(o_.sessions) / std::max(1e-9, reg_seconds_)},
        {"master_rss_kib_before", rss0 ? boost::json::value(*rss0) : nullptr},
        {"master_rss_kib_after", rss1 ? boost::json::value(*rss1) : nullptr},
        {"master_rss_bytes_per_session", rss0 && rss1 ? boost::json::value(static_cast<double>(*rss1 - *rss0) * 1024.0 /
                                                                           static_cast<double>(o_.sessions))
                                                      : nullptr},
        {"master_cpu_us_per_session",
         cpu0 && cpu1 ? boost::json::value(static_cast<double>(*cpu1 - *cpu0) / static_cast<double>(o_.sessions))
                      : nullptr}};
    const int64_t t2 = now_ns();
    if (!phase_lookup()) return finish(false);
    const int64_t t3 = now_ns();
    const auto rss2 = rss_kib(o_.pid);
    const auto cpu2 = cpu_us(o_.pid);
    const double lk_seconds = static_cast<double>(t3 - t2) / 1e9;
    const auto q = [&](double x) -> boost::json::value {
      auto v = latency_.quantile_us(x);
      return v ? boost::json::value(*v) : nullptr;
    };
    report_["lookup"] = boost::json::object{
        {"lookups", answered_},
        {"wrong_answers", wrong_},
        {"seconds", lk_seconds},
        {"per_second", static_cast<double>(answered_) / std::max(1e-9, lk_seconds)},
        {"window", o_.lookup_window},
        {"batch", o_.lookup_batch},
        {"latency_us", boost::json::object{{"p50", q(0.5)}, {"p99", q(0.99)}, {"max", latency_.max_us()}}},
        {"master_rss_kib_after", rss2 ? boost::json::value(*rss2) : nullptr},
        {"master_cpu_us_per_lookup",
         cpu1 && cpu2 && answered_ > 0
             ? boost::json::value(static_cast<double>(*cpu2 - *cpu1) / static_cast<double>(answered_))
             : nullptr}};
    if (o_.room_churn_rate > 0) {
      const auto cpu3 = cpu_us(o_.pid);
      const int64_t t4 = now_ns();
      if (!phase_room_churn()) return finish(false);
      const int64_t t5 = now_ns();
      const auto cpu4 = cpu_us(o_.pid);
      const double churn_seconds = static_cast<double>(t5 - t4) / 1e9;
      const auto rq = [&](double x) -> boost::json::value {
        auto v = room_latency_.quantile_us(x);
        return v ? boost::json::value(*v) : nullptr;
      };
      report_["room_churn"] = boost::json::object{
          {"rate", o_.room_churn_rate},
          {"rooms", o_.rooms},
          {"operations", room_acked_},
          {"seconds", churn_seconds},
          {"per_second", static_cast<double>(room_acked_) / std::max(1e-9, churn_seconds)},
          {"invalidations", room_invalidations_},
          {"ack_latency_us", boost::json::object{{"p50", rq(0.5)}, {"p99", rq(0.99)}, {"max", room_latency_.max_us()}}},
          {"master_cpu_us_per_operation",
           cpu3 && cpu4 && room_acked_ > 0
               ? boost::json::value(static_cast<double>(*cpu4 - *cpu3) / static_cast<double>(room_acked_))
               : nullptr}};
    }
    if (!phase_status()) return finish(false);
    phase_leave();
    return finish(wrong_ == 0);
  }

 private:
  void connect() {
    for (int i = 0; i < o_.nodes; ++i) {
      Node n{o_.prefix + "mb-" + std::to_string(i), zmq::socket_t(ctx_, zmq::socket_type::dealer)};
      n.socket.set(zmq::sockopt::sndhwm, 100000);
      n.socket.set(zmq::sockopt::rcvhwm, 100000);
      // LEAVE at the end must reach the master: up to 2 s to flush at exit.
      n.socket.set(zmq::sockopt::linger, 2000);
      n.socket.connect(o_.master);
      n.next_user = i;
      nodes_.push_back(std::move(n));
    }
  }

  bool send(Node& n, const cluster::Message& m) {
    auto bytes = cluster::encode(m);
    if (!bytes) return fail("encode refused a message");
    // A full pipe (SNDHWM) is not expected with the windows used; wait for it boundedly.
    while (!n.socket.send(zmq::buffer(*bytes), zmq::send_flags::dontwait)) {
      if (now_ns() > deadline_ns_) return fail("send: timed out (the master's pipe stays full)");
      poll(1);
    }
    return true;
  }

  bool fail(const std::string& why) {
    if (problem_.empty()) problem_ = why;
    return false;
  }

  // Reads what arrived (waiting up to `wait_ms`), heartbeats due nodes.
  bool poll(int wait_ms) {
    std::vector<zmq::pollitem_t> items;
    for (auto& n : nodes_) items.push_back({n.socket.handle(), 0, ZMQ_POLLIN, 0});
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait_ms));
    const int64_t now = now_ns();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      for (int k = 0; k < 4096; ++k) {
        zmq::message_t msg;
        if (!n.socket.recv(msg, zmq::recv_flags::dontwait)) break;
        auto m = cluster::decode(std::string_view(msg.data<char>(), msg.size()));
        if (!m) return fail("the master sent a message that does not decode");
        if (!on_message(n, static_cast<int>(i), *m, now)) return false;
      }
      if (n.hello_ok && now >= n.next_heartbeat_ns) {
        n.next_heartbeat_ns = now + static_cast<int64_t>(o_.heartbeat_ms) * 1000000;
        if (!send(n, cluster::Heartbeat{n.id, static_cast<uint64_t>(n.registered), 0})) return false;
      }
    }
    return true;
  }

  bool on_message(Node& n, int index, cluster::Message& m, int64_t now) {
    if (auto* r = std::get_if<cluster::HelloReply>(&m)) {
      if (!r->accepted) return fail("HELLO refused: " + r->reason);
      n.hello_ok = true;
      return true;
    }
    if (auto* a = std::get_if<cluster::Ack>(&m)) {
      if (!a->ok) return fail("a REGISTER was refused (ok = false: the master forgot the node?)");
      if (anchor_batches_.erase(a->seq) > 0) return true;
      if (auto op = room_ops_.find(a->seq); op != room_ops_.end()) {
        room_latency_.record(now - op->second.sent_ns);
        room_busy_[static_cast<std::size_t>(op->second.room)] = false;
        ++room_acked_;
        room_ops_.erase(op);
        return true;
      }
      auto it = batches_.find(a->seq);
      if (it == batches_.end()) return true;
      n.registered += it->second;
      acked_ += it->second;
      --n.in_flight;
      batches_.erase(it);
      return true;
    }
    if (auto* h = std::get_if<cluster::HeartbeatReply>(&m)) {
      if (!h->known) return fail("the master does not know node " + n.id + " (declared dead?)");
      return true;
    }
    if (auto* r = std::get_if<cluster::LookupReply>(&m)) {
      const std::string* got = r->nodes.size() == 1 ? &r->nodes[0].id : nullptr;
      answered(r->seq, r->nodes.size() == 1, got, now);
      (void)index;
      return true;
    }
    if (auto* b = std::get_if<cluster::LookupBatchReply>(&m)) {  // wire v2 (--lookup-batch > 1)
      for (const auto& r : b->results) {
        const std::string* got = r.nodes.size() == 1 ? &b->nodes[r.nodes[0]].id : nullptr;
        answered(r.seq, r.nodes.size() == 1, got, now);
      }
      return true;
    }
    if (auto* s = std::get_if<cluster::StatusReply>(&m)) {
      if (s->seq == status_seq_) {
        status_ns_ = now;
        status_json_ = std::move(s->json);
      }
      return true;
    }
    if (auto* inv = std::get_if<cluster::RoomInvalidate>(&m)) {
      // As a node does: drop the route, confirm, and (still publishing there) look it up again.
      ++room_invalidations_;
      if (!send(n, cluster::RoomInvalidateAck{inv->room})) return false;
      return send(n, cluster::RoomLookup{++seq_, inv->room});
    }
    // INVALIDATE, NODE_DOWN, ROOM_LOOKUP_REPLY: not expected or nothing to check; ignored.
    return true;
  }

  bool phase_hello() {
    for (auto& n : nodes_) {
      n.incarnation = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
      if (!send(n, cluster::Hello{n.id, n.incarnation, "ws://127.0.0.1:1/ws", "tcp://127.0.0.1:1"})) return false;
    }
    while (!std::all_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.hello_ok; })) {
      if (now_ns() > deadline_ns_) return fail("HELLO: no answer from the master at " + o_.master);
      if (!poll(10)) return false;
    }
    return true;
  }

  std::string user(int64_t k) const { return o_.prefix + "u" + std::to_string(k); }

  bool phase_register() {
    const auto stride = static_cast<int64_t>(o_.nodes);
    while (acked_ < o_.sessions) {
      for (auto& n : nodes_) {
        while (n.in_flight < o_.window && n.next_user < o_.sessions) {
          cluster::RegisterSessions r{++seq_, {}};
          r.sessions.reserve(static_cast<std::size_t>(o_.batch));
          for (int b = 0; b < o_.batch && n.next_user < o_.sessions; ++b, n.next_user += stride) {
            r.sessions.push_back({user(n.next_user), o_.prefix + "s" + std::to_string(n.next_user)});
          }
          batches_[r.seq] = static_cast<int64_t>(r.sessions.size());
          ++n.in_flight;
          if (!send(n, r)) return false;
        }
      }
      if (now_ns() > deadline_ns_) return fail("REGISTER: timed out with " + std::to_string(acked_) + " acknowledged");
      if (!poll(10)) return false;
    }
    return true;
  }

  // One lookup answered: right when it names exactly the node that registered the user.
  void answered(uint64_t seq, bool one_node, const std::string* node, int64_t now) {
    auto it = lookups_.find(seq);
    if (it == lookups_.end()) return;
    latency_.record(now - it->second.sent_ns);
    const std::string& want = nodes_[static_cast<std::size_t>(it->second.node)].id;
    if (!one_node || !node || *node != want) ++wrong_;
    ++answered_;
    lookups_.erase(it);
  }

  bool phase_lookup() {
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<int64_t> pick(0, o_.sessions - 1);
    const int64_t end_ns = now_ns() + static_cast<int64_t>(o_.lookup_seconds * 1e9);
    int64_t sent = 0;
    std::size_t next_node = 0;
    while (answered_ < sent || (sent < o_.lookups && now_ns() < end_ns)) {
      while (static_cast<int64_t>(lookups_.size()) < o_.lookup_window && sent < o_.lookups && now_ns() < end_ns) {
        Node& asker = nodes_[next_node];
        next_node = (next_node + 1) % nodes_.size();
        // --lookup-batch N > 1: up to N lookups in one LOOKUP_BATCH (wire v2), as a node with
        // cluster.wire_version = 2 sends the lookups of one turn; else one LOOKUP each.
        cluster::LookupBatch batch;
        const int64_t n = std::min<int64_t>({static_cast<int64_t>(o_.lookup_batch), o_.lookups - sent,
                                             o_.lookup_window - static_cast<int64_t>(lookups_.size())});
        for (int64_t i = 0; i < n; ++i) {
          const int64_t k = pick(rng);
          const uint64_t s = ++seq_;
          lookups_[s] = PendingLookup{now_ns(), static_cast<int>(k % o_.nodes)};
          ++sent;
          batch.lookups.push_back(cluster::Lookup{s, user(k)});
        }
        const bool ok =
            o_.lookup_batch > 1 && batch.lookups.size() > 1 ? send(asker, batch) : send(asker, batch.lookups.front());
        if (!ok) return false;
      }
      if (now_ns() > deadline_ns_)
        return fail("LOOKUP: timed out with " + std::to_string(lookups_.size()) + " unanswered");
      if (!poll(lookups_.empty() ? 0 : 10)) return false;
    }
    return true;
  }

  std::string room(int64_t k) const { return o_.prefix + "room" + std::to_string(k); }

  bool phase_room_churn() {
    // Room k churns on node k mod N (its members there come and go), is always registered by node
    // k+2 mod N (members that stay, so the room never empties and its watchers stay recorded) and
    // is watched by node k+1 mod N (it looked the room up). Needs 3 nodes.
    if (nodes_.size() < 3) return fail("room churn: needs --nodes 3 or more");
    const auto rooms = static_cast<std::size_t>(o_.rooms);
    room_registered_.assign(rooms, false);
    room_busy_.assign(rooms, false);
    for (std::size_t k = 0; k < rooms; k += 1000) {
      std::vector<std::vector<std::string>> per_anchor(nodes_.size());
      for (std::size_t j = k; j < std::min(rooms, k + 1000); ++j) {
        per_anchor[(j + 2) % nodes_.size()].push_back(room(static_cast<int64_t>(j)));
      }
      for (std::size_t a = 0; a < nodes_.size(); ++a) {
        if (per_anchor[a].empty()) continue;
        const uint64_t s = ++seq_;
        anchor_batches_.insert(s);
        if (!send(nodes_[a], cluster::RoomRegister{s, std::move(per_anchor[a])})) return false;
      }
    }
    while (!anchor_batches_.empty()) {
      if (now_ns() > deadline_ns_) return fail("room churn: the anchor registrations were not acknowledged");
      if (!poll(10)) return false;
    }
    for (std::size_t k = 0; k < rooms; ++k) {
      Node& watcher = nodes_[(k + 1) % nodes_.size()];
      if (!send(watcher, cluster::RoomLookup{++seq_, room(static_cast<int64_t>(k))})) return false;
      if (k % 512 == 511 && !poll(0)) return false;
    }
    std::mt19937_64 rng(2);
    std::uniform_int_distribution<std::size_t> pick(0, rooms - 1);
    const int64_t start = now_ns();
    const int64_t end_ns = start + static_cast<int64_t>(o_.room_churn_seconds * 1e9);
    int64_t sent = 0;
    while (now_ns() < end_ns) {
      // Open loop: the operations due by now go out (a room with an operation in flight is skipped).
      const auto due = static_cast<int64_t>(static_cast<double>(now_ns() - start) / 1e9 * o_.room_churn_rate);
      for (; sent < due; ++sent) {
        std::size_t k = pick(rng);
        for (std::size_t tries = 0; room_busy_[k] && tries < rooms; ++tries) k = (k + 1) % rooms;
        if (room_busy_[k]) break;
        Node& owner = nodes_[k % nodes_.size()];
        const uint64_t s = ++seq_;
        room_busy_[k] = true;
        room_ops_[s] = PendingRoomOp{now_ns(), static_cast<int64_t>(k)};
        const bool ok = room_registered_[k] ? send(owner, cluster::RoomUnregister{s, {room(static_cast<int64_t>(k))}})
                                            : send(owner, cluster::RoomRegister{s, {room(static_cast<int64_t>(k))}});
        if (!ok) return false;
        room_registered_[k] = !room_registered_[k];
      }
      if (now_ns() > deadline_ns_) return fail("room churn: timed out");
      if (!poll(1)) return false;
    }
    while (!room_ops_.empty()) {
      if (now_ns() > deadline_ns_)
        return fail("room churn: " + std::to_string(room_ops_.size()) + " operations unacknowledged");
      if (!poll(10)) return false;
    }
    return true;
  }

  bool phase_status() {
    status_seq_ = ++seq_;
    const int64_t t = now_ns();
    if (!send(nodes_[0], cluster::StatusQuery{status_seq_, ""})) return false;
    while (status_ns_ == 0) {
      if (now_ns() > deadline_ns_) return fail("STATUS: no answer");
      if (!poll(10)) return false;
    }
    report_["status"] = boost::json::object{{"round_trip_ms", static_cast<double>(status_ns_ - t) / 1e6},
                                            {"json_bytes", status_json_.size()}};
    return true;
  }

  void phase_leave() {
    for (auto& n : nodes_) {
      (void)send(n, cluster::Leave{n.id, n.incarnation});
    }
  }

  int finish(bool ok) {
    report_["tool"] = "wsg-master-bench";
    report_["options"] = boost::json::object{
        {"master", o_.master}, {"nodes", o_.nodes},     {"sessions", o_.sessions},          {"batch", o_.batch},
        {"window", o_.window}, {"lookups", o_.lookups}, {"lookup_window", o_.lookup_window}};
    report_["ok"] = ok && problem_.empty();
    report_["problem"] = problem_;
    const std::string text = boost::json::serialize(report_);
    if (!o_.json_file.empty()) {
      if (o_.json_file == "-") {
        std::cout << text << "\n";
      } else {
        std::ofstream(o_.json_file) << text << "\n";
      }
    }
    summary();
    return report_["ok"].as_bool() ? 0 : 1;
  }

  void summary() const {
    auto num = [](const boost::json::object& o, const char* k) -> std::string {
      const auto* v = o.if_contains(k);
      if (!v || v->is_null()) return "-";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", v->to_number<double>());
      return buf;
    };
    std::cerr << "wsg-master-bench: " << o_.nodes << " synthetic nodes, " << o_.sessions << " sessions\n";
    if (const auto* r = report_.if_contains("register")) {
      const auto& o = r->as_object();
      std::cerr << "  register: " << num(o, "per_second") << " sessions/s (" << num(o, "seconds") << " s); master RSS "
                << num(o, "master_rss_kib_before") << " -> " << num(o, "master_rss_kib_after")
                << " KiB = " << num(o, "master_rss_bytes_per_session") << " bytes/session; master CPU "
                << num(o, "master_cpu_us_per_session") << " us/session\n";
    }
    if (const auto* l = report_.if_contains("lookup")) {
      const auto& o = l->as_object();
      const auto& lat = o.at("latency_us").as_object();
      std::cerr << "  lookup:   " << num(o, "per_second") << " lookups/s (" << num(o, "lookups") << " in "
                << num(o, "seconds") << " s, window " << o_.lookup_window << "); round trip p50 " << num(lat, "p50")
                << " p99 " << num(lat, "p99") << " max " << num(lat, "max") << " us; wrong answers "
                << num(o, "wrong_answers") << "; master CPU " << num(o, "master_cpu_us_per_lookup") << " us/lookup\n";
    }
    if (const auto* c = report_.if_contains("room_churn")) {
      const auto& o = c->as_object();
      const auto& lat = o.at("ack_latency_us").as_object();
      std::cerr << "  rooms:    " << num(o, "per_second") << " registrations+unregistrations/s ("
                << num(o, "operations") << " over " << num(o, "rooms") << " rooms in " << num(o, "seconds") << " s; "
                << num(o, "invalidations") << " invalidations); ack p50 " << num(lat, "p50") << " p99 "
                << num(lat, "p99") << " max " << num(lat, "max") << " us; master CPU "
                << num(o, "master_cpu_us_per_operation") << " us/operation\n";
    }
    if (const auto* s = report_.if_contains("status")) {
      const auto& o = s->as_object();
      std::cerr << "  status:   " << num(o, "round_trip_ms") << " ms, " << num(o, "json_bytes") << " bytes of JSON\n";
    }
    std::cerr << "  ok:       " << (report_.at("ok").as_bool() ? "yes" : "no") << "\n";
    if (!problem_.empty()) std::cerr << "  problem:  " << problem_ << "\n";
  }

  struct PendingLookup {
    int64_t sent_ns = 0;
    int node = 0;  // the node that registered the user
  };
  struct PendingRoomOp {
    int64_t sent_ns = 0;
    int64_t room = 0;
  };

  Options o_;
  zmq::context_t ctx_;
  int64_t deadline_ns_;
  std::vector<Node> nodes_;
  uint64_t seq_ = 0;
  std::unordered_map<uint64_t, int64_t> batches_;  // REGISTER seq -> sessions in it
  int64_t acked_ = 0;
  std::unordered_map<uint64_t, PendingLookup> lookups_;
  int64_t answered_ = 0;
  int64_t wrong_ = 0;
  Histogram latency_;
  uint64_t status_seq_ = 0;
  int64_t status_ns_ = 0;
  std::string status_json_;
  double reg_seconds_ = 0;
  std::string problem_;
  boost::json::object report_;
  std::vector<bool> room_registered_;
  std::vector<bool> room_busy_;  // an operation of the room awaits its ACK
  std::unordered_set<uint64_t> anchor_batches_;
  std::unordered_map<uint64_t, PendingRoomOp> room_ops_;
  int64_t room_acked_ = 0;
  int64_t room_invalidations_ = 0;
  Histogram room_latency_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"wsg-master-bench: the master's scale, measured with synthetic nodes (docs/benchmarks.md)"};
  app.add_option("--master", o.master, "The master's address")->capture_default_str();
  app.add_option("--pid", o.pid, "The master's process id: its RSS and CPU are sampled");
  app.add_option("--nodes", o.nodes, "Synthetic nodes")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--sessions", o.sessions, "Sessions to register (one user each)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  app.add_option("--batch", o.batch, "Sessions per REGISTER (the node's own batch is 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--window", o.window, "REGISTER batches in flight per node")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--lookups", o.lookups, "Lookups to send")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  app.add_option("--lookup-window", o.lookup_window, "Lookups in flight in all")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--lookup-batch", o.lookup_batch,
                 "Lookups per message: 1 = LOOKUP (wire v1), more = LOOKUP_BATCH (wire v2, as nodes with "
                 "cluster.wire_version = 2 send)")
      ->capture_default_str()
      ->check(CLI::Range(1, static_cast<int>(cluster::kMaxLookupBatch)));
  app.add_option("--lookup-seconds", o.lookup_seconds, "Bound on the lookup phase")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--room-churn-rate", o.room_churn_rate,
                 "Room registrations + unregistrations per second (wire v3); 0 = no room phase")
      ->capture_default_str()
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--room-churn-seconds", o.room_churn_seconds, "Length of the room churn phase")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--rooms", o.rooms, "Rooms the churn works over")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "Heartbeat period of each synthetic node")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  app.add_option("--prefix", o.prefix, "Prefix of node, user and session ids");
  app.add_option("--json", o.json_file, "Write the JSON report to FILE ('-' = stdout)");
  app.add_option("--timeout", o.timeout, "Hard bound on the whole run in seconds")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return Bench(std::move(o)).run();
  } catch (const std::exception& e) {  // zmq::error_t from a bad --master, mostly
    std::cerr << "wsg-master-bench: " << e.what() << "\n";
    return 2;
  }
}
