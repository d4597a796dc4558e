// Router::Options::on_undelivered, the node's message.undelivered webhook: called once per send
// that settles offline or failed, with or without a client id, never for a delivered one.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
#include "routing/router.h"

namespace cluster = wsg::cluster;

namespace {

struct Undelivered {
  std::string id, from, to, body, reason;
  wsg::proto::AckStatus status;
};

}  // namespace

TEST_CASE("router: on_undelivered fires once for offline and failed sends, with or without an id",
          "[router][webhook]") {
  constexpr uint64_t kEpoch = 7;
  boost::asio::io_context ioc;
  wsg::fakes::FakeMaster master;
  wsg::fakes::FakePeers peers;
  std::vector<Undelivered> seen;
  wsg::Router::Options o;
  o.node_id = "node-1";
  o.incarnation = 1;
  o.events = "tcp://127.0.0.1:1";
  o.delivery_timeout_ms = 60000;
  o.outbox_coalesce = std::chrono::microseconds(0);
  o.on_undelivered = [&](const wsg::Outgoing& out, wsg::proto::AckStatus status, std::string_view reason) {
    seen.push_back({out.id, out.from, out.to, out.body, std::string(reason), status});
  };
  auto router = std::make_shared<wsg::Router>(ioc, o, master, peers, [](const std::string&) {});
  const auto run = [&] {
    ioc.restart();
    ioc.poll();
  };
  router->on_master_messages({cluster::HelloReply{kEpoch, true, {}}});
  run();
  auto alice = std::make_shared<wsg::fakes::FakeSession>("alice", "s-alice");
  auto bob = std::make_shared<wsg::fakes::FakeSession>("bob", "s-bob");
  router->add_session(alice, [] {});
  router->add_session(bob, [] {});
  run();

  // Delivered locally: nothing.
  router->send(alice, wsg::proto::SendFrame{"bob", R"({"t":1})", std::string("m1")});
  run();
  CHECK(seen.empty());
  master.take_lookups();  // whatever the local delivery asked (not this test's business)

  // To an offline user, without an id: once, offline, no reason, the body as sent.
  router->send(alice, wsg::proto::SendFrame{"carol", R"({"t":2})", std::nullopt});
  run();
  auto lookups = master.take_lookups();
  REQUIRE(lookups.size() == 1);
  router->on_master_messages({cluster::LookupReply{kEpoch, lookups[0].seq, "carol", {}}});
  run();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].status == wsg::proto::AckStatus::offline);
  CHECK(seen[0].from == "alice");
  CHECK(seen[0].to == "carol");
  CHECK(seen[0].body == R"({"t":2})");
  CHECK(seen[0].reason.empty());
  CHECK(!seen[0].id.empty());

  // Handed to a node that dies, and the user is gone: failed (node_down), once.
  router->send(alice, wsg::proto::SendFrame{"dave", R"({"t":3})", std::string("m3")});
  run();
  lookups = master.take_lookups();
  REQUIRE(lookups.size() == 1);
  router->on_master_messages(
      {cluster::LookupReply{kEpoch, lookups[0].seq, "dave", {cluster::NodeAddr{"node-2", "tcp://127.0.0.1:92"}}}});
  run();
  router->on_master_messages({cluster::NodeDown{kEpoch, "node-2"}});
  run();
  lookups = master.take_lookups();
  REQUIRE(lookups.size() == 1);
  router->on_master_messages({cluster::LookupReply{kEpoch, lookups[0].seq, "dave", {}}});
  run();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].status == wsg::proto::AckStatus::failed);
  CHECK(seen[1].reason == "node_down");
  CHECK(seen[1].to == "dave");
}
