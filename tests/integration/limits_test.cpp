// Limits a node enforces on its public port (docs/protocol.md, "Connecting", "Error codes",
// "Limits"; docs/security.md, "Limits"; limits.* in man/wsg.1): the Origin check, the per-session
// token bucket, the bounded send queue of a slow reader. (limits.max_connections → 503 is in
// failure_test.cpp; oversize and binary frames in errors_test.cpp.)
#include "cluster_ops.h"
#include "test_util.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

namespace asio = boost::asio;

// A cluster of `nodes` nodes, each started with `--config FILE` holding `toml`.
ClusterOptions config_cluster(int nodes, const std::string& name, const std::string& toml) {
  const auto config = write_file(name, toml);
  ClusterOptions o;
  o.nodes = nodes;
  for (int i = 0; i < nodes; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  return o;
}

// A WebSocket client that does the handshake by hand on a plain TCP socket and then never reads:
// the server's frames pile up in the kernel buffers and then in the session's send queue. Its
// receive buffer is made small before connecting so that happens after little data.
class NeverReader {
 public:
  // Returns the HTTP status line of the handshake's answer.
  std::string connect(uint16_t port, const std::string& target) {
    socket_.open(asio::ip::tcp::v4());
    socket_.set_option(asio::socket_base::receive_buffer_size(4096));
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    const std::string req = "GET " + target +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    asio::write(socket_, asio::buffer(req));
    asio::streambuf buf;
    asio::read_until(socket_, buf, "\r\n\r\n");  // may read a little past the headers: harmless
    std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    return head.substr(0, head.find("\r\n"));
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_{io_};
};

}  // namespace

TEST_CASE("http.allowed_origins: a foreign Origin gets 403 and no upgrade while the allowed one and none connect",
          "[integration]") {
  Cluster c(config_cluster(1, "origins.toml", "[http]\nallowed_origins = [\"https://good.example\"]\n"));
  {
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), "/ws?user=mallory", {{"Origin", "https://evil.example"}});
    INFO("evil origin: http " << r.http_status << " " << r.error << " body " << r.body);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 403);
    // no session was made for the refused handshake
    CHECK(health(c.ws_port(0)).sessions == 0);
  }
  {
    // a near miss is refused as well (exact match)
    WsClient ws;
    auto r = ws.connect(c.ws_port(0), "/ws?user=mallory", {{"Origin", "https://good.example.evil.example"}});
    INFO("near-miss origin: http " << r.http_status << " " << r.error);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 403);
  }
  Session alice;
  {
    alice.ws = std::make_unique<WsClient>();
    alice.user = "alice";
    auto r = alice->connect(c.ws_port(0), "/ws?user=alice", {{"Origin", "https://good.example"}});
    INFO("good origin: http " << r.http_status << " " << r.error << " body " << r.body);
    REQUIRE(r.connected);
    CHECK(r.http_status == 101);
    auto w = expect_frame(*alice, "welcome");
    CHECK(str(w, "user") == "alice");
  }
  // no Origin header (not a browser): not refused for it
  auto bob = join(c, 0, "bob");
  bob->send_json(send_frame("alice", "hi", "b1"));
  expect_ack(*bob, "b1", "delivered");
  auto m = expect_frame(*alice, "message");
  CHECK(str(m, "from") == "bob");
}

TEST_CASE(
    "rate limit: frames past the burst get rate_limited with their ref and a client far past it is closed 1008 rate",
    "[integration]") {
  Cluster c(config_cluster(1, "rate.toml", "[limits]\nmessages_per_second = 10\nburst = 20\n"));

  SECTION("a short burst over the limit is refused frame by frame; the connection stays") {
    auto a = join(c, 0, "alice");
    constexpr int kPings = 25;
    for (int i = 0; i < kPings; ++i) a->send_json({{"type", "ping"}, {"id", "p" + std::to_string(i)}});
    int pongs = 0;
    std::vector<std::string> limited;
    for (int i = 0; i < kPings; ++i) {
      auto f = a->next();
      REQUIRE(f.has_value());
      INFO("frame " << i << ": " << dump(*f));
      if (str(*f, "type") == "pong") {
        CHECK(str(*f, "ref") == "p" + std::to_string(i));
        ++pongs;
      } else {
        REQUIRE(str(*f, "type") == "error");
        CHECK(str(*f, "code") == "rate_limited");
        CHECK(str(*f, "ref") == "p" + std::to_string(i));  // answers come in order
        CHECK(f->contains("message"));
        limited.push_back(str(*f, "ref"));
      }
    }
    INFO("pongs " << pongs << ", rate_limited " << limited.size());
    CHECK(pongs >= 20);          // the burst
    CHECK(limited.size() >= 1);  // 25 frames in far less than the 0.5 s that refills 5 tokens
    CHECK_FALSE(a->closed());
    // still connected and served once the bucket refills (10 tokens/s): bounded retries
    bool alive = false;
    for (int i = 0; i < 40 && !alive; ++i) {
      a->send_json({{"type", "ping"}, {"id", "again" + std::to_string(i)}});
      auto f = a->next();
      REQUIRE(f.has_value());
      if (str(*f, "type") == "pong") {
        CHECK(str(*f, "ref") == "again" + std::to_string(i));
        alive = true;
      } else {
        CHECK(str(*f, "code") == "rate_limited");
        a->next(100ms);  // paces the retries (nothing else arrives: a timeout here is expected)
      }
    }
    CHECK(alive);
    CHECK_FALSE(a->closed());
  }

  SECTION("a client that keeps going is closed 1008 rate; others are not affected") {
    auto a = join(c, 0, "alice");
    auto b = join(c, 0, "bob");
    constexpr int kFrames = 225;  // 20 served, then far more than 20 refusals in a row
    for (int i = 0; i < kFrames; ++i) a->send_json({{"type", "ping"}, {"id", "p" + std::to_string(i)}});
    auto close = a->expect_close();
    REQUIRE(close.has_value());
    INFO("close " << close->code << " '" << close->reason << "'");
    CHECK(close->code == 1008);
    CHECK(close->reason == "rate");
    int pongs = 0, limited = 0, i = 0;
    while (auto f = a->next(0ms)) {
      INFO("frame " << i << ": " << dump(*f));
      CHECK(str(*f, "ref") == "p" + std::to_string(i++));  // in order, one answer per frame
      if (str(*f, "type") == "pong") ++pongs;
      if (str(*f, "code") == "rate_limited") ++limited;
    }
    INFO("before the close: pongs " << pongs << ", rate_limited " << limited);
    // Frames still queued when the node decides to close are dropped (ws_session.cpp: the queue is
    // cleared before the close frame), so only the first answers are certain: the burst's pongs.
    CHECK(pongs + limited <= kFrames);
    CHECK(poll_until([&] { return health(c.ws_port(0)).sessions == 1; }, 3000ms));
    expect_alive(*b, "b-alive");
  }
}

TEST_CASE("slow reader: a client that stops reading is closed while a fast reader and the sender carry on",
          "[integration]") {
  // Rate limit off so the sender can flood; a small send queue so the slow session fills it soon.
  Cluster c(config_cluster(2, "slow.toml",
                           "[limits]\nmessages_per_second = 0\nmax_message_bytes = 16384\n"
                           "send_queue_bytes = 65536\n"));
  // user "slow" has two sessions on node-1: one never reads, the other reads everything
  NeverReader never;
  const std::string status_line = never.connect(c.ws_port(0), "/ws?user=slow");
  INFO("never-reader handshake: " << status_line);
  REQUIRE(status_line.find(" 101 ") != std::string::npos);
  auto fast = join(c, 0, "slow");
  REQUIRE(poll_until([&] { return user_sessions(c, "slow").size() == 2; }, 5000ms));
  auto sender = join(c, 1, "sender");
  Ledger sent(sender);
  Ledger got(fast);

  // Messages of ~4 KB in batches of 8: a batch (~33 KB) fits the 64 KiB queue of a session that
  // reads, so the fast reader is never over its bound; the never-reader's queue fills once the
  // kernel buffers of its connection are full.
  const std::string pad(4000, 'x');
  constexpr int kMaxMessages = 3000;  // ~12 MB: more than the kernel buffers of one connection hold
  constexpr int kBatch = 8;
  int n = 0;
  bool gone = false;
  const auto t0 = Clock::now();
  while (n < kMaxMessages && !gone) {
    for (int i = 0; i < kBatch; ++i, ++n)
      sent.send("slow", json::object{{"k", "flood"}, {"n", n}, {"pad", pad}}, "m" + std::to_string(n));
    // the sender is never held back: every message of the batch is acked delivered promptly
    REQUIRE(sent.wait_all_acked(5000ms));
    got.pump();
    gone = health(c.ws_port(0)).sessions == 1;
  }
  INFO("sent " << n << " messages in " << ms_since(t0) << " ms; never-reader gone: " << gone);
  // once flooding stops, the node must still close the never-reader within a bound
  if (!gone) gone = poll_until([&] { return health(c.ws_port(0)).sessions == 1; }, 15000ms);
  INFO("waited " << ms_since(t0) << " ms in all; node-1 sessions " << health(c.ws_port(0)).sessions
                 << "; fast reader closed " << fast->closed() << ", got " << got.messages_tagged("flood").size());
  if (fast->closed()) {
    auto ci = fast->expect_close(0ms);
    if (ci) WARN("fast reader closed " << ci->code << " " << ci->reason);
  }
  CHECK(gone);
  if (gone) {
    auto left = user_sessions(c, "slow");
    REQUIRE(left.size() == 1);
    CHECK(left.begin()->second == fast.session);
  }
  // a few more messages after the close still reach the fast session
  for (int i = 0; i < 5; ++i, ++n)
    sent.send("slow", json::object{{"k", "flood"}, {"n", n}, {"pad", "after"}}, "m" + std::to_string(n));
  REQUIRE(sent.wait_all_acked(5000ms));
  for (const auto& ref : sent.sent()) {
    INFO(sent.describe(ref));
    CHECK(sent.ack(ref).status == "delivered");
  }
  CHECK(sent.unknown_acks().empty());
  // the fast reader got every message, once, in order
  REQUIRE(got.pump_until([&] { return static_cast<int>(got.messages_tagged("flood").size()) >= n; }, 10000ms));
  const auto msgs = got.messages_tagged("flood");
  REQUIRE(static_cast<int>(msgs.size()) == n);
  for (int i = 0; i < n; ++i) {
    const auto& body = msgs[static_cast<std::size_t>(i)].frame.at("body").as_object();
    INFO("message " << i << " has seq " << dump(body.at("n")));
    REQUIRE(num(body, "n") == i);
  }
  CHECK_FALSE(fast->closed());
  CHECK_FALSE(sender->closed());
  expect_alive(*sender, "s-alive");
}

TEST_CASE("rate limit: malformed frames cost tokens too so a flood of them is refused then closed 1008 rate",
          "[integration]") {
  // 1 token per second, burst 5: the bucket cannot refill noticeably while the test runs.
  Cluster c(config_cluster(1, "rate-malformed.toml", "[limits]\nmessages_per_second = 1\nburst = 5\n"));

  SECTION("five malformed frames use up the burst: the next valid frame is rate_limited") {
    auto a = join(c, 0, "alice");
    for (int i = 0; i < 5; ++i) a->send_text("not json " + std::to_string(i));
    for (int i = 0; i < 5; ++i) expect_error(*a, "bad_json", std::nullopt);
    a->send_json({{"type", "ping"}, {"id", "p1"}});
    expect_error(*a, "rate_limited", std::string("p1"));
    // an over-the-limit frame that is also malformed is answered rate_limited (with its id when it
    // has one) and is not processed
    a->send_json({{"type", "nope"}, {"id", "u1"}});
    expect_error(*a, "rate_limited", std::string("u1"));
    CHECK_FALSE(a->closed());
  }

  SECTION("a client that keeps sending malformed frames is closed while others carry on") {
    auto a = join(c, 0, "alice");
    auto b = join(c, 0, "bob");
    constexpr int kFrames = 40;  // 5 answered bad_json, then more than 5 refusals in a row
    for (int i = 0; i < kFrames; ++i) a->send_text("{\"type\":");
    auto close = a->expect_close();
    REQUIRE(close.has_value());
    INFO("close " << close->code << " '" << close->reason << "'");
    CHECK(close->code == 1008);
    CHECK(close->reason == "rate");
    int bad_json = 0, limited = 0;
    while (auto f = a->next(0ms)) {
      INFO("frame: " << dump(*f));
      const auto code = str(*f, "code");
      CHECK((code == "bad_json" || code == "rate_limited"));
      CHECK((code != "bad_json" || limited == 0));  // every bad_json comes before the first refusal
      if (code == "bad_json") ++bad_json;
      if (code == "rate_limited") ++limited;
    }
    INFO("bad_json " << bad_json << ", rate_limited " << limited);
    CHECK(bad_json <= 5);
    CHECK(poll_until([&] { return health(c.ws_port(0)).sessions == 1; }, 3000ms));
    expect_alive(*b, "b-alive");
  }
}

namespace {

// `n` ping frames {"type":"ping","id":"<prefix><i>"} as one run of wire bytes.
std::string ping_frames(const std::string& prefix, int first, int n) {
  std::string out;
  for (int i = first; i < first + n; ++i)
    out += masked_frame(0x81, "{\"type\":\"ping\",\"id\":\"" + prefix + std::to_string(i) + "\"}");
  return out;
}

// Reads frames until one answers `ref` (pong or error), the connection closes or the deadline.
bool await_ref(WsClient& ws, const std::string& ref, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto f = ws.next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!f) return false;
    if (str(*f, "ref") == ref) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("rate limit at the default settings: a sustained flood is closed 1008 rate within seconds", "[integration]") {
  Cluster c(1);  // limits.messages_per_second 1000, limits.burst 5000
  auto a = join(c, 0, "alice");
  auto b = join(c, 0, "bob");
  // Batches of 500 frames, each sent once the previous batch was answered: far over 1000 frames/s
  // on loopback, and the answers never pile up in the node's send queue (that would close `slow`).
  constexpr int kBatch = 500;
  constexpr int kMaxBatches = 120;  // 60,000 frames: over 20 s of the limit
  const auto t0 = Clock::now();
  int sent = 0;
  for (int batch = 0; batch < kMaxBatches && !a->closed(); ++batch) {
    a->send_raw(ping_frames("p", sent, kBatch));
    sent += kBatch;
    if (!await_ref(*a, "p" + std::to_string(sent - 1), 5000ms)) break;
  }
  auto close = a->expect_close(10000ms);
  INFO("sent " << sent << " frames in " << ms_since(t0) << " ms");
  REQUIRE(close.has_value());
  INFO("close " << close->code << " '" << close->reason << "' after " << ms_since(t0) << " ms");
  CHECK(close->code == 1008);
  CHECK(close->reason == "rate");
  // 5000 served from the burst, then more than 5000 refusals: a few seconds at most
  CHECK(ms_since(t0) < 15000);
  CHECK(poll_until([&] { return health(c.ws_port(0)).sessions == 1; }, 3000ms));
  expect_alive(*b, "b-alive");
}

TEST_CASE("rate limit at the default settings: a client briefly over its burst is refused frame by frame, not closed",
          "[integration]") {
  Cluster c(1);
  auto a = join(c, 0, "alice");
  // 7000 frames at once: the burst (5000) is served, up to 2000 are refused, far from a close
  constexpr int kFrames = 7000;
  a->send_raw(ping_frames("p", 0, kFrames));
  int pongs = 0, limited = 0;
  for (int i = 0; i < kFrames; ++i) {
    auto f = a->next();
    REQUIRE(f.has_value());
    if (str(*f, "type") == "pong") ++pongs;
    else if (str(*f, "code") == "rate_limited") ++limited;
  }
  INFO("pongs " << pongs << ", rate_limited " << limited);
  CHECK(pongs >= 5000);
  CHECK(pongs + limited == kFrames);
  CHECK_FALSE(a->closed());
  // still served once a token is back (one per millisecond): bounded retries
  bool alive = false;
  for (int i = 0; i < 40 && !alive; ++i) {
    a->send_json({{"type", "ping"}, {"id", "again" + std::to_string(i)}});
    auto f = a->next();
    REQUIRE(f.has_value());
    alive = str(*f, "type") == "pong";
    if (!alive) a->next(50ms);  // paces the retries (nothing else arrives: a timeout is expected)
  }
  CHECK(alive);
  CHECK_FALSE(a->closed());
}

TEST_CASE("rate limit at the default settings: a flood of WebSocket pings costs tokens and is closed 1008 rate",
          "[integration]") {
  Cluster c(1);
  auto a = join(c, 0, "alice");
  auto b = join(c, 0, "bob");
  // Control pings (opcode 9: Beast answers each with a pong the harness does not surface), each
  // batch followed by a text ping whose answer paces the next batch.
  constexpr int kBatch = 1000;
  constexpr int kMaxBatches = 60;  // 60,000 pings
  const std::string ping = masked_frame(0x89, "x");
  std::string batch_bytes;
  for (int i = 0; i < kBatch; ++i) batch_bytes += ping;
  const auto t0 = Clock::now();
  int batches = 0;
  for (; batches < kMaxBatches && !a->closed(); ++batches) {
    a->send_raw(batch_bytes + masked_frame(0x81, "{\"type\":\"ping\",\"id\":\"b" + std::to_string(batches) + "\"}"));
    if (!await_ref(*a, "b" + std::to_string(batches), 5000ms)) break;
  }
  auto close = a->expect_close(10000ms);
  INFO("sent " << batches << " batches of " << kBatch << " pings in " << ms_since(t0) << " ms");
  REQUIRE(close.has_value());
  INFO("close " << close->code << " '" << close->reason << "'");
  CHECK(close->code == 1008);
  CHECK(close->reason == "rate");
  CHECK(ms_since(t0) < 15000);
  expect_alive(*b, "b-alive");
}

TEST_CASE("byte budget at the default settings: endless empty continuation frames are closed 1008 rate",
          "[integration]") {
  // Beast skips empty non-final frames inside its read loop: no token is charged for them. The
  // transport byte budget (2 x limits.max_message_bytes + 64 KiB without a complete message, here
  // 192 KiB: about 33,000 such frames of 6 bytes) is what closes the client.
  Cluster c(1);
  auto a = join(c, 0, "alice");
  auto b = join(c, 0, "bob");
  constexpr int kBatch = 5000;
  constexpr int kMaxFrames = 2'000'000;
  const std::string empty = masked_frame(0x00, "");  // continuation, no FIN, no payload
  std::string batch_bytes;
  for (int i = 0; i < kBatch; ++i) batch_bytes += empty;
  const auto t0 = Clock::now();
  const auto deadline = t0 + 15000ms;
  a->send_raw(masked_frame(0x01, "{\"type\":"));  // a text message begun, never finished
  int sent = 0;
  while (sent < kMaxFrames && Clock::now() < deadline && !a->closed()) {
    a->send_raw(batch_bytes);
    sent += kBatch;
    std::this_thread::sleep_for(2ms);  // paces the client's queue: the node reads as fast as it can
  }
  auto close = a->expect_close(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(deadline - Clock::now(), Clock::duration(0)) + 1000ms));
  INFO("sent " << sent << " empty fragments in " << ms_since(t0) << " ms");
  REQUIRE(close.has_value());
  INFO("close " << close->code << " '" << close->reason << "' after " << ms_since(t0) << " ms");
  CHECK(close->code == 1008);
  CHECK(close->reason == "rate");
  CHECK(ms_since(t0) < 15000);
  CHECK(poll_until([&] { return health(c.ws_port(0)).sessions == 1; }, 5000ms));
  expect_alive(*b, "b-alive");
}
