#include "worker.h"

#include "shard.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace wsg::bench {

namespace json = boost::json;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
// Bound on closing every session politely (a base, and a share per session of the worker: 100,000
// sessions over 6 workers and 7 nodes on 2 cores need more than 5 s), then on aborting.
constexpr int64_t kCloseBoundNs = 5 * kSecond;
constexpr int64_t kCloseBoundPerSessionNs = 500'000;
constexpr int64_t kAbortBoundNs = 2 * kSecond;

std::vector<Endpoint> resolve(const Options& o, std::vector<std::string>& problems) {
  std::vector<Endpoint> out;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  for (const auto& u : o.urls) {
    boost::system::error_code ec;
    const auto results = resolver.resolve(u.host, u.port, ec);
    Endpoint e;
    e.host_header = u.host_header;
    e.target = u.target;
    if (ec || results.empty()) {
      problems.push_back("cannot resolve " + u.url + ": " + (ec ? ec.message() : "no address"));
      e.address = tcp::endpoint(net::ip::make_address("127.0.0.1"), 1);
    } else {
      e.address = results.begin()->endpoint();
      for (const auto& r : results)
        if (r.endpoint().address().is_v4()) {
          e.address = r.endpoint();
          break;
        }
    }
    out.push_back(e);
  }
  return out;
}

// room: the members' deliveries come from publishers of every worker, so once every worker is done
// sending the coordinator tells each what its members are owed ({"cmd":"expect","deliveries":N,
// "until_ns":T}, T = the window's end + the grace); the wait ends when they have it all and every
// publish of this worker is answered, or at T.
void wait_room_drained(Control& control, int shards, Channel& channel, int64_t deadline,
                       std::vector<std::string>& problems) {
  std::optional<json::object> cmd;
  try {
    cmd = channel.receive(deadline);
  } catch (const std::exception& e) {
    problems.push_back(std::string("worker: ") + e.what());
  }
  const auto* name = cmd ? cmd->if_contains("cmd") : nullptr;
  if (!name || !name->is_string() || name->as_string() != "expect") return;  // abort, or nothing
  const auto owed = json::value_to<uint64_t>(cmd->at("deliveries"));
  const int64_t until = std::min(deadline, json::value_to<int64_t>(cmd->at("until_ns")));
  while (mono_ns() < until) {
    if (control.deliveries() >= owed && control.wait(Control::drained, shards, 0)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

int run_worker(const Options& o, int64_t k, int64_t p, Channel& channel) {
  const int64_t deadline = mono_ns() + static_cast<int64_t>(o.timeout * 1e9);
  std::vector<std::string> problems;
  const std::vector<Endpoint> endpoints = resolve(o, problems);
  const bool storm = o.scenario == "storm";
  const bool pairs = o.scenario == "local" || o.scenario == "remote";
  const bool room = o.scenario == "room";

  Control control;
  const int64_t threads = o.threads;
  const int64_t concurrency = std::max<int64_t>(1, share(o.concurrency, p, k));
  std::vector<std::unique_ptr<Shard>> shards;
  for (int64_t s = 0; s < threads; ++s)
    shards.push_back(
        std::make_unique<Shard>(o, endpoints, control, std::max<int64_t>(1, share(concurrency, threads, s)), deadline));
  int64_t local = 0;
  const auto& src = o.sources;
  for (int64_t u = k; u < o.units(); u += p, ++local) {
    Shard& shard = *shards[static_cast<std::size_t>(local % threads)];
    if (pairs)
      shard.add_pair(u, src[static_cast<std::size_t>((2 * u) % static_cast<int64_t>(src.size()))],
                     src[static_cast<std::size_t>((2 * u + 1) % static_cast<int64_t>(src.size()))]);
    else if (room) shard.add_member(u, src[static_cast<std::size_t>(u % static_cast<int64_t>(src.size()))]);
    else shard.add_session(u, src[static_cast<std::size_t>(u % static_cast<int64_t>(src.size()))]);
  }

  std::vector<std::thread> io;
  for (auto& s : shards) io.emplace_back([&s] { s->run(); });
  const int n = static_cast<int>(threads);

  auto timed_out = [&problems, k](const std::string& what) {
    problems.push_back("worker " + std::to_string(k) + ": timeout (--timeout) " + what);
  };

  bool go_on = true;
  if (!storm) {
    for (auto& s : shards) s->start_connecting();
    if (!control.wait(Control::connected, n, deadline)) {
      timed_out("while opening the sessions");
      go_on = false;
    }
  }
  if (!channel.send({{"ev", "ready"}, {"opened", control.opened()}, {"failed", control.failed()}})) go_on = false;

  if (go_on) {
    std::optional<json::object> cmd;
    try {
      cmd = channel.receive(deadline);
    } catch (const std::exception& e) {
      problems.push_back(std::string("worker: ") + e.what());
    }
    const std::string name = cmd && cmd->contains("cmd") && cmd->at("cmd").is_string()
                                 ? std::string(cmd->at("cmd").as_string())
                                 : std::string();
    if (name == "start") {
      const int64_t warm = json::value_to<int64_t>(cmd->at("warm_ns"));
      const int64_t start = json::value_to<int64_t>(cmd->at("start_ns"));
      const int64_t end = json::value_to<int64_t>(cmd->at("end_ns"));
      for (auto& s : shards) {
        if (storm) s->start_storm(start);
        else s->start_traffic(warm, start, end);
      }
      if (!control.wait(Control::sending_done, n, deadline)) {
        timed_out(storm ? "during the storm" : "during the measured window");
      } else {
        const int64_t grace_end = std::min(deadline, control.max_end_ns() + kGraceNs);
        json::object sent{{"ev", "sent"}, {"end_ns", control.max_end_ns()}};
        if (room) {
          json::array rooms;
          for (const auto& [r, count] : control.room_sent()) rooms.push_back(json::array{r, count});
          sent["rooms"] = std::move(rooms);
          sent["own"] = control.own_sent();
        }
        channel.send(sent);
        if (room) wait_room_drained(control, n, channel, deadline, problems);
        else if (!storm) control.wait(Control::drained, n, grace_end);
      }
    } else if (name == "close" || name == "abort") {
      // idle: the hold is over. abort: the coordinator gave up.
    } else if (!cmd) {
      if (!channel.eof()) timed_out("waiting for the coordinator");
      else problems.push_back("worker " + std::to_string(k) + ": the coordinator went away");
    }
  }

  for (auto& s : shards) s->close_all();
  if (!control.wait(Control::closed, n, mono_ns() + kCloseBoundNs + local * kCloseBoundPerSessionNs)) {
    problems.push_back("worker " + std::to_string(k) + ": sessions did not close in time; aborted them");
    for (auto& s : shards) s->abort_all();
    if (!control.wait(Control::closed, n, mono_ns() + kAbortBoundNs))
      for (auto& s : shards) s->stop();
  }
  for (auto& t : io) t.join();

  WorkerResult total;
  for (auto& s : shards) total.merge(s->result());
  total.problems.insert(total.problems.end(), problems.begin(), problems.end());
  shards.clear();
  return channel.send({{"ev", "report"}, {"result", total.to_json()}}) ? 0 : 1;
}

}  // namespace wsg::bench
