#include "net/zmq_links.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <zmq.hpp>

#include "logging.h"
#include "net/curve_zmq.h"

namespace wsg {

struct ZmqLinks::Command {
  enum class Kind { to_master, to_peer, drop_peer } kind;
  std::string peer_id;
  std::string peer_events;
  std::string bytes;
};

namespace {

void set_common_options(zmq::socket_t& s, int send_hwm, int recv_hwm) {
  s.set(zmq::sockopt::sndhwm, send_hwm);
  s.set(zmq::sockopt::rcvhwm, recv_hwm);
  s.set(zmq::sockopt::linger, 0);
}

}  // namespace

ZmqLinks::ZmqLinks(Options options, Handler on_message)
    : options_(std::move(options)), on_message_(std::move(on_message)), queue_(options_.queue_capacity) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
}

ZmqLinks::~ZmqLinks() {
  stop();
  Command* c = nullptr;
  while (queue_.pop(c)) delete c;
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::string ZmqLinks::start() {
  std::promise<std::string> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started] { run(&started); });
  try {
    return result.get();
  } catch (...) {
    if (thread_.joinable()) thread_.join();
    throw;
  }
}

void ZmqLinks::stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

bool ZmqLinks::enqueue(Command* command) {
  if (stopping_.load(std::memory_order_relaxed) || !queue_.bounded_push(command)) {
    delete command;
    stats_.queue_drops.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // One wake-up per batch: while a write is pending (the ZeroMQ thread has not read it yet, and
  // drains the whole queue after it has), no other enqueuer needs to make the syscall.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    // Non-blocking: a full eventfd counter (never in practice) only means a wake-up is pending.
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  return true;
}

namespace {

// encode() refuses (throws) what no receiver would accept; here that becomes a counted drop.
std::optional<std::string> encode_bounded(const cluster::Message& message) {
  try {
    return cluster::encode(message);
  } catch (const std::exception& e) {
    logging::get("zmq")->warn("not sent: {}", e.what());
    return std::nullopt;
  }
}

}  // namespace

bool ZmqLinks::send_to_master(const cluster::Message& message) {
  auto bytes = encode_bounded(message);
  if (!bytes) return false;
  return enqueue(new Command{Command::Kind::to_master, {}, {}, std::move(*bytes)});
}

bool ZmqLinks::send_to_peer(const std::string& node_id, const std::string& events,
                            const cluster::Message& message) {
  auto bytes = encode_bounded(message);
  if (!bytes) return false;
  return enqueue(new Command{Command::Kind::to_peer, node_id, events, std::move(*bytes)});
}

void ZmqLinks::drop_peer(const std::string& node_id) {
  enqueue(new Command{Command::Kind::drop_peer, node_id, {}, {}});
}

void ZmqLinks::run(std::promise<std::string>* started) {
  auto log = logging::get("zmq");
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  struct Peer {
    std::string events;
    std::unique_ptr<zmq::socket_t> socket;
  };
  std::unordered_map<std::string, Peer> peers;
  std::string bound;
  // CURVE: the ZAP handler must be bound before the PULL accepts a connection. The monitor tells
  // whether the master refuses our handshakes (wrong or missing key) rather than retrying forever.
  std::unique_ptr<curve::ZapHandler> zap;
  std::unique_ptr<curve::HandshakeMonitor> monitor;
  try {
    if (options_.curve) {
      zap = std::make_unique<curve::ZapHandler>(ctx, *options_.curve);
      curve::make_server(pull, *options_.curve);
      curve::make_client(dealer, *options_.curve);
    }
    set_common_options(pull, options_.send_hwm, options_.recv_hwm);
    pull.bind(options_.events_bind);
    bound = pull.get(zmq::sockopt::last_endpoint);
    set_common_options(dealer, options_.send_hwm, options_.recv_hwm);
    dealer.set(zmq::sockopt::routing_id, options_.routing_id);
    dealer.set(zmq::sockopt::reconnect_ivl, 100);
    dealer.set(zmq::sockopt::reconnect_ivl_max, 1000);
    monitor = std::make_unique<curve::HandshakeMonitor>(ctx, dealer, "master");
    dealer.connect(options_.master);
  } catch (const zmq::error_t& e) {
    monitor.reset();
    zap.reset();
    started->set_exception(std::make_exception_ptr(std::runtime_error(
        "cannot set up cluster sockets (events bind '" + options_.events_bind + "', master '" +
        options_.master + "'): " + e.what())));
    return;
  }
  started->set_value(bound);

  auto send_bytes = [&](zmq::socket_t& s, const std::string& bytes) {
    try {
      if (!s.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
        stats_.hwm_drops.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (const zmq::error_t& e) {
      stats_.hwm_drops.fetch_add(1, std::memory_order_relaxed);
      log->warn("send failed: {}", e.what());
    }
  };

  auto peer_socket = [&](const std::string& id, const std::string& events) -> zmq::socket_t* {
    auto& p = peers[id];
    if (!p.socket || p.events != events) {
      try {
        auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::push);
        if (options_.curve) curve::make_client(*s, *options_.curve);
        set_common_options(*s, options_.send_hwm, options_.recv_hwm);
        s->set(zmq::sockopt::reconnect_ivl, 100);
        s->set(zmq::sockopt::reconnect_ivl_max, 1000);
        s->connect(events);
        p.socket = std::move(s);
        p.events = events;
        log->debug("connected PUSH to peer {} at {}", id, events);
      } catch (const zmq::error_t& e) {
        log->warn("cannot connect to peer {} at '{}': {}", id, events, e.what());
        peers.erase(id);
        return nullptr;
      }
    }
    return p.socket.get();
  };

  auto drain_commands = [&] {
    Command* c = nullptr;
    while (queue_.pop(c)) {
      std::unique_ptr<Command> owned(c);
      switch (c->kind) {
        case Command::Kind::to_master:
          send_bytes(dealer, c->bytes);
          break;
        case Command::Kind::to_peer:
          if (auto* s = peer_socket(c->peer_id, c->peer_events)) send_bytes(*s, c->bytes);
          else stats_.hwm_drops.fetch_add(1, std::memory_order_relaxed);
          break;
        case Command::Kind::drop_peer:
          peers.erase(c->peer_id);
          break;
      }
    }
  };

  logging::Throttle malformed_warning(std::chrono::seconds(10));
  // Bounded batch per wake-up so one busy socket cannot starve the others; handed over in one
  // call (the node makes one post to the router strand of it instead of one per message).
  auto receive_batch = [&](zmq::socket_t& s, std::vector<cluster::Message>& batch) {
    for (int i = 0; i < 1024; ++i) {
      zmq::message_t msg;
      zmq::recv_result_t got;
      try {
        got = s.recv(msg, zmq::recv_flags::dontwait);
      } catch (const zmq::error_t& e) {
        log->warn("recv failed: {}", e.what());
        return;
      }
      if (!got) return;
      std::string error;
      auto decoded = cluster::decode(std::string_view(msg.data<char>(), msg.size()), &error);
      if (!decoded) {
        stats_.bad_messages.fetch_add(1, std::memory_order_relaxed);
        if (uint64_t held = 0; malformed_warning.allow(held)) {
          log->warn("dropped a malformed cluster message ({} bytes): {} ({} more dropped since the last warning)",
                    msg.size(), error, held);
        }
        continue;
      }
      batch.push_back(std::move(*decoded));
    }
  };
  auto receive_all = [&](zmq::socket_t& s, Source source) {
    std::vector<cluster::Message> batch;
    receive_batch(s, batch);
    if (!batch.empty()) on_message_(source, std::move(batch));
  };

  curve::RefusalDetector refusal("the master", options_.curve.has_value());
  bool refused = false;
  auto watch_handshakes = [&] {
    for (const auto& event : monitor->read_pending()) {
      log->debug("master link: {}", curve::RefusalDetector::describe(event));
      if (refused) continue;
      if (auto reason = refusal.on_event(event)) {
        refused = true;
        if (options_.on_refused) options_.on_refused(*reason);
      }
    }
  };
  // Refused peers retry every second or so: one warning per 10 s at most.
  auto next_zap_warning = std::chrono::steady_clock::time_point{};
  auto answer_zap = [&] {
    if (zap->handle_pending() == 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_zap_warning) return;
    next_zap_warning = now + std::chrono::seconds(10);
    log->warn("refused a cluster connection from {}: its CURVE key is not the cluster's ({} refused so far)",
              zap->last_refused_address(), zap->refused());
  };

  zmq_pollitem_t items[5] = {
      {dealer.handle(), 0, ZMQ_POLLIN, 0},
      {pull.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wake_fd_, ZMQ_POLLIN, 0},
      {monitor->socket().handle(), 0, ZMQ_POLLIN, 0},
      {zap ? zap->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0},
  };
  const int item_count = zap ? 5 : 4;
  while (!stopping_.load()) {
    int rc = zmq_poll(items, item_count, 200);
    if (rc < 0 && zmq_errno() != EINTR) {
      log->error("zmq_poll failed: {}", zmq_strerror(zmq_errno()));
      break;
    }
    if (items[2].revents & ZMQ_POLLIN) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
      // Cleared after the read and before drain_commands(): whatever is enqueued from here on
      // is either drained below or writes the eventfd again.
      wake_pending_.exchange(false, std::memory_order_acq_rel);
    }
    if (zap && (items[4].revents & ZMQ_POLLIN)) answer_zap();
    if (items[3].revents & ZMQ_POLLIN) watch_handshakes();
    drain_commands();
    if (items[0].revents & ZMQ_POLLIN) receive_all(dealer, Source::master);
    if (items[1].revents & ZMQ_POLLIN) receive_all(pull, Source::peer);
  }
  // Flush: send what is still queued, then give the sockets linger_ms to get it out.
  drain_commands();
  // Refused by the master: nothing queued for it will ever get through.
  dealer.set(zmq::sockopt::linger, refused ? 0 : options_.linger_ms);
  for (auto& [id, p] : peers) {
    if (p.socket) p.socket->set(zmq::sockopt::linger, options_.linger_ms);
  }
  peers.clear();
  monitor.reset();  // before the socket it watches
  dealer.close();
  pull.close();
  zap.reset();
  ctx.close();
}

}  // namespace wsg
