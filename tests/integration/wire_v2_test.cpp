// Cluster wire version 2 (docs/wire-encoding.md, "Versioning"): the master answers a LOOKUP_BATCH
// in one LOOKUP_BATCH_REPLY beside plain LOOKUPs, and nodes configured with
// cluster.wire_version = 2 send the lookups they start together in one batch and still deliver
// every message with the right ack.
#include "cluster_ops.h"

#include <map>

#include <zmq.hpp>

#include "proto/cluster_codec.h"

using namespace wsg::it;
using namespace wsg::it::ops;
namespace cluster = wsg::cluster;

namespace {

// A synthetic node on a raw DEALER: what a node with cluster.wire_version = 2 sends, by hand.
struct RawNode {
  zmq::context_t ctx{1};
  zmq::socket_t socket{ctx, zmq::socket_type::dealer};
  explicit RawNode(const std::string& master) {
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(master);
  }
  void send(const cluster::Message& m) {
    const auto bytes = cluster::encode(m);
    REQUIRE(bytes.has_value());
    REQUIRE(socket.send(zmq::buffer(*bytes), zmq::send_flags::none));
  }
  // The next message and its raw bytes; nullopt at the deadline.
  std::optional<std::pair<cluster::Message, std::string>> next(ms timeout = ms(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, ms(50));
      zmq::message_t msg;
      if (!socket.recv(msg, zmq::recv_flags::dontwait)) continue;
      std::string bytes(msg.data<char>(), msg.size());
      auto m = cluster::decode(bytes);
      REQUIRE(m.has_value());
      return std::make_pair(std::move(*m), std::move(bytes));
    }
    return std::nullopt;
  }
};

std::vector<std::string> ids(const std::vector<cluster::NodeAddr>& nodes) {
  std::vector<std::string> out;
  for (auto& n : nodes) out.push_back(n.id);
  std::sort(out.begin(), out.end());
  return out;
}

// One sample of the master's /metrics (0 when the series is missing).
double master_metric(uint16_t port, const std::string& series) {
  auto r = http_get(port, "/metrics");
  REQUIRE(r.status == 200);
  const auto at = r.body.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(r.body.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("wire v2: the master answers a LOOKUP_BATCH in one LOOKUP_BATCH_REPLY, and a LOOKUP as before",
          "[integration][wire_v2]") {
  Cluster c(2);
  auto bob = join(c, 0, "bob");
  auto carol1 = join(c, 0, "carol");
  auto carol2 = join(c, 1, "carol");

  RawNode probe(c.master_addr());
  probe.send(cluster::Hello{"probe", 1, "ws://127.0.0.1:1/ws", "tcp://127.0.0.1:2"});
  auto hello = probe.next();
  REQUIRE(hello.has_value());
  REQUIRE(std::get<cluster::HelloReply>(hello->first).accepted);

  probe.send(cluster::LookupBatch{{{11, "bob"}, {12, "carol"}, {13, "nobody"}}});
  // bob and carol are answered in the batch's reply. "nobody" is too, or, while the master is in
  // its recovery window after start, later by a plain LOOKUP_REPLY with its own seq.
  std::map<uint64_t, std::vector<std::string>> answers;
  bool batch_reply = false;
  while (answers.size() < 3) {
    auto m = probe.next();
    REQUIRE(m.has_value());
    if (auto* r = std::get_if<cluster::LookupBatchReply>(&m->first)) {
      REQUIRE_FALSE(batch_reply);  // one reply for the batch
      batch_reply = true;
      CHECK(m->second[0] == '\x02');  // a v2 type carries version 2
      for (auto& result : r->results) {
        std::vector<cluster::NodeAddr> nodes;
        for (uint32_t i : result.nodes) nodes.push_back(r->nodes.at(i));
        answers[result.seq] = ids(nodes);
      }
      CHECK(r->nodes.size() == 2);  // node-1 named once, though both bob and carol are there
    } else if (auto* one = std::get_if<cluster::LookupReply>(&m->first)) {
      CHECK(one->seq == 13);
      answers[one->seq] = ids(one->nodes);
    }
  }
  CHECK(batch_reply);
  CHECK(answers[11] == std::vector<std::string>{"node-1"});
  CHECK(answers[12] == (std::vector<std::string>{"node-1", "node-2"}));
  CHECK(answers[13].empty());

  probe.send(cluster::Lookup{14, "carol"});
  std::optional<std::pair<cluster::Message, std::string>> m;
  do {
    m = probe.next();
    REQUIRE(m.has_value());
  } while (!std::holds_alternative<cluster::LookupReply>(m->first));
  const auto& reply = std::get<cluster::LookupReply>(m->first);
  CHECK(m->second[0] == '\x01');  // v1 types keep version 1
  CHECK(reply.seq == 14);
  CHECK(ids(reply.nodes) == (std::vector<std::string>{"node-1", "node-2"}));
}

TEST_CASE(
    "wire v2: nodes with cluster.wire_version = 2 batch the lookups they start together and deliver every message",
    "[integration][wire_v2]") {
  // One I/O thread on node-1, so that the sends that reach it together are handled in one run of
  // the router's queue: their lookups go out in one LOOKUP_BATCH.
  const auto config = write_file("wire-v2.toml", "[cluster]\nwire_version = 2\n");
  const uint16_t mport = free_port();
  ClusterOptions o;
  o.nodes = 2;
  o.node_specs = {NodeSpec{"", {"--config", config.string(), "--threads", "1"}},
                  NodeSpec{"", {"--config", config.string()}}};
  o.master_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)};
  Cluster c(o);

  constexpr int kUsers = 24;
  std::vector<Session> senders, recipients;
  for (int i = 0; i < kUsers; ++i) {
    senders.push_back(join(c, 0, "s" + std::to_string(i)));
    recipients.push_back(join(c, 1, "r" + std::to_string(i)));
  }
  const double batches_before = master_metric(mport, "wsg_master_requests_total{type=\"lookup_batch\"}");

  // Every sender's frame is in node-1's socket buffers before node-1 runs again.
  std::size_t bytes = 0;
  {
    Freeze frozen(*c.node(0).process);
    for (int i = 0; i < kUsers; ++i) {
      const auto frame = send_frame("r" + std::to_string(i), json::value(i), "m" + std::to_string(i));
      bytes += json::serialize(frame).size() + 6;  // client frames: 2-byte header + 4-byte mask
      senders[static_cast<std::size_t>(i)]->send_json(frame);
    }
    REQUIRE(poll_until([&] { return tcp_unread_bytes(c.ws_port(0)) >= static_cast<int64_t>(bytes); }, 5000ms));
  }
  for (int i = 0; i < kUsers; ++i) {
    expect_ack(*senders[static_cast<std::size_t>(i)], "m" + std::to_string(i), "delivered");
    auto msg = expect_frame(*recipients[static_cast<std::size_t>(i)], "message");
    CHECK(str(msg, "from") == "s" + std::to_string(i));
  }
  // The lookups went out in batches (the master's sample is at most a loop tick old: poll).
  CHECK(poll_until(
      [&] { return master_metric(mport, "wsg_master_requests_total{type=\"lookup_batch\"}") >= batches_before + 1; },
      3000ms));
}
