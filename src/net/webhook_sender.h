// Sends webhook events to the application's HTTP or HTTPS endpoint (docs/api.md, "Webhooks"): batched
// POSTs of JSON arrays, signed (X-Wsg-Timestamp, X-Wsg-Signature), one request in flight, retried
// with exponential back-off and jitter, from a bounded queue that drops its oldest events when full
// (src/proto/webhook_queue.*). Its own thread and io_context: emitters (the router strand, the
// master's loop) only queue an event under a mutex and, at most once per wake-up, post to it; they
// never wait for the network.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "proto/webhook_event.h"

namespace prometheus {
class Registry;
}

namespace wsg {

class WebhookSender {
 public:
  struct Options {
    std::string url;                                      // http[s]://HOST[:PORT][/PATH]
    std::string ca_file;                                  // https://: PEM CAs ("" = the system's)
    std::string secret;                                   // the HMAC key
    std::array<bool, webhook::kEventKindCount> events{};  // which kinds are sent
    std::size_t batch_max = 100;
    std::size_t batch_max_bytes = 1 << 20;  // a batch is cut before this (a larger event goes alone)
    int64_t batch_delay_ms = 100;
    std::size_t queue_max = 10000;
    std::size_t queue_max_bytes = 64 << 20;
    int64_t timeout_ms = 5000;
    unsigned max_retries = 10;
    int64_t retry_initial_ms = 500;
    int64_t retry_max_ms = 30000;
    std::string who;  // for logs: "master" or the node id
  };
  // The options of the [webhooks] section, with its resolved secret. Throws ConfigError for a URL
  // the sender cannot use (config.cpp already refuses those).
  static Options options(const WebhooksConfig& config, std::string secret, std::string who);

  // Registers the wsg_webhook_* metrics in `registry`. Throws ConfigError for a bad URL and, for
  // https://, an unusable ca_file (or system CA store).
  WebhookSender(Options options, prometheus::Registry& registry);
  ~WebhookSender();  // stop(0) if still running
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Whether events of `kind` are sent (webhooks.events): emitters skip building the others.
  bool wants(webhook::EventKind kind) const { return opt_events_[static_cast<std::size_t>(kind)]; }
  // Queues `event` (any thread; never blocks beyond a short mutex). Its id is set here.
  void emit(webhook::Event event);

  void start();  // starts the thread
  // Sends what is queued, ignoring batch_delay_ms, for at most `flush`, then stops the thread
  // (a request still running is abandoned). Events left are logged. Idempotent.
  void stop(std::chrono::milliseconds flush);

 private:
  struct Impl;
  std::array<bool, webhook::kEventKindCount> opt_events_{};
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsg
