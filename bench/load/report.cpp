#include "report.h"

#include <boost/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <stdexcept>

namespace wsg::bench {

namespace json = boost::json;

namespace {

json::object counts_json(const std::map<std::string, uint64_t>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

std::map<std::string, uint64_t> counts_from(const json::value& v) {
  std::map<std::string, uint64_t> m;
  for (const auto& [k, c] : v.as_object()) m[std::string(k)] = json::value_to<uint64_t>(c);
  return m;
}

void add_counts(std::map<std::string, uint64_t>& into, const std::map<std::string, uint64_t>& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

std::string describe_counts(const std::map<std::string, uint64_t>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return s;
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

json::value number_or_null(bool ok, double v) { return ok ? json::value(round3(v)) : json::value(nullptr); }

}  // namespace

void WorkerResult::merge(const WorkerResult& o) {
  opened += o.opened;
  failed += o.failed;
  add_counts(failures, o.failures);
  sent += o.sent;
  delivered += o.delivered;
  duplicates += o.duplicates;
  out_of_order += o.out_of_order;
  errors += o.errors;
  add_counts(error_codes, o.error_codes);
  acks_delivered += o.acks_delivered;
  acks_offline += o.acks_offline;
  acks_failed += o.acks_failed;
  send_skipped += o.send_skipped;
  closed_by_peer += o.closed_by_peer;
  unclean_closes += o.unclean_closes;
  welcomed += o.welcomed;
  joined += o.joined;
  add_counts(join_failures, o.join_failures);
  acks_no_members += o.acks_no_members;
  refused += o.refused;
  expected += o.expected;
  end_ns = std::max(end_ns, o.end_ns);
  latency.merge(o.latency);
  connect.merge(o.connect);
  send_lag.merge(o.send_lag);
  problems.insert(problems.end(), o.problems.begin(), o.problems.end());
}

json::object WorkerResult::to_json() const {
  json::array p;
  for (const auto& s : problems) p.push_back(json::value(s));
  return json::object{{"opened", opened},
                      {"failed", failed},
                      {"failures", counts_json(failures)},
                      {"sent", sent},
                      {"delivered", delivered},
                      {"duplicates", duplicates},
                      {"out_of_order", out_of_order},
                      {"errors", errors},
                      {"error_codes", counts_json(error_codes)},
                      {"acks_delivered", acks_delivered},
                      {"acks_offline", acks_offline},
                      {"acks_failed", acks_failed},
                      {"send_skipped", send_skipped},
                      {"closed_by_peer", closed_by_peer},
                      {"unclean_closes", unclean_closes},
                      {"welcomed", welcomed},
                      {"joined", joined},
                      {"join_failures", counts_json(join_failures)},
                      {"acks_no_members", acks_no_members},
                      {"refused", refused},
                      {"expected", expected},
                      {"end_ns", end_ns},
                      {"latency", latency.to_json()},
                      {"connect", connect.to_json()},
                      {"send_lag", send_lag.to_json()},
                      {"problems", std::move(p)}};
}

WorkerResult WorkerResult::from_json(const json::value& v) {
  try {
    const auto& o = v.as_object();
    WorkerResult r;
    auto u = [&o](const char* k) { return json::value_to<uint64_t>(o.at(k)); };
    r.opened = u("opened");
    r.failed = u("failed");
    r.failures = counts_from(o.at("failures"));
    r.sent = u("sent");
    r.delivered = u("delivered");
    r.duplicates = u("duplicates");
    r.out_of_order = u("out_of_order");
    r.errors = u("errors");
    r.error_codes = counts_from(o.at("error_codes"));
    r.acks_delivered = u("acks_delivered");
    r.acks_offline = u("acks_offline");
    r.acks_failed = u("acks_failed");
    r.send_skipped = u("send_skipped");
    r.closed_by_peer = u("closed_by_peer");
    r.unclean_closes = u("unclean_closes");
    r.welcomed = u("welcomed");
    r.joined = u("joined");
    r.join_failures = counts_from(o.at("join_failures"));
    r.acks_no_members = u("acks_no_members");
    r.refused = u("refused");
    r.expected = u("expected");
    r.end_ns = json::value_to<int64_t>(o.at("end_ns"));
    r.latency = Histogram::from_json(o.at("latency"));
    r.connect = Histogram::from_json(o.at("connect"));
    r.send_lag = Histogram::from_json(o.at("send_lag"));
    for (const auto& p : o.at("problems").as_array()) r.problems.emplace_back(p.as_string());
    return r;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("malformed worker report: ") + e.what());
  }
}

json::object latency_json(const Histogram& h) {
  const bool any = h.count() > 0;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return json::object{{"count", h.count()},
                      {"p50", number_or_null(any, us(h.percentile(50)))},
                      {"p90", number_or_null(any, us(h.percentile(90)))},
                      {"p99", number_or_null(any, us(h.percentile(99)))},
                      {"p999", number_or_null(any, us(h.percentile(99.9)))},
                      {"max", number_or_null(any, us(h.max()))},
                      {"mean", number_or_null(any, h.mean() / 1000.0)},
                      {"min", number_or_null(any, us(h.min()))}};
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

json::object build_report(const Options& options, const RunFacts& f) {
  const WorkerResult& t = f.total;
  const std::string scenario = options.scenario;
  const bool room = scenario == "room";
  const bool messaging = scenario == "local" || scenario == "remote" || room;
  std::vector<std::string> problems = f.problems;
  problems.insert(problems.end(), t.problems.begin(), t.problems.end());

  json::object r;
  r["tool"] = "wsg-bench";
  r["version"] = 1;
  r["scenario"] = scenario;
  r["mode"] = options.mode();
  r["options"] = options.to_json();
  r["started_at"] = f.started_at;
  r["window_s"] = round3(f.window_s);
  r["processes"] = f.processes;
  r["sessions"] = json::object{{"opened", t.opened},
                               {"failed", t.failed},
                               {"failures", counts_json(t.failures)},
                               {"closed_by_peer", t.closed_by_peer},
                               {"unclean_closes", t.unclean_closes}};
  json::object acks{{"delivered", t.acks_delivered}, {"offline", t.acks_offline}, {"failed", t.acks_failed}};
  if (room) acks["no_members"] = t.acks_no_members;
  // room: "sent" counts publishes, "delivered" and "lost" deliveries (one per other member).
  r["messages"] = json::object{{"sent", t.sent},
                               {"delivered", t.delivered},
                               {"lost", t.lost(room)},
                               {"duplicates", t.duplicates},
                               {"out_of_order", t.out_of_order},
                               {"errors", t.errors},
                               {"error_codes", counts_json(t.error_codes)},
                               {"send_skipped", t.send_skipped},
                               {"acks", std::move(acks)}};
  r["throughput_msgs_per_s"] = f.window_s > 0 ? round3(static_cast<double>(t.delivered) / f.window_s) : 0.0;
  r["latency_us"] = latency_json(t.latency);
  // Open loop: how late the generator sent against its schedule. Large values mean the generator
  // (not only the server) fell behind; the latency counts from the schedule either way.
  if (options.open_loop() && messaging) r["send_lag_us"] = latency_json(t.send_lag);

  json::array servers;
  double cpu_total_s = 0;
  bool cpu_ok = !f.servers.empty();
  int64_t rss_delta_total = 0;
  for (const auto& s : f.servers) {
    const bool ok = s.start.ok && s.end.ok;
    if (!ok) {
      cpu_ok = false;
      problems.push_back("server " + s.server.name + " (pid " + std::to_string(s.server.pid) +
                         "): " + (s.start.ok ? s.end.error : s.start.error));
    }
    const double cpu = ok ? s.end.cpu_s - s.start.cpu_s : 0.0;
    cpu_total_s += cpu;
    if (ok) rss_delta_total += s.end.rss_kib - s.start.rss_kib;
    servers.push_back(
        json::object{{"name", s.server.name},
                     {"pid", s.server.pid},
                     {"cpu_s", number_or_null(ok, cpu)},
                     {"rss_start_kib", s.start.ok ? json::value(s.start.rss_kib) : json::value(nullptr)},
                     {"rss_end_kib", s.end.ok ? json::value(s.end.rss_kib) : json::value(nullptr)},
                     {"rss_delta_kib", ok ? json::value(s.end.rss_kib - s.start.rss_kib) : json::value(nullptr)}});
  }
  r["servers"] = std::move(servers);
  r["server_cpu_us_per_msg"] = (cpu_ok && t.delivered > 0)
                                   ? json::value(round3(cpu_total_s * 1e6 / static_cast<double>(t.delivered)))
                                   : json::value(nullptr);

  uint64_t acks_missing = 0;
  if (room) {
    const uint64_t answered = t.acks_delivered + t.acks_offline + t.acks_failed + t.acks_no_members + t.refused;
    acks_missing = t.sent > answered ? t.sent - answered : 0;
    const auto per_s = [&f](uint64_t n) { return f.window_s > 0 ? round3(static_cast<double>(n) / f.window_s) : 0.0; };
    r["room"] = json::object{{"rooms", options.rooms},
                             {"members", options.members},
                             {"publishers", options.publishers},
                             {"joined", t.joined},
                             {"join_failures", counts_json(t.join_failures)},
                             {"publishes", t.sent},
                             {"publishes_per_s", per_s(t.sent)},
                             {"refused", t.refused},
                             {"acks", json::object{{"delivered", t.acks_delivered},
                                                   {"no_members", t.acks_no_members},
                                                   {"failed", t.acks_failed + t.acks_offline},
                                                   {"missing", acks_missing}}},
                             {"deliveries_expected", t.expected},
                             {"deliveries", t.delivered},
                             {"deliveries_per_s", per_s(t.delivered)},
                             {"cpu_us_per_delivery", r["server_cpu_us_per_msg"]}};
  }

  if (scenario == "idle") {
    const bool rss_ok = cpu_ok && t.opened > 0;
    r["idle"] = json::object{
        {"sessions", t.opened},
        {"rss_delta_kib", cpu_ok ? json::value(rss_delta_total) : json::value(nullptr)},
        {"kib_per_session", number_or_null(rss_ok, static_cast<double>(rss_delta_total) /
                                                       static_cast<double>(std::max<uint64_t>(t.opened, 1)))}};
  }
  if (scenario == "storm") {
    r["storm"] = json::object{
        {"welcomed", t.welcomed},
        {"sessions_per_s", f.window_s > 0 ? round3(static_cast<double>(t.welcomed) / f.window_s) : 0.0},
        {"connect_latency_us", latency_json(t.connect)},
        {"server_cpu_us_per_session", (cpu_ok && t.welcomed > 0)
                                          ? json::value(round3(cpu_total_s * 1e6 / static_cast<double>(t.welcomed)))
                                          : json::value(nullptr)}};
  } else {
    r["connect_latency_us"] = latency_json(t.connect);
  }

  // Problems: anything that makes the figures doubtful.
  if (t.failed > 0)
    problems.push_back(std::to_string(t.failed) + " sessions failed (" + describe_counts(t.failures) + ")");
  if (t.opened == 0 && scenario != "storm") problems.push_back("no session opened");
  if (scenario == "storm" && t.welcomed == 0) problems.push_back("no session welcomed");
  if (room) {
    uint64_t join_failed = 0;
    for (const auto& [kind, n] : t.join_failures) join_failed += n;
    if (join_failed > 0)
      problems.push_back(std::to_string(join_failed) + " joins failed (" + describe_counts(t.join_failures) + ")");
    if (t.refused > 0) problems.push_back(std::to_string(t.refused) + " publishes refused with an error frame");
    if (t.acks_no_members > 0) problems.push_back(std::to_string(t.acks_no_members) + " publish acks no_members");
    if (acks_missing > 0) problems.push_back(std::to_string(acks_missing) + " publishes of the window never answered");
  }
  if (messaging) {
    if (t.delivered == 0) problems.push_back("no message delivered in the measured window");
    if (t.lost(room) > 0)
      problems.push_back(std::to_string(t.lost(room)) +
                         (room ? " deliveries lost (owed by publishes of the window, not received)"
                               : " messages lost (sent in the window, not received)"));
    if (t.duplicates > 0) problems.push_back(std::to_string(t.duplicates) + " duplicate messages");
    if (t.out_of_order > 0) problems.push_back(std::to_string(t.out_of_order) + " messages out of order");
    if (t.send_skipped > 0)
      problems.push_back(std::to_string(t.send_skipped) +
                         " sends skipped: a sender's queue was full (the server "
                         "does not keep up with --rate)");
    if (t.acks_offline + t.acks_failed > 0)
      problems.push_back(std::to_string(t.acks_offline) + " acks offline, " + std::to_string(t.acks_failed) +
                         " acks failed");
  }
  if (t.errors > 0)
    problems.push_back(std::to_string(t.errors) + " error frames from the server (" + describe_counts(t.error_codes) +
                       ")");
  if (t.closed_by_peer > 0)
    problems.push_back(std::to_string(t.closed_by_peer) + " sessions closed by the server during the run");
  json::array pa;
  for (const auto& p : problems) pa.push_back(json::value(p));
  r["ok"] = problems.empty();
  r["problems"] = std::move(pa);
  return r;
}

namespace {

std::string num(const json::value& v) {
  if (v.is_null()) return "-";
  char buf[64];
  if (v.is_double()) {
    std::snprintf(buf, sizeof buf, "%.1f", v.as_double());
    return buf;
  }
  return json::serialize(v);
}

std::string latency_line(const json::object& l) {
  return "p50 " + num(l.at("p50")) + "  p90 " + num(l.at("p90")) + "  p99 " + num(l.at("p99")) + "  p99.9 " +
         num(l.at("p999")) + "  max " + num(l.at("max")) + "  mean " + num(l.at("mean")) +
         " us  (n=" + num(l.at("count")) + ")";
}

}  // namespace

std::string summary_text(const json::object& r) {
  std::ostringstream s;
  const auto& sessions = r.at("sessions").as_object();
  const auto& messages = r.at("messages").as_object();
  s << "wsg-bench " << r.at("scenario").as_string().c_str() << " (" << r.at("mode").as_string().c_str() << "), "
    << num(r.at("processes")) << " process(es), started " << r.at("started_at").as_string().c_str() << "\n";
  s << "  sessions:   opened " << num(sessions.at("opened")) << ", failed " << num(sessions.at("failed")) << "\n";
  const std::string scenario(r.at("scenario").as_string());
  if (scenario == "local" || scenario == "remote") {
    s << "  window:     " << num(r.at("window_s")) << " s\n";
    s << "  messages:   sent " << num(messages.at("sent")) << ", delivered " << num(messages.at("delivered"))
      << ", lost " << num(messages.at("lost")) << ", duplicates " << num(messages.at("duplicates")) << ", out of order "
      << num(messages.at("out_of_order")) << ", errors " << num(messages.at("errors")) << "\n";
    const auto& acks = messages.at("acks").as_object();
    if (r.at("options").as_object().at("ack").as_bool())
      s << "  acks:       delivered " << num(acks.at("delivered")) << ", offline " << num(acks.at("offline"))
        << ", failed " << num(acks.at("failed")) << "\n";
    s << "  throughput: " << num(r.at("throughput_msgs_per_s")) << " msgs/s\n";
    s << "  latency:    " << latency_line(r.at("latency_us").as_object()) << "\n";
    if (r.contains("send_lag_us")) s << "  send lag:   " << latency_line(r.at("send_lag_us").as_object()) << "\n";
    s << "  server CPU: " << num(r.at("server_cpu_us_per_msg")) << " us per message\n";
  }
  if (scenario == "room") {
    const auto& room = r.at("room").as_object();
    const auto& acks = room.at("acks").as_object();
    s << "  rooms:      " << num(room.at("rooms")) << " of " << num(room.at("members")) << " members in all, "
      << num(room.at("publishers")) << " publishers; joined " << num(room.at("joined")) << "\n";
    s << "  window:     " << num(r.at("window_s")) << " s\n";
    s << "  publishes:  " << num(room.at("publishes")) << " = " << num(room.at("publishes_per_s"))
      << "/s; acks delivered " << num(acks.at("delivered")) << ", no_members " << num(acks.at("no_members"))
      << ", failed " << num(acks.at("failed")) << ", missing " << num(acks.at("missing")) << "; refused "
      << num(room.at("refused")) << "\n";
    s << "  deliveries: " << num(room.at("deliveries")) << " of " << num(room.at("deliveries_expected")) << " = "
      << num(room.at("deliveries_per_s")) << "/s; lost " << num(messages.at("lost")) << ", duplicates "
      << num(messages.at("duplicates")) << ", out of order " << num(messages.at("out_of_order")) << ", errors "
      << num(messages.at("errors")) << "\n";
    s << "  latency:    " << latency_line(r.at("latency_us").as_object()) << "  (publish -> delivery)\n";
    if (r.contains("send_lag_us")) s << "  send lag:   " << latency_line(r.at("send_lag_us").as_object()) << "\n";
    s << "  server CPU: " << num(room.at("cpu_us_per_delivery")) << " us per delivery\n";
  }
  if (scenario == "idle") {
    const auto& idle = r.at("idle").as_object();
    s << "  idle:       " << num(idle.at("sessions")) << " sessions, RSS +" << num(idle.at("rss_delta_kib")) << " KiB, "
      << num(idle.at("kib_per_session")) << " KiB per session\n";
  }
  if (scenario == "storm") {
    const auto& storm = r.at("storm").as_object();
    s << "  storm:      " << num(storm.at("welcomed")) << " welcomed in " << num(r.at("window_s"))
      << " s = " << num(storm.at("sessions_per_s")) << " sessions/s\n";
    s << "  connect:    " << latency_line(storm.at("connect_latency_us").as_object()) << "\n";
  }
  for (const auto& sv : r.at("servers").as_array()) {
    const auto& o = sv.as_object();
    s << "  server " << o.at("name").as_string().c_str() << " (pid " << num(o.at("pid")) << "): cpu "
      << num(o.at("cpu_s")) << " s, rss " << num(o.at("rss_start_kib")) << " -> " << num(o.at("rss_end_kib"))
      << " KiB\n";
  }
  s << "  ok:         " << (r.at("ok").as_bool() ? "yes" : "no") << "\n";
  for (const auto& p : r.at("problems").as_array()) s << "  problem:    " << p.as_string().c_str() << "\n";
  return s.str();
}

}  // namespace wsg::bench
