// The webhook sender's metrics (docs/operations.md, "Webhooks"), added to the registry of the role
// that sends (the node's NodeMetrics, the master's MasterMetrics), so they appear in its /metrics.
// Updated by the sender's thread through references obtained once (prometheus-cpp counters and
// gauges are atomics; the histogram has its own mutex). No I/O.
#pragma once

#include <cstdint>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace wsg {

class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry);
  WebhookMetrics(const WebhookMetrics&) = delete;
  WebhookMetrics& operator=(const WebhookMetrics&) = delete;

  void sent(uint64_t events);     // accepted by the receiver (2xx)
  void failed(uint64_t events);   // refused by the receiver (4xx), or out of retries
  void dropped(uint64_t events);  // the oldest events, at the queue's bound
  void retried();                 // one more attempt of a batch
  void queue_depth(uint64_t events);
  void latency(double seconds);  // one POST, from connecting to the answer

 private:
  prometheus::Counter* sent_;
  prometheus::Counter* failed_;
  prometheus::Counter* dropped_;
  prometheus::Counter* retries_;
  prometheus::Gauge* depth_;
  prometheus::Histogram* latency_;
};

}  // namespace wsg
