// ApiContext: what every connection of the server API's listener (src/net/api_server) shares:
// settings, the bearer key, the listener's token bucket (api.requests_per_second, api.burst) and
// the counters its bounds are checked against (api.max_connections, api.max_inflight).
#pragma once

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "net/session_context.h"
#include "routing/router.h"
#include "telemetry/api_metrics.h"

namespace wsg {

// A token bucket over the whole listener: `rate` tokens a second up to `burst`; rate 0 = unlimited.
// One short lock per request.
class ApiRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  ApiRateLimiter(int64_t rate, int64_t burst)
      : rate_(static_cast<double>(rate)), burst_(static_cast<double>(std::max<int64_t>(burst, 1))), tokens_(burst_) {}

  // nullopt: allowed (one token taken). Else the whole seconds to wait (Retry-After, at least 1).
  std::optional<int64_t> take(Clock::time_point now = Clock::now()) {
    if (rate_ <= 0) return std::nullopt;
    std::lock_guard lk(m_);
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    if (elapsed > 0) tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return std::nullopt;
    }
    const double wait = (1.0 - tokens_) / rate_;
    return std::max<int64_t>(1, static_cast<int64_t>(wait + 0.999));
  }

 private:
  const double rate_;
  const double burst_;
  std::mutex m_;
  double tokens_;
  Clock::time_point last_ = Clock::now();
};

struct ApiContext {
  ApiContext(const ApiConfig& config, std::optional<std::string> key_value)
      : api(config), rate(config.requests_per_second, config.burst) {
    if (key_value) key = digest(*key_value);
  }

  ApiConfig api;
  int64_t max_message_bytes = 64 * 1024;  // limits.max_message_bytes: one body
  std::string node_id;
  std::shared_ptr<Router> router;
  std::shared_ptr<SessionContext> session_ctx;  // draining
  // The bearer key's SHA-256 (nullopt: no key, loopback only). Compared in constant time with the
  // digest of what a request presents, so neither the key's length nor its bytes leak by timing.
  std::optional<std::array<unsigned char, SHA256_DIGEST_LENGTH>> key;
  ApiRateLimiter rate;
  std::shared_ptr<ApiMetrics> metrics;  // null: not counted (tests)

  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> inflight{0};  // router operations awaiting answers (api.max_inflight)
  std::atomic<uint64_t> call_counter{0};

  static std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(std::string_view text) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
    return out;
  }
  bool key_matches(std::string_view presented) const {
    if (!key) return true;
    const auto d = digest(presented);
    return CRYPTO_memcmp(d.data(), key->data(), d.size()) == 0;
  }
  std::string next_call_id() {
    return node_id + ".api." + std::to_string(call_counter.fetch_add(1, std::memory_order_relaxed) + 1);
  }
};

}  // namespace wsg
