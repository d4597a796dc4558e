#include "net/ws_session.h"

#include <chrono>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "telemetry/logging.h"

namespace wsg {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

template <class Stream>
WsSession<Stream>::WsSession(Stream&& stream, std::shared_ptr<SessionContext> ctx, std::string user)
    : ws_(std::move(stream)),
      close_timer_(ws_.get_executor()),
      io_(context_of(ws_)),
      ctx_(std::move(ctx)),
      user_(std::move(user)) {
  session_id_ = ctx_->next_session_id();
  tokens_ = static_cast<double>(ctx_->limits.burst);
  last_refill_us_ = now_us();
}

template <class Stream>
WsSession<Stream>::~WsSession() {
  ctx_->connections.fetch_sub(1, std::memory_order_relaxed);
  ctx_->user_sessions.remove(user_);
  if (opened_) {
    const auto why = static_cast<std::size_t>(close_cause_.value_or(CloseReason::error));
    ctx_->sessions_closed[why].fetch_add(1, std::memory_order_relaxed);
  }
}

template <class Stream>
void WsSession<Stream>::fail(beast::error_code ec, const char* what) {
  if (!close_cause_) {
    if (ec == websocket::error::closed) close_cause_ = CloseReason::client;
    else if (ec == websocket::error::message_too_big) close_cause_ = CloseReason::too_large;
    else if (ec == beast::error::timeout) close_cause_ = CloseReason::timeout;
    else if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)
      close_cause_ = CloseReason::lost;
    else close_cause_ = CloseReason::error;
  }
  if (ec != websocket::error::closed && ec != asio::error::operation_aborted && ec != asio::error::eof &&
      ec != beast::error::timeout && ec != asio::error::connection_reset && ec != asio::ssl::error::stream_truncated) {
    logging::get("ws")->debug("session {} ({}): {}: {}", session_id_, user_, what, ec.message());
  }
  leave();
}

template <class Stream>
void WsSession<Stream>::leave() {
  closing_ = true;
  if (!left_) {
    left_ = true;
    // nothing left to bound: release the timer's reference to the session now
    ++close_timer_gen_;
    close_timer_.cancel();
  }
  if (registered_) {
    registered_ = false;
    ctx_->router->remove_session(this->shared_from_this());
  }
}

template <class Stream>
void WsSession<Stream>::run(http::request<http::string_body> req) {
  beast::get_lowest_layer(ws_).expires_never();
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "wsg/" WSG_VERSION); }));
  ws_.read_message_max(static_cast<std::size_t>(ctx_->limits.max_message_bytes));
  ws_.auto_fragment(false);
  if (ctx_->http.compression) {
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    ws_.set_option(pmd);
  }
  // The peer began the closing handshake: Beast answers it and tears the connection down (TLS
  // close_notify, TCP half-close) inside the pending read, under our close deadline. Called on the
  // strand, from within an operation of ws_ (which `this` owns).
  //
  // Pings and pongs cost a token each, like text frames: Beast answers a ping with a pong by
  // itself, so a refused one cannot be answered rate_limited, but it counts towards the close.
  ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::close) {
      if (!close_deadline_armed_) arm_close_deadline(kCloseTimeout);
      return;
    }
    on_control_frame();
  });
  // Beast skips empty non-final frames inside its read: the byte budget below the WebSocket layer
  // bounds them (and anything else that never completes a message). Called from within a read of
  // ws_ on the strand: the close is posted, not started here.
  const auto budget = 2 * static_cast<std::size_t>(ctx_->limits.max_message_bytes) + kBudgetSlack;
  beast::get_lowest_layer(ws_).rate_policy().configure(budget, kBudgetRefillPerSecond, [weak = this->weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    logging::get("ws")->debug("session {} ({}): byte budget used up without a complete message", self->session_id_,
                              self->user_);
    asio::post(self->ws_.get_executor(),
               [self] { self->do_close(websocket::close_code::policy_error, "rate", CloseReason::rate); });
  });
  ws_.async_accept(req, beast::bind_front_handler(&WsSession::on_accept, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_accept(beast::error_code ec) {
  if (ec) return fail(ec, "accept");
  opened_ = true;
  ctx_->sessions_opened.fetch_add(1, std::memory_order_relaxed);
  registered_ = true;
  auto self = this->shared_from_this();
  ctx_->router->add_session(
      self, [self] { asio::dispatch(self->ws_.get_executor(), [self] { self->on_registered(); }); },
      room_claims_ ? room_claims_->join : std::vector<std::string>{});
}

template <class Stream>
void WsSession<Stream>::on_registered() {
  if (closing_ || close_pending_) return;
  // Messages for this user may have been queued since the router added the session: the welcome
  // goes before them (no write has started yet: nothing is written before the welcome).
  welcomed_ = true;
  auto welcome = std::make_shared<const std::string>(proto::encode_welcome(user_, session_id_, ctx_->node_id));
  add_queued(welcome->size());
  queue_.push_front(std::move(welcome));
  do_write();
  do_read();
}

template <class Stream>
void WsSession<Stream>::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::on_read, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec) return fail(ec, "read");  // includes message_too_big: Beast closed with 1009
  if (closing_) return;
  beast::get_lowest_layer(ws_).rate_policy().reset();  // a complete message: the budget is back
  if (ws_.got_binary()) {
    buffer_.consume(buffer_.size());
    send_error(proto::ErrorCode::binary_unsupported, "binary frames are not supported", std::nullopt);
    return do_close(websocket::close_code::unknown_data, "binary", CloseReason::binary);
  }
  auto data = buffer_.cdata();
  handle_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
  buffer_.consume(buffer_.size());
  if (!closing_) do_read();
}

template <class Stream>
bool WsSession<Stream>::take_token(int64_t now) {
  const auto& l = ctx_->limits;
  if (l.messages_per_second <= 0) return true;
  tokens_ =
      std::min<double>(static_cast<double>(l.burst), tokens_ + static_cast<double>(now - last_refill_us_) *
                                                                   static_cast<double>(l.messages_per_second) / 1e6);
  last_refill_us_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

template <class Stream>
bool WsSession<Stream>::refuse(int64_t now) {
  // The window opens at a refusal and lasts kRateWindowUs: a client briefly over its rate (up to
  // `burst` refusals in the window) is only refused, one that keeps going is closed. A token taken
  // in between does not reset the count (at 1000/s one refills every millisecond).
  if (refused_in_window_ == 0 || now - rate_window_start_us_ > kRateWindowUs) {
    rate_window_start_us_ = now;
    refused_in_window_ = 0;
  }
  return ++refused_in_window_ > static_cast<uint64_t>(std::max<int64_t>(ctx_->limits.burst, 1));
}

template <class Stream>
void WsSession<Stream>::on_control_frame() {
  // Called from within a read of ws_ on the strand: the close is posted, not started here.
  const int64_t now = now_us();
  if (take_token(now) || !refuse(now) || rate_close_posted_) return;
  rate_close_posted_ = true;
  asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
    self->do_close(websocket::close_code::policy_error, "rate", CloseReason::rate);
  });
}

template <class Stream>
void WsSession<Stream>::handle_frame(std::string_view text) {
  auto decoded = proto::decode_client_frame(text);
  // Every text frame costs a token, well-formed or not: a flood of malformed frames is limited
  // (and closed) like any other.
  const int64_t now = now_us();
  if (!take_token(now)) {
    const std::optional<std::string>* ref = nullptr;
    std::visit(
        [&](auto& f) {
          if constexpr (std::is_same_v<std::decay_t<decltype(f)>, proto::DecodeError>) ref = &f.ref;
          else ref = &f.id;
        },
        decoded);
    // A client far over its limit (more than `burst` refusals within kRateWindowUs) is closed.
    if (refuse(now)) return do_close(websocket::close_code::policy_error, "rate", CloseReason::rate);
    return send_error(proto::ErrorCode::rate_limited, "rate limit exceeded", *ref);
  }
  if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
    return send_error(err->code, err->message, err->ref);
  }
  if (auto* f = std::get_if<proto::SendFrame>(&decoded)) {
    return ctx_->router->send(this->shared_from_this(), std::move(*f));
  }
  if (auto* f = std::get_if<proto::PresenceFrame>(&decoded)) {
    return ctx_->router->presence(this->shared_from_this(), std::move(*f));
  }
  if (auto* f = std::get_if<proto::PingFrame>(&decoded)) {
    return send_frame(std::make_shared<const std::string>(proto::encode_pong(f->id)));
  }
  if (auto* f = std::get_if<proto::JoinFrame>(&decoded)) {
    if (!room_allowed(f->room, f->id)) return;
    return ctx_->router->join(this->shared_from_this(), std::move(*f));
  }
  if (auto* f = std::get_if<proto::LeaveFrame>(&decoded)) {
    return ctx_->router->leave(this->shared_from_this(), std::move(*f));
  }
  if (auto* f = std::get_if<proto::PublishFrame>(&decoded)) {
    if (!room_allowed(f->room, f->id)) return;
    return ctx_->router->publish(this->shared_from_this(), std::move(*f));
  }
  if (auto* f = std::get_if<proto::MembersFrame>(&decoded)) {
    if (!room_allowed(f->room, f->id)) return;
    return ctx_->router->members(this->shared_from_this(), std::move(*f));
  }
}

template <class Stream>
void WsSession<Stream>::send_error(proto::ErrorCode code, std::string_view message,
                                   const std::optional<std::string>& ref) {
  if (!closing_ && !close_pending_) ctx_->count_error(code);
  send_frame(std::make_shared<const std::string>(proto::encode_error(code, message, ref)));
}

template <class Stream>
bool WsSession<Stream>::room_allowed(const std::string& room, const std::optional<std::string>& ref) {
  if (!room_claims_ || room_claims_->room_allowed(room)) return true;
  send_error(proto::ErrorCode::not_allowed, "the token's rooms claim does not allow this room", ref);
  return false;
}

// deliver(), run_on_thread() and close_drain() post to the session's io_context, not to its strand:
// that context has one thread, which runs every handler of the strand, so the function runs where
// the strand's would and never beside one of them. Everything the router sends a session goes
// through that one FIFO (a frame posted to the strand could overtake one posted to the context
// while the strand has handlers waiting), in the order the router sent it.
template <class Stream>
void WsSession<Stream>::deliver(std::shared_ptr<const std::string> frame) {
  asio::post(io_context(), [self = this->shared_from_this(), frame = std::move(frame)]() mutable {
    self->send_frame(std::move(frame));
  });
}

template <class Stream>
asio::io_context& WsSession<Stream>::context_of(websocket::stream<Stream>& ws) {
  // The executor is a strand over an io_context executor: its execution context is that
  // io_context (a downcast from asio::execution_context, which io_context derives from publicly).
  return static_cast<asio::io_context&>(asio::query(ws.get_executor(), asio::execution::context));
}

template <class Stream>
void WsSession<Stream>::run_on_thread(std::function<void()> fn) {
  asio::post(io_context(), std::move(fn));
}

template <class Stream>
void WsSession<Stream>::close_drain() {
  asio::post(io_context(), [self = this->shared_from_this()] {
    self->do_close(websocket::close_code::going_away, "drain", CloseReason::drain);
  });
}

template <class Stream>
void WsSession<Stream>::close_with(uint16_t code, std::string reason) {
  asio::post(io_context(), [self = this->shared_from_this(), code, reason = std::move(reason)] {
    // After the frames queued before it (the router's order): do_close waits for them.
    self->do_close(static_cast<websocket::close_code>(code), reason.c_str(), CloseReason::api);
  });
}

template <class Stream>
void WsSession<Stream>::send_frame(std::shared_ptr<const std::string> frame) {
  if (closing_ || close_pending_) return;
  if (queued_bytes() + frame->size() > static_cast<std::size_t>(ctx_->limits.send_queue_bytes) && !queue_.empty()) {
    // Policy for a slow reader: its bounded queue is full, close it; nobody else waits.
    return do_close(websocket::close_code::policy_error, "slow", CloseReason::slow);
  }
  add_queued(frame->size());
  queue_.push_back(std::move(frame));
  if (welcomed_ && queue_.size() == 1) do_write();
}

template <class Stream>
void WsSession<Stream>::do_write() {
  ws_.text(true);
  ws_.async_write(asio::buffer(*queue_.front()),
                  beast::bind_front_handler(&WsSession::on_write, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_write(beast::error_code ec, std::size_t) {
  if (ec) return fail(ec, "write");
  sub_queued(queue_.front()->size());
  queue_.pop_front();
  if (close_pending_) {
    close_pending_ = false;
    queue_.clear();
    queued_bytes_.store(0, std::memory_order_relaxed);
    return start_close();
  }
  if (!queue_.empty()) do_write();
}

template <class Stream>
void WsSession<Stream>::do_close(websocket::close_code code, const char* reason, CloseReason why) {
  if (closing_ || close_pending_) return;
  if (!close_cause_) close_cause_ = why;
  close_reason_ = websocket::close_reason(code, reason);
  if (!ws_.is_open()) return leave();
  if (welcomed_ && !queue_.empty()) {
    close_pending_ = true;  // after the write in flight...
    // ...unless the peer does not read at all (the usual case of a `slow` close): then the write
    // never completes, so after a grace period the socket is closed under it.
    arm_close_deadline(kCloseGrace);
    return;
  }
  start_close();
}

template <class Stream>
void WsSession<Stream>::start_close() {
  closing_ = true;
  arm_close_deadline(kCloseTimeout);
  ws_.async_close(close_reason_, beast::bind_front_handler(&WsSession::on_close, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::arm_close_deadline(std::chrono::milliseconds after) {
  if (left_) return;
  close_deadline_armed_ = true;
  const uint64_t gen = ++close_timer_gen_;
  close_timer_.expires_after(after);
  close_timer_.async_wait([self = this->shared_from_this(), gen](beast::error_code ec) {
    // (a re-armed or cancelled deadline may still run here with no error: the generation tells)
    if (ec || gen != self->close_timer_gen_ || self->left_) return;
    logging::get("ws")->debug("session {}: peer not reading or not closing, closing the socket", self->session_id_);
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
}

template <class Stream>
void WsSession<Stream>::on_close(beast::error_code ec) {
  if (ec) logging::get("ws")->debug("session {}: close: {}", session_id_, ec.message());
  leave();
}

template class WsSession<ClientStream>;
template class WsSession<beast::ssl_stream<ClientStream>>;

}  // namespace wsg
