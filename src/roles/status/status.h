// `wsg status`: asks the master (or every listed master) for the cluster's state and prints it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/curve.h"

namespace wsg {

struct StatusOptions {
  // The masters to ask, in order (cluster.master split by master_list): all are asked at once. The
  // printed document is the answer of the first one that answered; with more than one the output
  // also compares them (man/wsg.1, COMMANDS, status).
  std::vector<std::string> masters{"tcp://127.0.0.1:5555"};
  bool json = false;
  std::string user;                     // non-empty: print that user's sessions
  std::string room;                     // non-empty: print that room's nodes and member counts
  int64_t timeout_ms = 3000;            // one deadline for every master: no answer by then counts as down
  std::optional<curve::KeyPair> curve;  // the cluster key pair (curve::cluster_keys); nullopt: plain text
};

// Prints to stdout; returns the process exit code: 0 when at least one master answered (a warning
// on stderr names each one that did not), 1 when none did (unreachable, refusing our handshake:
// wrong or missing cluster key, or an unreadable answer), 2 for a user id or room name the cluster
// codec refuses.
int run_status(const StatusOptions& options);

}  // namespace wsg
