#include "telemetry/api_metrics.h"

#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace wsg {

namespace pm = prometheus;

std::string_view ApiMetrics::to_string(Endpoint e) {
  switch (e) {
    case Endpoint::publish: return "publish";
    case Endpoint::batch: return "batch";
    case Endpoint::disconnect: return "disconnect";
    case Endpoint::rooms_join: return "rooms_join";
    case Endpoint::rooms_leave: return "rooms_leave";
    case Endpoint::presence: return "presence";
    case Endpoint::members: return "members";
    case Endpoint::info: return "info";
    case Endpoint::other: return "other";
  }
  return "other";
}

ApiMetrics::ApiMetrics(pm::Registry& r)
    : requests_(&pm::BuildCounter()
                     .Name("wsg_api_requests_total")
                     .Help("Server API requests answered, by endpoint and HTTP status (docs/api.md).")
                     .Register(r)),
      duration_(&pm::BuildHistogram()
                     .Name("wsg_api_request_duration_seconds")
                     .Help("Server API requests, from reading the request to writing the answer, in seconds.")
                     .Register(r)
                     .Add({}, pm::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                              0.25, 0.5, 1, 2.5, 5, 10})) {
  for (std::size_t e = 0; e < kEndpointCount; ++e) {
    for (std::size_t s = 0; s < kStatuses.size(); ++s) {
      counters_[e][s] = &requests_->Add(
          {{"endpoint", std::string(to_string(static_cast<Endpoint>(e)))}, {"code", std::to_string(kStatuses[s])}});
    }
  }
}

void ApiMetrics::answered(Endpoint endpoint, unsigned status, double seconds) {
  const auto e = static_cast<std::size_t>(endpoint);
  for (std::size_t s = 0; s < kStatuses.size(); ++s) {
    if (kStatuses[s] == status && e < kEndpointCount) {
      counters_[e][s]->Increment();
      break;
    }
  }
  duration_->Observe(seconds);
}

}  // namespace wsg
