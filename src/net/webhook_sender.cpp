#include "net/webhook_sender.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "net/tls.h"
#include "proto/webhook_queue.h"
#include "telemetry/logging.h"
#include "telemetry/webhook_metrics.h"
#include "text/http_url.h"

namespace wsg {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A response body is read and ignored; a receiver answering more than this fails the attempt.
constexpr std::size_t kMaxResponseBody = 64 * 1024;

// The interface of one POST, over plain TCP or TLS (see Request below).
class Call {
 public:
  using Done = std::function<void(unsigned status, std::string error)>;
  virtual ~Call() = default;
  virtual void start(const HttpUrl& url, http::request<http::string_body> req, int64_t timeout_ms) = 0;
  // Abandons the request (the sender stops): `done` is not called.
  virtual void cancel() = 0;
};

// One POST: resolve, connect, (for https:// the TLS handshake, verifying the certificate against the
// host name,) write, read, under one deadline. `done` runs once, on the sender's thread, with the
// status (0 when there is none) and a description of the failure ("" if none). Nothing is thrown
// out of a handler: every step takes an error_code. The connection is closed after the response
// (Connection: close); a TLS connection is not shut down gracefully, just closed.
template <bool Tls>
class Request : public Call, public std::enable_shared_from_this<Request<Tls>> {
 public:
  using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Request(asio::io_context& ioc, ssl::context* tls, Done done)
      : resolver_(ioc), stream_(make_stream(ioc, tls)), deadline_(ioc), done_(std::move(done)) {}

  void start(const HttpUrl& url, http::request<http::string_body> req, int64_t timeout_ms) override {
    req_ = std::move(req);
    host_ = url.host;
    deadline_.expires_after(std::chrono::milliseconds(timeout_ms));
    deadline_.async_wait([self = this->shared_from_this(), timeout_ms](beast::error_code ec) {
      if (!ec) self->finish(0, "no answer within " + std::to_string(timeout_ms) + " ms (webhooks.timeout_ms)");
    });
    resolver_.async_resolve(
        url.host, std::to_string(url.port),
        [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->finish(0, "resolve: " + ec.message());
          self->connect(results);
        });
  }

  void cancel() override {
    finished_ = true;
    close();
  }

 private:
  static Stream make_stream(asio::io_context& ioc, ssl::context* tls) {
    if constexpr (Tls) {
      return Stream(ioc, *tls);
    } else {
      (void)tls;
      return Stream(ioc);
    }
  }

  void connect(const tcp::resolver::results_type& results) {
    if (finished_) return;
    beast::get_lowest_layer(stream_).async_connect(
        results, [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->finish(0, "connect: " + ec.message());
          if (self->finished_) return;
          if constexpr (Tls) {
            self->handshake();
          } else {
            self->write();
          }
        });
  }

  void handshake() {
    if constexpr (Tls) {
      // SNI for a host name (not for an IP address, RFC 6066), and the certificate must name the
      // host (a DNS name, or an IP address in its subjectAltName).
      beast::error_code ec;
      asio::ip::make_address(host_, ec);
      const bool is_address = !ec;
      ec.clear();
      if (!is_address && SSL_set_tlsext_host_name(stream_.native_handle(), host_.c_str()) != 1) {
        ERR_clear_error();
        return finish(0, "TLS: cannot set the server name '" + host_ + "'");
      }
      stream_.set_verify_callback(ssl::host_name_verification(host_), ec);
      if (ec) return finish(0, "TLS: " + ec.message());
      stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->finish(0, "TLS handshake: " + tls_error(self->stream_, ec));
        self->write();
      });
    }
  }

  // The handshake's failure, with the verification result when that is what failed.
  static std::string tls_error(Stream& stream, const beast::error_code& ec) {
    if constexpr (Tls) {
      const long verify = SSL_get_verify_result(stream.native_handle());
      if (verify != X509_V_OK) return ec.message() + " (certificate: " + X509_verify_cert_error_string(verify) + ")";
    } else {
      (void)stream;
    }
    return ec.message();
  }

  void write() {
    if (finished_) return;
    http::async_write(stream_, req_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish(0, "write: " + ec.message());
      self->read();
    });
  }

  void read() {
    if (finished_) return;
    parser_.body_limit(kMaxResponseBody);
    http::async_read(stream_, buffer_, parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish(0, "read: " + ec.message());
      self->finish(self->parser_.get().result_int(), {});
    });
  }

  void close() {
    beast::error_code ec;
    deadline_.cancel();
    resolver_.cancel();
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  void finish(unsigned status, std::string error) {
    if (finished_) return;
    finished_ = true;
    close();
    done_(status, std::move(error));
  }

  tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer deadline_;
  Done done_;
  std::string host_;
  http::request<http::string_body> req_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  bool finished_ = false;
};

}  // namespace

struct WebhookSender::Impl {
  Impl(Options o, HttpUrl u, std::shared_ptr<ssl::context> t, prometheus::Registry& registry)
      : opt(std::move(o)),
        url(std::move(u)),
        tls(std::move(t)),
        metrics(registry),
        queue(opt.queue_max, opt.queue_max_bytes),
        work(asio::make_work_guard(ioc)),
        timer(ioc),
        log(logging::get("webhooks")),
        rng(std::random_device{}()) {
    std::random_device rd;
    id_prefix = std::to_string(((static_cast<uint64_t>(rd()) << 32) ^ rd()) & 0xffffffffffffULL);
  }

  Options opt;
  HttpUrl url;
  std::shared_ptr<ssl::context> tls;  // https:// only
  WebhookMetrics metrics;

  // --- shared with the emitting threads, under `mutex`
  std::mutex mutex;
  std::condition_variable idle_cv;
  webhook::EventQueue queue;
  bool wake_posted = false;
  bool busy = false;  // a batch is out (or waiting for its retry); written on the sender thread
  logging::Throttle drop_warning{std::chrono::seconds(10)};
  uint64_t dropped_unlogged = 0;
  std::string id_prefix;
  uint64_t next_id = 0;
  bool closed = false;  // stopped: emit() drops what comes

  std::atomic<std::size_t> in_flight{0};  // events of the batch out, for the depth gauge

  // --- the sender's thread
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;  // batch delay, or back-off
  bool waiting = false;      // the timer runs for the batch delay
  bool flushing = false;
  unsigned attempt = 0;  // retries of the batch at the queue's head so far
  std::shared_ptr<Call> request;
  std::shared_ptr<spdlog::logger> log;
  logging::Throttle fail_warning{std::chrono::seconds(10)};
  std::mt19937_64 rng;
  std::thread thread;
  bool stopped = false;

  void depth(std::size_t queued) { metrics.queue_depth(queued + in_flight.load(std::memory_order_relaxed)); }

  void count_dropped(std::size_t n) {
    // Under `mutex`.
    metrics.dropped(n);
    dropped_unlogged += n;
    if (uint64_t held = 0; drop_warning.allow(held)) {
      log->warn(
          "webhook queue full (webhooks.queue_max {}, queue_max_bytes {}): dropped the {} oldest events since the "
          "last warning (is {} down?)",
          opt.queue_max, opt.queue_max_bytes, dropped_unlogged, opt.url);
      dropped_unlogged = 0;
    }
  }

  void set_busy(bool b) {
    std::lock_guard lock(mutex);
    busy = b;
    if (!b && queue.empty()) idle_cv.notify_all();
  }

  // On the sender thread: send the next batch when one is due, else wait for it.
  void kick() {
    if (stopped) return;
    std::vector<webhook::Event> batch;
    {
      std::lock_guard lock(mutex);
      if (busy || queue.empty()) {
        if (!busy) idle_cv.notify_all();
        return;
      }
      const int64_t due = queue.front().queued_ms + opt.batch_delay_ms;
      const int64_t now = steady_ms();
      if (!(flushing || attempt > 0 || queue.size() >= opt.batch_max || now >= due)) {
        if (!waiting) {
          waiting = true;
          timer.expires_after(std::chrono::milliseconds(due - now));
          timer.async_wait([this](beast::error_code ec) {
            if (ec) return;  // cancelled: a batch went out meanwhile
            waiting = false;
            kick();
          });
        }
        return;
      }
      if (waiting) {
        waiting = false;
        timer.cancel();
      }
      batch = queue.take(opt.batch_max, opt.batch_max_bytes);
      busy = true;
      in_flight.store(batch.size(), std::memory_order_relaxed);
      depth(queue.size());
    }
    send(std::move(batch));
  }

  void send(std::vector<webhook::Event> batch) {
    const auto body_ptr = std::make_shared<std::vector<webhook::Event>>(std::move(batch));
    std::string body = webhook::encode_batch(*body_ptr);
    const std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, url.host_header);
    req.set(http::field::user_agent, "wsg");
    req.set(http::field::content_type, "application/json");
    req.set("X-Wsg-Timestamp", timestamp);
    req.set("X-Wsg-Signature", webhook::sign(opt.secret, timestamp, body));
    req.keep_alive(false);
    req.body() = std::move(body);
    req.prepare_payload();
    const auto started = std::chrono::steady_clock::now();
    auto on_done = [this, body_ptr, started](unsigned status, std::string error) {
      request.reset();
      metrics.latency(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      done(std::move(*body_ptr), status, std::move(error));
    };
    if (url.tls) {
      request = std::make_shared<Request<true>>(ioc, tls.get(), std::move(on_done));
    } else {
      request = std::make_shared<Request<false>>(ioc, nullptr, std::move(on_done));
    }
    request->start(url, std::move(req), opt.timeout_ms);
  }

  void done(std::vector<webhook::Event> batch, unsigned status, std::string error) {
    const std::size_t n = batch.size();
    const auto verdict = error.empty() ? webhook::judge(status) : webhook::Verdict::retry;
    const std::string what = error.empty() ? "HTTP " + std::to_string(status) : error;
    in_flight.store(0, std::memory_order_relaxed);
    if (verdict == webhook::Verdict::sent) {
      metrics.sent(n);
      attempt = 0;
    } else if (verdict == webhook::Verdict::drop) {
      metrics.failed(n);
      attempt = 0;
      if (uint64_t held = 0; fail_warning.allow(held))
        log->warn(
            "{} refused a batch of {} events ({}): dropped, not retried ({} more failures since the last warning)",
            opt.url, n, what, held);
    } else if (attempt >= opt.max_retries) {
      metrics.failed(n);
      attempt = 0;
      if (uint64_t held = 0; fail_warning.allow(held))
        log->warn(
            "{}: {}; dropped a batch of {} events after {} retries (webhooks.max_retries) ({} more failures "
            "since the last warning)",
            opt.url, what, n, opt.max_retries, held);
    } else {
      ++attempt;
      metrics.retried();
      const int64_t wait = webhook::backoff_ms(attempt, opt.retry_initial_ms, opt.retry_max_ms, rng());
      if (uint64_t held = 0; fail_warning.allow(held))
        log->warn("{}: {}; retry {} of {} in {} ms ({} more failures since the last warning)", opt.url, what, attempt,
                  opt.max_retries, wait, held);
      {
        std::lock_guard lock(mutex);
        // Back at the head: if the queue filled meanwhile, its oldest events go first.
        if (const std::size_t dropped = queue.put_back(std::move(batch)); dropped > 0) count_dropped(dropped);
        depth(queue.size());
      }
      timer.expires_after(std::chrono::milliseconds(wait));
      timer.async_wait([this](beast::error_code ec) {
        if (ec) return;
        set_busy(false);
        kick();
      });
      return;
    }
    {
      std::lock_guard lock(mutex);
      depth(queue.size());
    }
    set_busy(false);
    kick();
  }
};

WebhookSender::Options WebhookSender::options(const WebhooksConfig& c, std::string secret, std::string who) {
  Options o;
  o.url = c.url;
  o.ca_file = c.ca_file;
  o.secret = std::move(secret);
  if (c.events.empty()) {
    o.events.fill(true);
  } else {
    for (const auto& name : c.events) {
      const auto kind = webhook::event_kind(name);
      if (!kind) throw ConfigError("key 'webhooks.events': unknown event '" + name + "'");
      o.events[static_cast<std::size_t>(*kind)] = true;
    }
  }
  o.batch_max = static_cast<std::size_t>(c.batch_max);
  o.batch_delay_ms = c.batch_delay_ms;
  o.queue_max = static_cast<std::size_t>(c.queue_max);
  o.queue_max_bytes = static_cast<std::size_t>(c.queue_max_bytes);
  o.timeout_ms = c.timeout_ms;
  o.max_retries = static_cast<unsigned>(c.max_retries);
  o.retry_initial_ms = c.retry_initial_ms;
  o.retry_max_ms = c.retry_max_ms;
  o.who = std::move(who);
  return o;
}

WebhookSender::WebhookSender(Options options, prometheus::Registry& registry) : opt_events_(options.events) {
  std::string why;
  auto url = parse_http_url(options.url, why);
  if (!url) throw ConfigError("key 'webhooks.url': " + why);
  // https://: the client context, built (and webhooks.ca_file loaded) now, at start-up.
  std::shared_ptr<ssl::context> tls;
  if (url->tls) tls = make_webhook_tls_context(options.ca_file);
  impl_ = std::make_unique<Impl>(std::move(options), std::move(*url), std::move(tls), registry);
}

WebhookSender::~WebhookSender() { stop(std::chrono::milliseconds(0)); }

void WebhookSender::emit(webhook::Event event) {
  if (!wants(event.kind)) return;
  Impl& m = *impl_;
  bool post = false;
  {
    std::lock_guard lock(m.mutex);
    if (m.closed) return;
    event.id = m.id_prefix + "-" + std::to_string(++m.next_id);
    event.queued_ms = steady_ms();
    if (const std::size_t dropped = m.queue.push(std::move(event)); dropped > 0) m.count_dropped(dropped);
    m.depth(m.queue.size());
    if (!m.wake_posted) {
      m.wake_posted = true;
      post = true;
    }
  }
  if (post) {
    asio::post(m.ioc, [&m] {
      {
        std::lock_guard lock(m.mutex);
        m.wake_posted = false;
      }
      m.kick();
    });
  }
}

void WebhookSender::start() {
  Impl& m = *impl_;
  m.thread = std::thread([&m] {
    logging::get("webhooks")->debug("webhook sender for {} started (events to {})", m.opt.who, m.opt.url);
    m.ioc.run();
  });
}

void WebhookSender::stop(std::chrono::milliseconds flush) {
  Impl& m = *impl_;
  if (!m.thread.joinable()) return;
  asio::post(m.ioc, [&m] {
    m.flushing = true;
    m.kick();
  });
  std::size_t left = 0;
  {
    std::unique_lock lock(m.mutex);
    m.idle_cv.wait_for(lock, flush, [&m] { return m.queue.empty() && !m.busy; });
    left = m.queue.size() + m.in_flight.load();
  }
  asio::post(m.ioc, [&m] {
    m.stopped = true;
    m.timer.cancel();
    if (m.request) m.request->cancel();
    m.work.reset();
    m.ioc.stop();
  });
  m.thread.join();
  {
    std::lock_guard lock(m.mutex);
    m.closed = true;
  }
  if (left > 0) m.log->warn("{} webhook events not sent at shutdown (webhooks.flush_timeout_ms)", left);
}

}  // namespace wsg
