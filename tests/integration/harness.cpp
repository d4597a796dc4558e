// Integration test harness (see harness.h). All Beast code of the suite lives in this file so the
// test files stay cheap to compile.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "harness.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef WSG_BINARY
#error "WSG_BINARY must be defined to the path of the wsg executable"
#endif

namespace wsg::it {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// ---------------------------------------------------------------------------------------------
// Per-test-case state: temp dir and log files, reported by a Catch2 listener.

namespace {

struct TestState {
  std::mutex m;
  std::string test_name = "no-test";
  fs::path dir;
  std::vector<fs::path> logs;

  void begin(const std::string& name) {
    std::lock_guard lk(m);
    test_name = name;
    dir.clear();
    logs.clear();
  }

  void end(bool failed) {
    std::lock_guard lk(m);
    if (failed) {
      std::cerr << "\n==== wsg integration: test case \"" << test_name << "\" failed";
      if (!dir.empty()) std::cerr << "; files kept in " << dir.string();
      std::cerr << " ====\n";
      for (const auto& log : logs) {
        std::cerr << "---- tail of " << log.filename().string() << " ----\n"
                  << tail_file(log, 60) << "---- end of " << log.filename().string() << " ----\n";
      }
    } else if (!dir.empty() && !std::getenv("WSG_IT_KEEP")) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
    dir.clear();
    logs.clear();
  }
};

TestState& state() {
  static TestState s;
  return s;
}

struct HarnessListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override { state().begin(info.name); }
  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    state().end(stats.totals.assertions.failed > 0 || stats.totals.testCases.failed > 0);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(HarnessListener)

std::string wsg_binary() {
  // scripts/test.sh runs this (Release) harness against the sanitizer builds' wsg.
  if (const char* path = std::getenv("WSG_IT_WSG"); path && *path) return path;
  return WSG_BINARY;
}

int64_t slowdown() {
  static const int64_t factor = [] {
    const char* v = std::getenv("WSG_IT_SLOWDOWN");
    if (!v || !*v) return int64_t{1};
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return (*end == '\0' && n >= 1 && n <= 20) ? int64_t{n} : int64_t{1};
  }();
  return factor;
}

fs::path repo_root() {
  // this file is <root>/tests/integration/harness.cpp
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

fs::path test_dir() {
  auto& s = state();
  std::lock_guard lk(s.m);
  if (s.dir.empty()) {
    std::string slug;
    for (char c : s.test_name) {
      if (slug.size() >= 40) break;
      slug += (std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
    }
    std::string tmpl = (fs::temp_directory_path() / ("wsg-it-" + slug + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    s.dir = buf.data();
  }
  return s.dir;
}

void register_log(const fs::path& path) {
  auto& s = state();
  std::lock_guard lk(s.m);
  s.logs.push_back(path);
}

std::string tail_file(const fs::path& path, std::size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = all.size();
  std::size_t count = 0;
  if (pos > 0 && all[pos - 1] == '\n') --pos;
  while (pos > 0) {
    --pos;
    if (all[pos] == '\n' && ++count == lines) {
      ++pos;
      break;
    }
  }
  std::string out = all.substr(pos);
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto backoff = 1ms;
  while (true) {
    if (pred()) return true;
    auto now = Clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        backoff, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + 1ms));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

uint16_t free_port() {
  static std::mutex m;
  static std::set<uint16_t> handed_out;
  std::lock_guard lk(m);
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      continue;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    uint16_t port = ntohs(addr.sin_port);
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("free_port: no free port found");
}

// ---------------------------------------------------------------------------------------------
// Process

Process::Process(std::string name, std::string binary, std::vector<std::string> args, fs::path log)
    : name_(std::move(name)), binary_(std::move(binary)), stdout_(log), stderr_(std::move(log)) {
  spawn(std::move(args));
}

Process::Process(std::string name, std::string binary, std::vector<std::string> args, fs::path stdout_file,
                 fs::path stderr_file)
    : name_(std::move(name)),
      binary_(std::move(binary)),
      stdout_(std::move(stdout_file)),
      stderr_(std::move(stderr_file)) {
  spawn(std::move(args));
}

void Process::spawn(std::vector<std::string> args) {
  args_ = std::move(args);
  // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
  std::vector<std::string> argv_store;
  argv_store.push_back(binary_);
  for (auto& a : args_) argv_store.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);

  {
    std::ofstream header(stderr_, std::ios::app);
    header << "# " << command_line() << "\n";
  }
  int out_fd = ::open(stdout_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = stdout_ == stderr_ ? out_fd : ::open(stderr_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) throw std::runtime_error("cannot open log files for " + name_);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    const char msg[] = "exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  pid_ = pid;
  ::close(null_fd);
  if (err_fd != out_fd) ::close(err_fd);
  ::close(out_fd);
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    kill();
    wait_exit(5000ms);
  }
}

std::string Process::command_line() const {
  std::string s = binary_;
  for (const auto& a : args_) s += " " + a;
  return s;
}

bool Process::running() {
  if (exit_code_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return r == 0;
}

void Process::terminate() {
  if (running()) ::kill(pid_, SIGTERM);
}

void Process::kill() {
  if (running()) ::kill(pid_, SIGKILL);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  poll_until([&] { return !running(); }, timeout);
  return exit_code_;
}

RunResult run_command(const std::string& binary, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  const int n = ++counter;
  const fs::path dir = test_dir();
  const fs::path out = dir / ("cmd-" + std::to_string(n) + ".out");
  const fs::path err = dir / ("cmd-" + std::to_string(n) + ".err");
  RunResult r;
  {
    Process p("cmd-" + std::to_string(n), binary, args, out, err);
    r.exit_code = p.wait_exit(timeout);
    if (!r.exit_code) {
      p.kill();
      p.wait_exit(2000ms);
    }
  }
  auto slurp = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// ---------------------------------------------------------------------------------------------
// HTTP

HttpResponse http_get(uint16_t port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  HttpResponse out;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "wsg-integration-tests");
  for (const auto& [k, v] : headers) req.set(k, v);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);

  stream.expires_after(timeout);
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      out.error = "connect: " + ec.message();
      return;
    }
    http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        out.error = "write: " + ec.message();
        return;
      }
      http::async_read(stream, buf, parser, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          out.error = "read: " + ec.message();
          return;
        }
        auto& res = parser.get();
        out.status = res.result_int();
        out.body = res.body();
        for (const auto& f : res) {
          std::string name(f.name_string());
          for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out.headers[name] = std::string(f.value());
        }
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

// ---------------------------------------------------------------------------------------------
// WsClient

struct WsClient::Impl {
  struct Frame {
    bool binary = false;
    std::string data;
    bool raw = false;  // data is a complete wire frame, written to the TCP stream directly
  };

  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  websocket::stream<beast::tcp_stream> ws{ioc};
  std::thread thread;

  // I/O thread only
  beast::flat_buffer rbuf;
  websocket::response_type handshake_res;
  std::deque<Frame> outq;
  bool writing = false;
  bool close_requested = false;
  std::shared_ptr<std::promise<void>> close_done;

  // shared, under m
  std::mutex m;
  std::condition_variable cv;
  std::deque<Frame> frames;
  bool connected = false;
  bool closed = false;
  CloseInfo close_info;
  std::string write_error;

  Impl() {
    thread = std::thread([this] { ioc.run(); });
  }

  void mark_closed(CloseInfo ci) {
    {
      std::lock_guard lk(m);
      if (!closed) {
        closed = true;
        close_info = std::move(ci);
      }
    }
    cv.notify_all();
    if (close_done) {
      close_done->set_value();
      close_done.reset();
    }
  }

  void do_read() {
    ws.async_read(rbuf, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        CloseInfo ci;
        if (ec == websocket::error::closed) {
          ci.code = ws.reason().code;
          ci.reason = std::string(ws.reason().reason.data(), ws.reason().reason.size());
        } else {
          // a close frame may have arrived before the TCP error
          if (ws.reason().code != websocket::close_code::none) {
            ci.code = ws.reason().code;
            ci.reason = std::string(ws.reason().reason.data(), ws.reason().reason.size());
          } else {
            ci.code = 1006;
            ci.reason = ec.message();
          }
        }
        mark_closed(std::move(ci));
        return;
      }
      Frame f{!ws.got_text(), beast::buffers_to_string(rbuf.data())};
      rbuf.consume(rbuf.size());
      {
        std::lock_guard lk(m);
        frames.push_back(std::move(f));
      }
      cv.notify_all();
      do_read();
    });
  }

  void do_write() {
    if (outq.empty()) {
      writing = false;
      if (close_requested) do_close();
      return;
    }
    writing = true;
    auto on_written = [this](beast::error_code ec, std::size_t) {
      if (ec) {
        {
          std::lock_guard lk(m);
          if (write_error.empty()) write_error = ec.message();
        }
        outq.clear();
        writing = false;
        if (close_requested) do_close();
        return;
      }
      outq.pop_front();
      do_write();
    };
    if (outq.front().raw) {
      net::async_write(ws.next_layer().socket(), net::buffer(outq.front().data), std::move(on_written));
    } else {
      ws.text(!outq.front().binary);
      ws.async_write(net::buffer(outq.front().data), std::move(on_written));
    }
  }

  void do_close() {
    close_requested = false;
    ws.async_close(websocket::close_code::normal, [this](beast::error_code) {
      // the pending read completes (closed / error) and marks the connection closed
    });
  }

  void enqueue(Frame f) {
    net::post(ioc, [this, f = std::move(f)]() mutable {
      outq.push_back(std::move(f));
      if (!writing) do_write();
    });
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}

WsClient::~WsClient() {
  bool polite = false;
  {
    std::lock_guard lk(impl_->m);
    polite = impl_->connected && !impl_->closed;
  }
  if (polite) close(500ms);
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(impl->ws).socket();
    if (sock.is_open()) {
      sock.shutdown(tcp::socket::shutdown_both, ec);
      sock.close(ec);
    }
  });
  impl_->work.reset();
  {
    // give the aborted read a moment to complete, then stop regardless
    std::unique_lock lk(impl_->m);
    impl_->cv.wait_for(lk, 1000ms, [&] { return impl_->closed || !impl_->connected; });
  }
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

ConnectResult WsClient::connect(uint16_t port, const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<ConnectResult>>();
  auto future = promise->get_future();
  Impl* impl = impl_.get();
  net::post(impl->ioc, [impl, promise, port, target, headers, timeout] {
    impl->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      req.set(http::field::user_agent, "wsg-integration-tests");
      for (const auto& [k, v] : headers) req.set(k, v);
    }));
    impl->ws.read_message_max(64 * 1024 * 1024);
    auto& lowest = beast::get_lowest_layer(impl->ws);
    lowest.expires_after(timeout);
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    lowest.async_connect(ep, [impl, promise, port, target](beast::error_code ec) {
      if (ec) {
        ConnectResult r;
        r.error = "connect: " + ec.message();
        promise->set_value(r);
        return;
      }
      impl->ws.async_handshake(impl->handshake_res, "127.0.0.1:" + std::to_string(port), target,
                               [impl, promise](beast::error_code ec) {
                                 ConnectResult r;
                                 r.http_status = impl->handshake_res.result_int();
                                 r.body = impl->handshake_res.body();
                                 if (ec) {
                                   r.error = "handshake: " + ec.message();
                                   beast::error_code ignored;
                                   beast::get_lowest_layer(impl->ws).socket().close(ignored);
                                   promise->set_value(r);
                                   return;
                                 }
                                 beast::get_lowest_layer(impl->ws).expires_never();
                                 websocket::stream_base::timeout opt{};
                                 opt.handshake_timeout = std::chrono::seconds(3);  // bounds the closing handshake
                                 opt.idle_timeout = websocket::stream_base::none();
                                 opt.keep_alive_pings = false;
                                 impl->ws.set_option(opt);
                                 r.connected = true;
                                 {
                                   std::lock_guard lk(impl->m);
                                   impl->connected = true;
                                 }
                                 impl->do_read();
                                 promise->set_value(r);
                               });
    });
  });
  if (future.wait_for(timeout + 1000ms) != std::future_status::ready) {
    ConnectResult r;
    r.error = "connect: no result within the deadline";
    return r;
  }
  return future.get();
}

void WsClient::send_text(std::string text) { impl_->enqueue({false, std::move(text)}); }

void WsClient::send_json(const boost::json::object& frame) { send_text(boost::json::serialize(frame)); }

void WsClient::send_binary(std::string data) { impl_->enqueue({true, std::move(data)}); }

std::string masked_frame(unsigned char first_byte, std::string_view payload) {
  // RFC 6455 §5.2: FIN/opcode byte, MASK bit + payload length, masking key, masked payload.
  std::string frame;
  frame.reserve(payload.size() + 14);
  frame.push_back(static_cast<char>(first_byte));
  const uint64_t len = payload.size();
  if (len < 126) {
    frame.push_back(static_cast<char>(0x80 | len));
  } else if (len < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>((len >> 8) & 0xff));
    frame.push_back(static_cast<char>(len & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((len >> shift) & 0xff));
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  for (unsigned char k : key) frame.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i % 4]));
  return frame;
}

void WsClient::send_text_raw(std::string text) { send_raw(masked_frame(0x81, text)); }

void WsClient::send_raw(std::string wire_bytes) {
  Impl::Frame f;
  f.data = std::move(wire_bytes);
  f.raw = true;
  impl_->enqueue(std::move(f));
}

std::optional<std::string> WsClient::next_raw(std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->m);
  impl_->cv.wait_for(lk, timeout, [&] { return !impl_->frames.empty() || impl_->closed; });
  if (impl_->frames.empty()) return std::nullopt;
  auto f = std::move(impl_->frames.front());
  impl_->frames.pop_front();
  if (f.binary) throw std::runtime_error("server sent a binary frame (" + std::to_string(f.data.size()) + " bytes)");
  return std::move(f.data);
}

std::optional<boost::json::object> WsClient::next(std::chrono::milliseconds timeout) {
  auto raw = next_raw(timeout);
  if (!raw) return std::nullopt;
  return parse_object(*raw);
}

std::size_t WsClient::pending() {
  std::lock_guard lk(impl_->m);
  return impl_->frames.size();
}

std::optional<CloseInfo> WsClient::expect_close(std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->m);
  if (!impl_->cv.wait_for(lk, timeout, [&] { return impl_->closed; })) return std::nullopt;
  return impl_->close_info;
}

bool WsClient::closed() {
  std::lock_guard lk(impl_->m);
  return impl_->closed;
}

void WsClient::close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(impl_->m);
    if (!impl_->connected || impl_->closed) return;
  }
  Impl* impl = impl_.get();
  net::post(impl->ioc, [impl] {
    if (impl->writing) impl->close_requested = true;
    else impl->do_close();
  });
  if (!expect_close(timeout)) drop();
}

void WsClient::drop() {
  Impl* impl = impl_.get();
  net::post(impl->ioc, [impl] {
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(impl->ws).socket();
    if (sock.is_open()) {
      sock.shutdown(tcp::socket::shutdown_both, ec);
      sock.close(ec);
    }
  });
  expect_close(1000ms);
}

std::string WsClient::write_error() {
  std::lock_guard lk(impl_->m);
  return impl_->write_error;
}

// ---------------------------------------------------------------------------------------------
// Cluster

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  if (const char* lvl = std::getenv("WSG_IT_LOG_LEVEL")) options_.log_level = lvl;
  // A port handed out by free_port() can, rarely, be taken by someone else before the child
  // binds it: when a process dies during start-up, start over once on fresh ports.
  for (int attempt = 1;; ++attempt) {
    try {
      start(attempt);
      return;
    } catch (const std::exception& e) {
      bool someone_exited = master_ && !master_->running();
      for (auto& m : extra_masters_) someone_exited = someone_exited || (m.second && !m.second->running());
      for (auto& n : nodes_) someone_exited = someone_exited || !n.process->running();
      stop(false);
      if (attempt >= 2 || !someone_exited) throw;
      std::cerr << "wsg integration: cluster start-up failed (" << e.what() << "), retrying on fresh ports\n";
      master_.reset();
      extra_masters_.clear();
      nodes_.clear();
    }
  }
}

Cluster::~Cluster() { stop(true); }

std::string Cluster::master_addr() const { return "tcp://127.0.0.1:" + std::to_string(master_port_); }

std::string Cluster::master_addr(std::size_t i) const {
  return i == 0 ? master_addr() : "tcp://127.0.0.1:" + std::to_string(extra_masters_.at(i - 1).first);
}

std::string Cluster::masters_addr() const {
  std::string out = master_addr();
  for (std::size_t i = 1; i < master_count(); ++i) out += "," + master_addr(i);
  return out;
}

void Cluster::start(int attempt) {
  const fs::path dir = test_dir();
  const std::string suffix = attempt > 1 ? "-retry" + std::to_string(attempt) : "";

  master_port_ = free_port();
  std::vector<std::string> margs{"master", "--bind", master_addr(), "--log-level", options_.log_level};
  for (const auto& a : options_.master_args) margs.push_back(a);
  const fs::path mlog = dir / ("master" + suffix + ".log");
  register_log(mlog);
  master_ = std::make_unique<Process>("master", wsg_binary(), margs, mlog);
  for (int k = 1; k < options_.masters; ++k) {
    const uint16_t port = free_port();
    const std::string addr = "tcp://127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args{"master", "--bind", addr, "--log-level", options_.log_level};
    for (const auto& a : options_.master_args) args.push_back(a);
    if (k >= options_.masters - options_.masters_idle) {
      extra_masters_.emplace_back(port, nullptr);  // listed, not started
      continue;
    }
    const std::string name = "master" + std::to_string(k + 1);
    const fs::path log = dir / (name + suffix + ".log");
    register_log(log);
    extra_masters_.emplace_back(port, std::make_unique<Process>(name, wsg_binary(), args, log));
  }

  for (int i = 0; i < options_.nodes; ++i) {
    NodeHandle h;
    const NodeSpec* spec = i < static_cast<int>(options_.node_specs.size()) ? &options_.node_specs[i] : nullptr;
    h.id = spec && !spec->id.empty() ? spec->id : "node-" + std::to_string(i + 1);
    h.ws_port = free_port();
    h.events_port = free_port();
    std::vector<std::string> args{"node",
                                  "--id",
                                  h.id,
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(h.ws_port),
                                  "--master",
                                  masters_addr(),
                                  "--events-bind",
                                  "tcp://127.0.0.1:" + std::to_string(h.events_port),
                                  "--log-level",
                                  options_.log_level};
    if (spec)
      for (const auto& a : spec->extra_args) args.push_back(a);
    const fs::path nlog = dir / (h.id + suffix + ".log");
    register_log(nlog);
    h.process = std::make_unique<Process>(h.id, wsg_binary(), args, nlog);
    nodes_.push_back(std::move(h));
  }

  // master ready: `wsg status --json` exits 0
  const auto deadline = Clock::now() + kStartTimeout;
  std::string last;
  bool ready = poll_until(
      [&] {
        if (!master_->running())
          throw std::runtime_error("master exited during start-up with code " +
                                   std::to_string(master_->exit_code().value_or(-1)));
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) return false;
        for (std::size_t k = 0; k < master_count(); ++k) {
          if (!master_started(k)) continue;
          if (!master(k).running())
            throw std::runtime_error("master " + std::to_string(k + 1) + " exited during start-up with code " +
                                     std::to_string(master(k).exit_code().value_or(-1)));
          auto r = run_status_at(k, {"--json"}, left);
          last = r.err;
          if (!r.exit_code || *r.exit_code != 0) return false;
        }
        return true;
      },
      kStartTimeout);
  if (!ready) throw std::runtime_error("masters not ready within the deadline; last status stderr: " + last);

  for (std::size_t i = 0; i < nodes_.size(); ++i)
    wait_node_ready(i, std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::max(deadline - Clock::now(), Clock::duration(2s))));
}

void Cluster::wait_node_ready(std::size_t i, std::chrono::milliseconds timeout) {
  auto& n = nodes_.at(i);
  std::string last;
  bool ok = poll_until(
      [&] {
        if (!n.process->running())
          throw std::runtime_error(n.id + " exited during start-up with code " +
                                   std::to_string(n.process->exit_code().value_or(-1)));
        auto r = http_get(n.ws_port, "/healthz", {}, 1000ms);
        last = r.status ? std::to_string(r.status) + " " + r.body : r.error;
        return r.status == 200;
      },
      timeout);
  if (!ok) throw std::runtime_error(n.id + " not ready (GET /healthz != 200) within the deadline; last: " + last);
}

namespace {

// Sanitizer reports in a log file (the first line of each), for builds with WSG_SANITIZE.
std::vector<std::string> sanitizer_reports(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("ERROR: AddressSanitizer") != std::string::npos ||
        line.find("ERROR: LeakSanitizer") != std::string::npos ||
        line.find("WARNING: ThreadSanitizer") != std::string::npos ||
        line.find(": runtime error: ") != std::string::npos)
      out.push_back(line);
  }
  return out;
}

}  // namespace

void Cluster::stop(bool check) {
  // Every process that is still running gets SIGTERM and must exit 0 (nodes within
  // node.shutdown_timeout_ms, 5 s by default, plus a margin; the master within 3 s). Processes a
  // test already stopped or killed are not judged here.
  std::vector<std::string> problems;
  // (one SIGTERM per process: a second one may find the default action restored and count as a
  // death by signal)
  auto wait_one = [&](Process& p, const std::string& name, std::chrono::milliseconds bound) {
    if (!p.wait_exit(bound)) {
      problems.push_back(name + " did not exit within " + std::to_string(bound.count()) + " ms of SIGTERM (killed)");
      p.kill();
      p.wait_exit(2000ms);
    } else if (*p.exit_code() != 0) {
      problems.push_back(name + " exited with code " + std::to_string(*p.exit_code()) + " after SIGTERM");
    }
  };
  std::vector<std::pair<Process*, std::string>> running_nodes;
  for (auto& n : nodes_)
    if (n.process && n.process->running()) {
      n.process->terminate();  // all nodes drain in parallel
      running_nodes.emplace_back(n.process.get(), n.id);
    }
  for (auto& [p, id] : running_nodes) wait_one(*p, id, 6000ms);
  if (master_ && master_->running()) {
    master_->terminate();
    wait_one(*master_, "master", 3000ms);
  }
  for (std::size_t k = 0; k < extra_masters_.size(); ++k) {
    if (!extra_masters_[k].second) continue;
    auto& p = *extra_masters_[k].second;
    if (!p.running()) continue;
    p.terminate();
    wait_one(p, "master" + std::to_string(k + 2), 3000ms);
  }

  if (!check) return;
  std::vector<fs::path> logs;
  if (master_) logs.push_back(master_->log());
  for (auto& m : extra_masters_)
    if (m.second) logs.push_back(m.second->log());
  for (auto& n : nodes_)
    if (n.process) logs.push_back(n.process->log());
  for (const auto& log : logs)
    for (const auto& r : sanitizer_reports(log)) problems.push_back(log.filename().string() + ": " + r);
  for (const auto& p : problems) {
    std::cerr << "wsg integration: " << p << "\n";
    FAIL_CHECK("cluster shutdown: " << p);
  }
}

RunResult Cluster::run_status(const std::vector<std::string>& extra, std::chrono::milliseconds timeout) {
  return run_status_at(0, extra, timeout);
}

RunResult Cluster::run_status_at(std::size_t i, const std::vector<std::string>& extra,
                                 std::chrono::milliseconds timeout) {
  std::vector<std::string> args{"status", "--master", master_addr(i)};
  for (const auto& a : options_.status_args) args.push_back(a);
  for (const auto& a : extra) args.push_back(a);
  ++status_runs_;
  return run_command(wsg_binary(), args, timeout);
}

namespace {
boost::json::object status_object(const RunResult& r, const std::string& what) {
  if (!r.exit_code || *r.exit_code != 0)
    throw std::runtime_error(what + " failed (exit " +
                             (r.exit_code ? std::to_string(*r.exit_code) : std::string("timeout")) +
                             "); stdout: " + r.out + " stderr: " + r.err);
  try {
    return parse_object(r.out);
  } catch (const std::exception& e) {
    throw std::runtime_error(what + " printed no JSON object (" + e.what() + "); stdout: " + r.out);
  }
}
}  // namespace

boost::json::object Cluster::status_json(std::chrono::milliseconds timeout) {
  return status_object(run_status({"--json"}, timeout), "wsg status --json");
}

boost::json::object Cluster::status_user(const std::string& user, std::chrono::milliseconds timeout) {
  return status_object(run_status({"--json", "--user", user}, timeout), "wsg status --json --user " + user);
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

boost::json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) throw std::runtime_error("not JSON (" + ec.message() + "): " + text.substr(0, 300));
  if (!v.is_object()) throw std::runtime_error("JSON but not an object: " + text.substr(0, 300));
  return std::move(v.as_object());
}

std::string str(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return "";
  return std::string(v->as_string());
}

bool has(const boost::json::object& o, const char* key) { return o.contains(key); }

int64_t num(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v) throw std::runtime_error(std::string("missing key ") + key + " in " + dump(o));
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double() && v->as_double() == static_cast<double>(static_cast<int64_t>(v->as_double())))
    return static_cast<int64_t>(v->as_double());
  throw std::runtime_error(std::string("key ") + key + " is not an integer in " + dump(o));
}

std::string dump(const boost::json::value& v) { return boost::json::serialize(v); }

}  // namespace wsg::it
