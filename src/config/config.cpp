// Configuration: defaults (config.h), TOML loading with file:line errors, validation, TOML output.
//
// Every key is described once in fields() below: its section, name, type, range or string check.
// parse(), validate() and to_toml() are all driven by that table, so a key cannot be known to one
// of them and missing from another.
#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <variant>
#include <vector>

#include <toml++/toml.h>

#include "config/curve.h"
#include "config/secrets.h"
#include "text/host_port.h"
#include "text/http_url.h"
#include "text/suggest.h"
#include "text/text_quote.h"

namespace wsg {
namespace {

using Reason = std::optional<std::string>;

using StrGet = std::string& (*)(Config&);
using IntGet = int64_t& (*)(Config&);
using SmallIntGet = int& (*)(Config&);
using BoolGet = bool& (*)(Config&);
using ListGet = std::vector<std::string>& (*)(Config&);
using Getter = std::variant<StrGet, IntGet, SmallIntGet, BoolGet, ListGet>;
using StrCheck = Reason (*)(std::string_view);

struct Field {
  std::string_view section;
  std::string_view key;
  Getter get;
  int64_t min = 0;  // integers: inclusive range
  int64_t max = 0;
  StrCheck check = nullptr;  // strings and list elements; nullptr accepts anything

  std::string full_name() const { return std::string(section) + "." + std::string(key); }
};

// ---------------------------------------------------------------------------------------------
// String checks

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// HOST:PORT (host_port.h: the parser the listeners use too). `wildcard` also accepts "*" as the
// host (ZeroMQ bind addresses).
Reason check_host_port(std::string_view s, bool wildcard) {
  std::string why;
  if (parse_host_port(s, why, wildcard ? Wildcard::allow : Wildcard::refuse)) return std::nullopt;
  return why;
}

Reason check_listen(std::string_view s) { return check_host_port(s, false); }

Reason check_optional_listen(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return check_host_port(s, false);
}

Reason check_zmq(std::string_view s, bool bind) {
  const std::string expected = " (expected tcp://HOST:PORT or ipc://PATH)";
  if (s.starts_with("tcp://")) {
    const auto host_port = s.substr(6);
    if (host_port.empty()) return "tcp:// needs HOST:PORT" + expected;
    if (auto bad = check_host_port(host_port, bind)) return "'" + std::string(s) + "': " + *bad;
    return std::nullopt;
  }
  if (s.starts_with("ipc://")) {
    if (s.size() == 6) return "ipc:// needs a path" + expected;
    return std::nullopt;
  }
  if (s.empty()) return "empty address" + expected;
  return "'" + std::string(s) + "' is not a ZeroMQ endpoint" + expected;
}

Reason check_zmq_bind(std::string_view s) { return check_zmq(s, true); }
// cluster.master: one to kMaxMasters distinct connect addresses, separated by commas.
Reason check_masters(std::string_view s) {
  const auto list = master_list(s);
  if (list.empty()) return "needs at least one master address (expected tcp://HOST:PORT or ipc://PATH)";
  if (list.size() > kMaxMasters)
    return "at most " + std::to_string(kMaxMasters) + " masters (got " + std::to_string(list.size()) + ")";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto bad = check_zmq(list[i], false))
      return list.size() == 1 ? bad : "master " + std::to_string(i + 1) + ": " + *bad;
    for (std::size_t j = 0; j < i; ++j) {
      if (list[j] == list[i]) return "'" + list[i] + "' is listed twice";
    }
  }
  return std::nullopt;
}
Reason check_optional_zmq_connect(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return check_zmq(s, false);
}

Reason check_node_id(std::string_view s) {
  if (s.empty()) return std::nullopt;  // "" = node-<port>
  if (s.size() > 64) return "must be at most 64 bytes (got " + std::to_string(s.size()) + ")";
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
      return "'" + std::string(s) + "' may only contain letters, digits, '.', '_' and '-'";
  return std::nullopt;
}

Reason one_of(std::string_view s, std::initializer_list<std::string_view> allowed, std::string_view what) {
  std::string list;
  for (auto a : allowed) {
    if (s == a) return std::nullopt;
    if (!list.empty()) list += ", ";
    list += a;
  }
  return "unknown " + std::string(what) + " '" + std::string(s) + "' (expected one of: " + list + ")";
}

Reason check_optional_curve_key(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return curve::key_problem(s);
}

Reason check_auth_mode(std::string_view s) { return one_of(s, {"insecure", "jwt"}, "mode"); }
Reason check_auth_algorithm(std::string_view s) { return one_of(s, {"HS256", "RS256", "ES256"}, "algorithm"); }
Reason check_log_level(std::string_view s) {
  return one_of(s, {"trace", "debug", "info", "warn", "error", "critical", "off"}, "level");
}
Reason check_log_format(std::string_view s) { return one_of(s, {"text", "json"}, "format"); }

// An Origin header value: scheme://host[:port], no path.
Reason check_origin(std::string_view s) {
  const std::string expected = " (expected scheme://host[:port], e.g. https://chat.example.com)";
  std::string_view rest;
  if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return "'" + std::string(s) + "' is not an origin" + expected;
  }
  if (rest.empty() || rest.front() == ':' || rest.find_first_of("/?# ") != std::string_view::npos)
    return "'" + std::string(s) + "' is not an origin" + expected;
  return std::nullopt;
}

Reason check_optional_ws_url(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string why;
  if (parse_ws_url(s, why)) return std::nullopt;
  return why;
}

Reason check_optional_http_url(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string why;
  if (parse_http_url(s, why)) return std::nullopt;
  return why;
}

// The names of proto/webhook_event.h (a layer config may not include; tests/unit/webhook_test.cpp
// checks that the two lists agree).
Reason check_webhook_event(std::string_view s) {
  return one_of(s, {"user.online", "user.offline", "room.occupied", "room.vacated", "message.undelivered"}, "event");
}

// ---------------------------------------------------------------------------------------------
// The keys

Field str(std::string_view section, std::string_view key, StrGet get, StrCheck check = nullptr) {
  return Field{section, key, get, 0, 0, check};
}
Field integer(std::string_view section, std::string_view key, IntGet get, int64_t min, int64_t max) {
  return Field{section, key, get, min, max, nullptr};
}
Field small_integer(std::string_view section, std::string_view key, SmallIntGet get, int64_t min, int64_t max) {
  return Field{section, key, get, min, max, nullptr};
}
Field boolean(std::string_view section, std::string_view key, BoolGet get) {
  return Field{section, key, get, 0, 0, nullptr};
}
Field list(std::string_view section, std::string_view key, ListGet get, StrCheck check) {
  return Field{section, key, get, 0, 0, check};
}

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kGiB = 1024LL * 1024 * 1024;

const std::vector<Field>& fields() {
  // One key a line, each with its accessor and rule: kept as written.
  // clang-format off
  static const std::vector<Field> all = {
      str("master", "bind", [](Config& c) -> std::string& { return c.master.bind; }, check_zmq_bind),
      integer("master", "node_timeout_ms", [](Config& c) -> int64_t& { return c.master.node_timeout_ms; }, 1, kDay),

      str("metrics", "listen", [](Config& c) -> std::string& { return c.metrics.listen; }, check_optional_listen),

      str("node", "id", [](Config& c) -> std::string& { return c.node.id; }, check_node_id),
      str("node", "listen", [](Config& c) -> std::string& { return c.node.listen; }, check_listen),
      small_integer("node", "threads", [](Config& c) -> int& { return c.node.threads; }, 0, 1024),
      integer("node", "shutdown_timeout_ms", [](Config& c) -> int64_t& { return c.node.shutdown_timeout_ms; }, 1,
              kHour),
      str("node", "public_url", [](Config& c) -> std::string& { return c.node.public_url; }, check_optional_ws_url),

      str("cluster", "master", [](Config& c) -> std::string& { return c.cluster.master; }, check_masters),
      str("cluster", "events_bind", [](Config& c) -> std::string& { return c.cluster.events_bind; },
          check_zmq_bind),
      str("cluster", "events_advertise", [](Config& c) -> std::string& { return c.cluster.events_advertise; },
          check_optional_zmq_connect),
      integer("cluster", "heartbeat_ms", [](Config& c) -> int64_t& { return c.cluster.heartbeat_ms; }, 1, kHour),
      integer("cluster", "delivery_timeout_ms",
              [](Config& c) -> int64_t& { return c.cluster.delivery_timeout_ms; }, 1, kHour),
      // 1..2: only v2 is gated (v3, rooms, is sent whenever used; static_assert in roles/node/node.cpp).
      small_integer("cluster", "wire_version", [](Config& c) -> int& { return c.cluster.wire_version; }, 1, 2),
      integer("cluster", "outbox_coalesce_us", [](Config& c) -> int64_t& { return c.cluster.outbox_coalesce_us; }, 0,
              100000),
      str("cluster", "curve_secret_key", [](Config& c) -> std::string& { return c.cluster.curve_secret_key; },
          check_optional_curve_key),
      str("cluster", "curve_secret_key_file",
          [](Config& c) -> std::string& { return c.cluster.curve_secret_key_file; }),
      str("cluster", "curve_public_key", [](Config& c) -> std::string& { return c.cluster.curve_public_key; },
          check_optional_curve_key),

      integer("cache", "capacity", [](Config& c) -> int64_t& { return c.cache.capacity; }, 1, 1'000'000'000),
      integer("cache", "ttl_ms", [](Config& c) -> int64_t& { return c.cache.ttl_ms; }, 1, 30 * kDay),

      str("auth", "mode", [](Config& c) -> std::string& { return c.auth.mode; }, check_auth_mode),
      str("auth", "secret", [](Config& c) -> std::string& { return c.auth.secret; }),
      str("auth", "secret_file", [](Config& c) -> std::string& { return c.auth.secret_file; }),
      str("auth", "algorithm", [](Config& c) -> std::string& { return c.auth.algorithm; }, check_auth_algorithm),
      str("auth", "public_key_file", [](Config& c) -> std::string& { return c.auth.public_key_file; }),
      integer("auth", "leeway_ms", [](Config& c) -> int64_t& { return c.auth.leeway_ms; }, 0, kHour),
      str("auth", "audience", [](Config& c) -> std::string& { return c.auth.audience; }),
      str("auth", "issuer", [](Config& c) -> std::string& { return c.auth.issuer; }),

      // At most 8 MiB: a message crosses the cluster in one DELIVER, whose body the wire codec
      // bounds at 16 MiB (cluster::kMaxBody).
      integer("limits", "max_message_bytes", [](Config& c) -> int64_t& { return c.limits.max_message_bytes; }, 1,
              8 * 1024 * 1024),
      integer("limits", "max_connections", [](Config& c) -> int64_t& { return c.limits.max_connections; }, 0,
              100'000'000),
      integer("limits", "max_sessions_per_user",
              [](Config& c) -> int64_t& { return c.limits.max_sessions_per_user; }, 0, 100'000'000),
      integer("limits", "send_queue_bytes", [](Config& c) -> int64_t& { return c.limits.send_queue_bytes; }, 1,
              16 * kGiB),
      integer("limits", "messages_per_second",
              [](Config& c) -> int64_t& { return c.limits.messages_per_second; }, 0, 1'000'000'000),
      integer("limits", "burst", [](Config& c) -> int64_t& { return c.limits.burst; }, 1, 1'000'000'000),

      integer("rooms", "max_per_session", [](Config& c) -> int64_t& { return c.rooms.max_per_session; }, 0,
              1'000'000),
      integer("rooms", "max_members", [](Config& c) -> int64_t& { return c.rooms.max_members; }, 0, 100'000'000),
      boolean("rooms", "publish_requires_join", [](Config& c) -> bool& { return c.rooms.publish_requires_join; }),
      boolean("rooms", "notices", [](Config& c) -> bool& { return c.rooms.notices; }),

      list("http", "allowed_origins",
           [](Config& c) -> std::vector<std::string>& { return c.http.allowed_origins; }, check_origin),
      str("http", "static_dir", [](Config& c) -> std::string& { return c.http.static_dir; }),
      boolean("http", "compression", [](Config& c) -> bool& { return c.http.compression; }),

      str("api", "listen", [](Config& c) -> std::string& { return c.api.listen; }, check_optional_listen),
      str("api", "key", [](Config& c) -> std::string& { return c.api.key; }),
      str("api", "key_file", [](Config& c) -> std::string& { return c.api.key_file; }),
      integer("api", "max_body_bytes", [](Config& c) -> int64_t& { return c.api.max_body_bytes; }, 1024, kGiB),
      integer("api", "requests_per_second", [](Config& c) -> int64_t& { return c.api.requests_per_second; }, 0,
              1'000'000'000),
      integer("api", "burst", [](Config& c) -> int64_t& { return c.api.burst; }, 1, 1'000'000'000),
      integer("api", "max_connections", [](Config& c) -> int64_t& { return c.api.max_connections; }, 1, 1'000'000),
      integer("api", "max_users_per_publish", [](Config& c) -> int64_t& { return c.api.max_users_per_publish; }, 1,
              1'000'000),
      integer("api", "max_batch", [](Config& c) -> int64_t& { return c.api.max_batch; }, 1, 100'000),
      integer("api", "max_inflight", [](Config& c) -> int64_t& { return c.api.max_inflight; }, 1, 100'000'000),
      integer("api", "request_timeout_ms", [](Config& c) -> int64_t& { return c.api.request_timeout_ms; }, 100,
              kHour),

      str("tls", "cert", [](Config& c) -> std::string& { return c.tls.cert; }),
      str("tls", "key", [](Config& c) -> std::string& { return c.tls.key; }),

      str("webhooks", "url", [](Config& c) -> std::string& { return c.webhooks.url; }, check_optional_http_url),
      str("webhooks", "ca_file", [](Config& c) -> std::string& { return c.webhooks.ca_file; }),
      str("webhooks", "secret", [](Config& c) -> std::string& { return c.webhooks.secret; }),
      str("webhooks", "secret_file", [](Config& c) -> std::string& { return c.webhooks.secret_file; }),
      list("webhooks", "events", [](Config& c) -> std::vector<std::string>& { return c.webhooks.events; },
           check_webhook_event),
      integer("webhooks", "batch_max", [](Config& c) -> int64_t& { return c.webhooks.batch_max; }, 1, 10000),
      integer("webhooks", "batch_delay_ms", [](Config& c) -> int64_t& { return c.webhooks.batch_delay_ms; }, 0,
              60000),
      integer("webhooks", "queue_max", [](Config& c) -> int64_t& { return c.webhooks.queue_max; }, 1, 10'000'000),
      integer("webhooks", "queue_max_bytes", [](Config& c) -> int64_t& { return c.webhooks.queue_max_bytes; },
              1024, 16 * kGiB),
      integer("webhooks", "timeout_ms", [](Config& c) -> int64_t& { return c.webhooks.timeout_ms; }, 1, kHour),
      integer("webhooks", "max_retries", [](Config& c) -> int64_t& { return c.webhooks.max_retries; }, 0,
              1'000'000),
      integer("webhooks", "retry_initial_ms", [](Config& c) -> int64_t& { return c.webhooks.retry_initial_ms; }, 1,
              kHour),
      integer("webhooks", "retry_max_ms", [](Config& c) -> int64_t& { return c.webhooks.retry_max_ms; }, 1, kDay),
      integer("webhooks", "flush_timeout_ms", [](Config& c) -> int64_t& { return c.webhooks.flush_timeout_ms; }, 0,
              kHour),

      str("log", "level", [](Config& c) -> std::string& { return c.log.level; }, check_log_level),
      str("log", "format", [](Config& c) -> std::string& { return c.log.format; }, check_log_format),
  };
  // clang-format on
  return all;
}

std::vector<std::string_view> sections() {
  std::vector<std::string_view> out;
  for (const auto& f : fields())
    if (std::find(out.begin(), out.end(), f.section) == out.end()) out.push_back(f.section);
  return out;
}

// A "did you mean" hint (suggest.h): only close matches, at most two edits away.
std::string suggestion(std::string_view got, const std::vector<std::string>& candidates) {
  const std::string best = closest(got, candidates, 2);
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

// ---------------------------------------------------------------------------------------------
// Checks shared by parse() and validate()

Reason range_reason(const Field& f, int64_t v) {
  if (v < f.min) {
    if (f.min == 1) return "must be positive (got " + std::to_string(v) + ")";
    if (f.min == 0) return "must not be negative (got " + std::to_string(v) + ")";
    return "must be at least " + std::to_string(f.min) + " (got " + std::to_string(v) + ")";
  }
  if (v > f.max) return "must be at most " + std::to_string(f.max) + " (got " + std::to_string(v) + ")";
  return std::nullopt;
}

Reason check_field(const Field& f, Config& c) {
  return std::visit(
      [&](auto get) -> Reason {
        using G = decltype(get);
        if constexpr (std::is_same_v<G, IntGet> || std::is_same_v<G, SmallIntGet>) {
          return range_reason(f, get(c));
        } else if constexpr (std::is_same_v<G, StrGet>) {
          return f.check ? f.check(get(c)) : std::nullopt;
        } else if constexpr (std::is_same_v<G, ListGet>) {
          const auto& items = get(c);
          for (size_t i = 0; i < items.size(); ++i)
            if (auto bad = f.check ? f.check(items[i]) : std::nullopt)
              return "element " + std::to_string(i + 1) + ": " + *bad;
          return std::nullopt;
        } else {
          return std::nullopt;
        }
      },
      f.get);
}

struct CrossIssue {
  std::vector<std::string> keys;  // the keys involved; the error names the first one set in the file
  std::string reason;
};

bool is_wildcard_tcp(std::string_view endpoint) {
  if (!endpoint.starts_with("tcp://")) return false;
  const auto hp = endpoint.substr(6);
  return hp.starts_with("*:") || hp.starts_with("0.0.0.0:") || hp.starts_with("[::]:");
}

// The key of auth.algorithm: a secret for HS256, a public key file for RS256 / ES256, never the
// other kind (a public key taken for an HS256 secret is the algorithm-confusion attack).
std::optional<CrossIssue> auth_key_issue(const AuthConfig& a) {
  const bool hs = a.algorithm == "HS256";
  if (hs && !a.public_key_file.empty())
    return CrossIssue{{"auth.public_key_file", "auth.algorithm"},
                      "auth.public_key_file is for auth.algorithm \"RS256\" or \"ES256\" (auth.algorithm is \"HS256\", "
                      "which verifies with auth.secret or auth.secret_file)"};
  if (!hs && (!a.secret.empty() || !a.secret_file.empty()))
    return CrossIssue{{a.secret.empty() ? "auth.secret_file" : "auth.secret", "auth.algorithm"},
                      "auth.secret and auth.secret_file are for auth.algorithm \"HS256\" (auth.algorithm is \"" +
                          a.algorithm + "\", which verifies with auth.public_key_file)"};
  if (!hs && a.mode == "jwt" && a.public_key_file.empty())
    return CrossIssue{{"auth.algorithm", "auth.mode"},
                      "auth.algorithm \"" + a.algorithm + "\" needs auth.public_key_file (a PEM public key)"};
  return std::nullopt;
}

std::optional<CrossIssue> cross_check(const Config& c) {
  if (c.limits.send_queue_bytes < c.limits.max_message_bytes)
    return CrossIssue{{"limits.send_queue_bytes", "limits.max_message_bytes"},
                      "limits.send_queue_bytes (" + std::to_string(c.limits.send_queue_bytes) +
                          ") must be at least limits.max_message_bytes (" + std::to_string(c.limits.max_message_bytes) +
                          ")"};
  if (c.tls.cert.empty() != c.tls.key.empty())
    return CrossIssue{{c.tls.cert.empty() ? "tls.key" : "tls.cert", "tls.cert", "tls.key"},
                      "tls.cert and tls.key must be set together"};
  if (!c.auth.secret.empty() && !c.auth.secret_file.empty())
    return CrossIssue{{"auth.secret_file", "auth.secret"}, "set only one of auth.secret and auth.secret_file"};
  if (!c.cluster.curve_secret_key.empty() && !c.cluster.curve_secret_key_file.empty())
    return CrossIssue{{"cluster.curve_secret_key_file", "cluster.curve_secret_key"},
                      "set only one of cluster.curve_secret_key and cluster.curve_secret_key_file"};
  if (!c.cluster.curve_secret_key.empty() && !c.cluster.curve_public_key.empty() &&
      !curve::key_problem(c.cluster.curve_secret_key) && !curve::key_problem(c.cluster.curve_public_key)) {
    // Without CURVE in libzmq there is nothing to compare with: the role refuses to start anyway.
    const auto derived = curve::public_key_of(c.cluster.curve_secret_key);
    if (derived && *derived != c.cluster.curve_public_key)
      return CrossIssue{
          {"cluster.curve_public_key", "cluster.curve_secret_key"},
          "cluster.curve_public_key does not belong to cluster.curve_secret_key (its public key is " + *derived + ")"};
  }
  if (auto issue = auth_key_issue(c.auth)) return issue;
  if (c.auth.mode == "jwt" && c.auth.algorithm == "HS256" && c.auth.secret.empty() && c.auth.secret_file.empty() &&
      !secrets::env_set(secrets::kJwtSecretEnv))
    return CrossIssue{
        {"auth.mode"},
        std::string("auth.mode \"jwt\" needs auth.secret, auth.secret_file or the environment variable ") +
            secrets::kJwtSecretEnv};
  if (!c.webhooks.secret.empty() && !c.webhooks.secret_file.empty())
    return CrossIssue{{"webhooks.secret_file", "webhooks.secret"},
                      "set only one of webhooks.secret and webhooks.secret_file"};
  if (!c.webhooks.url.empty() && c.webhooks.secret.empty() && c.webhooks.secret_file.empty() &&
      !secrets::env_set(secrets::kWebhookSecretEnv))
    return CrossIssue{{"webhooks.url"},
                      std::string("webhooks.url needs webhooks.secret, webhooks.secret_file or the environment "
                                  "variable ") +
                          secrets::kWebhookSecretEnv + " (the key of the X-Wsg-Signature header)"};
  if (!c.webhooks.ca_file.empty() && !c.webhooks.url.starts_with("https://"))
    return CrossIssue{{"webhooks.ca_file", "webhooks.url"},
                      "webhooks.ca_file is for an https:// webhooks.url (webhooks.url is '" + c.webhooks.url + "')"};
  if (c.webhooks.retry_max_ms < c.webhooks.retry_initial_ms)
    return CrossIssue{{"webhooks.retry_max_ms", "webhooks.retry_initial_ms"},
                      "webhooks.retry_max_ms (" + std::to_string(c.webhooks.retry_max_ms) +
                          ") must be at least webhooks.retry_initial_ms (" +
                          std::to_string(c.webhooks.retry_initial_ms) + ")"};
  if (!c.api.key.empty() && !c.api.key_file.empty())
    return CrossIssue{{"api.key_file", "api.key"}, "set only one of api.key and api.key_file"};
  if (c.api.max_body_bytes < c.limits.max_message_bytes)
    return CrossIssue{{"api.max_body_bytes", "limits.max_message_bytes"},
                      "api.max_body_bytes (" + std::to_string(c.api.max_body_bytes) +
                          ") must be at least limits.max_message_bytes (" + std::to_string(c.limits.max_message_bytes) +
                          "): a publish carries a message body"};
  if (c.cluster.events_advertise.empty() && is_wildcard_tcp(c.cluster.events_bind))
    return CrossIssue{{"cluster.events_bind", "cluster.events_advertise"},
                      "cluster.events_bind '" + c.cluster.events_bind +
                          "' binds every interface: set cluster.events_advertise to an address other nodes can "
                          "connect to"};
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// TOML input

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  Config run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      throw ConfigError(source_ + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                        std::string(e.description()));
    }

    Config config;
    const auto known_sections = sections();
    std::vector<std::string> section_names(known_sections.begin(), known_sections.end());

    for (auto&& [key, node] : root)
      collect([&, &key = key, &node = node] {
        const std::string name(key.str());
        if (std::find(known_sections.begin(), known_sections.end(), name) == known_sections.end()) {
          if (node.is_table()) fail(node, name, "unknown section [" + name + "]" + suggestion(name, section_names));
          else
            fail(node, name,
                 "unknown key (every key belongs in a section, e.g. [node])" + suggestion(name, section_names));
        }
        const toml::table* table = node.as_table();
        if (table == nullptr) fail(node, name, "expected a table, got " + type_name(node));
        config.sections_in_file.push_back(name);
        read_section(name, *table, config);
      });

    if (!failures_.empty()) {
      const auto earliest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
      });
      throw ConfigError(earliest->message);
    }

    if (auto issue = cross_check(config)) {
      for (const auto& k : issue->keys) {
        if (auto it = lines_.find(k); it != lines_.end())
          throw ConfigError(source_ + ":" + std::to_string(it->second) + ": key '" + k + "': " + issue->reason);
      }
      throw ConfigError(source_ + ": key '" + issue->keys.front() + "': " + issue->reason);
    }
    return config;
  }

 private:
  // A problem at one place in the file. The parser records every one and reports the earliest:
  // toml++ iterates tables in key order, not in file order.
  struct Failure {
    uint32_t line;
    uint32_t column;
    std::string message;
  };

  [[noreturn]] void fail(const toml::node& node, const std::string& key, const std::string& reason) const {
    const auto& begin = node.source().begin;
    throw Failure{begin.line, begin.column,
                  source_ + ":" + std::to_string(begin.line) + ": key '" + key + "': " + reason};
  }

  template <typename F>
  void collect(F&& step) {
    try {
      step();
    } catch (Failure& f) {
      failures_.push_back(std::move(f));
    }
  }

  void read_section(const std::string& section, const toml::table& table, Config& config) {
    std::vector<std::string> candidates;
    for (const auto& f : fields())
      if (f.section == section) candidates.push_back(std::string(f.key));

    for (auto&& [key, node] : table)
      collect([&, &key = key, &node = node] {
        const std::string name(key.str());
        const std::string full = section + "." + name;
        const Field* field = nullptr;
        for (const auto& f : fields())
          if (f.section == section && f.key == name) field = &f;
        if (field == nullptr) {
          std::vector<std::string> full_candidates;
          for (const auto& c : candidates) full_candidates.push_back(section + "." + c);
          fail(node, full, "unknown key" + suggestion(full, full_candidates));
        }
        assign(*field, full, node, config);
        lines_[full] = node.source().begin.line;
        if (auto bad = check_field(*field, config)) fail(node, full, *bad);
      });
  }

  void assign(const Field& f, const std::string& full, const toml::node& node, Config& config) const {
    std::visit(
        [&](auto get) {
          using G = decltype(get);
          if constexpr (std::is_same_v<G, StrGet>) {
            if (const auto* array = node.as_array(); array != nullptr && full == "cluster.master") {
              // Several masters as an array: kept as the comma-separated string the flag takes.
              std::string joined;
              size_t index = 0;
              for (const auto& element : *array) {
                ++index;
                const auto* s = element.as_string();
                if (s == nullptr || s->get().find(',') != std::string::npos)
                  fail(element, full,
                       "element " + std::to_string(index) + ": expected an address string, got " +
                           (s == nullptr ? type_name(element) : "'" + s->get() + "'"));
                if (!joined.empty()) joined += ",";
                joined += s->get();
              }
              get(config) = std::move(joined);
              return;
            }
            const auto* v = node.as_string();
            if (v == nullptr) fail(node, full, "expected a string, got " + type_name(node));
            get(config) = v->get();
          } else if constexpr (std::is_same_v<G, IntGet> || std::is_same_v<G, SmallIntGet>) {
            const auto* v = node.as_integer();
            if (v == nullptr) fail(node, full, "expected an integer, got " + type_name(node));
            const int64_t value = v->get();
            // Range-checked before narrowing into an int field.
            if (auto bad = range_reason(f, value)) fail(node, full, *bad);
            get(config) = static_cast<std::remove_reference_t<decltype(get(config))>>(value);
          } else if constexpr (std::is_same_v<G, BoolGet>) {
            const auto* v = node.as_boolean();
            if (v == nullptr) fail(node, full, "expected a boolean (true or false), got " + type_name(node));
            get(config) = v->get();
          } else if constexpr (std::is_same_v<G, ListGet>) {
            const auto* array = node.as_array();
            if (array == nullptr) fail(node, full, "expected an array of strings, got " + type_name(node));
            std::vector<std::string> items;
            size_t index = 0;
            for (const auto& element : *array) {
              ++index;
              const auto* s = element.as_string();
              if (s == nullptr)
                fail(element, full,
                     "element " + std::to_string(index) + ": expected a string, got " + type_name(element));
              if (f.check != nullptr) {
                if (auto bad = f.check(s->get())) fail(element, full, "element " + std::to_string(index) + ": " + *bad);
              }
              items.push_back(s->get());
            }
            get(config) = std::move(items);
          }
        },
        f.get);
  }

  std::string source_;
  std::map<std::string, uint32_t> lines_;  // "section.key" → line, for cross-key errors
  std::vector<Failure> failures_;
};

// The role that alone reads a section; any for the sections every role reads.
Config::Role section_role(std::string_view section) {
  if (section == "master" || section == "metrics") return Config::Role::master;
  if (section == "node" || section == "cache" || section == "auth" || section == "limits" || section == "rooms" ||
      section == "http" || section == "api" || section == "tls")
    return Config::Role::node;
  return Config::Role::any;
}

}  // namespace

Config Config::parse(std::string_view toml_text, const std::string& source) {
  return Parser(source.empty() ? std::string("<config>") : source).run(toml_text);
}

Config Config::load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigError(path + ": cannot read config file: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError(path + ": cannot open config file: " + (err != 0 ? std::strerror(err) : "unknown error"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file");
  return parse(text.str(), path);
}

void Config::validate() const {
  // The getters need a mutable Config; they are only read here.
  auto& self = const_cast<Config&>(*this);
  for (const auto& f : fields()) {
    if (auto bad = check_field(f, self)) throw ConfigError("key '" + f.full_name() + "': " + *bad);
  }
  if (auto issue = cross_check(*this)) throw ConfigError("key '" + issue->keys.front() + "': " + issue->reason);
}

Config::Role Config::role() const {
  bool master = false;
  bool node = false;
  for (const auto& section : sections_in_file) {
    if (auto r = section_role(section); r == Role::master) master = true;
    else if (r == Role::node) node = true;
  }
  if (master == node) return Role::any;
  return master ? Role::master : Role::node;
}

std::vector<std::string> master_list(std::string_view master) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= master.size()) {
    std::size_t end = master.find(',', start);
    if (end == std::string_view::npos) end = master.size();
    std::string_view part = master.substr(start, end - start);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::string Config::to_toml(Secrets secrets, Role role) const {
  auto& self = const_cast<Config&>(*this);  // read only
  std::string out = "# wsg effective configuration\n";
  if (role == Role::master) out += "# for a master: the sections only nodes read are left out\n";
  if (role == Role::node) out += "# for a node: the sections only the master reads are left out\n";
  std::string_view current;
  for (const auto& f : fields()) {
    if (role != Role::any && section_role(f.section) != Role::any && section_role(f.section) != role) continue;
    if (f.section != current) {
      current = f.section;
      out += "\n[" + std::string(current) + "]\n";
    }
    const bool secret = (f.section == "auth" && f.key == "secret") ||
                        (f.section == "cluster" && f.key == "curve_secret_key") ||
                        (f.section == "webhooks" && f.key == "secret") || (f.section == "api" && f.key == "key");
    if (secret && secrets == Secrets::redact) {
      if (const auto* get = std::get_if<StrGet>(&f.get); get && !(*get)(self).empty()) {
        out += "# " + std::string(f.key) + " = (set, not shown)\n";
        continue;
      }
    }
    out += std::string(f.key) + " = ";
    std::visit(
        [&](auto get) {
          using G = decltype(get);
          if constexpr (std::is_same_v<G, StrGet>) {
            out += text::toml_string(get(self));
          } else if constexpr (std::is_same_v<G, IntGet> || std::is_same_v<G, SmallIntGet>) {
            out += std::to_string(get(self));
          } else if constexpr (std::is_same_v<G, BoolGet>) {
            out += get(self) ? "true" : "false";
          } else if constexpr (std::is_same_v<G, ListGet>) {
            out += "[";
            bool first = true;
            for (const auto& item : get(self)) {
              if (!first) out += ", ";
              first = false;
              out += text::toml_string(item);
            }
            out += "]";
          }
        },
        f.get);
    out += "\n";
  }
  return out;
}

}  // namespace wsg
