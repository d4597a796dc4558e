// MasterSet on its own: one fake MasterLink per master, fake sessions, one io_context polled by the
// test (no sockets; the heartbeat is never started). Checks that registrations go to every master
// and a welcome waits for each reachable one, that a replay goes to the master that asked for it,
// that reads go to one master (spread by key, settled masters first), are hedged and confirmed on
// another, and that answers to a master's own requests go back to it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "fake_links.h"
#include "proto/cluster_codec.h"
#include "routing/master_link.h"
#include "routing/master_session.h"
#include "routing/master_set.h"

namespace asio = boost::asio;
namespace cluster = wsg::cluster;
using wsg::MasterSession;
using wsg::MasterSet;

namespace {

using wsg::fakes::FakeMaster;
using wsg::fakes::FakeSession;

// Master i's epoch.
uint64_t epoch_of(std::size_t i) { return 100 + i; }

struct Fixture {
  // `n` masters. The heartbeat (never started here) is 10 s, so a master heard from counts as
  // reachable for 30 s; the delivery timeout is 60 s, so hedge_ms() is its cap, 500 ms.
  explicit Fixture(std::size_t n) {
    std::vector<wsg::MasterLink*> links;
    for (std::size_t i = 0; i < n; ++i) {
      masters.push_back(std::make_unique<FakeMaster>());
      links.push_back(masters.back().get());
    }
    set = std::make_unique<MasterSet>(
        asio::make_strand(ioc),
        MasterSession::Options{"node-1", 1, "ws://127.0.0.1:1", "tcp://127.0.0.1:1", 10000, 60000, 1000, {}}, links,
        MasterSet::Handlers{[this] { ++stale; },
                            [this] {
                              ++replays;
                              for (auto& s : sessions) set->register_session(*s);
                            },
                            [this](const std::string& reason) { fatal.push_back(reason); },
                            [this] {
                              return MasterSession::Load{sessions.size(), 0};
                            }},
        nullptr);
  }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  // Master i accepts this node (HELLO_REPLY) in `epoch` (its own by default).
  void accept(std::size_t i, uint64_t epoch = 0) {
    set->begin(i);
    set->on_hello_reply(cluster::HelloReply{epoch ? epoch : epoch_of(i), true, {}});
    run();
  }
  std::shared_ptr<FakeSession> add(const std::string& n) {
    auto s = std::make_shared<FakeSession>("user-" + n, "s-" + n);
    sessions.push_back(s);
    set->add_session(*s, [this, id = s->session_id()] { welcomed.push_back(id); });
    return s;
  }
  // Master i ACKs every REGISTER it got so far.
  void ack_registers(std::size_t i, uint64_t epoch = 0) {
    for (auto& r : masters[i]->sent_of<cluster::RegisterSessions>()) {
      set->begin(i);
      set->on_ack(cluster::Ack{epoch ? epoch : epoch_of(i), r.seq, true});
    }
  }
  void clear() {
    for (auto& m : masters) m->sent.clear();
  }
  // The session ids of every REGISTER master i got.
  std::set<std::string> registered_at(std::size_t i) const {
    std::set<std::string> out;
    for (auto& r : masters[i]->sent_of<cluster::RegisterSessions>()) {
      for (auto& ref : r.sessions) out.insert(ref.session);
    }
    return out;
  }
  // The masters that got a LOOKUP with `seq`, as many times as they got it.
  std::vector<std::size_t> asked(uint64_t seq) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < masters.size(); ++i) {
      for (auto& l : masters[i]->sent_of<cluster::Lookup>()) {
        if (l.seq == seq) out.push_back(i);
      }
    }
    return out;
  }
  std::size_t sent_total() const {
    std::size_t n = 0;
    for (auto& m : masters) n += m->sent.size();
    return n;
  }
  // Sends LOOKUP for `user` and returns its seq.
  uint64_t lookup(const std::string& user) {
    const uint64_t seq = set->next_seq();
    REQUIRE(set->send(cluster::Lookup{seq, user}));
    return seq;
  }

  asio::io_context ioc;
  std::vector<std::unique_ptr<FakeMaster>> masters;
  std::vector<std::shared_ptr<FakeSession>> sessions;
  int stale = 0;
  int replays = 0;
  std::vector<std::string> fatal;
  std::vector<std::string> welcomed;
  std::unique_ptr<MasterSet> set;
};

}  // namespace

TEST_CASE("master set: with one master reads go to it and nothing is hedged or confirmed", "[master_set]") {
  Fixture f(1);
  f.set->start();
  CHECK(f.masters[0]->take<cluster::Hello>().size() == 1);
  // Exactly the one MasterSession: a read goes to its link even before the master accepted us
  // (the Router asks reachable() first), as it did before there were several masters.
  const uint64_t early = f.lookup("bob");
  CHECK(f.asked(early) == std::vector<std::size_t>{0});
  f.accept(0);
  f.clear();
  const uint64_t seq = f.lookup("alice");
  CHECK(f.asked(seq) == std::vector<std::size_t>{0});
  const int64_t now = MasterSession::steady_ms();
  f.set->sweep(now + f.set->hedge_ms() + 1);
  f.set->sweep(now + 100000);
  CHECK(f.masters[0]->sent.size() == 1);
  CHECK_FALSE(f.set->confirm_empty(seq));
  CHECK(f.masters[0]->sent.size() == 1);
  CHECK(f.set->stats().hedged_reads == 0);
  CHECK(f.set->stats().confirmed_reads == 0);
  f.set->stop();
}

TEST_CASE("master set: registrations go to every master; a welcome waits for each one that accepted us",
          "[master_set]") {
  Fixture f(3);
  f.set->start();
  for (auto& m : f.masters) CHECK(m->take<cluster::Hello>().size() == 1);
  // Masters 0 and 1 accept this node; master 2 never answers.
  f.accept(0);
  f.accept(1);
  f.clear();
  f.add("a");
  f.run();
  CHECK(f.registered_at(0) == std::set<std::string>{"s-a"});
  CHECK(f.registered_at(1) == std::set<std::string>{"s-a"});
  CHECK(f.masters[2]->sent_of<cluster::RegisterSessions>().empty());
  CHECK(f.set->pending_welcomes() == 2);

  // Master 1's ack alone: the welcome still waits for master 0.
  f.ack_registers(1);
  CHECK(f.welcomed.empty());
  CHECK(f.set->pending_welcomes() == 1);
  // A duplicate ack from the same master changes nothing.
  f.ack_registers(1);
  CHECK(f.welcomed.empty());
  f.ack_registers(0);
  CHECK(f.welcomed == std::vector<std::string>{"s-a"});
  CHECK(f.set->pending_welcomes() == 0);
  // Acked again: still one welcome.
  f.ack_registers(0);
  CHECK(f.welcomed.size() == 1);

  // An ack carrying the seq another master got does not count: each master's own seq is needed
  // (each session numbers its requests on its own; master 0's sequence is moved ahead here).
  f.clear();
  f.set->session(0).next_seq();
  f.set->session(0).next_seq();
  f.add("b");
  f.run();
  const auto r0 = f.masters[0]->sent_of<cluster::RegisterSessions>();
  const auto r1 = f.masters[1]->sent_of<cluster::RegisterSessions>();
  REQUIRE(r0.size() == 1);
  REQUIRE(r1.size() == 1);
  REQUIRE(r0[0].seq != r1[0].seq);
  f.set->begin(0);
  f.set->on_ack(cluster::Ack{epoch_of(0), r0[0].seq, true});
  f.set->begin(1);
  f.set->on_ack(cluster::Ack{epoch_of(1), r0[0].seq, true});
  CHECK(f.welcomed.size() == 1);
  f.set->begin(1);
  f.set->on_ack(cluster::Ack{epoch_of(1), r1[0].seq, true});
  CHECK(f.welcomed == std::vector<std::string>{"s-a", "s-b"});

  // A master that never acks: the welcome is given after the delivery timeout all the same.
  f.add("c");
  f.run();
  f.ack_registers(1);
  f.set->sweep(MasterSession::steady_ms());
  CHECK(f.welcomed.size() == 2);
  f.set->sweep(MasterSession::steady_ms() + 60001);
  CHECK(f.welcomed == std::vector<std::string>{"s-a", "s-b", "s-c"});
  f.set->stop();
}

TEST_CASE("master set: with no master accepting us the welcome comes at once", "[master_set]") {
  Fixture f(2);
  f.add("a");
  f.run();
  CHECK(f.welcomed == std::vector<std::string>{"s-a"});
  CHECK(f.sent_total() == 0);
  // The first master to accept gets the replay, the other nothing.
  f.accept(1);
  CHECK(f.replays == 1);
  CHECK(f.registered_at(1) == std::set<std::string>{"s-a"});
  CHECK(f.masters[0]->sent.empty());
}

TEST_CASE("master set: a replay goes to the master that asked for it only", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  for (int i = 0; i < 3; ++i) f.add(std::to_string(i));
  f.run();
  f.ack_registers(0);
  f.ack_registers(1);
  CHECK(f.welcomed.size() == 3);
  f.clear();
  const int replays = f.replays;

  // Master 1 restarted: a new epoch, then its HELLO_REPLY.
  f.set->begin(1);
  f.set->heard(epoch_of(1) + 10);
  CHECK(f.masters[1]->take<cluster::Hello>().size() == 1);
  CHECK_FALSE(f.set->session(1).registered());
  CHECK(f.set->session(0).registered());
  f.accept(1, epoch_of(1) + 10);
  CHECK(f.replays == replays + 1);
  CHECK(f.registered_at(1) == std::set<std::string>{"s-0", "s-1", "s-2"});
  CHECK(f.masters[0]->sent.empty());
  // Nothing else queued for master 0 at the turn's end either.
  f.run();
  CHECK(f.masters[0]->sent.empty());

  // Outside a replay register_session goes to every master again.
  f.clear();
  FakeSession extra("user-x", "s-x");
  f.set->register_session(extra);
  f.run();
  CHECK(f.registered_at(0) == std::set<std::string>{"s-x"});
  CHECK(f.registered_at(1) == std::set<std::string>{"s-x"});
}

TEST_CASE("master set: each read goes to one master, spread over the masters by key", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  // Both masters accepted us just now: both unsettled, so the rendezvous hash alone ranks them.
  std::map<std::string, std::size_t> first;
  std::size_t to[2] = {0, 0};
  for (int i = 0; i < 200; ++i) {
    const std::string user = "user-" + std::to_string(i);
    const uint64_t seq = f.lookup(user);
    const auto where = f.asked(seq);
    REQUIRE(where.size() == 1);
    first[user] = where[0];
    ++to[where[0]];
    f.set->answered(seq);
  }
  CHECK(to[0] + to[1] == 200);
  CHECK(to[0] > 20);
  CHECK(to[1] > 20);
  // The same key goes to the same master again.
  for (auto& [user, master] : first) {
    const uint64_t seq = f.lookup(user);
    CHECK(f.asked(seq) == std::vector<std::size_t>{master});
    f.set->answered(seq);
  }
  // Other reads too: one master each.
  const uint64_t nq = f.set->next_seq();
  REQUIRE(f.set->send(cluster::NodeQuery{nq, "node-2"}));
  const uint64_t rl = f.set->next_seq();
  REQUIRE(f.set->send(cluster::RoomLookup{rl, "room-1"}));
  CHECK(f.masters[0]->sent_of<cluster::NodeQuery>().size() + f.masters[1]->sent_of<cluster::NodeQuery>().size() == 1);
  CHECK(f.masters[0]->sent_of<cluster::RoomLookup>().size() + f.masters[1]->sent_of<cluster::RoomLookup>().size() == 1);
  CHECK(f.set->stats().hedged_reads == 0);
}

TEST_CASE("master set: a master that just accepted us is asked after a settled one", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  // Master 0 settles (kSettleMs, 1.5 s) ...
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  // ... master 1 accepts us only now, and master 0 is heard from again (still reachable).
  f.accept(1);
  f.set->begin(0);
  f.set->heard(epoch_of(0));
  CHECK(f.set->reachable_count(MasterSession::steady_ms()) == 2);
  f.clear();
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 40; ++i) seqs.push_back(f.lookup("user-" + std::to_string(i)));
  CHECK(f.masters[0]->sent_of<cluster::Lookup>().size() == 40);
  CHECK(f.masters[1]->sent.empty());
  // The unsettled master is still there for the hedge.
  f.set->sweep(MasterSession::steady_ms() + f.set->hedge_ms() + 1);
  CHECK(f.masters[1]->sent_of<cluster::Lookup>().size() == 40);
  CHECK(f.set->stats().hedged_reads == 40);
}

TEST_CASE("master set: a read not answered in hedge_ms is asked of the next master", "[master_set]") {
  Fixture f(3);
  for (std::size_t i = 0; i < 3; ++i) f.accept(i);
  f.clear();
  const uint64_t seq = f.lookup("alice");
  const auto first = f.asked(seq);
  REQUIRE(first.size() == 1);
  const int64_t now = MasterSession::steady_ms();
  // Not due yet.
  f.set->sweep(now);
  CHECK(f.sent_total() == 1);
  CHECK(f.set->stats().hedged_reads == 0);
  // Due: the same LOOKUP to another master.
  f.set->sweep(now + f.set->hedge_ms() + 1);
  const auto second = f.asked(seq);
  REQUIRE(second.size() == 2);
  CHECK(second[0] != second[1]);
  CHECK(f.sent_total() == 2);
  CHECK(f.set->stats().hedged_reads == 1);
  for (std::size_t i = 0; i < 3; ++i) {
    for (auto& l : f.masters[i]->sent_of<cluster::Lookup>()) CHECK(l == cluster::Lookup{seq, "alice"});
  }
  // Still no answer: the third master, then nobody (each master asked once).
  f.set->sweep(now + 2 * f.set->hedge_ms() + 2);
  CHECK(f.asked(seq).size() == 3);
  CHECK(f.set->stats().hedged_reads == 2);
  f.set->sweep(now + 3 * f.set->hedge_ms() + 3);
  CHECK(f.asked(seq).size() == 3);
  CHECK(f.set->stats().hedged_reads == 2);
  // Forgotten: no confirmation either.
  CHECK_FALSE(f.set->confirm_empty(seq));
  CHECK(f.sent_total() == 3);
}

TEST_CASE("master set: a read answered is not asked again", "[master_set]") {
  Fixture f(3);
  for (std::size_t i = 0; i < 3; ++i) f.accept(i);
  f.clear();
  // Answered before hedge_ms: nobody else is asked.
  const uint64_t a = f.lookup("alice");
  f.set->answered(a);
  const int64_t now = MasterSession::steady_ms();
  f.set->sweep(now + f.set->hedge_ms() + 1);
  CHECK(f.asked(a).size() == 1);
  // Answered after one hedge: the third master is not asked.
  const uint64_t b = f.lookup("bob");
  const int64_t later = MasterSession::steady_ms();
  f.set->sweep(later + f.set->hedge_ms() + 1);
  CHECK(f.asked(b).size() == 2);
  f.set->answered(b);
  f.set->sweep(later + 2 * f.set->hedge_ms() + 2);
  f.set->sweep(later + 10 * f.set->hedge_ms());
  CHECK(f.asked(b).size() == 2);
  CHECK(f.set->stats().hedged_reads == 1);
  CHECK_FALSE(f.set->confirm_empty(b));
  CHECK(f.sent_total() == 3);
}

TEST_CASE("master set: an empty answer is confirmed by a master not yet asked", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  const uint64_t seq = f.lookup("alice");
  const auto first = f.asked(seq);
  REQUIRE(first.size() == 1);
  f.set->begin(first[0]);  // the answer comes from the master asked
  CHECK(f.set->confirm_empty(seq));
  const auto both = f.asked(seq);
  REQUIRE(both.size() == 2);
  CHECK(both[0] != both[1]);
  CHECK(f.set->stats().confirmed_reads == 1);
  CHECK(f.set->stats().hedged_reads == 0);
  // The second answer is empty too: every master was asked, the caller acts on it.
  f.set->begin(1 - first[0]);
  CHECK_FALSE(f.set->confirm_empty(seq));
  CHECK(f.sent_total() == 2);
  CHECK(f.set->stats().confirmed_reads == 1);
  // Forgotten: no hedge later.
  f.set->sweep(MasterSession::steady_ms() + 10 * f.set->hedge_ms());
  CHECK(f.sent_total() == 2);
  // A seq never sent (or already answered): nothing to confirm.
  CHECK_FALSE(f.set->confirm_empty(seq + 1000));
  const uint64_t done = f.lookup("bob");
  f.set->answered(done);
  CHECK_FALSE(f.set->confirm_empty(done));
  CHECK(f.asked(done).size() == 1);
}

TEST_CASE("master set: answers to a master's own requests go back to the master that asked", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  f.set->begin(1);
  REQUIRE(f.set->send(cluster::InvalidateAck{"alice"}));
  CHECK(f.masters[1]->sent_of<cluster::InvalidateAck>() ==
        std::vector<cluster::InvalidateAck>{cluster::InvalidateAck{"alice"}});
  CHECK(f.masters[0]->sent.empty());
  REQUIRE(f.set->send(cluster::RoomInvalidateAck{"room-1"}));
  CHECK(f.masters[1]->sent_of<cluster::RoomInvalidateAck>() ==
        std::vector<cluster::RoomInvalidateAck>{cluster::RoomInvalidateAck{"room-1"}});
  CHECK(f.masters[0]->sent.empty());
  REQUIRE(f.set->send(cluster::RoomCountReply{9, "room-1", 2, 1}));
  CHECK(f.masters[1]->sent_of<cluster::RoomCountReply>().size() == 1);
  CHECK(f.masters[0]->sent.empty());

  f.clear();
  f.set->begin(0);
  REQUIRE(f.set->send(cluster::InvalidateAck{"bob"}));
  REQUIRE(f.set->send(cluster::RoomInvalidateAck{"room-2"}));
  CHECK(f.masters[0]->sent_of<cluster::InvalidateAck>() ==
        std::vector<cluster::InvalidateAck>{cluster::InvalidateAck{"bob"}});
  CHECK(f.masters[0]->sent_of<cluster::RoomInvalidateAck>() ==
        std::vector<cluster::RoomInvalidateAck>{cluster::RoomInvalidateAck{"room-2"}});
  CHECK(f.masters[1]->sent.empty());

  // Anything else that is not a read goes to every master.
  f.clear();
  REQUIRE(f.set->send(cluster::Leave{"node-1", 1}));
  CHECK(f.masters[0]->sent_of<cluster::Leave>().size() == 1);
  CHECK(f.masters[1]->sent_of<cluster::Leave>().size() == 1);
}

TEST_CASE("master set: a LOOKUP_BATCH goes to one master; each of its lookups is hedged alone", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  cluster::LookupBatch batch;
  for (const char* u : {"alice", "bob", "carol"}) batch.lookups.push_back(cluster::Lookup{f.set->next_seq(), u});
  REQUIRE(f.set->send(batch));
  const auto b0 = f.masters[0]->sent_of<cluster::LookupBatch>();
  const auto b1 = f.masters[1]->sent_of<cluster::LookupBatch>();
  REQUIRE(b0.size() + b1.size() == 1);
  const std::size_t got = b0.empty() ? 1 : 0;
  const std::size_t other = 1 - got;
  CHECK(f.masters[got]->sent_of<cluster::LookupBatch>().at(0) == batch);
  CHECK(f.masters[other]->sent.empty());

  // bob answered; carol's empty answer confirmed by the other master; alice hedged there.
  f.set->answered(batch.lookups[1].seq);
  f.set->begin(got);  // the batch's answers come from the master that got it
  CHECK(f.set->confirm_empty(batch.lookups[2].seq));
  CHECK(f.masters[other]->sent_of<cluster::Lookup>() == std::vector<cluster::Lookup>{batch.lookups[2]});
  f.set->sweep(MasterSession::steady_ms() + f.set->hedge_ms() + 1);
  CHECK(f.masters[other]->sent_of<cluster::Lookup>() ==
        std::vector<cluster::Lookup>{batch.lookups[2], batch.lookups[0]});
  CHECK(f.masters[other]->sent_of<cluster::LookupBatch>().empty());
  CHECK(f.masters[got]->sent.size() == 1);
  CHECK(f.set->stats().hedged_reads == 1);
  CHECK(f.set->stats().confirmed_reads == 1);
}

TEST_CASE("master set: a master whose link refuses is skipped for a read", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  const uint64_t first = f.lookup("alice");
  const auto where = f.asked(first);
  REQUIRE(where.size() == 1);
  const std::size_t best = where[0];
  const std::size_t next = 1 - best;
  f.set->answered(first);

  f.masters[best]->refuse = true;
  const uint64_t seq = f.lookup("alice");
  CHECK(f.asked(seq) == std::vector<std::size_t>{next});
  // The refusing master gets its second chance at the hedge once its link accepts again.
  f.masters[best]->refuse = false;
  f.set->sweep(MasterSession::steady_ms() + f.set->hedge_ms() + 1);
  CHECK(f.asked(seq).size() == 2);
  CHECK(f.set->stats().hedged_reads == 1);

  // Both refuse: the read cannot be sent.
  f.clear();
  f.masters[0]->refuse = true;
  f.masters[1]->refuse = true;
  CHECK_FALSE(f.set->send(cluster::Lookup{f.set->next_seq(), "alice"}));
  CHECK_FALSE(f.set->send(cluster::LookupBatch{{cluster::Lookup{f.set->next_seq(), "alice"}}}));
  CHECK_FALSE(f.set->send(cluster::InvalidateAck{"alice"}));
}

TEST_CASE("master set: ready and reachable once any master accepted us", "[master_set]") {
  Fixture f(2);
  f.set->start();
  const int64_t now = MasterSession::steady_ms();
  CHECK_FALSE(f.set->ready());
  CHECK_FALSE(f.set->reachable(now));
  CHECK(f.set->reachable_count(now) == 0);
  // No master accepted: a read goes nowhere.
  f.clear();
  CHECK_FALSE(f.set->send(cluster::Lookup{f.set->next_seq(), "alice"}));
  CHECK(f.sent_total() == 0);

  f.accept(1);
  CHECK(f.set->ready());
  CHECK(f.set->reachable(MasterSession::steady_ms()));
  CHECK(f.set->reachable_count(MasterSession::steady_ms()) == 1);
  // Reads go to the one that accepted us.
  f.clear();
  for (int i = 0; i < 20; ++i) CHECK(f.asked(f.lookup("user-" + std::to_string(i))) == std::vector<std::size_t>{1});

  f.accept(0);
  CHECK(f.set->reachable_count(MasterSession::steady_ms()) == 2);
  // Not heard from for 3 heartbeats (30 s here): neither is reachable any more.
  CHECK_FALSE(f.set->reachable(MasterSession::steady_ms() + 31000));
  CHECK(f.set->reachable_count(MasterSession::steady_ms() + 31000) == 0);
  // Master 1 forgets us: master 0 keeps the set ready.
  f.set->begin(1);
  f.set->on_heartbeat_reply(cluster::HeartbeatReply{epoch_of(1), false});
  CHECK_FALSE(f.set->session(1).ready());
  CHECK(f.set->ready());
  CHECK(f.set->reachable_count(MasterSession::steady_ms()) == 1);
  // Draining: never ready again.
  f.set->drain();
  CHECK_FALSE(f.set->ready());
  f.set->stop();
}

TEST_CASE("master set: a refused HELLO is fatal once, whichever master refused", "[master_set]") {
  Fixture f(2);
  f.set->begin(0);
  f.set->on_hello_reply(cluster::HelloReply{epoch_of(0), false, "duplicate node id"});
  f.set->begin(1);
  f.set->on_hello_reply(cluster::HelloReply{epoch_of(1), false, "duplicate node id"});
  CHECK(f.fatal == std::vector<std::string>{"duplicate node id"});
}

// After a hedge the other master was asked already and its answer is on the way: an empty answer
// from the first one must wait for it (confirm_empty true, nothing new sent), or a slow master that
// lost this node's registrations makes an online user look offline while the master that knows
// the user is still answering. The second empty answer is the one acted on.
TEST_CASE("master set: after a hedge an empty answer waits for the other master's answer", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  const uint64_t seq = f.lookup("alice");
  const auto first = f.asked(seq);
  REQUIRE(first.size() == 1);
  f.set->sweep(MasterSession::steady_ms() + f.set->hedge_ms() + 1);
  REQUIRE(f.asked(seq).size() == 2);
  // The first master answers (late): nobody there.
  f.set->begin(first[0]);
  CHECK(f.set->confirm_empty(seq));
  CHECK(f.sent_total() == 2);
  // The other master answers: nobody there either; now it is acted on.
  f.set->begin(1 - first[0]);
  CHECK_FALSE(f.set->confirm_empty(seq));
  CHECK(f.sent_total() == 2);
}

TEST_CASE("master set: beyond kMaxTrackedReads a read goes to one master only", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  for (std::size_t i = 0; i < MasterSet::kMaxTrackedReads; ++i) {
    REQUIRE(f.set->send(cluster::Lookup{f.set->next_seq(), "user-" + std::to_string(i % 100)}));
  }
  CHECK(f.set->stats().untracked_reads == 0);
  const uint64_t seq = f.lookup("alice");
  CHECK(f.set->stats().untracked_reads == 1);
  REQUIRE(f.asked(seq).size() == 1);
  CHECK_FALSE(f.set->confirm_empty(seq));
  f.set->sweep(MasterSession::steady_ms() + f.set->hedge_ms() + 1);
  CHECK(f.asked(seq).size() == 1);
  CHECK(f.set->stats().hedged_reads == MasterSet::kMaxTrackedReads);
}

// The other master never answers (dead, not yet known lost): the empty answer that waited for it
// is handed back by the sweep once nobody is left to ask, to be acted on — not dropped, which would
// turn an `offline` into a lookup timeout (`failed`).
TEST_CASE("master set: an empty answer that waited for a silent master is handed back by the sweep", "[master_set]") {
  Fixture f(2);
  f.accept(0);
  f.accept(1);
  f.clear();
  const uint64_t seq = f.lookup("alice");
  const auto first = f.asked(seq);
  REQUIRE(first.size() == 1);
  const int64_t t0 = MasterSession::steady_ms();
  CHECK(f.set->sweep(t0 + f.set->hedge_ms() + 1).empty());  // hedged to the other master
  REQUIRE(f.asked(seq).size() == 2);
  f.set->begin(first[0]);
  const cluster::LookupReply nobody{epoch_of(first[0]), seq, "alice", {}};
  CHECK(f.set->confirm_empty(seq, nobody));
  // Nothing more is due before the next hedge time; then nobody is left to ask.
  auto back = f.set->sweep(t0 + 2 * f.set->hedge_ms() + 2);
  REQUIRE(back.size() == 1);
  CHECK(back[0].first == first[0]);
  CHECK(std::get<cluster::LookupReply>(back[0].second) == nobody);
  // Handed back once: the read is forgotten, so acting on it asks nobody again.
  CHECK_FALSE(f.set->confirm_empty(seq, nobody));
  CHECK(f.set->sweep(t0 + 10 * f.set->hedge_ms()).empty());
}
