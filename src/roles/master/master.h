// `wsg master`: the cluster directory behind a ZeroMQ ROUTER.
#pragma once

#include "config/config.h"

namespace wsg {

// Runs the master until SIGINT/SIGTERM. Returns the process exit code.
int run_master(const Config& config);

}  // namespace wsg
