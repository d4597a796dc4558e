// PeerLink: how a node pushes DELIVER/RECEIPT batches to other nodes. Implemented over
// ZeroMQ PUSH sockets by ZmqLinks and in memory by tests. Never blocks.
#pragma once

#include <string>

#include "proto/cluster_codec.h"

namespace wsg {

class PeerLink {
 public:
  virtual ~PeerLink() = default;
  // Queues a message for node `node_id` whose PULL socket is at `events` (connected lazily,
  // reconnected when the address changes). Returns false when it was dropped.
  virtual bool send_to_peer(const std::string& node_id, const std::string& events, const cluster::Message& message) = 0;
  // Forgets a peer (it died): closes its socket and drops what was queued for it.
  virtual void drop_peer(const std::string& node_id) = 0;
};

}  // namespace wsg
