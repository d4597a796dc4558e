// MasterSession on its own: a fake MasterLink and fake sessions, one io_context polled by the test
// (no sockets, no sleeps; the heartbeat is driven by calling on_heartbeat()). Checks the HELLO,
// the registration batches and their acks, the replay after an epoch change, and a refused batch
// waiting for the next heartbeat.
#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/master_session.h"

namespace asio = boost::asio;
namespace cluster = wsg::cluster;
using wsg::MasterSession;

namespace {

using wsg::fakes::FakeMaster;
using wsg::fakes::FakeSession;

constexpr uint64_t kEpoch = 7;

struct Fixture {
  explicit Fixture(std::string public_url = {})
      : session(asio::make_strand(ioc),
                MasterSession::Options{"node-1", 1, "ws://127.0.0.1:1", "tcp://127.0.0.1:1", 1000, 60000, 2,
                                       std::move(public_url)},
                master,
                MasterSession::Handlers{[this] { ++stale; },
                                        [this] {
                                          ++replays;
                                          for (auto& s : sessions) session.register_session(*s);
                                        },
                                        [this](const std::string& reason) { fatal.push_back(reason); },
                                        [this] {
                                          return MasterSession::Load{sessions.size(), 42};
                                        }},
                nullptr) {}
  void run() {
    ioc.restart();
    ioc.poll();
  }
  // Accepted by the master in `epoch`.
  void hello(uint64_t epoch = kEpoch) {
    session.on_hello_reply(cluster::HelloReply{epoch, true, {}});
    run();
  }
  std::shared_ptr<FakeSession> add(const std::string& n) {
    auto s = std::make_shared<FakeSession>("user-" + n, "s-" + n);
    sessions.push_back(s);
    session.add_session(*s, [this, id = s->session_id()] { welcomed.insert(id); });
    return s;
  }
  static std::set<std::string> ids(const std::vector<cluster::RegisterSessions>& batches) {
    std::set<std::string> out;
    for (auto& b : batches) {
      for (auto& r : b.sessions) out.insert(r.session);
    }
    return out;
  }

  asio::io_context ioc;
  FakeMaster master;
  std::vector<std::shared_ptr<FakeSession>> sessions;
  int stale = 0;
  int replays = 0;
  std::vector<std::string> fatal;
  std::set<std::string> welcomed;
  MasterSession session;
};

}  // namespace

TEST_CASE("master session: HELLO, then registrations in batches of register_batch", "[master-session]") {
  Fixture f;
  f.session.start();
  auto hellos = f.master.take<cluster::Hello>();
  REQUIRE(hellos.size() == 1);
  CHECK(hellos[0].node_id == "node-1");
  CHECK(hellos[0].events == "tcp://127.0.0.1:1");
  CHECK_FALSE(f.session.ready());
  f.hello();
  CHECK(f.session.registered());
  CHECK(f.session.ready());
  CHECK(f.stale == 1);  // a new master: no cached route is trusted
  CHECK(f.replays == 1);

  // register_batch is 2: full batches go at once, the rest at the turn's end.
  for (int i = 0; i < 5; ++i) f.add(std::to_string(i));
  CHECK(f.master.sent.size() == 2);
  f.run();
  auto regs = f.master.take<cluster::RegisterSessions>();
  REQUIRE(regs.size() == 3);
  CHECK(regs[0].sessions.size() == 2);
  CHECK(regs[2].sessions.size() == 1);
  CHECK(regs[0].seq < regs[1].seq);
  CHECK(regs[1].seq < regs[2].seq);
  CHECK(Fixture::ids(regs) == std::set<std::string>{"s-0", "s-1", "s-2", "s-3", "s-4"});

  // Welcomes wait for the master's ack of their batch.
  CHECK(f.welcomed.empty());
  f.session.on_ack(cluster::Ack{kEpoch, regs[0].seq, true});
  CHECK(f.welcomed == std::set<std::string>{"s-0", "s-1"});
  CHECK(f.session.pending_welcomes() == 3);

  // Registered and removed within one batch: neither message.
  auto gone = f.add("5");
  f.session.remove_session(*gone);
  f.run();
  CHECK(f.master.sent.empty());
  // Removed after its registration went: UNREGISTER.
  f.session.remove_session(*f.sessions[0]);
  f.run();
  auto unregs = f.master.take<cluster::UnregisterSessions>();
  REQUIRE(unregs.size() == 1);
  CHECK(unregs[0].sessions.at(0).session == "s-0");
  // A sequence shared with the Router's requests: the next one follows.
  CHECK(f.session.next_seq() == unregs[0].seq + 1);
}

TEST_CASE("master session: with node.public_url the node sends HELLO_PUBLIC (wire v5), else HELLO",
          "[master-session]") {
  Fixture f("wss://chat.example.com/ws");
  f.session.start();
  CHECK(f.master.sent_of<cluster::Hello>().empty());
  auto hellos = f.master.take<cluster::HelloPublic>();
  REQUIRE(hellos.size() == 1);
  CHECK(hellos[0] ==
        cluster::HelloPublic{"node-1", 1, "ws://127.0.0.1:1", "tcp://127.0.0.1:1", "wss://chat.example.com/ws"});
  f.hello();
  CHECK(f.session.ready());
  // After an epoch change it introduces itself again the same way.
  f.master.sent.clear();
  f.session.heard(kEpoch + 1);
  CHECK(f.master.sent_of<cluster::HelloPublic>().size() == 1);
  CHECK(f.master.sent_of<cluster::Hello>().empty());
}

TEST_CASE("master session: an epoch change makes the node HELLO again and replay every session", "[master-session]") {
  Fixture f;
  f.hello();
  for (int i = 0; i < 3; ++i) f.add(std::to_string(i));
  f.run();
  f.master.sent.clear();
  const int stale = f.stale;
  // Any message of another epoch: the master restarted.
  f.session.heard(kEpoch + 1);
  CHECK(f.master.take<cluster::Hello>().size() == 1);
  CHECK_FALSE(f.session.registered());
  CHECK_FALSE(f.session.ready());
  CHECK(f.stale == stale + 1);
  f.hello(kEpoch + 1);
  CHECK(f.session.epoch() == kEpoch + 1);
  CHECK(f.replays == 2);
  CHECK(Fixture::ids(f.master.take<cluster::RegisterSessions>()) == std::set<std::string>{"s-0", "s-1", "s-2"});
  // A duplicate reply changes nothing.
  f.hello(kEpoch + 1);
  CHECK(f.replays == 2);
  CHECK(f.master.sent.empty());
}

TEST_CASE("master session: a registration the link refuses waits for the next heartbeat", "[master-session]") {
  Fixture f;
  f.hello();
  f.master.refuse = true;
  f.add("0");
  f.run();
  CHECK(f.master.sent.empty());
  // The link accepts again, but nothing is retried before the heartbeat.
  f.master.refuse = false;
  f.run();
  CHECK(f.master.sent.empty());
  f.session.on_heartbeat();
  REQUIRE(f.master.sent.size() == 2);
  auto regs = std::get<cluster::RegisterSessions>(f.master.sent[0]);
  CHECK(regs.sessions.at(0).session == "s-0");
  auto hb = std::get<cluster::Heartbeat>(f.master.sent[1]);
  CHECK(hb.node_id == "node-1");
  CHECK(hb.sessions == 1);
  CHECK(hb.messages == 42);
  CHECK(f.welcomed.empty());
  f.session.on_ack(cluster::Ack{kEpoch, regs.seq, true});
  CHECK(f.welcomed == std::set<std::string>{"s-0"});
}

TEST_CASE("master session: welcomes without the master, refusals and forgotten nodes", "[master-session]") {
  Fixture f;
  // Not accepted yet: the welcome comes at once, nothing is registered (the replay will).
  f.add("0");
  f.run();
  CHECK(f.welcomed == std::set<std::string>{"s-0"});
  CHECK(f.master.sent.empty());
  f.hello();
  CHECK(Fixture::ids(f.master.take<cluster::RegisterSessions>()) == std::set<std::string>{"s-0"});
  // A welcome the master never acks is given after the delivery timeout.
  f.add("1");
  f.run();
  f.session.sweep_welcomes(MasterSession::steady_ms());
  CHECK(f.welcomed.count("s-1") == 0);
  f.session.sweep_welcomes(MasterSession::steady_ms() + 60001);
  CHECK(f.welcomed.count("s-1") == 1);
  // A master that no longer knows this node: HELLO again.
  f.master.sent.clear();
  f.session.on_heartbeat_reply(cluster::HeartbeatReply{kEpoch, false});
  CHECK(f.master.take<cluster::Hello>().size() == 1);
  CHECK_FALSE(f.session.registered());
  // A refused HELLO (duplicate id) is fatal, reported once.
  f.session.on_hello_reply(cluster::HelloReply{kEpoch, false, "duplicate node id"});
  f.session.on_hello_reply(cluster::HelloReply{kEpoch, false, "duplicate node id"});
  CHECK(f.fatal == std::vector<std::string>{"duplicate node id"});
}
