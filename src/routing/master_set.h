// MasterSet: this node's sessions with every master of cluster.master (1..kMaxMasters), each a
// full replica of the directory (docs/architecture.md, "Several masters"). Writes go to every
// master: each MasterSession says HELLO, heartbeats, replays and registers on its own, and a
// welcome (or a room join ack) waits for the ack of every master that was reachable when it was
// queued (each bounded by delivery_timeout_ms). Reads (LOOKUP, LOOKUP_BATCH, NODE_QUERY,
// PRESENCE_QUERY, STATUS_QUERY, ROOM_LOOKUP) go to one reachable master, picked per key by
// rendezvous hashing so the read load spreads; a read not answered within hedge_ms is asked again
// of the next master, and an answer that finds nothing is confirmed by a master not yet asked
// before anyone acts on it (a master that lost a node's registrations — restarted, partitioned —
// must not make an online user look offline). Answers to a master's own requests (INVALIDATE_ACK,
// ROOM_INVALIDATE_ACK, ROOM_COUNT_REPLY) go back to the master that asked. With one master this
// is exactly the one MasterSession: no hedging, no confirmation.
// Runs on the Router's strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/master_session.h"

namespace wsg {

class MasterSet {
 public:
  using Strand = MasterSession::Strand;
  using Load = MasterSession::Load;
  using Handlers = MasterSession::Handlers;
  using KeepAlive = MasterSession::KeepAlive;
  // Bound on the reads remembered for hedging and confirmation; beyond it a read goes to one
  // master only (policy: no second chance for it, counted in stats().untracked_reads).
  static constexpr std::size_t kMaxTrackedReads = 65536;

  struct Stats {
    uint64_t hedged_reads = 0;     // asked again of another master: no answer in hedge_ms
    uint64_t confirmed_reads = 0;  // an empty answer asked again of another master
    uint64_t untracked_reads = 0;  // kMaxTrackedReads reached
  };

  // `links[i]` is the link to master i (cluster.master's order); at least one.
  MasterSet(Strand strand, MasterSession::Options options, std::vector<MasterLink*> links, Handlers handlers,
            KeepAlive keep_alive);
  // The sessions' handlers hold `this`.
  MasterSet(const MasterSet&) = delete;
  MasterSet& operator=(const MasterSet&) = delete;

  std::size_t size() const { return sessions_.size(); }
  MasterSession& session(std::size_t i) { return *sessions_.at(i); }

  void start();
  void stop();
  void drain();

  // --- registrations: to every master ---
  void add_session(const LocalSession& s, std::function<void()> on_registered);
  void remove_session(const LocalSession& s);
  // During a replay (Handlers::replay): to the master that asked for it only.
  void register_session(const LocalSession& s);
  void flush();
  void register_room(const std::string& room, std::function<void()> on_registered);
  void wait_room(const std::string& room, std::function<void()> on_registered);
  void unregister_room(const std::string& room);
  std::size_t pending_room_waits() const;
  std::size_t pending_welcomes() const;

  // --- from the masters: begin(i) names the master whose messages follow ---
  void begin(std::size_t index) { current_ = index < sessions_.size() ? index : 0; }
  void on_hello_reply(const cluster::HelloReply& reply) { sessions_[current_]->on_hello_reply(reply); }
  void on_ack(const cluster::Ack& ack) { sessions_[current_]->on_ack(ack); }
  void on_heartbeat_reply(const cluster::HeartbeatReply& reply) { sessions_[current_]->on_heartbeat_reply(reply); }
  void heard(uint64_t epoch) { sessions_[current_]->heard(epoch); }

  // Sends a message to the master(s) it is for (see the top of this file). False when it could
  // not be queued anywhere.
  bool send(const cluster::Message& message);
  // The answer to read `seq` (from the current master, begin()) found nothing: true when another
  // master's answer is to be waited for — one asked already that has not answered, or one asked
  // now — and the caller then ignores this answer. `reply` is kept: should no other answer come
  // (every other master asked is silent), sweep() hands it back to be acted on.
  bool confirm_empty(uint64_t seq, std::optional<cluster::Message> reply = std::nullopt);
  // Read `seq` was answered (and acted on): no second master is asked.
  void answered(uint64_t seq) { reads_.erase(seq); }

  // Welcomes and room waits past their deadline; reads past hedge_ms asked again. Returns the
  // empty answers kept by confirm_empty() for which no other answer can come any more, with the
  // index of the master that gave each: the caller acts on them now (begin(index), then as if
  // just received).
  std::vector<std::pair<std::size_t, cluster::Message>> sweep(int64_t now);

  // Accepted by at least one master, link alive, not draining.
  bool ready() const;
  // At least one master accepted us and was heard from lately.
  bool reachable(int64_t now) const;
  std::size_t reachable_count(int64_t now) const;
  uint64_t next_seq() { return ++seq_; }
  int64_t hedge_ms() const { return hedge_ms_; }
  const Stats& stats() const { return stats_; }

 private:
  struct Read {
    cluster::Message message;  // as sent to one master (a batch is remembered lookup by lookup)
    std::string key;
    uint32_t asked = 0;                                             // bit i: master i was asked
    uint32_t answered = 0;                                          // bit i: master i answered "nobody"
    std::optional<std::pair<std::size_t, cluster::Message>> empty;  // the first such answer
  };

  // The reachable masters for `key`, best first: settled before just (re)registered, then by
  // rendezvous hash.
  std::vector<std::size_t> order_for(const std::string& key, int64_t now) const;
  bool send_read(const cluster::Message& message, const std::string& key, uint64_t seq);
  bool ask_next(uint64_t seq, Read& read, int64_t now);
  void track(uint64_t seq, cluster::Message message, std::string key, std::size_t asked, int64_t now);

  std::vector<std::unique_ptr<MasterSession>> sessions_;
  std::size_t current_ = 0;
  std::size_t replaying_ = 0;
  bool in_replay_ = false;
  uint64_t seq_ = 0;
  int64_t hedge_ms_ = 500;
  std::unordered_map<uint64_t, Read> reads_;
  std::deque<std::pair<int64_t, uint64_t>> hedges_;  // (due, seq), in due order
  Stats stats_;
};

}  // namespace wsg
