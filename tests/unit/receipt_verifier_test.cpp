// ReceiptVerifier on its own: the master is a function handing out lookup seqs, the clock a number
// passed in. Checks that receipts wait for the master's word, go only to an origin it lists at the
// DELIVER's address, and that every way out of the table is bounded and counted.
#include <catch2/catch.hpp>

#include <string>
#include <unordered_map>
#include <vector>

#include "proto/cluster_codec.h"
#include "routing/receipt_verifier.h"

namespace cluster = wsg::cluster;
using wsg::ReceiptVerifier;

namespace {

struct Fixture {
  Fixture()
      : verifier(1000, [this](const std::string& user, const std::string& origin) -> uint64_t {
          if (refuse) return 0;
          asked.push_back(user.empty() ? "node:" + origin : user);  // NODE_QUERY when no user
          return ++seq;
        }) {}
  static std::vector<cluster::ReceiptItem> receipts(int n) {
    std::vector<cluster::ReceiptItem> out;
    for (int i = 0; i < n; ++i) out.push_back({"m-" + std::to_string(i), cluster::ReceiptStatus::delivered});
    return out;
  }
  bool refuse = false;
  uint64_t seq = 100;
  std::vector<std::string> asked;
  std::unordered_map<std::string, std::string> peers;  // what the master named
  ReceiptVerifier verifier;
};

}  // namespace

TEST_CASE("receipt verifier: receipts wait for the master's word on their origin", "[receipt-verifier]") {
  Fixture f;
  f.verifier.hold("node-2", "tcp://127.0.0.1:92", "bob", Fixture::receipts(2), true, 0);
  f.verifier.hold("node-2", "tcp://127.0.0.1:92", "bob", Fixture::receipts(1), true, 0);
  REQUIRE(f.asked == std::vector<std::string>{"bob"});  // one lookup per origin
  CHECK(f.verifier.asked(101));
  CHECK(f.verifier.held_receipts() == 3);
  f.peers["node-2"] = "tcp://127.0.0.1:92";
  auto v = f.verifier.on_reply(101, f.peers);
  REQUIRE(v);
  CHECK(v->origin == "node-2");
  CHECK(v->events == "tcp://127.0.0.1:92");
  CHECK(v->receipts.size() == 3);
  CHECK(f.verifier.held_receipts() == 0);  // sent receipts no longer count against the bound
  CHECK(f.verifier.dropped() == 0);
  CHECK(f.verifier.origins() == 0);
  CHECK_FALSE(f.verifier.asked(101));

  // The master does not place the sender on that node: it is asked for the node itself (NODE_QUERY)
  // once; when it lists no such node (or another address) either: dropped, counted.
  f.verifier.hold("node-x", "tcp://127.0.0.1:7001", "mallory", Fixture::receipts(2), true, 0);
  CHECK_FALSE(f.verifier.on_reply(102, f.peers));
  CHECK(f.asked.back() == "node:node-x");
  CHECK(f.verifier.dropped() == 0);
  CHECK(f.verifier.held_receipts() == 2);
  CHECK_FALSE(f.verifier.asked(102));
  CHECK(f.verifier.asked(103));
  CHECK_FALSE(f.verifier.on_reply(103, f.peers));
  CHECK(f.verifier.dropped() == 2);
  CHECK(f.asked.size() == 3);  // not asked a third time
  f.verifier.hold("node-2", "tcp://127.0.0.1:666", "bob", Fixture::receipts(1), true, 0);
  CHECK_FALSE(f.verifier.on_reply(104, f.peers));
  CHECK_FALSE(f.verifier.on_reply(105, f.peers));
  CHECK(f.verifier.dropped() == 3);
  CHECK(f.verifier.origins() == 0);
}

TEST_CASE("receipt verifier: a sender the master cannot place is verified through its origin node",
          "[receipt-verifier]") {
  Fixture f;
  // A server API call's service name (no registered user): LOOKUP finds nobody, NODE_QUERY vouches.
  f.verifier.hold("node-5", "tcp://127.0.0.1:95", "server", Fixture::receipts(2), true, 0);
  CHECK_FALSE(f.verifier.on_reply(101, f.peers));
  REQUIRE(f.asked == std::vector<std::string>{"server", "node:node-5"});
  f.peers["node-5"] = "tcp://127.0.0.1:95";
  auto v = f.verifier.on_reply(102, f.peers);
  REQUIRE(v);
  CHECK(v->receipts.size() == 2);
  CHECK(f.verifier.dropped() == 0);
  CHECK(f.verifier.origins() == 0);
  // No sender at all (a USER_OP): NODE_QUERY at once.
  f.verifier.hold("node-6", "tcp://127.0.0.1:96", "", Fixture::receipts(1), true, 0);
  CHECK(f.asked.back() == "node:node-6");
  // The fallback keeps the first deadline: swept like any other.
  f.verifier.hold("node-7", "tcp://127.0.0.1:97", "x", Fixture::receipts(1), true, 10);
  CHECK_FALSE(f.verifier.on_reply(104, f.peers));  // node-7's LOOKUP: not placed, asks again (105)
  f.verifier.sweep(1009);
  CHECK(f.verifier.origins() == 1);  // node-6 (deadline 1000) swept, node-7 (1010) kept
  f.verifier.sweep(1010);
  CHECK(f.verifier.origins() == 0);
  CHECK(f.verifier.dropped() == 2);
}

TEST_CASE("receipt verifier: bounded and counted when the master cannot be asked", "[receipt-verifier]") {
  Fixture f;
  // The master away, or the link refusing the lookup: dropped at once.
  f.verifier.hold("node-2", "tcp://127.0.0.1:92", "bob", Fixture::receipts(2), false, 0);
  f.refuse = true;
  f.verifier.hold("node-2", "tcp://127.0.0.1:92", "bob", Fixture::receipts(3), true, 0);
  CHECK(f.verifier.dropped() == 5);
  CHECK(f.verifier.origins() == 0);
  f.refuse = false;

  // Unanswered past the timeout: dropped by the sweep, not before.
  f.verifier.hold("node-3", "tcp://127.0.0.1:93", "carol", Fixture::receipts(1), true, 0);
  f.verifier.sweep(999);
  CHECK(f.verifier.origins() == 1);
  f.verifier.sweep(1000);
  CHECK(f.verifier.origins() == 0);
  CHECK(f.verifier.dropped() == 6);

  // A full table evicts the oldest origin.
  for (std::size_t i = 0; i <= ReceiptVerifier::kMaxUnverifiedOrigins; ++i)
    f.verifier.hold("fake-" + std::to_string(i), "tcp://127.0.0.1:1", "mallory", Fixture::receipts(1), true, 0);
  CHECK(f.verifier.origins() == ReceiptVerifier::kMaxUnverifiedOrigins);
  CHECK(f.verifier.dropped() == 7);
  // A node that died: what it held is dropped.
  f.verifier.forget("fake-1");
  CHECK(f.verifier.dropped() == 8);
  CHECK(f.verifier.held_receipts() == ReceiptVerifier::kMaxUnverifiedOrigins - 1);
}
