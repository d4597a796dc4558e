#include "roles/node/node.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>
#include <tuple>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/config.h"
#include "config/config_secrets.h"
#include "config/curve.h"
#include "config/secrets.h"
#include "net/api_server.h"
#include "net/io_pool.h"
#include "net/listen_address.h"
#include "net/listener.h"
#include "net/session_context.h"
#include "net/static_files.h"
#include "net/tls.h"
#include "net/webhook_sender.h"
#include "net/zmq_links.h"
#include "proto/jwt.h"
#include "routing/router.h"
#include "telemetry/logging.h"
#include "telemetry/metrics.h"
#include "text/http_url.h"

namespace wsg {

namespace asio = boost::asio;

namespace {

uint64_t random_u64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

int run_node(const Config& config) {
  auto log = logging::get("node");
  // TLS on the node's port: the certificate and key are loaded (and checked) now, before anything
  // starts, so a bad one is a ConfigError (exit 2). A restart picks up a renewed certificate.
  std::shared_ptr<asio::ssl::context> tls;
  if (!config.tls.cert.empty() || !config.tls.key.empty()) {
    tls = make_server_tls_context(config.tls);
    bool valid_now = false;
    const std::string summary = certificate_summary(*tls, &valid_now);
    if (valid_now) {
      log->info("TLS on: certificate {} ({})", config.tls.cert, summary);
    } else {
      log->warn("TLS on, but the certificate {} is not valid at this time ({}): clients will refuse it",
                config.tls.cert, summary);
    }
  }
  // Static files (http.static_dir): the directory must exist now; a relative path is relative to
  // the working directory.
  std::shared_ptr<const StaticFiles> static_files;
  if (!config.http.static_dir.empty()) {
    try {
      static_files = std::make_shared<const StaticFiles>(config.http.static_dir);
    } catch (const std::exception& e) {
      std::error_code ec;
      throw ConfigError("key 'http.static_dir': " + std::string(e.what()) +
                        " (a relative path is relative to the working directory, " +
                        std::filesystem::current_path(ec).string() + ")");
    }
    log->info("serving static files from {}", static_files->root().string());
  }
  // The token verifier: its key (the HS256 secret, or the RS256 / ES256 public key) throws
  // ConfigError (exit 2) when none is set, its file cannot be read or holds no key of the algorithm.
  jwt::Verifier jwt_verifier;
  if (config.auth.mode == "jwt") {
    if (!jwt::alg_from_name(config.auth.algorithm, jwt_verifier.alg))
      throw ConfigError("key 'auth.algorithm': unknown algorithm '" + config.auth.algorithm + "'");
    auto key = secrets::jwt_key(config.auth);
    log->info("tokens: {} verified with the key of {}", config.auth.algorithm, key.source);
    jwt_verifier.key = std::move(key.value);
    jwt_verifier.leeway_ms = config.auth.leeway_ms;
    jwt_verifier.audience = config.auth.audience;
    jwt_verifier.issuer = config.auth.issuer;
  }
  // The same for webhooks.url's signing secret.
  std::string webhook_secret;
  if (!config.webhooks.url.empty()) webhook_secret = secrets::webhook_secret(config.webhooks).value;
  // Throws ConfigError (exit 2) for a malformed node.listen or a host name that does not resolve.
  const auto endpoints = listen_endpoints("node.listen", config.node.listen);
  const uint64_t incarnation = random_u64();
  const std::string node_id =
      config.node.id.empty() ? "node-" + std::to_string(endpoints.front().port()) : config.node.id;
  // node.threads = 0: one per core less one, for libzmq's I/O thread and the kernel's loopback and
  // TCP work (docs/optimisation-log.md, "node.threads default": on 2 cores one thread spent 14-15 %
  // less CPU per cross-node message than two), at least one.
  const unsigned cores = std::thread::hardware_concurrency();
  int threads = config.node.threads > 0 ? config.node.threads : static_cast<int>(cores > 1 ? cores - 1 : 1);

  // The server API (api.listen): address and key checked now, ConfigError (exit 2) when refused.
  const ApiSetup api_setup = prepare_api(config);
  // Throws ConfigError (exit 2) for a bad or unreadable key.
  const auto curve_keys = curve::cluster_keys(config.cluster);

  // One io_context per I/O thread; the router, the listener and the signals on the main one.
  IoPool pool(static_cast<std::size_t>(threads));
  asio::io_context& ioc = pool.main();
  int exit_code = 0;
  std::atomic<Router*> router_ptr{nullptr};
  ZmqLinks::Options zopt;
  zopt.master = config.cluster.master;
  zopt.events_bind = config.cluster.events_bind;
  zopt.routing_id = node_id + "/" + std::to_string(incarnation);
  zopt.linger_ms = static_cast<int>(std::min<int64_t>(1000, config.node.shutdown_timeout_ms / 4));
  zopt.curve = curve_keys;
  // What peers send us is bounded by the largest DELIVER a node of this cluster makes (every node
  // must use the same limits.max_message_bytes; docs/security.md, "Cluster links").
  zopt.max_peer_message_bytes = cluster::max_peer_message_bytes(config.limits.max_message_bytes);
  // The master refuses our handshakes (another cluster key, or CURVE on one side only): retrying
  // cannot help, so stop like a refused HELLO does.
  zopt.on_refused = [&ioc, &pool, &exit_code, log](const std::string& reason) {
    asio::post(ioc, [&pool, &exit_code, log, reason] {
      log->error("{}; exiting", reason);
      exit_code = 1;
      pool.stop();
    });
  };
  // The ZeroMQ sockets live on the router's thread (context 0); stop() runs after pool.run() returned.
  ZmqLinks links(ioc, zopt,
                 [&router_ptr](ZmqLinks::Source source, std::size_t master, std::vector<cluster::Message> batch) {
                   Router* r = router_ptr.load(std::memory_order_acquire);
                   if (!r) return;
                   if (source == ZmqLinks::Source::master) r->on_master_messages(master, std::move(batch));
                   else r->on_peer_messages(std::move(batch));
                 });

  std::string events;
  try {
    events = links.start();
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  if (!config.cluster.events_advertise.empty()) {
    events = config.cluster.events_advertise;
  } else if (events.find("0.0.0.0") != std::string::npos) {
    log->warn(
        "cluster.events_bind is a wildcard address ({}); set cluster.events_advertise to an address other "
        "nodes can reach",
        events);
  }

  // Listen first so the advertised WebSocket URL carries the address actually bound (a host name
  // may stand for several: the first that binds).
  auto ctx = std::make_shared<SessionContext>();
  ctx->tls = tls;  // before the listener accepts anything
  ctx->static_files = static_files;
  std::shared_ptr<Listener> listener;
  std::string listen_error;
  for (const auto& endpoint : endpoints) {
    try {
      listener = std::make_shared<Listener>(pool, endpoint, ctx);
      break;
    } catch (const std::exception& e) {
      listen_error = e.what();
    }
  }
  if (!listener) {
    log->error("{}", listen_error);
    links.stop();
    return 1;
  }
  const auto bound = listener->local_endpoint();
  const std::string host =
      bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  const std::string ws_url = std::string(tls ? "wss://" : "ws://") + host + ":" + std::to_string(bound.port()) + "/ws";

  // The master drops a HELLO whose strings break the wire rules (docs/wire-encoding.md §5): say so
  // now instead of waiting for an answer that cannot come.
  // A ConfigError (exit 2) naming the key the value comes from.
  const std::string events_key =
      config.cluster.events_advertise.empty() ? "cluster.events_bind" : "cluster.events_advertise";
  for (const auto& [key, what, value, ok] :
       {std::tuple{events_key, "events address", events, cluster::valid_address(events)},
        std::tuple{std::string("node.listen"), "WebSocket URL", ws_url, cluster::valid_address(ws_url)},
        std::tuple{std::string("node.id"), "node id", node_id, cluster::valid_node_id(node_id)}}) {
    if (ok) continue;
    links.stop();
    throw ConfigError("key '" + key + "': the " + what + " '" + logging::printable(value) +
                      "' breaks the cluster protocol's rule (docs/wire-encoding.md)");
  }

  Router::Options ropt;
  ropt.node_id = node_id;
  ropt.incarnation = incarnation;
  ropt.ws_url = ws_url;
  ropt.public_url = config.node.public_url;  // checked by Config::validate (a ws:// or wss:// URL)
  ropt.events = events;
  ropt.heartbeat_ms = config.cluster.heartbeat_ms;
  ropt.delivery_timeout_ms = config.cluster.delivery_timeout_ms;
  // cluster.wire_version gates only what replaces older messages (v2's batched lookups); room
  // messages (v3) are new and sent whenever clients use rooms (docs/wire-encoding.md, "Versioning").
  static_assert(kMaxWsUrlBytes == cluster::kMaxAddressBytes, "node.public_url travels as a wire address");
  static_assert(cluster::kLatestWireVersion == 5,
                "config.cpp bounds cluster.wire_version to 1..2 (v3, v4 and v5 are not gated)");
  ropt.wire_version = config.cluster.wire_version;
  ropt.rooms_max_per_session = static_cast<std::size_t>(config.rooms.max_per_session);
  ropt.rooms_max_members = static_cast<std::size_t>(config.rooms.max_members);
  ropt.rooms_publish_requires_join = config.rooms.publish_requires_join;
  ropt.rooms_notices = config.rooms.notices;
  ropt.cache_capacity = static_cast<std::size_t>(config.cache.capacity);
  ropt.cache_ttl_ms = config.cache.ttl_ms;
  ropt.outbox_coalesce = std::chrono::microseconds(config.cluster.outbox_coalesce_us);
  ropt.metrics = std::make_shared<NodeMetrics>();
  // Webhooks: this node sends message.undelivered for its senders (the master sends the rest).
  std::unique_ptr<WebhookSender> webhooks;
  if (!config.webhooks.url.empty()) {
    auto wopt = WebhookSender::options(config.webhooks, std::move(webhook_secret), node_id);
    if (wopt.events[static_cast<std::size_t>(webhook::EventKind::message_undelivered)]) {
      webhooks = std::make_unique<WebhookSender>(std::move(wopt), ropt.metrics->registry());
      ropt.on_undelivered = [w = webhooks.get(), node_id](const Outgoing& out, proto::AckStatus status,
                                                          std::string_view reason) {
        webhook::Event e;
        e.kind = webhook::EventKind::message_undelivered;
        e.ts_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        e.node = node_id;
        e.status = status == proto::AckStatus::offline ? "offline" : "failed";
        e.reason = std::string(reason);
        e.message_id = out.id;
        e.from = out.from;
        e.to = out.to;
        e.body = out.body;
        e.message_ts_ms = out.ts_ms;
        w->emit(std::move(e));
      };
      webhooks->start();
      log->info("webhooks: message.undelivered to {}", config.webhooks.url);
    }
  }
  std::vector<MasterLink*> master_links;
  for (std::size_t i = 0; i < links.master_count(); ++i) master_links.push_back(&links.master_link(i));
  auto router = std::make_shared<Router>(ioc, ropt, master_links, links, [&](const std::string& reason) {
    log->error("the master refused this node: {}", reason);
    exit_code = 1;
    pool.stop();
  });
  router_ptr.store(router.get(), std::memory_order_release);

  ctx->node_id = node_id;
  ctx->incarnation = incarnation;
  ctx->public_url = config.node.public_url;
  ctx->limits = config.limits;
  ctx->http = config.http;
  ctx->auth_mode = config.auth.mode == "jwt" ? SessionContext::AuthMode::jwt : SessionContext::AuthMode::insecure;
  ctx->jwt = std::move(jwt_verifier);
  ctx->router = router;
  ctx->metrics = ropt.metrics;
  ctx->link_stats = &links.stats();  // read by /metrics handlers, which only run inside pool.run()

  // The server API: its own listener on the pool; while the node drains it answers 503.
  std::shared_ptr<ApiServer> api_server;
  if (!api_setup.endpoints.empty()) {
    auto api_ctx = std::make_shared<ApiContext>(config.api, api_setup.key);
    api_ctx->max_message_bytes = config.limits.max_message_bytes;
    api_ctx->node_id = node_id;
    api_ctx->router = router;
    api_ctx->session_ctx = ctx;
    api_ctx->metrics = std::make_shared<ApiMetrics>(ropt.metrics->registry());
    try {
      api_server = ApiServer::start(pool, api_setup, std::move(api_ctx));
    } catch (const std::exception& e) {
      log->error("{}", e.what());
      links.stop();
      return 1;
    }
    const auto api_bound = api_server->local_endpoint();
    log->info("server API on {}:{}", api_bound.address().to_string(), api_bound.port());
  }

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log->info("signal {}: draining {} sessions", sig, router->session_count());
    ctx->draining = true;
    listener->stop();
    const int64_t budget = std::max<int64_t>(100, config.node.shutdown_timeout_ms - zopt.linger_ms - 250);
    router->drain(budget, [&] {
      router->stop_timers();
      // After the UNREGISTERs the drain queued (same DEALER, so in order): the master forgets this
      // incarnation at once and the same id may start again without waiting for node_timeout_ms.
      for (std::size_t i = 0; i < links.master_count(); ++i)
        links.send_to_master(i, cluster::Leave{node_id, incarnation});
      pool.stop();
    });
  });

  listener->run();
  router->start();
  if (curve_keys) {
    log->info("cluster links use ZeroMQ CURVE (key from {}; cluster public key {})", curve_keys->source,
              curve_keys->public_key);
  } else if (const auto masters = master_list(config.cluster.master);
             zmq_endpoint_loopback(config.cluster.events_bind) &&
             std::all_of(masters.begin(), masters.end(),
                         [](const std::string& m) { return zmq_endpoint_loopback(m); })) {
    log->warn(
        "cluster links are not encrypted or authenticated (no cluster.curve_secret_key; see `wsg keygen`): "
        "keep {} and the master's port on a private network",
        events);
  } else {
    // On every start (docs/operations.md, "Start-up warnings"): what the network can do here.
    log->warn(
        "cluster links are not encrypted or authenticated (no cluster.curve_secret_key; see `wsg keygen`) and "
        "not on loopback (cluster.events_bind {}, cluster.master {}): anyone on that network can join the cluster "
        "as a node or pose as the master, read every message that crosses it and inject messages as any user",
        config.cluster.events_bind, config.cluster.master);
  }
  if (config.auth.mode != "jwt" && !loopback_only({bound})) {
    log->warn(
        "auth.mode = \"insecure\" on node.listen {}, which is not a loopback address: anyone who can reach it can "
        "connect as any user id they choose, read that user's messages and send messages as them (set auth.mode "
        "= \"jwt\"; docs/security.md)",
        config.node.listen);
  }
  log->info("node {} serving {} (events {}, master {}, {} {})", node_id, ws_url, events, config.cluster.master, threads,
            threads == 1 ? "thread" : "threads");

  pool.run();

  router_ptr.store(nullptr, std::memory_order_release);
  links.stop();  // flushes the UNREGISTERs queued by the drain
  if (webhooks) webhooks->stop(std::chrono::milliseconds(config.webhooks.flush_timeout_ms));
  log->info("node {} stopped", node_id);
  return exit_code;
}

}  // namespace wsg
