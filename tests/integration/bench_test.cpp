// The load generator wsg-bench (bench/load, docs/load-generator.md) against a real master and two
// nodes: each scenario runs briefly and its JSON report must be well formed, complete and sane.
// No assertion on performance: only on counts and on the order of the percentiles.
#include "cluster_ops.h"
#include "test_util.h"

#include <algorithm>
#include <string>
#include <vector>

#ifndef WSG_BENCH_BINARY
#error "WSG_BENCH_BINARY must be defined to the path of the wsg-bench executable"
#endif

using namespace wsg::it;

namespace {

// Nodes without the per-session rate limit: a closed loop on loopback sends more than its default
// 1000 messages/s per sender.
ClusterOptions bench_cluster() {
  const auto config = ops::write_file("node-bench.toml", "[limits]\nmessages_per_second = 0\n");
  ClusterOptions o;
  o.nodes = 2;
  o.log_level = "info";
  for (int i = 1; i <= 2; ++i)
    o.node_specs.push_back(NodeSpec{"node-" + std::to_string(i), {"--config", config.string()}});
  return o;
}

std::string ws_url(Cluster& c, std::size_t i) { return "ws://127.0.0.1:" + std::to_string(c.ws_port(i)) + "/ws"; }

struct BenchRun {
  int exit_code = -1;
  json::object report;
  std::string err;
};

// Runs wsg-bench with `args` and --json - (the report on stdout, the summary on stderr); a
// --timeout of 60 s unless `args` has one.
BenchRun run_bench(std::vector<std::string> args) {
  args.push_back("--json");
  args.push_back("-");
  if (std::find(args.begin(), args.end(), "--timeout") == args.end()) {
    args.push_back("--timeout");
    args.push_back("60");
  }
  auto r = run_command(WSG_BENCH_BINARY, args, 90s);
  INFO("wsg-bench stderr:\n" << r.err << "\nstdout:\n" << r.out);
  REQUIRE(r.exit_code.has_value());
  CHECK(r.err.find("AddressSanitizer") == std::string::npos);
  CHECK(r.err.find("LeakSanitizer") == std::string::npos);
  CHECK(r.err.find("runtime error:") == std::string::npos);
  BenchRun b;
  b.exit_code = *r.exit_code;
  b.err = r.err;
  REQUIRE_NOTHROW(b.report = parse_object(r.out));
  return b;
}

const json::object& obj(const json::object& o, const char* key) {
  INFO("key " << key);
  REQUIRE(o.contains(key));
  REQUIRE(o.at(key).is_object());
  return o.at(key).as_object();
}

double number(const json::object& o, const char* key) {
  INFO("key " << key << " in " << dump(o));
  REQUIRE(o.contains(key));
  REQUIRE(o.at(key).is_number());
  return o.at(key).to_number<double>();
}

// latency_us-style statistics: every key, ordered percentiles.
void check_latency(const json::object& l, double count) {
  INFO("latency: " << dump(l));
  CHECK(number(l, "count") == count);
  const double p50 = number(l, "p50"), p99 = number(l, "p99"), p999 = number(l, "p999"), max = number(l, "max");
  const double mean = number(l, "mean");
  CHECK(p50 > 0);
  CHECK(p50 <= p99);
  CHECK(p99 <= p999);
  CHECK(p999 <= max);
  CHECK(mean > 0);
  CHECK(mean <= max);
}

// The keys every report has, whatever the scenario.
void check_common(const json::object& r, const std::string& scenario, const std::string& mode) {
  INFO("report: " << dump(r));
  CHECK(str(r, "tool") == "wsg-bench");
  CHECK(number(r, "version") == 1);
  CHECK(str(r, "scenario") == scenario);
  CHECK(str(r, "mode") == mode);
  const auto& options = obj(r, "options");
  for (const char* key : {"ws",           "sessions",   "pairs",       "rate",        "window",  "duration",   "warmup",
                          "max_messages", "body_bytes", "ack",         "concurrency", "hold",    "source_ips", "procs",
                          "threads",      "pid",        "user_prefix", "json",        "timeout", "floor"})
    CHECK(options.contains(key));
  CHECK(str(r, "started_at").size() >= 20);
  CHECK(str(r, "started_at").back() == 'Z');
  CHECK(number(r, "window_s") >= 0);
  CHECK(number(r, "processes") >= 1);
  const auto& sessions = obj(r, "sessions");
  CHECK(number(sessions, "failed") == 0);
  const auto& messages = obj(r, "messages");
  for (const char* key : {"sent", "delivered", "lost", "duplicates", "out_of_order", "errors"}) number(messages, key);
  const auto& acks = obj(messages, "acks");
  for (const char* key : {"delivered", "offline", "failed"}) number(acks, key);
  number(r, "throughput_msgs_per_s");
  const auto& latency = obj(r, "latency_us");
  for (const char* key : {"count", "p50", "p99", "p999", "max", "mean"}) CHECK(latency.contains(key));
  REQUIRE(r.contains("servers"));
  REQUIRE(r.at("servers").is_array());
  REQUIRE(r.contains("server_cpu_us_per_msg"));
  REQUIRE(r.contains("ok"));
  REQUIRE(r.contains("problems"));
  REQUIRE(r.at("problems").is_array());
  CHECK(r.at("problems").as_array().empty());
  CHECK(r.at("ok") == json::value(true));
}

// A messaging run: everything sent in the window delivered once, in order.
void check_messages(const json::object& r, bool ack) {
  INFO("report: " << dump(r));
  const auto& m = obj(r, "messages");
  const double delivered = number(m, "delivered");
  CHECK(delivered > 0);
  CHECK(number(m, "sent") == delivered);
  CHECK(number(m, "lost") == 0);
  CHECK(number(m, "duplicates") == 0);
  CHECK(number(m, "out_of_order") == 0);
  CHECK(number(m, "errors") == 0);
  const auto& acks = obj(m, "acks");
  CHECK(number(acks, "delivered") == (ack ? delivered : 0));
  CHECK(number(acks, "offline") == 0);
  CHECK(number(acks, "failed") == 0);
  CHECK(number(r, "throughput_msgs_per_s") > 0);
  check_latency(obj(r, "latency_us"), delivered);
}

// Every session the bench opened is gone from the cluster again (it closed them all).
void check_sessions_closed(Cluster& c) {
  json::object last;
  const bool zero = poll_until(
      [&] {
        last = c.status_json();
        return master_count(last, "sessions") == 0;
      },
      5000ms);
  INFO("status: " << dump(last));
  CHECK(zero);
}

// A room run: every publish of the window reached every other member of its room once, in order,
// and was acked delivered.
void check_room(const json::object& r, double members, double room_size) {
  INFO("report: " << dump(r));
  const auto& room = obj(r, "room");
  CHECK(number(room, "members") == members);
  CHECK(number(room, "joined") == members);
  CHECK(obj(room, "join_failures").empty());
  const auto& m = obj(r, "messages");
  const double publishes = number(m, "sent");
  CHECK(publishes > 0);
  CHECK(number(room, "publishes") == publishes);
  CHECK(number(room, "deliveries_expected") == publishes * (room_size - 1));
  const double delivered = number(m, "delivered");
  CHECK(delivered == publishes * (room_size - 1));
  CHECK(number(room, "deliveries") == delivered);
  CHECK(number(m, "lost") == 0);
  CHECK(number(m, "duplicates") == 0);
  CHECK(number(m, "out_of_order") == 0);
  CHECK(number(m, "errors") == 0);
  CHECK(number(room, "refused") == 0);
  const auto& acks = obj(room, "acks");
  CHECK(number(acks, "delivered") == publishes);
  CHECK(number(acks, "no_members") == 0);
  CHECK(number(acks, "failed") == 0);
  CHECK(number(acks, "missing") == 0);
  CHECK(number(room, "publishes_per_s") > 0);
  CHECK(number(room, "deliveries_per_s") > 0);
  check_latency(obj(r, "latency_us"), delivered);
  const auto& l = obj(r, "latency_us");
  CHECK(number(l, "p50") <= number(l, "p90"));
  CHECK(number(l, "p90") <= number(l, "p99"));
}

}  // namespace

TEST_CASE("wsg-bench remote closed loop: every message delivered once, in order, with server CPU",
          "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b = run_bench({"remote", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--pairs", "4", "--duration", "1",
                            "--warmup", "0.5", "--pid", "node-1=" + std::to_string(c.node(0).process->pid()), "--pid",
                            "node-2=" + std::to_string(c.node(1).process->pid())});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "remote", "closed");
  check_messages(b.report, false);
  CHECK(number(obj(b.report, "sessions"), "opened") == 8);
  CHECK(number(b.report, "window_s") == Approx(1.0).margin(0.01));
  CHECK(number(b.report, "processes") == 1);
  const auto& servers = b.report.at("servers").as_array();
  REQUIRE(servers.size() == 2);
  for (const auto& s : servers) {
    const auto& o = s.as_object();
    CHECK(number(o, "cpu_s") >= 0);
    CHECK(number(o, "rss_start_kib") > 0);
    CHECK(number(o, "rss_end_kib") > 0);
  }
  CHECK(number(b.report, "server_cpu_us_per_msg") >= 0);
  check_sessions_closed(c);
}

TEST_CASE("wsg-bench remote open loop with acks: scheduled sends, every ack delivered", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b = run_bench({"remote", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--pairs", "4", "--rate", "200",
                            "--ack", "--duration", "1", "--warmup", "0.5"});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "remote", "open");
  check_messages(b.report, true);
  // 200/s over a 1 s window: the schedule fixes the count (give or take the window's edges).
  CHECK(number(obj(b.report, "messages"), "sent") == Approx(200).margin(2));
  CHECK(b.report.at("server_cpu_us_per_msg").is_null());  // no --pid
  // How late the sends left against their schedule: one entry per message sent in the window.
  const auto& lag = obj(b.report, "send_lag_us");
  CHECK(number(lag, "count") == number(obj(b.report, "messages"), "sent"));
  CHECK(number(lag, "max") >= 0);
}

TEST_CASE("wsg-bench local closed loop with a window and a message bound", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b =
      run_bench({"local", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--pairs", "4", "--window", "4", "--threads", "2",
                 "--max-messages", "400", "--duration", "5", "--warmup", "0.2", "--body-bytes", "512"});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "local", "closed");
  check_messages(b.report, false);
  CHECK(number(obj(b.report, "messages"), "sent") == 400);
  CHECK(number(b.report, "window_s") <= 5.0);
}

TEST_CASE("wsg-bench idle: sessions held, node RSS sampled, all closed afterwards", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b = run_bench({"idle", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--sessions", "50", "--hold", "0.2",
                            "--pid", "node-1=" + std::to_string(c.node(0).process->pid())});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "idle", "idle");
  CHECK(number(obj(b.report, "sessions"), "opened") == 50);
  const auto& idle = obj(b.report, "idle");
  CHECK(number(idle, "sessions") == 50);
  CHECK(number(idle, "kib_per_session") > 0);
  CHECK(number(idle, "rss_delta_kib") > 0);
  const auto& servers = b.report.at("servers").as_array();
  REQUIRE(servers.size() == 1);
  CHECK(str(servers[0].as_object(), "name") == "node-1");
  CHECK(number(servers[0].as_object(), "rss_end_kib") > number(servers[0].as_object(), "rss_start_kib"));
  check_sessions_closed(c);
}

TEST_CASE("wsg-bench storm: every session connected, welcomed and closed", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b =
      run_bench({"storm", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--sessions", "200", "--concurrency", "20"});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "storm", "storm");
  const auto& storm = obj(b.report, "storm");
  CHECK(number(storm, "welcomed") == 200);
  CHECK(number(storm, "sessions_per_s") > 0);
  check_latency(obj(storm, "connect_latency_us"), 200);
  CHECK(number(b.report, "window_s") > 0);
  check_sessions_closed(c);
}

TEST_CASE("wsg-bench with two worker processes merges their reports", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto b = run_bench({"remote", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--pairs", "6", "--procs", "2",
                            "--duration", "1", "--warmup", "0.3", "--source-ips", "127.0.0.1-127.0.0.3"});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "remote", "closed");
  check_messages(b.report, false);
  CHECK(number(b.report, "processes") == 2);
  CHECK(number(obj(b.report, "sessions"), "opened") == 12);
  check_sessions_closed(c);
}

TEST_CASE("wsg-bench room: every publish reaches the other members of its room on both nodes", "[integration][bench]") {
  Cluster c(bench_cluster());
  // Closed loop: 2 rooms of 6 members over the two nodes, 2 publishers each, server CPU.
  const auto b = run_bench({"room", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--members", "12", "--publishers", "4",
                            "--rooms", "2", "--duration", "1", "--warmup", "0.5", "--pid",
                            "node-1=" + std::to_string(c.node(0).process->pid()), "--pid",
                            "node-2=" + std::to_string(c.node(1).process->pid())});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 0);
  check_common(b.report, "room", "closed");
  check_room(b.report, 12, 6);
  CHECK(number(obj(b.report, "sessions"), "opened") == 12);
  CHECK(number(b.report, "window_s") == Approx(1.0).margin(0.01));
  CHECK(number(obj(b.report, "room"), "cpu_us_per_delivery") >= 0);
  CHECK(number(b.report, "server_cpu_us_per_msg") >= 0);
  check_sessions_closed(c);

  // Open loop, one room of 10 split over two worker processes: 100 publishes/s for 1 s.
  const auto o = run_bench({"room", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--members", "10", "--publishers", "2",
                            "--rate", "100", "--procs", "2", "--duration", "1", "--warmup", "0.3"});
  INFO("summary:\n" << o.err);
  CHECK(o.exit_code == 0);
  check_common(o.report, "room", "open");
  check_room(o.report, 10, 10);
  CHECK(number(o.report, "processes") == 2);
  CHECK(number(obj(o.report, "messages"), "sent") == Approx(100).margin(2));
  CHECK(number(obj(o.report, "send_lag_us"), "count") == number(obj(o.report, "messages"), "sent"));
  check_sessions_closed(c);
}

TEST_CASE("wsg-bench reports a run it could not do, and refuses bad options", "[integration][bench]") {
  const uint16_t nobody = free_port();
  const auto b = run_bench({"local", "--ws", "ws://127.0.0.1:" + std::to_string(nobody) + "/ws", "--pairs", "2",
                            "--duration", "1", "--warmup", "0"});
  CHECK(b.exit_code == 1);
  INFO("report: " << dump(b.report));
  CHECK(b.report.at("ok") == json::value(false));
  CHECK(number(obj(b.report, "sessions"), "failed") == 4);
  CHECK(number(obj(obj(b.report, "sessions"), "failures"), "connect") == 4);
  CHECK_FALSE(b.report.at("problems").as_array().empty());

  auto bad = run_command(WSG_BENCH_BINARY, {"remote", "--ws", "ws://127.0.0.1:1/ws"}, 10s);
  REQUIRE(bad.exit_code.has_value());
  CHECK(*bad.exit_code == 2);
  CHECK(bad.err.find("two") != std::string::npos);
}

TEST_CASE("wsg-bench cut short by --timeout still closes its sessions and reports", "[integration][bench]") {
  Cluster c(bench_cluster());
  const auto started = Clock::now();
  const auto b = run_bench({"remote", "--ws", ws_url(c, 0), "--ws", ws_url(c, 1), "--pairs", "2", "--procs", "2",
                            "--duration", "30", "--warmup", "0", "--timeout", "2"});
  INFO("summary:\n" << b.err);
  CHECK(b.exit_code == 1);
  CHECK(b.report.at("ok") == json::value(false));
  std::string problems = dump(b.report.at("problems"));
  CHECK(problems.find("timeout") != std::string::npos);
  // The window ended at the cut, not at the 30 s it was scheduled for.
  CHECK(number(b.report, "window_s") < 30);
  CHECK(number(obj(b.report, "messages"), "delivered") > 0);
  // Bounded: well before the 30 s duration (the sessions' close is bounded too).
  CHECK(Clock::now() - started < 25s);
  check_sessions_closed(c);
}

#ifdef WSG_MASTER_BENCH_BINARY
TEST_CASE("wsg-master-bench registers, looks up and leaves through a real master", "[integration][bench]") {
  Cluster c(bench_cluster());
  auto r = run_command(WSG_MASTER_BENCH_BINARY, {"--master",        c.master_addr(),
                                                 "--pid",           std::to_string(c.master().pid()),
                                                 "--nodes",         "3",
                                                 "--sessions",      "5000",
                                                 "--batch",         "500",
                                                 "--lookups",       "4000",
                                                 "--lookup-window", "64",
                                                 "--prefix",        "mbt-",
                                                 "--json",          "-",
                                                 "--timeout",       "60"},
                       90s);
  INFO("wsg-master-bench stderr:\n" << r.err << "\nstdout:\n" << r.out);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 0);
  json::object report;
  REQUIRE_NOTHROW(report = parse_object(r.out));
  CHECK(report.at("ok").as_bool());
  const auto& reg = obj(report, "register");
  CHECK(number(reg, "sessions") == 5000);
  CHECK(number(reg, "per_second") > 0);
  CHECK(number(reg, "master_rss_kib_after") > 0);
  const auto& lookup = obj(report, "lookup");
  CHECK(number(lookup, "lookups") == 4000);
  CHECK(number(lookup, "wrong_answers") == 0);
  const auto& lat = obj(lookup, "latency_us");
  CHECK(number(lat, "p50") <= number(lat, "p99"));
  CHECK(number(obj(report, "status"), "json_bytes") > 0);
  // Every synthetic node said LEAVE: the master holds none of their sessions any more, and the
  // two real nodes are still there and alive.
  const auto status = c.status_json();
  CHECK(num(status.at("master").as_object(), "sessions") == 0);
  int alive = 0;
  for (const auto& n : status.at("nodes").as_array()) {
    if (n.as_object().at("alive").as_bool()) ++alive;
  }
  CHECK(alive == 2);
}
#endif
