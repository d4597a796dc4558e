#include "options.h"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

namespace wsg::bench {

namespace json = boost::json;

namespace {

uint32_t parse_ipv4(const std::string& text) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address_v4(text, ec);
  if (ec) throw UsageError("--source-ips: '" + text + "' is not an IPv4 address");
  return a.to_uint();
}

bool valid_user_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '@' || c == ':' || c == '-';
}

}  // namespace

std::string number_text(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string format_ipv4(uint32_t address) { return boost::asio::ip::address_v4(address).to_string(); }

std::string random_user_prefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "b%08x-", static_cast<unsigned>(rd()));
  return buf;
}

WsUrl parse_ws_url(const std::string& url) {
  WsUrl u;
  u.url = url;
  const std::string scheme = "ws://";
  if (url.rfind(scheme, 0) != 0) {
    if (url.rfind("wss://", 0) == 0) throw UsageError("--ws " + url + ": wss:// is not supported (plain ws:// only)");
    throw UsageError("--ws " + url + ": not a ws:// URL");
  }
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find_first_of("/?");
  u.host_header = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!u.target.empty() && u.target[0] == '?') u.target = "/" + u.target;
  if (u.host_header.empty()) throw UsageError("--ws " + url + ": no host");
  if (u.host_header.find('@') != std::string::npos) throw UsageError("--ws " + url + ": user info is not supported");
  std::string host = u.host_header;
  std::string port;
  if (host[0] == '[') {
    const auto close = host.find(']');
    if (close == std::string::npos) throw UsageError("--ws " + url + ": unterminated IPv6 literal");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') throw UsageError("--ws " + url + ": bad host");
      port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty()) throw UsageError("--ws " + url + ": no host");
  if (port.empty()) port = "80";
  for (char c : port)
    if (c < '0' || c > '9') throw UsageError("--ws " + url + ": bad port '" + port + "'");
  if (port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535)
    throw UsageError("--ws " + url + ": bad port '" + port + "'");
  u.host = host;
  u.port = port;
  return u;
}

std::string Options::mode() const {
  if (scenario == "idle") return "idle";
  if (scenario == "storm") return "storm";
  return open_loop() ? "open" : "closed";
}

int64_t Options::sockets() const {
  if (scenario == "idle") return sessions;
  if (scenario == "storm") return concurrency;
  if (scenario == "room") return members;
  return 2 * pairs;
}

int64_t Options::units() const {
  if (scenario == "idle" || scenario == "storm") return sessions;
  if (scenario == "room") return members;
  return pairs;
}

int64_t Options::room_first(int64_t r) const {
  const int64_t q = members / rooms, extra = members % rooms;
  return r * q + std::min(r, extra);
}

int64_t Options::room_size(int64_t r) const { return members / rooms + (r < members % rooms ? 1 : 0); }

int64_t Options::room_publishers(int64_t r) const { return publishers / rooms + (r < publishers % rooms ? 1 : 0); }

int64_t Options::room_of(int64_t member) const {
  const int64_t q = members / rooms, extra = members % rooms;
  const int64_t big = extra * (q + 1);  // members of the rooms that hold q + 1
  return member < big ? member / (q + 1) : extra + (member - big) / q;
}

std::string Options::room_name(int64_t r) const { return user_prefix + "room" + std::to_string(r); }

void Options::validate() {
  if (scenario != "idle" && scenario != "local" && scenario != "remote" && scenario != "storm" && scenario != "room")
    throw UsageError("SCENARIO must be idle, local, remote, storm or room (got '" + scenario + "')");
  if (ws.empty()) throw UsageError("at least one --ws URL is needed");
  urls.clear();
  for (const auto& u : ws) urls.push_back(parse_ws_url(u));
  if (scenario == "remote" && urls.size() < 2) throw UsageError("remote needs at least two --ws URLs (two nodes)");

  auto positive = [](const char* name, auto v) {
    if (!(v > 0)) throw UsageError(std::string(name) + " must be > 0");
  };
  auto non_negative = [](const char* name, auto v) {
    if (!(v >= 0)) throw UsageError(std::string(name) + " must be >= 0");
  };
  auto finite = [](const char* name, double v) {
    if (!std::isfinite(v) || v > 1e9) throw UsageError(std::string(name) + " is out of range");
  };
  positive("--sessions", sessions);
  positive("--pairs", pairs);
  non_negative("--rate", rate);
  finite("--rate", rate);
  positive("--window", window);
  if (window > 1'000'000) throw UsageError("--window must be <= 1000000");
  positive("--duration", duration);
  finite("--duration", duration);
  non_negative("--warmup", warmup);
  finite("--warmup", warmup);
  non_negative("--max-messages", max_messages);
  non_negative("--body-bytes", body_bytes);
  if (body_bytes > 1'000'000) throw UsageError("--body-bytes must be <= 1000000");
  positive("--concurrency", concurrency);
  non_negative("--hold", hold);
  finite("--hold", hold);
  positive("--procs", procs);
  positive("--threads", threads);
  if (threads > 256) throw UsageError("--threads must be <= 256");
  non_negative("--timeout", timeout);
  finite("--timeout", timeout);
  if (sessions > 10'000'000 || pairs > 5'000'000) throw UsageError("--sessions / --pairs out of range");
  positive("--members", members);
  positive("--publishers", publishers);
  positive("--rooms", rooms);
  if (members > 10'000'000) throw UsageError("--members out of range");
  if (scenario == "room") {
    if (floor) throw UsageError("room cannot be used with --floor (the floor relay has no rooms)");
    if (rooms > publishers) throw UsageError("room: every room needs a publisher (--rooms <= --publishers)");
    if (publishers > members) throw UsageError("room: publishers are members too (--publishers <= --members)");
    if (members < 2 * rooms) throw UsageError("room: every room needs two members or more (--members >= 2 x --rooms)");
    // Every member tracks each publisher of its room (received publishes, order).
    const int64_t per_room = (members + rooms - 1) / rooms, pubs_per_room = (publishers + rooms - 1) / rooms;
    if (per_room * pubs_per_room > kMaxRoomTracks / rooms)
      throw UsageError(
          "room: too many (member, publisher) pairs to track (members x publishers / rooms must stay under " +
          std::to_string(kMaxRoomTracks) + ")");
    ack = true;  // a publish always carries an id: its ack paces the closed loop and is counted
  }
  if (floor && ack) throw UsageError("--ack cannot be used with --floor (the floor relay sends no acks)");

  // --source-ips A or A-B
  sources.clear();
  {
    const auto dash = source_ips.find('-');
    const uint32_t first = parse_ipv4(source_ips.substr(0, dash));
    const uint32_t last = dash == std::string::npos ? first : parse_ipv4(source_ips.substr(dash + 1));
    if (last < first) throw UsageError("--source-ips: the range " + source_ips + " is empty");
    if (last - first >= 65536) throw UsageError("--source-ips: at most 65536 addresses");
    for (uint64_t a = first; a <= last; ++a) sources.push_back(static_cast<uint32_t>(a));
  }

  servers.clear();
  for (const auto& p : pid) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--pid " + p + ": expected NAME=PID");
    ServerPid s;
    s.name = p.substr(0, eq);
    const std::string num = p.substr(eq + 1);
    if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError("--pid " + p + ": PID must be a positive integer");
    s.pid = std::stoi(num);
    if (s.pid <= 0) throw UsageError("--pid " + p + ": PID must be a positive integer");
    servers.push_back(s);
  }

  if (user_prefix.empty()) user_prefix = random_user_prefix();
  for (char c : user_prefix)
    if (!valid_user_char(c)) throw UsageError("--user-prefix may only hold [A-Za-z0-9._@:-]");
  if (user_prefix.size() > 100) throw UsageError("--user-prefix is too long (at most 100 bytes)");

  if (timeout == 0) timeout = duration + warmup + 60;

  if (worker_index >= 0) {
    if (worker_count <= 0 || worker_index >= worker_count) throw UsageError("--worker K/P: need 0 <= K < P");
    procs = worker_count;
    procs_requested = worker_count;
  } else {
    procs_requested = procs;
    const int64_t needed = (sockets() + kMaxSocketsPerProcess - 1) / kMaxSocketsPerProcess;
    procs = std::max(procs, needed);
    procs = std::max<int64_t>(1, std::min(procs, units()));
  }
}

json::object Options::to_json() const {
  json::array ws_array;
  for (const auto& u : ws) ws_array.push_back(json::value(u));
  json::array pid_array;
  for (const auto& s : servers) pid_array.push_back(json::object{{"name", s.name}, {"pid", s.pid}});
  return json::object{
      {"scenario", scenario},
      {"ws", std::move(ws_array)},
      {"sessions", sessions},
      {"pairs", pairs},
      {"members", members},
      {"publishers", publishers},
      {"rooms", rooms},
      {"rate", rate},
      {"window", window},
      {"duration", duration},
      {"warmup", warmup},
      {"max_messages", max_messages},
      {"body_bytes", body_bytes},
      {"ack", ack},
      {"concurrency", concurrency},
      {"hold", hold},
      {"source_ips", source_ips},
      {"procs", procs},
      {"procs_requested", procs_requested},
      {"threads", threads},
      {"pid", std::move(pid_array)},
      {"user_prefix", user_prefix},
      {"json", json_file},
      {"timeout", timeout},
      {"floor", floor},
  };
}

std::vector<std::string> Options::worker_args(int64_t k) const {
  std::vector<std::string> a{scenario};
  for (const auto& u : ws) {
    a.push_back("--ws");
    a.push_back(u);
  }
  auto add = [&a](const char* name, const std::string& value) {
    a.push_back(name);
    a.push_back(value);
  };
  add("--sessions", std::to_string(sessions));
  add("--pairs", std::to_string(pairs));
  add("--members", std::to_string(members));
  add("--publishers", std::to_string(publishers));
  add("--rooms", std::to_string(rooms));
  add("--rate", number_text(rate));
  add("--window", std::to_string(window));
  add("--duration", number_text(duration));
  add("--warmup", number_text(warmup));
  add("--max-messages", std::to_string(max_messages));
  add("--body-bytes", std::to_string(body_bytes));
  if (ack) a.push_back("--ack");
  add("--concurrency", std::to_string(concurrency));
  add("--hold", number_text(hold));
  add("--source-ips", source_ips);
  add("--threads", std::to_string(threads));
  add("--user-prefix", user_prefix);
  add("--timeout", number_text(timeout));
  if (floor) a.push_back("--floor");
  add("--worker", std::to_string(k) + "/" + std::to_string(procs));
  return a;
}

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  CLI::App app{
      "wsg-bench: load generator for wsg (the client protocol of docs/protocol.md over ws://).\n"
      "Scenarios: idle (hold sessions, sample server RSS), local and remote (message latency and\n"
      "throughput between user pairs on one node or across two), storm (connect/welcome/close rate),\n"
      "room (fan-out: members joined to rooms over the nodes, publishers, publish->delivery latency).",
      "wsg-bench"};
  app.add_option("SCENARIO", o.scenario, "idle | local | remote | storm | room")->required();
  app.add_option("--ws", o.ws, "Node endpoint, repeatable, e.g. ws://127.0.0.1:8080/ws (?user=ID is appended)")
      ->type_name("URL");
  app.add_option("--sessions", o.sessions, "idle: sessions to hold; storm: sessions to open in total (default 1000)")
      ->type_name("N");
  app.add_option("--pairs", o.pairs, "local/remote: sender->recipient user pairs (default 100)")->type_name("N");
  app.add_option("--members", o.members, "room: sessions joined to the rooms, in all (default 100)")->type_name("N");
  app.add_option("--publishers", o.publishers, "room: members that also publish, in all (default 1)")->type_name("M");
  app.add_option("--rooms", o.rooms, "room: rooms the members and publishers are spread over (default 1)")
      ->type_name("K");
  app.add_option("--rate", o.rate,
                 "Open loop: total messages/s over all pairs (room: publishes/s over all publishers); "
                 "0 = closed loop, the default")
      ->type_name("R");
  app.add_option("--window", o.window, "Closed loop: messages in flight per pair (room: per publisher; default 1)")
      ->type_name("W");
  app.add_option("--duration", o.duration,
                 "Measured seconds of local, remote and room (default 10; idle and storm ignore it)")
      ->type_name("S");
  app.add_option(
         "--warmup", o.warmup,
         "Seconds of traffic before the measured window of local, remote and room (default 2; idle and storm ignore "
         "it)")
      ->type_name("S");
  app.add_option("--max-messages", o.max_messages, "Stop after N measured messages (room: publishes; 0 = no bound)")
      ->type_name("N");
  app.add_option("--body-bytes", o.body_bytes, "Approximate message body size (default 64)")->type_name("N");
  app.add_flag("--ack", o.ack, "Ask for acks (send frames carry an id; room: always)");
  app.add_option("--concurrency", o.concurrency, "Connection attempts in flight (default 200)")->type_name("C");
  app.add_option("--hold", o.hold, "idle: seconds to hold the sessions before sampling RSS (default 2)")
      ->type_name("S");
  app.add_option("--source-ips", o.source_ips, "Local source addresses A or A-B (default 127.0.0.1)")->type_name("A-B");
  app.add_option("--procs", o.procs, "Worker processes (default 1; forced up to keep each under 19000 sockets)")
      ->type_name("P");
  app.add_option("--threads", o.threads, "I/O threads per process (default 1)")->type_name("T");
  app.add_option("--pid", o.pid, "Server process to sample (CPU, RSS), repeatable")->type_name("NAME=PID");
  app.add_option("--user-prefix", o.user_prefix, "User id prefix (default b<random>-)")->type_name("S");
  app.add_option("--json", o.json_file, "Write the JSON report to FILE ('-' = stdout)")->type_name("FILE");
  app.add_option("--timeout", o.timeout, "Hard bound on the whole run in seconds (default duration+warmup+60)")
      ->type_name("S");
  app.add_flag("--floor", o.floor, "Target is the floor relay (relays send frames verbatim, no acks)");
  std::string worker;
  app.add_option("--worker", worker)->group("");

  std::vector<std::string> storage{"wsg-bench"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    throw HelpRequested{app.help()};
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  if (!worker.empty()) {
    const auto slash = worker.find('/');
    try {
      if (slash == std::string::npos) throw std::invalid_argument("no slash");
      std::size_t used = 0;
      o.worker_index = std::stoll(worker.substr(0, slash), &used);
      if (used != slash) throw std::invalid_argument("K");
      const std::string p = worker.substr(slash + 1);
      o.worker_count = std::stoll(p, &used);
      if (used != p.size()) throw std::invalid_argument("P");
    } catch (const std::logic_error&) {
      throw UsageError("--worker expects K/P");
    }
  }
  o.validate();
  return o;
}

}  // namespace wsg::bench
