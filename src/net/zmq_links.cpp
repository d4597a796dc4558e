#include "net/zmq_links.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "config/config.h"
#include "net/curve_zmq.h"
#include "net/zmq_socket.h"
#include "telemetry/logging.h"
#include "text/host_port.h"

namespace wsg {

namespace asio = boost::asio;

namespace {

void set_common_options(zmq::socket_t& s, int send_hwm, int recv_hwm) {
  s.set(zmq::sockopt::sndhwm, send_hwm);
  s.set(zmq::sockopt::rcvhwm, recv_hwm);
  s.set(zmq::sockopt::linger, 0);
}

// encode() refuses what no receiver would accept; here that becomes a counted drop.
std::optional<std::string> encode_bounded(const cluster::Message& message) {
  std::string why;
  auto bytes = cluster::encode(message, &why);
  if (!bytes) logging::get("zmq")->warn("not sent: {}", why);
  return bytes;
}

// A peer's events address as wsg advertises it: tcp://HOST:PORT (a name, an IPv4 address or a
// bracketed IPv6 address, port 1-65535), ipc://PATH or inproc://NAME (tests). Anything else is
// refused before a socket is opened for it.
bool valid_peer_endpoint(std::string_view a) {
  if (!cluster::valid_address(a)) return false;
  if (a.starts_with("ipc://")) return a.size() > 6;
  if (a.starts_with("inproc://")) return a.size() > 9;
  if (!a.starts_with("tcp://")) return false;
  // The same HOST:PORT rule as every configured address (host_port.h).
  std::string why;
  return parse_host_port(a.substr(6), why).has_value();
}

}  // namespace

struct ZmqLinks::Impl {
  // One socket whose input we wait for: its ZMQ_FD (a duplicate, owned by the descriptor) in the
  // io_context. `read` consumes at most one bounded batch.
  struct Watch {
    Watch(asio::io_context& ioc, zmq::socket_t& s, std::function<void()> r) : socket(&s), fd(ioc), read(std::move(r)) {}
    zmq::socket_t* socket;
    asio::posix::stream_descriptor fd;
    std::function<void()> read;
    bool armed = false;   // an async_wait is outstanding
    bool posted = false;  // a drain is posted
  };
  // One master: its DEALER, the monitor of its handshakes and whether it refuses us.
  struct Master {
    Master(zmq::context_t& ctx, std::string a, bool curve)
        : address(std::move(a)), socket(ctx, zmq::socket_type::dealer), refusal("the master", curve) {}
    std::string address;
    zmq::socket_t socket;
    std::unique_ptr<curve::HandshakeMonitor> monitor;
    curve::RefusalDetector refusal;
    bool refused = false;
    Watch* watch = nullptr;
  };
  struct Peer {
    std::string events;
    std::unique_ptr<zmq::socket_t> socket;
    std::list<std::string>::iterator lru;  // its place in `lru`
  };

  Impl(asio::io_context& io, Options o, Handler h, Stats& s)
      : ioc(io),
        options(std::move(o)),
        on_message(std::move(h)),
        stats(s),
        log(logging::get("zmq")),
        pull(ctx, zmq::socket_type::pull),
        sweep(io) {
    for (auto& a : master_list(options.master))
      masters.push_back(std::make_unique<Master>(ctx, a, options.curve.has_value()));
  }

  ~Impl() { close(); }

  std::string start();
  void close();

  void watch(zmq::socket_t& s, std::function<void()> read, Watch** out = nullptr);
  void drain(Watch& w);
  void arm(Watch& w);
  void kick(Watch& w);
  void schedule_sweep();

  bool send_bytes(zmq::socket_t& s, const std::string& bytes);
  void warn_io(const char* what, int error);
  bool to_master(std::size_t index, const std::string& bytes);
  bool to_peer(const std::string& id, const std::string& events, const std::string& bytes);
  zmq::socket_t* peer_socket(const std::string& id, const std::string& events);
  void erase_peer(const std::string& id, int linger_ms);
  void evict_one();
  void receive(zmq::socket_t& s, Source source, std::size_t master);
  void watch_handshakes(Master& m);
  void answer_zap();

  asio::io_context& ioc;
  Options options;
  Handler on_message;
  Stats& stats;
  std::shared_ptr<spdlog::logger> log;
  zmq::context_t ctx{1};
  std::vector<std::unique_ptr<Master>> masters;  // cluster.master's order; stable addresses
  zmq::socket_t pull;
  std::unordered_map<std::string, Peer> peers;
  std::list<std::string> lru;  // peer ids, most recently used first (bounded by options.max_peers)
  std::deque<std::chrono::steady_clock::time_point> lingering;  // recent evictions given a linger
  logging::Throttle eviction_warning{std::chrono::seconds(10)};
  logging::Throttle address_warning{std::chrono::seconds(10)};
  // CURVE: the ZAP handler must be bound before the PULL accepts a connection. Each master's
  // monitor tells whether it refuses our handshakes (wrong or missing key) rather than retrying forever.
  std::unique_ptr<curve::ZapHandler> zap;
  std::size_t refused_masters = 0;
  std::chrono::steady_clock::time_point next_zap_warning{};
  logging::Throttle malformed_warning{std::chrono::seconds(10)};
  logging::Throttle io_warning{std::chrono::seconds(10)};
  std::vector<std::unique_ptr<Watch>> watches;  // stable addresses: handlers hold Watch&
  asio::steady_timer sweep;
  bool started = false;
  bool closed = false;
};

std::string ZmqLinks::Impl::start() {
  std::string bound;
  try {
    if (options.curve) {
      zap = std::make_unique<curve::ZapHandler>(ctx, *options.curve);
      curve::make_server(pull, *options.curve);
      for (auto& m : masters) curve::make_client(m->socket, *options.curve);
    }
    set_common_options(pull, options.send_hwm, options.recv_hwm);
    // Bounded before the bind: no connection, with or without the key, makes libzmq buffer more
    // than one legitimate message per frame, nor keeps a handshake pending for long.
    pull.set(zmq::sockopt::maxmsgsize, options.max_peer_message_bytes);
    pull.set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
    pull.bind(options.events_bind);
    bound = pull.get(zmq::sockopt::last_endpoint);
    for (std::size_t i = 0; i < masters.size(); ++i) {
      Master& m = *masters[i];
      zmq::socket_t& dealer = m.socket;
      set_common_options(dealer, options.send_hwm, options.recv_hwm);
      dealer.set(zmq::sockopt::routing_id, options.routing_id);
      dealer.set(zmq::sockopt::maxmsgsize, options.max_master_message_bytes);
      dealer.set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
      // One socket to one address: retrying every 100 ms, backing off to 500 ms, costs nothing and
      // bounds how long a restarted master waits for this node (a 1 s cap added up to a second to
      // every re-registration after an outage of a few seconds).
      dealer.set(zmq::sockopt::reconnect_ivl, 100);
      dealer.set(zmq::sockopt::reconnect_ivl_max, 500);
      m.monitor = std::make_unique<curve::HandshakeMonitor>(ctx, dealer, "master" + std::to_string(i));
      dealer.connect(m.address);
      watch(
          dealer, [this, &m, i] { receive(m.socket, Source::master, i); }, &m.watch);
      watch(m.monitor->socket(), [this, &m] { watch_handshakes(m); });
    }
    watch(pull, [this] { receive(pull, Source::peer, 0); });
    if (zap) watch(zap->socket(), [this] { answer_zap(); });
  } catch (const std::exception& e) {  // zmq::error_t, or a system_error from the descriptors
    close();
    throw std::runtime_error("cannot set up cluster sockets (events bind '" + options.events_bind + "', master '" +
                             options.master + "'): " + e.what());
  }
  started = true;
  for (auto& w : watches) kick(*w);  // input may be there before the first edge
  schedule_sweep();
  return bound;
}

void ZmqLinks::Impl::watch(zmq::socket_t& s, std::function<void()> read, Watch** out) {
  auto w = std::make_unique<Watch>(ioc, s, std::move(read));
  const int fd = ::dup(s.get(zmq::sockopt::fd));
  if (fd < 0) throw std::runtime_error("dup of a ZeroMQ socket's file descriptor failed");
  w->fd.assign(fd);  // owns the duplicate from here on
  if (out) *out = w.get();
  watches.push_back(std::move(w));
}

// ZMQ_FD is edge-triggered and only says "look at ZMQ_EVENTS": read it, take one batch if there is
// input, and either come back in a later turn (more input: other handlers run in between) or wait
// for the next edge (ZMQ_EVENTS showed no input, which also re-enables the edge).
void ZmqLinks::Impl::drain(Watch& w) {
  w.posted = false;
  if (closed) return;
  for (int round = 0;; ++round) {
    int error = 0;
    const auto events = zsock::events(*w.socket, &error);
    if (!events) {
      // Only a socket being closed refuses ZMQ_EVENTS: stop watching it (the sweep looks again).
      warn_io("ZMQ_EVENTS failed", error);
      return;
    }
    if (!(*events & ZMQ_POLLIN)) break;
    if (round == 1) return kick(w);
    w.read();
    if (closed) return;
  }
  arm(w);
}

void ZmqLinks::Impl::arm(Watch& w) {
  if (w.armed || closed) return;
  w.armed = true;
  w.fd.async_wait(asio::posix::stream_descriptor::wait_read, [this, &w](const boost::system::error_code& ec) {
    w.armed = false;
    if (ec) return;  // operation_aborted: close()
    drain(w);
  });
}

void ZmqLinks::Impl::kick(Watch& w) {
  if (w.posted || closed) return;
  w.posted = true;
  asio::post(ioc, [this, &w] { drain(w); });
}

void ZmqLinks::Impl::schedule_sweep() {
  if (options.sweep_ms <= 0) return;
  sweep.expires_after(std::chrono::milliseconds(options.sweep_ms));
  sweep.async_wait([this](const boost::system::error_code& ec) {
    if (ec || closed) return;
    for (auto& w : watches) kick(*w);
    schedule_sweep();
  });
}

// A refused send is a dropped message: counted by kind (a full high-water mark is the expected
// one; anything else means the socket is broken, e.g. its context is closing) and reported to the
// caller, whose delivery then ends `failed`.
bool ZmqLinks::Impl::send_bytes(zmq::socket_t& s, const std::string& bytes) {
  const auto st = zsock::send(s, bytes);
  if (st.sent()) return true;
  if (st.result == zsock::SendResult::would_block) {
    stats.hwm_drops.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats.send_failures.fetch_add(1, std::memory_order_relaxed);
    warn_io("send failed", st.error);
  }
  return false;
}

// Socket errors past start-up are rare and repeat at the rate of the traffic: one warning per 10 s.
void ZmqLinks::Impl::warn_io(const char* what, int error) {
  if (uint64_t held = 0; io_warning.allow(held)) {
    log->warn("{}: {} ({} more socket errors since the last warning)", what, zmq_strerror(error), held);
  }
}

bool ZmqLinks::Impl::to_master(std::size_t index, const std::string& bytes) {
  if (closed || index >= masters.size()) {
    stats.queue_drops.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Master& m = *masters[index];
  const bool sent = send_bytes(m.socket, bytes);
  // A send processes the socket's pending commands, which can consume the edge that announced
  // input: look at ZMQ_EVENTS again in a later turn.
  if (m.watch) kick(*m.watch);
  return sent;
}

// Closes the PUSH to `id`; what it still holds gets `linger_ms` to leave (in libzmq's reaper,
// without blocking this thread).
void ZmqLinks::Impl::erase_peer(const std::string& id, int linger_ms) {
  auto it = peers.find(id);
  if (it == peers.end()) return;
  // A socket that refuses the linger is closed with the one it has (0, set_common_options).
  if (it->second.socket) zsock::set_linger(*it->second.socket, linger_ms);
  lru.erase(it->second.lru);
  peers.erase(it);
}

// The bound on peer sockets: the least recently used one goes.
// A closed socket that lingers still holds its slot in the context (and its descriptors) until
// libzmq's reaper lets it go, so lingering sockets are bounded too: at most max_peers of them per
// evict_linger_ms; beyond that (a burst of made-up origins) an evicted socket is closed at once.
void ZmqLinks::Impl::evict_one() {
  if (lru.empty()) return;
  const std::string victim = lru.back();
  const auto now = std::chrono::steady_clock::now();
  while (!lingering.empty() && now - lingering.front() > std::chrono::milliseconds(options.evict_linger_ms))
    lingering.pop_front();
  int linger = 0;
  if (lingering.size() < options.max_peers) {
    linger = options.evict_linger_ms;
    lingering.push_back(now);
  }
  erase_peer(victim, linger);
  stats.peer_evictions.fetch_add(1, std::memory_order_relaxed);
  if (uint64_t held = 0; eviction_warning.allow(held)) {
    log->warn(
        "closed the PUSH to peer {} (least recently used): at most {} peer sockets are kept open "
        "({} more closed since the last warning)",
        logging::printable(victim), options.max_peers, held);
  }
}

zmq::socket_t* ZmqLinks::Impl::peer_socket(const std::string& id, const std::string& events) {
  if (auto it = peers.find(id); it != peers.end()) {
    if (it->second.events == events) {
      lru.splice(lru.begin(), lru, it->second.lru);  // most recently used
      return it->second.socket.get();
    }
    erase_peer(id, options.evict_linger_ms);  // the peer moved: a new socket below
  }
  if (!valid_peer_endpoint(events)) {
    if (uint64_t held = 0; address_warning.allow(held)) {
      log->warn(
          "not connecting to peer {}: '{}' is not tcp://HOST:PORT, ipc://PATH or inproc://NAME "
          "({} more refused since the last warning)",
          logging::printable(id), logging::printable(events), held);
    }
    return nullptr;
  }
  while (!peers.empty() && peers.size() >= std::max<std::size_t>(1, options.max_peers)) evict_one();
  try {
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::push);
    if (options.curve) curve::make_client(*s, *options.curve);
    set_common_options(*s, options.send_hwm, options.recv_hwm);
    s->set(zmq::sockopt::reconnect_ivl, 100);
    s->set(zmq::sockopt::reconnect_ivl_max, 1000);
    s->set(zmq::sockopt::handshake_ivl, cluster::kHandshakeMs);
    s->connect(events);
    lru.push_front(id);
    peers.emplace(id, Peer{events, std::move(s), lru.begin()});
    log->debug("connected PUSH to peer {} at {}", logging::printable(id), logging::printable(events));
  } catch (const zmq::error_t& e) {
    log->warn("cannot connect to peer {} at '{}': {}", logging::printable(id), logging::printable(events), e.what());
    return nullptr;
  }
  return peers.find(id)->second.socket.get();
}

bool ZmqLinks::Impl::to_peer(const std::string& id, const std::string& events, const std::string& bytes) {
  if (closed) {
    stats.queue_drops.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (auto* s = peer_socket(id, events)) return send_bytes(*s, bytes);
  stats.hwm_drops.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// One bounded batch, handed over in one call (the router makes one post to its strand of it).
void ZmqLinks::Impl::receive(zmq::socket_t& s, Source source, std::size_t master) {
  std::vector<cluster::Message> batch;
  for (int i = 0; i < kBatch; ++i) {
    zmq::message_t msg;
    const auto st = zsock::recv(s, msg);
    if (st.result == zsock::RecvResult::would_block) break;
    if (!st.received()) {
      // Nothing more can be read from this socket now: what was read is still handed over.
      warn_io("recv failed", st.error);
      break;
    }
    std::string error;
    auto decoded = cluster::decode(std::string_view(msg.data<char>(), msg.size()), &error);
    if (!decoded) {
      stats.bad_messages.fetch_add(1, std::memory_order_relaxed);
      if (uint64_t held = 0; malformed_warning.allow(held)) {
        log->warn("dropped a malformed cluster message ({} bytes): {} ({} more dropped since the last warning)",
                  msg.size(), error, held);
      }
      continue;
    }
    batch.push_back(std::move(*decoded));
  }
  if (!batch.empty()) on_message(source, master, std::move(batch));
}

void ZmqLinks::Impl::watch_handshakes(Master& m) {
  for (const auto& event : m.monitor->read_pending()) {
    log->debug("master link {}: {}", m.address, curve::RefusalDetector::describe(event));
    if (m.refused) continue;
    if (auto reason = m.refusal.on_event(event)) {
      m.refused = true;
      // One master refusing is its operator's mistake, not a reason to leave the others.
      if (++refused_masters < masters.size()) {
        log->error("{} (this node keeps working with the other masters)", *reason);
      } else if (options.on_refused) {
        options.on_refused(*reason);
      }
    }
  }
}

// Refused peers retry every second or so: one warning per 10 s at most.
void ZmqLinks::Impl::answer_zap() {
  const uint64_t unanswered = zap->unanswered();
  const int refused_now = zap->handle_pending();
  if (zap->unanswered() != unanswered) {
    if (uint64_t held = 0; io_warning.allow(held)) {
      log->warn("ZAP handler could not answer: {} ({} more socket errors since the last warning)", zap->last_error(),
                held);
    }
  }
  if (refused_now == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_zap_warning) return;
  next_zap_warning = now + std::chrono::seconds(10);
  log->warn("refused a cluster connection from {}: its CURVE key is not the cluster's ({} refused so far)",
            zap->last_refused_address(), zap->refused());
}

// Gives what was sent linger_ms to leave (ctx.close() waits for it), then closes everything.
void ZmqLinks::Impl::close() {
  if (closed) return;
  closed = true;
  sweep.cancel();
  boost::system::error_code ignored;
  for (auto& w : watches) w->fd.close(ignored);  // the duplicates: deregistered from the reactor
  // Refused by a master: nothing sent to it will ever get through.
  // Not thrown from here (a destructor): a socket that refuses keeps its linger of 0.
  for (auto& m : masters) zsock::set_linger(m->socket, m->refused || !started ? 0 : options.linger_ms);
  for (auto& [id, p] : peers) {
    if (p.socket) zsock::set_linger(*p.socket, options.linger_ms);
  }
  peers.clear();
  lru.clear();
  for (auto& m : masters) {
    m->monitor.reset();  // before the socket it watches
    m->socket.close();
  }
  pull.close();
  zap.reset();
  ctx.close();
}

// The link to one master, as its MasterSession sees it.
class ZmqLinks::OneMaster final : public MasterLink {
 public:
  OneMaster(ZmqLinks& links, std::size_t index) : links_(links), index_(index) {}
  bool send_to_master(const cluster::Message& message) override { return links_.send_to_master(index_, message); }

 private:
  ZmqLinks& links_;
  std::size_t index_;
};

ZmqLinks::ZmqLinks(asio::io_context& ioc, Options options, Handler on_message)
    : ioc_(ioc), impl_(std::make_unique<Impl>(ioc, std::move(options), std::move(on_message), stats_)) {
  master_count_ = impl_->masters.size();
  for (std::size_t i = 0; i < master_count_; ++i) master_links_.push_back(std::make_unique<OneMaster>(*this, i));
}

ZmqLinks::~ZmqLinks() { stop(); }

std::string ZmqLinks::start() { return impl_->start(); }

void ZmqLinks::stop() { impl_->close(); }

namespace {

template <class F>
bool post_bounded(asio::io_context& ioc, std::atomic<std::size_t>& posted, std::size_t capacity, ZmqLinkStats& stats,
                  F f) {
  if (posted.fetch_add(1, std::memory_order_relaxed) >= capacity) {
    posted.fetch_sub(1, std::memory_order_relaxed);
    stats.queue_drops.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  asio::post(ioc, [&posted, f = std::move(f)]() mutable {
    posted.fetch_sub(1, std::memory_order_relaxed);
    f();
  });
  return true;
}

}  // namespace

bool ZmqLinks::send_to_master(std::size_t index, const cluster::Message& message) {
  auto bytes = encode_bounded(message);
  if (!bytes) return false;
  if (ioc_.get_executor().running_in_this_thread()) return impl_->to_master(index, *bytes);
  return post_bounded(ioc_, posted_, impl_->options.queue_capacity, stats_,
                      [impl = impl_.get(), index, b = std::move(*bytes)] { impl->to_master(index, b); });
}

bool ZmqLinks::send_to_peer(const std::string& node_id, const std::string& events, const cluster::Message& message) {
  auto bytes = encode_bounded(message);
  if (!bytes) return false;
  if (ioc_.get_executor().running_in_this_thread()) return impl_->to_peer(node_id, events, *bytes);
  return post_bounded(
      ioc_, posted_, impl_->options.queue_capacity, stats_,
      [impl = impl_.get(), node_id, events, b = std::move(*bytes)] { impl->to_peer(node_id, events, b); });
}

void ZmqLinks::drop_peer(const std::string& node_id) {
  if (ioc_.get_executor().running_in_this_thread()) {
    impl_->erase_peer(node_id, 0);
    return;
  }
  post_bounded(ioc_, posted_, impl_->options.queue_capacity, stats_,
               [impl = impl_.get(), node_id] { impl->erase_peer(node_id, 0); });
}

}  // namespace wsg
