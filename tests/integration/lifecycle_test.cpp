// Process life cycle: SIGTERM and a duplicate node id (docs/architecture.md, "Failures").
#include "test_util.h"

using namespace wsg::it;

TEST_CASE("SIGTERM drains a node with 1001 and master and node exit 0", "[integration]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");

  c.node(0).process->terminate();
  auto close = alice->expect_close(6000ms);
  REQUIRE(close.has_value());
  CHECK(close->code == 1001);
  CHECK(close->reason == "drain");
  auto code = c.node(0).process->wait_exit(6000ms);  // node.shutdown_timeout_ms is 5000
  REQUIRE(code.has_value());
  CHECK(*code == 0);

  // its sessions were unregistered: alice is offline for bob
  bool gone = poll_until([&] { return master_count(c.status_json(), "sessions") == 1; }, 3000ms);
  CHECK(gone);
  bob->send_json(send_frame("alice", "still there?", "q1"));
  auto a = expect_frame(*bob, "ack");
  INFO("ack: " << dump(a));
  CHECK(str(a, "ref") == "q1");
  CHECK(str(a, "status") == "offline");

  // and she can reconnect to the other node
  auto alice2 = join(c, 1, "alice");
  bob->send_json(send_frame("alice", "welcome back", "q2"));
  expect_ack(*bob, "q2", "delivered");

  bob->close();
  alice2->close();
  c.node(1).process->terminate();
  auto code2 = c.node(1).process->wait_exit(6000ms);
  REQUIRE(code2.has_value());
  CHECK(*code2 == 0);
  c.master().terminate();
  auto mcode = c.master().wait_exit(3000ms);
  REQUIRE(mcode.has_value());
  CHECK(*mcode == 0);
}

TEST_CASE("a second node with an id already in use exits non-zero", "[integration]") {
  Cluster c(1);
  const uint16_t ws = free_port();
  const uint16_t ev = free_port();
  const auto log = test_dir() / "duplicate-node-1.log";
  register_log(log);
  Process dup("duplicate", wsg_binary(),
              {"node", "--id", "node-1", "--listen", "127.0.0.1:" + std::to_string(ws), "--master", c.master_addr(),
               "--events-bind", "tcp://127.0.0.1:" + std::to_string(ev)},
              log);
  auto code = dup.wait_exit(8000ms);
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  CHECK(*code < 128);  // an orderly exit, not a crash
  // the first node is untouched
  join(c, 0, "alice");
  auto st = c.status_json();
  CHECK(st.at("nodes").as_array().size() == 1);
}
