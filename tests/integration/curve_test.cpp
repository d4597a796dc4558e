// ZeroMQ CURVE on the cluster links and `wsg keygen` (docs/security.md, "Cluster links"): one key
// pair for the master, the nodes and `wsg status`; a node or a status with another key, or none,
// is refused and says so instead of retrying forever.
#include "cluster_ops.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

struct Keys {
  std::filesystem::path secret_file;
  std::string secret;
  std::string public_key;
};

// The value of `key = "..."` (optionally after "# ") in `wsg keygen`'s output ("" when missing).
std::string toml_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string l = line;
    if (l.rfind("# ", 0) == 0) l = l.substr(2);
    const std::string prefix = key + " = \"";
    if (l.rfind(prefix, 0) == 0 && l.size() > prefix.size() && l.back() == '"')
      return l.substr(prefix.size(), l.size() - prefix.size() - 1);
  }
  return "";
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh cluster key pair from `wsg keygen --secret-file test_dir()/NAME`.
Keys keygen(const std::string& name) {
  Keys k;
  k.secret_file = test_dir() / name;
  auto r = run_command(wsg_binary(), {"keygen", "--secret-file", k.secret_file.string()}, 5000ms);
  INFO("wsg keygen: " << r.out << r.err);
  REQUIRE(r.exit_code == std::optional<int>(0));
  k.public_key = toml_value(r.out, "curve_public_key");
  REQUIRE(k.public_key.size() == 40);
  k.secret = read_all(k.secret_file);
  REQUIRE(k.secret.size() == 41);  // 40 Z85 characters and a newline
  k.secret.pop_back();
  return k;
}

std::vector<std::string> key_flag(const Keys& k) { return {"--curve-secret-key-file", k.secret_file.string()}; }

// A cluster whose master, nodes and status all use `k`.
ClusterOptions curve_cluster(int nodes, const Keys& k) {
  ClusterOptions o;
  o.nodes = nodes;
  o.master_args = key_flag(k);
  for (int i = 0; i < nodes; ++i) o.node_specs.push_back(NodeSpec{"node-" + std::to_string(i + 1), key_flag(k)});
  o.status_args = key_flag(k);
  return o;
}

bool log_has(const std::filesystem::path& log, const std::string& text) {
  for (const auto& line : own_log_lines(log))
    if (line.find(text) != std::string::npos) return true;
  return false;
}

// Starts a node that the master must refuse; requires that it exits on its own, in an orderly
// way (non-zero, not by a signal, no sanitizer report), well before the harness's deadline, and
// that its log says each of `why`.
void expect_refused_node(Cluster& c, const std::string& id, const std::vector<std::string>& args,
                         const std::vector<std::string>& why) {
  auto node = start_node(c, id, args);
  const auto t0 = Clock::now();
  const auto code = node.process->wait_exit(10000ms);
  INFO(id << " log:\n" << tail_file(node.process->log(), 30));
  REQUIRE(code.has_value());
  INFO(id << " exited with " << *code << " after " << ms_since(t0) << " ms");
  CHECK(*code != 0);
  CHECK(*code < 128);
  CHECK(ms_since(t0) < 8000);
  for (const auto& text : why) {
    INFO("expected in the log: " << text);
    CHECK(log_has(node.process->log(), text));
  }
  const auto problems = stop_checked(*node.process, 1000ms);
  INFO(problems.size() << " problem(s), first: " << (problems.empty() ? "" : problems.front()));
  CHECK(problems.empty());
}

}  // namespace

TEST_CASE("curve: wsg keygen prints a fresh key pair as TOML and can write a 0600 secret file",
          "[integration][curve]") {
  auto a = run_command(wsg_binary(), {"keygen"}, 5000ms);
  auto b = run_command(wsg_binary(), {"keygen"}, 5000ms);
  INFO("keygen: " << a.out << a.err);
  REQUIRE(a.exit_code == std::optional<int>(0));
  REQUIRE(b.exit_code == std::optional<int>(0));
  CHECK(a.out.find("[cluster]") != std::string::npos);
  const std::string secret = toml_value(a.out, "curve_secret_key");
  const std::string pub = toml_value(a.out, "curve_public_key");
  CHECK(secret.size() == 40);
  CHECK(pub.size() == 40);
  CHECK(a.out.find("# curve_public_key = ") != std::string::npos);  // commented: optional
  CHECK(toml_value(b.out, "curve_secret_key") != secret);

  // The output is a valid configuration as it is, and with the public key uncommented.
  const auto as_is = write_file("keygen.toml", a.out);
  auto check = run_command(wsg_binary(), {"check-config", as_is.string()}, 5000ms);
  INFO("check-config: " << check.out << check.err);
  CHECK(check.exit_code == std::optional<int>(0));
  std::string uncommented = a.out;
  uncommented.replace(uncommented.find("# curve_public_key"), 2, "");
  const auto with_public = write_file("keygen-public.toml", uncommented);
  check = run_command(wsg_binary(), {"check-config", with_public.string()}, 5000ms);
  INFO("check-config: " << check.out << check.err);
  CHECK(check.exit_code == std::optional<int>(0));

  // --secret-file: a new 0600 file, never overwritten.
  const Keys k = keygen("cluster.key");
  struct stat st {};
  REQUIRE(::stat(k.secret_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = run_command(wsg_binary(), {"keygen", "--secret-file", k.secret_file.string()}, 5000ms);
  CHECK(again.exit_code.value_or(0) != 0);
  CHECK(again.err.find(k.secret_file.string()) != std::string::npos);
  CHECK(read_all(k.secret_file) == k.secret + "\n");
}

TEST_CASE("curve: a cluster sharing one key delivers across nodes and status lists both nodes",
          "[integration][curve]") {
  const Keys k = keygen("cluster.key");
  Cluster c(curve_cluster(2, k));
  CHECK(log_has(c.master().log(), "cluster links use ZeroMQ CURVE"));
  CHECK(log_has(c.master().log(), k.public_key));
  CHECK_FALSE(log_has(c.master().log(), "not encrypted"));
  CHECK(log_has(c.node(0).process->log(), "cluster links use ZeroMQ CURVE"));

  auto alice = join(c, 0, "alice");
  auto bob = join(c, 1, "bob");
  const int64_t t0 = unix_ms();
  alice->send_json(send_frame("bob", "over CURVE", "m1"));
  auto m = bob->next();
  REQUIRE(m.has_value());
  check_message(*m, "alice", "bob", json::value("over CURVE"), t0, unix_ms());
  expect_ack(*alice, "m1", "delivered");
  // and back, over the other node's PUSH
  bob->send_json(send_frame("alice", "and back", "m2"));
  auto back = alice->next();
  REQUIRE(back.has_value());
  check_message(*back, "bob", "alice", json::value("and back"), t0, unix_ms());
  expect_ack(*bob, "m2", "delivered");

  auto st = c.status_json();
  INFO("status: " << dump(st));
  REQUIRE(st.at("nodes").is_array());
  CHECK(st.at("nodes").as_array().size() == 2);
  for (const char* id : {"node-1", "node-2"}) {
    const auto* n = find_node(st, id);
    INFO("node " << id);
    REQUIRE(n != nullptr);
    CHECK(n->at("alive") == json::value(true));
  }
  CHECK(master_count(st, "sessions") == 2);

  // The key may come from the environment too.
  auto env = run_command(
      "/usr/bin/env",
      {"WSG_CURVE_SECRET_KEY=" + k.secret, wsg_binary(), "status", "--master", c.master_addr(), "--json"}, 5000ms);
  INFO("status with the key in the environment: " << env.out << env.err);
  CHECK(env.exit_code == std::optional<int>(0));
}

TEST_CASE("curve: a node or a status with another key or none is refused and exits non-zero", "[integration][curve]") {
  const Keys k = keygen("cluster.key");
  const Keys other = keygen("other.key");
  Cluster c(curve_cluster(1, k));

  expect_refused_node(c, "intruder", key_flag(other), {"refused our CURVE key", "check cluster.curve_secret_key"});
  // (whether the node sees the mechanism mismatch itself or only the master closing the connection
  // is a race: the message covers both)
  expect_refused_node(c, "plain", {}, {"refused us", "requires CURVE", "set cluster.curve_secret_key"});

  // The master heard of neither.
  auto st = c.status_json();
  INFO("status: " << dump(st));
  CHECK(st.at("nodes").as_array().size() == 1);
  CHECK(find_node(st, "intruder") == nullptr);
  CHECK(find_node(st, "plain") == nullptr);
  CHECK(poll_until([&] { return log_has(c.master().log(), "refused"); }, 3000ms));

  // `wsg status` without the key, or with another one: a clear error well within its timeout.
  for (const auto& args : {std::vector<std::string>{}, key_flag(other)}) {
    std::vector<std::string> full{"status", "--master", c.master_addr(), "--json", "--timeout-ms", "8000"};
    full.insert(full.end(), args.begin(), args.end());
    const auto t0 = Clock::now();
    auto r = run_command(
        "/usr/bin/env",
        [&] {
          std::vector<std::string> v{"-u", "WSG_CURVE_SECRET_KEY", wsg_binary()};
          v.insert(v.end(), full.begin(), full.end());
          return v;
        }(),
        10000ms);
    INFO("status " << (args.empty() ? "without a key" : "with another key") << ": exit "
                   << (r.exit_code ? std::to_string(*r.exit_code) : "timeout") << " after " << ms_since(t0)
                   << " ms; stdout: " << r.out << " stderr: " << r.err);
    CHECK(r.exit_code == std::optional<int>(1));
    CHECK(ms_since(t0) < 6000);
    CHECK(r.out.empty());
    CHECK(r.err.find(args.empty() ? "set cluster.curve_secret_key" : "refused our CURVE key") != std::string::npos);
  }

  // The member is untouched.
  auto alice = join(c, 0, "alice");
  auto bob = join(c, 0, "bob");
  alice->send_json(send_frame("bob", 1, "m1"));
  expect_ack(*alice, "m1", "delivered");
}

TEST_CASE("curve: a node with a key is refused by a master without one", "[integration][curve]") {
  const Keys k = keygen("cluster.key");
  ClusterOptions o;
  o.nodes = 1;
  Cluster c(o);
  CHECK(log_has(c.master().log(), "not encrypted"));
  expect_refused_node(c, "keyed", key_flag(k), {"refused our CURVE key", "check cluster.curve_secret_key"});
  auto st = c.status_json();
  CHECK(st.at("nodes").as_array().size() == 1);
}

TEST_CASE("curve: a malformed or mismatched key stops master and node with exit 2 naming the key",
          "[integration][curve]") {
  const Keys k = keygen("cluster.key");
  const Keys other = keygen("other.key");
  const auto garbage = write_file("garbage.key", "this is not a key\n");
  const std::string master = "tcp://127.0.0.1:" + std::to_string(free_port());

  auto expect_config_error = [](const std::vector<std::string>& args, const std::string& named) {
    std::vector<std::string> v{"-u", "WSG_CURVE_SECRET_KEY", wsg_binary()};
    v.insert(v.end(), args.begin(), args.end());
    auto r = run_command("/usr/bin/env", v, 5000ms);
    INFO("wsg " << args.front() << ": exit " << (r.exit_code ? std::to_string(*r.exit_code) : "timeout")
                << "; stderr: " << r.err << " stdout: " << r.out);
    CHECK(r.exit_code == std::optional<int>(2));
    CHECK(r.err.find(named) != std::string::npos);
  };

  expect_config_error({"master", "--bind", master, "--curve-secret-key-file", garbage.string()},
                      "cluster.curve_secret_key_file");
  expect_config_error({"node", "--master", master, "--listen", "127.0.0.1:" + std::to_string(free_port()),
                       "--events-bind", "tcp://127.0.0.1:" + std::to_string(free_port()), "--curve-secret-key-file",
                       (test_dir() / "missing.key").string()},
                      "cluster.curve_secret_key_file");
  expect_config_error({"status", "--master", master, "--curve-secret-key-file", garbage.string()},
                      "cluster.curve_secret_key_file");

  // A public key that is not the secret's, in a config file: named with its line.
  const auto cfg = write_file("mismatch.toml", "[cluster]\ncurve_secret_key_file = \"" + k.secret_file.string() +
                                                   "\"\ncurve_public_key = \"" + other.public_key + "\"\n");
  expect_config_error({"master", "--bind", master, "--config", cfg.string()}, "cluster.curve_public_key");
  const auto inline_cfg = write_file("inline.toml", "[cluster]\ncurve_secret_key = \"" + k.secret +
                                                        "\"\ncurve_public_key = \"" + other.public_key + "\"\n");
  expect_config_error({"master", "--bind", master, "--config", inline_cfg.string()},
                      inline_cfg.string() + ":3: key 'cluster.curve_public_key'");

  // A bad key in the environment names the variable.
  auto r =
      run_command("/usr/bin/env", {"WSG_CURVE_SECRET_KEY=short", wsg_binary(), "master", "--bind", master}, 5000ms);
  INFO("master with a bad WSG_CURVE_SECRET_KEY: " << r.err);
  CHECK(r.exit_code == std::optional<int>(2));
  CHECK(r.err.find("WSG_CURVE_SECRET_KEY") != std::string::npos);
}
