// MasterSession: this node's session with the master. It says HELLO (again after an epoch change
// or when the master forgot us), sends the heartbeat, notices a master that went silent and came
// back, and batches the local sessions' registrations (REGISTER/UNREGISTER, each with a seq the
// master ACKs), holding each new session's welcome until its registration is acknowledged. The
// Router keeps the session registry and tells it which sessions come and go; it tells the Router
// (Handlers) when cached routes are stale, when every session must be registered again, and when
// the master refuses this node. Runs on the Router's strand (no locks but the `ready` flag,
// readable from any thread).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"

namespace wsg {

class MasterSession {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  struct Options {
    std::string node_id;
    uint64_t incarnation = 0;
    std::string ws_url;
    std::string events;  // advertised PULL address
    int64_t heartbeat_ms = 1000;
    int64_t delivery_timeout_ms = 2000;  // how long a welcome waits for the master's ack
    std::size_t register_batch = 1000;   // sessions per REGISTER/UNREGISTER
    // node.public_url: "" sends HELLO, else HELLO_PUBLIC (wire v5) carrying it.
    std::string public_url;
  };
  // What the heartbeat reports.
  struct Load {
    std::size_t sessions = 0;
    uint64_t messages_accepted = 0;
  };
  struct Handlers {
    // Invalidations may have been missed (a new master, a new epoch, a silence): no cached route
    // is to be trusted.
    std::function<void()> routes_stale;
    // Every live session must be registered again: call register_session() for each, within the
    // call (the pending batches were cleared; the replay is flushed right after).
    std::function<void()> replay;
    // The master refused this node (duplicate id). Called once.
    std::function<void(const std::string& reason)> fatal;
    std::function<Load()> load;
  };
  // Keeps the owner alive while a flush is posted or the heartbeat waits (the Router's
  // shared_from_this; may return null when the owner outlives the io_context's run, as in tests).
  using KeepAlive = std::function<std::shared_ptr<void>()>;

  MasterSession(Strand strand, Options options, MasterLink& link, Handlers handlers, KeepAlive keep_alive);

  // Sends HELLO and starts the heartbeat.
  void start();
  void stop();
  // Node shutdown: never ready again.
  void drain();

  // A session opened: registered at the master (batched); `on_registered` runs once the master
  // acknowledged it, at once while the master is away, or after delivery_timeout_ms at the latest.
  void add_session(const LocalSession& s, std::function<void()> on_registered);
  void remove_session(const LocalSession& s);
  // During a replay (Handlers::replay): queues one session's registration.
  void register_session(const LocalSession& s) { queue_register(s); }
  // Sends the queued registrations now (drain).
  void flush() { flush_registrations(); }

  // --- rooms (wire v3): which rooms have members on this node, registered like sessions ---
  // The room's first local member joined: ROOM_REGISTER (batched). `on_registered` runs once the
  // master acknowledged it (its sharers then dropped their cached route), at once while the
  // master is away, or after delivery_timeout_ms at the latest.
  void register_room(const std::string& room, std::function<void()> on_registered);
  // Another member joined: `on_registered` runs when the room's pending registration (if any) is
  // acknowledged, like register_room's; at once when none is pending.
  void wait_room(const std::string& room, std::function<void()> on_registered);
  // The room's last local member left: ROOM_UNREGISTER (batched; cancels a registration of the
  // room still queued). Callbacks waiting on the room run now.
  void unregister_room(const std::string& room);
  std::size_t pending_room_waits() const { return room_waits_.size(); }

  // --- from the master (the Router dispatches by type) ---
  void on_hello_reply(const cluster::HelloReply& reply);
  void on_ack(const cluster::Ack& ack);
  void on_heartbeat_reply(const cluster::HeartbeatReply& reply);
  // Any other message from the master, with the epoch it carries.
  void heard(uint64_t epoch) { check_epoch(epoch); }

  // One heartbeat: HELLO again if not accepted, else retries refused registrations and sends a
  // HEARTBEAT; updates `ready`. Run by the heartbeat timer (public for tests).
  void on_heartbeat();
  // Welcomes whose registration the master did not acknowledge in time: given anyway (the
  // registration stays queued for the replay). From the Router's sweep.
  void sweep_welcomes(int64_t now);

  // Accepted by the master (HELLO answered in this epoch).
  bool registered() const { return hello_ok_; }
  // Accepted and heard from lately: lookups, presence queries and verifications can be asked.
  bool reachable(int64_t now) const { return hello_ok_ && !lost(now); }
  bool lost(int64_t now) const;
  // Readable from any thread: accepted by the master, link alive, not draining.
  bool ready() const { return ready_.load(); }
  // The node's one sequence of request numbers to the master (registrations, lookups, presence).
  uint64_t next_seq() { return ++seq_; }
  uint64_t epoch() const { return epoch_; }
  // When this master last accepted us (HELLO answered) or was heard again after a silence: until
  // the other nodes replayed too, its directory may be incomplete.
  int64_t registered_since_ms() const { return registered_since_ms_; }
  MasterLink& link() { return link_; }
  std::size_t pending_welcomes() const { return pending_welcome_.size(); }

  static int64_t steady_ms();

 private:
  struct PendingWelcome {
    std::function<void()> callback;
    int64_t deadline_ms;
  };

  void send_hello();
  // HELLO again (the master forgot us): not ready until it answers.
  void reintroduce();
  void check_epoch(uint64_t epoch);
  // Any message from the master: after a silence long enough to count as lost, replay.
  void heard_from_master();
  void replay_sessions();
  void queue_register(const LocalSession& s);
  void flush_rooms();
  void room_registered(const std::string& room, uint64_t seq);
  void sweep_room_waits(int64_t now);
  void queue_unregister(const LocalSession& s);
  void schedule_flush();
  void flush_registrations();
  void arm_heartbeat();
  std::shared_ptr<void> keep() const { return keep_alive_ ? keep_alive_() : nullptr; }

  Strand strand_;
  Options opt_;
  MasterLink& link_;
  Handlers on_;
  KeepAlive keep_alive_;
  boost::asio::steady_timer heartbeat_timer_;
  bool stopped_ = false;
  bool draining_ = false;
  std::atomic<bool> ready_{false};

  uint64_t epoch_ = 0;
  bool hello_ok_ = false;
  int64_t last_master_ms_ = 0;
  int64_t registered_since_ms_ = 0;
  uint64_t seq_ = 0;
  std::vector<cluster::SessionRef> reg_batch_;
  std::vector<cluster::SessionRef> unreg_batch_;
  bool flush_scheduled_ = false;
  bool registrations_refused_ = false;  // a batch the link refused waits for the next heartbeat
  std::unordered_map<uint64_t, std::vector<std::string>> reg_inflight_;  // seq -> session ids
  std::unordered_map<std::string, PendingWelcome> pending_welcome_;      // session id -> welcome

  // Rooms: registrations and unregistrations in the order they happened (the same room can come
  // and go quickly), sent as runs of one kind; the rooms of each ROOM_REGISTER in flight; per room
  // with a registration not yet acknowledged, the seq that carries it (0: still queued) and the
  // callbacks (join acks) waiting for it.
  struct RoomOp {
    bool add = true;
    std::string room;
  };
  struct RoomWait {
    uint64_t seq = 0;
    std::vector<PendingWelcome> callbacks;
  };
  std::vector<RoomOp> room_ops_;
  std::unordered_map<uint64_t, std::vector<std::string>> room_inflight_;  // seq -> rooms
  std::unordered_map<std::string, RoomWait> room_waits_;
};

}  // namespace wsg
