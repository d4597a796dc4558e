#include "coordinator.h"

#include "channel.h"
#include "client.h"
#include "report.h"
#include "worker.h"

#include <boost/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace wsg::bench {

namespace json = boost::json;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
// From the start command to the start of sending: time for every worker to get it.
constexpr int64_t kStartMarginNs = 100'000'000;
// After the deadline: how long workers have to close their sessions and report.
constexpr int64_t kReportGraceNs = 10 * kSecond;

struct Link {
  int64_t k = 0;
  std::unique_ptr<Channel> channel;
  pid_t pid = -1;  // worker process, or -1 for the in-process worker thread
  std::thread thread;
  int fds[2] = {-1, -1};  // descriptors this process closes at the end
  std::optional<json::object> ready, sent, report;
  bool gone = false;  // end of stream (or unreadable)

  bool finished() const { return report.has_value() || gone; }
};

std::string ev_of(const json::object& m) {
  const auto* e = m.if_contains("ev");
  return e && e->is_string() ? std::string(e->as_string()) : std::string();
}

// Reads what the workers sent until `done` holds or the deadline passes.
void pump(std::vector<Link>& links, int64_t deadline, const std::function<bool()>& done,
          std::vector<std::string>& problems) {
  for (;;) {
    for (auto& l : links) {
      try {
        while (auto m = l.channel->buffered()) {
          const std::string ev = ev_of(*m);
          if (ev == "ready") l.ready = std::move(*m);
          else if (ev == "sent") l.sent = std::move(*m);
          else if (ev == "report") l.report = std::move(*m);
        }
      } catch (const std::exception& e) {
        problems.push_back("worker " + std::to_string(l.k) + ": " + e.what());
        l.gone = true;
      }
      if (l.channel->eof() && !l.report) l.gone = true;
    }
    if (done()) return;
    const int64_t left = deadline - mono_ns();
    if (left <= 0) return;
    std::vector<pollfd> fds;
    std::vector<Link*> who;
    for (auto& l : links)
      if (!l.finished()) {
        fds.push_back(pollfd{l.channel->read_fd(), POLLIN, 0});
        who.push_back(&l);
      }
    if (fds.empty()) return;
    const int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 1000)));
    if (r < 0 && errno != EINTR) return;
    for (std::size_t i = 0; r > 0 && i < fds.size(); ++i)
      if (fds[i].revents) who[i]->channel->fill();
  }
}

void start_thread_worker(Link& l, const Options& o) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  l.fds[0] = sv[0];
  l.fds[1] = sv[1];
  l.channel = std::make_unique<Channel>(sv[0], sv[0]);
  const int worker_fd = sv[1];
  l.thread = std::thread([&o, worker_fd] {
    Channel ch(worker_fd, worker_fd);
    run_worker(o, 0, 1, ch);
    ::shutdown(worker_fd, SHUT_WR);
  });
}

void start_process_worker(Link& l, const Options& o) {
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> args = o.worker_args(l.k);
  args.insert(args.begin(), "wsg-bench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The worker dies with the coordinator.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  l.pid = pid;
  l.fds[0] = from_child[0];
  l.fds[1] = to_child[1];
  l.channel = std::make_unique<Channel>(from_child[0], to_child[1]);
}

void send_all(std::vector<Link>& links, const json::object& cmd) {
  for (auto& l : links)
    if (!l.finished()) l.channel->send(cmd);
}

void sample(std::vector<ServerResult>& servers, bool at_start) {
  for (auto& s : servers) (at_start ? s.start : s.end) = sample_process(s.server.pid);
}

void pretty(const json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [k, e] : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + json::serialize(json::value(k)) + ": ";
      pretty(e, out, indent + 2);
    }
    out += "\n" + std::string(static_cast<std::size_t>(indent), ' ') + "}";
  } else if (v.is_array() && !v.as_array().empty() && !v.as_array()[0].is_number()) {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.as_array()) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      pretty(e, out, indent + 2);
    }
    out += "\n" + std::string(static_cast<std::size_t>(indent), ' ') + "]";
  } else if (v.is_double() && std::isfinite(v.as_double())) {
    out += number_text(v.as_double());
  } else {
    out += json::serialize(v);
  }
}

// How many of the members [first, first + size) worker k of p holds (it takes k, k + p, ...).
uint64_t members_of_worker(int64_t first, int64_t size, int64_t k, int64_t p) {
  const auto below = [k, p](int64_t x) { return x <= k ? int64_t{0} : (x - k - 1) / p + 1; };
  return static_cast<uint64_t>(below(first + size) - below(first));
}

// room: every publish of the window owes one delivery to each member of its room but its publisher;
// tells each worker what its members are owed, so that it stops waiting once they have it all.
void send_room_expectations(std::vector<Link>& links, const Options& o, int64_t window_end,
                            std::vector<std::string>& problems) {
  std::map<int64_t, uint64_t> per_room;
  try {
    for (auto& l : links)
      for (const auto& e : l.sent->at("rooms").as_array()) {
        const auto& a = e.as_array();
        per_room[json::value_to<int64_t>(a.at(0))] += json::value_to<uint64_t>(a.at(1));
      }
  } catch (const std::exception& e) {
    problems.push_back(std::string("malformed sent event: ") + e.what());
    return;
  }
  const auto p = static_cast<int64_t>(links.size());
  for (auto& l : links) {
    if (l.finished()) continue;
    uint64_t owed = 0;
    for (const auto& [r, n] : per_room) owed += n * members_of_worker(o.room_first(r), o.room_size(r), l.k, p);
    const auto own = json::value_to<uint64_t>(l.sent->at("own"));
    l.channel->send(
        {{"cmd", "expect"}, {"deliveries", owed > own ? owed - own : 0}, {"until_ns", window_end + kGraceNs}});
  }
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  pretty(v, out, 0);
  return out + "\n";
}

void raise_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int run_coordinator(const Options& o) {
  RunFacts f;
  f.started_at = iso_now();
  f.processes = o.procs;
  const int64_t deadline = mono_ns() + static_cast<int64_t>(o.timeout * 1e9);
  for (const auto& s : o.servers) f.servers.push_back(ServerResult{s, {}, {}});
  const bool idle = o.scenario == "idle";
  const bool storm = o.scenario == "storm";

  if (idle) sample(f.servers, true);  // before any session is opened

  std::vector<Link> links(static_cast<std::size_t>(o.procs));
  for (std::size_t k = 0; k < links.size(); ++k) links[k].k = static_cast<int64_t>(k);
  try {
    if (o.procs == 1) start_thread_worker(links[0], o);
    else
      for (auto& l : links) start_process_worker(l, o);
  } catch (const std::exception& e) {
    std::cerr << "wsg-bench: cannot start the workers: " << e.what() << "\n";
    for (auto& l : links)
      if (l.pid > 0) ::kill(l.pid, SIGKILL);
    for (auto& l : links) {
      if (l.pid > 0) ::waitpid(l.pid, nullptr, 0);
      if (l.thread.joinable()) l.thread.join();
    }
    return 1;
  }

  auto all = [&links](auto member) {
    return [&links, member] {
      for (auto& l : links)
        if (!l.finished() && !(l.*member)) return false;
      return true;
    };
  };

  // 1. Every worker has opened its sessions (or failed them).
  pump(links, deadline, all(&Link::ready), f.problems);
  uint64_t opened = 0;
  for (auto& l : links)
    if (l.ready) opened += json::value_to<uint64_t>(l.ready->at("opened"));
  const bool all_ready = all(&Link::ready)();
  if (!all_ready) f.problems.push_back("timeout (--timeout) while the workers opened their sessions");

  // 2. The measured part.
  if (!all_ready || (!storm && opened == 0)) {
    send_all(links, {{"cmd", "abort"}});
  } else if (idle) {
    const int64_t hold_end = std::min(deadline, mono_ns() + static_cast<int64_t>(o.hold * 1e9));
    const int64_t hold_start = mono_ns();
    pump(
        links, hold_end, [] { return false; }, f.problems);
    sample(f.servers, false);  // sessions still open
    f.window_s = static_cast<double>(mono_ns() - hold_start) / 1e9;
    send_all(links, {{"cmd", "close"}});
  } else {
    const int64_t warm = mono_ns() + kStartMarginNs;
    const int64_t start = storm ? warm : warm + static_cast<int64_t>(o.warmup * 1e9);
    const int64_t end = storm ? start : start + static_cast<int64_t>(o.duration * 1e9);
    send_all(links, {{"cmd", "start"}, {"warm_ns", warm}, {"start_ns", start}, {"end_ns", end}});
    pump(
        links, start, [] { return false; }, f.problems);
    sample(f.servers, true);
    pump(links, deadline, all(&Link::sent), f.problems);
    sample(f.servers, false);
    // The window ends with the last worker's sending (before `end` when --max-messages stopped them all).
    int64_t last = storm ? 0 : start;
    bool all_sent = true;
    for (auto& l : links) {
      if (l.sent) last = std::max(last, json::value_to<int64_t>(l.sent->at("end_ns")));
      else all_sent = false;
    }
    if (!all_sent) {
      f.problems.push_back("timeout (--timeout) before every worker finished sending");
      last = storm ? mono_ns() : std::min(end, mono_ns());  // the window ended at the cut
      send_all(links, {{"cmd", "abort"}});
    } else if (o.scenario == "room") {
      send_room_expectations(links, o, last, f.problems);
    }
    f.window_s = static_cast<double>(std::max<int64_t>(0, last - start)) / 1e9;
  }

  // 3. Reports.
  pump(links, std::max(deadline, mono_ns()) + kReportGraceNs, all(&Link::report), f.problems);
  for (auto& l : links) {
    if (l.report) {
      try {
        f.total.merge(WorkerResult::from_json(l.report->at("result")));
      } catch (const std::exception& e) {
        f.problems.push_back("worker " + std::to_string(l.k) + ": " + e.what());
      }
    } else {
      f.problems.push_back("worker " + std::to_string(l.k) +
                           (l.gone ? " exited without a report" : " did not report in time"));
      if (l.pid > 0) ::kill(l.pid, SIGKILL);
    }
  }
  for (auto& l : links) {
    if (l.pid > 0) {
      int status = 0;
      ::waitpid(l.pid, &status, 0);
      if (l.report && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        f.problems.push_back("worker " + std::to_string(l.k) + " exited with status " + std::to_string(status));
    }
    if (l.thread.joinable()) l.thread.join();
    for (int fd : l.fds)
      if (fd >= 0) ::close(fd);
  }

  const json::object report = build_report(o, f);
  const std::string summary = summary_text(report);
  if (o.json_file == "-") {
    std::cout << pretty_json(report) << std::flush;
    std::cerr << summary;
  } else if (!o.json_file.empty()) {
    std::ofstream out(o.json_file);
    out << pretty_json(report);
    out.close();
    if (!out) {
      std::cerr << "wsg-bench: cannot write " << o.json_file << "\n";
      std::cout << summary;
      return 1;
    }
    std::cout << summary;
  } else {
    std::cerr << summary;
  }
  return report.at("ok").as_bool() ? 0 : 1;
}

}  // namespace wsg::bench
