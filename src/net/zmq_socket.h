// Non-throwing ZeroMQ sends and receives (issue 14, "no exceptions past start-up"): every send and
// receive on the data path of the node (ZmqLinks), the master, `wsg status` and the CURVE helpers
// (ZAP replies, monitor reads) goes through these functions, which report an outcome instead of
// throwing zmq::error_t. Sockets are still created, bound, connected and configured with cppzmq at
// start-up, where an exception is caught once and turned into an exit code.
//
// All of them are non-blocking (ZMQ_DONTWAIT) and call the libzmq C API on socket.handle(); none
// throws or allocates except recv_multipart, which catches its own allocation failure. How an
// errno maps to an outcome:
//   EAGAIN                  would_block: a high-water mark is reached (send) or nothing is queued
//                           (receive); try again later, or drop and count it.
//   EINTR                   retried once (a signal during the call), then would_block.
//   everything else         failed: the socket cannot take or give this message (ETERM: its context
//                           is closing; ENOTSOCK: closed; EFSM: a REQ/REP out of turn;
//                           EHOSTUNREACH: a ROUTER_MANDATORY ROUTER does not know the identity;
//                           EMSGSIZE, ENOTSUP...). Retrying the same thing will not help.
// The errno is kept and reason() gives zmq_strerror's text for logs.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace wsg::zsock {

enum class SendResult { sent, would_block, failed };
enum class RecvResult { received, would_block, failed };

struct SendStatus {
  SendResult result = SendResult::sent;
  int error = 0;  // the errno when not sent, else 0
  bool sent() const noexcept { return result == SendResult::sent; }
  // zmq_strerror(error), or "sent".
  const char* reason() const noexcept;
};

struct RecvStatus {
  RecvResult result = RecvResult::received;
  int error = 0;  // the errno when nothing was received, else 0
  bool received() const noexcept { return result == RecvResult::received; }
  const char* reason() const noexcept;
};

const char* to_string(SendResult r) noexcept;
const char* to_string(RecvResult r) noexcept;

// One frame; `more` sets ZMQ_SNDMORE (another frame of the same message follows).
SendStatus send(zmq::socket_t& s, std::string_view bytes, bool more = false) noexcept;

// One message of several frames. libzmq applies the high-water mark to whole messages: only the
// first frame can be refused with would_block; once it is accepted the others are too, so a
// refusal of a later frame means the socket is broken and is reported as failed (the message is
// then incomplete on a socket nothing useful can be done with).
SendStatus send_multipart(zmq::socket_t& s, std::span<const std::string_view> parts) noexcept;
SendStatus send_multipart(zmq::socket_t& s, std::initializer_list<std::string_view> parts) noexcept;

// One frame into `msg` (its previous content is released). msg.more() tells whether another frame
// of the same message follows.
RecvStatus recv(zmq::socket_t& s, zmq::message_t& msg) noexcept;

// One whole message: its first `max_parts` (>= 1) frames into `parts` (cleared first); further frames are
// read and dropped, and `*truncated` (if given) says so. Never leaves a message half read unless
// the socket fails: the frames after the first are there once the first is (libzmq delivers
// messages whole).
RecvStatus recv_multipart(zmq::socket_t& s, std::vector<zmq::message_t>& parts, std::size_t max_parts,
                          bool* truncated = nullptr) noexcept;

// ZMQ_EVENTS (ZMQ_POLLIN | ZMQ_POLLOUT bits), or nullopt with `*error` set.
std::optional<int> events(zmq::socket_t& s, int* error = nullptr) noexcept;

// ZMQ_LINGER, at shutdown or when a socket is dropped: false (with `*error`) if the socket refused.
bool set_linger(zmq::socket_t& s, int linger_ms, int* error = nullptr) noexcept;

}  // namespace wsg::zsock
