// wsg-floor: the physical reference for the benchmarks (docs/benchmarks.md). A bare Boost.Beast
// WebSocket relay that does the least a user-to-user relay can do on one machine: no master, no
// cluster, no JSON parser, no route cache, no acks, no message ids.
//
//   wsg-floor --listen 127.0.0.1:PORT [--threads N]
//
// Port 0 binds a free port; the bound address is printed on stdout as `listening HOST:PORT`.
// A client upgrades on `GET /ws?user=ID` and gets `{"type":"welcome","user":"ID"}`. Each text
// frame it sends is scanned for `"to":"RECIPIENT"` (a plain byte scan, the first occurrence) and
// relayed verbatim to every session of RECIPIENT (the sender's own session included when it is
// the recipient). Frames without a recipient, or for a user with no session, are dropped.
//
// The structure is that of Beast's chat-multi example: one process-wide user -> sessions map
// under a mutex; one immutable shared buffer per message, handed to each recipient session's
// strand; per session a send queue whose front is the single write in flight. The queue is
// bounded (1 MiB, as wsg's default limits.send_queue_bytes): past it the session is closed 1008
// "slow", as wsg does. SIGINT/SIGTERM stop the server (exit 0).
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr std::size_t kMaxMessageBytes = 64 * 1024;   // wsg's limits.max_message_bytes default
constexpr std::size_t kSendQueueBytes = 1024 * 1024;  // wsg's limits.send_queue_bytes default
constexpr auto kHandshakeTimeout = std::chrono::seconds(30);

using Frame = std::shared_ptr<const std::string>;

class Session;

// user -> its sessions. Raw pointers, as in chat-multi: a session adds itself once its upgrade is
// done and removes itself in its destructor; senders copy weak pointers under the lock.
class Registry {
 public:
  void join(const std::string& user, Session* s) {
    std::lock_guard lk(m_);
    users_[user].push_back(s);
  }
  void leave(const std::string& user, Session* s) {
    std::lock_guard lk(m_);
    auto it = users_.find(user);
    if (it == users_.end()) return;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), s), v.end());
    if (v.empty()) users_.erase(it);
  }
  void relay(std::string_view to, const Frame& frame);

 private:
  // Transparent hash: find() by string_view, with no key copy.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::mutex m_;
  std::unordered_map<std::string, boost::container::small_vector<Session*, 2>, Hash, std::equal_to<>> users_;
};

bool valid_user(std::string_view u) {
  if (u.empty() || u.size() > 128) return false;
  for (char c : u) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '@' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The recipient of a client `send` frame: the string after the first `"to"` key (whitespace
// around the colon allowed). Empty when there is none. User ids hold no quote nor backslash, so
// the value ends at the next quote.
std::string_view find_recipient(std::string_view f) {
  constexpr std::string_view key = "\"to\"";
  const auto k = f.find(key);
  if (k == std::string_view::npos) return {};
  std::size_t i = k + key.size();
  auto skip_ws = [&] {
    while (i < f.size() && (f[i] == ' ' || f[i] == '\t' || f[i] == '\n' || f[i] == '\r')) ++i;
  };
  skip_ws();
  if (i >= f.size() || f[i] != ':') return {};
  ++i;
  skip_ws();
  if (i >= f.size() || f[i] != '"') return {};
  ++i;
  const auto end = f.find('"', i);
  if (end == std::string_view::npos) return {};
  return f.substr(i, end - i);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Registry& registry, std::string user)
      : ws_(std::move(socket)), registry_(registry), user_(std::move(user)) {}

  ~Session() {
    if (joined_) registry_.leave(user_, this);
  }

  void start(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "wsg-floor"); }));
    ws_.read_message_max(kMaxMessageBytes);
    ws_.text(true);
    ws_.async_accept(req, beast::bind_front_handler(&Session::on_accept, shared_from_this()));
  }

  // From any thread: queue `frame` for this session, on its strand.
  void send(Frame frame) {
    net::post(ws_.get_executor(), beast::bind_front_handler(&Session::on_send, shared_from_this(), std::move(frame)));
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    // The welcome is queued before the session is visible to senders: it is the first frame.
    on_send(std::make_shared<const std::string>(R"({"type":"welcome","user":")" + user_ + R"("})"));
    registry_.join(user_, this);
    joined_ = true;
    do_read();
  }

  void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&Session::on_read, shared_from_this())); }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return;  // closed, timed out or failed: the destructor leaves the registry
    if (ws_.got_text()) {
      auto frame = std::make_shared<const std::string>(beast::buffers_to_string(buffer_.data()));
      const auto to = find_recipient(*frame);
      if (!to.empty()) registry_.relay(to, frame);
    }
    buffer_.consume(buffer_.size());
    do_read();
  }

  void on_send(Frame frame) {
    if (closing_) return;
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (queued_bytes_ > kSendQueueBytes) {
      // Too slow a reader: close 1008 "slow" once the write in flight (if any) is done.
      closing_ = true;
      if (!writing_) close_slow();
      return;
    }
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(net::buffer(*queue_.front()), beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      closing_ = true;
      queue_.clear();
      return;
    }
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    if (closing_) {
      close_slow();
      return;
    }
    if (!queue_.empty()) do_write();
  }

  void close_slow() {
    queue_.clear();
    queued_bytes_ = 0;
    ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, "slow"),
                    [self = shared_from_this()](beast::error_code) {});
  }

  websocket::stream<beast::tcp_stream> ws_;
  Registry& registry_;
  std::string user_;
  beast::flat_buffer buffer_;
  std::deque<Frame> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool joined_ = false;
};

void Registry::relay(std::string_view to, const Frame& frame) {
  boost::container::small_vector<std::weak_ptr<Session>, 4> targets;
  {
    std::lock_guard lk(m_);
    auto it = users_.find(to);
    if (it == users_.end()) return;
    for (Session* s : it->second) targets.push_back(s->weak_from_this());
  }
  for (auto& w : targets)
    if (auto s = w.lock()) s->send(frame);
}

// Reads the HTTP upgrade request; answers anything else with a plain status.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, Registry& registry) : stream_(std::move(socket)), registry_(registry) {}

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);
    stream_.expires_after(kHandshakeTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return;
    auto req = parser_->release();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path != "/ws" || !websocket::is_upgrade(req)) return reply(req, http::status::not_found);
    std::string user;
    if (auto q = target.find('?'); q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const auto param = query.substr(0, amp);
        if (param.starts_with("user=")) user = std::string(param.substr(5));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    if (!valid_user(user)) return reply(req, http::status::bad_request);
    std::make_shared<Session>(stream_.release_socket(), registry_, std::move(user))->start(std::move(req));
  }

  void reply(const http::request<http::string_body>& req, http::status status) {
    auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
    res->set(http::field::server, "wsg-floor");
    res->set(http::field::content_type, "text/plain");
    res->keep_alive(false);
    res->body() = std::string(http::obsolete_reason(status)) + "\n";
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  Registry& registry_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::endpoint ep, Registry& registry)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), registry_(registry) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void run() { do_accept(); }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpSession>(std::move(socket), registry_)->run();
    } else if (ec == net::error::no_descriptors) {
      // Out of file descriptors: wait a little rather than spin.
      auto t = std::make_shared<net::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(50));
      t->async_wait([self = shared_from_this(), t](beast::error_code) { self->do_accept(); });
      return;
    }
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  Registry& registry_;
};

int usage(const char* why) {
  std::cerr << "wsg-floor: " << why << "\n"
            << "usage: wsg-floor --listen HOST:PORT [--threads N]   (port 0: any free port)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--listen") {
      const char* v = value();
      if (!v) return usage("--listen needs HOST:PORT");
      listen = v;
    } else if (a == "--threads") {
      const char* v = value();
      if (!v) return usage("--threads needs a number");
      const std::string_view s = v;
      auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), threads);
      if (err != std::errc() || p != s.data() + s.size() || threads < 1 || threads > 256)
        return usage("--threads must be 1..256");
    } else if (a == "-h" || a == "--help") {
      usage("a bare Beast WebSocket relay, the benchmarks' reference");
      return 0;
    } else {
      return usage(("unknown argument " + std::string(a)).c_str());
    }
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return usage("--listen must be HOST:PORT");
  unsigned port = 0;
  {
    const std::string_view s = std::string_view(listen).substr(colon + 1);
    auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), port);
    if (err != std::errc() || p != s.data() + s.size() || port > 65535) return usage("bad port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);

  try {
    Registry registry;  // before the io_context: handlers it destroys end sessions, which leave it
    net::io_context ioc(threads);
    const tcp::endpoint ep(net::ip::make_address(host), static_cast<unsigned short>(port));
    auto listener = std::make_shared<Listener>(ioc, ep, registry);
    const auto bound = listener->local_endpoint();
    std::cout << "listening " << bound.address().to_string() << ":" << bound.port() << std::endl;
    listener->run();

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      listener->stop();
      ioc.stop();
    });

    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "wsg-floor: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
