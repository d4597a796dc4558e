// LocalSession: what the router needs of a client session on this node. Implemented by
// WsSession (src/net) and by fakes in tests. deliver(), run_on_thread() and close_drain() are
// thread-safe and never block: they post to the session's own thread, in the order called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace wsg {

class LocalSession {
 public:
  virtual ~LocalSession() = default;
  virtual const std::string& user() const = 0;
  virtual const std::string& session_id() const = 0;
  // Queues one server frame (shared, immutable: one buffer serves every recipient session).
  virtual void deliver(std::shared_ptr<const std::string> frame) = 0;
  // Closes the session with 1001 "drain" (node shutdown).
  virtual void close_drain() = 0;
  // Closes the session with `code` (4000..4999) and `reason` (at most 123 bytes): the server API's
  // disconnect (thread-safe, never blocks, like close_drain). The default does nothing (fakes).
  virtual void close_with(uint16_t code, std::string reason) {
    (void)code;
    (void)reason;
  }
  // Fan-out by thread (RoomRouter): sessions whose handlers all run on one thread return the same
  // non-null key (WsSession: its I/O context, which IoPool runs on exactly one thread). The router
  // posts one function per key and publish (run_on_thread) that calls deliver_here() for each of
  // them, instead of one deliver() post per session. Null (the default): deliver() is used.
  virtual const void* thread_key() const { return nullptr; }
  // Runs `fn` once on this session's thread (any thread may call; never blocks). Only called when
  // thread_key() is not null.
  virtual void run_on_thread(std::function<void()> fn) { fn(); }
  // deliver() without the post: only from a function given to run_on_thread() of a session with
  // the same thread_key().
  virtual void deliver_here(std::shared_ptr<const std::string> frame) { deliver(std::move(frame)); }
  // Bytes waiting in its send queue, as last published by the session (any thread; for metrics).
  virtual std::size_t queued_bytes() const { return 0; }
  // A server API call acting for the application's backend (src/net/api_server), not a client:
  // it may publish to a room it is not a member of (rooms.publish_requires_join is for clients).
  virtual bool is_service() const { return false; }
};

}  // namespace wsg
