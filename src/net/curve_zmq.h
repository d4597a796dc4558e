// ZeroMQ CURVE on the cluster's sockets (docs/security.md, "Cluster links"): socket set-up, the
// ZAP handler that admits only holders of the cluster key, and a handshake monitor that tells a
// client its server refused it.
//
// Past construction nothing here throws: the ZAP socket and the monitor are read and answered through
// zmq_socket.h, and a refusal is counted (ZapHandler::unanswered) rather than thrown.
//
// Everything here belongs to the thread that owns the sockets of its context (the node's ZMQ
// thread, the master's loop, `wsg status`): the ZAP socket and the monitor sockets are polled
// next to the sockets they serve, and never touched from another thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "config/curve.h"

namespace wsg::curve {

// Makes `s` a CURVE server holding the cluster secret, checked by the ZAP handler of its
// context (domain "wsg"). Call before bind().
void make_server(zmq::socket_t& s, const KeyPair& keys);
// Makes `s` a CURVE client with the cluster key pair, expecting a server that holds the cluster
// secret. Call before connect().
void make_client(zmq::socket_t& s, const KeyPair& keys);

// ZAP 1.0 handler (ZeroMQ RFC 27) bound at inproc://zeromq.zap.01 of one context: answers 200 to
// a CURVE client whose public key is the cluster's, 400 to anything else. It must exist before a
// CURVE server socket of that context accepts a connection, and be polled (socket(), ZMQ_POLLIN)
// by the thread that owns it: libzmq waits for its answer to finish each handshake.
class ZapHandler {
 public:
  ZapHandler(zmq::context_t& ctx, const KeyPair& keys);
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  zmq::socket_t& socket() { return socket_; }
  // Answers every request already queued (never blocks). Returns how many were refused.
  int handle_pending();
  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }
  // Address of the last refused client ("" when none).
  const std::string& last_refused_address() const { return last_refused_address_; }
  // Requests read but not answered, or not readable: the socket refused (zmq_socket.h); libzmq
  // then fails those handshakes after their interval. With the reason of the last one.
  uint64_t unanswered() const { return unanswered_; }
  const std::string& last_error() const { return last_error_; }

 private:
  zmq::socket_t socket_;
  std::string cluster_public_;  // 32 raw bytes
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint64_t unanswered_ = 0;
  std::string last_refused_address_;
  std::string last_error_;
};

// A socket monitor (zmq_socket_monitor) reporting the handshake events of one socket on an inproc
// PAIR socket that the owning thread polls (socket(), ZMQ_POLLIN). Create it before the watched
// socket connects or binds; destroy it before the watched socket is closed.
class HandshakeMonitor {
 public:
  enum class Kind { succeeded, failed_auth, failed_protocol, failed_no_detail, other };
  struct Event {
    Kind kind = Kind::other;
    uint32_t value = 0;  // ZAP status code, protocol error code or errno, by kind
    std::string endpoint;
  };

  HandshakeMonitor(zmq::context_t& ctx, zmq::socket_t& watched, const std::string& name);
  ~HandshakeMonitor();
  HandshakeMonitor(const HandshakeMonitor&) = delete;
  HandshakeMonitor& operator=(const HandshakeMonitor&) = delete;

  zmq::socket_t& socket() { return pair_; }
  // The events already queued (never blocks).
  std::vector<Event> read_pending();

 private:
  void* watched_;
  zmq::socket_t pair_;
};

// Decides, from a client socket's handshake events, that its server refuses it for good: at once
// on a ZAP refusal or a security mechanism mismatch (one side has CURVE, the other not), else after
// kMaxFailures handshakes in a row that failed (a CURVE server that does not hold the secret the
// client expects just drops the connection; so does a server that noticed a mechanism mismatch
// before the client did, as both send their greeting at once). A successful handshake resets the
// count, so a server restarted in the middle of one handshake is not taken for a refusal.
class RefusalDetector {
 public:
  static constexpr int kMaxFailures = 3;

  // `peer` names the server in messages ("the master"); `curve` tells whether we use CURVE.
  RefusalDetector(std::string peer, bool curve) : peer_(std::move(peer)), curve_(curve) {}

  // The reason the server refuses us, once it is certain; nullopt until then.
  std::optional<std::string> on_event(const HandshakeMonitor::Event& event);
  // Text for an event that is not fatal (for debug logs).
  static std::string describe(const HandshakeMonitor::Event& event);

 private:
  std::string peer_;
  bool curve_;
  int failures_ = 0;
};

}  // namespace wsg::curve
