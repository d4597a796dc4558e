// LocalSession: what the router needs of a client session on this node. Implemented by
// WsSession (src/net) and by fakes in tests. deliver() and close_drain() are thread-safe
// and never block: they post to the session's own strand.
#pragma once

#include <cstddef>
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
  // Bytes waiting in its send queue, as last published by the session (any thread; for metrics).
  virtual std::size_t queued_bytes() const { return 0; }
};

}  // namespace wsg
