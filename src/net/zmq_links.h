// ZmqLinks: the node's ZeroMQ side. One thread owns every ZeroMQ socket of the node:
// the DEALER to the master, the PULL bound at cluster.events_bind and one PUSH per peer.
// Other threads hand it encoded messages through a bounded lock-free queue and an eventfd;
// it hands decoded inbound messages to `on_message`, called on its own thread with every message
// one socket yielded in one wake-up (the node posts each batch to the router strand in one go, so
// no Asio thread ever touches ZeroMQ or blocks on it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

#include "curve.h"
#include "net/master_link.h"
#include "net/peer_link.h"

namespace wsg {

// Written by the ZeroMQ thread (and by enqueuers for queue_drops), read by /metrics.
struct ZmqLinkStats {
  std::atomic<uint64_t> queue_drops{0};   // hand-off queue full: message dropped
  std::atomic<uint64_t> hwm_drops{0};     // ZeroMQ high-water mark reached: message dropped
  std::atomic<uint64_t> bad_messages{0};  // inbound messages that failed to decode
};

class ZmqLinks final : public MasterLink, public PeerLink {
 public:
  enum class Source { master, peer };
  // Called with the messages read from one socket in one wake-up (at most 1024), in order.
  using Handler = std::function<void(Source, std::vector<cluster::Message>)>;

  struct Options {
    std::string master;           // cluster.master
    std::string events_bind;      // cluster.events_bind (tcp://host:* picks a free port)
    std::string routing_id;       // the DEALER's routing id (node id + incarnation)
    int send_hwm = 10000;         // ZMQ_SNDHWM of the DEALER and of every PUSH
    int recv_hwm = 100000;        // ZMQ_RCVHWM of the PULL and of the DEALER
    std::size_t queue_capacity = 65536;  // hand-off queue from Asio threads
    int linger_ms = 1000;         // flush time at stop()
    // The cluster key pair: the PULL becomes a CURVE server (a ZAP handler on this thread admits
    // only the cluster key), the DEALER and every PUSH CURVE clients. nullopt: plain text.
    std::optional<curve::KeyPair> curve;
    // Called once, on the ZMQ thread, when the master refuses this node's handshake for good
    // (wrong or missing CURVE key: curve::RefusalDetector). The links keep running.
    std::function<void(const std::string& reason)> on_refused;
  };

  using Stats = ZmqLinkStats;

  ZmqLinks(Options options, Handler on_message);
  ~ZmqLinks() override;
  ZmqLinks(const ZmqLinks&) = delete;
  ZmqLinks& operator=(const ZmqLinks&) = delete;

  // Starts the thread, binds the PULL and connects the DEALER. Returns the PULL's bound
  // endpoint (with the real port). Throws std::runtime_error on failure (start-up only).
  std::string start();
  // Sends what is queued, waits up to linger_ms for it to leave, closes everything.
  void stop();

  bool send_to_master(const cluster::Message& message) override;
  bool send_to_peer(const std::string& node_id, const std::string& events,
                    const cluster::Message& message) override;
  void drop_peer(const std::string& node_id) override;

  const Stats& stats() const { return stats_; }

 private:
  struct Command;
  struct Impl;
  bool enqueue(Command* command);
  void run(std::promise<std::string>* started);

  Options options_;
  Handler on_message_;
  boost::lockfree::queue<Command*> queue_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  // An eventfd write is pending that the ZeroMQ thread has not consumed yet: further enqueuers skip
  // the syscall (the thread drains the whole queue after it clears this flag).
  std::atomic<bool> wake_pending_{false};
  std::thread thread_;
  Stats stats_;
};

}  // namespace wsg
