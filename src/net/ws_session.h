// WsSession: one client WebSocket connection, on its own strand (the Beast chat-multi model):
// a read loop, and a bounded send queue whose front is the single write in flight.
//
// A class template on the stream under the WebSocket layer, like HttpSession: PlainWsSession
// (ClientStream, net/byte_budget.h) and TlsWsSession (beast::ssl_stream over a ClientStream),
// instantiated explicitly in ws_session.cpp. The router sees either as a LocalSession.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "net/byte_budget.h"
#include "net/send_queue.h"
#include "net/session_context.h"
#include "proto/client_protocol.h"
#include "proto/jwt.h"
#include "routing/local_session.h"
#include "telemetry/metrics.h"

namespace wsg {

template <class Stream>
class WsSession : public LocalSession, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream&& stream, std::shared_ptr<SessionContext> ctx, std::string user);
  ~WsSession() override;

  // The token's room claims (auth.mode = "jwt"): which rooms it may join and publish to, and which
  // it joins at connect. Kept only when they limit anything (8 bytes per session otherwise).
  void set_room_claims(jwt::Claims claims) {
    if (claims.rooms_limited || !claims.join.empty())
      room_claims_ = std::make_unique<const jwt::Claims>(std::move(claims));
  }

  // Completes the upgrade for `req` (already validated), then registers and welcomes.
  void run(boost::beast::http::request<boost::beast::http::string_body> req);

  const std::string& user() const override { return user_; }
  const std::string& session_id() const override { return session_id_; }
  void deliver(std::shared_ptr<const std::string> frame) override;
  // Its I/O context: IoPool runs each on exactly one thread, so a function posted there (not on
  // this session's strand) still runs on the only thread that runs this session's handlers, and
  // no handler of the strand can run beside it.
  const void* thread_key() const override { return &io_context(); }
  void run_on_thread(std::function<void()> fn) override;
  void deliver_here(std::shared_ptr<const std::string> frame) override { send_frame(std::move(frame)); }
  void close_drain() override;
  void close_with(uint16_t code, std::string reason) override;
  std::size_t queued_bytes() const override { return queued_bytes_.load(std::memory_order_relaxed); }

 private:
  // The io_context under ws_'s strand (sessions are made only on IoPool's contexts), kept: asking
  // the strand executor for it copies the executor (atomic reference counts) on every delivery.
  boost::asio::io_context& io_context() const { return io_; }
  static boost::asio::io_context& context_of(boost::beast::websocket::stream<Stream>& ws);
  void fail(boost::beast::error_code ec, const char* what);
  void on_accept(boost::beast::error_code ec);
  void on_registered();
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle_frame(std::string_view text);
  void send_frame(std::shared_ptr<const std::string> frame);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void do_close(boost::beast::websocket::close_code code, const char* reason, CloseReason why);
  // Sends an error frame and counts it (wsg_errors_total).
  void send_error(proto::ErrorCode code, std::string_view message, const std::optional<std::string>& ref);
  // The token allows `room` (always without room claims); else answers not_allowed and returns false.
  bool room_allowed(const std::string& room, const std::optional<std::string>& ref);
  // queued_bytes_ changes only on this strand: a plain load and store, published for metrics.
  void add_queued(std::size_t n) {
    queued_bytes_.store(queued_bytes_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub_queued(std::size_t n) {
    queued_bytes_.store(queued_bytes_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void start_close();
  // (Re)arms close_timer_: when it fires, the TCP socket is closed under whatever is pending.
  void arm_close_deadline(std::chrono::milliseconds after);
  void on_close(boost::beast::error_code ec);
  // Takes a token from the bucket; false when it is empty (the frame is refused).
  bool take_token(int64_t now);
  // Counts a refused frame; true when the session is over the close policy (more than `burst`
  // refusals within kRateWindow) and must be closed 1008 `rate`.
  bool refuse(int64_t now);
  // A ping or pong from the client (Beast answers pings itself): costs a token like a text frame.
  void on_control_frame();
  void leave();

  // How long a close waits for the write in flight before the socket is closed under it.
  static constexpr std::chrono::milliseconds kCloseGrace{1000};
  // Bound on a closing handshake once it started, whichever side began it: the close frames, then
  // the TLS close_notify exchange (or the TCP half-close). A peer that never answers is cut off.
  static constexpr std::chrono::milliseconds kCloseTimeout{3000};
  // The rate close policy: a session with more than `limits.burst` refused frames within this
  // window is closed 1008 `rate` (the window opens at a refusal, docs/protocol.md "Limits").
  static constexpr int64_t kRateWindowUs = 10'000'000;
  // The transport byte budget (net/byte_budget.h): bytes a client may send without completing a
  // message, 2 x limits.max_message_bytes + kBudgetSlack (a message cut into small frames still
  // fits), back in full at every message, kBudgetRefillPerSecond back with time. Used up (empty
  // continuation frames, or pings and padding that never end a message): closed 1008 `rate`.
  static constexpr std::size_t kBudgetSlack = 64 * 1024;
  static constexpr std::size_t kBudgetRefillPerSecond = 4 * 1024;

  boost::beast::websocket::stream<Stream> ws_;
  boost::asio::steady_timer close_timer_;
  boost::asio::io_context& io_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<SessionContext> ctx_;
  std::string user_;
  std::string session_id_;
  std::unique_ptr<const jwt::Claims> room_claims_;  // null: every room is open to it
  SendQueue queue_;  // allocates nothing while empty (std::deque would: ~600 bytes per session)
  std::atomic<std::size_t> queued_bytes_{0};
  bool opened_ = false;                     // the upgrade completed: counted as opened, and as closed at the end
  std::optional<CloseReason> close_cause_;  // the first reason the session started to end
  bool registered_ = false;                 // added to the router (must be removed)
  bool welcomed_ = false;                   // the welcome is queued first; nothing is written before it
  bool closing_ = false;                    // a close is under way: no more reads or writes
  bool close_pending_ = false;
  bool close_deadline_armed_ = false;
  bool left_ = false;  // leave() ran: the session is over
  uint64_t close_timer_gen_ = 0;
  boost::beast::websocket::close_reason close_reason_;
  double tokens_ = 0;
  int64_t last_refill_us_ = 0;
  int64_t rate_window_start_us_ = 0;  // when the current refusal window opened
  uint64_t refused_in_window_ = 0;    // refusals since then (0: no window open)
  bool rate_close_posted_ = false;    // a control frame went over the policy: do_close is posted
};

using PlainWsSession = WsSession<ClientStream>;
using TlsWsSession = WsSession<boost::beast::ssl_stream<ClientStream>>;

extern template class WsSession<ClientStream>;
extern template class WsSession<boost::beast::ssl_stream<ClientStream>>;

}  // namespace wsg
