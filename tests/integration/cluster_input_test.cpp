// No cluster input may crash or exhaust a process: a raw ZeroMQ socket, as anyone who reaches a
// cluster port could open, sends the master and a node what no wsg process would, and the test
// checks the processes stay up, bounded and readable. docs/security.md ("Cluster links") lists the
// bounds these tests pin.
#include "cluster_ops.h"
#include "test_util.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

#include <zmq.hpp>

#include "proto/cluster_codec.h"

using namespace wsg::it;
using namespace wsg::it::ops;
namespace cluster = wsg::cluster;

namespace {

// VmRSS of a process in KiB (-1 when unreadable).
int64_t rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Open file descriptors of a process.
int fd_count(int pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) ++n;
  closedir(d);
  return n - 2;  // . and ..
}

// A raw socket of `type` connected to `endpoint`, with a monitor that reports disconnections.
struct RawSocket {
  zmq::context_t ctx{1};
  zmq::socket_t socket;
  zmq::socket_t monitor;
  RawSocket(zmq::socket_type type, const std::string& endpoint, const std::string& name)
      : socket(ctx, type), monitor(ctx, zmq::socket_type::pair) {
    socket.set(zmq::sockopt::linger, 0);
    const std::string addr = "inproc://monitor-" + name;
    REQUIRE(zmq_socket_monitor(socket.handle(), addr.c_str(), ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) == 0);
    monitor.connect(addr);
    socket.connect(endpoint);
  }
  // Waits for a monitor event of `kind`; false at the deadline.
  bool wait_event(uint16_t kind, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      zmq::message_t event, address;
      while (monitor.recv(event, zmq::recv_flags::dontwait)) {
        (void)monitor.recv(address, zmq::recv_flags::dontwait);
        uint16_t got = 0;
        std::memcpy(&got, event.data(), sizeof got);
        if (got == kind) return true;
      }
    }
    return false;
  }
  void send(const std::string& bytes) { REQUIRE(socket.send(zmq::buffer(bytes), zmq::send_flags::none)); }
};

bool status_ok(Cluster& c) {
  auto r = c.run_status({"--json"}, 5000ms);
  return r.exit_code == std::optional<int>(0);
}

}  // namespace

TEST_CASE("cluster input: two HELLOs with a 4,090-byte node id do not stop the master",
          "[integration][cluster_input]") {
  Cluster c(0);
  RawSocket dealer(zmq::socket_type::dealer, c.master_addr(), "hello");
  const std::string id(4090, 'n');
  dealer.send(cluster::encode(cluster::Hello{"x", 1, "ws://127.0.0.1:1/ws", "tcp://127.0.0.1:2"}).value());
  // Hand-made: encode() itself refuses an id this long now.
  auto hello = [&](uint64_t incarnation) {
    std::string b{char(cluster::kWireVersion), char(cluster::Type::hello)};
    auto le = [&b](uint64_t v, int n) {
      for (int i = 0; i < n; ++i) b += char(v >> (8 * i));
    };
    le(id.size(), 4);
    b += id;
    le(incarnation, 8);
    for (const std::string s : {"ws://127.0.0.1:1/ws", "tcp://127.0.0.1:2"}) {
      le(s.size(), 4);
      b += s;
    }
    return b;
  };
  dealer.send(hello(1));
  dealer.send(hello(2));
  REQUIRE(status_ok(c));  // the master answered after both HELLOs
  CHECK(c.master().running());
}

TEST_CASE("cluster input: a HELLO with invalid UTF-8 or control characters leaves status readable and the log clean",
          "[integration][cluster_input]") {
  Cluster c(1);
  RawSocket dealer(zmq::socket_type::dealer, c.master_addr(), "utf8");
  auto hello = [](const std::string& id, const std::string& events) {
    std::string b{char(cluster::kWireVersion), char(cluster::Type::hello)};
    auto str = [&b](const std::string& s) {
      for (int i = 0; i < 4; ++i) b += char(s.size() >> (8 * i));
      b += s;
    };
    str(id);
    for (int i = 0; i < 8; ++i) b += char(7);
    str("ws://127.0.0.1:1/ws");
    str(events);
    return b;
  };
  dealer.send(hello("evil", "tcp://127.0.0.1:9\xff\xfe"));
  dealer.send(hello("forged\n[2026-01-01 00:00:00.000] [info] [master] node node-9 joined", "tcp://127.0.0.1:9"));
  dealer.send(hello("ansi\x1b[2J", "tcp://127.0.0.1:9"));
  // The status after the HELLOs is the readable table (it parses the master's JSON) and the JSON.
  auto table = c.run_status({}, 5000ms);
  INFO(table.out << table.err);
  REQUIRE(table.exit_code == std::optional<int>(0));
  const auto doc = c.status_json();
  CHECK(find_node(doc, "evil") == nullptr);
  for (const auto& line : own_log_lines(c.master().log())) {
    INFO(line);
    CHECK(line.find("node node-9 joined") == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
  }
}

TEST_CASE("cluster input: a 64 MiB message to the master or to a node's PULL is refused before it is buffered",
          "[integration][cluster_input]") {
  Cluster c(1);
  c.wait_node_ready(0);
  const std::string big(64u << 20, 'x');
  struct Target {
    const char* name;
    int pid;
    std::string endpoint;
    zmq::socket_type type;
  };
  const std::vector<Target> targets = {
      {"master", c.master().pid(), c.master_addr(), zmq::socket_type::dealer},
      {"node PULL", c.node(0).process->pid(), "tcp://127.0.0.1:" + std::to_string(c.node(0).events_port),
       zmq::socket_type::push}};
  for (const auto& t : targets) {
    INFO(t.name);
    const int64_t before = rss_kib(t.pid);
    REQUIRE(before > 0);
    RawSocket raw(t.type, t.endpoint, t.name[0] == 'm' ? "big-master" : "big-node");
    REQUIRE(raw.wait_event(ZMQ_EVENT_CONNECTED, 5000ms));
    raw.send(big);
    // The receiver drops the connection as soon as the frame's declared size is over its bound.
    CHECK(raw.wait_event(ZMQ_EVENT_DISCONNECTED, 10000ms));
    const int64_t after = rss_kib(t.pid);
    INFO("VmRSS " << before << " KiB -> " << after << " KiB");
    CHECK(after - before < 16 * 1024);
  }
  CHECK(status_ok(c));
  CHECK(c.node(0).process->running());
  CHECK(http_get(c.ws_port(0), "/healthz").status == 200);
}

TEST_CASE("cluster input: DELIVERs from 1,100 made-up origins leave a node's sockets bounded and its real peer served",
          "[integration][cluster_input]") {
  Cluster c(2);
  c.wait_node_ready(0);
  c.wait_node_ready(1);
  auto bob = join(c, 1, "bob");
  auto alice = join(c, 0, "alice");
  const int pid = c.node(1).process->pid();
  const int fds_before = fd_count(pid);
  REQUIRE(fds_before > 0);
  {
    RawSocket push(zmq::socket_type::push, "tcp://127.0.0.1:" + std::to_string(c.node(1).events_port), "origins");
    REQUIRE(push.wait_event(ZMQ_EVENT_CONNECTED, 5000ms));
    for (int i = 0; i < 1100; ++i) {
      // Each names an origin whose events address nobody listens on: every receipt needs a PUSH.
      const std::string n = std::to_string(i);
      push.send(cluster::encode(cluster::Deliver{"fake-" + n,
                                                 "tcp://127.0.0.1:" + std::to_string(1 + i),
                                                 {{"fake-msg-" + n, "mallory", "ghost", 0, "{}"}}})
                    .value());
    }
    // Every DELIVER was handled once the node counted 1,100 `not_here` results (no "ghost" here).
    const bool handled = poll_until(
        [&] {
          auto m = http_get(c.ws_port(1), "/metrics");
          const std::string key = "\nwsg_deliveries_received_total{result=\"not_here\"} ";
          const auto at = m.body.find(key);
          return at != std::string::npos && std::stoll(m.body.substr(at + key.size())) >= 1100;
        },
        20000ms);
    CHECK(handled);
    // None of the made-up origins is a node the master knows: their receipts were dropped and
    // counted, and not one socket was opened for them (ZmqLinks' own bound, 128 peer sockets
    // with LRU eviction, is the second line: tests/unit/zmq_links_test.cpp).
    // (The last ones are dropped once the master answers their senders' lookups.)
    HttpResponse m;
    const std::string dropped = "\nwsg_bound_hits_total{bound=\"unverified_receipts\"} ";
    CHECK(poll_until(
        [&] {
          m = http_get(c.ws_port(1), "/metrics");
          const auto at = m.body.find(dropped);
          return at != std::string::npos && std::stoll(m.body.substr(at + dropped.size())) >= 1100;
        },
        10000ms));
    const std::string evictions = "\nwsg_zmq_peer_evictions_total ";
    const auto ev = m.body.find(evictions);
    REQUIRE(ev != std::string::npos);
    CHECK(std::stoll(m.body.substr(ev + evictions.size())) == 0);
  }
  INFO("fds " << fds_before << " -> " << fd_count(pid));
  CHECK(fd_count(pid) < fds_before + 16);
  // The real peer still gets its messages delivered both ways.
  alice->send_json(send_frame("bob", json::value{{"n", 1}}, std::string("a1")));
  expect_ack(*alice, "a1", "delivered");
  expect_frame(*bob, "message");
  bob->send_json(send_frame("alice", json::value{{"n", 2}}, std::string("b1")));
  expect_ack(*bob, "b1", "delivered");
  expect_frame(*alice, "message");
  CHECK(c.node(1).process->running());
}
