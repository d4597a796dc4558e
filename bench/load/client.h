// wsg-bench: one client WebSocket session (docs/protocol.md) on a single-threaded io_context.
//
// start(): bind the socket to the source address, connect, upgrade, and wait for the welcome
// frame, all under one deadline; then every text frame goes to the owner (ClientEvents), and
// send() queues frames written one at a time. close() is the polite close (close frame 1000 and
// the peer's answer, bounded). Every callback runs on the io_context's thread; a Client is used
// from that thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace wsg::bench {

class Client;

class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  // The first frame was a welcome; the session is open.
  virtual void on_welcome(Client& c) = 0;
  // A text frame after the welcome.
  virtual void on_frame(Client& c, std::string_view text) = 0;
  // The session could not be opened. kind: bind, connect, timeout, http_NNN, handshake, closed,
  // bad_welcome.
  virtual void on_failed(Client& c, const std::string& kind, const std::string& detail) = 0;
  // An open session ended: our close completed, or the peer closed or the connection broke
  // (`clean` is true only for a completed close handshake that we started).
  virtual void on_closed(Client& c, bool clean, const std::string& detail) = 0;
};

struct Endpoint {
  boost::asio::ip::tcp::endpoint address;
  std::string host_header;
  std::string target;  // path and query, without the user
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  enum class State { idle, connecting, open, closing, done };

  Client(boost::asio::io_context& ioc, ClientEvents& events, const Endpoint& endpoint, std::string user,
         uint32_t source_ipv4, uint64_t tag);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connect, upgrade and wait for the welcome within `timeout`.
  void start(std::chrono::nanoseconds timeout);
  // Queues a text frame (dropped unless open).
  void send(std::string frame);
  // Polite close, bounded by `timeout`; on_closed follows. No-op unless open.
  void close(std::chrono::nanoseconds timeout);
  // Closes the socket now (no callback when not open yet).
  void abort();

  State state() const { return state_; }
  bool is_open() const { return state_ == State::open; }
  const std::string& user() const { return user_; }
  uint64_t tag() const { return tag_; }
  std::size_t queued_bytes() const { return queued_bytes_; }
  int64_t started_ns() const { return started_ns_; }    // CLOCK_MONOTONIC at start()
  int64_t welcomed_ns() const { return welcomed_ns_; }  // CLOCK_MONOTONIC at the welcome

 private:
  using Ws = boost::beast::websocket::stream<boost::beast::tcp_stream>;

  void fail(const std::string& kind, const std::string& detail);
  void on_connect(const boost::system::error_code& ec);
  void on_handshake(const boost::system::error_code& ec);
  void read();
  void on_read(const boost::system::error_code& ec);
  void write_next();
  void finish(bool clean, const std::string& detail);

  ClientEvents& events_;
  Ws ws_;
  Endpoint endpoint_;
  std::string user_;
  uint32_t source_;
  uint64_t tag_;
  State state_ = State::idle;
  boost::beast::flat_buffer buffer_;
  boost::beast::websocket::response_type response_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool welcomed_ = false;
  int64_t started_ns_ = 0;
  int64_t welcomed_ns_ = 0;
};

// CLOCK_MONOTONIC in nanoseconds (the same clock in every process of the machine).
int64_t mono_ns();

}  // namespace wsg::bench
