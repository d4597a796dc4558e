// A client outside the project (Debian's python3-websockets) talks to a real cluster.
#include "test_util.h"

using namespace wsg::it;

TEST_CASE("python websockets client exchanges messages across nodes", "[integration]") {
  const std::string python = "/usr/bin/python3";
  const auto script = repo_root() / "tests" / "external" / "python_client.py";
  REQUIRE(std::filesystem::exists(script));
  // no skipping: a machine without python3-websockets fails this test
  auto probe = run_command(python, {"-c", "import websockets"}, 10000ms);
  INFO("import websockets with " << python << ": " << probe.err);
  REQUIRE(probe.exit_code == std::optional<int>(0));

  Cluster c;
  auto r = run_command(
      python,
      {script.string(), "--node1", "ws://127.0.0.1:" + std::to_string(c.ws_port(0)), "--node2",
       "ws://127.0.0.1:" + std::to_string(c.ws_port(1)), "--node1-id", c.node_id(0), "--node2-id", c.node_id(1)},
      30000ms);
  INFO("python_client.py stdout:\n" << r.out << "stderr:\n" << r.err);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 0);
}
