#include "telemetry/webhook_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace wsg {

namespace pm = prometheus;

namespace {

// Seconds, from a loopback answer to webhooks.timeout_ms's default and past it.
const pm::Histogram::BucketBoundaries kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

pm::Counter& counter(pm::Registry& r, const char* name, const char* help) {
  return pm::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

WebhookMetrics::WebhookMetrics(pm::Registry& r)
    : sent_(&counter(r, "wsg_webhook_events_sent_total", "Webhook events the receiver accepted (a 2xx answer).")),
      failed_(&counter(r, "wsg_webhook_events_failed_total",
                       "Webhook events given up: the receiver refused their batch (a 4xx other than 408 and 429, "
                       "a 1xx or 3xx) or webhooks.max_retries retries failed.")),
      dropped_(&counter(r, "wsg_webhook_events_dropped_total",
                        "Webhook events dropped unsent, oldest first, when the queue was full (webhooks.queue_max, "
                        "webhooks.queue_max_bytes).")),
      retries_(&counter(r, "wsg_webhook_retries_total",
                        "Webhook POSTs retried after a 5xx, 408 or 429 answer, a connection error or a timeout.")),
      depth_(&pm::BuildGauge()
                  .Name("wsg_webhook_queue_depth")
                  .Help("Webhook events waiting to be sent (the batch being sent included).")
                  .Register(r)
                  .Add({})),
      latency_(&pm::BuildHistogram()
                    .Name("wsg_webhook_latency_seconds")
                    .Help("Time of one webhook POST, from resolving the host to the answer (or the failure), in "
                          "seconds.")
                    .Register(r)
                    .Add({}, kBuckets)) {}

void WebhookMetrics::sent(uint64_t events) { sent_->Increment(static_cast<double>(events)); }
void WebhookMetrics::failed(uint64_t events) { failed_->Increment(static_cast<double>(events)); }
void WebhookMetrics::dropped(uint64_t events) { dropped_->Increment(static_cast<double>(events)); }
void WebhookMetrics::retried() { retries_->Increment(); }
void WebhookMetrics::queue_depth(uint64_t events) { depth_->Set(static_cast<double>(events)); }
void WebhookMetrics::latency(double seconds) { latency_->Observe(seconds); }

}  // namespace wsg
