// Cluster operations the failure tests need beyond the harness (harness.h): a master restarted on
// the same address, extra node processes (a third node started later, a duplicate id, a node
// restarted under the id of a dead one), freezing a process (SIGSTOP/SIGCONT) to hold a message
// between two steps, a node's /healthz, and a per-client ledger of sent ids, acks and messages.
//
// Built only on the harness's public API. Every wait has a deadline; nothing sleeps to
// synchronise.
#pragma once

#include "test_util.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace wsg::it::ops {

using ms = std::chrono::milliseconds;

// Milliseconds elapsed since `t`.
int64_t ms_since(Clock::time_point t);

// The first `max` strings of `v` joined with "; ", and how many there were in all beyond that.
std::string list(const std::vector<std::string>& v, std::size_t max = 12);

// Short failure timings, as flags (docs/architecture.md, "Failures", with small numbers so a test
// takes seconds).
struct Timings {
  int node_timeout_ms = 1000;      // master.node_timeout_ms
  int heartbeat_ms = 200;          // cluster.heartbeat_ms
  int delivery_timeout_ms = 1000;  // cluster.delivery_timeout_ms
};
std::vector<std::string> master_flags(const Timings& t);
std::vector<std::string> node_flags(const Timings& t);

// Cluster options with `nodes` nodes (ids node-1..node-N) on `t`; `extra[i]` is appended to the
// flags of node i (e.g. a --config file); a timing flag given there replaces the default one.
ClusterOptions fast_cluster(int nodes, const Timings& t = {}, const std::vector<std::vector<std::string>>& extra = {});

// Writes `text` to test_dir()/name and returns the path.
std::filesystem::path write_file(const std::string& name, const std::string& text);

// Starts a new master on the address of the cluster's master `index` (the previous one must be
// gone) and waits until `wsg status` answers there. The returned process is the caller's (killed
// when destroyed).
std::unique_ptr<Process> restart_master(Cluster& c, const std::vector<std::string>& extra_args,
                                        ms ready_timeout = ms(5000), std::size_t index = 0);

// A node process started outside the Cluster's list, attached to its master.
struct ExtraNode {
  std::string id;
  uint16_t ws_port = 0;
  uint16_t events_port = 0;
  std::unique_ptr<Process> process;
};
ExtraNode start_node(Cluster& c, const std::string& id, const std::vector<std::string>& extra_args);
// /healthz answers 200 before the deadline (false if the process exited or the deadline passed).
bool wait_node_ready(ExtraNode& n, ms timeout = ms(5000));

// Lines of a process log that the process itself wrote (the harness's "# command line" header
// lines are left out).
std::vector<std::string> own_log_lines(const std::filesystem::path& log);

// SIGTERM to a process the test started itself (a restarted master, an extra node) and the
// checks the harness makes of the cluster's own processes: exit 0 within `bound`, and no
// sanitizer report in its log. Returns the problems found (empty when clean).
std::vector<std::string> stop_checked(Process& p, ms bound);

// Bytes received and not yet read by the process, summed over the established loopback TCP
// connections whose local port is `port` (Linux /proc/net/tcp, rx_queue). On a frozen node's
// events port, > 0 means a peer's message is waiting there.
int64_t tcp_unread_bytes(uint16_t port);

// SIGSTOP on construction (returns once every thread of the process is stopped), SIGCONT on
// thaw() or destruction (so a failing test never leaves a stopped child that ignores the
// cluster's SIGTERM).
class Freeze {
 public:
  explicit Freeze(Process& p);
  ~Freeze();
  Freeze(const Freeze&) = delete;
  Freeze& operator=(const Freeze&) = delete;
  void thaw();
  bool frozen() const { return frozen_; }
  int64_t stop_wait_ms() const { return stop_wait_ms_; }  // from SIGSTOP to every thread stopped

 private:
  Process& p_;
  bool frozen_ = false;
  int64_t stop_wait_ms_ = 0;
};

// GET /healthz on a node: HTTP status and the JSON body's fields.
struct Health {
  int http = 0;        // 0: no answer
  std::string status;  // "ok" | "draining" | "master_unreachable" | ""
  int64_t sessions = -1;
};
Health health(uint16_t port);

// `wsg status --json --user USER`: the (node, session) pairs.
std::set<std::pair<std::string, std::string>> user_sessions(Cluster& c, const std::string& user);

// ---------------------------------------------------------------------------------------------
// Ledger: what one client sent (ids, times) and what it got back (acks by ref, messages), with
// the time the test saw each frame.

struct AckRecord {
  std::string status;
  std::string msg_id;
  Clock::time_point at;
};

struct MessageRecord {
  json::object frame;
  Clock::time_point at;
};

class Ledger {
 public:
  explicit Ledger(Session& s) : s_(s) {}

  // Sends {"type":"send","to":to,"body":body,"id":ref} and records it.
  void send(const std::string& to, const json::value& body, const std::string& ref);
  // Moves every frame already received into the records; waits up to `wait` for the first one.
  std::size_t pump(ms wait = ms(0));
  // Pumps until `pred` holds or the deadline passes.
  bool pump_until(const std::function<bool()>& pred, ms timeout);
  // Pumps until every sent ref has at least one ack (or the deadline passes).
  bool wait_all_acked(ms timeout);
  bool acked(const std::string& ref) const { return acks_.count(ref) != 0; }
  // The single ack of `ref` (requires exactly one).
  const AckRecord& ack(const std::string& ref) const;

  // Refs sent and not acked; refs acked more than once; acks for refs never sent.
  std::vector<std::string> unacked() const;
  std::vector<std::string> acked_twice() const;
  std::vector<std::string> unknown_acks() const;
  // Milliseconds from the send of `ref` to its (first) ack; -1 when not acked.
  int64_t ack_latency(const std::string& ref) const;

  const std::vector<std::string>& sent() const { return order_; }
  Clock::time_point sent_at(const std::string& ref) const { return sent_at_.at(ref); }
  const std::vector<MessageRecord>& messages() const { return messages_; }
  const std::vector<json::object>& others() const { return others_; }
  // Messages whose body is an object with "k" == key (as the tests tag their bodies).
  std::vector<MessageRecord> messages_tagged(const std::string& key) const;
  std::string describe(const std::string& ref) const;

  Session& session() { return s_; }

 private:
  Session& s_;
  std::vector<std::string> order_;
  std::map<std::string, Clock::time_point> sent_at_;
  std::map<std::string, std::vector<AckRecord>> acks_;
  std::vector<MessageRecord> messages_;
  std::vector<json::object> others_;
};

// A body the ledger can recognise: {"k": key, "n": n}.
json::value tagged(const std::string& key, int64_t n);
// The "n" of a tagged body (-1 when not tagged with `key`).
int64_t tag_n(const json::object& message, const std::string& key);

}  // namespace wsg::it::ops
