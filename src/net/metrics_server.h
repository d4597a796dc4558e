// MetricsServer: the master's HTTP endpoint at metrics.listen (GET /metrics, GET /healthz).
//
// A small Beast HTTP/1.1 server with one thread of its own (its own io_context): keep-alive, an
// 8 KiB header limit, no body, 10 s per request, at most 64 connections at once. Requests are
// answered by `handler`, called on that thread; the master's handler only reads the snapshot its
// loop publishes (under a mutex), so this thread never touches a ZeroMQ socket and never waits on
// the master's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace wsg {

class MetricsServer {
 public:
  struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  // `path` is the request target without its query. Called on the server's thread.
  using Handler = std::function<Response(std::string_view path)>;

  // Resolves and binds `listen` (HOST:PORT, [IPv6]:PORT, as parse_host_port reads it). Throws
  // ConfigError for a malformed value or a host name that does not resolve, std::runtime_error
  // naming the address when it cannot bind.
  MetricsServer(const std::string& listen, Handler handler);
  ~MetricsServer();  // stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts accepting, on a new thread.
  void start();
  // Closes the acceptor and every connection, joins the thread. Idempotent.
  void stop();
  uint16_t port() const;

  struct Impl;  // in metrics_server.cpp (public so that its connections can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsg
