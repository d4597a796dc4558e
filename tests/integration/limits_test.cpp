// Limits a node enforces on its public port (SPEC §2 "Connecting", §2 errors, §5 limits.*): the
// Origin check and the per-session token bucket. (limits.max_connections → 503 is in
// failure_test.cpp; oversize and binary frames in errors_test.cpp.)
#include "cluster_ops.h"
#include "test_util.h"

#include <string>
#include <vector>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

// A cluster of `nodes` nodes, each started with `--config FILE` holding `toml`.
ClusterOptions config_cluster(int nodes, const std::string& name, const std::string& toml) {
  const auto config = write_file(name, toml);
  ClusterOptions o;
  o.nodes = nodes;
  for (int i = 0; i < nodes; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  return o;
}

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

TEST_CASE("rate limit: frames past the burst get rate_limited with their ref and a client far past it is closed 1008 rate",
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
