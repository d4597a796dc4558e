// Integration test harness: starts real `wsg` processes (master + nodes on free loopback ports)
// and talks to them over HTTP / WebSocket (Boost.Beast) and through `wsg status --json`.
//
// Rules the harness follows: every wait has a deadline; nothing sleeps to synchronise (waits are
// condition variables, or polls with a short back-off until a deadline); every child process is
// killed when its owner goes away (and with PR_SET_PDEATHSIG if the test process itself dies).
// When a test case fails, the tails of every log file written during it are printed to stderr.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsg::it {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Default bounds. Generous enough for a loaded 2-core machine, short enough to keep failures fast.
inline constexpr std::chrono::milliseconds kFrameTimeout{5000};
inline constexpr std::chrono::milliseconds kStartTimeout{10000};

// Path of the wsg executable under test: $WSG_IT_WSG when set (scripts/test.sh points the Release
// harness at the sanitizer builds' wsg), else the WSG_BINARY compile definition.
std::string wsg_binary();
// Scheduling margins of timing checks ("an ack within delivery_timeout_ms + 1 s") multiplied by
// $WSG_IT_SLOWDOWN (an integer, 1 when unset): scripts/test.sh sets it for the sanitizer builds,
// whose processes start and run several times slower on a loaded 2-core machine. Only margins
// scale, never the bound a test is about (a 1 s delivery timeout stays 1 s).
int64_t slowdown();
inline int64_t margin_ms(int64_t base_ms) { return base_ms * slowdown(); }
// Root of the source tree (located from this file's path).
std::filesystem::path repo_root();

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close).
// Never hands out the same port twice in one test process.
uint16_t free_port();

// Per-test-case temporary directory (created on first use, removed after a passing test case,
// kept and named on stderr after a failing one).
std::filesystem::path test_dir();
// Registers a log file whose tail is printed if the current test case fails.
void register_log(const std::filesystem::path& path);
// Last `lines` lines of a file ("" when missing).
std::string tail_file(const std::filesystem::path& path, std::size_t lines = 60);

// Epoch milliseconds (wall clock), as a message's `ts` (docs/protocol.md, "message").
int64_t unix_ms();

// Polls `pred` with a short back-off (1 ms .. 50 ms) until it returns true or `timeout` passes.
bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------------------------
// Child processes

class Process {
 public:
  // Starts `binary args...`; stdout and stderr both go to `log` (appended).
  Process(std::string name, std::string binary, std::vector<std::string> args, std::filesystem::path log);
  // Same, with stdout to its own file (for commands whose output is parsed).
  Process(std::string name, std::string binary, std::vector<std::string> args, std::filesystem::path stdout_file,
          std::filesystem::path stderr_file);
  ~Process();  // SIGKILL + reap when still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& name() const { return name_; }
  int pid() const { return pid_; }
  const std::filesystem::path& log() const { return stderr_; }
  const std::filesystem::path& stdout_path() const { return stdout_; }
  std::string command_line() const;

  bool running();    // false once the child has exited (reaps it)
  void terminate();  // SIGTERM
  void kill();       // SIGKILL
  // Exit code (128+N when killed by signal N), or nullopt when still running at the deadline.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::optional<int> exit_code() const { return exit_code_; }

 private:
  void spawn(std::vector<std::string> args);

  std::string name_;
  std::string binary_;
  std::vector<std::string> args_;
  std::filesystem::path stdout_;
  std::filesystem::path stderr_;
  int pid_ = -1;
  std::optional<int> exit_code_;
};

struct RunResult {
  std::optional<int> exit_code;  // nullopt: killed at the deadline
  std::string out;
  std::string err;
};
// Runs a command to completion (killed at the deadline), capturing stdout and stderr.
RunResult run_command(const std::string& binary, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout);

// ---------------------------------------------------------------------------------------------
// HTTP

struct HttpResponse {
  int status = 0;  // 0: no answer (connect failure, timeout); see `error`
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};
HttpResponse http_get(uint16_t port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      std::chrono::milliseconds timeout = 3000ms);

// ---------------------------------------------------------------------------------------------
// WebSocket client

struct ConnectResult {
  bool connected = false;  // the upgrade succeeded
  int http_status = 0;     // 101 when connected, the refusal's status otherwise, 0 if none
  std::string body;        // body of a refused handshake
  std::string error;       // description when not connected
};

struct CloseInfo {
  int code = 0;  // close code from the peer's close frame; 1006 if none (TCP lost)
  std::string reason;
};

// One client-to-server WebSocket frame on the wire (masked): `first_byte` holds FIN and the
// opcode (0x81 a final text frame, 0x89 a ping, 0x01 a first fragment, 0x00 a continuation).
std::string masked_frame(unsigned char first_byte, std::string_view payload);

class WsClient {
 public:
  WsClient();
  ~WsClient();  // closes (briefly, politely) and joins the I/O thread
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  ConnectResult connect(uint16_t port, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {},
                        std::chrono::milliseconds timeout = kFrameTimeout);

  void send_text(std::string text);  // queued, written in order by the I/O thread
  void send_json(const boost::json::object& frame);
  void send_binary(std::string data);
  // Writes a text frame straight to the TCP socket (masked, as a client must), outside Beast's
  // write path. Only for a frame the server answers by closing the connection (over the size
  // limit): with Beast's own write, the write failing on the closed socket marks the stream
  // failed and the server's close frame, already received, is dropped (seen as 1006). Beast may
  // write its close reply while this write is still going: harmless here, as the server has
  // stopped reading.
  void send_text_raw(std::string text);
  // Writes bytes straight to the TCP socket, in order with the other frames: whole wire frames
  // (see masked_frame), e.g. control frames or fragments Beast's own write would not produce.
  void send_raw(std::string wire_bytes);

  // Next received text frame, parsed. nullopt on timeout, or once the connection is closed and
  // every frame received before the close was consumed. Throws when a frame is not a JSON object.
  std::optional<boost::json::object> next(std::chrono::milliseconds timeout = kFrameTimeout);
  // Raw text of the next frame (same rules as next()).
  std::optional<std::string> next_raw(std::chrono::milliseconds timeout = kFrameTimeout);
  std::size_t pending();  // frames received and not consumed yet

  // Waits until the peer closed the connection; nullopt on timeout. Queued frames are kept.
  std::optional<CloseInfo> expect_close(std::chrono::milliseconds timeout = kFrameTimeout);
  bool closed();

  // Polite close (close frame 1000, waits for the peer's, bounded).
  void close(std::chrono::milliseconds timeout = 2000ms);
  // Abrupt disconnect: the TCP socket is shut, no close frame.
  void drop();

  std::string write_error();  // first write error ("" when none)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Cluster

struct NodeSpec {
  std::string id;                       // default node-K
  std::vector<std::string> extra_args;  // e.g. {"--delivery-timeout-ms", "500"}
};

struct ClusterOptions {
  int nodes = 2;
  std::vector<NodeSpec> node_specs;  // optional per-node overrides (index = node index)
  std::vector<std::string> master_args;
  std::string log_level = "debug";       // WSG_IT_LOG_LEVEL overrides
  std::vector<std::string> status_args;  // added to every `wsg status` (e.g. the cluster key)
  int masters = 1;                       // masters (each a full replica); nodes get them all as --master
  int masters_idle = 0;  // the last N of them are listed but not started (ops::restart_master starts one)
};

struct NodeHandle {
  std::string id;
  uint16_t ws_port = 0;
  uint16_t events_port = 0;
  std::unique_ptr<Process> process;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  explicit Cluster(int nodes) : Cluster(ClusterOptions{nodes, {}, {}, "debug", {}}) {}
  // SIGTERM to every process still running, bounded wait, then SIGKILL. Fails the running test
  // case (without throwing) when one of them does not exit 0 in time, or when a log holds a
  // sanitizer report.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string master_addr() const;  // tcp://127.0.0.1:MPORT (the first master)
  uint16_t master_port() const { return master_port_; }
  Process& master() { return *master_; }
  // Several masters (ClusterOptions::masters): master i's address and process (0 = master()),
  // and the comma-separated list the nodes are given.
  std::size_t master_count() const { return 1 + extra_masters_.size(); }
  std::string master_addr(std::size_t i) const;
  Process& master(std::size_t i) { return i == 0 ? *master_ : *extra_masters_.at(i - 1).second; }
  bool master_started(std::size_t i) const { return i == 0 || extra_masters_.at(i - 1).second != nullptr; }
  std::string masters_addr() const;
  std::size_t size() const { return nodes_.size(); }
  NodeHandle& node(std::size_t i) { return nodes_.at(i); }
  uint16_t ws_port(std::size_t i) const { return nodes_.at(i).ws_port; }
  const std::string& node_id(std::size_t i) const { return nodes_.at(i).id; }

  // `wsg status --master ADDR --json [--user ID]`, parsed. Throws on failure (exit code != 0,
  // timeout, output not a JSON object) with the command's stdout/stderr in the message.
  boost::json::object status_json(std::chrono::milliseconds timeout = 5000ms);
  boost::json::object status_user(const std::string& user, std::chrono::milliseconds timeout = 5000ms);
  RunResult run_status(const std::vector<std::string>& extra, std::chrono::milliseconds timeout = 5000ms);
  // `wsg status --master <master i> ...`.
  RunResult run_status_at(std::size_t i, const std::vector<std::string>& extra,
                          std::chrono::milliseconds timeout = 5000ms);

  // Waits for the node's /healthz to answer 200. Throws on timeout or if the process exited.
  void wait_node_ready(std::size_t i, std::chrono::milliseconds timeout = kStartTimeout);

 private:
  void start(int attempt);
  void stop(bool check);

  ClusterOptions options_;
  uint16_t master_port_ = 0;
  std::unique_ptr<Process> master_;
  std::vector<std::pair<uint16_t, std::unique_ptr<Process>>> extra_masters_;  // masters 1..N-1
  std::vector<NodeHandle> nodes_;
  int status_runs_ = 0;
};

// ---------------------------------------------------------------------------------------------
// JSON helpers

boost::json::object parse_object(const std::string& text);       // throws on anything but an object
std::string str(const boost::json::object& o, const char* key);  // "" when missing / not a string
bool has(const boost::json::object& o, const char* key);
int64_t num(const boost::json::object& o, const char* key);  // integral value; throws otherwise
std::string dump(const boost::json::value& v);

}  // namespace wsg::it
