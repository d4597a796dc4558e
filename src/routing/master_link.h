// MasterLink: how a node talks to the master. Implemented over ZeroMQ by ZmqLinks and in
// memory by tests. send() may be called from any thread and never blocks.
#pragma once

#include "proto/cluster_codec.h"

namespace wsg {

class MasterLink {
 public:
  virtual ~MasterLink() = default;
  // Queues a message for the master. Returns false when it was dropped (queue bound hit).
  virtual bool send_to_master(const cluster::Message& message) = 0;
};

}  // namespace wsg
