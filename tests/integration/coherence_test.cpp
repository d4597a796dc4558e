// Route coherence (docs/protocol.md, "Delivery semantics"): a session that got its welcome receives
// every message later sent to its user from any node within 100 ms, whatever the sender's node had
// cached; a user who moves loses nothing sent after its new welcome; a DELIVER to a stale route is
// answered not_here and retried once after a fresh lookup, never delivered twice.
#include "cluster_ops.h"

#include <algorithm>
#include <sstream>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

std::string join_refs(const std::vector<std::string>& v, std::size_t max = 20) {
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) os << (i ? " " : "") << v[i];
  if (v.size() > max) os << " ... (" << v.size() << " in all)";
  return os.str();
}

// Waits for the next message frame on `s` (acks or other frames are not expected here).
std::optional<json::object> next_message(Session& s, ms timeout) {
  auto f = s->next(timeout);
  if (!f) return std::nullopt;
  INFO(s.user << "@" << s.node << " got: " << dump(*f));
  REQUIRE(str(*f, "type") == "message");
  return f;
}

}  // namespace

TEST_CASE("coherence: a new session on a third node gets every message within 100 ms of its welcome",
          "[integration][failures]") {
  Cluster c(fast_cluster(3));
  auto alice = join(c, 0, "alice");
  Ledger sender(alice);

  // The first message after each welcome is the one at risk: many short rounds.
  constexpr int kRounds = 20;
  constexpr int kPerRound = 3;
  std::vector<int64_t> latencies;
  std::vector<std::string> lost;
  int64_t n = 0;

  for (int round = 0; round < kRounds; ++round) {
    const std::string user = "bob" + std::to_string(round);
    auto on2 = join(c, 1, user);
    // node-1 looks the user up and caches user -> {node-2}
    sender.send(user, tagged("warm", round), "warm-" + std::to_string(round));
    REQUIRE(sender.pump_until([&] { return sender.acked("warm-" + std::to_string(round)); }, ms(3000)));
    CHECK(sender.ack("warm-" + std::to_string(round)).status == "delivered");
    REQUIRE(next_message(on2, ms(3000)).has_value());

    // a second session of the user on node-3; right after its welcome, alice sends
    auto on3 = join(c, 2, user);
    for (int i = 0; i < kPerRound; ++i, ++n) {
      const std::string ref = "m-" + std::to_string(n);
      const auto t0 = Clock::now();
      sender.send(user, tagged("m", n), ref);
      auto m = next_message(on3, ms(1000));
      if (!m) {
        lost.push_back(ref + " (to " + user + "@node-3)");
        continue;
      }
      latencies.push_back(ms_since(t0));
      CHECK(tag_n(*m, "m") == n);
      CHECK(str(*m, "from") == "alice");
      CHECK(str(*m, "to") == user);
    }
    // the first session keeps getting them too, in order, once each
    for (int64_t k = n - kPerRound; k < n; ++k) {
      auto m = next_message(on2, ms(2000));
      INFO("node-2 session of " << user << ", message " << k);
      REQUIRE(m.has_value());
      CHECK(tag_n(*m, "m") == k);
    }
    CHECK(on2->pending() == 0);
    CHECK(on3->pending() == 0);
  }
  REQUIRE(sender.wait_all_acked(ms(3000)));
  for (const auto& ref : sender.sent()) {
    INFO(sender.describe(ref));
    CHECK(sender.ack(ref).status == "delivered");
  }
  CHECK(sender.acked_twice().empty());

  std::sort(latencies.begin(), latencies.end());
  std::ostringstream ls;
  for (auto l : latencies) ls << l << " ";
  INFO("latencies from send to receipt on the node-3 session (ms, sorted): " << ls.str());
  INFO("lost: " << join_refs(lost));
  CHECK(lost.empty());
  REQUIRE(!latencies.empty());
  const int64_t median = latencies[latencies.size() / 2];
  WARN("node-3 session, send -> receipt: median " << median << " ms, max " << latencies.back() << " ms over "
                                                  << latencies.size() << " messages; lost " << lost.size());
  CHECK(median < margin_ms(100));
  // every single one within the documented 100 ms (docs/protocol.md, "Delivery semantics"),
  // with a margin for a loaded 2-core CI machine (both scaled for the sanitizer builds)
  CHECK(latencies.back() < margin_ms(500));
}

TEST_CASE("coherence: a user who moves to another node loses none of 200 messages sent after the new welcome",
          "[integration][failures]") {
  Cluster c(fast_cluster(3));
  auto alice = join(c, 0, "alice");
  Ledger sender(alice);
  auto bob = join(c, 1, "bob");
  sender.send("bob", tagged("warm", 0), "warm");
  REQUIRE(sender.wait_all_acked(ms(3000)));
  CHECK(sender.ack("warm").status == "delivered");  // node-1 caches bob -> {node-2}
  REQUIRE(next_message(bob, ms(3000)).has_value());

  constexpr int kCount = 200;
  // node-2 -> node-3 (closed politely), node-3 -> node-1 (the sender's node; TCP dropped),
  // node-1 -> node-2 (closed politely)
  const std::vector<std::pair<std::size_t, bool>> moves{{2, true}, {0, false}, {1, true}};
  int move_no = 0;
  for (auto [to, polite] : moves) {
    ++move_no;
    const std::string key = "move" + std::to_string(move_no);
    INFO("move " << move_no << ": bob from " << bob.node << " to " << c.node_id(to)
                 << (polite ? " (close)" : " (TCP dropped)"));
    if (polite) bob->close();
    else bob->drop();
    auto moved = join(c, to, "bob");
    // right after the new welcome
    for (int i = 0; i < kCount; ++i) sender.send("bob", tagged(key, i), key + "-" + std::to_string(i));

    std::vector<int64_t> got;
    bool all = poll_until(
        [&] {
          while (auto m = moved->next(ms(0))) {
            INFO("bob got: " << dump(*m));
            REQUIRE(str(*m, "type") == "message");
            got.push_back(tag_n(*m, key));
          }
          if (got.size() >= static_cast<std::size_t>(kCount)) return true;
          auto m = moved->next(ms(20));
          if (m) {
            REQUIRE(str(*m, "type") == "message");
            got.push_back(tag_n(*m, key));
          }
          return got.size() >= static_cast<std::size_t>(kCount);
        },
        ms(8000));
    REQUIRE(sender.wait_all_acked(ms(5000)));
    std::vector<std::string> not_delivered;
    for (int i = 0; i < kCount; ++i) {
      const std::string ref = key + "-" + std::to_string(i);
      if (sender.ack(ref).status != "delivered") not_delivered.push_back(sender.describe(ref));
    }
    INFO("acks not 'delivered': " << join_refs(not_delivered));
    CHECK(not_delivered.empty());
    CHECK(sender.acked_twice().empty());

    std::vector<int64_t> expected(kCount);
    for (int i = 0; i < kCount; ++i) expected[i] = i;
    std::set<int64_t> distinct(got.begin(), got.end());
    std::vector<std::string> missing;
    for (int i = 0; i < kCount; ++i)
      if (!distinct.count(i)) missing.push_back(std::to_string(i));
    INFO("bob received " << got.size() << " messages, " << distinct.size()
                         << " distinct; missing: " << join_refs(missing));
    CHECK(all);
    CHECK(missing.empty());
    CHECK(got.size() == distinct.size());  // none twice
    CHECK(got == expected);                // in order
    // nothing more arrives (a late duplicate would show here): a marker is the next frame
    sender.send("bob", tagged("marker", move_no), "marker-" + std::to_string(move_no));
    auto mk = next_message(moved, ms(3000));
    REQUIRE(mk.has_value());
    CHECK(tag_n(*mk, "marker") == move_no);
    bob = std::move(moved);
  }
  REQUIRE(sender.wait_all_acked(ms(3000)));
  CHECK(sender.acked_twice().empty());
  CHECK(sender.unknown_acks().empty());
}

TEST_CASE(
    "coherence: a DELIVER to a stale route is answered not_here then retried after a fresh lookup and delivered once",
    "[integration][failures]") {
  // The stale route has to be real: the master would otherwise invalidate node-1's route before
  // bob's new session is welcomed. So the master is frozen (SIGSTOP) while bob moves, and node-2
  // is frozen while node-1 routes a message with its stale cache; the master is thawed and
  // learns the move; node-2 then thaws and can only answer not_here.
  Timings t;
  t.node_timeout_ms = 5000;  // no node is declared dead while the master or node-2 is frozen
  Cluster c(fast_cluster(3, t,
                         {{"--delivery-timeout-ms", "8000"},  // node-1: the message waits
                          {},
                          {"--delivery-timeout-ms", "300"}}));  // node-3: welcome soon, master frozen
  auto alice = join(c, 0, "alice");
  Ledger sender(alice);
  auto bob2 = join(c, 1, "bob");
  sender.send("bob", tagged("warm", 0), "warm");
  REQUIRE(sender.wait_all_acked(ms(3000)));
  REQUIRE(sender.ack("warm").status == "delivered");  // node-1 caches bob -> {node-2}
  REQUIRE(next_message(bob2, ms(3000)).has_value());

  Freeze master(c.master());
  bob2->close();
  // node-2 has dropped bob's session (its unregistration waits at the frozen master)
  bool left = poll_until([&] { return health(c.ws_port(1)).sessions == 0; }, ms(3000));
  REQUIRE(left);
  auto bob3 = join(c, 2, "bob");  // welcomed after node-3's 300 ms registration timeout

  {
    Freeze node2(*c.node(1).process);
    sender.send("bob", tagged("stale", 1), "stale");  // node-1: cached bob -> node-2: DELIVER
    // a message alice sends herself afterwards is acked from node-1's router strand: by then
    // the message to bob has been routed with the stale cache
    sender.send("alice", tagged("self", 1), "self");
    REQUIRE(sender.pump_until([&] { return sender.acked("self"); }, ms(3000)));
    CHECK(!sender.acked("stale"));
    // the DELIVER is in node-2's socket buffer, unread (nothing else is sent to node-2's events
    // port): the stale route was taken
    REQUIRE(poll_until([&] { return tcp_unread_bytes(c.node(1).events_port) > 0; }, ms(2000)));

    master.thaw();
    // the master learns the move (bob only on node-3) and node-1 hears from it again
    std::set<std::pair<std::string, std::string>> now;
    bool learned = poll_until(
        [&] {
          now = user_sessions(c, "bob");
          return now == std::set<std::pair<std::string, std::string>>{{"node-3", bob3.session}};
        },
        ms(3000));
    INFO("bob's sessions at the master: " << now.size());
    REQUIRE(learned);
    REQUIRE(poll_until([&] { return health(c.ws_port(0)).http == 200; }, ms(3000)));
    // node-2 thaws (end of scope) and finds the DELIVER for a user it no longer holds
  }

  REQUIRE(sender.pump_until([&] { return sender.acked("stale"); }, ms(8000)));
  INFO(sender.describe("stale"));
  CHECK(sender.ack("stale").status == "delivered");
  auto m = next_message(bob3, ms(3000));
  REQUIRE(m.has_value());
  CHECK(tag_n(*m, "stale") == 1);
  // never twice: the next frame bob3 gets is the marker sent now
  sender.send("bob", tagged("marker", 2), "marker");
  auto mk = next_message(bob3, ms(3000));
  REQUIRE(mk.has_value());
  CHECK(tag_n(*mk, "marker") == 2);
  REQUIRE(sender.wait_all_acked(ms(3000)));
  CHECK(sender.ack("marker").status == "delivered");
  CHECK(sender.acked_twice().empty());
  CHECK(bob3->pending() == 0);
}

TEST_CASE("coherence: a message retried after not_here is not overtaken by later messages of the same sender",
          "[integration][failures]") {
  // FIFO per (sender session, recipient session) (docs/protocol.md, "Delivery semantics"): alice's
  // session and bob's node-3 session both exist, and neither reconnects, from the first message to
  // the last. The first message takes node-1's stale route (as in the test above) and waits at a
  // frozen node-2; the next one is sent once the master has told node-1 the new route.
  Timings t;
  t.node_timeout_ms = 5000;
  Cluster c(fast_cluster(3, t, {{"--delivery-timeout-ms", "8000"}, {}, {"--delivery-timeout-ms", "300"}}));
  auto alice = join(c, 0, "alice");
  Ledger sender(alice);
  auto bob2 = join(c, 1, "bob");
  sender.send("bob", tagged("warm", 0), "warm");
  REQUIRE(sender.wait_all_acked(ms(3000)));
  REQUIRE(sender.ack("warm").status == "delivered");
  REQUIRE(next_message(bob2, ms(3000)).has_value());

  Freeze master(c.master());
  bob2->close();
  REQUIRE(poll_until([&] { return health(c.ws_port(1)).sessions == 0; }, ms(3000)));
  auto bob3 = join(c, 2, "bob");

  std::vector<int64_t> order;
  std::string overtake_note;
  {
    Freeze node2(*c.node(1).process);
    // nothing can have reached bob's new session yet
    CHECK(bob3->pending() == 0);
    sender.send("bob", tagged("fifo", 0), "fifo-0");  // stale route: waits at node-2
    sender.send("alice", tagged("self", 0), "self");
    REQUIRE(sender.pump_until([&] { return sender.acked("self"); }, ms(3000)));
    // the stale DELIVER is in node-2's socket buffer, unread (nothing else is sent to node-2)
    REQUIRE(poll_until([&] { return tcp_unread_bytes(c.node(1).events_port) > 0; }, ms(2000)));
    CHECK(bob3->pending() == 0);
    master.thaw();
    REQUIRE(poll_until(
        [&] {
          return user_sessions(c, "bob") == std::set<std::pair<std::string, std::string>>{{"node-3", bob3.session}};
        },
        ms(3000)));
    // A presence round trip from node-1 through the master: its answer travels the master ->
    // node-1 link after the INVALIDATE(bob) the master sent when it learned the move, so once
    // alice has it, node-1 has dropped its stale route.
    int q = 0;
    bool answered = poll_until(
        [&] {
          const std::string ref = "q" + std::to_string(q++);
          alice->send_json({{"type", "presence"}, {"users", json::array{"bob"}}, {"id", ref}});
          bool got = sender.pump_until(
              [&] {
                for (const auto& o : sender.others())
                  if (str(o, "ref") == ref) return true;
                return false;
              },
              ms(3000));
          if (!got) return false;
          for (const auto& o : sender.others())
            if (str(o, "ref") == ref) return str(o, "type") == "presence";
          return false;
        },
        ms(5000));
    REQUIRE(answered);
    const std::size_t early = bob3->pending();
    sender.send("bob", tagged("fifo", 1), "fifo-1");
    // an implementation that keeps the order holds fifo-1 behind fifo-0 until node-2 answers:
    // give fifo-1 a bounded chance to (wrongly) overtake before node-2 thaws
    const auto t1 = Clock::now();
    sender.pump_until([&] { return sender.acked("fifo-1"); }, ms(2000));
    if (auto m = bob3->next(ms(sender.acked("fifo-1") ? 1000 : 0))) order.push_back(tag_n(*m, "fifo"));
    overtake_note = sender.acked("fifo-1")
                        ? "fifo-1 acked " + sender.ack("fifo-1").status + " " + std::to_string(ms_since(t1)) +
                              " ms after its send, node-2 still frozen"
                        : "fifo-1 not acked while node-2 was frozen (2 s)";
    overtake_note += "; frames at bob's node-3 session before fifo-1 was sent: " + std::to_string(early);
  }
  REQUIRE(sender.wait_all_acked(ms(8000)));
  for (const char* ref : {"fifo-0", "fifo-1"}) {
    INFO(sender.describe(ref));
    CHECK(sender.ack(ref).status == "delivered");
  }
  while (order.size() < 2) {
    auto m = bob3->next(ms(3000));
    if (!m) break;
    order.push_back(tag_n(*m, "fifo"));
  }
  std::ostringstream os;
  for (auto n : order) os << n << " ";
  INFO("order of arrival at bob's node-3 session: " << os.str() << "(sent: 0 1); " << overtake_note);
  CHECK(order == std::vector<int64_t>{0, 1});
}
