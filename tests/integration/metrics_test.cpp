// Metrics and health (docs/operations.md): the node's /metrics moves by exactly the
// traffic sent, the master's metrics.listen serves /metrics and /healthz, and logs in JSON are one
// object per line with nothing per message at info level.
#include "cluster_ops.h"
#include "tls_client.h"

#include <map>

using namespace wsg::it;

namespace {

using Series = std::map<std::string, double>;  // `name{labels}` -> value

// GET /metrics, required to answer 200 in the Prometheus text format; every sample line parsed.
Series scrape(uint16_t port) {
  auto r = http_get(port, "/metrics");
  INFO("GET /metrics on port " << port << ": " << r.status << " " << r.error);
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  Series out;
  std::size_t start = 0;
  while (start < r.body.size()) {
    auto end = r.body.find('\n', start);
    if (end == std::string::npos) end = r.body.size();
    const std::string line = r.body.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    INFO("line: " << line);
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double get(const Series& s, const std::string& key) {
  auto it = s.find(key);
  INFO("series " << key);
  REQUIRE(it != s.end());
  return it->second;
}

// wsg_build_info{build_type=...,commit=...,role=ROLE,version=...} (labels in name order): its value,
// -1 when missing or when a label is missing or empty.
double build_info(const Series& s, const std::string& role) {
  const std::string prefix = "wsg_build_info{build_type=\"";
  for (auto it = s.lower_bound(prefix); it != s.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    const std::string& key = it->first;
    if (key.find("\",role=\"" + role + "\",version=\"") == std::string::npos) continue;
    if (key.find("build_type=\"\"") != std::string::npos || key.find(",commit=\"") == std::string::npos ||
        key.find(",commit=\"\"") != std::string::npos || key.find(",version=\"\"") != std::string::npos)
      return -1;
    return it->second;
  }
  return -1;
}

// after - before, for one series.
double delta(const Series& after, const Series& before, const std::string& key) {
  return get(after, key) - get(before, key);
}

}  // namespace

TEST_CASE("node metrics: counters move by exactly the traffic sent", "[integration][metrics]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto carol = join(c, 0, "carol");
  auto bob = join(c, 1, "bob");
  const Series before1 = scrape(c.ws_port(0));
  const Series before2 = scrape(c.ws_port(1));
  CHECK(get(before1, "wsg_ready") == 1);
  CHECK(get(before1, "wsg_sessions") == 2);
  CHECK(get(before1, "wsg_users") == 2);
  CHECK(get(before1, "wsg_connections") == 2);
  CHECK(get(before2, "wsg_sessions") == 1);
  CHECK(build_info(before1, "node") == 1);

  // local: delivered here (then a lookup for the user's other nodes: a cache miss)
  alice->send_json(send_frame("carol", 1, "l1"));
  expect_ack(*alice, "l1", "delivered");
  expect_frame(*carol, "message");
  // remote: a miss and a lookup, then a DELIVER to node-2
  alice->send_json(send_frame("bob", 2, "r1"));
  expect_ack(*alice, "r1", "delivered");
  expect_frame(*bob, "message");
  // remote again: a cache hit
  alice->send_json(send_frame("bob", 3, "r2"));
  expect_ack(*alice, "r2", "delivered");
  expect_frame(*bob, "message");
  // nobody: a miss, a lookup, offline
  alice->send_json(send_frame("nobody", 4, "o1"));
  expect_ack(*alice, "o1", "offline");
  // refused frames: error frames by code, never routed
  alice->send_text("{not json");
  expect_error(*alice, "bad_json", std::nullopt);
  alice->send_json({{"type", "dance"}, {"id", "u1"}});
  expect_error(*alice, "unknown_type", std::string("u1"));

  const Series after1 = scrape(c.ws_port(0));
  const Series after2 = scrape(c.ws_port(1));
  CHECK(delta(after1, before1, "wsg_messages_accepted_total") == 4);
  CHECK(delta(after1, before1, "wsg_messages_total{path=\"local\"}") == 1);
  CHECK(delta(after1, before1, "wsg_messages_total{path=\"remote\"}") == 2);
  CHECK(delta(after1, before1, "wsg_messages_total{path=\"bounced\"}") == 0);
  CHECK(delta(after1, before1, "wsg_acks_total{status=\"delivered\"}") == 3);
  CHECK(delta(after1, before1, "wsg_acks_total{status=\"offline\"}") == 1);
  CHECK(delta(after1, before1, "wsg_acks_total{status=\"failed\"}") == 0);
  CHECK(delta(after1, before1, "wsg_errors_total{code=\"bad_json\"}") == 1);
  CHECK(delta(after1, before1, "wsg_errors_total{code=\"unknown_type\"}") == 1);
  CHECK(delta(after1, before1, "wsg_errors_total{code=\"bad_request\"}") == 0);
  CHECK(delta(after1, before1, "wsg_route_cache_misses_total") == 3);
  CHECK(delta(after1, before1, "wsg_route_cache_hits_total") == 1);
  CHECK(delta(after1, before1, "wsg_master_lookups_total") == 3);
  CHECK(delta(after1, before1, "wsg_master_lookup_latency_seconds_count") == 3);
  CHECK(delta(after1, before1, "wsg_master_lookup_latency_seconds_bucket{le=\"+Inf\"}") == 3);
  CHECK(delta(after1, before1, "wsg_master_lookup_latency_seconds_sum") > 0);
  CHECK(delta(after1, before1, "wsg_delivery_latency_seconds_count{path=\"local\"}") == 1);
  CHECK(delta(after1, before1, "wsg_delivery_latency_seconds_count{path=\"remote\"}") == 2);
  CHECK(get(after1, "wsg_route_cache_entries") >= 2);  // carol and bob (an offline user is never cached)
  CHECK(get(after1, "wsg_deliveries_in_flight") == 0);
  CHECK(get(after1, "wsg_send_queue_bytes") >= 0);
  CHECK(get(after1, "wsg_zmq_dropped_total{reason=\"queue_full\"}") == 0);
  CHECK(get(after1, "wsg_zmq_dropped_total{reason=\"hwm\"}") == 0);
  CHECK(get(after1, "wsg_cluster_malformed_messages_total") == 0);
  // node-2 took the two remote ones
  CHECK(delta(after2, before2, "wsg_deliveries_received_total{result=\"delivered\"}") == 2);
  CHECK(delta(after2, before2, "wsg_deliveries_received_total{result=\"not_here\"}") == 0);
  CHECK(delta(after2, before2, "wsg_messages_accepted_total") == 0);
}

TEST_CASE("node metrics: sessions opened and closed by reason", "[integration][metrics]") {
  Cluster c(1);
  const uint16_t port = c.ws_port(0);
  const Series before = scrape(port);
  {
    auto a = join(c, 0, "polite");
    auto b = join(c, 0, "rude");
    auto d = join(c, 0, "binary");
    auto e = join(c, 0, "huge");
    CHECK(get(scrape(port), "wsg_sessions") == 4);
    a->close();
    b->drop();
    d->send_binary("\x01\x02");
    expect_error(*d, "binary_unsupported", std::nullopt);
    auto cd = d->expect_close();
    REQUIRE(cd.has_value());
    CHECK(cd->code == 1003);
    e->send_text_raw(std::string(70 * 1024, ' '));
    auto ce = e->expect_close();
    REQUIRE(ce.has_value());
    CHECK(ce->code == 1009);
  }
  Series after;
  const bool settled = poll_until(
      [&] {
        after = scrape(port);
        return get(after, "wsg_sessions") == 0 &&
               delta(after, before, "wsg_sessions_closed_total{reason=\"too_large\"}") == 1 &&
               delta(after, before, "wsg_sessions_closed_total{reason=\"client\"}") == 1 &&
               delta(after, before, "wsg_sessions_closed_total{reason=\"lost\"}") == 1 &&
               delta(after, before, "wsg_sessions_closed_total{reason=\"binary\"}") == 1;
      },
      5000ms);
  INFO("client " << delta(after, before, "wsg_sessions_closed_total{reason=\"client\"}") << ", lost "
                 << delta(after, before, "wsg_sessions_closed_total{reason=\"lost\"}") << ", binary "
                 << delta(after, before, "wsg_sessions_closed_total{reason=\"binary\"}") << ", too_large "
                 << delta(after, before, "wsg_sessions_closed_total{reason=\"too_large\"}") << ", error "
                 << delta(after, before, "wsg_sessions_closed_total{reason=\"error\"}") << ", sessions "
                 << get(after, "wsg_sessions"));
  CHECK(settled);
  CHECK(delta(after, before, "wsg_sessions_opened_total") == 4);
  CHECK(delta(after, before, "wsg_sessions_closed_total{reason=\"error\"}") == 0);
  CHECK(delta(after, before, "wsg_sessions_closed_total{reason=\"slow\"}") == 0);
  CHECK(delta(after, before, "wsg_errors_total{code=\"binary_unsupported\"}") == 1);
  CHECK(get(after, "wsg_connections") == 0);
  CHECK(get(after, "wsg_users") == 0);
}

TEST_CASE("node metrics: a TLS node serves /metrics over https", "[integration][metrics]") {
  const auto files = tls::make_self_signed(test_dir(), "metrics-node");
  const tls::ClientOptions opt{files.cert};
  Cluster c(1);
  const auto config = ops::write_file(
      "tls-metrics.toml", "[tls]\ncert = \"" + files.cert.string() + "\"\nkey = \"" + files.key.string() + "\"\n");
  auto n = ops::start_node(c, "tls-metrics", {"--config", config.string()});
  HttpResponse r;
  const bool answered = poll_until(
      [&] {
        if (!n.process->running()) return true;
        r = tls::https_get(n.ws_port, "/metrics", opt, 1000ms);
        return r.status == 200;
      },
      kStartTimeout);
  INFO("https /metrics: " << r.status << " " << r.error);
  REQUIRE(n.process->running());
  REQUIRE(answered);
  CHECK(r.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(r.body.find("\nwsg_sessions 0\n") != std::string::npos);
  CHECK(r.body.find("# TYPE wsg_delivery_latency_seconds histogram\n") != std::string::npos);
}

TEST_CASE("node metrics: /metrics is served before static files", "[integration][metrics]") {
  const auto dir = test_dir() / "site";
  std::filesystem::create_directories(dir);
  ops::write_file("site/metrics", "a static file called metrics\n");
  ops::write_file("site/index.html", "<!doctype html><title>x</title>\n");
  ClusterOptions o;
  o.nodes = 1;
  o.node_specs = {NodeSpec{"", {"--static-dir", dir.string()}}};
  Cluster c(o);
  auto r = http_get(c.ws_port(0), "/metrics");
  INFO("GET /metrics: " << r.status << " " << r.error);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("# TYPE wsg_sessions gauge\n") != std::string::npos);
  CHECK(r.body.find("a static file") == std::string::npos);
  CHECK(http_get(c.ws_port(0), "/").status == 200);  // static files still served
}

TEST_CASE("master metrics.listen serves /metrics and /healthz", "[integration][metrics]") {
  const uint16_t mport = free_port();
  ClusterOptions o;
  o.nodes = 2;
  o.master_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)};
  Cluster c(o);

  auto h = http_get(mport, "/healthz");
  INFO("GET /healthz: " << h.status << " " << h.error << " " << h.body);
  REQUIRE(h.status == 200);
  CHECK(h.headers["content-type"] == "application/json");
  auto doc = parse_object(h.body);
  CHECK(str(doc, "status") == "ok");
  CHECK(num(doc, "epoch") == master_count(c.status_json(), "epoch"));
  CHECK(http_get(mport, "/nope").status == 404);

  // both nodes said HELLO and are alive (the sample is at most one loop tick old: poll)
  Series before;
  CHECK(poll_until(
      [&] {
        before = scrape(mport);
        return get(before, "wsg_master_nodes{state=\"alive\"}") == 2;
      },
      3000ms));
  CHECK(get(before, "wsg_master_nodes{state=\"dead\"}") == 0);
  CHECK(get(before, "wsg_master_requests_total{type=\"hello\"}") >= 2);
  CHECK(build_info(before, "master") == 1);

  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  alice->send_json(send_frame("bob", 1, "r1"));
  expect_ack(*alice, "r1", "delivered");
  alice->send_json(send_frame("nobody", 2, "o1"));
  expect_ack(*alice, "o1", "offline");

  // Lookups: node-1 asks for bob (online) and for nobody (offline); node-2, receiving its first
  // DELIVER from node-1, asks where alice (the sender) is before it opens a socket to node-1 for
  // the receipt (only nodes the master vouches for get one: docs/security.md): online too.
  Series after;
  CHECK(poll_until(
      [&] {
        after = scrape(mport);
        return get(after, "wsg_master_sessions") == 2 &&
               delta(after, before, "wsg_master_lookups_total{result=\"online\"}") == 2 &&
               delta(after, before, "wsg_master_lookups_total{result=\"offline\"}") == 1;
      },
      3000ms));
  CHECK(get(after, "wsg_master_users") == 2);
  CHECK(delta(after, before, "wsg_master_requests_total{type=\"lookup\"}") == 3);
  CHECK(delta(after, before, "wsg_master_requests_total{type=\"register\"}") >= 2);
  CHECK(get(after, "wsg_master_refused_connections_total") == 0);
  CHECK(get(after, "wsg_master_malformed_messages_total") == 0);
  auto h2 = parse_object(http_get(mport, "/healthz").body);
  CHECK(num(h2, "nodes_alive") == 2);
  CHECK(num(h2, "sessions") == 2);
}

TEST_CASE("master metrics.listen on a busy port: the master exits 1 naming it", "[integration][metrics]") {
  Cluster c(1);  // its node holds a port
  const std::string busy = "127.0.0.1:" + std::to_string(c.ws_port(0));
  auto r = run_command(wsg_binary(),
                       {"master", "--bind", "tcp://127.0.0.1:" + std::to_string(free_port()), "--metrics-listen", busy},
                       5000ms);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 1);
  CHECK(r.err.find(busy) != std::string::npos);
}

TEST_CASE("json logs: one object per line from named loggers, nothing per message at info", "[integration][metrics]") {
  const auto config = ops::write_file("json-log.toml", "[log]\nformat = \"json\"\n");
  ClusterOptions o;
  o.nodes = 2;
  o.log_level = "info";
  o.master_args = {"--config", config.string()};
  o.node_specs = {NodeSpec{"", {"--config", config.string()}}, NodeSpec{"", {"--config", config.string()}}};
  Cluster c(o);
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");

  auto info_lines = [](const std::filesystem::path& log) {
    int n = 0;
    for (const auto& line : ops::own_log_lines(log)) {
      if (line.find("\"level\":\"debug\"") == std::string::npos &&
          line.find("\"level\":\"trace\"") == std::string::npos)
        ++n;
    }
    return n;
  };
  const int before1 = info_lines(c.node(0).process->log());
  const int before2 = info_lines(c.node(1).process->log());
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    alice->send_json(send_frame(i % 2 ? "bob" : "alice", i, "m" + std::to_string(i)));
    alice->send_text("{oops");
  }
  int acks = 0;
  while (acks < kMessages) {
    auto f = alice->next();
    REQUIRE(f.has_value());
    if (str(*f, "type") == "ack") ++acks;
  }
  // what the processes wrote at info or above did not grow with the traffic
  CHECK(info_lines(c.node(0).process->log()) - before1 < 5);
  CHECK(info_lines(c.node(1).process->log()) - before2 < 5);

  std::set<std::string> loggers;
  for (const auto* log : {&c.master().log(), &c.node(0).process->log(), &c.node(1).process->log()}) {
    const auto lines = ops::own_log_lines(*log);
    CHECK(!lines.empty());
    for (const auto& line : lines) {
      INFO(log->string() << ": " << line);
      auto o = parse_object(line);  // throws on anything but one JSON object
      CHECK(!str(o, "ts").empty());
      CHECK(!str(o, "level").empty());
      CHECK(!str(o, "msg").empty());
      CHECK(!str(o, "logger").empty());
      loggers.insert(str(o, "logger"));
    }
  }
  CHECK(loggers.count("master") == 1);
  CHECK(loggers.count("node") == 1);
  CHECK(loggers.count("router") == 1);
}
