// Metrics (src/metrics.*): names and labels follow Prometheus conventions, the exposition holds
// every family, samples are copied in exactly, counters never go down, the master's health JSON.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/check_names.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "telemetry/build_info.h"
#include "telemetry/logging.h"
#include "telemetry/metrics.h"

using namespace wsg;

namespace {

// wsg_build_info's one series: prometheus-cpp writes labels in name order.
std::string build_info_series(const std::string& role) {
  const wsg::BuildInfo& b = wsg::build_info();
  return std::string("wsg_build_info{build_type=\"") + b.build_type + "\",commit=\"" + b.commit + "\",role=\"" + role +
         "\",version=\"" + b.version + "\"}";
}

// The value of the series `key` (name plus labels exactly as exposed, e.g.
// `wsg_messages_total{path="local"}`), or nullopt when the exposition has no such line.
std::optional<double> value_of(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ' ') {
      return std::stod(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

bool has_family(const std::string& text, const std::string& name, const std::string& type) {
  return text.find("# TYPE " + name + " " + type + "\n") != std::string::npos;
}

// Every family: a valid name with the wsg_ prefix, counters ending in _total, histograms in
// _seconds, help text present, valid label names, no label called `le` or `quantile` by us.
void check_conventions(prometheus::Registry& registry) {
  const auto families = registry.Collect();
  REQUIRE(!families.empty());
  std::set<std::string> names;
  for (const auto& f : families) {
    INFO("family " << f.name);
    CHECK(prometheus::CheckMetricName(f.name));
    CHECK(f.name.rfind("wsg_", 0) == 0);
    CHECK(!f.help.empty());
    CHECK(names.insert(f.name).second);
    if (f.type == prometheus::MetricType::Counter) {
      CHECK(f.name.size() > 6);
      CHECK(f.name.substr(f.name.size() - 6) == "_total");
    } else {
      CHECK(f.name.find("_total") == std::string::npos);
    }
    if (f.type == prometheus::MetricType::Histogram) CHECK(f.name.substr(f.name.size() - 8) == "_seconds");
    CHECK(!f.metric.empty());
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        INFO("label " << l.name);
        CHECK(prometheus::CheckLabelName(l.name));
        CHECK(l.name != "le");
        CHECK(!l.value.empty());
      }
    }
  }
}

}  // namespace

TEST_CASE("node metrics: names, labels and help follow Prometheus conventions", "[metrics]") {
  NodeMetrics m;
  check_conventions(m.registry());
}

TEST_CASE("master metrics: names, labels and help follow Prometheus conventions", "[metrics]") {
  MasterMetrics m;
  check_conventions(m.registry());
}

TEST_CASE("node metrics: the exposition holds every family with its type", "[metrics]") {
  NodeMetrics m;
  const std::string text = m.render(NodeSample{});
  for (const char* gauge : {"wsg_build_info", "wsg_start_time_seconds", "wsg_ready", "wsg_connections", "wsg_sessions",
                            "wsg_users", "wsg_send_queue_bytes", "wsg_route_cache_entries", "wsg_deliveries_in_flight",
                            "wsg_master_lookups_in_flight"}) {
    INFO(gauge);
    CHECK(has_family(text, gauge, "gauge"));
  }
  for (const char* counter :
       {"wsg_sessions_opened_total", "wsg_sessions_closed_total", "wsg_messages_accepted_total", "wsg_messages_total",
        "wsg_deliveries_received_total", "wsg_acks_total", "wsg_bound_hits_total", "wsg_errors_total",
        "wsg_route_cache_hits_total", "wsg_route_cache_misses_total", "wsg_route_cache_evictions_total",
        "wsg_route_cache_invalidations_total", "wsg_master_lookups_total", "wsg_master_lookup_timeouts_total",
        "wsg_zmq_dropped_total", "wsg_cluster_malformed_messages_total"}) {
    INFO(counter);
    CHECK(has_family(text, counter, "counter"));
  }
  CHECK(has_family(text, "wsg_master_lookup_latency_seconds", "histogram"));
  CHECK(has_family(text, "wsg_delivery_latency_seconds", "histogram"));
  // every label value is present from the start (at 0), so rate() works from the first scrape
  CHECK(value_of(text, build_info_series("node")) == 1);
  for (const char* code : {"bad_json", "bad_request", "unknown_type", "bad_recipient", "rate_limited", "too_large",
                           "binary_unsupported", "internal"}) {
    INFO(code);
    CHECK(value_of(text, std::string("wsg_errors_total{code=\"") + code + "\"}") == 0);
  }
  for (const char* reason :
       {"client", "lost", "timeout", "drain", "slow", "rate", "binary", "too_large", "error", "api"}) {
    INFO(reason);
    CHECK(value_of(text, std::string("wsg_sessions_closed_total{reason=\"") + reason + "\"}") == 0);
  }
  for (const char* path : {"local", "remote", "bounced"})
    CHECK(value_of(text, std::string("wsg_messages_total{path=\"") + path + "\"}") == 0);
  for (const char* status : {"delivered", "offline", "failed"})
    CHECK(value_of(text, std::string("wsg_acks_total{status=\"") + status + "\"}") == 0);
}

TEST_CASE("node metrics: a sample is rendered exactly and counters never go down", "[metrics]") {
  NodeMetrics m;
  NodeSample s;
  s.ready = true;
  s.connections = 7;
  s.sessions = 6;
  s.users = 4;
  s.send_queue_bytes = 12345;
  s.messages_accepted = 100;
  s.messages_local = 60;
  s.messages_remote = 30;
  s.messages_bounced = 2;
  s.acks[static_cast<std::size_t>(proto::AckStatus::delivered)] = 90;
  s.acks[static_cast<std::size_t>(proto::AckStatus::offline)] = 9;
  s.acks[static_cast<std::size_t>(proto::AckStatus::failed)] = 1;
  s.errors[static_cast<std::size_t>(proto::ErrorCode::bad_json)] = 3;
  s.sessions_closed[static_cast<std::size_t>(CloseReason::slow)] = 5;
  s.cache_hits = 1000000007;  // exact as a double, printed in full
  s.cache_evictions = 11;
  s.cache_expirations = 12;
  s.zmq_queue_drops = 13;
  s.zmq_hwm_drops = 14;
  s.zmq_send_failures = 15;
  std::string text = m.render(s);
  CHECK(value_of(text, "wsg_ready") == 1);
  CHECK(value_of(text, "wsg_connections") == 7);
  CHECK(value_of(text, "wsg_sessions") == 6);
  CHECK(value_of(text, "wsg_users") == 4);
  CHECK(value_of(text, "wsg_send_queue_bytes") == 12345);
  CHECK(value_of(text, "wsg_messages_accepted_total") == 100);
  CHECK(value_of(text, "wsg_messages_total{path=\"local\"}") == 60);
  CHECK(value_of(text, "wsg_messages_total{path=\"remote\"}") == 30);
  CHECK(value_of(text, "wsg_messages_total{path=\"bounced\"}") == 2);
  CHECK(value_of(text, "wsg_acks_total{status=\"delivered\"}") == 90);
  CHECK(value_of(text, "wsg_acks_total{status=\"offline\"}") == 9);
  CHECK(value_of(text, "wsg_acks_total{status=\"failed\"}") == 1);
  CHECK(value_of(text, "wsg_errors_total{code=\"bad_json\"}") == 3);
  CHECK(value_of(text, "wsg_sessions_closed_total{reason=\"slow\"}") == 5);
  CHECK(value_of(text, "wsg_route_cache_hits_total") == 1000000007);
  CHECK(value_of(text, "wsg_route_cache_evictions_total{reason=\"capacity\"}") == 11);
  CHECK(value_of(text, "wsg_route_cache_evictions_total{reason=\"expired\"}") == 12);
  CHECK(value_of(text, "wsg_zmq_dropped_total{reason=\"queue_full\"}") == 13);
  CHECK(value_of(text, "wsg_zmq_dropped_total{reason=\"hwm\"}") == 14);
  CHECK(value_of(text, "wsg_zmq_dropped_total{reason=\"failed\"}") == 15);

  // Gauges follow the sample both ways; counters only up.
  s.ready = false;
  s.sessions = 1;
  s.messages_accepted = 50;
  s.messages_local = 61;
  text = m.render(s);
  CHECK(value_of(text, "wsg_ready") == 0);
  CHECK(value_of(text, "wsg_sessions") == 1);
  CHECK(value_of(text, "wsg_messages_accepted_total") == 100);
  CHECK(value_of(text, "wsg_messages_total{path=\"local\"}") == 61);
}

TEST_CASE("node metrics: latency histograms count observations into their buckets", "[metrics]") {
  NodeMetrics m;
  m.lookup_latency().Observe(0.0003);
  m.lookup_latency().Observe(0.003);
  m.delivery_latency_remote().Observe(0.02);
  const std::string text = m.render(NodeSample{});
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_count") == 2);
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_bucket{le=\"0.0001\"}") == 0);
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_bucket{le=\"0.0005\"}") == 1);
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_bucket{le=\"0.005\"}") == 2);
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_bucket{le=\"+Inf\"}") == 2);
  CHECK(value_of(text, "wsg_master_lookup_latency_seconds_sum") == Approx(0.0033));
  CHECK(value_of(text, "wsg_delivery_latency_seconds_count{path=\"remote\"}") == 1);
  CHECK(value_of(text, "wsg_delivery_latency_seconds_count{path=\"local\"}") == 0);
}

TEST_CASE("node metrics: rendering while the router observes is safe", "[metrics]") {
  // One thread observes (the router strand), another scrapes: run under TSan.
  NodeMetrics m;
  std::thread observer([&] {
    for (int i = 0; i < 20000; ++i) m.delivery_latency_local().Observe(1e-6 * (i % 100));
  });
  NodeSample s;
  for (int i = 0; i < 50; ++i) {
    s.messages_accepted = static_cast<uint64_t>(i);
    CHECK(!m.render(s).empty());
  }
  observer.join();
  CHECK(value_of(m.render(s), "wsg_delivery_latency_seconds_count{path=\"local\"}") == 20000);
}

TEST_CASE("master metrics: the exposition holds every family and the sample's values", "[metrics]") {
  MasterMetrics m;
  MasterSample s;
  s.running = true;
  s.nodes_alive = 3;
  s.nodes_dead = 1;
  s.sessions = 40;
  s.users = 30;
  s.requests[static_cast<std::size_t>(MasterRequest::lookup)] = 17;
  s.requests[static_cast<std::size_t>(MasterRequest::register_sessions)] = 5;
  s.lookups_online = 15;
  s.lookups_offline = 2;
  s.invalidations_sent = 8;
  s.node_deaths_left = 1;
  s.refused_connections = 4;
  s.replies_dropped_failed = 6;
  const std::string text = m.render(s);
  for (const char* gauge :
       {"wsg_build_info", "wsg_start_time_seconds", "wsg_master_nodes", "wsg_master_sessions", "wsg_master_users"}) {
    INFO(gauge);
    CHECK(has_family(text, gauge, "gauge"));
  }
  for (const char* counter :
       {"wsg_master_requests_total", "wsg_master_lookups_total", "wsg_master_invalidations_sent_total",
        "wsg_master_invalidation_wait_timeouts_total", "wsg_master_hello_refused_total", "wsg_master_node_deaths_total",
        "wsg_master_refused_connections_total", "wsg_master_malformed_messages_total",
        "wsg_master_replies_dropped_total"}) {
    INFO(counter);
    CHECK(has_family(text, counter, "counter"));
  }
  CHECK(value_of(text, build_info_series("master")) == 1);
  CHECK(value_of(text, "wsg_master_nodes{state=\"alive\"}") == 3);
  CHECK(value_of(text, "wsg_master_nodes{state=\"dead\"}") == 1);
  CHECK(value_of(text, "wsg_master_sessions") == 40);
  CHECK(value_of(text, "wsg_master_users") == 30);
  CHECK(value_of(text, "wsg_master_requests_total{type=\"lookup\"}") == 17);
  CHECK(value_of(text, "wsg_master_requests_total{type=\"register\"}") == 5);
  CHECK(value_of(text, "wsg_master_requests_total{type=\"hello\"}") == 0);
  CHECK(value_of(text, "wsg_master_lookups_total{result=\"online\"}") == 15);
  CHECK(value_of(text, "wsg_master_lookups_total{result=\"offline\"}") == 2);
  CHECK(value_of(text, "wsg_master_invalidations_sent_total") == 8);
  CHECK(value_of(text, "wsg_master_node_deaths_total{reason=\"left\"}") == 1);
  CHECK(value_of(text, "wsg_master_node_deaths_total{reason=\"timeout\"}") == 0);
  CHECK(value_of(text, "wsg_master_refused_connections_total") == 4);
  CHECK(value_of(text, "wsg_master_replies_dropped_total{reason=\"hwm\"}") == 0);
  CHECK(value_of(text, "wsg_master_replies_dropped_total{reason=\"failed\"}") == 6);
}

TEST_CASE("master health: ok while the loop publishes, stalled or stopped otherwise", "[metrics]") {
  MasterSample s;
  s.running = true;
  s.published_ms = 10000;
  s.epoch = 42;
  s.nodes_alive = 2;
  s.sessions = 5;
  s.users = 3;
  auto ok = master_health(s, 10500);
  CHECK(ok.status == 200);
  auto doc = boost::json::parse(ok.body).as_object();
  CHECK(doc.at("status").as_string() == "ok");
  CHECK(doc.at("epoch").as_int64() == 42);
  CHECK(doc.at("nodes_alive").as_int64() == 2);
  CHECK(doc.at("sessions").as_int64() == 5);
  CHECK(doc.at("users").as_int64() == 3);
  CHECK(doc.at("version").as_string() == wsg::build_info().version);
  CHECK(doc.at("commit").as_string() == wsg::build_info().commit);

  auto stalled = master_health(s, 12001);
  CHECK(stalled.status == 503);
  CHECK(boost::json::parse(stalled.body).as_object().at("status").as_string() == "stalled");

  s.running = false;
  auto stopped = master_health(s, 10001);
  CHECK(stopped.status == 503);
  CHECK(boost::json::parse(stopped.body).as_object().at("status").as_string() == "stopped");
}

TEST_CASE("logging throttle: one line per interval, counting what it held back", "[metrics]") {
  logging::Throttle t(std::chrono::hours(1));
  uint64_t held = 99;
  CHECK(t.allow(held));
  CHECK(held == 0);
  CHECK_FALSE(t.allow(held));
  CHECK_FALSE(t.allow(held));
  logging::Throttle fast(std::chrono::nanoseconds(0));
  CHECK(fast.allow(held));
  CHECK(fast.allow(held));
  CHECK(held == 0);
}
