// ZmqLinks: the node's ZeroMQ side: one DEALER per master (cluster.master lists 1..kMaxMasters), the PULL bound at
// cluster.events_bind and one PUSH per peer, all owned by one Asio thread: the thread that runs the
// io_context given to the constructor (the node gives the router's, context 0 of its IoPool).
// Sends from that thread go straight to the socket (non-blocking, ZMQ_DONTWAIT); a send from any
// other thread is posted there first. Inbound messages are noticed through each socket's ZMQ_FD,
// waited on in the io_context (edge-triggered: ZMQ_EVENTS is read after every wake-up and after
// every send on a socket that also receives, until it shows no more input), and handed to
// `on_message` on that thread, a bounded batch per turn. libzmq's own I/O thread does the TCP work.
// No thread of ours blocks on ZeroMQ, except stop(), which gives queued messages linger_ms to leave.
// Past start(), nothing here throws: every send and receive goes through zmq_socket.h, and each
// refused send is counted in ZmqLinkStats (wsg_zmq_dropped_total{reason}).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/curve.h"
#include "proto/cluster_codec.h"
#include "routing/master_link.h"
#include "routing/peer_link.h"

namespace wsg {

// Written by the owning thread (and by other threads for queue_drops), read by /metrics.
struct ZmqLinkStats {
  std::atomic<uint64_t> queue_drops{0};     // posted from another thread beyond the bound, or after stop()
  std::atomic<uint64_t> hwm_drops{0};       // ZeroMQ high-water mark reached: message dropped
  std::atomic<uint64_t> send_failures{0};   // the socket refused the send for another reason (zmq_socket.h)
  std::atomic<uint64_t> bad_messages{0};    // inbound messages that failed to decode
  std::atomic<uint64_t> peer_evictions{0};  // PUSH sockets closed to make room (Options::max_peers)
};

class ZmqLinks final : public MasterLink, public PeerLink {
 public:
  enum class Source { master, peer };
  // Called on the owning thread with the messages read from one socket in one turn (at most
  // kBatch), in order; `master` is the index of the master (in cluster.master's order) for
  // Source::master, 0 for Source::peer.
  using Handler = std::function<void(Source, std::size_t master, std::vector<cluster::Message>)>;
  static constexpr int kBatch = 1024;
  static constexpr std::size_t kDefaultMaxPeers = 128;

  struct Options {
    std::string master;                  // cluster.master: one address, or several separated by commas
    std::string events_bind;             // cluster.events_bind (tcp://host:* picks a free port)
    std::string routing_id;              // the DEALER's routing id (node id + incarnation)
    int send_hwm = 10000;                // ZMQ_SNDHWM of the DEALER and of every PUSH
    int recv_hwm = 100000;               // ZMQ_RCVHWM of the PULL and of the DEALER
    std::size_t queue_capacity = 65536;  // sends posted from other threads, not yet on a socket
    int linger_ms = 1000;                // flush time at stop()
    // At most this many peer PUSH sockets are open; opening one more closes the least recently
    // used (with evict_linger_ms for what it still holds). Made-up origins in DELIVERs cannot use
    // up the node's sockets and file descriptors (libzmq's ZMQ_MAX_SOCKETS is 1023 per context).
    std::size_t max_peers = kDefaultMaxPeers;
    int evict_linger_ms = 100;
    // ZMQ_MAXMSGSIZE of the PULL (what peers send: cluster::max_peer_message_bytes) and of the
    // DEALER (what the master sends). A larger frame is refused before libzmq allocates it.
    int64_t max_peer_message_bytes = cluster::max_peer_message_bytes(64 * 1024);
    int64_t max_master_message_bytes = cluster::kMaxToNodeBytes;
    // Every socket is looked at this often even without a wake-up: a safety net, not the
    // mechanism (0: never; tests use it to prove the mechanism alone suffices).
    int sweep_ms = 200;
    // The cluster key pair: the PULL becomes a CURVE server (a ZAP handler on the owning thread
    // admits only the cluster key), the DEALER and every PUSH CURVE clients. nullopt: plain text.
    std::optional<curve::KeyPair> curve;
    // Called once, on the owning thread, when every master refuses this node's handshake for good
    // (wrong or missing CURVE key: curve::RefusalDetector); one master refusing is logged as an
    // error. The links keep running.
    std::function<void(const std::string& reason)> on_refused;
  };

  using Stats = ZmqLinkStats;

  ZmqLinks(boost::asio::io_context& ioc, Options options, Handler on_message);
  ~ZmqLinks() override;
  ZmqLinks(const ZmqLinks&) = delete;
  ZmqLinks& operator=(const ZmqLinks&) = delete;

  // Binds the PULL, connects the DEALER and starts waiting on the sockets in the io_context. Call
  // it on the owning thread before the io_context runs, or inside it. Returns the PULL's bound
  // endpoint (with the real port). Throws std::runtime_error on failure (start-up only).
  std::string start();
  // Once the io_context has stopped (or from inside it), on the owning thread: gives what was sent
  // linger_ms to leave, then closes every socket. Idempotent.
  void stop();

  // To the first master (MasterLink).
  bool send_to_master(const cluster::Message& message) override { return send_to_master(0, message); }
  // To master `index` (< master_count()); false when dropped.
  bool send_to_master(std::size_t index, const cluster::Message& message);
  std::size_t master_count() const { return master_count_; }
  // The link to master `index` alone, for its MasterSession (valid as long as this object).
  MasterLink& master_link(std::size_t index) { return *master_links_.at(index); }
  bool send_to_peer(const std::string& node_id, const std::string& events, const cluster::Message& message) override;
  void drop_peer(const std::string& node_id) override;

  const Stats& stats() const { return stats_; }

 private:
  struct Impl;
  class OneMaster;
  boost::asio::io_context& ioc_;
  std::size_t master_count_ = 0;
  std::vector<std::unique_ptr<MasterLink>> master_links_;
  Stats stats_;
  std::atomic<std::size_t> posted_{0};  // sends posted from other threads, not yet run
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsg
