// The `wsg` executable: parses the command line, loads the configuration and runs a role.
//
// Exit codes: 0 ok; 2 usage or configuration error ("wsg: error: ..." on stderr); otherwise the
// role's own code (1 for a fatal runtime error).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "config/config.h"
#include "config/config_secrets.h"
#include "config/curve.h"
#include "config/secrets.h"
#include "net/tls.h"
#include "proto/client_protocol.h"
#include "proto/jwt.h"
#include "proto/room_name.h"
#include "roles/api_client/api_client.h"
#include "roles/master/master.h"
#include "roles/node/node.h"
#include "roles/status/status.h"
#include "telemetry/build_info.h"
#include "telemetry/logging.h"
#include "text/suggest.h"
#include "text/text_quote.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFatal = 1;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `--role=ROLE` / `--role ROLE` is an alias of the subcommand: remove it and put ROLE first.
void rewrite_role(std::vector<std::string>& args) {
  std::optional<std::string> role;
  for (size_t i = 0; i < args.size();) {
    if (args[i] == "--") break;
    std::optional<std::string> value;
    if (args[i].rfind("--role=", 0) == 0) {
      value = args[i].substr(7);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (args[i] == "--role") {
      if (i + 1 >= args.size()) throw UsageError("--role needs a value: master or node");
      value = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else {
      ++i;
      continue;
    }
    if (role) throw UsageError("--role given more than once");
    if (*value != "master" && *value != "node")
      throw UsageError("--role must be 'master' or 'node' (got '" + *value + "')");
    role = value;
  }
  if (role) args.insert(args.begin(), *role);
}

// Flags that override a configuration key; applied only when given on the command line.
class Overrides {
 public:
  template <typename T, typename Set>
  CLI::Option* add(CLI::App* app, const std::string& name, const std::string& help, Set set) {
    auto value = std::make_shared<T>();
    CLI::Option* option = app->add_option(name, *value, help);
    apply_.push_back([option, value, set](wsg::Config& config) {
      if (option->count() > 0) set(config, *value);
    });
    return option;
  }

  void apply(wsg::Config& config) const {
    for (const auto& f : apply_) f(config);
  }

 private:
  std::vector<std::function<void(wsg::Config&)>> apply_;
};

struct Common {
  std::string config_file;
};

void add_common(CLI::App* app, Common& common, Overrides& overrides) {
  app->add_option("--config", common.config_file, "TOML configuration file (flags override it)")->type_name("FILE");
  overrides
      .add<std::string>(app, "--log-level", "log.level: trace|debug|info|warn|error|critical|off",
                        [](wsg::Config& c, const std::string& v) { c.log.level = v; })
      ->type_name("LEVEL");
}

// --curve-secret-key-file FILE: the cluster secret comes from FILE, whatever the config file says.
void add_curve_flag(CLI::App* app, Overrides& overrides) {
  overrides
      .add<std::string>(app, "--curve-secret-key-file",
                        "cluster.curve_secret_key_file: file holding the cluster's CURVE secret key "
                        "(see wsg keygen)",
                        [](wsg::Config& c, const std::string& v) {
                          c.cluster.curve_secret_key.clear();
                          c.cluster.curve_secret_key_file = v;
                        })
      ->type_name("FILE");
}

// `wsg keygen [--secret-file PATH]`: a fresh cluster key pair as TOML lines to paste.
int run_keygen(const std::string& secret_file) {
  if (!wsg::curve::available()) {
    std::cerr << "wsg: error: this libzmq was built without CURVE support (zmq_has(\"curve\") is false): "
                 "cluster links cannot be encrypted\n";
    return kExitFatal;
  }
  const wsg::curve::KeyPair keys = wsg::curve::generate();
  if (!secret_file.empty()) {
    // O_EXCL: never overwrite a key in use. Mode 0600 whatever the umask.
    const int fd = ::open(secret_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      std::cerr << "wsg: error: cannot create '" << secret_file << "': " << std::strerror(err)
                << (err == EEXIST ? " (wsg keygen never overwrites a key file)" : "") << "\n";
      return kExitFatal;
    }
    const std::string text = keys.secret_key + "\n";
    const bool ok =
        ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int err = errno;
    if (::close(fd) != 0 || !ok) {
      std::cerr << "wsg: error: cannot write '" << secret_file << "': " << std::strerror(err) << "\n";
      ::unlink(secret_file.c_str());
      return kExitFatal;
    }
  }
  std::cout << "# wsg cluster key pair (ZeroMQ CURVE). The same secret goes to the master, every node and\n"
               "# `wsg status`; keep it secret (see wsg(1) and docs/security.md).\n"
               "[cluster]\n";
  if (secret_file.empty()) {
    std::cout << "curve_secret_key = " << wsg::text::toml_string(keys.secret_key) << "\n";
  } else {
    std::cout << "curve_secret_key_file = " << wsg::text::toml_string(secret_file) << "\n";
  }
  std::cout << "# curve_public_key = " << wsg::text::toml_string(keys.public_key) << "\n";
  return 0;
}

wsg::Config load(const Common& common, const Overrides& overrides) {
  wsg::Config config = common.config_file.empty() ? wsg::Config{} : wsg::Config::load_file(common.config_file);
  overrides.apply(config);
  config.validate();
  return config;
}

// " (did you mean '--listen'?)" for the first argument that looks like a flag `app` does not know,
// when one of its flags is close to it; "" otherwise.
std::string flag_hint(const CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> known;
  for (const CLI::Option* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) known.push_back("--" + name);
  }
  for (const auto& arg : args) {
    if (arg == "--") break;
    if (!arg.starts_with("--")) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (std::find(known.begin(), known.end(), flag) != known.end()) continue;
    const std::string best = wsg::closest(flag, known, 2);
    return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
  }
  return "";
}

int run_guarded(const std::function<int()>& role) {
  try {
    return role();
  } catch (const wsg::ConfigError& e) {
    std::cerr << "wsg: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "wsg: fatal: " << e.what() << "\n";
    return kExitFatal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    rewrite_role(args);
  } catch (const UsageError& e) {
    std::cerr << "wsg: error: " << e.what() << "\n";
    return kExitUsage;
  }

  CLI::App app{
      "wsg: a horizontally scalable WebSocket messaging service.\n"
      "Run a master and one or more nodes; clients connect to any node.",
      "wsg"};
  app.set_version_flag("--version", wsg::version_line());
  app.require_subcommand(0, 1);
  // Subcommands copy the footer they are created with: each is given its own below, so that the
  // --role alias is mentioned only where it applies.
  const std::string role_footer = "--role=master|node is accepted as an alias of the subcommand.\n";
  const std::string keys_footer = "See wsg(1) for the configuration keys.";
  app.footer(role_footer + keys_footer);

  Overrides overrides;
  // The configuration's defaults, shown by --help next to the flags that override them (shown
  // only: a flag not given leaves the configuration file's value alone).
  const wsg::Config defaults;

  // wsg master
  Common master_common;
  CLI::App* master = app.add_subcommand("master", "Run the cluster directory (ZeroMQ ROUTER)");
  master->footer("--role=master is accepted as an alias of this subcommand.\n" + keys_footer);
  add_common(master, master_common, overrides);
  add_curve_flag(master, overrides);
  overrides
      .add<std::string>(master, "--bind", "master.bind: ZeroMQ address to bind",
                        [](wsg::Config& c, const std::string& v) { c.master.bind = v; })
      ->type_name("ADDR")
      ->default_str(defaults.master.bind);
  overrides
      .add<int64_t>(master, "--node-timeout-ms", "master.node_timeout_ms: declare a silent node dead after N ms",
                    [](wsg::Config& c, int64_t v) { c.master.node_timeout_ms = v; })
      ->type_name("N");
  overrides
      .add<std::string>(master, "--metrics-listen", "metrics.listen: HTTP address for /metrics and /healthz",
                        [](wsg::Config& c, const std::string& v) { c.metrics.listen = v; })
      ->type_name("HOST:PORT");

  // wsg node
  Common node_common;
  CLI::App* node = app.add_subcommand("node", "Run a node: WebSocket sessions and message routing");
  node->footer("--role=node is accepted as an alias of this subcommand.\n" + keys_footer);
  add_common(node, node_common, overrides);
  add_curve_flag(node, overrides);
  overrides
      .add<std::string>(node, "--id", "node.id: unique node id (default node-<port>)",
                        [](wsg::Config& c, const std::string& v) { c.node.id = v; })
      ->type_name("ID");
  overrides
      .add<std::string>(node, "--listen", "node.listen: HTTP/WebSocket address",
                        [](wsg::Config& c, const std::string& v) { c.node.listen = v; })
      ->type_name("HOST:PORT")
      ->default_str(defaults.node.listen);
  overrides
      .add<std::string>(node, "--public-url",
                        "node.public_url: the ws:// or wss:// URL clients should use (behind a load balancer or NAT)",
                        [](wsg::Config& c, const std::string& v) { c.node.public_url = v; })
      ->type_name("URL");
  overrides
      .add<std::string>(node, "--master", "cluster.master: the master's ZeroMQ address, or several separated by commas",
                        [](wsg::Config& c, const std::string& v) { c.cluster.master = v; })
      ->type_name("ADDR")
      ->default_str(defaults.cluster.master);
  overrides
      .add<std::string>(node, "--events-bind", "cluster.events_bind: ZeroMQ PULL address to bind",
                        [](wsg::Config& c, const std::string& v) { c.cluster.events_bind = v; })
      ->type_name("ADDR")
      ->default_str(defaults.cluster.events_bind);
  overrides
      .add<std::string>(node, "--events-advertise", "cluster.events_advertise: events address given to other nodes",
                        [](wsg::Config& c, const std::string& v) { c.cluster.events_advertise = v; })
      ->type_name("ADDR");
  overrides
      .add<int>(node, "--threads", "node.threads: I/O threads (0 = one per core less one, at least 1)",
                [](wsg::Config& c, int v) { c.node.threads = v; })
      ->type_name("N");
  overrides
      .add<std::string>(node, "--static-dir", "http.static_dir: serve static files from DIR",
                        [](wsg::Config& c, const std::string& v) { c.http.static_dir = v; })
      ->type_name("DIR");
  overrides
      .add<int64_t>(node, "--heartbeat-ms", "cluster.heartbeat_ms: heartbeat period to the master",
                    [](wsg::Config& c, int64_t v) { c.cluster.heartbeat_ms = v; })
      ->type_name("N");
  overrides
      .add<int64_t>(node, "--delivery-timeout-ms",
                    "cluster.delivery_timeout_ms: ack 'failed' when unconfirmed after N ms",
                    [](wsg::Config& c, int64_t v) { c.cluster.delivery_timeout_ms = v; })
      ->type_name("N");
  overrides
      .add<int64_t>(node, "--max-connections", "limits.max_connections: 0 = no limit but the fd limit",
                    [](wsg::Config& c, int64_t v) { c.limits.max_connections = v; })
      ->type_name("N");

  // wsg status
  Common status_common;
  wsg::StatusOptions status_options;
  std::string status_masters = "tcp://127.0.0.1:5555";
  CLI::App* status = app.add_subcommand("status", "Show the cluster's state, asked from the master(s)");
  status->footer(keys_footer);
  add_common(status, status_common, overrides);
  add_curve_flag(status, overrides);
  CLI::Option* status_master =
      status
          ->add_option("--master", status_masters,
                       "The master's ZeroMQ address, or up to 5 separated by commas, all asked at once (default "
                       "cluster.master of --config, else tcp://127.0.0.1:5555)")
          ->type_name("ADDR");
  status->add_flag("--json", status_options.json, "Print JSON instead of a table");
  auto* status_user_opt =
      status->add_option("--user", status_options.user, "Print the sessions of user ID")->type_name("ID");
  status->add_option("--room", status_options.room, "Print the nodes of room R and their member counts")
      ->type_name("R")
      ->excludes(status_user_opt);
  status
      ->add_option("--timeout-ms", status_options.timeout_ms,
                   "Wait at most N ms for the answers (exit 1 when no master answered)")
      ->type_name("N");

  // wsg token --secret S --user ID [--ttl SECONDS]
  std::string token_secret;
  std::string token_user;
  int64_t token_ttl = 3600;
  CLI::App* token = app.add_subcommand("token", "Print an HS256 JWT for a user (for testing auth.mode = \"jwt\")");
  token->footer("See wsg(1).");
  CLI::Option* token_secret_opt =
      token->add_option("--secret", token_secret, "The HS256 secret (default: $WSG_JWT_SECRET)")->type_name("S");
  token->add_option("--user", token_user, "The user id (the token's sub claim)")->type_name("ID")->required();
  token->add_option("--ttl", token_ttl, "Lifetime in seconds; 0 = no exp claim (default 3600)")->type_name("SECONDS");
  std::vector<std::string> token_rooms;
  std::vector<std::string> token_join;
  CLI::Option* token_rooms_opt =
      token
          ->add_option("--room", token_rooms,
                       "A room (or PREFIX* pattern) the user may join and publish to, repeatable: the `rooms` "
                       "claim (default: no claim, every room)")
          ->type_name("PATTERN");
  token->add_option("--join", token_join, "A room the session joins at connect, repeatable: the `join` claim")
      ->type_name("ROOM");

  // wsg keygen [--secret-file PATH]
  std::string keygen_secret_file;
  CLI::App* keygen = app.add_subcommand("keygen", "Print a new cluster CURVE key pair as TOML lines to paste");
  keygen->footer("See wsg(1).");
  keygen
      ->add_option("--secret-file", keygen_secret_file,
                   "Write the secret key to a new file PATH (mode 0600) and print its path instead")
      ->type_name("PATH");

  // wsg api publish|disconnect|join|leave|presence|members|info: the server API (docs/api.md)
  wsg::ApiClientOptions api_options;
  std::string api_key_file;
  CLI::App* api = app.add_subcommand("api", "Call a node's server API (api.listen) and print its JSON answer");
  api->footer("Exit 0 for a 2xx answer, 1 otherwise. See wsg(1) and docs/api.md.");
  api->require_subcommand(1);
  api->fallthrough();
  api->add_option("--api", api_options.url, "The API's URL (http only)")
      ->type_name("URL")
      ->default_str(api_options.url);
  api->add_option("--key-file", api_key_file, "File holding the API key (default: $WSG_API_KEY)")->type_name("FILE");
  api->add_option("--timeout-ms", api_options.timeout_ms, "Give up (exit 1) after N ms")->type_name("N");
  std::string api_to, api_room, api_body, api_from, api_id, api_user, api_reason, api_after;
  std::vector<std::string> api_users;
  int api_code = 4000;
  int api_limit = 0;
  CLI::App* api_publish = api->add_subcommand("publish", "Publish a message to users or to a room");
  api_publish->add_option("--to", api_to, "One recipient user")->type_name("USER");
  api_publish->add_option("--users", api_users, "Recipient users (comma-separated or repeated)")
      ->type_name("USER,...")
      ->delimiter(',');
  api_publish->add_option("--room", api_room, "Every member of room R, on every node")->type_name("R");
  api_publish->add_option("--body", api_body, "The message body: any JSON value")->type_name("JSON")->required();
  api_publish->add_option("--from", api_from, "The sender name recipients see (default: server)")->type_name("NAME");
  api_publish->add_option("--id", api_id, "Your reference, echoed as ref")->type_name("REF");
  CLI::App* api_disconnect = api->add_subcommand("disconnect", "Close every session of a user, on every node");
  api_disconnect->add_option("--user", api_user, "The user")->type_name("USER")->required();
  api_disconnect->add_option("--code", api_code, "Close code, 4000..4999 (default 4000)")->type_name("N");
  api_disconnect->add_option("--reason", api_reason, "Close reason (at most 123 bytes)")->type_name("TEXT");
  CLI::App* api_join = api->add_subcommand("join", "Make every session of a user join a room");
  CLI::App* api_leave = api->add_subcommand("leave", "Make every session of a user leave a room");
  for (CLI::App* sub : {api_join, api_leave}) {
    sub->add_option("--user", api_user, "The user")->type_name("USER")->required();
    sub->add_option("--room", api_room, "The room")->type_name("R")->required();
  }
  CLI::App* api_presence = api->add_subcommand("presence", "Which of these users are online, cluster-wide");
  api_presence->add_option("USER", api_users, "Users to ask about")->required();
  CLI::App* api_members = api->add_subcommand("members", "The members of a room, cluster-wide (one page)");
  api_members->add_option("ROOM", api_room, "The room")->required();
  api_members->add_option("--after", api_after, "Start after this user (the previous page's next)")->type_name("USER");
  api_members->add_option("--limit", api_limit, "Page size, 1..1000 (default 100)")->type_name("N");
  CLI::App* api_info = api->add_subcommand("info", "The cluster's state, as wsg status --json prints it");

  // wsg check-config FILE
  std::string check_file;
  CLI::App* check =
      app.add_subcommand("check-config", "Validate a configuration file and print the effective settings");
  check->footer(keys_footer);
  check->add_option("FILE", check_file, "TOML configuration file")->required();

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    // Point at the help of the subcommand being parsed, and at the flag meant by a mistyped one.
    const CLI::App* where = &app;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->parsed()) where = sub;
    const std::string command = where == &app ? "wsg" : "wsg " + where->get_name();
    std::cerr << "wsg: error: " << e.what() << flag_hint(*where, args) << "\nRun '" << command
              << " --help' for usage.\n";
    return kExitUsage;
  }

  if (master->parsed()) {
    return run_guarded([&] {
      const wsg::Config config = load(master_common, overrides);
      wsg::logging::setup(config.log);
      return wsg::run_master(config);
    });
  }
  if (node->parsed()) {
    return run_guarded([&] {
      const wsg::Config config = load(node_common, overrides);
      wsg::logging::setup(config.log);
      return wsg::run_node(config);
    });
  }
  if (status->parsed()) {
    if (status_options.timeout_ms <= 0) {
      std::cerr << "wsg: error: --timeout-ms must be positive (got " << status_options.timeout_ms << ")\n";
      return kExitUsage;
    }
    return run_guarded([&] {
      const wsg::Config config = load(status_common, overrides);
      wsg::logging::setup(config.log);
      if (status_master->count() == 0 && !status_common.config_file.empty()) status_masters = config.cluster.master;
      // The same rule as cluster.master's (config.cpp): 1 to kMaxMasters distinct addresses.
      status_options.masters = wsg::master_list(status_masters);
      const auto& masters = status_options.masters;
      if (masters.empty() || masters.size() > wsg::kMaxMasters) {
        std::cerr << "wsg: error: --master: expected 1 to " << wsg::kMaxMasters
                  << " addresses separated by commas (got " << masters.size() << ")\n";
        return kExitUsage;
      }
      for (std::size_t i = 0; i < masters.size(); ++i) {
        if (std::find(masters.begin(), masters.begin() + static_cast<std::ptrdiff_t>(i), masters[i]) !=
            masters.begin() + static_cast<std::ptrdiff_t>(i)) {
          std::cerr << "wsg: error: --master: '" << masters[i] << "' is listed twice\n";
          return kExitUsage;
        }
      }
      status_options.curve = wsg::curve::cluster_keys(config.cluster);
      return wsg::run_status(status_options);
    });
  }
  if (token->parsed()) {
    // The one order of precedence for secrets (secrets.h): the flag, then the environment.
    const auto secret = wsg::secrets::resolve(
        {"--secret", token_secret_opt->count() > 0 ? token_secret : "", "", "", wsg::secrets::kJwtSecretEnv});
    if (!secret || secret->value.empty()) {
      std::cerr << "wsg: error: --secret is required (or set " << wsg::secrets::kJwtSecretEnv << ")\n";
      return kExitUsage;
    }
    token_secret = secret->value;
    if (!wsg::proto::valid_user_id(token_user)) {
      std::cerr << "wsg: error: --user '" << token_user
                << "' is not a valid user id (1-128 bytes of [A-Za-z0-9._@:-])\n";
      return kExitUsage;
    }
    if (token_ttl < 0) {
      std::cerr << "wsg: error: --ttl must be 0 or positive (got " << token_ttl << ")\n";
      return kExitUsage;
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    wsg::jwt::Claims claims;
    claims.sub = token_user;
    claims.rooms_limited = token_rooms_opt->count() > 0;
    claims.rooms = token_rooms;
    claims.join = token_join;
    for (const auto& r : claims.rooms) {
      if (!wsg::proto::valid_room_pattern(r)) {
        std::cerr << "wsg: error: --room '" << r << "' is neither a room name nor a PREFIX* pattern\n";
        return kExitUsage;
      }
    }
    for (const auto& r : claims.join) {
      if (!wsg::proto::valid_room_name(r) || !claims.room_allowed(r)) {
        std::cerr << "wsg: error: --join '" << r << "' is not a room name the --room claims allow\n";
        return kExitUsage;
      }
    }
    std::cout << wsg::jwt::mint(claims, token_secret, static_cast<int64_t>(now), token_ttl) << "\n";
    return 0;
  }
  if (api->parsed()) {
    return run_guarded([&] {
      const auto key = wsg::secrets::resolve({"", "", "--key-file", api_key_file, wsg::secrets::kApiKeyEnv});
      if (key) api_options.key = key->value;
      if (api_options.timeout_ms <= 0) throw wsg::ConfigError("--timeout-ms must be positive");
      std::string method = "POST";
      std::string target;
      std::string body;
      if (api_publish->parsed()) {
        if ((api_to.empty() ? 0 : 1) + (api_users.empty() ? 0 : 1) + (api_room.empty() ? 0 : 1) != 1)
          throw wsg::ConfigError("give exactly one of --to, --users and --room");
        boost::system::error_code ec;
        boost::json::parse(api_body, ec);
        if (ec) throw wsg::ConfigError("--body is not JSON: " + ec.message() + R"( (e.g. --body '{"text":"hi"}'))");
        target = "/api/publish";
        body = "{";
        if (!api_to.empty()) body += "\"to\":" + wsg::json_quote(api_to);
        if (!api_room.empty()) body += "\"room\":" + wsg::json_quote(api_room);
        if (!api_users.empty()) {
          body += "\"users\":[";
          for (std::size_t i = 0; i < api_users.size(); ++i) body += (i ? "," : "") + wsg::json_quote(api_users[i]);
          body += "]";
        }
        if (!api_from.empty()) body += ",\"from\":" + wsg::json_quote(api_from);
        if (!api_id.empty()) body += ",\"id\":" + wsg::json_quote(api_id);
        body += ",\"body\":" + api_body + "}";
      } else if (api_disconnect->parsed()) {
        target = "/api/disconnect";
        body = "{\"user\":" + wsg::json_quote(api_user) + ",\"code\":" + std::to_string(api_code);
        if (!api_reason.empty()) body += ",\"reason\":" + wsg::json_quote(api_reason);
        body += "}";
      } else if (api_join->parsed() || api_leave->parsed()) {
        target = api_join->parsed() ? "/api/rooms/join" : "/api/rooms/leave";
        body = "{\"user\":" + wsg::json_quote(api_user) + ",\"room\":" + wsg::json_quote(api_room) + "}";
      } else if (api_presence->parsed()) {
        method = "GET";
        target = "/api/presence";
        for (std::size_t i = 0; i < api_users.size(); ++i) target += (i ? "&user=" : "?user=") + api_users[i];
      } else if (api_members->parsed()) {
        method = "GET";
        target = "/api/rooms/" + api_room + "/members";
        std::string query;
        if (!api_after.empty()) query += "&after=" + api_after;
        if (api_limit > 0) query += "&limit=" + std::to_string(api_limit);
        if (!query.empty()) target += "?" + query.substr(1);
      } else if (api_info->parsed()) {
        method = "GET";
        target = "/api/info";
      }
      return wsg::run_api(api_options, method, target, body);
    });
  }
  if (keygen->parsed()) {
    return run_guarded([&] { return run_keygen(keygen_secret_file); });
  }
  if (check->parsed()) {
    return run_guarded([&] {
      const wsg::Config config = wsg::Config::load_file(check_file);
      config.validate();
      // The secrets are found and their files readable, as at start-up.
      wsg::curve::cluster_keys(config.cluster);
      if (config.auth.mode == "jwt") wsg::secrets::jwt_key(config.auth);
      if (!config.api.listen.empty()) wsg::secrets::api_key(config.api);
      if (!config.webhooks.url.empty()) wsg::secrets::webhook_secret(config.webhooks);
      if (!config.webhooks.ca_file.empty()) wsg::make_webhook_tls_context(config.webhooks.ca_file);
      // Only the sections of the role the file is for (Config::role): a master's file gets no node
      // sections full of defaults it never reads.
      std::cout << config.to_toml(wsg::Config::Secrets::redact, config.role());
      return 0;
    });
  }

  std::cerr << app.help();
  return kExitUsage;
}
