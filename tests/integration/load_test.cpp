// 2,000 cross-node messages: every one acked `delivered`, received in order, no loss, no duplicate
// (docs/protocol.md, "Delivery semantics": at most once, FIFO per sender session -> recipient
// session).
#include "test_util.h"

#include <map>
#include <vector>

using namespace wsg::it;

TEST_CASE("2000 cross-node messages arrive in order with no loss or duplicate", "[integration]") {
  constexpr int kCount = 2000;
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");

  const int64_t t0 = unix_ms();
  const auto started = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    json::object f{{"type", "send"},
                   {"to", "bob"},
                   {"id", "m" + std::to_string(i)},
                   {"body", {{"seq", i}, {"pad", "abcdefghijklmnopqrstuvwxyz"}}}};
    alice->send_json(f);
  }

  // bob: kCount messages, seq 0..kCount-1 in order. A gap or a repeat is reported once, with
  // its position, rather than as thousands of failed checks.
  std::vector<std::string> msg_ids;
  msg_ids.reserve(kCount);
  std::string first_problem;
  int received = 0;
  const auto deadline = Clock::now() + 30s;
  while (received < kCount && Clock::now() < deadline) {
    auto m = bob->next(5000ms);
    if (!m) break;
    ++received;
    if (str(*m, "type") != "message" || str(*m, "from") != "alice" || !m->contains("body") ||
        !m->at("body").is_object() || !m->at("body").as_object().contains("seq")) {
      if (first_problem.empty()) first_problem = "unexpected frame #" + std::to_string(received) + ": " + dump(*m);
      continue;
    }
    const int64_t seq = num(m->at("body").as_object(), "seq");
    if (seq != static_cast<int64_t>(msg_ids.size()) && first_problem.empty())
      first_problem = "frame #" + std::to_string(received) + " has seq " + std::to_string(seq) + ", expected " +
                      std::to_string(msg_ids.size());
    msg_ids.push_back(str(*m, "id"));
  }
  const auto bob_done = Clock::now();
  INFO("bob received " << received << " frames in "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(bob_done - started).count()
                       << " ms; first problem: " << first_problem);
  CHECK(first_problem.empty());
  REQUIRE(received == kCount);
  CHECK(std::set<std::string>(msg_ids.begin(), msg_ids.end()).size() == static_cast<std::size_t>(kCount));

  // alice: one `delivered` ack per id, naming the id bob saw
  std::map<std::string, std::string> ack_ids;  // ref -> message id
  std::string ack_problem;
  int acks = 0;
  while (acks < kCount && Clock::now() < deadline + 5s) {
    auto a = alice->next(5000ms);
    if (!a) break;
    ++acks;
    if (str(*a, "type") != "ack" || str(*a, "status") != "delivered") {
      if (ack_problem.empty()) ack_problem = "unexpected frame: " + dump(*a);
      continue;
    }
    if (!ack_ids.emplace(str(*a, "ref"), str(*a, "id")).second && ack_problem.empty())
      ack_problem = "duplicate ack: " + dump(*a);
  }
  INFO("alice got " << acks << " frames; first problem: " << ack_problem);
  CHECK(ack_problem.empty());
  REQUIRE(acks == kCount);
  int mismatched = 0;
  std::string first_mismatch;
  for (int i = 0; i < kCount; ++i) {
    auto it = ack_ids.find("m" + std::to_string(i));
    if (it == ack_ids.end() || it->second != msg_ids[static_cast<std::size_t>(i)]) {
      if (!mismatched++) first_mismatch = "m" + std::to_string(i);
    }
  }
  INFO(mismatched << " acks missing or naming another message id; first: " << first_mismatch);
  CHECK(mismatched == 0);
  CHECK(unix_ms() >= t0);
  expect_alive(*alice, "pa");
  expect_alive(*bob, "pb");
}

TEST_CASE("concurrent senders on both nodes keep per-sender order at every session", "[integration]") {
  constexpr int kPerSender = 1000;
  Cluster c;
  auto alice = join(c, 0, "alice");  // sender on node-1
  auto carol = join(c, 1, "carol");  // sender on node-2
  auto bob1 = join(c, 0, "bob");     // local to alice, remote to carol
  auto bob2 = join(c, 1, "bob");     // remote to alice, local to carol

  for (int i = 0; i < kPerSender; ++i) {
    alice->send_json({{"type", "send"}, {"to", "bob"}, {"id", "a" + std::to_string(i)}, {"body", {{"seq", i}}}});
    carol->send_json({{"type", "send"}, {"to", "bob"}, {"id", "c" + std::to_string(i)}, {"body", {{"seq", i}}}});
  }
  for (Session* b : {&bob1, &bob2}) {
    INFO("bob session on " << b->node);
    std::map<std::string, int64_t> next_seq{{"alice", 0}, {"carol", 0}};
    std::string problem;
    int received = 0;
    while (received < 2 * kPerSender) {
      auto m = (*b)->next(5000ms);
      if (!m) break;
      ++received;
      const std::string from = str(*m, "from");
      if (str(*m, "type") != "message" || !next_seq.count(from)) {
        if (problem.empty()) problem = "unexpected frame: " + dump(*m);
        continue;
      }
      const int64_t seq = num(m->at("body").as_object(), "seq");
      if (seq != next_seq[from] && problem.empty())
        problem = "from " + from + ": seq " + std::to_string(seq) + ", expected " + std::to_string(next_seq[from]);
      next_seq[from] = seq + 1;
    }
    INFO("received " << received << "; first problem: " << problem);
    CHECK(problem.empty());
    CHECK(received == 2 * kPerSender);
    CHECK(next_seq["alice"] == kPerSender);
    CHECK(next_seq["carol"] == kPerSender);
  }
  for (Session* s : {&alice, &carol}) {
    INFO("acks at " << s->user);
    std::set<std::string> refs;
    int delivered = 0;
    for (int i = 0; i < kPerSender; ++i) {
      auto a = (*s)->next(5000ms);
      if (!a) break;
      if (str(*a, "type") == "ack" && str(*a, "status") == "delivered") ++delivered;
      refs.insert(str(*a, "ref"));
    }
    CHECK(delivered == kPerSender);
    CHECK(refs.size() == static_cast<std::size_t>(kPerSender));
    expect_alive(**s, "p");
  }
}

TEST_CASE("a burst of messages crosses the router outbox's batch cuts in order, each acked once", "[integration]") {
  // 1,500 messages of ~0.5 KiB sent back to back: the router's per-peer outbox cuts its DELIVER
  // batches at 512 items and at 256 KiB, so this crosses batch boundaries of both kinds, and the
  // receipts come back batched too. Order, bodies and acks must come through unchanged. (The total,
  // ~750 KiB, stays under bob's 1 MiB send queue: the test reads bob only after sending.)
  constexpr int kCount = 1500;
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  const std::string pad(450, 'x');
  for (int i = 0; i < kCount; ++i) {
    json::object f{
        {"type", "send"}, {"to", "bob"}, {"id", "b" + std::to_string(i)}, {"body", {{"seq", i}, {"pad", pad}}}};
    alice->send_json(f);
  }
  std::string problem;
  int received = 0;
  const auto deadline = Clock::now() + 30s;
  while (received < kCount && Clock::now() < deadline) {
    auto m = bob->next(5000ms);
    if (!m) break;
    if (problem.empty() &&
        (str(*m, "type") != "message" || !m->at("body").is_object() ||
         num(m->at("body").as_object(), "seq") != received || str(m->at("body").as_object(), "pad") != pad)) {
      problem = "frame #" + std::to_string(received) + " unexpected: " + dump(*m).substr(0, 200);
    }
    ++received;
  }
  INFO("first problem: " << problem);
  CHECK(problem.empty());
  REQUIRE(received == kCount);
  std::set<std::string> refs;
  int acks = 0;
  while (acks < kCount && Clock::now() < deadline + 5s) {
    auto a = alice->next(5000ms);
    if (!a) break;
    ++acks;
    CHECK(str(*a, "type") == "ack");
    CHECK(str(*a, "status") == "delivered");
    refs.insert(str(*a, "ref"));
  }
  REQUIRE(acks == kCount);
  CHECK(refs.size() == static_cast<std::size_t>(kCount));
  expect_alive(*alice, "pa");
  expect_alive(*bob, "pb");
}
