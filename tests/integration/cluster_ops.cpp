// See cluster_ops.h.
#include "cluster_ops.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace wsg::it::ops {

int64_t ms_since(Clock::time_point t) { return std::chrono::duration_cast<ms>(Clock::now() - t).count(); }

std::vector<std::string> master_flags(const Timings& t) {
  return {"--node-timeout-ms", std::to_string(t.node_timeout_ms)};
}

std::string list(const std::vector<std::string>& v, std::size_t max) {
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) os << (i ? "; " : "") << v[i];
  if (v.size() > max) os << " ... (" << v.size() << " in all)";
  return os.str();
}

std::vector<std::string> node_flags(const Timings& t) {
  return {"--heartbeat-ms", std::to_string(t.heartbeat_ms), "--delivery-timeout-ms",
          std::to_string(t.delivery_timeout_ms)};
}

ClusterOptions fast_cluster(int nodes, const Timings& t, const std::vector<std::vector<std::string>>& extra) {
  ClusterOptions o;
  o.nodes = nodes;
  o.master_args = master_flags(t);
  for (int i = 0; i < nodes; ++i) {
    const std::vector<std::string> none;
    const auto& more = i < static_cast<int>(extra.size()) ? extra[i] : none;
    // A flag given in `more` replaces the timing flag of the same name (the CLI takes each once).
    std::vector<std::string> args;
    const auto base = node_flags(t);
    for (std::size_t k = 0; k + 1 < base.size(); k += 2)
      if (std::find(more.begin(), more.end(), base[k]) == more.end()) {
        args.push_back(base[k]);
        args.push_back(base[k + 1]);
      }
    for (const auto& a : more) args.push_back(a);
    o.node_specs.push_back(NodeSpec{"node-" + std::to_string(i + 1), std::move(args)});
  }
  return o;
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = test_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path;
}

namespace {
std::atomic<int> g_spawned{0};
std::string log_level() {
  if (const char* lvl = std::getenv("WSG_IT_LOG_LEVEL")) return lvl;
  return "debug";
}
}  // namespace

std::unique_ptr<Process> restart_master(Cluster& c, const std::vector<std::string>& extra_args, ms ready_timeout,
                                        std::size_t index) {
  const int n = ++g_spawned;
  std::vector<std::string> args{"master", "--bind", c.master_addr(index), "--log-level", log_level()};
  for (const auto& a : extra_args) args.push_back(a);
  const auto log = test_dir() / ("master-restart-" + std::to_string(n) + ".log");
  register_log(log);
  auto p = std::make_unique<Process>("master-restart-" + std::to_string(n), wsg_binary(), args, log);
  std::string last;
  bool ready = poll_until(
      [&] {
        if (!p->running())
          throw std::runtime_error("restarted master exited with code " + std::to_string(p->exit_code().value_or(-1)) +
                                   "; log:\n" + tail_file(log, 20));
        auto r = c.run_status_at(index, {"--json", "--timeout-ms", "500"}, ms(2000));
        last = r.err;
        return r.exit_code && *r.exit_code == 0;
      },
      ready_timeout);
  if (!ready) throw std::runtime_error("restarted master not answering `wsg status` in time; last stderr: " + last);
  return p;
}

ExtraNode start_node(Cluster& c, const std::string& id, const std::vector<std::string>& extra_args) {
  const int n = ++g_spawned;
  ExtraNode h;
  h.id = id;
  h.ws_port = free_port();
  h.events_port = free_port();
  std::vector<std::string> args{"node",
                                "--id",
                                id,
                                "--listen",
                                "127.0.0.1:" + std::to_string(h.ws_port),
                                "--master",
                                c.masters_addr(),
                                "--events-bind",
                                "tcp://127.0.0.1:" + std::to_string(h.events_port),
                                "--log-level",
                                log_level()};
  for (const auto& a : extra_args) args.push_back(a);
  const auto log = test_dir() / (id + "-extra-" + std::to_string(n) + ".log");
  register_log(log);
  h.process = std::make_unique<Process>(id + "-extra-" + std::to_string(n), wsg_binary(), args, log);
  return h;
}

bool wait_node_ready(ExtraNode& n, ms timeout) {
  return poll_until(
             [&] {
               if (!n.process->running()) return false;
               return http_get(n.ws_port, "/healthz", {}, ms(1000)).status == 200;
             },
             timeout) &&
         n.process->running();
}

std::vector<std::string> own_log_lines(const std::filesystem::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0 && line.find(wsg_binary()) != std::string::npos) continue;
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> stop_checked(Process& p, ms bound) {
  std::vector<std::string> problems;
  if (p.running()) {
    p.terminate();
    if (!p.wait_exit(bound)) {
      problems.push_back(p.name() + " did not exit within " + std::to_string(bound.count()) + " ms of SIGTERM");
      p.kill();
      p.wait_exit(ms(2000));
    } else if (*p.exit_code() != 0) {
      problems.push_back(p.name() + " exited with code " + std::to_string(*p.exit_code()) + " after SIGTERM");
    }
  }
  for (const auto& line : own_log_lines(p.log())) {
    if (line.find("ERROR: AddressSanitizer") != std::string::npos ||
        line.find("ERROR: LeakSanitizer") != std::string::npos ||
        line.find("WARNING: ThreadSanitizer") != std::string::npos ||
        line.find(": runtime error: ") != std::string::npos)
      problems.push_back(p.name() + ": " + line);
  }
  return problems;
}

int64_t tcp_unread_bytes(uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  int64_t total = 0;
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string sl, local, remote, st, queues;
    if (!(is >> sl >> local >> remote >> st >> queues)) continue;
    if (st != "01") continue;  // TCP_ESTABLISHED
    auto colon = local.rfind(':');
    auto qcolon = queues.find(':');
    if (colon == std::string::npos || qcolon == std::string::npos) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
    total += static_cast<int64_t>(std::stoull(queues.substr(qcolon + 1), nullptr, 16));
  }
  return total;
}

namespace {
// Every thread of `pid` is in the stopped state ('T' in /proc/PID/task/TID/stat).
bool all_threads_stopped(int pid) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(fs::path("/proc") / std::to_string(pid) / "task", ec);
  if (ec) return false;
  bool any = false;
  for (const auto& entry : it) {
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
    const char state = stat[paren + 2];
    if (state != 'T' && state != 't') return false;
    any = true;
  }
  return any;
}
}  // namespace

Freeze::Freeze(Process& p) : p_(p) {
  if (!p_.running()) throw std::runtime_error("cannot freeze " + p_.name() + ": not running");
  if (::kill(p_.pid(), SIGSTOP) != 0) throw std::runtime_error("SIGSTOP failed for " + p_.name());
  frozen_ = true;
  // kill() returns before the threads have stopped: wait until every one has.
  const auto t0 = Clock::now();
  if (!poll_until([&] { return all_threads_stopped(p_.pid()); }, ms(3000)))
    throw std::runtime_error("SIGSTOP: " + p_.name() + " did not stop within 3 s");
  stop_wait_ms_ = ms_since(t0);
}

Freeze::~Freeze() { thaw(); }

void Freeze::thaw() {
  if (!frozen_) return;
  frozen_ = false;
  ::kill(p_.pid(), SIGCONT);
}

Health health(uint16_t port) {
  Health h;
  auto r = http_get(port, "/healthz", {}, ms(2000));
  h.http = r.status;
  if (r.status == 0) return h;
  try {
    auto o = parse_object(r.body);
    h.status = str(o, "status");
    if (o.contains("sessions")) h.sessions = num(o, "sessions");
  } catch (const std::exception&) {
  }
  return h;
}

std::set<std::pair<std::string, std::string>> user_sessions(Cluster& c, const std::string& user) {
  auto u = c.status_user(user);
  std::set<std::pair<std::string, std::string>> out;
  if (!u.contains("sessions") || !u.at("sessions").is_array())
    throw std::runtime_error("status --user " + user + ": no sessions array in " + dump(u));
  for (const auto& s : u.at("sessions").as_array()) {
    if (!s.is_object()) continue;
    out.emplace(str(s.as_object(), "node"), str(s.as_object(), "session"));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ledger

void Ledger::send(const std::string& to, const json::value& body, const std::string& ref) {
  if (sent_at_.count(ref)) throw std::logic_error("ref sent twice by the test: " + ref);
  sent_at_[ref] = Clock::now();
  order_.push_back(ref);
  s_->send_json(send_frame(to, body, ref));
}

std::size_t Ledger::pump(ms wait) {
  std::size_t n = 0;
  auto timeout = wait;
  while (auto f = s_->next(timeout)) {
    timeout = ms(0);
    const auto now = Clock::now();
    ++n;
    const std::string type = str(*f, "type");
    if (type == "ack") {
      acks_[str(*f, "ref")].push_back(AckRecord{str(*f, "status"), str(*f, "id"), now});
    } else if (type == "message") {
      messages_.push_back(MessageRecord{std::move(*f), now});
    } else {
      others_.push_back(std::move(*f));
    }
  }
  return n;
}

bool Ledger::pump_until(const std::function<bool()>& pred, ms timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    pump();
    if (pred()) return true;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    // Blocks until the next frame arrives (or briefly), so this is not a busy loop.
    pump(std::min(ms(20), std::chrono::duration_cast<ms>(deadline - now) + ms(1)));
    if (pred()) return true;
  }
}

bool Ledger::wait_all_acked(ms timeout) {
  return pump_until([&] { return unacked().empty(); }, timeout);
}

const AckRecord& Ledger::ack(const std::string& ref) const {
  auto it = acks_.find(ref);
  if (it == acks_.end() || it->second.size() != 1)
    throw std::runtime_error("expected exactly one ack for " + ref + ", got " +
                             std::to_string(it == acks_.end() ? 0 : it->second.size()));
  return it->second.front();
}

std::vector<std::string> Ledger::unacked() const {
  std::vector<std::string> out;
  for (const auto& r : order_)
    if (!acks_.count(r)) out.push_back(r);
  return out;
}

std::vector<std::string> Ledger::acked_twice() const {
  std::vector<std::string> out;
  for (const auto& [r, v] : acks_)
    if (v.size() > 1) out.push_back(r);
  return out;
}

std::vector<std::string> Ledger::unknown_acks() const {
  std::vector<std::string> out;
  for (const auto& [r, v] : acks_)
    if (!sent_at_.count(r)) out.push_back(r);
  return out;
}

int64_t Ledger::ack_latency(const std::string& ref) const {
  auto a = acks_.find(ref);
  auto s = sent_at_.find(ref);
  if (a == acks_.end() || s == sent_at_.end() || a->second.empty()) return -1;
  return std::chrono::duration_cast<ms>(a->second.front().at - s->second).count();
}

std::vector<MessageRecord> Ledger::messages_tagged(const std::string& key) const {
  std::vector<MessageRecord> out;
  for (const auto& m : messages_)
    if (tag_n(m.frame, key) >= 0) out.push_back(m);
  return out;
}

std::string Ledger::describe(const std::string& ref) const {
  std::ostringstream os;
  os << ref << ": ";
  auto a = acks_.find(ref);
  if (a == acks_.end()) {
    os << "no ack";
  } else {
    for (const auto& r : a->second) os << r.status << " (msg " << r.msg_id << ") ";
    os << "after " << ack_latency(ref) << " ms";
  }
  return os.str();
}

json::value tagged(const std::string& key, int64_t n) { return json::object{{"k", key}, {"n", n}}; }

int64_t tag_n(const json::object& message, const std::string& key) {
  auto* b = message.if_contains("body");
  if (!b || !b->is_object()) return -1;
  const auto& o = b->as_object();
  if (str(o, "k") != key || !o.contains("n")) return -1;
  try {
    return num(o, "n");
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace wsg::it::ops
