// The server API's metrics (docs/operations.md, "Server API"), added to the node's registry so
// they appear in its /metrics: requests by endpoint and HTTP status, and the time to answer them.
// Updated by the API's connections on the I/O threads (prometheus-cpp counters are atomics; a
// family's Add() and the histogram take their own short locks). No I/O.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace wsg {

class ApiMetrics {
 public:
  // The endpoint label: the path's endpoint, or `other` (unknown paths, requests refused before
  // their path is read).
  enum class Endpoint : std::size_t {
    publish,
    batch,
    disconnect,
    rooms_join,
    rooms_leave,
    presence,
    members,
    info,
    other
  };
  static constexpr std::size_t kEndpointCount = static_cast<std::size_t>(Endpoint::other) + 1;
  static std::string_view to_string(Endpoint e);

  explicit ApiMetrics(prometheus::Registry& registry);
  ApiMetrics(const ApiMetrics&) = delete;
  ApiMetrics& operator=(const ApiMetrics&) = delete;

  // One answered request: its endpoint, HTTP status and the seconds from reading it to answering.
  void answered(Endpoint endpoint, unsigned status, double seconds);

 private:
  // The statuses the API answers with (docs/api.md, "Errors"), each a label value created once.
  static constexpr std::array<unsigned, 11> kStatuses{200, 400, 401, 404, 405, 413, 429, 431, 500, 503, 504};
  prometheus::Family<prometheus::Counter>* requests_;
  std::array<std::array<prometheus::Counter*, kStatuses.size()>, kEndpointCount> counters_{};
  prometheus::Histogram* duration_;
};

}  // namespace wsg
