#include "client.h"

#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <netinet/in.h>
#include <time.h>

namespace wsg::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

// True when `text` is a JSON object with "type":"welcome".
bool is_welcome(std::string_view text) {
  unsigned char storage[2048];
  json::monotonic_resource mr(storage, sizeof storage);
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec, &mr);
  if (ec || !v.is_object()) return false;
  const auto* type = v.as_object().if_contains("type");
  return type && type->is_string() && type->as_string() == "welcome";
}

}  // namespace

Client::Client(net::io_context& ioc, ClientEvents& events, const Endpoint& endpoint, std::string user,
               uint32_t source_ipv4, uint64_t tag)
    : events_(events), ws_(ioc), endpoint_(endpoint), user_(std::move(user)), source_(source_ipv4), tag_(tag) {}

void Client::start(std::chrono::nanoseconds timeout) {
  state_ = State::connecting;
  started_ns_ = mono_ns();
  auto& stream = ws_.next_layer();
  auto& socket = stream.socket();
  boost::system::error_code ec;
  const bool v4 = endpoint_.address.address().is_v4();
  socket.open(v4 ? tcp::v4() : tcp::v6(), ec);
  if (!ec && v4) {
    // Let connect() pick the port, so that one source address serves every destination's
    // 4-tuples rather than one port per socket from the ephemeral range.
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket.bind(tcp::endpoint(net::ip::address_v4(source_), 0), ec);
  }
  if (ec) {
    auto self = shared_from_this();
    net::post(ws_.get_executor(), [self, ec] { self->fail("bind", ec.message()); });
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  // One deadline for connect, upgrade and welcome (the websocket's own timeouts stay off meanwhile).
  stream.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
  stream.async_connect(endpoint_.address,
                       [self = shared_from_this()](const boost::system::error_code& e) { self->on_connect(e); });
}

void Client::fail(const std::string& kind, const std::string& detail) {
  if (state_ == State::done) return;
  state_ = State::done;
  boost::system::error_code ignored;
  ws_.next_layer().socket().close(ignored);
  events_.on_failed(*this, kind, detail);
}

void Client::on_connect(const boost::system::error_code& ec) {
  if (state_ != State::connecting) return;
  if (ec) return fail(ec == beast::error::timeout ? "timeout" : "connect", ec.message());
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "wsg-bench"); }));
  std::string target = endpoint_.target;
  target += (target.find('?') == std::string::npos ? "?user=" : "&user=");
  target += user_;
  ws_.async_handshake(response_, endpoint_.host_header, target,
                      [self = shared_from_this()](const boost::system::error_code& e) { self->on_handshake(e); });
}

void Client::on_handshake(const boost::system::error_code& ec) {
  if (state_ != State::connecting) return;
  if (ec) {
    if (ec == beast::error::timeout) return fail("timeout", "during the upgrade");
    if (ec == websocket::error::upgrade_declined && response_.result_int() != 0)
      return fail("http_" + std::to_string(response_.result_int()), ec.message());
    return fail("handshake", ec.message());
  }
  ws_.text(true);
  read();
}

void Client::read() {
  ws_.async_read(buffer_,
                 [self = shared_from_this()](const boost::system::error_code& e, std::size_t) { self->on_read(e); });
}

void Client::on_read(const boost::system::error_code& ec) {
  if (ec) {
    if (!welcomed_) {
      if (ec == beast::error::timeout) return fail("timeout", "waiting for the welcome");
      return fail("closed", ec.message());
    }
    // During our close, the close handler reports (the read ends with operation_aborted or closed).
    if (state_ == State::closing) return;
    std::string detail = ec.message();
    if (ec == websocket::error::closed && ws_.reason().code != websocket::close_code::none)
      detail = "closed by the peer: " + std::to_string(ws_.reason().code) + " " +
               std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
    return finish(false, detail);
  }
  const auto data = buffer_.cdata();
  const std::string_view text(static_cast<const char*>(data.data()), data.size());
  if (!welcomed_) {
    if (state_ != State::connecting) return;
    if (!is_welcome(text)) {
      std::string first(text.substr(0, 200));
      buffer_.consume(buffer_.size());
      return fail("bad_welcome", "first frame: " + first);
    }
    buffer_.consume(buffer_.size());
    welcomed_ = true;
    welcomed_ns_ = mono_ns();
    ws_.next_layer().expires_never();
    state_ = State::open;
    events_.on_welcome(*this);
  } else {
    if (state_ == State::open || state_ == State::closing) events_.on_frame(*this, text);
    buffer_.consume(buffer_.size());
  }
  if (state_ == State::open || state_ == State::closing) read();
}

void Client::send(std::string frame) {
  if (state_ != State::open) return;
  queued_bytes_ += frame.size();
  queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Client::write_next() {
  if (queue_.empty() || state_ != State::open) {
    writing_ = false;
    return;
  }
  writing_ = true;
  ws_.async_write(net::buffer(queue_.front()),
                  [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                    self->queued_bytes_ -= self->queue_.front().size();
                    self->queue_.pop_front();
                    if (ec) {
                      self->writing_ = false;
                      return;  // the read side reports the broken connection
                    }
                    self->write_next();
                  });
}

void Client::close(std::chrono::nanoseconds timeout) {
  if (state_ != State::open) return;
  state_ = State::closing;
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws_.set_option(t);
  // Beast suspends the close until a write in progress is done; queued frames are not sent.
  while (queue_.size() > (writing_ ? 1u : 0u)) {
    queued_bytes_ -= queue_.back().size();
    queue_.pop_back();
  }
  ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](const boost::system::error_code& ec) {
    self->finish(!ec, ec ? "close: " + ec.message() : std::string("closed"));
  });
}

void Client::abort() {
  boost::system::error_code ignored;
  ws_.next_layer().socket().close(ignored);
}

void Client::finish(bool clean, const std::string& detail) {
  if (state_ == State::done) return;
  state_ = State::done;
  boost::system::error_code ignored;
  ws_.next_layer().socket().close(ignored);
  events_.on_closed(*this, clean, detail);
}

}  // namespace wsg::bench
