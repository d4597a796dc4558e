#include "net/api_session.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <variant>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>

#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;
// How much of a refused request's unread rest is read and dropped before the socket is closed (a
// socket closed with unread input sends a reset, which can destroy the answer before it is read).
constexpr std::size_t kDrainLimit = 64 * 1024;
constexpr auto kShutdownTimeout = std::chrono::seconds(2);
constexpr std::string_view kRoomsPrefix = "/api/rooms/";
constexpr std::string_view kMembersSuffix = "/members";

bool routine(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == http::error::end_of_stream;
}

// The key of `Authorization: Bearer KEY` (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer(std::string_view value) {
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !std::equal(kScheme.begin(), kScheme.end(), value.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      }))
    return std::nullopt;
  auto rest = value.substr(kScheme.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  return rest;
}

// The metrics' endpoint label of a request target, from its path alone (the checks decide the answer).
ApiMetrics::Endpoint endpoint_of(std::string_view target) {
  using E = ApiMetrics::Endpoint;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return E::other;
  const std::string p = url->path();
  if (p == "/api/publish") return E::publish;
  if (p == "/api/batch") return E::batch;
  if (p == "/api/disconnect") return E::disconnect;
  if (p == "/api/rooms/join") return E::rooms_join;
  if (p == "/api/rooms/leave") return E::rooms_leave;
  if (p == "/api/presence") return E::presence;
  if (p == "/api/info") return E::info;
  if (p.starts_with(kRoomsPrefix) && p.ends_with(kMembersSuffix)) return E::members;
  return E::other;
}

}  // namespace

ApiSession::ApiSession(asio::ip::tcp::socket&& socket, std::shared_ptr<ApiContext> ctx)
    : stream_(std::move(socket)), ctx_(std::move(ctx)), deadline_(stream_.get_executor()) {}

ApiSession::~ApiSession() {
  if (held_ > 0) ctx_->inflight.fetch_sub(held_);
  ctx_->connections.fetch_sub(1);
}

void ApiSession::run() {
  asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&ApiSession::do_read, shared_from_this()));
}

void ApiSession::do_read() {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(static_cast<std::uint64_t>(ctx_->api.max_body_bytes));
  stream_.expires_after(std::chrono::milliseconds(ctx_->api.request_timeout_ms));
  // The header first: a client that sent `Expect: 100-continue` (curl does, for bodies over 1 KiB)
  // waits for a 100 before it sends the body.
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&ApiSession::on_header, shared_from_this()));
}

void ApiSession::on_header(beast::error_code ec, std::size_t bytes) {
  if (ec) return on_read(ec, bytes);
  const auto& h = parser_->get();
  if (!parser_->is_done() && beast::iequals(h[http::field::expect], "100-continue")) {
    // A body over the limit is refused when it is read (413), as without Expect.
    continue_ = std::make_shared<http::response<http::empty_body>>(http::status::continue_, h.version());
    return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
      self->continue_.reset();
      if (wec) return self->fail(wec, "write");
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       beast::bind_front_handler(&ApiSession::on_read, self));
    });
  }
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&ApiSession::on_read, shared_from_this()));
}

void ApiSession::fail(beast::error_code ec, const char* what) {
  if (!routine(ec)) logging::get("api")->debug("{}: {}", what, ec.message());
}

void ApiSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) return do_shutdown();
  endpoint_ = ec == http::error::header_limit ? ApiMetrics::Endpoint::other : endpoint_of(parser_->get().target());
  // Over a size limit: an answer, then the connection ends (the parser stopped inside the request).
  if (ec == http::error::header_limit) {
    return refuse_unread(431, "too_large",
                         "the request line and headers are limited to " + std::to_string(kHeaderLimit / 1024) + " KiB");
  }
  if (ec == http::error::body_limit) {
    return refuse_unread(
        413, "too_large",
        "the request body is limited to " + std::to_string(ctx_->api.max_body_bytes) + " bytes (api.max_body_bytes)");
  }
  if (ec) return fail(ec, "read");
  req_ = parser_->release();
  stream_.expires_never();
  received_ = std::chrono::steady_clock::now();
  handle();
}

void ApiSession::handle() {
  retry_after_.reset();
  auto url = boost::urls::parse_origin_form(req_.target());
  if (!url) return reply_error(400, "bad_request", "bad request target");

  // Every request needs the key, whatever its path: nothing is told without it.
  if (ctx_->key) {
    auto h = req_.find(http::field::authorization);
    const auto key = h == req_.end() ? std::nullopt : bearer(h->value());
    if (!key || !ctx_->key_matches(*key)) {
      return reply_error(401, "unauthorized", h == req_.end() ? "missing Authorization: Bearer KEY" : "wrong API key");
    }
  }
  if (auto wait = ctx_->rate.take()) {
    retry_after_ = *wait;
    return reply_error(429, "rate_limited", "over api.requests_per_second");
  }

  const std::string path = url->path();
  const auto method = req_.method();
  // Which endpoint, and the method it takes.
  enum class Ep { none, publish, batch, disconnect, join, leave, presence, members, info } ep = Ep::none;
  http::verb want = http::verb::post;
  std::string_view room;
  if (path == "/api/publish") ep = Ep::publish;
  else if (path == "/api/batch") ep = Ep::batch;
  else if (path == "/api/disconnect") ep = Ep::disconnect;
  else if (path == "/api/rooms/join") ep = Ep::join;
  else if (path == "/api/rooms/leave") ep = Ep::leave;
  else if (path == "/api/presence") ep = Ep::presence, want = http::verb::get;
  else if (path == "/api/info") ep = Ep::info, want = http::verb::get;
  else if (path.starts_with(kRoomsPrefix) && path.ends_with(kMembersSuffix) &&
           path.size() > kRoomsPrefix.size() + kMembersSuffix.size()) {
    ep = Ep::members;
    want = http::verb::get;
    room =
        std::string_view(path).substr(kRoomsPrefix.size(), path.size() - kRoomsPrefix.size() - kMembersSuffix.size());
  }
  if (ep == Ep::none) return reply_error(404, "not_found", "no such endpoint (docs/api.md)");
  if (method != want) {
    retry_after_.reset();
    return reply_error(405, "method_not_allowed",
                       std::string("this endpoint takes ") + (want == http::verb::get ? "GET" : "POST"));
  }
  if (ctx_->session_ctx && ctx_->session_ctx->draining.load()) {
    return reply_error(503, "unavailable", "the node is draining (shutting down)");
  }
  if (!ctx_->router->ready()) return reply_error(503, "unavailable", "the node has lost the master");

  started_ = std::chrono::steady_clock::now();
  switch (ep) {
    case Ep::publish: return publish(false);
    case Ep::batch: return publish(true);
    case Ep::disconnect: return user_op(proto::api::UserOpKind::disconnect);
    case Ep::join: return user_op(proto::api::UserOpKind::join);
    case Ep::leave: return user_op(proto::api::UserOpKind::leave);
    case Ep::presence: return presence();
    case Ep::members: return members(room);
    case Ep::info: return info();
    case Ep::none: break;
  }
}

// ------------------------------------------------------------------------------------ endpoints

void ApiSession::publish(bool batch_endpoint) {
  proto::api::Limits limits;
  limits.max_users = static_cast<std::size_t>(ctx_->api.max_users_per_publish);
  limits.max_batch = static_cast<std::size_t>(ctx_->api.max_batch);
  limits.max_body_bytes = static_cast<std::size_t>(ctx_->max_message_bytes);
  auto parsed =
      batch_endpoint ? proto::api::parse_batch(req_.body(), limits) : proto::api::parse_publish(req_.body(), limits);
  if (auto* e = std::get_if<proto::api::Error>(&parsed)) return reply_error(e->status, e->code, e->message);
  auto& request = std::get<proto::api::PublishRequest>(parsed);
  begin(request.items.size(), request.batch);
  const uint64_t gen = generation_;
  for (std::size_t i = 0; i < request.items.size(); ++i) {
    if (gen != generation_ || !waiting_) return;  // answered already (cannot happen: calls answer later)
    if (auto* e = std::get_if<proto::api::Error>(&request.items[i])) {
      complete_part(gen, i, e->status, proto::api::encode_error(e->code, e->message));
      continue;
    }
    auto& p = std::get<proto::api::Publish>(request.items[i]);
    const std::size_t ops = p.target == proto::api::Publish::Target::room ? 1 : p.users.size();
    const std::string from = p.from;
    start_call(
        i, [&](ApiCall& call) { call.start_publish(*ctx_->router, std::move(p)); }, ops, from);
  }
}

void ApiSession::user_op(proto::api::UserOpKind kind) {
  auto parsed = proto::api::parse_user_op(kind, req_.body());
  if (auto* e = std::get_if<proto::api::Error>(&parsed)) return reply_error(e->status, e->code, e->message);
  auto& op = std::get<proto::api::UserOp>(parsed);
  if (ctx_->inflight.fetch_add(1) + 1 > ctx_->api.max_inflight) {
    ctx_->inflight.fetch_sub(1);
    return reply_error(503, "unavailable", "too many API operations in flight (api.max_inflight)");
  }
  begin(1, false);
  held_ += 1;
  const uint64_t gen = generation_;
  on_timeout_[0] = [user = op.user] {
    return std::pair<unsigned, std::string>{
        200, proto::api::encode_user_op_answer(user, proto::AckStatus::failed, "timeout")};
  };
  Router::UserOpRequest r;
  r.op = kind == proto::api::UserOpKind::disconnect ? Router::UserOp::disconnect
         : kind == proto::api::UserOpKind::join     ? Router::UserOp::join
                                                    : Router::UserOp::leave;
  r.user = op.user;
  r.room = op.room;
  r.code = op.code;
  r.reason = op.reason;
  ctx_->router->user_op(std::move(r), [self = shared_from_this(), gen, user = op.user](Router::UserOpResult result) {
    auto answer = proto::api::encode_user_op_answer(user, result.status, result.reason);
    asio::post(self->stream_.get_executor(), [self, gen, answer = std::move(answer)]() mutable {
      self->complete_part(gen, 0, 200, std::move(answer));
    });
  });
}

void ApiSession::presence() {
  auto url = boost::urls::parse_origin_form(req_.target());
  std::vector<std::string> values;
  for (const auto& param : url->params()) {
    if (param.key != "user") continue;
    if (values.size() > proto::kMaxPresenceUsers) break;  // one past the bound is enough to refuse
    values.emplace_back(param.value);
  }
  auto users = proto::api::presence_users(values);
  if (auto* e = std::get_if<proto::api::Error>(&users)) return reply_error(e->status, e->code, e->message);
  begin(1, false);
  start_call(
      0,
      [&](ApiCall& call) { call.start_presence(*ctx_->router, std::move(std::get<std::vector<std::string>>(users))); },
      1, std::string(proto::api::kDefaultFrom));
}

void ApiSession::members(std::string_view room) {
  auto url = boost::urls::parse_origin_form(req_.target());
  std::string after;
  std::string limit;
  auto params = url->params();
  if (auto it = params.find("after"); it != params.end()) after = std::string((*it).value);
  if (auto it = params.find("limit"); it != params.end()) limit = std::string((*it).value);
  auto frame = proto::api::members_query(room, after, limit);
  if (auto* e = std::get_if<proto::api::Error>(&frame)) return reply_error(e->status, e->code, e->message);
  begin(1, false);
  start_call(
      0, [&](ApiCall& call) { call.start_members(*ctx_->router, std::move(std::get<proto::MembersFrame>(frame))); }, 1,
      std::string(proto::api::kDefaultFrom));
}

void ApiSession::info() {
  begin(1, false);
  const uint64_t gen = generation_;
  on_timeout_[0] = [] {
    return std::pair<unsigned, std::string>{504, proto::api::encode_error("timeout", "the master did not answer")};
  };
  ctx_->router->cluster_status("", [self = shared_from_this(), gen](std::optional<std::string> status) {
    asio::post(self->stream_.get_executor(), [self, gen, status = std::move(status)]() mutable {
      if (!status) {
        return self->complete_part(gen, 0, 503,
                                   proto::api::encode_error("unavailable", "the master did not answer in time"));
      }
      self->complete_part(gen, 0, 200, std::move(*status));
    });
  });
}

// ------------------------------------------------------------------------------ gathering parts

void ApiSession::begin(std::size_t parts, bool batch) {
  ++generation_;
  waiting_ = true;
  batch_ = batch;
  parts_.assign(parts, std::nullopt);
  calls_.assign(parts, nullptr);
  on_timeout_.assign(parts, nullptr);
  parts_left_ = parts;
  deadline_.expires_after(std::chrono::milliseconds(ctx_->api.request_timeout_ms));
  deadline_.async_wait([self = shared_from_this(), gen = generation_](beast::error_code ec) {
    if (!ec) self->on_deadline(gen);
  });
}

bool ApiSession::start_call(std::size_t index, const std::function<void(ApiCall&)>& start, std::size_t operations,
                            const std::string& from) {
  const auto ops = static_cast<int64_t>(operations);
  if (ctx_->inflight.fetch_add(ops) + ops > ctx_->api.max_inflight) {
    ctx_->inflight.fetch_sub(ops);
    complete_part(generation_, index, 503,
                  proto::api::encode_error("unavailable", "too many API operations in flight (api.max_inflight)"));
    return false;
  }
  held_ += ops;
  auto call = std::make_shared<ApiCall>(
      stream_.get_executor(), from, ctx_->next_call_id(),
      [self = shared_from_this(), gen = generation_, index](unsigned status, std::string json) {
        self->complete_part(gen, index, status, std::move(json));
      });
  calls_[index] = call;
  start(*call);
  return true;
}

void ApiSession::complete_part(uint64_t generation, std::size_t index, unsigned status, std::string json) {
  if (generation != generation_ || !waiting_ || index >= parts_.size() || parts_[index]) return;
  parts_[index].emplace(status, std::move(json));
  if (--parts_left_ == 0) finish_parts();
}

void ApiSession::on_deadline(uint64_t generation) {
  if (generation != generation_ || !waiting_) return;
  for (std::size_t i = 0; i < parts_.size() && waiting_ && generation == generation_; ++i) {
    if (parts_[i]) continue;
    if (calls_[i]) {
      // A copy: answering may clear calls_ (the last part finishes the request).
      const auto call = calls_[i];
      call->expire();  // answers through complete_part
    } else if (on_timeout_[i]) {
      auto [status, json] = on_timeout_[i]();
      complete_part(generation, i, status, std::move(json));
    } else {
      complete_part(generation, i, 504, proto::api::encode_error("timeout", "no answer in time"));
    }
  }
}

void ApiSession::finish_parts() {
  waiting_ = false;
  deadline_.cancel();
  if (held_ > 0) ctx_->inflight.fetch_sub(held_);
  held_ = 0;
  calls_.clear();
  on_timeout_.clear();
  auto parts = std::move(parts_);
  parts_.clear();
  if (!batch_) {
    auto& [status, json] = *parts.front();
    return reply(status, std::move(json));
  }
  std::string out = "{\"results\":[";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += parts[i]->second;
  }
  out += "]}";
  reply(200, std::move(out));
}

// -------------------------------------------------------------------------------------- writing

void ApiSession::reply_error(unsigned status, std::string_view code, std::string_view message) {
  reply(status, proto::api::encode_error(code, message));
}

void ApiSession::reply(unsigned status, std::string json) {
  if (ctx_->metrics) {
    // A request refused before it was read whole (413, 431) counts from now.
    const auto now = std::chrono::steady_clock::now();
    const auto from = received_.time_since_epoch().count() == 0 ? now : received_;
    ctx_->metrics->answered(endpoint_, status, std::chrono::duration<double>(now - from).count());
  }
  received_ = {};
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), req_.version());
  res->set(http::field::server, "wsg/" WSG_VERSION);
  res->set(http::field::content_type, "application/json");
  res->set(http::field::cache_control, "no-store");
  if (status == 401) res->set(http::field::www_authenticate, "Bearer");
  if (status == 429 && retry_after_) res->set(http::field::retry_after, std::to_string(*retry_after_));
  res->keep_alive(req_.keep_alive() && !close_after_);
  res->body() = std::move(json);
  res->body().push_back('\n');
  res->prepare_payload();
  response_ = res;
  const bool keep_alive = res->keep_alive();
  stream_.expires_after(std::chrono::milliseconds(ctx_->api.request_timeout_ms));
  http::async_write(stream_, *res, beast::bind_front_handler(&ApiSession::on_write, shared_from_this(), keep_alive));
}

void ApiSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return fail(ec, "write");
  if (!keep_alive) return do_shutdown();
  do_read();
}

void ApiSession::refuse_unread(unsigned status, std::string_view code, std::string message) {
  // The parser stopped inside the request: HTTP/1.1 and close.
  req_ = Request{};
  req_.version(11);
  close_after_ = true;
  reply(status, proto::api::encode_error(code, message));
}

void ApiSession::do_shutdown() {
  beast::error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec || !close_after_) return;
  // Read and drop what the client still sends (bounded by kDrainLimit and a deadline), so that the
  // close does not reset the connection under the answer; ends at the client's FIN.
  stream_.expires_after(kShutdownTimeout);
  do_drain();
}

void ApiSession::do_drain() {
  buffer_.consume(buffer_.size());
  if (drained_ >= kDrainLimit) return;
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    if (ec) return;
    self->drained_ += n;
    self->buffer_.commit(n);
    self->do_drain();
  });
}

}  // namespace wsg
