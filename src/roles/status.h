// `wsg status`: asks the master for the cluster's state and prints it.
#pragma once

#include <cstdint>
#include <string>

namespace wsg {

struct StatusOptions {
  std::string master = "tcp://127.0.0.1:5555";
  bool json = false;
  std::string user;          // non-empty: print that user's sessions
  int64_t timeout_ms = 3000; // no answer by then: exit 1
};

// Prints to stdout; returns the process exit code (0 ok, 1 master unreachable).
int run_status(const StatusOptions& options);

}  // namespace wsg
