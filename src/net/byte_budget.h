// ByteBudget: the rate policy of the node's client connections (beast::basic_stream's RatePolicy,
// see boost/beast/core/rate_policy.hpp), and ClientStream, the stream HTTP and WebSocket sessions
// run on.
//
// Beast skips empty non-final WebSocket frames inside its read loop: the session never sees them,
// so its token bucket cannot charge them. The budget bounds them below the WebSocket layer, in
// bytes: what a client may send without completing a message is capped at `limit` (set by the
// WebSocket session: 2 x limits.max_message_bytes + 64 KiB), each completed message refills it
// to `limit`, and time gives back `refill_per_second` (up to `limit`) so a client that only pings
// is never starved. When a read takes the budget to zero, `on_exhausted` runs once (the session
// closes 1008 `rate`), and further reads wait for the budget to come back. Writes are unlimited.
// Until configure() runs (plain HTTP before an upgrade) reads are unlimited too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/rate_policy.hpp>

namespace wsg {

class ByteBudget {
 public:
  static constexpr std::size_t kUnlimited = (std::numeric_limits<std::size_t>::max)();

  // Starts a budget of `limit` bytes (full). `on_exhausted` runs, at most once, from within the
  // read that used the last byte (on the stream's executor): it must not start I/O there.
  void configure(std::size_t limit, std::size_t refill_per_second, std::function<void()> on_exhausted) {
    limit_ = limit;
    remain_ = limit;
    refill_per_second_ = refill_per_second;
    on_exhausted_ = std::move(on_exhausted);
    last_refill_ = Clock::now();
  }
  // A message completed: the whole budget is back.
  void reset() noexcept {
    remain_ = limit_;
    last_refill_ = Clock::now();
  }
  std::size_t remaining() const noexcept { return remain_; }
  bool exhausted() const noexcept { return exhausted_; }

 private:
  friend class boost::beast::rate_policy_access;
  using Clock = std::chrono::steady_clock;

  // Time gives back refill_per_second_, computed when asked (Beast's own one-second timer only
  // runs once a read has waited).
  void refill() noexcept {
    if (limit_ == kUnlimited || remain_ >= limit_) return;
    const auto now = Clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_refill_).count();
    if (ms <= 0) return;
    const auto back = static_cast<std::size_t>(ms) * refill_per_second_ / 1000;
    if (back == 0) return;
    last_refill_ = now;
    remain_ = std::min(limit_, remain_ + back);
  }

  std::size_t available_read_bytes() noexcept {
    refill();
    return remain_;
  }
  std::size_t available_write_bytes() const noexcept { return kUnlimited; }
  void transfer_read_bytes(std::size_t n) {
    if (limit_ == kUnlimited) return;
    remain_ = n < remain_ ? remain_ - n : 0;
    if (remain_ == 0 && !exhausted_) {
      exhausted_ = true;
      if (on_exhausted_) on_exhausted_();
    }
  }
  void transfer_write_bytes(std::size_t) const noexcept {}
  void on_timer() noexcept { refill(); }

  std::size_t limit_ = kUnlimited;
  std::size_t remain_ = kUnlimited;
  std::size_t refill_per_second_ = 0;
  bool exhausted_ = false;
  Clock::time_point last_refill_{};
  std::function<void()> on_exhausted_;
};

// The TCP stream of a client connection (HTTP, then WebSocket; under TLS when configured).
using ClientStream = boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::any_io_executor, ByteBudget>;

}  // namespace wsg
