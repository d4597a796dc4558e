// `wsg node`: WebSocket sessions, local delivery and routing to other nodes.
#pragma once

#include "config/config.h"

namespace wsg {

// Runs a node until SIGINT/SIGTERM (drain) or a fatal cluster error (duplicate node id).
// Returns the process exit code.
int run_node(const Config& config);

}  // namespace wsg
