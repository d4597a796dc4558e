// ApiSession: one HTTP/1.1 connection of the server API (docs/api.md, "Server API"), on a strand of
// one of the pool's contexts. Plain TCP (the API is for a backend on the same host or private
// network; put a TLS proxy in front otherwise). Keep-alive, one request at a time: the next is
// read once the answer is written. Each request is bounded: 8 KiB of headers, api.max_body_bytes
// of body (413), api.request_timeout_ms from its first byte to its end, and the same again for its
// answers (whatever has not arrived by then is answered `failed`, reason "timeout", or 504).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/api_call.h"
#include "net/api_context.h"

namespace wsg {

class ApiSession : public std::enable_shared_from_this<ApiSession> {
 public:
  // Counts itself in ctx->connections (the listener checked the bound) until it is destroyed.
  ApiSession(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<ApiContext> ctx);
  ~ApiSession();
  void run();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  void do_read();
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void fail(boost::beast::error_code ec, const char* what);
  void handle();
  // Endpoints.
  void publish(bool batch_endpoint);
  void user_op(proto::api::UserOpKind kind);
  void presence();
  void members(std::string_view room);
  void info();

  // An answer made of `parts` answers arriving later (each by complete_part on the strand), sent
  // as one answer (a batch: {"results":[...]}) when all arrived or at the deadline.
  void begin(std::size_t parts, bool batch);
  void complete_part(uint64_t generation, std::size_t index, unsigned status, std::string json);
  void on_deadline(uint64_t generation);
  void finish_parts();
  // Starts an ApiCall for part `index`; false (and the part answered 503) when api.max_inflight
  // is reached.
  bool start_call(std::size_t index, const std::function<void(ApiCall&)>& start, std::size_t operations,
                  const std::string& from);

  void reply(unsigned status, std::string json);
  void reply_error(unsigned status, std::string_view code, std::string_view message);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void refuse_unread(unsigned status, std::string_view code, std::string message);
  void do_shutdown();
  void do_drain();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<ApiContext> ctx_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Request req_;
  std::shared_ptr<void> response_;
  std::shared_ptr<boost::beast::http::response<boost::beast::http::empty_body>> continue_;  // a 100 being written
  std::optional<int64_t> retry_after_;
  bool close_after_ = false;  // after a refused request: close once answered, dropping the unread rest
  std::size_t drained_ = 0;

  // The request being answered.
  uint64_t generation_ = 0;
  bool waiting_ = false;
  bool batch_ = false;
  std::vector<std::optional<std::pair<unsigned, std::string>>> parts_;
  std::vector<std::shared_ptr<ApiCall>> calls_;
  std::vector<std::function<std::pair<unsigned, std::string>()>> on_timeout_;  // per part
  std::size_t parts_left_ = 0;
  int64_t held_ = 0;  // counted in ctx_->inflight
  boost::asio::steady_timer deadline_;
  std::chrono::steady_clock::time_point started_;
  // For wsg_api_requests_total and wsg_api_request_duration_seconds: the request's endpoint (from
  // its path, before any check) and when it was read.
  ApiMetrics::Endpoint endpoint_ = ApiMetrics::Endpoint::other;
  std::chrono::steady_clock::time_point received_;
};

}  // namespace wsg
