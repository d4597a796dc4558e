// What a process says about itself (issue 18): `wsg --version`, /healthz's version, commit and
// public_url, `wsg status` showing each node's node.public_url, and the start-up warnings for a
// node reachable from the network with auth.mode = "insecure" or without a cluster key.
#include "cluster_ops.h"

#include <regex>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

const std::string kPublicUrl = "wss://chat.example.com/ws";

// The strong warnings (docs/operations.md, "Start-up warnings").
const std::string kInsecureWarning = "connect as any user id they choose, read that user's messages and send";
const std::string kClusterWarning = "anyone on that network can join the cluster";

bool log_has(const std::filesystem::path& log, const std::string& text) {
  for (const auto& line : own_log_lines(log))
    if (line.find(text) != std::string::npos) return true;
  return false;
}

json::object healthz(uint16_t port) {
  const auto r = http_get(port, "/healthz");
  INFO("/healthz: " << r.status << " " << r.body << " " << r.error);
  REQUIRE(r.status == 200);
  return parse_object(r.body);
}

}  // namespace

TEST_CASE("wsg --version prints the version, the commit and the build type", "[integration][version]") {
  const auto r = run_command(wsg_binary(), {"--version"}, 5000ms);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  // The first two words stay `wsg <version>` (scripts parse them).
  CHECK(r.out.rfind(std::string("wsg ") + WSG_VERSION + " (commit ", 0) == 0);
  std::smatch m;
  REQUIRE(std::regex_match(r.out, m,
                           std::regex(R"(wsg ([0-9]+\.[0-9]+\.[0-9]+) \(commit ([A-Za-z0-9._+-]+), ([A-Za-z]+)\)\n)")));
  CHECK(m[1] == WSG_VERSION);
  CHECK(m[2].length() > 0);
  CHECK(m[3].length() > 0);
}

TEST_CASE("/healthz carries version and commit, and node.public_url reaches healthz and wsg status",
          "[integration][version]") {
  ClusterOptions o;
  o.nodes = 2;
  o.node_specs = {NodeSpec{"node-1", {"--public-url", kPublicUrl}}, NodeSpec{"node-2", {}}};
  Cluster c(o);

  const auto h1 = healthz(c.ws_port(0));
  INFO("node-1 /healthz: " << dump(h1));
  CHECK(str(h1, "status") == "ok");  // the fields before stay as they were
  CHECK(str(h1, "node") == "node-1");
  CHECK_NOTHROW(num(h1, "sessions"));
  CHECK(str(h1, "version") == WSG_VERSION);
  CHECK_FALSE(str(h1, "commit").empty());
  CHECK(str(h1, "public_url") == kPublicUrl);
  const auto h2 = healthz(c.ws_port(1));
  INFO("node-2 /healthz: " << dump(h2));
  CHECK(str(h2, "version") == WSG_VERSION);
  CHECK(str(h2, "commit") == str(h1, "commit"));
  REQUIRE(has(h2, "public_url"));
  CHECK(str(h2, "public_url").empty());

  // The metrics carry the same commit.
  const auto metrics = http_get(c.ws_port(0), "/metrics").body;
  CHECK(metrics.find("commit=\"" + str(h1, "commit") + "\"") != std::string::npos);

  // The master learnt node-1's public URL from its HELLO_PUBLIC (wire v5); node-2 sent none.
  const auto st = c.status_json();
  INFO("status: " << dump(st));
  const auto* n1 = find_node(st, "node-1");
  const auto* n2 = find_node(st, "node-2");
  REQUIRE(n1 != nullptr);
  REQUIRE(n2 != nullptr);
  CHECK(str(*n1, "public_url") == kPublicUrl);
  REQUIRE(has(*n2, "public_url"));
  CHECK(str(*n2, "public_url").empty());
  // The listen address is still what `ws` shows.
  CHECK(str(*n1, "ws").find("127.0.0.1:" + std::to_string(c.ws_port(0))) != std::string::npos);

  // The table: a PUBLIC URL column, "-" for a node without one.
  const auto table = c.run_status({});
  INFO("wsg status:\n" << table.out << table.err);
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("PUBLIC URL") != std::string::npos);
  CHECK(table.out.find(kPublicUrl) != std::string::npos);
}

TEST_CASE("a bad node.public_url stops the node at start-up with exit 2", "[integration][version]") {
  for (const std::string bad : {"http://chat.example.com/ws", "chat.example.com:443", "wss://", "ws://h/a b"}) {
    INFO(bad);
    const auto r = run_command(
        wsg_binary(), {"node", "--listen", "127.0.0.1:" + std::to_string(free_port()), "--public-url", bad}, 5000ms);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("key 'node.public_url'") != std::string::npos);
  }
  const auto r = run_command(wsg_binary(),
                             {"node", "--listen", "127.0.0.1:" + std::to_string(free_port()), "--public-url",
                              "wss://h/" + std::string(600, 'p')},
                             5000ms);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("longer than 512 bytes") != std::string::npos);
}

TEST_CASE("start-up warnings: insecure auth and no cluster key off loopback, none on loopback",
          "[integration][version]") {
  Cluster c(1);
  // node-1 listens on loopback only: the plain reminder, not the network warnings.
  CHECK(log_has(c.node(0).process->log(), "not encrypted"));
  CHECK_FALSE(log_has(c.node(0).process->log(), kInsecureWarning));
  CHECK_FALSE(log_has(c.node(0).process->log(), kClusterWarning));
  CHECK_FALSE(log_has(c.master().log(), kClusterWarning));

  // A node on every interface (the wildcard address): the test talks to it over 127.0.0.1 only.
  const uint16_t ws_port = free_port();
  const uint16_t events_port = free_port();
  const auto log = test_dir() / "wide.log";
  register_log(log);
  Process wide("wide", wsg_binary(),
               {"node", "--id", "wide", "--listen", "0.0.0.0:" + std::to_string(ws_port), "--master", c.master_addr(),
                "--events-bind", "tcp://0.0.0.0:" + std::to_string(events_port), "--events-advertise",
                "tcp://127.0.0.1:" + std::to_string(events_port), "--log-level", "info"},
               log);
  REQUIRE(poll_until(
      [&] {
        if (!wide.running()) return true;
        return http_get(ws_port, "/healthz", {}, 1000ms).status == 200;
      },
      kStartTimeout));
  REQUIRE(wide.running());
  CHECK(log_has(log, kInsecureWarning));
  CHECK(log_has(log, "auth.mode = \"insecure\" on node.listen 0.0.0.0:" + std::to_string(ws_port)));
  CHECK(log_has(log, kClusterWarning));
  CHECK(log_has(log, "read every message"));
  // Still a working node: a client on 127.0.0.1 gets welcomed.
  auto alice = join_port(ws_port, "alice", "wide");
  alice->close();
  const auto problems = stop_checked(wide, 5000ms);
  INFO(problems.size() << " problem(s), first: " << (problems.empty() ? "" : problems.front()));
  CHECK(problems.empty());
}
