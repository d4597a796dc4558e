// Outgoing: one message accepted from a local sender, followed by the Router until it is acked
// (or needs no ack). Its own header so the Router's pieces (the peer outbox) and their tests can
// hold one; only the Router changes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routing/local_session.h"

namespace wsg {

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
};

}  // namespace wsg
