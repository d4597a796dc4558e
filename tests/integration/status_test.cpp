// `wsg status --json` (man/wsg.1, COMMANDS), session unregistration on close, and `wsg status`
// asking several masters (`--master A,B`).
#include "test_util.h"

#include <fstream>

using namespace wsg::it;

namespace {

// Requires the documented shape of `wsg status --json`.
void check_status_shape(const json::object& st, Cluster& c) {
  INFO("status: " << dump(st));
  REQUIRE(st.contains("master"));
  REQUIRE(st.at("master").is_object());
  const auto& m = st.at("master").as_object();
  CHECK(m.contains("epoch"));
  CHECK_NOTHROW(num(m, "sessions"));
  CHECK_NOTHROW(num(m, "users"));
  REQUIRE(st.contains("nodes"));
  REQUIRE(st.at("nodes").is_array());
  CHECK(st.at("nodes").as_array().size() == c.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto* n = find_node(st, c.node_id(i));
    INFO("node " << c.node_id(i));
    REQUIRE(n != nullptr);
    CHECK(str(*n, "ws").find("127.0.0.1:" + std::to_string(c.ws_port(i))) != std::string::npos);
    CHECK(str(*n, "events").find("127.0.0.1:" + std::to_string(c.node(i).events_port)) != std::string::npos);
    CHECK(n->contains("alive"));
    CHECK((n->contains("alive") && n->at("alive") == json::value(true)));
    CHECK_NOTHROW(num(*n, "sessions"));
    REQUIRE_NOTHROW(num(*n, "last_heartbeat_ms"));
    CHECK(num(*n, "last_heartbeat_ms") >= 0);
    CHECK(num(*n, "last_heartbeat_ms") < 3000);  // heartbeat every 1000 ms by default
  }
}

std::set<std::pair<std::string, std::string>> user_sessions(Cluster& c, const std::string& user) {
  auto u = c.status_user(user);
  INFO("status --user " << user << ": " << dump(u));
  REQUIRE(str(u, "user") == user);
  REQUIRE(u.contains("sessions"));
  REQUIRE(u.at("sessions").is_array());
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& s : u.at("sessions").as_array()) {
    REQUIRE(s.is_object());
    out.emplace(str(s.as_object(), "node"), str(s.as_object(), "session"));
  }
  CHECK(out.size() == u.at("sessions").as_array().size());
  return out;
}

// Sends to `user` until the ack says `offline` (or the deadline passes).
bool becomes_offline(Session& sender, const std::string& user, std::chrono::milliseconds timeout) {
  int n = 0;
  std::string last;
  bool ok = poll_until(
      [&] {
        const std::string ref = "probe-" + user + "-" + std::to_string(n++);
        sender->send_json(send_frame(user, "are you there?", ref));
        auto a = expect_frame(*sender, "ack");
        REQUIRE(str(a, "ref") == ref);
        last = dump(a);
        return str(a, "status") == "offline";
      },
      timeout);
  INFO("last ack: " << last);
  CHECK(ok);
  return ok;
}

// A master of its own on a free port, outside any Cluster (no node registers with it unless told
// to): started, and waited for until `wsg status` gets its answer.
struct ExtraMaster {
  std::string addr;
  std::unique_ptr<Process> process;

  explicit ExtraMaster(const std::string& name) {
    addr = "tcp://127.0.0.1:" + std::to_string(free_port());
    const auto log = test_dir() / (name + ".log");
    register_log(log);
    process = std::make_unique<Process>(
        name, wsg_binary(), std::vector<std::string>{"master", "--bind", addr, "--log-level", "debug"}, log);
    std::string last;
    const bool ready = poll_until(
        [&] {
          if (!process->running())
            throw std::runtime_error(name + " exited during start-up; log:\n" + tail_file(log, 20));
          auto r = run_command(wsg_binary(), {"status", "--master", addr, "--json", "--timeout-ms", "500"}, 2000ms);
          last = r.err;
          return r.exit_code == std::optional<int>(0);
        },
        kStartTimeout);
    if (!ready) throw std::runtime_error(name + " not answering `wsg status` in time; last stderr: " + last);
  }
  // Stops it as the Cluster stops its master: SIGTERM, then exit 0 within 3 s.
  ~ExtraMaster() {
    if (!process->running()) return;
    process->terminate();
    const auto code = process->wait_exit(3000ms);
    CHECK(code == std::optional<int>(0));
  }
};

// `wsg status --master LIST ARGS...`, on its own (not through Cluster::run_status, which adds the
// cluster's master).
RunResult status_of(const std::string& masters, std::vector<std::string> args, int64_t timeout_ms = 3000) {
  std::vector<std::string> all{"status", "--master", masters, "--timeout-ms", std::to_string(timeout_ms)};
  for (auto& a : args) all.push_back(std::move(a));
  return run_command(wsg_binary(), all, std::chrono::milliseconds(timeout_ms + margin_ms(5000)));
}

// What the command wrote to stderr, less the line run_command puts first ("# COMMAND LINE").
std::string errors_of(const RunResult& r) {
  std::string out;
  std::size_t at = 0;
  while (at < r.err.size()) {
    std::size_t end = r.err.find('\n', at);
    end = end == std::string::npos ? r.err.size() : end + 1;
    if (r.err.compare(at, 2, "# ") != 0) out += r.err.substr(at, end - at);
    at = end;
  }
  return out;
}

// The `masters` entry of a status document for `address`; fails the test when missing.
const json::object& master_entry(const json::object& st, std::size_t index, const std::string& address) {
  INFO("status: " << dump(st));
  REQUIRE(st.contains("masters"));
  REQUIRE(st.at("masters").is_array());
  const auto& list = st.at("masters").as_array();
  REQUIRE(index < list.size());
  REQUIRE(list[index].is_object());
  const auto& m = list[index].as_object();
  CHECK(str(m, "address") == address);
  REQUIRE(m.contains("answered"));
  REQUIRE(m.at("answered").is_bool());
  return m;
}

bool agree(const json::object& st) {
  INFO("status: " << dump(st));
  REQUIRE(st.contains("masters_agree"));
  REQUIRE(st.at("masters_agree").is_bool());
  return st.at("masters_agree").as_bool();
}

// An address where nothing listens (a port that was free a moment ago and is never handed out again).
std::string dead_master() { return "tcp://127.0.0.1:" + std::to_string(free_port()); }

}  // namespace

TEST_CASE("status --json counts sessions users and nodes", "[integration][status]") {
  Cluster c;
  auto st0 = c.status_json();
  check_status_shape(st0, c);
  CHECK(master_count(st0, "sessions") == 0);
  CHECK(master_count(st0, "users") == 0);
  CHECK(node_sessions(st0, "node-1") == 0);
  CHECK(node_sessions(st0, "node-2") == 0);
  const json::value epoch = st0.at("master").as_object().at("epoch");

  auto alice = join(c, 0, "alice");
  auto bob1 = join(c, 1, "bob");
  auto bob2 = join(c, 1, "bob");
  auto bob3 = join(c, 0, "bob");

  // welcome comes after the master acknowledged the registration: the counts are exact now
  auto st = c.status_json();
  INFO("status: " << dump(st));
  check_status_shape(st, c);
  CHECK(master_count(st, "sessions") == 4);
  CHECK(master_count(st, "users") == 2);
  CHECK(st.at("master").as_object().at("epoch") == epoch);
  // per-node counts may come with the heartbeat: poll
  bool per_node = poll_until(
      [&] {
        auto s = c.status_json();
        return node_sessions(s, "node-1") == 2 && node_sessions(s, "node-2") == 2;
      },
      3000ms);
  INFO("last status: " << dump(c.status_json()));
  CHECK(per_node);

  CHECK(user_sessions(c, "alice") == std::set<std::pair<std::string, std::string>>{{"node-1", alice.session}});
  CHECK(user_sessions(c, "bob") == std::set<std::pair<std::string, std::string>>{
                                       {"node-2", bob1.session}, {"node-2", bob2.session}, {"node-1", bob3.session}});
  CHECK(user_sessions(c, "nobody").empty());

  // the readable table works too
  auto table = c.run_status({});
  INFO("status table: " << table.out << table.err);
  CHECK(table.exit_code == std::optional<int>(0));
  CHECK(table.out.find("node-1") != std::string::npos);
  CHECK(table.out.find("node-2") != std::string::npos);
}

TEST_CASE("sessions are unregistered when connections close", "[integration][status]") {
  Cluster c;
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  auto carol = join(c, 1, "carol");
  auto dave = join(c, 0, "dave");

  // routes get cached at node-1
  for (auto* s : {&bob, &carol, &dave}) {
    alice->send_json(send_frame(s->user, "hi", "hi-" + s->user));
    expect_ack(*alice, "hi-" + s->user, "delivered");
    REQUIRE((*s)->next().has_value());
  }
  auto st = c.status_json();
  CHECK(master_count(st, "sessions") == 4);
  CHECK(master_count(st, "users") == 4);

  auto counts_are = [&](int64_t sessions, int64_t users, int n1, int n2) {
    return poll_until(
        [&] {
          auto s = c.status_json();
          return master_count(s, "sessions") == sessions && master_count(s, "users") == users &&
                 node_sessions(s, "node-1") == n1 && node_sessions(s, "node-2") == n2;
        },
        5000ms);
  };

  SECTION("polite close") {
    bob->close();
    CHECK(counts_are(3, 3, 2, 1));
    CHECK(user_sessions(c, "bob").empty());
    becomes_offline(alice, "bob", 3000ms);
  }
  SECTION("abrupt disconnect") {
    carol->drop();
    CHECK(counts_are(3, 3, 2, 1));
    CHECK(user_sessions(c, "carol").empty());
    becomes_offline(alice, "carol", 3000ms);
  }
  SECTION("local session closed") {
    dave->close();
    CHECK(counts_are(3, 3, 1, 2));
    becomes_offline(alice, "dave", 3000ms);
  }
  SECTION("everyone leaves") {
    bob->close();
    carol->drop();
    dave->close();
    alice->close();
    CHECK(counts_are(0, 0, 0, 0));
  }
}

TEST_CASE("status with one master: masters[] in --json only, the table as before", "[integration][status]") {
  Cluster c(1);
  auto alice = join(c, 0, "alice");
  auto st = c.status_json();
  check_status_shape(st, c);
  const auto& m = master_entry(st, 0, c.master_addr());
  CHECK(st.at("masters").as_array().size() == 1);
  CHECK(m.at("answered") == json::value(true));
  CHECK(num(m, "nodes") == 1);
  CHECK(num(m, "sessions") == master_count(st, "sessions"));
  CHECK(num(m, "users") == master_count(st, "users"));
  CHECK(m.at("epoch") == st.at("master").as_object().at("epoch"));
  CHECK(agree(st));

  auto u = c.status_user("alice");
  CHECK(master_entry(u, 0, c.master_addr()).at("user_sessions").as_array().size() == 1);
  CHECK(agree(u));

  // the table of one master has no MASTERS section: the same lines as before the section existed
  auto table = c.run_status({});
  INFO("status table: " << table.out << table.err);
  CHECK(table.exit_code == std::optional<int>(0));
  CHECK(table.out.rfind("master epoch ", 0) == 0);
  CHECK(table.out.find("node-1") != std::string::npos);
  CHECK(table.out.find("MASTERS") == std::string::npos);
  CHECK(table.out.find("masters agree") == std::string::npos);
  CHECK(errors_of(table).empty());
}

TEST_CASE("status asks every master: a node registered at one of two", "[integration][status]") {
  Cluster c(1);  // node-1 knows only the cluster's master (m1)
  ExtraMaster m2("master-2");
  const std::string m1 = c.master_addr();
  auto alice = join(c, 0, "alice");

  auto r = status_of(m1 + "," + m2.addr, {"--json"});
  INFO("stdout: " << r.out << " stderr: " << r.err);
  REQUIRE(r.exit_code == std::optional<int>(0));
  CHECK(errors_of(r).empty());
  auto st = parse_object(r.out);
  // the document is m1's answer (the first listed that answered), extended
  check_status_shape(st, c);
  CHECK(master_count(st, "sessions") == 1);
  REQUIRE(st.at("masters").as_array().size() == 2);
  const auto& first = master_entry(st, 0, m1);
  const auto& second = master_entry(st, 1, m2.addr);
  CHECK(first.at("answered") == json::value(true));
  CHECK(second.at("answered") == json::value(true));
  CHECK(num(first, "nodes") == 1);
  CHECK(num(first, "sessions") == 1);
  CHECK(num(first, "users") == 1);
  CHECK(first.at("node_ids") == json::value(json::array{"node-1"}));
  CHECK(num(second, "nodes") == 0);
  CHECK(num(second, "sessions") == 0);
  CHECK(num(second, "users") == 0);
  CHECK(second.at("node_ids") == json::value(json::array{}));
  CHECK_FALSE(agree(st));

  // listed the other way round, the document is m2's: no nodes
  auto swapped = status_of(m2.addr + "," + m1, {"--json"});
  INFO("stdout: " << swapped.out << " stderr: " << swapped.err);
  REQUIRE(swapped.exit_code == std::optional<int>(0));
  auto sw = parse_object(swapped.out);
  CHECK(sw.at("nodes").as_array().empty());
  CHECK(master_count(sw, "sessions") == 0);
  CHECK(master_entry(sw, 0, m2.addr).at("answered") == json::value(true));
  CHECK(master_entry(sw, 1, m1).at("answered") == json::value(true));
  CHECK_FALSE(agree(sw));

  // --user: per master the sessions it lists for the user
  auto user = status_of(m1 + "," + m2.addr, {"--json", "--user", "alice"});
  INFO("stdout: " << user.out << " stderr: " << user.err);
  REQUIRE(user.exit_code == std::optional<int>(0));
  auto us = parse_object(user.out);
  CHECK(str(us, "user") == "alice");
  CHECK(us.at("sessions").as_array().size() == 1);
  const auto& u1 = master_entry(us, 0, m1);
  const auto& u2 = master_entry(us, 1, m2.addr);
  CHECK(u1.at("user_sessions") ==
        json::value(json::array{json::object{{"node", "node-1"}, {"session", alice.session}}}));
  CHECK(num(u1, "sessions") == 1);
  CHECK(u2.at("user_sessions") == json::value(json::array{}));
  CHECK(num(u2, "sessions") == 0);
  CHECK_FALSE(agree(us));

  // the default list: cluster.master of --config, here as a TOML array
  const auto config = test_dir() / "status.toml";
  {
    std::ofstream out(config);
    out << "[cluster]\nmaster = [\"" << m1 << "\", \"" << m2.addr << "\"]\n";
  }
  auto from_config =
      run_command(wsg_binary(), {"status", "--config", config.string(), "--json"}, margin_ms(8000) * 1ms);
  INFO("stdout: " << from_config.out << " stderr: " << from_config.err);
  REQUIRE(from_config.exit_code == std::optional<int>(0));
  auto fc = parse_object(from_config.out);
  REQUIRE(fc.at("masters").as_array().size() == 2);
  CHECK(master_entry(fc, 0, m1).at("answered") == json::value(true));
  CHECK(master_entry(fc, 1, m2.addr).at("answered") == json::value(true));
  CHECK_FALSE(agree(fc));

  // the table: the first master's lines, then the MASTERS section
  auto table = status_of(m1 + "," + m2.addr, {});
  INFO("table: " << table.out << " stderr: " << table.err);
  REQUIRE(table.exit_code == std::optional<int>(0));
  CHECK(table.out.rfind("master epoch ", 0) == 0);
  CHECK(table.out.find("node-1") != std::string::npos);
  const auto section = table.out.find("\nMASTERS\n");
  REQUIRE(section != std::string::npos);
  CHECK(table.out.find("ADDRESS", section) != std::string::npos);
  CHECK(table.out.find("ANSWERED", section) != std::string::npos);
  CHECK(table.out.find(m1, section) != std::string::npos);
  CHECK(table.out.find(m2.addr, section) != std::string::npos);
  CHECK(table.out.find("masters agree: no\n", section) != std::string::npos);
}

TEST_CASE("status: masters that know the same cluster agree", "[integration][status]") {
  ExtraMaster a("master-a");
  ExtraMaster b("master-b");
  auto r = status_of(a.addr + "," + b.addr, {"--json"});
  INFO("stdout: " << r.out << " stderr: " << r.err);
  REQUIRE(r.exit_code == std::optional<int>(0));
  auto st = parse_object(r.out);
  CHECK(master_entry(st, 0, a.addr).at("answered") == json::value(true));
  CHECK(master_entry(st, 1, b.addr).at("answered") == json::value(true));
  CHECK(agree(st));
  auto table = status_of(a.addr + "," + b.addr, {});
  INFO("table: " << table.out << " stderr: " << table.err);
  CHECK(table.exit_code == std::optional<int>(0));
  CHECK(table.out.find("masters agree: yes\n") != std::string::npos);
  auto room = status_of(a.addr + "," + b.addr, {"--json", "--room", "lobby"});
  INFO("stdout: " << room.out << " stderr: " << room.err);
  REQUIRE(room.exit_code == std::optional<int>(0));
  auto rs = parse_object(room.out);
  CHECK(str(rs, "room") == "lobby");
  CHECK(master_entry(rs, 1, b.addr).at("node_ids") == json::value(json::array{}));
  CHECK(agree(rs));
}

TEST_CASE("status: a listed master that does not answer is reported, the others are shown", "[integration][status]") {
  Cluster c(1);
  const std::string dead = dead_master();
  const int64_t timeout = margin_ms(1000);
  // the dead one first: the document is the first master that answered
  auto r = status_of(dead + "," + c.master_addr(), {"--json"}, timeout);
  INFO("stdout: " << r.out << " stderr: " << r.err);
  REQUIRE(r.exit_code == std::optional<int>(0));
  auto st = parse_object(r.out);
  check_status_shape(st, c);
  const auto& d = master_entry(st, 0, dead);
  CHECK(d.at("answered") == json::value(false));
  CHECK_FALSE(d.contains("nodes"));
  CHECK(master_entry(st, 1, c.master_addr()).at("answered") == json::value(true));
  CHECK_FALSE(agree(st));
  CHECK(errors_of(r) ==
        "wsg status: warning: no answer from the master at " + dead + " within " + std::to_string(timeout) + " ms\n");

  auto table = status_of(c.master_addr() + "," + dead, {}, timeout);
  INFO("table: " << table.out << " stderr: " << table.err);
  CHECK(table.exit_code == std::optional<int>(0));
  CHECK(table.out.find("node-1") != std::string::npos);
  CHECK(table.out.find("masters agree: no\n") != std::string::npos);
  CHECK(errors_of(table).find(dead) != std::string::npos);
}

TEST_CASE("status: no listed master answers", "[integration][status]") {
  const std::string one = dead_master();
  const std::string two = dead_master();
  auto r = status_of(one + "," + two, {"--json"}, 300);
  INFO("stdout: " << r.out << " stderr: " << r.err);
  CHECK(r.exit_code == std::optional<int>(1));
  CHECK(r.out.empty());
  CHECK(errors_of(r) == "wsg status: no answer from the master at " + one + " within 300 ms\n" +
                            "wsg status: no answer from the master at " + two + " within 300 ms\n");

  // one master, as before: exit 1 and the one line that says so
  auto single = status_of(one, {}, 300);
  INFO("stdout: " << single.out << " stderr: " << single.err);
  CHECK(single.exit_code == std::optional<int>(1));
  CHECK(single.out.empty());
  CHECK(errors_of(single) == "wsg status: no answer from the master at " + one + " within 300 ms\n");

  // more than five, or one twice: a usage error
  auto many =
      status_of(one + "," + two + ",tcp://127.0.0.1:3,tcp://127.0.0.1:4,tcp://127.0.0.1:5,tcp://127.0.0.1:6", {}, 300);
  CHECK(many.exit_code == std::optional<int>(2));
  auto twice = status_of(one + "," + one, {}, 300);
  CHECK(twice.exit_code == std::optional<int>(2));
}
