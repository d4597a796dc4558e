// The node's GET /metrics (docs/operations.md, "Metrics"): the exposition of NodeMetrics
// (src/metrics.h).
//
// Threads: the router's part of the sample is read on the router strand (Router::sample posts
// there and copies counters and sizes, one pass over the sessions for the send-queue bytes); the
// rest is read from atomics, and the text rendered, back on the caller's executor (the HTTP
// session's strand). Neither strand waits for the other; a scrape never touches ZeroMQ.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "net/session_context.h"

namespace wsg {

// Calls `done(text)` on `executor` with the node's exposition. `ctx->metrics` and `ctx->router`
// must be set.
void scrape_node_metrics(const std::shared_ptr<SessionContext>& ctx, boost::asio::any_io_executor executor,
                         std::function<void(std::string)> done);

}  // namespace wsg
