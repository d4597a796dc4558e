#include "net/node_metrics.h"

#include <boost/asio/post.hpp>

#include "net/zmq_links.h"

namespace wsg {

namespace {

// The sessions' and ZmqLinks' counters: relaxed atomics, any thread.
void add_shared_counters(const SessionContext& ctx, NodeSample& s) {
  s.connections = ctx.connections.load(std::memory_order_relaxed);
  s.sessions_opened = ctx.sessions_opened.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kCloseReasonCount; ++i) {
    s.sessions_closed[i] = ctx.sessions_closed[i].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) s.errors[i] += ctx.errors[i].load(std::memory_order_relaxed);
  if (ctx.link_stats) {
    s.zmq_queue_drops = ctx.link_stats->queue_drops.load(std::memory_order_relaxed);
    s.zmq_hwm_drops = ctx.link_stats->hwm_drops.load(std::memory_order_relaxed);
    s.zmq_send_failures = ctx.link_stats->send_failures.load(std::memory_order_relaxed);
    s.cluster_malformed = ctx.link_stats->bad_messages.load(std::memory_order_relaxed);
    s.zmq_peer_evictions = ctx.link_stats->peer_evictions.load(std::memory_order_relaxed);
  }
}

}  // namespace

void scrape_node_metrics(const std::shared_ptr<SessionContext>& ctx, boost::asio::any_io_executor executor,
                         std::function<void(std::string)> done) {
  ctx->router->sample([ctx, executor = std::move(executor), done = std::move(done)](NodeSample sample) mutable {
    // Rendering is the expensive part: not on the router strand.
    boost::asio::post(executor, [ctx, sample = std::move(sample), done = std::move(done)]() mutable {
      add_shared_counters(*ctx, sample);
      done(ctx->metrics->render(sample));
    });
  });
}

}  // namespace wsg
