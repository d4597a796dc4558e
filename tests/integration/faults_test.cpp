// Fault injection under a steady stream (issue "faults stay where they happen"): a sender on node-1
// streams to a user on node-2 at 500 msgs/s and at the default rate limit while, in turn, node-2 is
// killed (its user reconnects to node-3), node-3 is paused for 5 s (SIGSTOP), and the master is
// killed and restarted. Default timings (node timeout 3 s, heartbeat 1 s, delivery timeout 2 s).
//
// Throughout: node-1 answers /healthz within 1 s, the master never declares node-1 dead, every send
// gets exactly one ack within delivery timeout + node timeout (+ 1 s of slack for a loaded 2-core
// machine), no ack says `offline` for a message that reached a session, every message acked
// `delivered` after the recipient's session was welcomed reached it, and each recipient session
// sees the sender's messages in send order (docs/protocol.md, "Delivery semantics").
#include "cluster_ops.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

// Polls a node's /healthz from its own thread every 50 ms with a 1 s deadline per request and
// remembers every request that got no answer in time.
class HealthWatch {
 public:
  explicit HealthWatch(uint16_t port) : port_(port), thread_([this] { run(); }) {}
  ~HealthWatch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> misses() {
    std::lock_guard lock(mutex_);
    return misses_;
  }
  int requests() const { return requests_.load(); }

 private:
  void run() {
    const auto t0 = Clock::now();
    while (!stop_) {
      const auto start = Clock::now();
      auto r = http_get(port_, "/healthz", {}, std::chrono::milliseconds(1000));
      const auto took = ms_since(start);
      ++requests_;
      if (r.status == 0 || took > 1000) {
        std::lock_guard lock(mutex_);
        misses_.push_back("at +" + std::to_string(ms_since(t0)) + " ms: http " + std::to_string(r.status) + " after " +
                          std::to_string(took) + " ms " + r.error);
      }
      const auto next = start + std::chrono::milliseconds(50);
      while (!stop_ && Clock::now() < next) std::this_thread::yield();
    }
  }

  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::vector<std::string> misses_;
  std::thread thread_;
};

// Sends to `to` at `rate` msgs/s for `duration`, tagging bodies with a running counter `n`; bob's
// ledgers are pumped along so the test client never holds a long backlog.
void stream(Ledger& sender, const std::string& to, int rate, ms duration, int64_t& n,
            const std::vector<Ledger*>& receivers) {
  const auto start = Clock::now();
  const auto end = start + duration;
  int64_t sent_here = 0;
  while (Clock::now() < end) {
    const auto due = start + std::chrono::microseconds(1000000LL * sent_here / rate);
    if (Clock::now() < due) {
      sender.pump_until([&] { return Clock::now() >= due; },
                        std::chrono::duration_cast<ms>(due - Clock::now()) + ms(1));
      continue;
    }
    sender.send(to, tagged("f", n), "f-" + std::to_string(n));
    ++n;
    ++sent_here;
    if (sent_here % 50 == 0) {
      for (auto* r : receivers) r->pump();
    }
  }
}

void run_faults(int rate) {
  const Timings t{3000, 1000, 2000};  // the defaults: node timeout, heartbeat, delivery timeout
  Cluster c(fast_cluster(3, t));
  auto alice = join(c, 0, "alice");                          // node-1: the sender
  auto bob1 = std::make_unique<Session>(join(c, 1, "bob"));  // node-2
  Ledger la(alice);
  auto lb1 = std::make_unique<Ledger>(*bob1);
  HealthWatch health(c.ws_port(0));
  int64_t n = 0;

  // 1. node-2 killed under the stream; bob reconnects to node-3 half a second later.
  stream(la, "bob", rate, ms(1000), n, {lb1.get()});
  c.node(1).process->kill();
  stream(la, "bob", rate, ms(500), n, {lb1.get()});
  auto bob2 = join(c, 2, "bob");  // node-3
  Ledger lb2(bob2);
  const int64_t first_after_bob2 = n;
  stream(la, "bob", rate, ms(4000), n, {lb1.get(), &lb2});

  // 2. node-3 paused for 5 s (longer than the node timeout: the master declares it dead meanwhile).
  {
    Freeze freeze(*c.node(2).process);
    stream(la, "bob", rate, ms(5000), n, {&lb2});
  }
  stream(la, "bob", rate, ms(3000), n, {&lb2});

  // 3. The master killed and restarted on its address under the stream.
  c.master().kill();
  REQUIRE(c.master().wait_exit(ms(2000)).has_value());
  stream(la, "bob", rate, ms(500), n, {&lb2});
  auto master2 = restart_master(c, master_flags(t));
  stream(la, "bob", rate, ms(3000), n, {&lb2});

  const auto bound = ms(t.delivery_timeout_ms + t.node_timeout_ms + 1000);
  REQUIRE(la.wait_all_acked(bound + ms(1000)));
  lb1->pump();
  lb2.pump_until([&] { return false; }, ms(300));  // stragglers of the last acks
  health.stop();

  // -- /healthz and liveness of node-1
  INFO(health.requests() << " /healthz requests; missed: " << list(health.misses()));
  CHECK(health.misses().empty());
  for (const auto* log : {&c.master().log(), &master2->log()}) {
    for (const auto& line : own_log_lines(*log)) {
      INFO(line);
      CHECK(line.find("node node-1 declared dead") == std::string::npos);
    }
  }

  // -- one ack each, in time
  INFO("unacked: " << list(la.unacked()) << " | acked twice: " << list(la.acked_twice()));
  CHECK(la.unacked().empty());
  CHECK(la.acked_twice().empty());
  std::vector<std::string> slow;
  std::map<std::string, int> statuses;
  for (const auto& ref : la.sent()) {
    if (!la.acked(ref)) continue;
    ++statuses[la.ack(ref).status];
    if (la.ack_latency(ref) > bound.count()) slow.push_back(la.describe(ref));
  }
  std::ostringstream counts;
  for (auto& [s, k] : statuses) counts << s << " " << k << "; ";
  WARN(rate << " msgs/s: " << n << " sends; acks: " << counts.str());
  INFO("acks later than " << bound.count() << " ms: " << list(slow));
  CHECK(slow.empty());

  // -- what each bob session received: in send order, at most once
  std::set<int64_t> received;
  for (auto* l : {lb1.get(), &lb2}) {
    int64_t last = -1;
    std::vector<std::string> disorder;
    for (const auto& m : l->messages_tagged("f")) {
      const int64_t k = tag_n(m.frame, "f");
      if (k <= last) disorder.push_back(std::to_string(last) + " then " + std::to_string(k));
      last = std::max(last, k);
      received.insert(k);
    }
    INFO("out of order or repeated at one session: " << list(disorder));
    CHECK(disorder.empty());
  }

  // -- acks tell the truth
  std::vector<std::string> offline_but_received, delivered_but_lost;
  for (int64_t k = 0; k < n; ++k) {
    const std::string ref = "f-" + std::to_string(k);
    if (!la.acked(ref)) continue;
    const auto& status = la.ack(ref).status;
    if (status == "offline" && received.count(k)) offline_but_received.push_back(la.describe(ref));
    // bob2 was welcomed before message first_after_bob2 was sent and stayed connected to the end.
    if (status == "delivered" && k >= first_after_bob2 && !received.count(k))
      delivered_but_lost.push_back(la.describe(ref));
  }
  INFO("acked offline, yet received: " << list(offline_but_received));
  CHECK(offline_but_received.empty());
  INFO("acked delivered, never received: " << list(delivered_but_lost));
  CHECK(delivered_but_lost.empty());

  // Leave in order: the live nodes first (their drains talk to the restarted master), then it.
  for (std::size_t k : {std::size_t{0}, std::size_t{2}}) c.node(k).process->terminate();
  for (std::size_t k : {std::size_t{0}, std::size_t{2}}) CHECK(c.node(k).process->wait_exit(ms(6000)) == 0);
  const auto problems = stop_checked(*master2, ms(3000));
  INFO("restarted master: " << list(problems));
  CHECK(problems.empty());
}

}  // namespace

TEST_CASE("faults: lookups right after a master restart wait for the nodes' replay instead of answering offline",
          "[integration][faults]") {
  // node-1 (the sender's) hears of the new master within 100 ms, node-2 (bob's) only within 1 s:
  // in between, the new master knows node-1 but not bob yet.
  const Timings t{3000, 1000, 2000};
  Cluster c(fast_cluster(2, t, {{"--heartbeat-ms", "100"}, {"--heartbeat-ms", "1000"}}));
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  Ledger la(alice), lb(bob);
  la.send("bob", tagged("m", 0), "m-0");
  REQUIRE(la.wait_all_acked(ms(3000)));
  REQUIRE(la.ack("m-0").status == "delivered");

  c.master().kill();
  REQUIRE(c.master().wait_exit(ms(2000)).has_value());
  auto master2 = restart_master(c, master_flags(t));
  // Sends for 2.5 s from the restart on, one every 10 ms: bob was connected all along.
  const auto start = Clock::now();
  int k = 1;
  while (Clock::now() - start < ms(2500)) {
    la.send("bob", tagged("m", k), "m-" + std::to_string(k));
    ++k;
    const auto next = start + ms(10) * k;
    la.pump_until([&] { return Clock::now() >= next; }, ms(20));
  }
  REQUIRE(la.wait_all_acked(ms(t.delivery_timeout_ms + 2000)));
  std::vector<std::string> offline;
  std::map<std::string, int> statuses;
  for (const auto& ref : la.sent()) {
    ++statuses[la.ack(ref).status];
    if (la.ack(ref).status == "offline") offline.push_back(la.describe(ref));
  }
  std::ostringstream counts;
  for (auto& [st, n] : statuses) counts << st << " " << n << "; ";
  WARN("after the master restart: " << counts.str());
  INFO("acked offline while bob was connected: " << list(offline));
  CHECK(offline.empty());
  CHECK(statuses["delivered"] > 0);

  c.node(0).process->terminate();
  c.node(1).process->terminate();
  CHECK(c.node(0).process->wait_exit(ms(6000)) == 0);
  CHECK(c.node(1).process->wait_exit(ms(6000)) == 0);
  const auto problems = stop_checked(*master2, ms(3000));
  INFO("restarted master: " << list(problems));
  CHECK(problems.empty());
}

TEST_CASE("faults: nodes the master declared dead for their silence come back without an offline ack for their users",
          "[integration][faults]") {
  // Both nodes freeze longer than node_timeout_ms: to the master it is as if it had been cut off
  // from all of them. node-1 (alice's, heartbeat 100 ms) thaws first and, flushed and replayed,
  // looks bob up while node-2 (bob's, heartbeat 1000 ms) is still frozen or has not replayed yet.
  // bob is connected all along: the master must not answer "no node" from the directory it
  // emptied, but hold the lookup until node-2 registered bob again (its recovery window reopens
  // when a node it declared dead speaks again).
  const Timings t{1000, 200, 2000};
  Cluster c(fast_cluster(2, t, {{"--heartbeat-ms", "100"}, {"--heartbeat-ms", "1000"}}));
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  Ledger la(alice), lb(bob);
  la.send("bob", tagged("m", 0), "m-0");
  REQUIRE(la.wait_all_acked(ms(3000)));
  REQUIRE(la.ack("m-0").status == "delivered");

  int k = 1;
  {
    Freeze f1(*c.node(0).process);
    Freeze f2(*c.node(1).process);
    // the master declares both dead and drops their sessions
    REQUIRE(poll_until(
        [&] {
          auto st = c.status_json();
          int alive = 0;
          for (const auto& n : st.at("nodes").as_array())
            if (n.as_object().at("alive").as_bool()) ++alive;
          return master_count(st, "sessions") == 0 && alive == 0;
        },
        ms(t.node_timeout_ms + margin_ms(3000))));
    f1.thaw();
    // node-1 runs alone for a while: alice keeps sending to bob, one every 10 ms
    const auto start = Clock::now();
    auto send_until = [&](ms until) {
      while (Clock::now() - start < until) {
        la.send("bob", tagged("m", k), "m-" + std::to_string(k));
        ++k;
        const auto next = start + ms(10) * k;
        la.pump_until([&] { return Clock::now() >= next; }, ms(20));
      }
    };
    send_until(ms(200));
    f2.thaw();
    send_until(ms(2500));
  }
  REQUIRE(la.wait_all_acked(ms(t.delivery_timeout_ms + margin_ms(2000))));
  std::vector<std::string> offline;
  std::map<std::string, int> statuses;
  for (const auto& ref : la.sent()) {
    ++statuses[la.ack(ref).status];
    if (la.ack(ref).status == "offline") offline.push_back(la.describe(ref));
  }
  std::ostringstream counts;
  for (auto& [st, n] : statuses) counts << st << " " << n << "; ";
  WARN("after both nodes came back: " << counts.str());
  INFO("acked offline while bob was connected: " << list(offline));
  CHECK(offline.empty());
  CHECK(statuses["delivered"] > 0);
  // and the last ones are delivered: the cluster is whole again
  CHECK(la.ack("m-" + std::to_string(k - 1)).status == "delivered");
}

TEST_CASE("faults: a dead, paused or restarted peer never stalls the sender's node (500 msgs/s)",
          "[integration][faults]") {
  run_faults(500);
}

TEST_CASE("faults: a dead, paused or restarted peer never stalls the sender's node (at the rate limit)",
          "[integration][faults]") {
  run_faults(1000);
}
