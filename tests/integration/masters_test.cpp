// Several masters (issue 18, docs/architecture.md "Several masters"): every node registers with
// every master, reads go to one and move to another when it does not answer, an empty answer is
// confirmed by a second master. These tests kill and restart masters under cross-node traffic
// (sends to users, room publishes, presence queries, with routes cached for 1 ms only) and count
// everything: each send and publish gets exactly one ack, `delivered` (every recipient stays
// connected throughout), every message reaches each recipient exactly once, and every presence
// query is answered "online" for all.
#include "cluster_ops.h"

#include <map>
#include <memory>
#include <set>
#include <sstream>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

// A sender on node-1 and `receivers` users on node-2; the sender's node caches a route for 1 ms
// only, so (nearly) every send asks a master.
struct Traffic {
  Traffic(Cluster& c, std::size_t receivers) : alice(join(c, 0, "alice")), la(alice) {
    join_lobby(alice);
    for (std::size_t i = 0; i < receivers; ++i) {
      bobs.push_back(std::make_unique<Session>(join(c, 1, "bob" + std::to_string(i))));
      join_lobby(*bobs.back());
      lbs.push_back(std::make_unique<Ledger>(*bobs.back()));
    }
  }

  // Every user joins the room "lobby" (alice without echo: her publishes reach the receivers).
  static void join_lobby(Session& s) {
    s->send_json({{"type", "join"}, {"room", "lobby"}, {"id", "j"}});
    const auto ack = expect_frame(*s, "ack");
    REQUIRE(str(ack, "status") == "joined");
  }

  // Sends round robin at `rate` msgs/s for `duration`, and a presence query for every receiver
  // every 100th send; the receivers are pumped along.
  void run(int rate, ms duration) {
    const auto start = Clock::now();
    int64_t here = 0;
    while (Clock::now() - start < duration) {
      const auto due = start + std::chrono::microseconds(1000000LL * here / rate);
      if (Clock::now() < due) {
        la.pump_until([&] { return Clock::now() >= due; }, std::chrono::duration_cast<ms>(due - Clock::now()) + ms(1));
        continue;
      }
      const std::size_t to = static_cast<std::size_t>(n) % bobs.size();
      const std::string ref = "m-" + std::to_string(n);
      la.send(bobs[to]->user, tagged("m", n), ref);
      recipient[ref] = to;
      if (n % 100 == 0) ask_presence();
      if (n % 10 == 0) publish();
      ++n;
      ++here;
      if (here % 20 == 0) {
        for (auto& l : lbs) l->pump();
      }
    }
  }

  // A publish to the lobby, tagged {"k":"r","n":K}, acked under ref "r-K".
  void publish() {
    alice->send_json({{"type", "publish"},
                      {"room", "lobby"},
                      {"body", tagged("r", published)},
                      {"id", "r-" + std::to_string(published)}});
    ++published;
  }

  void ask_presence() {
    json::array users;
    for (auto& b : bobs) users.emplace_back(b->user);
    alice->send_json({{"type", "presence"}, {"users", users}, {"id", "p-" + std::to_string(presence_asked++)}});
  }

  // Waits for every ack and presence answer, then every delivered message at its recipient;
  // returns the problems found.
  std::vector<std::string> settle(ms timeout) {
    std::vector<std::string> problems;
    if (!la.wait_all_acked(timeout)) problems.push_back("unacked: " + list(la.unacked()));
    la.pump_until([&] { return presence_answers().size() >= static_cast<std::size_t>(presence_asked); }, timeout);
    for (auto& r : la.acked_twice()) problems.push_back("acked twice: " + la.describe(r));
    std::map<std::size_t, std::set<int64_t>> expected;
    for (const auto& ref : la.sent()) {
      if (!la.acked(ref)) continue;
      const auto& a = la.ack(ref);
      ++statuses[a.status];
      if (a.status != "delivered") problems.push_back("not delivered: " + la.describe(ref));
      else expected[recipient[ref]].insert(std::stoll(ref.substr(2)));
    }
    for (std::size_t i = 0; i < lbs.size(); ++i) {
      auto& want = expected[i];
      lbs[i]->pump_until([&] { return lbs[i]->messages_tagged("m").size() >= want.size(); }, timeout);
      std::map<int64_t, int> seen;
      for (const auto& m : lbs[i]->messages_tagged("m")) ++seen[tag_n(m.frame, "m")];
      for (int64_t k : want) {
        if (seen[k] == 0) problems.push_back(bobs[i]->user + " never got m-" + std::to_string(k));
        if (seen[k] > 1)
          problems.push_back(bobs[i]->user + " got m-" + std::to_string(k) + " " + std::to_string(seen[k]) + " times");
      }
    }
    // Room publishes: each acked delivered once, and received once by every receiver.
    la.pump_until(
        [&] {
          for (int64_t k = 0; k < published; ++k) {
            if (!la.acked("r-" + std::to_string(k))) return false;
          }
          return true;
        },
        timeout);
    for (int64_t k = 0; k < published; ++k) {
      const std::string ref = "r-" + std::to_string(k);
      if (!la.acked(ref)) {
        problems.push_back("publish " + ref + " not acked");
        continue;
      }
      const auto& a = la.ack(ref);
      ++statuses["publish " + a.status];
      if (a.status != "delivered") problems.push_back("publish " + ref + ": " + a.status);
    }
    for (std::size_t i = 0; i < lbs.size(); ++i) {
      lbs[i]->pump_until([&] { return static_cast<int64_t>(lbs[i]->messages_tagged("r").size()) >= published; },
                         timeout);
      std::map<int64_t, int> seen;
      for (const auto& m : lbs[i]->messages_tagged("r")) ++seen[tag_n(m.frame, "r")];
      for (int64_t k = 0; k < published; ++k) {
        if (seen[k] != 1)
          problems.push_back(bobs[i]->user + " got publish r-" + std::to_string(k) + " " + std::to_string(seen[k]) +
                             " times");
      }
    }
    const auto answers = presence_answers();
    if (answers.size() != static_cast<std::size_t>(presence_asked))
      problems.push_back(std::to_string(answers.size()) + " presence answers for " + std::to_string(presence_asked) +
                         " queries");
    for (const auto& a : answers) {
      const auto* users = a.if_contains("users");
      bool all_online = users && users->is_object() && users->as_object().size() == bobs.size();
      if (all_online) {
        for (const auto& [u, v] : users->as_object()) all_online = all_online && v.is_bool() && v.as_bool();
      }
      if (!all_online) problems.push_back("presence answer not all online: " + dump(a));
    }
    return problems;
  }

  std::vector<json::object> presence_answers() const {
    std::vector<json::object> out;
    for (const auto& o : la.others()) {
      if (str(o, "type") == "presence" || str(o, "type") == "error") out.push_back(o);
    }
    return out;
  }

  std::string tally() const {
    std::ostringstream os;
    for (const auto& [st, k] : statuses) os << st << " " << k << "; ";
    return os.str();
  }

  Session alice;
  Ledger la;
  std::vector<std::unique_ptr<Session>> bobs;
  std::vector<std::unique_ptr<Ledger>> lbs;
  std::map<std::string, std::size_t> recipient;
  std::map<std::string, int> statuses;
  int64_t n = 0;
  int64_t published = 0;
  int presence_asked = 0;
};

// The value of the sample `name` (with its labels, as exposed) in a Prometheus text exposition; -1
// when absent.
double metric(const std::string& text, const std::string& name) {
  std::size_t at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

// `wsg status --master <every master> --json` says `masters_agree: true` within 5 s; `last` gets
// the last output.
bool masters_agree(Cluster& c, std::string& last) {
  return poll_until(
      [&] {
        auto r = run_command(wsg_binary(), {"status", "--master", c.masters_addr(), "--json"}, ms(5000));
        last = r.out + r.err;
        if (r.exit_code != 0) return false;
        const auto doc = parse_object(r.out);
        return doc.contains("masters_agree") && doc.at("masters_agree").is_bool() && doc.at("masters_agree").as_bool();
      },
      ms(5000));
}

ClusterOptions two_masters(const Timings& t) {
  const auto cfg = write_file("short-cache.toml", "[cache]\nttl_ms = 1\n").string();
  ClusterOptions o = fast_cluster(2, t, {{"--config", cfg}, {"--config", cfg}});
  o.masters = 2;
  return o;
}

}  // namespace

TEST_CASE("masters: kill -9 of each master in turn under cross-node traffic loses nothing and fails no ack",
          "[integration][masters]") {
  const Timings t{3000, 1000, 2000};  // the defaults: node timeout, heartbeat, delivery timeout
  Cluster c(two_masters(t));
  Traffic traffic(c, 10);
  traffic.run(100, ms(1000));
  std::vector<std::unique_ptr<Process>> restarted;
  for (std::size_t k : {std::size_t{0}, std::size_t{1}}) {
    // Killed, and away longer than the nodes take to call it lost (3 heartbeats).
    c.master(k).kill();
    REQUIRE(c.master(k).wait_exit(ms(2000)).has_value());
    traffic.run(100, ms(4000));
    // Restarted empty on its address: it rebuilds from the nodes' replays while the other answers.
    restarted.push_back(restart_master(c, master_flags(t), ms(5000), k));
    traffic.run(100, ms(3000));
  }
  const auto problems = traffic.settle(ms(t.delivery_timeout_ms + 3000));
  WARN("two masters, each killed and restarted in turn: " << traffic.n << " sends; " << traffic.tally());
  INFO(list(problems));
  CHECK(problems.empty());
  CHECK(traffic.statuses["delivered"] == traffic.n);

  // What carried the reads across: the sender's node asked a second master when the first was dead.
  const auto metrics = http_get(c.ws_port(0), "/metrics").body;
  CHECK(metric(metrics, "wsg_master_reads_asked_again_total{reason=\"hedge\"}") > 0);
  CHECK(metric(metrics, "wsg_masters") == 2);
  CHECK(metric(metrics, "wsg_masters_reachable") == 2);

  // Both masters rebuilt the same directory: `wsg status` over both says they agree.
  std::string last;
  const bool agree = masters_agree(c, last);
  INFO("status over both masters: " << last);
  CHECK(agree);
  for (std::size_t k : {std::size_t{0}, std::size_t{1}}) c.node(k).process->terminate();
  for (std::size_t k : {std::size_t{0}, std::size_t{1}}) CHECK(c.node(k).process->wait_exit(ms(6000)) == 0);
  for (auto& m : restarted) {
    const auto stopped = stop_checked(*m, ms(3000));
    INFO("restarted master: " << list(stopped));
    CHECK(stopped.empty());
  }
}

TEST_CASE("masters: a user connected while one master is down is found through the other at once",
          "[integration][masters]") {
  const Timings t{3000, 1000, 2000};
  Cluster c(two_masters(t));
  // Both masters on loopback: no "not on loopback" warning for the list.
  for (const auto& line : own_log_lines(c.node(0).process->log())) {
    INFO(line);
    CHECK(line.find("not on loopback") == std::string::npos);
  }
  c.master(0).kill();
  REQUIRE(c.master(0).wait_exit(ms(2000)).has_value());
  // The first master is dead but not yet known lost: the welcome waits at most delivery_timeout_ms
  // for its ack, and the lookups that go to it move to the other one.
  Traffic traffic(c, 3);
  traffic.run(50, ms(1500));
  const auto problems = traffic.settle(ms(t.delivery_timeout_ms + 3000));
  WARN("one master dead from the start: " << traffic.tally());
  INFO(list(problems));
  CHECK(problems.empty());
  CHECK(traffic.statuses["delivered"] == traffic.n);
}

TEST_CASE("masters: a master added to a running cluster catches up and can take over alone", "[integration][masters]") {
  // The nodes list two masters; only the first runs. The second is added under traffic (started on
  // its listed address: the nodes' HELLO and replay fill it), then the first is killed: the new
  // one serves alone.
  const Timings t{3000, 1000, 2000};
  ClusterOptions o = two_masters(t);
  o.masters_idle = 1;
  Cluster c(o);
  Traffic traffic(c, 5);
  traffic.run(100, ms(1000));
  auto added = restart_master(c, master_flags(t), ms(5000), 1);
  traffic.run(100, ms(1500));
  std::string last;
  const bool agree = masters_agree(c, last);
  INFO("status over both masters after the addition: " << last);
  REQUIRE(agree);
  c.master(0).kill();
  REQUIRE(c.master(0).wait_exit(ms(2000)).has_value());
  traffic.run(100, ms(4000));
  const auto problems = traffic.settle(ms(t.delivery_timeout_ms + 3000));
  WARN("a master added, then the first killed: " << traffic.n << " sends; " << traffic.tally());
  INFO(list(problems));
  CHECK(problems.empty());
  CHECK(traffic.statuses["delivered"] == traffic.n);
  for (std::size_t k : {std::size_t{0}, std::size_t{1}}) c.node(k).process->terminate();
  for (std::size_t k : {std::size_t{0}, std::size_t{1}}) CHECK(c.node(k).process->wait_exit(ms(6000)) == 0);
  const auto stopped = stop_checked(*added, ms(3000));
  INFO("added master: " << list(stopped));
  CHECK(stopped.empty());
}
