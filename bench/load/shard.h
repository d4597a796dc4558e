// wsg-bench: one I/O thread's share of a worker: its io_context, its sessions and pairs, and what
// it measured. Everything of a shard runs on its own thread (no locks); it tells the worker about
// phase changes through Control.
#pragma once

#include "client.h"
#include "options.h"
#include "report.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace wsg::bench {

// Phase counters the shards bump and the worker's main thread waits on.
class Control {
 public:
  enum Phase { connected, sending_done, drained, closed, kPhases };

  void reached(Phase p, int64_t end_ns = 0);
  // At the `connected` phase: the shard's sessions opened and failed.
  void add_sessions(uint64_t opened, uint64_t failed);
  uint64_t opened();
  uint64_t failed();
  // Waits until `count` shards reached `p`, or the deadline (CLOCK_MONOTONIC ns). True when reached.
  bool wait(Phase p, int count, int64_t deadline_ns);
  int64_t max_end_ns();

  // room: what the shards sent in the measured window, per room and by this worker's own
  // publishers (set before `sending_done`), and the in-window deliveries received so far.
  void add_room_sent(const std::map<int64_t, uint64_t>& per_room, uint64_t own);
  std::map<int64_t, uint64_t> room_sent();
  uint64_t own_sent();
  void add_delivery() { deliveries_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t deliveries() const { return deliveries_.load(std::memory_order_relaxed); }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int counts_[kPhases] = {};
  int64_t max_end_ns_ = 0;
  uint64_t opened_ = 0;
  uint64_t failed_ = 0;
  std::map<int64_t, uint64_t> room_sent_;
  uint64_t own_sent_ = 0;
  std::atomic<uint64_t> deliveries_{0};
};

// A session to open: where, as whom, from which source address, and its slot.
struct SessionSpec {
  std::size_t url = 0;
  std::string user;
  uint32_t source = 0;
  std::size_t slot = 0;  // index in the shard's slots (pair sessions: 2 * pair + role; members: their index)
};

class Shard final : public ClientEvents {
 public:
  Shard(const Options& options, const std::vector<Endpoint>& endpoints, Control& control, int64_t concurrency,
        int64_t deadline_ns);
  ~Shard() override;

  // Set-up, before run(): the pairs and sessions of this shard.
  void add_pair(int64_t global_index, uint32_t sender_source, uint32_t recipient_source);
  void add_session(int64_t global_index, uint32_t source);
  void add_member(int64_t global_index, uint32_t source);  // room

  void run();  // the thread's body: runs the io_context until released

  // Called from the worker's thread (posted to the shard's).
  void start_connecting();                                                // idle, local, remote, room
  void start_traffic(int64_t warm_ns, int64_t start_ns, int64_t end_ns);  // local, remote, room
  void start_storm(int64_t start_ns);                                     // storm
  void close_all();                                                       // polite close of every session
  void abort_all();                                                       // close every socket now
  void release();                                                         // let run() return when idle
  void stop();                                                            // stop the io_context now

  // After run() returned (room: adds the deliveries its publishes owe, once).
  WorkerResult& result();

  // ClientEvents
  void on_welcome(Client& c) override;
  void on_frame(Client& c, std::string_view text) override;
  void on_failed(Client& c, const std::string& kind, const std::string& detail) override;
  void on_closed(Client& c, bool clean, const std::string& detail) override;

 private:
  // A sender: the sender of a pair, or a room's publisher.
  struct Pair {
    int64_t index = 0;  // global pair index, or the publisher's member index (the body's "p")
    std::size_t sender_slot = 0;
    std::string frame_prefix;  // {"type":"send","to":"RECIPIENT","body":{"t": (room: "publish","room":"R")
    int64_t next_seq = 0;
    int64_t in_flight = 0;
    int64_t window_first = -1;  // first and last seq sent in the measured window
    int64_t window_last = -1;
    int64_t window_sent = 0;
    int64_t quota = -1;  // in-window messages allowed (-1 = no bound)
    std::vector<bool> received;
    int64_t max_seen = -1;
    bool ready = false;          // both sessions welcomed (room: the publisher joined its room)
    bool exhausted = false;      // quota reached
    int64_t window_refused = 0;  // room: publishes of the window refused with an error frame
  };

  // room: one publisher of the member's room as this member receives it.
  struct Track {
    std::vector<bool> received;
    int64_t max_seen = -1;
  };
  // room: a member session of a room; `pub` is its sending side when it is a publisher too.
  struct Member {
    enum class Join { none, pending, joined, failed };
    int64_t index = 0;  // global member index
    int64_t room = 0;
    int64_t room_first = 0;  // the room's first member: its publishers are room_first + [0, tracks.size())
    int64_t room_size = 0;
    std::string room_name;
    std::vector<Track> tracks;
    Join join = Join::none;
    bool publisher = false;
    Pair pub;
  };

  void launch_next();
  void launch(const SessionSpec& spec);
  void connect_finished();
  void storm_slot_done();
  bool in_window(const Pair& p, int64_t seq) const {
    return p.window_first >= 0 && seq >= p.window_first && seq <= p.window_last;
  }
  void send_message(Pair& p, int64_t t_ns);
  void closed_loop_fill(Pair& p);
  void pace();
  void finish_sending(int64_t end_ns);
  void check_drained();
  void check_closed();
  void on_recipient_frame(Pair& p, std::string_view text);
  void on_sender_frame(Pair& p, std::string_view text);
  void count_error(const boost::json::object& frame);
  // room
  void send_join(Member& m);
  void join_done(Member& m, const std::string& failure);  // "" = joined
  void join_timeout();
  void on_member_frame(Member& m, std::string_view text);
  void on_delivery(Member& m, const boost::json::object& frame, int64_t now);
  void on_publish_answer(Member& m, int64_t seq, const boost::json::object& frame, bool refused);

  const Options& options_;
  const std::vector<Endpoint>& endpoints_;
  Control& control_;
  int64_t concurrency_;
  int64_t deadline_ns_;
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  boost::asio::steady_timer start_timer_;
  boost::asio::steady_timer end_timer_;
  boost::asio::steady_timer pace_timer_;
  boost::asio::steady_timer join_timer_;

  std::vector<SessionSpec> specs_;  // in launch order
  std::vector<std::shared_ptr<Client>> slots_;
  std::vector<Pair> pairs_;
  std::vector<Member> members_;  // room
  std::vector<Pair*> senders_;   // every pair, or every publisher, in pacing order (set at start_traffic)
  std::vector<Pair*> active_;    // pairs whose sessions are both open (room: publishers joined)
  bool room_ = false;
  int64_t joins_pending_ = 0;
  bool join_timer_armed_ = false;
  bool finalized_ = false;
  std::size_t next_spec_ = 0;
  int64_t connecting_ = 0;  // attempts in flight
  int64_t finished_ = 0;    // attempts finished (welcomed or failed)
  int64_t live_ = 0;        // clients started and not done
  bool connect_reported_ = false;

  bool storm_ = false;
  int64_t storm_done_ = 0;

  bool sending_ = false;
  bool sending_done_ = false;
  bool drained_reported_ = false;
  bool closing_ = false;
  bool closed_reported_ = false;
  int64_t warm_ns_ = 0, start_ns_ = 0, end_ns_ = 0;
  double interval_ns_ = 0;  // open loop: between two sends of this shard
  uint64_t paced_ = 0;      // open loop: messages scheduled so far
  std::size_t exhausted_ = 0;
  int64_t outstanding_ = 0;  // in-window messages not received yet
  int64_t acks_outstanding_ = 0;
  std::string padding_;
  std::vector<unsigned char> parse_buffer_;

  WorkerResult result_;
};

}  // namespace wsg::bench
