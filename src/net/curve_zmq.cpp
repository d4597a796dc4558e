#include "net/curve_zmq.h"

#include <atomic>
#include <cstring>

#include <zmq.h>

#include "net/zmq_socket.h"

namespace wsg::curve {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "wsg";

std::string hex(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) out += digits[(v >> shift) & 0xf];
  return out;
}

}  // namespace

void make_server(zmq::socket_t& s, const KeyPair& keys) {
  s.set(zmq::sockopt::curve_server, true);
  s.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  s.set(zmq::sockopt::zap_domain, kZapDomain);
}

void make_client(zmq::socket_t& s, const KeyPair& keys) {
  s.set(zmq::sockopt::curve_serverkey, keys.public_key);
  s.set(zmq::sockopt::curve_publickey, keys.public_key);
  s.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

// ---------------------------------------------------------------------------------------------
// ZAP handler

ZapHandler::ZapHandler(zmq::context_t& ctx, const KeyPair& keys)
    : socket_(ctx, zmq::socket_type::rep), cluster_public_(decode(keys.public_key)) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind(kZapEndpoint);
}

int ZapHandler::handle_pending() {
  int refused_now = 0;
  // Bounded per call, like every other receive loop, so a flood of handshakes cannot starve the
  // owner's other sockets.
  std::vector<zmq::message_t> frames;
  for (int i = 0; i < 256; ++i) {
    // A request has 7 frames; with an 8th kept the check below refuses longer ones.
    bool truncated = false;
    const auto got = zsock::recv_multipart(socket_, frames, 8, &truncated);
    if (got.result == zsock::RecvResult::would_block) break;
    if (!got.received()) {  // the context is closing: nothing to answer
      ++unanswered_;
      last_error_ = got.reason();
      break;
    }
    // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
    const auto frame = [&](std::size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
    const std::string request_id = frame(1);
    bool ok = !truncated && frames.size() == 7 && frame(0) == "1.0" && frame(5) == "CURVE" &&
              !cluster_public_.empty() && frame(6) == cluster_public_;
    const std::string_view status = ok ? "200" : "400";
    const std::string_view text = ok ? "OK" : "not a member of this cluster (wrong CURVE key)";
    // version, request id, status code, status text, user id, metadata
    const auto sent = zsock::send_multipart(socket_, {"1.0", request_id, status, text, ok ? "cluster" : "", ""});
    if (!sent.sent()) {
      // Unanswered, libzmq fails the handshake after its handshake interval; the REP socket is
      // broken (a closing context), so stop here.
      ++unanswered_;
      last_error_ = sent.reason();
      break;
    }
    if (ok) {
      ++accepted_;
    } else {
      ++refused_;
      ++refused_now;
      last_refused_address_ = frame(3);
    }
  }
  return refused_now;
}

// ---------------------------------------------------------------------------------------------
// Handshake monitor

namespace {
std::atomic<uint64_t> g_monitor_serial{0};
}

HandshakeMonitor::HandshakeMonitor(zmq::context_t& ctx, zmq::socket_t& watched, const std::string& name)
    : watched_(watched.handle()), pair_(ctx, zmq::socket_type::pair) {
  const std::string endpoint = "inproc://wsg-monitor-" + name + "-" + std::to_string(g_monitor_serial.fetch_add(1));
  const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  if (zmq_socket_monitor(watched_, endpoint.c_str(), events) != 0) throw zmq::error_t();
  pair_.set(zmq::sockopt::linger, 0);
  pair_.connect(endpoint);
}

HandshakeMonitor::~HandshakeMonitor() {
  zmq_socket_monitor(watched_, nullptr, 0);
  pair_.close();
}

std::vector<HandshakeMonitor::Event> HandshakeMonitor::read_pending() {
  std::vector<Event> out;
  std::vector<zmq::message_t> frames;
  for (int i = 0; i < 256; ++i) {
    // Nothing queued, or the monitor's context is closing: either way no more events now.
    if (!zsock::recv_multipart(pair_, frames, 2).received()) break;
    const zmq::message_t& head = frames[0];
    // Version 1 events: a 6-byte frame (16-bit event, 32-bit value, native order), then the endpoint.
    if (head.size() < 6) continue;
    uint16_t id = 0;
    Event e;
    std::memcpy(&id, head.data<char>(), sizeof id);
    std::memcpy(&e.value, head.data<char>() + 2, sizeof e.value);
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: e.kind = Kind::succeeded; break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: e.kind = Kind::failed_auth; break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: e.kind = Kind::failed_protocol; break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: e.kind = Kind::failed_no_detail; break;
      default: e.kind = Kind::other; break;
    }
    e.endpoint = frames.size() > 1 ? frames[1].to_string() : std::string();
    out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Refusal detector

std::string RefusalDetector::describe(const HandshakeMonitor::Event& e) {
  switch (e.kind) {
    case HandshakeMonitor::Kind::succeeded: return "handshake with " + e.endpoint + " succeeded";
    case HandshakeMonitor::Kind::failed_auth:
      return "handshake with " + e.endpoint + " refused by the server's authentication (ZAP status " +
             std::to_string(e.value) + ")";
    case HandshakeMonitor::Kind::failed_protocol:
      if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return "handshake with " + e.endpoint + " failed: security mechanism mismatch (CURVE on one side only)";
      if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        return "handshake with " + e.endpoint + " failed: cryptographic error (different CURVE keys)";
      return "handshake with " + e.endpoint + " failed: protocol error " + hex(e.value);
    case HandshakeMonitor::Kind::failed_no_detail:
      return "handshake with " + e.endpoint +
             " failed (connection closed during the handshake: " + zmq_strerror(static_cast<int>(e.value)) + ")";
    case HandshakeMonitor::Kind::other: break;
  }
  return "socket event on " + e.endpoint;
}

std::optional<std::string> RefusalDetector::on_event(const HandshakeMonitor::Event& e) {
  using Kind = HandshakeMonitor::Kind;
  // Both ends send their greeting at once, so which one notices a mechanism mismatch first is a
  // race: the client may see the mismatch, or only a connection closed during the handshake. The
  // messages therefore name the likely causes whatever the event.
  const std::string where = " (" + e.endpoint + ")";
  const std::string set_key =
      "set cluster.curve_secret_key (or cluster.curve_secret_key_file, "
      "--curve-secret-key-file, or WSG_CURVE_SECRET_KEY) to the cluster's secret key";
  switch (e.kind) {
    case Kind::succeeded: failures_ = 0; return std::nullopt;
    case Kind::other: return std::nullopt;
    case Kind::failed_auth:
      if (curve_)
        return peer_ + where + " refused our CURVE key (ZAP status " + std::to_string(e.value) +
               "): check cluster.curve_secret_key";
      return peer_ + where + " refused us (ZAP status " + std::to_string(e.value) + ")";
    case Kind::failed_protocol:
      if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        if (curve_)
          return peer_ + where +
                 " refused our CURVE key: it does not use CURVE; check cluster.curve_secret_key "
                 "(give it the same key, or remove ours)";
        return peer_ + where + " refused us: it requires CURVE; " + set_key;
      }
      break;
    case Kind::failed_no_detail: break;
  }
  if (++failures_ < kMaxFailures) return std::nullopt;
  const std::string count = std::to_string(failures_) + " handshakes in a row failed; last: " + describe(e);
  if (curve_)
    return peer_ + where + " refused our CURVE key: check cluster.curve_secret_key (it must be the same as " + peer_ +
           "'s, which must have one) (" + count + ")";
  return peer_ + where + " refused us: it probably requires CURVE; " + set_key + " (" + count + ")";
}

}  // namespace wsg::curve
