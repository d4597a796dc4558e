// `wsg status`: asks the master for the cluster's state and prints it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/curve.h"

namespace wsg {

struct StatusOptions {
  std::string master = "tcp://127.0.0.1:5555";
  bool json = false;
  std::string user;                     // non-empty: print that user's sessions
  std::string room;                     // non-empty: print that room's nodes and member counts
  int64_t timeout_ms = 3000;            // no answer by then: exit 1
  std::optional<curve::KeyPair> curve;  // the cluster key pair (curve::cluster_keys); nullopt: plain text
};

// Prints to stdout; returns the process exit code (0 ok, 1 master unreachable or refusing our
// handshake: wrong or missing cluster key).
int run_status(const StatusOptions& options);

}  // namespace wsg
