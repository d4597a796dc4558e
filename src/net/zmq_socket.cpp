// The non-throwing ZeroMQ sends and receives of zmq_socket.h: the libzmq C API with ZMQ_DONTWAIT on
// socket.handle(), errno mapped to an outcome in one place.
#include "net/zmq_socket.h"

#include <cerrno>
#include <new>

#include <zmq.h>

namespace wsg::zsock {

namespace {

// The one errno rule (zmq_socket.h): EAGAIN is a full pipe or an empty queue, EINTR was retried
// once already by the caller, anything else is a refusal that retrying would not change.
bool would_block(int error) noexcept { return error == EAGAIN || error == EINTR; }

SendStatus send_refused(int error) noexcept {
  return {would_block(error) ? SendResult::would_block : SendResult::failed, error};
}

RecvStatus recv_refused(int error) noexcept {
  return {would_block(error) ? RecvResult::would_block : RecvResult::failed, error};
}

// A closed cppzmq socket has a null handle: libzmq would answer ENOTSOCK, but a null pointer is
// not something to hand it.
void* handle_of(zmq::socket_t& s) noexcept { return s.handle(); }

}  // namespace

const char* SendStatus::reason() const noexcept { return error != 0 ? zmq_strerror(error) : to_string(result); }

const char* RecvStatus::reason() const noexcept { return error != 0 ? zmq_strerror(error) : to_string(result); }

const char* to_string(SendResult r) noexcept {
  switch (r) {
    case SendResult::sent: return "sent";
    case SendResult::would_block: return "would_block";
    case SendResult::failed: return "failed";
  }
  return "?";
}

const char* to_string(RecvResult r) noexcept {
  switch (r) {
    case RecvResult::received: return "received";
    case RecvResult::would_block: return "would_block";
    case RecvResult::failed: return "failed";
  }
  return "?";
}

SendStatus send(zmq::socket_t& s, std::string_view bytes, bool more) noexcept {
  void* h = handle_of(s);
  if (h == nullptr) return {SendResult::failed, ENOTSOCK};
  const int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (zmq_send(h, bytes.data(), bytes.size(), flags) >= 0) return {};
    const int error = zmq_errno();
    if (error != EINTR || attempt == 1) return send_refused(error);
  }
  return {SendResult::would_block, EINTR};  // not reached
}

SendStatus send_multipart(zmq::socket_t& s, std::span<const std::string_view> parts) noexcept {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto st = send(s, parts[i], i + 1 < parts.size());
    if (st.sent()) continue;
    // A later frame: the message is half queued, nothing to retry (zmq_socket.h).
    if (i > 0) st.result = SendResult::failed;
    return st;
  }
  return {};
}

SendStatus send_multipart(zmq::socket_t& s, std::initializer_list<std::string_view> parts) noexcept {
  return send_multipart(s, std::span<const std::string_view>(parts.begin(), parts.size()));
}

RecvStatus recv(zmq::socket_t& s, zmq::message_t& msg) noexcept {
  void* h = handle_of(s);
  if (h == nullptr) return {RecvResult::failed, ENOTSOCK};
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (zmq_msg_recv(msg.handle(), h, ZMQ_DONTWAIT) >= 0) return {};
    const int error = zmq_errno();
    if (error != EINTR || attempt == 1) return recv_refused(error);
  }
  return {RecvResult::would_block, EINTR};  // not reached
}

RecvStatus recv_multipart(zmq::socket_t& s, std::vector<zmq::message_t>& parts, std::size_t max_parts,
                          bool* truncated) noexcept {
  if (truncated) *truncated = false;
  try {
    parts.clear();
    zmq::message_t frame;
    auto st = recv(s, frame);
    if (!st.received()) return st;
    for (;;) {
      const bool more = frame.more();
      if (parts.size() < max_parts) {
        parts.push_back(std::move(frame));
      } else if (truncated) {
        *truncated = true;
      }
      if (!more) return {};
      frame = zmq::message_t();
      st = recv(s, frame);
      // The rest of a message is there once its first frame is: only a broken socket stops here.
      if (!st.received()) return {RecvResult::failed, st.error != 0 ? st.error : EAGAIN};
    }
  } catch (...) {  // std::bad_alloc from the vector (message_t's default constructor does not throw)
    return {RecvResult::failed, ENOMEM};
  }
}

std::optional<int> events(zmq::socket_t& s, int* error) noexcept {
  void* h = handle_of(s);
  int value = 0;
  size_t size = sizeof value;
  if (h != nullptr && zmq_getsockopt(h, ZMQ_EVENTS, &value, &size) == 0) return value;
  if (error) *error = h != nullptr ? zmq_errno() : ENOTSOCK;
  return std::nullopt;
}

bool set_linger(zmq::socket_t& s, int linger_ms, int* error) noexcept {
  void* h = handle_of(s);
  if (h != nullptr && zmq_setsockopt(h, ZMQ_LINGER, &linger_ms, sizeof linger_ms) == 0) return true;
  if (error) *error = h != nullptr ? zmq_errno() : ENOTSOCK;
  return false;
}

}  // namespace wsg::zsock
