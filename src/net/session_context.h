// SessionContext: what every HTTP/WebSocket session of a node shares. Immutable settings plus
// a few atomics (counters for /metrics among them: relaxed, written by the session strands); one
// lock, UserSessions', held for a map lookup twice per session (at the upgrade and at its end).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "proto/jwt.h"
#include "routing/router.h"
#include "telemetry/metrics.h"

namespace boost::asio::ssl {
class context;
}

namespace wsg {

class StaticFiles;
struct ZmqLinkStats;

// Open WebSocket sessions per user on this node (limits.max_sessions_per_user), counted like
// `connections`: from the upgrade to the end of the WsSession.
class UserSessions {
 public:
  // Counts one more session of `user`; false (nothing counted) when it has `max` already (0: no cap).
  bool try_add(const std::string& user, int64_t max) {
    std::lock_guard lk(m_);
    auto it = counts_.find(user);
    if (it == counts_.end()) {
      counts_.emplace(user, 1);
      return true;
    }
    if (max > 0 && it->second >= max) return false;
    ++it->second;
    return true;
  }
  void remove(const std::string& user) {
    std::lock_guard lk(m_);
    auto it = counts_.find(user);
    if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
  }

 private:
  std::mutex m_;
  std::unordered_map<std::string, int64_t> counts_;
};

struct SessionContext {
  std::string node_id;
  uint64_t incarnation = 0;
  std::string public_url;  // node.public_url, "" when unset (/healthz)
  LimitsConfig limits;
  HttpConfig http;
  enum class AuthMode { insecure, jwt };
  AuthMode auth_mode = AuthMode::insecure;
  jwt::Verifier jwt;  // algorithm, key and claim checks when auth_mode is jwt
  std::shared_ptr<Router> router;
  // Set when the node serves TLS (tls.cert / tls.key): every connection on the port is TLS. Shared
  // so that it outlives every session's SSL object.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // Set when http.static_dir is: the files served for paths other than /ws and /healthz.
  std::shared_ptr<const StaticFiles> static_files;

  std::atomic<int64_t> connections{0};  // open WebSocket sessions (counted at upgrade)
  UserSessions user_sessions;           // the same, per user
  std::atomic<uint64_t> session_counter{0};
  std::atomic<bool> draining{false};

  // /metrics. `link_stats` (ZmqLinks' drop counters) outlives every session.
  std::shared_ptr<NodeMetrics> metrics;
  const ZmqLinkStats* link_stats = nullptr;
  std::atomic<uint64_t> sessions_opened{0};
  std::array<std::atomic<uint64_t>, kCloseReasonCount> sessions_closed{};  // by CloseReason
  std::array<std::atomic<uint64_t>, kErrorCodeCount> errors{};             // by proto::ErrorCode

  void count_error(proto::ErrorCode code) {
    errors[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  }

  std::string next_session_id() {
    // Unique in the cluster: node ids are unique among live nodes and the incarnation is
    // random per process.
    return node_id + "." + to_hex(incarnation & 0xffffffffu) + "." +
           std::to_string(session_counter.fetch_add(1, std::memory_order_relaxed) + 1);
  }

 private:
  static std::string to_hex(uint64_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 0xf];
    return s;
  }
};

}  // namespace wsg
