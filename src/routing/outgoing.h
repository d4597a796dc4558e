// Outgoing: one message accepted from a local sender, followed by the Router until it is acked
// (or needs no ack). Its own header so the Router's pieces (the peer outbox) and their tests can
// hold one; only the Router changes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/client_protocol.h"
#include "proto/cluster_codec.h"
#include "routing/local_session.h"

namespace wsg {

// A server API operation on every session of a user (Router::user_op), routed as an Outgoing
// whose `op` is set: applied where a message would be delivered, answered by the same receipts.
struct UserOpSpec {
  cluster::UserOpKind kind = cluster::UserOpKind::disconnect;
  uint32_t code = 0;   // disconnect
  std::string room;    // join, leave
  std::string reason;  // disconnect
  // Called once with the outcome (the message's ack): delivered = applied to at least one session.
  std::function<void(proto::AckStatus, std::string_view reason)> done;
  // Local applications not finished yet (a join waits for its registration at the master, so that
  // a publish sent after the answer reaches the sessions): a `delivered` ack waits for them.
  int waiting_here = 0;
  bool delivered_deferred = false;
};

struct Outgoing {
  uint64_t seq = 0;  // send order on this node (the id's counter)
  std::string id;
  std::string from;
  std::string to;
  std::string body;
  int64_t ts_ms = 0;
  std::weak_ptr<LocalSession> sender;
  std::optional<std::string> ref;
  int64_t deadline_ms = 0;
  std::chrono::steady_clock::time_point accepted;  // for wsg_delivery_latency_seconds
  bool delivered = false;                          // at least one session got it (local or remote receipt)
  bool local_done = false;                         // written to this node's sessions of the recipient
  bool acked = false;                              // the ack went out (or none is owed)
  bool done = false;                               // settled: no longer in flight
  bool retried = false;                            // a fresh lookup after a bounce was made
  bool bounced = false;                            // some node answered not_here
  bool uncertain = false;                          // handed to a node that died before its receipt: may have arrived
  bool in_barrier = false;                         // counted in its Flow's barrier
  std::vector<std::string> pending_nodes;          // nodes whose receipt is awaited
  std::shared_ptr<UserOpSpec> op;                  // set: a server API operation, not a message
};

}  // namespace wsg
