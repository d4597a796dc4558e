// ZmqLinks on an io_context: DELIVERs between two links over loopback TCP (ports picked by the
// kernel), replies from a fake master after sends on the same DEALER, sends from another thread,
// and the high-water-mark drop. Every wait is the io_context running until a condition holds, with
// a deadline timer that stops it and fails the test.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "net/zmq_links.h"
#include "proto/cluster_codec.h"

namespace asio = boost::asio;
namespace cluster = wsg::cluster;
using wsg::ZmqLinks;

namespace {

// A ROUTER on its own thread standing in for the master: answers every HEARTBEAT with a
// HEARTBEAT_REPLY whose epoch counts the heartbeats seen, and drops everything else.
class FakeMaster {
 public:
  FakeMaster() : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeMaster() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void run() {
    uint64_t seen = 0;
    while (!stop_) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      zmq::message_t id, body;
      while (router_.recv(id, zmq::recv_flags::dontwait)) {
        if (!router_.recv(body, zmq::recv_flags::dontwait)) break;
        auto m = cluster::decode(std::string_view(body.data<char>(), body.size()));
        if (!m || !std::holds_alternative<cluster::Heartbeat>(*m)) continue;
        const auto reply = cluster::encode(cluster::HeartbeatReply{++seen, true}).value();
        router_.send(id, zmq::send_flags::sndmore);
        router_.send(zmq::buffer(reply), zmq::send_flags::none);
      }
    }
  }
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

ZmqLinks::Options options(const FakeMaster& master, const std::string& id) {
  ZmqLinks::Options o;
  o.master = master.endpoint();
  o.events_bind = "tcp://127.0.0.1:*";
  o.routing_id = id;
  o.linger_ms = 0;
  return o;
}

// Runs `ioc` until it is stopped; a deadline stops it too and reports that it fired.
bool run_until_stopped(asio::io_context& ioc, std::chrono::seconds deadline) {
  bool expired = false;
  asio::steady_timer timer(ioc, deadline);
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    expired = true;
    ioc.stop();
  });
  ioc.run();
  return !expired;
}

cluster::Deliver deliver(int i) {
  return cluster::Deliver{"a", "tcp://a", {cluster::DeliverItem{"m-" + std::to_string(i), "u1", "u2", i, "{}"}}};
}

}  // namespace

TEST_CASE("zmq links: DELIVERs reach the peer's handler on the io_context's thread, in order, across batches") {
  FakeMaster master;
  asio::io_context ioc;
  const int count = 3 * ZmqLinks::kBatch + 17;  // several turns' worth
  std::vector<std::string> received;
  bool on_loop_thread = true;
  const auto loop_thread = std::this_thread::get_id();
  ZmqLinks a(ioc, options(master, "a/1"), [](ZmqLinks::Source, std::size_t, std::vector<cluster::Message>) {});
  ZmqLinks b(ioc, options(master, "b/1"),
             [&](ZmqLinks::Source source, std::size_t, std::vector<cluster::Message> batch) {
               REQUIRE(batch.size() <= static_cast<std::size_t>(ZmqLinks::kBatch));
               on_loop_thread =
                   on_loop_thread && std::this_thread::get_id() == loop_thread && source == ZmqLinks::Source::peer;
               for (auto& m : batch) received.push_back(std::get<cluster::Deliver>(m).items.at(0).msg_id);
               if (received.size() == static_cast<std::size_t>(count)) ioc.stop();
             });
  a.start();
  const auto b_events = b.start();
  int refused = 0;
  asio::post(ioc, [&] {
    for (int i = 0; i < count; ++i) refused += a.send_to_peer("b", b_events, deliver(i)) ? 0 : 1;
  });
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(20)));
  CHECK(refused == 0);
  CHECK(on_loop_thread);
  REQUIRE(received.size() == static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) REQUIRE(received[i] == "m-" + std::to_string(i));
  CHECK(a.stats().hwm_drops.load() == 0);
  CHECK(b.stats().bad_messages.load() == 0);
}

TEST_CASE("zmq links: the master's replies are all read while the same DEALER keeps sending") {
  // A send on the DEALER may process its pending commands (libzmq does at most about once a
  // millisecond), which swallows the edge of ZMQ_FD that announced a reply: the links must look at
  // ZMQ_EVENTS again after such a send. The sweep is off, so nothing else would find the reply.
  FakeMaster master;
  asio::io_context ioc;
  const uint64_t count = 300;
  uint64_t replies = 0;
  uint64_t last_epoch = 0;
  bool in_order = true;
  auto o = options(master, "a/1");
  o.sweep_ms = 0;
  ZmqLinks a(ioc, o, [&](ZmqLinks::Source source, std::size_t, std::vector<cluster::Message> batch) {
    for (auto& m : batch) {
      REQUIRE(source == ZmqLinks::Source::master);
      const auto epoch = std::get<cluster::HeartbeatReply>(m).epoch;
      in_order = in_order && epoch == last_epoch + 1;
      last_epoch = epoch;
      if (++replies == count) ioc.stop();
    }
  });
  a.start();
  // One heartbeat per turn; each turn first keeps the thread busy for 2 ms (long enough for the
  // previous reply to come back and for the next send to process the DEALER's commands).
  uint64_t sent = 0;
  std::function<void()> send_one = [&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
    REQUIRE(a.send_to_master(cluster::Heartbeat{"a", sent, 0}));
    if (++sent < count) asio::post(ioc, send_one);
  };
  asio::post(ioc, send_one);
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(20)));
  CHECK(replies == count);
  CHECK(in_order);
}

TEST_CASE("zmq links: a send from another thread is posted to the owning thread") {
  FakeMaster master;
  asio::io_context ioc;
  std::vector<std::string> received;
  ZmqLinks a(ioc, options(master, "a/1"), [](ZmqLinks::Source, std::size_t, std::vector<cluster::Message>) {});
  ZmqLinks b(ioc, options(master, "b/1"), [&](ZmqLinks::Source, std::size_t, std::vector<cluster::Message> batch) {
    for (auto& m : batch) received.push_back(std::get<cluster::Deliver>(m).items.at(0).msg_id);
    if (received.size() == 100) ioc.stop();
  });
  a.start();
  const auto b_events = b.start();
  bool all_queued = true;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) all_queued = a.send_to_peer("b", b_events, deliver(i)) && all_queued;
  });
  other.join();  // before the loop runs: every send waits in the io_context's queue
  REQUIRE(all_queued);
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(20)));
  REQUIRE(received.size() == 100);
  CHECK(received.front() == "m-0");
  CHECK(received.back() == "m-99");
  CHECK(a.stats().queue_drops.load() == 0);
}

TEST_CASE("zmq links: past the high-water mark a send is refused and counted, never waited for") {
  FakeMaster master;
  asio::io_context ioc;
  auto o = options(master, "a/1");
  o.send_hwm = 10;
  ZmqLinks a(ioc, o, [](ZmqLinks::Source, std::size_t, std::vector<cluster::Message>) {});
  a.start();
  int accepted = 0, refused = 0;
  asio::post(ioc, [&] {
    // Nothing listens on loopback port 1: the PUSH keeps reconnecting and its pipe fills up.
    for (int i = 0; i < 1000; ++i) (a.send_to_peer("nobody", "tcp://127.0.0.1:1", deliver(i)) ? accepted : refused)++;
    ioc.stop();
  });
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(20)));
  CHECK(accepted > 0);
  CHECK(accepted <= 2 * o.send_hwm);
  CHECK(refused == 1000 - accepted);
  CHECK(a.stats().hwm_drops.load() == static_cast<uint64_t>(refused));
}

TEST_CASE("zmq links: after stop() sends are refused and counted") {
  FakeMaster master;
  asio::io_context ioc;
  ZmqLinks a(ioc, options(master, "a/1"), [](ZmqLinks::Source, std::size_t, std::vector<cluster::Message>) {});
  a.start();
  a.stop();
  bool sent = true;
  asio::post(ioc, [&] {
    sent = a.send_to_master(cluster::Heartbeat{"a", 0, 0});
    ioc.stop();
  });
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(20)));
  CHECK_FALSE(sent);
  CHECK(a.stats().queue_drops.load() == 1);
  a.stop();  // idempotent
}

TEST_CASE("zmq links: peer PUSH sockets are bounded, the least recently used is closed, bad addresses open nothing") {
  FakeMaster master;
  asio::io_context ioc;
  std::vector<std::string> received;
  auto o = options(master, "a/1");
  o.max_peers = 4;
  ZmqLinks a(ioc, o, [](ZmqLinks::Source, std::size_t, std::vector<cluster::Message>) {});
  ZmqLinks b(ioc, options(master, "b/1"), [&](ZmqLinks::Source, std::size_t, std::vector<cluster::Message> batch) {
    for (auto& m : batch) received.push_back(std::get<cluster::Deliver>(m).items.at(0).msg_id);
    if (received.size() == 3) ioc.stop();
  });
  a.start();
  const auto b_events = b.start();
  // Nobody listens on these: the sockets only wait to connect.
  auto fake = [](int i) { return "tcp://127.0.0.1:" + std::to_string(i); };
  std::vector<bool> sent;
  asio::post(ioc, [&] {
    sent.push_back(a.send_to_peer("b", b_events, deliver(0)));
    for (int i = 1; i <= 3; ++i) sent.push_back(a.send_to_peer("f" + std::to_string(i), fake(i), deliver(100 + i)));
    sent.push_back(a.send_to_peer("b", b_events, deliver(1)));    // b is now the most recently used
    sent.push_back(a.send_to_peer("f4", fake(4), deliver(104)));  // closes f1, the least recently used
    sent.push_back(a.send_to_peer("b", b_events, deliver(2)));    // still open: no eviction
    for (const std::string bad : {"", "tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://a b:1",
                                  "udp://127.0.0.1:1", "tcp://:1", "tcp://h:1\n"})
      sent.push_back(a.send_to_peer("x", bad, deliver(200)));
  });
  REQUIRE(run_until_stopped(ioc, std::chrono::seconds(10)));
  REQUIRE(sent.size() == 15);
  for (std::size_t i = 0; i < 7; ++i) CHECK(sent[i]);
  for (std::size_t i = 7; i < sent.size(); ++i) CHECK_FALSE(sent[i]);
  CHECK(received == std::vector<std::string>{"m-0", "m-1", "m-2"});
  CHECK(a.stats().peer_evictions.load() == 1);

  SECTION("many made-up peers leave at most max_peers sockets") {
    asio::post(ioc, [&] {
      for (int i = 10; i < 110; ++i) a.send_to_peer("g" + std::to_string(i), fake(i), deliver(i));
    });
    ioc.restart();
    ioc.poll();
    CHECK(a.stats().peer_evictions.load() == 1 + 100);
  }
}
