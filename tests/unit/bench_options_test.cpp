// wsg-bench's options (parsing, validation, effective values, worker arguments), /proc parsing
// and the report's fixed keys (bench/load).
#include <catch2/catch.hpp>

#include "options.h"
#include "procstat.h"
#include "report.h"

#include <boost/json.hpp>

#include <unistd.h>

#include <string>
#include <vector>

using namespace wsg::bench;
using Catch::Matchers::Contains;

namespace {

const std::vector<std::string> kTwo{"--ws", "ws://127.0.0.1:8081/ws", "--ws", "ws://127.0.0.1:8082/ws"};

std::vector<std::string> args(std::vector<std::string> a, bool two_urls = true) {
  if (two_urls) a.insert(a.end(), kTwo.begin(), kTwo.end());
  return a;
}

std::string usage_error(const std::vector<std::string>& a) {
  try {
    parse_options(a);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bench options: defaults", "[bench]") {
  const Options o = parse_options(args({"remote"}));
  CHECK(o.scenario == "remote");
  CHECK(o.urls.size() == 2);
  CHECK(o.pairs == 100);
  CHECK(o.rate == 0);
  CHECK(o.mode() == "closed");
  CHECK(o.window == 1);
  CHECK(o.duration == 10);
  CHECK(o.warmup == 2);
  CHECK(o.max_messages == 0);
  CHECK(o.body_bytes == 64);
  CHECK_FALSE(o.ack);
  CHECK(o.concurrency == 200);
  CHECK(o.hold == 2);
  CHECK(o.sources == std::vector<uint32_t>{0x7f000001});
  CHECK(o.procs == 1);
  CHECK(o.threads == 1);
  CHECK(o.timeout == 72);  // duration + warmup + 60
  CHECK(o.user_prefix.size() == 10);
  CHECK(o.user_prefix[0] == 'b');
  CHECK(o.user_prefix.back() == '-');
  CHECK_FALSE(o.floor);
  CHECK_FALSE(o.is_worker());
  // Two runs do not collide.
  CHECK(parse_options(args({"remote"})).user_prefix != o.user_prefix);
}

TEST_CASE("bench options: every option is parsed", "[bench]") {
  const Options o = parse_options(args({"local",
                                        "--sessions",
                                        "7",
                                        "--pairs",
                                        "3",
                                        "--rate",
                                        "250.5",
                                        "--window",
                                        "4",
                                        "--duration",
                                        "1.5",
                                        "--warmup",
                                        "0.5",
                                        "--max-messages",
                                        "1000",
                                        "--body-bytes",
                                        "200",
                                        "--ack",
                                        "--concurrency",
                                        "20",
                                        "--hold",
                                        "0",
                                        "--source-ips",
                                        "127.0.0.1-127.0.0.4",
                                        "--procs",
                                        "2",
                                        "--threads",
                                        "3",
                                        "--pid",
                                        "node-1=123",
                                        "--pid",
                                        "master=45",
                                        "--user-prefix",
                                        "x.y-",
                                        "--json",
                                        "-",
                                        "--timeout",
                                        "30"}));
  CHECK(o.scenario == "local");
  CHECK(o.sessions == 7);
  CHECK(o.pairs == 3);
  CHECK(o.rate == 250.5);
  CHECK(o.mode() == "open");
  CHECK(o.window == 4);
  CHECK(o.duration == 1.5);
  CHECK(o.warmup == 0.5);
  CHECK(o.max_messages == 1000);
  CHECK(o.body_bytes == 200);
  CHECK(o.ack);
  CHECK(o.concurrency == 20);
  CHECK(o.hold == 0);
  REQUIRE(o.sources.size() == 4);
  CHECK(format_ipv4(o.sources[3]) == "127.0.0.4");
  CHECK(o.procs == 2);
  CHECK(o.threads == 3);
  REQUIRE(o.servers.size() == 2);
  CHECK(o.servers[0].name == "node-1");
  CHECK(o.servers[0].pid == 123);
  CHECK(o.servers[1].pid == 45);
  CHECK(o.user_prefix == "x.y-");
  CHECK(o.json_file == "-");
  CHECK(o.timeout == 30);
  CHECK(parse_options(args({"local", "--floor"})).floor);
  CHECK(parse_options(args({"idle"})).mode() == "idle");
  CHECK(parse_options(args({"storm"})).mode() == "storm");
}

TEST_CASE("bench options: bad values are usage errors", "[bench]") {
  CHECK_THAT(usage_error(args({"chaos"})), Contains("SCENARIO"));
  CHECK_THAT(usage_error(args({}, true)), Contains("SCENARIO"));
  CHECK_THAT(usage_error(args({"local"}, false)), Contains("--ws"));
  CHECK_THAT(usage_error({"remote", "--ws", "ws://127.0.0.1:8081/ws"}), Contains("two"));
  CHECK_THAT(usage_error({"local", "--ws", "http://127.0.0.1/ws"}), Contains("ws://"));
  CHECK_THAT(usage_error({"local", "--ws", "wss://127.0.0.1/ws"}), Contains("wss"));
  CHECK_THAT(usage_error({"local", "--ws", "ws://127.0.0.1:99999/ws"}), Contains("port"));
  CHECK_THAT(usage_error({"local", "--ws", "ws://:80/ws"}), Contains("host"));
  CHECK_THAT(usage_error(args({"local", "--pairs", "0"})), Contains("--pairs"));
  CHECK_THAT(usage_error(args({"local", "--rate", "-1"})), Contains("--rate"));
  CHECK_THAT(usage_error(args({"local", "--window", "0"})), Contains("--window"));
  CHECK_THAT(usage_error(args({"local", "--duration", "0"})), Contains("--duration"));
  CHECK_THAT(usage_error(args({"local", "--threads", "0"})), Contains("--threads"));
  CHECK_THAT(usage_error(args({"local", "--procs", "0"})), Contains("--procs"));
  CHECK_THAT(usage_error(args({"local", "--source-ips", "10.0.0.9-10.0.0.1"})), Contains("empty"));
  CHECK_THAT(usage_error(args({"local", "--source-ips", "localhost"})), Contains("IPv4"));
  CHECK_THAT(usage_error(args({"local", "--pid", "node-1"})), Contains("NAME=PID"));
  CHECK_THAT(usage_error(args({"local", "--pid", "node-1=abc"})), Contains("PID"));
  CHECK_THAT(usage_error(args({"local", "--user-prefix", "a b"})), Contains("--user-prefix"));
  CHECK_THAT(usage_error(args({"local", "--ack", "--floor"})), Contains("--floor"));
  CHECK_THAT(usage_error(args({"local", "--no-such-flag"})), Contains("no-such-flag"));
  CHECK_THAT(usage_error(args({"local", "--pairs", "ten"})), Contains("pairs"));
  CHECK_THAT(usage_error(args({"local", "--duration", "1", "--duration", "2"})), Contains("duration"));
  CHECK_THAT(usage_error(args({"local", "--worker", "2/2"})), Contains("--worker"));
  CHECK_THROWS_AS(parse_options({"--help"}), HelpRequested);
}

TEST_CASE("bench options: ws URLs", "[bench]") {
  auto u = parse_ws_url("ws://127.0.0.1:8081/ws");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == "8081");
  CHECK(u.target == "/ws");
  CHECK(u.host_header == "127.0.0.1:8081");
  u = parse_ws_url("ws://example.test");
  CHECK(u.port == "80");
  CHECK(u.target == "/");
  u = parse_ws_url("ws://[::1]:9000/ws?x=1");
  CHECK(u.host == "::1");
  CHECK(u.port == "9000");
  CHECK(u.target == "/ws?x=1");
  u = parse_ws_url("ws://h:1?a=b");
  CHECK(u.target == "/?a=b");
}

TEST_CASE("bench options: processes are forced up to keep each under 19000 sockets", "[bench]") {
  CHECK(parse_options(args({"idle", "--sessions", "19000"})).procs == 1);
  CHECK(parse_options(args({"idle", "--sessions", "19001"})).procs == 2);
  CHECK(parse_options(args({"idle", "--sessions", "100000", "--procs", "2"})).procs == 6);
  CHECK(parse_options(args({"idle", "--sessions", "100000", "--procs", "8"})).procs == 8);
  CHECK(parse_options(args({"remote", "--pairs", "10000"})).procs == 2);      // 2 sockets per pair
  CHECK(parse_options(args({"storm", "--sessions", "1000000"})).procs == 1);  // only --concurrency in flight
  // Never more processes than pairs or sessions to share.
  const Options few = parse_options(args({"remote", "--pairs", "2", "--procs", "4"}));
  CHECK(few.procs == 2);
  CHECK(few.procs_requested == 4);
}

TEST_CASE("bench options: a worker's arguments reproduce the effective options", "[bench]") {
  const Options o =
      parse_options(args({"remote",       "--pairs", "9",       "--rate", "333.25",       "--warmup",
                          "0.5",          "--ack",   "--procs", "3",      "--threads",    "2",
                          "--pid",        "n=1",     "--json",  "x.json", "--source-ips", "127.0.0.1-127.0.0.2",
                          "--body-bytes", "10"}));
  const Options w = parse_options(o.worker_args(2));
  CHECK(w.is_worker());
  CHECK(w.worker_index == 2);
  CHECK(w.worker_count == 3);
  CHECK(w.procs == 3);
  CHECK(w.ws == o.ws);
  CHECK(w.pairs == 9);
  CHECK(w.rate == 333.25);
  CHECK(w.warmup == 0.5);
  CHECK(w.duration == o.duration);
  CHECK(w.ack);
  CHECK(w.threads == 2);
  CHECK(w.body_bytes == 10);
  CHECK(w.sources == o.sources);
  CHECK(w.user_prefix == o.user_prefix);  // every worker uses the same users
  CHECK(w.timeout == o.timeout);
  CHECK(w.servers.empty());  // the coordinator samples the servers
  CHECK(w.json_file.empty());
  // to_json names every option with its effective value.
  const auto j = o.to_json();
  for (const char* key :
       {"scenario", "ws",           "sessions",   "pairs",       "rate",        "window",  "duration",
        "warmup",   "max_messages", "body_bytes", "ack",         "concurrency", "hold",    "source_ips",
        "procs",    "threads",      "pid",        "user_prefix", "json",        "timeout", "floor"})
    CHECK(j.contains(key));
  CHECK(boost::json::value_to<int64_t>(j.at("procs")) == 3);
}

TEST_CASE("bench procstat: /proc parsing and sampling this process", "[bench]") {
  uint64_t ticks = 0;
  CHECK(parse_proc_stat("123 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0", ticks));
  CHECK(ticks == 280);
  CHECK_FALSE(parse_proc_stat("123 no-paren", ticks));
  CHECK_FALSE(parse_proc_stat("123 (x) S 1 2", ticks));
  int64_t kib = 0;
  CHECK(parse_vm_rss("Name:\tx\nVmRSS:\t  4242 kB\nThreads: 1\n", kib));
  CHECK(kib == 4242);
  CHECK_FALSE(parse_vm_rss("Name:\tx\n", kib));

  const ProcSample self = sample_process(static_cast<int>(::getpid()));
  REQUIRE(self.ok);
  CHECK(self.rss_kib > 0);
  CHECK(self.cpu_s >= 0);
  const ProcSample none = sample_process(999999999);
  CHECK_FALSE(none.ok);
  CHECK_THAT(none.error, Contains("999999999"));
}

TEST_CASE("bench report: the fixed keys, ok and problems", "[bench]") {
  const Options o = parse_options(args({"remote", "--pid", "node-1=1"}));
  RunFacts f;
  f.started_at = iso_now();
  f.window_s = 2;
  f.total.opened = 4;
  f.total.sent = 10;
  f.total.delivered = 10;
  f.total.latency.record(100000);
  f.total.latency.record(300000);
  ProcSample s0, s1;
  s0.ok = s1.ok = true;
  s0.cpu_s = 1.0;
  s1.cpu_s = 1.001;
  s0.rss_kib = 1000;
  s1.rss_kib = 1500;
  f.servers.push_back(ServerResult{o.servers[0], s0, s1});
  auto r = build_report(o, f);
  for (const char* key :
       {"tool", "version", "scenario", "mode", "options", "started_at", "window_s", "processes", "sessions", "messages",
        "throughput_msgs_per_s", "latency_us", "servers", "server_cpu_us_per_msg", "ok", "problems"})
    CHECK(r.contains(key));
  CHECK(r.at("tool").as_string() == "wsg-bench");
  CHECK(boost::json::value_to<int64_t>(r.at("version")) == 1);
  CHECK(r.at("throughput_msgs_per_s").as_double() == 5.0);
  CHECK(r.at("server_cpu_us_per_msg").as_double() == Approx(100.0));
  const auto& m = r.at("messages").as_object();
  for (const char* key : {"sent", "delivered", "lost", "duplicates", "out_of_order", "errors", "acks"})
    CHECK(m.contains(key));
  const auto& l = r.at("latency_us").as_object();
  for (const char* key : {"count", "p50", "p99", "p999", "max", "mean"}) CHECK(l.contains(key));
  CHECK(l.at("max").as_double() == Approx(300.0));
  CHECK(r.at("ok").as_bool());
  CHECK(r.at("problems").as_array().empty());
  CHECK_FALSE(summary_text(r).empty());

  f.total.delivered = 9;  // one lost
  r = build_report(o, f);
  CHECK_FALSE(r.at("ok").as_bool());
  CHECK(boost::json::value_to<int64_t>(r.at("messages").as_object().at("lost")) == 1);

  const Options idle = parse_options(args({"idle", "--pid", "node-1=1"}));
  f.total.delivered = 0;
  f.total.sent = 0;
  r = build_report(idle, f);
  CHECK(r.at("idle").as_object().at("kib_per_session").as_double() == 125.0);  // 500 KiB / 4
  CHECK(r.at("server_cpu_us_per_msg").is_null());

  const Options storm = parse_options(args({"storm"}));
  f.total.welcomed = 4;
  r = build_report(storm, f);
  CHECK(r.at("storm").as_object().at("sessions_per_s").as_double() == 2.0);
  CHECK(r.at("storm").as_object().contains("connect_latency_us"));
}

TEST_CASE("bench options: the room scenario's options and layout", "[bench]") {
  const Options d = parse_options(args({"room"}));
  CHECK(d.members == 100);
  CHECK(d.publishers == 1);
  CHECK(d.rooms == 1);
  CHECK(d.ack);  // a publish always carries an id
  CHECK(d.mode() == "closed");
  CHECK(d.units() == 100);
  CHECK(d.sockets() == 100);
  CHECK(parse_options(args({"room", "--rate", "10"})).mode() == "open");
  // One URL is enough (one node).
  CHECK(parse_options({"room", "--ws", "ws://127.0.0.1:8081/ws"}).urls.size() == 1);

  // 10 members in 3 rooms: 4, 3, 3; 5 publishers: 2, 2, 1, the first members of each room.
  const Options o = parse_options(args({"room", "--members", "10", "--publishers", "5", "--rooms", "3"}));
  CHECK(o.room_first(0) == 0);
  CHECK(o.room_size(0) == 4);
  CHECK(o.room_first(1) == 4);
  CHECK(o.room_size(1) == 3);
  CHECK(o.room_first(2) == 7);
  CHECK(o.room_size(2) == 3);
  CHECK(o.room_publishers(0) == 2);
  CHECK(o.room_publishers(1) == 2);
  CHECK(o.room_publishers(2) == 1);
  const std::vector<int64_t> rooms{0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  for (int64_t m = 0; m < 10; ++m) CHECK(o.room_of(m) == rooms[static_cast<std::size_t>(m)]);
  CHECK(o.room_name(2) == o.user_prefix + "room2");
  // Every member is in exactly one room, for any shape.
  for (const auto& shape :
       std::vector<std::vector<std::string>>{{"--members", "100000", "--publishers", "10000", "--rooms", "10000"},
                                             {"--members", "1001", "--publishers", "7", "--rooms", "7"},
                                             {"--members", "2", "--publishers", "1", "--rooms", "1"}}) {
    std::vector<std::string> a{"room"};
    a.insert(a.end(), shape.begin(), shape.end());
    const Options s = parse_options(args(a));
    int64_t next = 0;
    for (int64_t r = 0; r < s.rooms; ++r) {
      REQUIRE(s.room_first(r) == next);
      CHECK(s.room_size(r) >= 2);
      CHECK(s.room_publishers(r) >= 1);
      CHECK(s.room_publishers(r) <= s.room_size(r));
      CHECK(s.room_of(next) == r);
      CHECK(s.room_of(next + s.room_size(r) - 1) == r);
      next += s.room_size(r);
    }
    CHECK(next == s.members);
  }

  // 40,000 members: forced up to 3 processes (19,000 sockets each at most).
  CHECK(parse_options(args({"room", "--members", "40000"})).procs == 3);

  CHECK_THAT(usage_error(args({"room", "--members", "0"})), Contains("--members"));
  CHECK_THAT(usage_error(args({"room", "--publishers", "0"})), Contains("--publishers"));
  CHECK_THAT(usage_error(args({"room", "--rooms", "0"})), Contains("--rooms"));
  CHECK_THAT(usage_error(args({"room", "--members", "3", "--rooms", "2", "--publishers", "2"})),
             Contains("two members"));
  CHECK_THAT(usage_error(args({"room", "--rooms", "2"})), Contains("--publishers"));
  CHECK_THAT(usage_error(args({"room", "--members", "4", "--publishers", "5"})), Contains("--members"));
  CHECK_THAT(usage_error(args({"room", "--floor"})), Contains("--floor"));
  CHECK_THAT(usage_error(args({"room", "--members", "100000", "--publishers", "1000"})), Contains("track"));

  // A worker's arguments carry the room options.
  const Options w = parse_options(
      parse_options(args({"room", "--members", "30", "--publishers", "4", "--rooms", "2", "--procs", "3"}))
          .worker_args(1));
  CHECK(w.members == 30);
  CHECK(w.publishers == 4);
  CHECK(w.rooms == 2);
  CHECK(w.ack);
  const auto j = o.to_json();
  for (const char* key : {"members", "publishers", "rooms"}) CHECK(j.contains(key));
}

TEST_CASE("bench report: the room scenario's keys, lost deliveries and problems", "[bench]") {
  const Options o =
      parse_options(args({"room", "--members", "10", "--publishers", "2", "--pid", "node-1=1", "--pid", "node-2=2"}));
  RunFacts f;
  f.started_at = iso_now();
  f.window_s = 2;
  f.total.opened = 10;
  f.total.joined = 10;
  f.total.sent = 20;  // publishes
  f.total.acks_delivered = 20;
  f.total.expected = 180;  // 20 publishes x 9 other members
  f.total.delivered = 180;
  for (int i = 1; i <= 180; ++i) f.total.latency.record(static_cast<uint64_t>(i) * 10000);
  ProcSample s0, s1;
  s0.ok = s1.ok = true;
  s0.cpu_s = 1.0;
  s1.cpu_s = 1.009;
  f.servers.push_back(ServerResult{o.servers[0], s0, s1});
  f.servers.push_back(ServerResult{o.servers[1], s0, s1});
  auto r = build_report(o, f);
  INFO(boost::json::serialize(r));
  CHECK(r.at("scenario").as_string() == "room");
  CHECK(r.at("mode").as_string() == "closed");
  CHECK(r.at("ok").as_bool());
  const auto& room = r.at("room").as_object();
  CHECK(boost::json::value_to<int64_t>(room.at("members")) == 10);
  CHECK(boost::json::value_to<int64_t>(room.at("publishers")) == 2);
  CHECK(boost::json::value_to<int64_t>(room.at("rooms")) == 1);
  CHECK(boost::json::value_to<int64_t>(room.at("joined")) == 10);
  CHECK(room.at("publishes_per_s").as_double() == 10.0);
  CHECK(room.at("deliveries_per_s").as_double() == 90.0);
  CHECK(boost::json::value_to<int64_t>(room.at("deliveries_expected")) == 180);
  CHECK(room.at("cpu_us_per_delivery").as_double() == Approx(100.0));  // 18 ms / 180
  CHECK(r.at("server_cpu_us_per_msg").as_double() == Approx(100.0));
  CHECK(r.at("throughput_msgs_per_s").as_double() == 90.0);
  const auto& acks = room.at("acks").as_object();
  CHECK(boost::json::value_to<int64_t>(acks.at("delivered")) == 20);
  CHECK(boost::json::value_to<int64_t>(acks.at("missing")) == 0);
  const auto& l = r.at("latency_us").as_object();
  CHECK(l.at("p50").as_double() <= l.at("p90").as_double());
  CHECK(l.at("p90").as_double() <= l.at("p99").as_double());
  CHECK(l.at("p90").as_double() == Approx(1620.0).epsilon(0.01));
  CHECK_THAT(summary_text(r), Contains("deliveries"));

  // Deliveries owed and not received are lost; an unanswered publish and a failed join are problems.
  f.total.delivered = 170;
  f.total.acks_delivered = 19;
  f.total.join_failures["timeout"] = 1;
  r = build_report(o, f);
  CHECK_FALSE(r.at("ok").as_bool());
  CHECK(boost::json::value_to<int64_t>(r.at("messages").as_object().at("lost")) == 10);
  CHECK(boost::json::value_to<int64_t>(r.at("room").as_object().at("acks").as_object().at("missing")) == 1);
  const std::string problems = boost::json::serialize(r.at("problems"));
  CHECK_THAT(problems, Contains("10 deliveries lost"));
  CHECK_THAT(problems, Contains("never answered"));
  CHECK_THAT(problems, Contains("joins failed"));

  // The room counts cross from a worker to the coordinator.
  f.total.refused = 2;
  f.total.acks_no_members = 3;
  const WorkerResult back = WorkerResult::from_json(f.total.to_json());
  CHECK(back.joined == 10);
  CHECK(back.join_failures.at("timeout") == 1);
  CHECK(back.expected == 180);
  CHECK(back.refused == 2);
  CHECK(back.acks_no_members == 3);
}
