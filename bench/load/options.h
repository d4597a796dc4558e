// wsg-bench: command-line options, their validation and their effective values.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsg::bench {

// Bad options: exit 2 with the message.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// --help: print the text, exit 0.
struct HelpRequested {
  std::string text;
};

// A parsed ws:// URL. The user id is appended to `target` as ?user=ID (&user=ID after a query).
struct WsUrl {
  std::string url;
  std::string host;         // as written, brackets removed from an IPv6 literal
  std::string port;         // default "80"
  std::string target;       // path and query, default "/"
  std::string host_header;  // host[:port] as written
};
WsUrl parse_ws_url(const std::string& url);  // throws UsageError

struct ServerPid {
  std::string name;
  int pid = 0;
};

// The process's maximum sockets: --procs is forced up so that no process holds more (the
// machines allow 20,000 open files per process; the rest is headroom for other descriptors).
inline constexpr int64_t kMaxSocketsPerProcess = 19000;

// room: the (member, publisher of its room) pairs a run may track in all.
inline constexpr int64_t kMaxRoomTracks = 20'000'000;

struct Options {
  std::string scenario;  // idle | local | remote | storm | room
  std::vector<std::string> ws;
  int64_t sessions = 1000;
  int64_t pairs = 100;
  int64_t members = 100;   // room: sessions joined to the rooms, in all
  int64_t publishers = 1;  // room: members that also publish, in all
  int64_t rooms = 1;       // room: rooms the members are spread over
  double rate = 0;         // messages (room: publishes)/s in total; 0 = closed loop
  int64_t window = 1;
  double duration = 10;
  double warmup = 2;
  int64_t max_messages = 0;
  int64_t body_bytes = 64;
  bool ack = false;
  int64_t concurrency = 200;
  double hold = 2;
  std::string source_ips = "127.0.0.1";
  int64_t procs = 1;
  int64_t threads = 1;
  std::vector<std::string> pid;  // NAME=PID as given
  std::string user_prefix;       // default b<random>-
  std::string json_file;         // "" = none, "-" = stdout
  double timeout = 0;            // 0 on the command line = default (duration + warmup + 60)
  bool floor = false;

  // Hidden: --worker K/P (a worker process of a multi-process run).
  int64_t worker_index = -1;
  int64_t worker_count = 0;

  // Derived by validate().
  std::vector<WsUrl> urls;
  std::vector<ServerPid> servers;
  std::vector<uint32_t> sources;  // IPv4 source addresses, host byte order
  int64_t procs_requested = 1;

  bool open_loop() const { return rate > 0; }
  bool is_worker() const { return worker_index >= 0; }
  // "closed" | "open" | "idle" | "storm"
  std::string mode() const;
  // Sockets one run holds at once: idle sessions, 2 per pair, storm attempts in flight, room members.
  int64_t sockets() const;
  // Units of work spread over the processes: pairs, idle or storm sessions, room members.
  int64_t units() const;

  // The room scenario's layout (docs/load-generator.md, "Rooms"): room r holds the members
  // [room_first(r), room_first(r) + room_size(r)), sizes as even as can be (the first
  // members % rooms rooms hold one more); its publishers are its first room_publishers(r) members,
  // spread the same way.
  int64_t room_first(int64_t r) const;
  int64_t room_size(int64_t r) const;
  int64_t room_publishers(int64_t r) const;
  int64_t room_of(int64_t member) const;
  // The room's name: PREFIX "room" r.
  std::string room_name(int64_t r) const;

  // Checks every value and fills the derived fields and defaults (user prefix, timeout, procs).
  // Throws UsageError.
  void validate();

  // Every option's effective value (the report's "options").
  boost::json::object to_json() const;
  // The arguments a worker process is started with (every effective option, --worker K/P).
  std::vector<std::string> worker_args(int64_t k) const;
};

// Parses argv (without the program name) and validates. Throws UsageError or HelpRequested.
Options parse_options(const std::vector<std::string>& args);

// A random default user prefix: b<8 hex digits>-.
std::string random_user_prefix();

std::string format_ipv4(uint32_t address);

// The shortest decimal text that reads back as the same double (e.g. 0.5, 2, 1e-06).
std::string number_text(double v);

}  // namespace wsg::bench
