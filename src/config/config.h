// Configuration of every wsg role: defaults, TOML loading and validation.
// Free of I/O except load_file(); exceptions (ConfigError) are thrown only at start-up.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"

namespace wsg {

struct MasterConfig {
  std::string bind = "tcp://127.0.0.1:5555";  // master.bind
  int64_t node_timeout_ms = 3000;             // master.node_timeout_ms
};

struct MetricsConfig {
  std::string listen;  // metrics.listen ("" = off)
};

struct NodeConfig {
  std::string id;                         // node.id ("" = "node-<port>")
  std::string listen = "127.0.0.1:8080";  // node.listen (HOST:PORT)
  int threads = 0;                        // node.threads (0 = cores)
  int64_t shutdown_timeout_ms = 5000;     // node.shutdown_timeout_ms
  // node.public_url: the ws:// or wss:// URL clients should use for this node (behind a load
  // balancer or NAT), shown by /healthz and `wsg status`; "" = none (the listen address is shown).
  std::string public_url;
};

struct ClusterConfig {
  // cluster.master: the master's ZeroMQ address, or several (at most kMaxMasters, each a full
  // replica of the directory: docs/architecture.md, "Several masters") separated by commas; the
  // TOML file may give them as an array of strings instead.
  std::string master = "tcp://127.0.0.1:5555";
  std::string events_bind = "tcp://127.0.0.1:6001";  // cluster.events_bind
  std::string events_advertise;                      // cluster.events_advertise ("" = the bound address)
  int64_t heartbeat_ms = 1000;                       // cluster.heartbeat_ms
  int64_t delivery_timeout_ms = 2000;                // cluster.delivery_timeout_ms
  int wire_version = 1;              // cluster.wire_version: highest cluster wire version sent (2 = batched lookups)
  int64_t outbox_coalesce_us = 200;  // cluster.outbox_coalesce_us: how long a peer batch may wait for more
  // ZeroMQ CURVE on every cluster link (src/curve.h). One key pair for the whole cluster; the
  // secret comes from one of the first two keys or $WSG_CURVE_SECRET_KEY. None set: plain text.
  std::string curve_secret_key;       // cluster.curve_secret_key (Z85, 40 chars)
  std::string curve_secret_key_file;  // cluster.curve_secret_key_file (a file holding it)
  std::string curve_public_key;       // cluster.curve_public_key (optional; must match)
};

// The masters of cluster.master, in order (split at commas, blanks trimmed, empty parts dropped).
std::vector<std::string> master_list(std::string_view master);
inline constexpr std::size_t kMaxMasters = 5;

struct CacheConfig {
  int64_t capacity = 100000;  // cache.capacity
  int64_t ttl_ms = 30000;     // cache.ttl_ms
};

struct AuthConfig {
  std::string mode = "insecure";  // auth.mode: "insecure" | "jwt"
  std::string secret;             // auth.secret (HS256)
  std::string secret_file;        // auth.secret_file (HS256)
  // Tokens as a login service issues them (docs/security.md, "Tokens").
  std::string algorithm = "HS256";  // auth.algorithm: "HS256" | "RS256" | "ES256", the only one accepted
  std::string public_key_file;      // auth.public_key_file: PEM public key (RS256 / ES256)
  int64_t leeway_ms = 0;            // auth.leeway_ms: clock skew allowed on exp and nbf
  std::string audience;             // auth.audience ("" = aud not checked)
  std::string issuer;               // auth.issuer ("" = iss not checked)
};

struct LimitsConfig {
  int64_t max_message_bytes = 64 * 1024;   // limits.max_message_bytes
  int64_t max_connections = 0;             // limits.max_connections (0 = no limit but the fd limit)
  int64_t max_sessions_per_user = 16;      // limits.max_sessions_per_user (per node; 0 = no limit)
  int64_t send_queue_bytes = 1024 * 1024;  // limits.send_queue_bytes
  int64_t messages_per_second = 1000;      // limits.messages_per_second (0 disables)
  int64_t burst = 5000;                    // limits.burst
};

// Rooms (docs/protocol.md, "Rooms").
struct RoomsConfig {
  int64_t max_per_session = 100;      // rooms.max_per_session: rooms one session may be in (0 = no limit)
  int64_t max_members = 0;            // rooms.max_members: members of one room on one node (0 = no limit)
  bool publish_requires_join = true;  // rooms.publish_requires_join: only members may publish
  bool notices = false;               // rooms.notices: joins and leaves are announced (to members asking for them)
};

struct HttpConfig {
  std::vector<std::string> allowed_origins;  // http.allowed_origins (empty allows all)
  std::string static_dir;                    // http.static_dir ("" = no static files)
  bool compression = false;                  // http.compression (permessage-deflate)
};

// The server API (docs/api.md, "Server API"): HTTP/JSON for the application's backend, on a
// listener of its own.
struct ApiConfig {
  std::string listen;                    // api.listen (HOST:PORT; "" = off)
  std::string key;                       // api.key: the bearer key callers present
  std::string key_file;                  // api.key_file (a file holding it)
  int64_t max_body_bytes = 1024 * 1024;  // api.max_body_bytes (at least limits.max_message_bytes)
  int64_t requests_per_second = 1000;    // api.requests_per_second (token bucket; 0 = unlimited)
  int64_t burst = 2000;                  // api.burst: the bucket's size
  int64_t max_connections = 256;         // api.max_connections: open API connections at once
  int64_t max_users_per_publish = 1000;  // api.max_users_per_publish: "users" of one publish
  int64_t max_batch = 100;               // api.max_batch: items of one batch
  int64_t max_inflight = 10000;          // api.max_inflight: operations awaiting answers at once
  int64_t request_timeout_ms = 10000;    // api.request_timeout_ms: read a request / await its answers
};

struct TlsConfig {
  std::string cert;  // tls.cert
  std::string key;   // tls.key
};

// Webhooks (docs/api.md, "Webhooks"): events POSTed to the application. The master sends the user
// and room events, each node the undelivered messages of its senders.
struct WebhooksConfig {
  std::string url;                     // webhooks.url ("" = off): http[s]://HOST[:PORT][/PATH]
  std::string ca_file;                 // webhooks.ca_file: PEM CAs trusted for https:// ("" = the system's)
  std::string secret;                  // webhooks.secret (HMAC-SHA256 key of X-Wsg-Signature)
  std::string secret_file;             // webhooks.secret_file (a file holding it)
  std::vector<std::string> events;     // webhooks.events (empty = every event)
  int64_t batch_max = 100;             // webhooks.batch_max: events per POST
  int64_t batch_delay_ms = 100;        // webhooks.batch_delay_ms: how long the first queued event may wait for more
  int64_t queue_max = 10000;           // webhooks.queue_max: events waiting (the oldest are dropped past it)
  int64_t queue_max_bytes = 64 << 20;  // webhooks.queue_max_bytes: their bytes (the same)
  int64_t timeout_ms = 5000;           // webhooks.timeout_ms: one POST, connection included
  int64_t max_retries = 10;            // webhooks.max_retries: retries of one batch before it is dropped
  int64_t retry_initial_ms = 500;      // webhooks.retry_initial_ms: the first back-off
  int64_t retry_max_ms = 30000;        // webhooks.retry_max_ms: the longest back-off
  int64_t flush_timeout_ms = 2000;     // webhooks.flush_timeout_ms: sending what is queued at shutdown
};

struct LogConfig {
  std::string level = "info";   // log.level: trace|debug|info|warn|error|critical|off
  std::string format = "text";  // log.format: text|json
};

struct Config {
  MasterConfig master;
  MetricsConfig metrics;
  NodeConfig node;
  ClusterConfig cluster;
  CacheConfig cache;
  AuthConfig auth;
  LimitsConfig limits;
  RoomsConfig rooms;
  HttpConfig http;
  ApiConfig api;
  TlsConfig tls;
  WebhooksConfig webhooks;
  LogConfig log;

  // Parses TOML text. `source` names the file in error messages. Unknown keys, wrong types
  // and out-of-range values throw ConfigError("FILE:LINE: key 'section.key': reason").
  static Config parse(std::string_view toml_text, const std::string& source);
  // Reads and parses a file; a missing or unreadable file throws ConfigError naming it.
  static Config load_file(const std::string& path);

  // Checks cross-key constraints after flags were applied; throws ConfigError.
  void validate() const;

  // The sections the parsed file set ("master", "node", ...), in the order parse() met them; empty
  // for a Config not read from a file. Only for telling which role a file is for (role()).
  std::vector<std::string> sections_in_file;

  // Which role a file is for, from its sections: master when it sets [master] or [metrics] and
  // none of the node's own sections ([node], [cache], [auth], [limits], [rooms], [http], [api], [tls]); node for
  // the reverse; any when it sets both or neither ([cluster] and [log] serve every role).
  enum class Role { any, master, node };
  Role role() const;

  // The effective settings as TOML text (for check-config and logs): the sections of `role`
  // ([cluster] and [log] for both), every section for Role::any.
  // Secrets (auth.secret, cluster.curve_secret_key, api.key) are replaced by a comment unless `show`.
  enum class Secrets { redact, show };
  std::string to_toml(Secrets secrets = Secrets::redact, Role role = Role::any) const;
};

}  // namespace wsg
