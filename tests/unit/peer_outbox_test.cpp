// PeerOutbox on its own: a fake PeerLink, one io_context polled by the test (no sockets, no
// sleeps, coalescing off so a flush is one post). Checks where batches are cut, that a strand
// turn sends one message per peer and kind, and that a refused DELIVER comes back to the owner.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
#include "routing/outgoing.h"
#include "routing/peer_link.h"
#include "routing/peer_outbox.h"

namespace asio = boost::asio;
namespace cluster = wsg::cluster;
using wsg::Outgoing;
using wsg::PeerOutbox;

namespace {

using wsg::fakes::FakePeers;

struct Refused {
  std::string node;
  std::vector<std::shared_ptr<Outgoing>> outs;
};

struct Fixture {
  Fixture()
      : outbox(
            asio::make_strand(ioc), PeerOutbox::Options{"node-1", "tcp://127.0.0.1:1", std::chrono::microseconds(0)},
            peers,
            [this](const std::string& node, std::vector<std::shared_ptr<Outgoing>> outs) {
              refused.push_back({node, std::move(outs)});
            },
            nullptr) {}
  void run() {
    ioc.restart();
    ioc.poll();
  }
  static std::shared_ptr<Outgoing> message(int n, std::size_t body_bytes = 8) {
    auto out = std::make_shared<Outgoing>();
    out->seq = static_cast<uint64_t>(n);
    out->id = "1-" + std::to_string(n);
    out->from = "alice";
    out->to = "bob";
    out->body = std::string(body_bytes, 'x');
    return out;
  }

  asio::io_context ioc;
  FakePeers peers;
  std::vector<Refused> refused;
  PeerOutbox outbox;
};

const std::string kNode2 = "tcp://127.0.0.1:92";
const std::string kNode3 = "tcp://127.0.0.1:93";

}  // namespace

TEST_CASE("outbox: a DELIVER batch is cut at kOutboxItems items", "[outbox]") {
  Fixture f;
  const int n = 2 * static_cast<int>(PeerOutbox::kOutboxItems) + 76;
  for (int i = 0; i < n; ++i) f.outbox.queue_deliver("node-2", kNode2, Fixture::message(i));
  // Two full batches went at once, within the turn; the rest waits for its end.
  REQUIRE(f.peers.sent.size() == 2);
  CHECK(f.peers.deliver_items(0) == PeerOutbox::kOutboxItems);
  CHECK(f.peers.deliver_items(1) == PeerOutbox::kOutboxItems);
  f.run();
  REQUIRE(f.peers.sent.size() == 3);
  CHECK(f.peers.deliver_items(2) == 76);
  // In queue order, from this node, to the peer's address.
  const auto& d = std::get<cluster::Deliver>(f.peers.sent[0].message);
  CHECK(d.origin_node == "node-1");
  CHECK(d.origin_events == "tcp://127.0.0.1:1");
  CHECK(d.items.front().msg_id == "1-0");
  CHECK(f.peers.sent[0].events == kNode2);
  CHECK(f.outbox.delivered_items() == static_cast<uint64_t>(n));
  CHECK(f.outbox.queued_peers() == 0);
}

TEST_CASE("outbox: a DELIVER batch is cut at kOutboxBytes bytes", "[outbox]") {
  Fixture f;
  // Bodies of a quarter of the bound: the fourth item brings the batch over it.
  const std::size_t body = PeerOutbox::kOutboxBytes / 4;
  for (int i = 0; i < 5; ++i) f.outbox.queue_deliver("node-2", kNode2, Fixture::message(i, body));
  REQUIRE(f.peers.sent.size() == 1);
  CHECK(f.peers.deliver_items(0) == 4);
  f.run();
  REQUIRE(f.peers.sent.size() == 2);
  CHECK(f.peers.deliver_items(1) == 1);
}

TEST_CASE("outbox: one message per peer and kind per strand turn", "[outbox]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.outbox.queue_deliver("node-2", kNode2, Fixture::message(i));
  for (int i = 3; i < 5; ++i) f.outbox.queue_deliver("node-3", kNode3, Fixture::message(i));
  f.outbox.queue_receipt("node-2", kNode2, {"2-1", cluster::ReceiptStatus::delivered});
  f.outbox.queue_receipt("node-2", kNode2, {"2-2", cluster::ReceiptStatus::not_here});
  CHECK(f.peers.sent.empty());  // nothing before the turn's end
  CHECK(f.outbox.queued_peers() == 2);
  f.run();
  REQUIRE(f.peers.sent.size() == 3);
  std::size_t delivers = 0, receipts = 0;
  for (auto& s : f.peers.sent) {
    if (auto* d = std::get_if<cluster::Deliver>(&s.message)) {
      ++delivers;
      CHECK(d->items.size() == (s.node == "node-2" ? 3u : 2u));
    } else if (auto* r = std::get_if<cluster::Receipt>(&s.message)) {
      ++receipts;
      CHECK(s.node == "node-2");
      CHECK(r->origin_node == "node-1");
      CHECK(r->items.size() == 2);
    }
  }
  CHECK(delivers == 2);
  CHECK(receipts == 1);
  // Receipts also go at once when a batch is full.
  for (std::size_t i = 0; i < PeerOutbox::kOutboxItems; ++i)
    f.outbox.queue_receipt("node-3", kNode3, {"3-" + std::to_string(i), cluster::ReceiptStatus::delivered});
  REQUIRE(f.peers.sent.size() == 4);
  CHECK(std::get<cluster::Receipt>(f.peers.sent[3].message).items.size() == PeerOutbox::kOutboxItems);
}

TEST_CASE("outbox: a DELIVER batch the link refuses is reported back, not counted", "[outbox]") {
  Fixture f;
  f.peers.refuse = true;
  auto a = Fixture::message(1);
  auto b = Fixture::message(2);
  f.outbox.queue_deliver("node-2", kNode2, a);
  f.outbox.queue_deliver("node-2", kNode2, b);
  f.run();
  REQUIRE(f.refused.size() == 1);
  CHECK(f.refused[0].node == "node-2");
  CHECK(f.refused[0].outs == std::vector<std::shared_ptr<Outgoing>>{a, b});
  CHECK(f.outbox.delivered_items() == 0);
  CHECK(f.outbox.queued_peers() == 0);
  // Accepted again: counted.
  f.peers.refuse = false;
  f.outbox.queue_deliver("node-2", kNode2, Fixture::message(3));
  f.run();
  CHECK(f.refused.size() == 1);
  CHECK(f.outbox.delivered_items() == 1);
}

TEST_CASE("outbox: a peer that moved or died", "[outbox]") {
  Fixture f;
  // Moved: what was queued for the old address goes there first.
  f.outbox.queue_deliver("node-2", kNode2, Fixture::message(1));
  f.outbox.queue_deliver("node-2", "tcp://127.0.0.1:99", Fixture::message(2));
  REQUIRE(f.peers.sent.size() == 1);
  CHECK(f.peers.sent[0].events == kNode2);
  f.run();
  REQUIRE(f.peers.sent.size() == 2);
  CHECK(f.peers.sent[1].events == "tcp://127.0.0.1:99");
  // Died: its queued deliveries come back unsent, its link is dropped, nothing goes out.
  auto c = Fixture::message(3);
  f.outbox.queue_deliver("node-2", kNode2, c);
  f.outbox.queue_receipt("node-2", kNode2, {"2-9", cluster::ReceiptStatus::delivered});
  CHECK(f.outbox.drop_peer("node-2") == std::vector<std::shared_ptr<Outgoing>>{c});
  CHECK(f.peers.dropped == std::vector<std::string>{"node-2"});
  f.run();
  CHECK(f.peers.sent.size() == 2);
}
