// Config: defaults, every section, errors with file:line, validation, to_toml round trip, examples.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "config/config_secrets.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using wsg::Config;
using wsg::ConfigError;

namespace {

// The message of the ConfigError that parsing `text` throws ("" when it does not throw).
std::string parse_error(const std::string& text, const std::string& source = "test.toml") {
  try {
    Config::parse(text, source);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string validate_error(const Config& config) {
  try {
    config.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::filesystem::path repo_root() {
  // tests/unit/config_test.cpp → the repository root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

}  // namespace

TEST_CASE("empty text gives the documented defaults", "[config]") {
  const Config c = Config::parse("", "empty.toml");
  CHECK(c.master.bind == "tcp://127.0.0.1:5555");
  CHECK(c.master.node_timeout_ms == 3000);
  CHECK(c.metrics.listen.empty());
  CHECK(c.node.id.empty());
  CHECK(c.node.listen == "127.0.0.1:8080");
  CHECK(c.node.threads == 0);
  CHECK(c.node.shutdown_timeout_ms == 5000);
  CHECK(c.node.public_url.empty());
  CHECK(c.cluster.master == "tcp://127.0.0.1:5555");
  CHECK(c.cluster.events_bind == "tcp://127.0.0.1:6001");
  CHECK(c.cluster.events_advertise.empty());
  CHECK(c.cluster.heartbeat_ms == 1000);
  CHECK(c.cluster.delivery_timeout_ms == 2000);
  CHECK(c.cluster.wire_version == 1);
  CHECK(c.cluster.outbox_coalesce_us == 200);
  CHECK(c.cluster.curve_secret_key.empty());
  CHECK(c.cluster.curve_secret_key_file.empty());
  CHECK(c.cluster.curve_public_key.empty());
  CHECK(c.cache.capacity == 100000);
  CHECK(c.cache.ttl_ms == 30000);
  CHECK(c.auth.mode == "insecure");
  CHECK(c.auth.secret.empty());
  CHECK(c.auth.secret_file.empty());
  CHECK(c.limits.max_message_bytes == 65536);
  CHECK(c.limits.max_connections == 0);
  CHECK(c.limits.max_sessions_per_user == 16);
  CHECK(c.limits.send_queue_bytes == 1048576);
  CHECK(c.limits.messages_per_second == 1000);
  CHECK(c.limits.burst == 5000);
  CHECK(c.http.allowed_origins.empty());
  CHECK(c.http.static_dir.empty());
  CHECK_FALSE(c.http.compression);
  CHECK(c.tls.cert.empty());
  CHECK(c.tls.key.empty());
  CHECK(c.log.level == "info");
  CHECK(c.log.format == "text");
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("every section and key is read", "[config]") {
  const Config c = Config::parse(R"(
[master]
bind = "tcp://0.0.0.0:7000"
node_timeout_ms = 4500

[metrics]
listen = "127.0.0.1:9100"

[node]
id = "edge-7"
listen = "[::1]:9001"
threads = 3
shutdown_timeout_ms = 800
public_url = "wss://chat.example.com/ws"

[cluster]
master = "tcp://10.0.0.1:7000"
events_bind = "tcp://*:7100"
events_advertise = "tcp://10.0.0.7:7100"
heartbeat_ms = 250
delivery_timeout_ms = 1500

[cache]
capacity = 42
ttl_ms = 99

[auth]
mode = "jwt"
secret_file = "/etc/wsg/secret"

[limits]
max_message_bytes = 1024
max_connections = 10
max_sessions_per_user = 3
send_queue_bytes = 4096
messages_per_second = 0
burst = 7

[http]
allowed_origins = ["https://chat.example.com", "http://localhost:3000"]
static_dir = "/srv/www"
compression = true

[tls]
cert = "/etc/wsg/cert.pem"
key = "/etc/wsg/key.pem"

[log]
level = "debug"
format = "json"
)",
                                 "full.toml");
  CHECK(c.master.bind == "tcp://0.0.0.0:7000");
  CHECK(c.master.node_timeout_ms == 4500);
  CHECK(c.metrics.listen == "127.0.0.1:9100");
  CHECK(c.node.id == "edge-7");
  CHECK(c.node.listen == "[::1]:9001");
  CHECK(c.node.threads == 3);
  CHECK(c.node.shutdown_timeout_ms == 800);
  CHECK(c.node.public_url == "wss://chat.example.com/ws");
  CHECK(c.cluster.master == "tcp://10.0.0.1:7000");
  CHECK(c.cluster.events_bind == "tcp://*:7100");
  CHECK(c.cluster.events_advertise == "tcp://10.0.0.7:7100");
  CHECK(c.cluster.heartbeat_ms == 250);
  CHECK(c.cluster.delivery_timeout_ms == 1500);
  CHECK(c.cache.capacity == 42);
  CHECK(c.cache.ttl_ms == 99);
  CHECK(c.auth.mode == "jwt");
  CHECK(c.auth.secret.empty());
  CHECK(c.auth.secret_file == "/etc/wsg/secret");
  CHECK(c.limits.max_message_bytes == 1024);
  CHECK(c.limits.max_connections == 10);
  CHECK(c.limits.max_sessions_per_user == 3);
  CHECK(c.limits.send_queue_bytes == 4096);
  CHECK(c.limits.messages_per_second == 0);
  CHECK(c.limits.burst == 7);
  REQUIRE(c.http.allowed_origins.size() == 2);
  CHECK(c.http.allowed_origins[0] == "https://chat.example.com");
  CHECK(c.http.allowed_origins[1] == "http://localhost:3000");
  CHECK(c.http.static_dir == "/srv/www");
  CHECK(c.http.compression);
  CHECK(c.tls.cert == "/etc/wsg/cert.pem");
  CHECK(c.tls.key == "/etc/wsg/key.pem");
  CHECK(c.log.level == "debug");
  CHECK(c.log.format == "json");
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("keys absent from a section keep their defaults", "[config]") {
  const Config c = Config::parse("[node]\nid = \"n1\"\n", "partial.toml");
  CHECK(c.node.id == "n1");
  CHECK(c.node.listen == "127.0.0.1:8080");
  CHECK(c.cluster.heartbeat_ms == 1000);
}

TEST_CASE("an unknown key names the file, the key and its line", "[config]") {
  const std::string text = "# comment\n[node]\nid = \"n1\"\n\nlisten_port = 8080\n";
  const std::string msg = parse_error(text, "conf/node.toml");
  CHECK_THAT(msg, StartsWith("conf/node.toml:5: "));
  CHECK_THAT(msg, Contains("key 'node.listen_port'"));
  CHECK_THAT(msg, Contains("unknown key"));
}

TEST_CASE("a misspelt key gets a suggestion", "[config]") {
  CHECK_THAT(parse_error("[cluster]\nheartbeat_msec = 5\n"), Contains("did you mean 'cluster.heartbeat_ms'"));
}

TEST_CASE("an unknown section is an error with its line", "[config]") {
  const std::string msg = parse_error("[node]\nid = \"a\"\n[nodes]\nid = \"b\"\n", "x.toml");
  CHECK_THAT(msg, StartsWith("x.toml:3: "));
  CHECK_THAT(msg, Contains("'nodes'"));
  CHECK_THAT(msg, Contains("unknown section"));
}

TEST_CASE("a key outside any section is an error", "[config]") {
  const std::string msg = parse_error("listen = \"127.0.0.1:1\"\n", "x.toml");
  CHECK_THAT(msg, StartsWith("x.toml:1: key 'listen'"));
}

TEST_CASE("a section that is not a table is an error", "[config]") {
  CHECK_THAT(parse_error("node = 3\n", "x.toml"), StartsWith("x.toml:1: key 'node': expected a table"));
}

TEST_CASE("the earliest error in the file is reported", "[config]") {
  // toml++ iterates keys alphabetically; the report must still follow the file's order.
  const std::string msg = parse_error("[node]\nzzz = 1\n[cache]\naaa = 2\n", "x.toml");
  CHECK_THAT(msg, StartsWith("x.toml:2: key 'node.zzz'"));
}

TEST_CASE("a wrong type names the key, the line and the types", "[config]") {
  const std::string msg =
      parse_error("[master]\nbind = \"tcp://127.0.0.1:5555\"\nnode_timeout_ms = \"3000\"\n", "m.toml");
  CHECK_THAT(msg, StartsWith("m.toml:3: key 'master.node_timeout_ms': "));
  CHECK_THAT(msg, Contains("expected an integer, got a string"));

  CHECK_THAT(parse_error("[node]\nlisten = 8080\n"), StartsWith("test.toml:2: key 'node.listen': expected a string"));
  CHECK_THAT(parse_error("[http]\ncompression = \"yes\"\n"), Contains("key 'http.compression': expected a boolean"));
  CHECK_THAT(parse_error("[cache]\nttl_ms = 1.5\n"), Contains("expected an integer, got a float"));
  CHECK_THAT(parse_error("[http]\nallowed_origins = \"https://a.example\"\n"),
             Contains("key 'http.allowed_origins': expected an array of strings"));
}

TEST_CASE("out-of-range values are refused with their line", "[config]") {
  CHECK_THAT(parse_error("[master]\nnode_timeout_ms = 0\n"),
             StartsWith("test.toml:2: key 'master.node_timeout_ms': must be positive"));
  CHECK_THAT(parse_error("[node]\n\nshutdown_timeout_ms = -5\n"),
             StartsWith("test.toml:3: key 'node.shutdown_timeout_ms': must be positive"));
  CHECK_THAT(parse_error("[cluster]\nheartbeat_ms = 0\n"), Contains("key 'cluster.heartbeat_ms'"));
  CHECK_THAT(parse_error("[cluster]\ndelivery_timeout_ms = -1\n"), Contains("key 'cluster.delivery_timeout_ms'"));
  CHECK_THAT(parse_error("[cluster]\nwire_version = 3\n"), Contains("key 'cluster.wire_version': must be at most 2"));
  CHECK_THAT(parse_error("[cluster]\nwire_version = 0\n"), Contains("key 'cluster.wire_version'"));
  CHECK_THAT(parse_error("[cluster]\noutbox_coalesce_us = -1\n"), Contains("key 'cluster.outbox_coalesce_us'"));
  CHECK_THAT(parse_error("[cluster]\noutbox_coalesce_us = 100001\n"),
             Contains("key 'cluster.outbox_coalesce_us': must be at most 100000"));
  CHECK(parse_error("[cluster]\noutbox_coalesce_us = 0\nwire_version = 2\n").empty());
  CHECK_THAT(parse_error("[cache]\ncapacity = 0\n"), StartsWith("test.toml:2: key 'cache.capacity': must be positive"));
  CHECK_THAT(parse_error("[cache]\nttl_ms = 0\n"), Contains("key 'cache.ttl_ms'"));
  CHECK_THAT(parse_error("[node]\nthreads = -1\n"), Contains("key 'node.threads': must not be negative"));
  CHECK_THAT(parse_error("[node]\nthreads = 99999999999\n"), Contains("key 'node.threads': must be at most 1024"));
  CHECK_THAT(parse_error("[limits]\nmax_connections = -1\n"), Contains("key 'limits.max_connections'"));
  CHECK_THAT(parse_error("[limits]\nmax_sessions_per_user = -1\n"), Contains("key 'limits.max_sessions_per_user'"));
  CHECK_THAT(parse_error("[limits]\nmessages_per_second = -1\n"), Contains("key 'limits.messages_per_second'"));
  CHECK_THAT(parse_error("[limits]\nburst = 0\n"), Contains("key 'limits.burst'"));
  CHECK_THAT(parse_error("[limits]\nmax_message_bytes = 0\n"), Contains("key 'limits.max_message_bytes'"));

  // Boundaries that are allowed.
  CHECK(parse_error("[limits]\nmessages_per_second = 0\nmax_connections = 0\n[node]\nthreads = 0\n").empty());
  CHECK(parse_error("[cache]\ncapacity = 1\nttl_ms = 1\n").empty());
}

TEST_CASE("unknown enum values are refused", "[config]") {
  CHECK_THAT(parse_error("[auth]\nmode = \"oauth\"\n"),
             StartsWith("test.toml:2: key 'auth.mode': unknown mode 'oauth'"));
  CHECK_THAT(parse_error("[log]\nformat = \"xml\"\n"), Contains("key 'log.format': unknown format 'xml'"));
  CHECK_THAT(parse_error("[log]\nlevel = \"verbose\"\n"), Contains("key 'log.level': unknown level 'verbose'"));
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    CHECK(parse_error(std::string("[log]\nlevel = \"") + level + "\"\n").empty());
}

TEST_CASE("addresses must have the documented form", "[config]") {
  CHECK_THAT(parse_error("[node]\nlisten = \"8080\"\n"), StartsWith("test.toml:2: key 'node.listen': "));
  CHECK_THAT(parse_error("[node]\nlisten = \"localhost:\"\n"), Contains("key 'node.listen'"));
  CHECK_THAT(parse_error("[node]\nlisten = \"localhost:70000\"\n"), Contains("key 'node.listen'"));
  CHECK_THAT(parse_error("[node]\nlisten = \"::1:8080\"\n"), Contains("brackets"));
  CHECK_THAT(parse_error("[metrics]\nlisten = \"9100\"\n"), Contains("key 'metrics.listen'"));
  CHECK_THAT(parse_error("[master]\nbind = \"127.0.0.1:5555\"\n"), Contains("key 'master.bind'"));
  CHECK_THAT(parse_error("[cluster]\nmaster = \"tcp://*:5555\"\n"), Contains("key 'cluster.master'"));
  CHECK_THAT(parse_error("[cluster]\nevents_bind = \"udp://1.2.3.4:5\"\n"), Contains("key 'cluster.events_bind'"));
  CHECK_THAT(parse_error("[node]\nid = \"bad id\"\n"), Contains("key 'node.id'"));

  CHECK(parse_error("[node]\nlisten = \"0.0.0.0:80\"\n").empty());
  CHECK(parse_error("[node]\nlisten = \"example.com:443\"\n").empty());
  CHECK(parse_error("[master]\nbind = \"ipc:///tmp/wsg.sock\"\n").empty());
}

TEST_CASE("node.public_url is empty or a ws:// or wss:// URL of at most 512 bytes", "[config]") {
  for (const char* good : {"ws://chat.example.com/ws", "wss://chat.example.com", "wss://[2001:db8::1]:8443/ws",
                           "ws://203.0.113.7:8080/ws?tenant=a", ""}) {
    INFO(good);
    CHECK(parse_error(std::string("[node]\npublic_url = \"") + good + "\"\n").empty());
  }
  CHECK_THAT(parse_error("[node]\npublic_url = \"http://chat.example.com/ws\"\n"),
             StartsWith("test.toml:2: key 'node.public_url': ") && Contains("is not a ws:// or wss:// URL"));
  CHECK_THAT(parse_error("[node]\npublic_url = \"chat.example.com:443\"\n"), Contains("key 'node.public_url'"));
  CHECK_THAT(parse_error("[node]\npublic_url = \"wss:///ws\"\n"), Contains("no host"));
  CHECK_THAT(parse_error("[node]\npublic_url = \"wss://h:0/ws\"\n"), Contains("key 'node.public_url'"));
  CHECK_THAT(parse_error("[node]\npublic_url = \"wss://u@h/ws\"\n"), Contains("user information"));
  CHECK_THAT(parse_error("[node]\npublic_url = \"wss://h/a b\"\n"), Contains("printable ASCII"));
  const std::string path(512 - std::string("wss://h/").size(), 'p');
  CHECK(parse_error("[node]\npublic_url = \"wss://h/" + path + "\"\n").empty());
  CHECK_THAT(parse_error("[node]\npublic_url = \"wss://h/" + path + "p\"\n"),
             Contains("key 'node.public_url': longer than 512 bytes"));
  // Set by --public-url, after parsing: validate() applies the same rule.
  Config c;
  c.node.public_url = "tcp://h:1";
  CHECK_THAT(validate_error(c), StartsWith("key 'node.public_url': "));
}

TEST_CASE("http.allowed_origins is an array of origins", "[config]") {
  const Config c = Config::parse(
      "[http]\nallowed_origins = [\n  \"https://a.example\",\n  \"http://b.example:8080\",\n]\n", "o.toml");
  REQUIRE(c.http.allowed_origins.size() == 2);
  CHECK(c.http.allowed_origins[0] == "https://a.example");
  CHECK(c.http.allowed_origins[1] == "http://b.example:8080");

  CHECK(Config::parse("[http]\nallowed_origins = []\n", "o.toml").http.allowed_origins.empty());

  // A non-string element is reported at its own line.
  const std::string msg = parse_error("[http]\nallowed_origins = [\n  \"https://a.example\",\n  42,\n]\n", "o.toml");
  CHECK_THAT(msg, StartsWith("o.toml:4: key 'http.allowed_origins': element 2"));
  CHECK_THAT(parse_error("[http]\nallowed_origins = [\"a.example\"]\n"), Contains("not an origin"));
  CHECK_THAT(parse_error("[http]\nallowed_origins = [\"https://a.example/path\"]\n"), Contains("not an origin"));
}

TEST_CASE("a TOML syntax error gives file:line:column", "[config]") {
  const std::string msg = parse_error("[node]\nid = \"n1\"\nlisten = \"127.0.0.1:1\n", "syntax.toml");
  CHECK_THAT(msg, StartsWith("syntax.toml:3:"));
  // FILE:LINE:COL: the column is a number followed by ": ".
  const auto after_line = std::string("syntax.toml:3:").size();
  REQUIRE(msg.size() > after_line);
  CHECK(std::isdigit(static_cast<unsigned char>(msg[after_line])));

  CHECK_THAT(parse_error("[node]\n[node]\n", "dup.toml"), StartsWith("dup.toml:2:"));
}

TEST_CASE("cross-key constraints", "[config]") {
  CHECK_THAT(parse_error("[limits]\nsend_queue_bytes = 1000\nmax_message_bytes = 2000\n"),
             Contains("must be at least limits.max_message_bytes"));
  CHECK_THAT(parse_error("[limits]\n\nmax_message_bytes = 2000000\n"),
             StartsWith("test.toml:3: key 'limits.max_message_bytes'"));
  CHECK_THAT(parse_error("[tls]\ncert = \"c.pem\"\n"), Contains("tls.cert and tls.key"));
  CHECK_THAT(parse_error("[auth]\nsecret = \"s\"\nsecret_file = \"f\"\n"), Contains("only one of"));
  CHECK_THAT(parse_error("[cluster]\nevents_bind = \"tcp://*:6001\"\n"),
             StartsWith("test.toml:2: key 'cluster.events_bind'"));
  CHECK(parse_error("[cluster]\nevents_bind = \"tcp://*:6001\"\nevents_advertise = \"tcp://10.1.1.1:6001\"\n").empty());
  CHECK(parse_error("[auth]\nmode = \"jwt\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n").empty());
}

TEST_CASE("cluster CURVE keys are checked when parsed", "[config]") {
  // The key pair of the zmq_curve(7) manual page.
  const std::string secret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
  const std::string public_key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  const std::string other_public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  const Config c = Config::parse(
      "[cluster]\ncurve_secret_key = \"" + secret + "\"\ncurve_public_key = \"" + public_key + "\"\n", "test.toml");
  CHECK(c.cluster.curve_secret_key == secret);
  CHECK(c.cluster.curve_public_key == public_key);
  CHECK(Config{}.cluster.curve_secret_key.empty());
  CHECK(Config{}.cluster.curve_secret_key_file.empty());

  CHECK_THAT(parse_error("[cluster]\n\ncurve_secret_key = \"abc\"\n"),
             StartsWith("test.toml:3: key 'cluster.curve_secret_key': a CURVE key is 40 characters"));
  CHECK_THAT(parse_error("[cluster]\ncurve_public_key = \"" + std::string(40, '#') + "\"\n"),
             StartsWith("test.toml:2: key 'cluster.curve_public_key'"));
  CHECK_THAT(
      parse_error("[cluster]\ncurve_secret_key = \"" + secret + "\"\ncurve_public_key = \"" + other_public + "\"\n"),
      StartsWith("test.toml:3: key 'cluster.curve_public_key': cluster.curve_public_key does not belong"));
  CHECK_THAT(parse_error("[cluster]\ncurve_secret_key = \"" + secret + "\"\ncurve_secret_key_file = \"f\"\n"),
             Contains("set only one of cluster.curve_secret_key and cluster.curve_secret_key_file"));
  CHECK_THAT(parse_error("[cluster]\ncurve_secret = \"x\"\n"), Contains("unknown key"));

  // Flags land after parsing: validate() checks them too.
  Config v;
  v.cluster.curve_secret_key = "nope";
  CHECK_THAT(validate_error(v), StartsWith("key 'cluster.curve_secret_key'"));
}

TEST_CASE("jwt mode needs a secret", "[config]") {
  const char* saved = std::getenv("WSG_JWT_SECRET");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("WSG_JWT_SECRET");
  CHECK_THAT(parse_error("[auth]\nmode = \"jwt\"\n"), StartsWith("test.toml:2: key 'auth.mode'"));
  ::setenv("WSG_JWT_SECRET", "from-the-environment", 1);
  CHECK(parse_error("[auth]\nmode = \"jwt\"\n").empty());
  if (saved) ::setenv("WSG_JWT_SECRET", saved_value.c_str(), 1);
  else ::unsetenv("WSG_JWT_SECRET");
}

TEST_CASE("auth: algorithm, public key file, leeway, audience, issuer", "[config]") {
  CHECK(Config{}.auth.algorithm == "HS256");
  CHECK(Config{}.auth.public_key_file.empty());
  CHECK(Config{}.auth.leeway_ms == 0);
  CHECK(Config{}.auth.audience.empty());
  CHECK(Config{}.auth.issuer.empty());
  const Config c = Config::parse(
      "[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\npublic_key_file = \"/etc/wsg/login.pub\"\nleeway_ms = 30000\n"
      "audience = \"wsg\"\nissuer = \"https://login.example.com\"\n",
      "test.toml");
  CHECK(c.auth.algorithm == "RS256");
  CHECK(c.auth.public_key_file == "/etc/wsg/login.pub");
  CHECK(c.auth.leeway_ms == 30000);
  CHECK(c.auth.audience == "wsg");
  CHECK(c.auth.issuer == "https://login.example.com");
  CHECK(parse_error("[auth]\nmode = \"jwt\"\nalgorithm = \"ES256\"\npublic_key_file = \"k.pub\"\n").empty());

  CHECK_THAT(parse_error("[auth]\nalgorithm = \"none\"\n"),
             StartsWith("test.toml:2: key 'auth.algorithm': unknown algorithm 'none' (expected one of: HS256, "
                        "RS256, ES256)"));
  CHECK_THAT(parse_error("[auth]\nalgorithm = \"rs256\"\n"), StartsWith("test.toml:2: key 'auth.algorithm'"));
  CHECK_THAT(parse_error("[auth]\nalgorithm = \"HS512\"\n"), StartsWith("test.toml:2: key 'auth.algorithm'"));
  CHECK_THAT(parse_error("[auth]\nleeway_ms = -1\n"),
             StartsWith("test.toml:2: key 'auth.leeway_ms': must not be negative"));
  CHECK_THAT(parse_error("[auth]\nleeway_ms = 3600001\n"),
             StartsWith("test.toml:2: key 'auth.leeway_ms': must be at most"));
  CHECK_THAT(parse_error("[auth]\naudience = 1\n"), StartsWith("test.toml:2: key 'auth.audience': expected a string"));
  // each algorithm with its own kind of key, never the other (algorithm confusion)
  CHECK_THAT(parse_error("[auth]\nmode = \"jwt\"\nsecret = \"s\"\n\npublic_key_file = \"k.pub\"\n"),
             StartsWith("test.toml:5: key 'auth.public_key_file': auth.public_key_file is for auth.algorithm "
                        "\"RS256\" or \"ES256\""));
  CHECK_THAT(
      parse_error("[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\npublic_key_file = \"k.pub\"\nsecret = \"s\"\n"),
      StartsWith("test.toml:5: key 'auth.secret': auth.secret and auth.secret_file are for auth.algorithm "
                 "\"HS256\""));
  CHECK_THAT(parse_error("[auth]\nalgorithm = \"ES256\"\nsecret_file = \"f\"\n"),
             StartsWith("test.toml:3: key 'auth.secret_file'"));
  CHECK_THAT(parse_error("[auth]\nmode = \"jwt\"\n\nalgorithm = \"ES256\"\n"),
             StartsWith("test.toml:4: key 'auth.algorithm': auth.algorithm \"ES256\" needs auth.public_key_file"));
  // insecure mode: a public-key algorithm without a key is not an error (nothing is verified)
  CHECK(parse_error("[auth]\nalgorithm = \"ES256\"\n").empty());

  // Flags and code land after parsing: validate() checks them too.
  Config v;
  v.auth.algorithm = "RS384";
  CHECK_THAT(validate_error(v), StartsWith("key 'auth.algorithm': unknown algorithm 'RS384'"));
  v.auth.algorithm = "RS256";
  v.auth.mode = "jwt";
  CHECK_THAT(validate_error(v),
             StartsWith("key 'auth.algorithm': auth.algorithm \"RS256\" needs auth.public_key_file"));
  v.auth.public_key_file = "k.pub";
  CHECK(validate_error(v).empty());
  v.auth.leeway_ms = -5;
  CHECK_THAT(validate_error(v), StartsWith("key 'auth.leeway_ms'"));

  // to_toml shows the new keys (none is secret) and round-trips
  Config t;
  t.auth.mode = "jwt";
  t.auth.algorithm = "ES256";
  t.auth.public_key_file = "/k.pub";
  t.auth.leeway_ms = 1500;
  t.auth.audience = "wsg";
  t.auth.issuer = "login";
  const auto back = Config::parse(t.to_toml(), "back.toml");
  CHECK(back.auth.algorithm == "ES256");
  CHECK(back.auth.public_key_file == "/k.pub");
  CHECK(back.auth.leeway_ms == 1500);
  CHECK(back.auth.audience == "wsg");
  CHECK(back.auth.issuer == "login");
}

TEST_CASE("auth: the public key file must hold a public key of the algorithm", "[config]") {
  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "wsg-config-keys-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const fs::path dir = pattern;
  const auto run = [](const std::string& command) {
    INFO(command);
    REQUIRE(std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0);
  };
  const std::string d = dir.string();
  run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/rs.pem");
  run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " + d + "/short.pem");
  run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + d + "/es.pem");
  run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out " + d + "/p384.pem");
  for (const char* name : {"rs", "short", "es", "p384"})
    run("openssl pkey -in " + d + "/" + name + ".pem -pubout -out " + d + "/" + name + ".pub");
  run("echo 'not a key' > " + d + "/garbage.pub");

  wsg::AuthConfig auth;
  auth.mode = "jwt";
  const auto key_error = [&](const std::string& algorithm, const std::string& file) -> std::string {
    auth.algorithm = algorithm;
    auth.public_key_file = file.empty() ? "" : d + "/" + file;
    try {
      wsg::secrets::jwt_key(auth);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(key_error("RS256", "rs.pub").empty());
  CHECK(key_error("ES256", "es.pub").empty());
  auth.algorithm = "RS256";
  auth.public_key_file = d + "/rs.pub";
  const auto key = wsg::secrets::jwt_key(auth);
  CHECK_THAT(key.value, StartsWith("-----BEGIN PUBLIC KEY-----"));
  CHECK(key.source == "auth.public_key_file " + d + "/rs.pub");

  const std::string named = "key 'auth.public_key_file' (file '" + d + "/";
  CHECK_THAT(key_error("RS256", "rs.pem"), StartsWith(named + "rs.pem'): not a PEM public key"));
  CHECK_THAT(key_error("RS256", "garbage.pub"), StartsWith(named + "garbage.pub'): not a PEM public key"));
  CHECK_THAT(key_error("RS256", "es.pub"), StartsWith(named + "es.pub'): RS256 needs an RSA public key"));
  CHECK_THAT(key_error("RS256", "short.pub"),
             StartsWith(named + "short.pub'): RS256 needs an RSA key of at least 2048 bits (got 1024)"));
  CHECK_THAT(key_error("ES256", "rs.pub"), StartsWith(named + "rs.pub'): ES256 needs an EC public key"));
  CHECK_THAT(key_error("ES256", "p384.pub"),
             StartsWith(named + "p384.pub'): ES256 needs an EC key on P-256 (prime256v1), got secp384r1"));
  CHECK_THAT(key_error("ES256", "missing.pub"), StartsWith("key 'auth.public_key_file': cannot open"));
  CHECK_THAT(key_error("ES256", ""), StartsWith("key 'auth.algorithm': auth.algorithm \"ES256\" needs"));
  // HS256 takes the secret, as before
  auth.algorithm = "HS256";
  auth.public_key_file.clear();
  auth.secret = "s3cret";
  CHECK(wsg::secrets::jwt_key(auth).value == "s3cret");

  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("validate() checks values set after parsing (flags)", "[config]") {
  Config c;
  CHECK_NOTHROW(c.validate());

  c.node.listen = "nonsense";
  CHECK_THAT(validate_error(c), StartsWith("key 'node.listen': "));
  c = Config{};
  c.master.node_timeout_ms = 0;
  CHECK_THAT(validate_error(c), StartsWith("key 'master.node_timeout_ms': must be positive"));
  c = Config{};
  c.node.threads = -2;
  CHECK_THAT(validate_error(c), StartsWith("key 'node.threads'"));
  c = Config{};
  c.log.level = "loud";
  CHECK_THAT(validate_error(c), StartsWith("key 'log.level'"));
  c = Config{};
  c.cluster.master = "";
  CHECK_THAT(validate_error(c), StartsWith("key 'cluster.master'"));
  c = Config{};
  c.limits.max_connections = -1;
  CHECK_THAT(validate_error(c), StartsWith("key 'limits.max_connections'"));
  c = Config{};
  c.limits.max_message_bytes = c.limits.send_queue_bytes + 1;
  CHECK_THAT(validate_error(c), Contains("limits.send_queue_bytes"));
}

TEST_CASE("load_file reads a file and names a missing one", "[config]") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto missing = (dir / "wsg-config-test-does-not-exist.toml").string();
  std::filesystem::remove(missing);
  try {
    Config::load_file(missing);
    FAIL("load_file of a missing file did not throw");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains(missing));
  }

  CHECK_THROWS_AS(Config::load_file(dir.string()), ConfigError);
}

TEST_CASE("errors in a loaded file name that file", "[config]") {
  const auto path = std::filesystem::temp_directory_path() / "wsg-config-test-bad.toml";
  {
    FILE* f = std::fopen(path.string().c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("[node]\nid = \"n\"\nbogus = true\n", f);
    std::fclose(f);
  }
  std::string msg;
  try {
    Config::load_file(path.string());
  } catch (const ConfigError& e) {
    msg = e.what();
  }
  std::filesystem::remove(path);
  CHECK_THAT(msg, StartsWith(path.string() + ":3: key 'node.bogus'"));
}

TEST_CASE("to_toml() round-trips through parse()", "[config]") {
  Config c;
  c.master.bind = "tcp://127.0.0.1:7777";
  c.master.node_timeout_ms = 1234;
  c.metrics.listen = "127.0.0.1:9100";
  c.node.id = "node-x";
  c.node.listen = "[::1]:8443";
  c.node.threads = 2;
  c.node.shutdown_timeout_ms = 111;
  c.node.public_url = "ws://203.0.113.7:8080/ws?x=1";
  c.cluster.master = "ipc:///tmp/master.sock";
  c.cluster.events_bind = "tcp://0.0.0.0:6100";
  c.cluster.events_advertise = "tcp://192.0.2.1:6100";
  c.cluster.heartbeat_ms = 222;
  c.cluster.delivery_timeout_ms = 333;
  c.cluster.curve_secret_key_file = "/etc/wsg/cluster.key";
  c.cluster.curve_public_key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  c.cache.capacity = 5;
  c.cache.ttl_ms = 6;
  c.auth.mode = "jwt";
  c.auth.secret = "quote\" backslash\\ tab\t newline\n bell\x07 é";
  c.limits.max_message_bytes = 100;
  c.limits.max_connections = 7;
  c.limits.send_queue_bytes = 200;
  c.limits.messages_per_second = 0;
  c.limits.burst = 9;
  c.http.allowed_origins = {"https://a.example", "http://b.example:81"};
  c.http.static_dir = "/srv/static dir";
  c.http.compression = true;
  c.tls.cert = "c.pem";
  c.tls.key = "k.pem";
  c.log.level = "trace";
  c.log.format = "json";
  REQUIRE_NOTHROW(c.validate());

  const std::string text = c.to_toml(Config::Secrets::show);
  const Config back = Config::parse(text, "roundtrip.toml");
  CHECK(back.to_toml(Config::Secrets::show) == text);
  CHECK(back.master.bind == c.master.bind);
  CHECK(back.master.node_timeout_ms == 1234);
  CHECK(back.metrics.listen == c.metrics.listen);
  CHECK(back.node.id == "node-x");
  CHECK(back.node.listen == "[::1]:8443");
  CHECK(back.node.threads == 2);
  CHECK(back.node.shutdown_timeout_ms == 111);
  CHECK(back.node.public_url == c.node.public_url);
  CHECK(back.cluster.master == c.cluster.master);
  CHECK(back.cluster.events_bind == c.cluster.events_bind);
  CHECK(back.cluster.events_advertise == c.cluster.events_advertise);
  CHECK(back.cluster.heartbeat_ms == 222);
  CHECK(back.cluster.delivery_timeout_ms == 333);
  CHECK(back.cluster.curve_secret_key.empty());
  CHECK(back.cluster.curve_secret_key_file == "/etc/wsg/cluster.key");
  CHECK(back.cluster.curve_public_key == c.cluster.curve_public_key);
  CHECK(back.cache.capacity == 5);
  CHECK(back.cache.ttl_ms == 6);
  CHECK(back.auth.mode == "jwt");
  CHECK(back.auth.secret == c.auth.secret);
  CHECK(back.auth.secret_file.empty());
  CHECK(back.limits.max_message_bytes == 100);
  CHECK(back.limits.max_connections == 7);
  CHECK(back.limits.send_queue_bytes == 200);
  CHECK(back.limits.messages_per_second == 0);
  CHECK(back.limits.burst == 9);
  CHECK(back.http.allowed_origins == c.http.allowed_origins);
  CHECK(back.http.static_dir == c.http.static_dir);
  CHECK(back.http.compression);
  CHECK(back.tls.cert == "c.pem");
  CHECK(back.tls.key == "k.pem");
  CHECK(back.log.level == "trace");
  CHECK(back.log.format == "json");

  // Every key is written, so the defaults round-trip too.
  const std::string defaults = Config{}.to_toml();
  for (const char* key : {"[master]",
                          "bind =",
                          "node_timeout_ms =",
                          "[metrics]",
                          "[node]",
                          "threads =",
                          "shutdown_timeout_ms =",
                          "[cluster]",
                          "events_advertise =",
                          "heartbeat_ms =",
                          "delivery_timeout_ms =",
                          "curve_secret_key =",
                          "curve_secret_key_file =",
                          "curve_public_key =",
                          "[cache]",
                          "capacity =",
                          "ttl_ms =",
                          "[auth]",
                          "mode =",
                          "secret =",
                          "secret_file =",
                          "[limits]",
                          "max_message_bytes =",
                          "max_connections =",
                          "send_queue_bytes =",
                          "messages_per_second =",
                          "burst =",
                          "[http]",
                          "allowed_origins =",
                          "static_dir =",
                          "compression =",
                          "[tls]",
                          "cert =",
                          "key =",
                          "[log]",
                          "level =",
                          "format ="})
    CHECK_THAT(defaults, Contains(key));
  CHECK(Config::parse(defaults, "defaults.toml").to_toml() == defaults);
}

TEST_CASE("the example configuration files are valid", "[config]") {
  const auto dir = repo_root() / "examples" / "config";

  const Config master = Config::load_file((dir / "master.toml").string());
  CHECK(master.master.bind == "tcp://127.0.0.1:5555");
  CHECK(master.master.node_timeout_ms == 3000);
  CHECK_NOTHROW(master.validate());

  const Config node1 = Config::load_file((dir / "node-1.toml").string());
  CHECK(node1.node.id == "node-1");
  CHECK(node1.node.listen == "127.0.0.1:8081");
  CHECK(node1.cluster.master == "tcp://127.0.0.1:5555");
  CHECK(node1.cluster.events_bind == "tcp://127.0.0.1:6001");
  CHECK_NOTHROW(node1.validate());

  const Config node2 = Config::load_file((dir / "node-2.toml").string());
  CHECK(node2.node.id == "node-2");
  CHECK(node2.node.listen == "127.0.0.1:8082");
  CHECK(node2.cluster.master == "tcp://127.0.0.1:5555");
  CHECK(node2.cluster.events_bind == "tcp://127.0.0.1:6002");
  CHECK_NOTHROW(node2.validate());
}

TEST_CASE("to_toml() hides the JWT secret and the CURVE secret key unless asked", "[config]") {
  Config c;
  c.auth.mode = "jwt";
  c.auth.secret = "hunter2-jwt-secret";
  c.cluster.curve_secret_key = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
  const std::string shown = c.to_toml();
  CHECK_THAT(shown, !Contains("hunter2"));
  CHECK_THAT(shown, !Contains("D:)Q[IlAW"));
  CHECK_THAT(shown, Contains("# secret = (set, not shown)"));
  CHECK_THAT(shown, Contains("# curve_secret_key = (set, not shown)"));
  const std::string full = c.to_toml(Config::Secrets::show);
  CHECK_THAT(full, Contains("hunter2-jwt-secret"));
  // An empty secret is shown as it is (nothing to hide).
  CHECK_THAT(Config{}.to_toml(), Contains("secret = \"\""));
}

TEST_CASE("role(): a file is a master's or a node's by its sections; to_toml prints only that role's", "[config]") {
  const Config master = Config::parse("[master]\nbind = \"tcp://127.0.0.1:5555\"\n[log]\nlevel = \"info\"\n", "m.toml");
  CHECK(master.role() == Config::Role::master);
  const std::string m = master.to_toml(Config::Secrets::redact, master.role());
  CHECK_THAT(m, Contains("[master]"));
  CHECK_THAT(m, Contains("[metrics]"));
  CHECK_THAT(m, Contains("[cluster]"));  // the CURVE keys serve every role
  CHECK_THAT(m, Contains("[log]"));
  for (const char* node_only : {"[node]", "[cache]", "[auth]", "[limits]", "[http]", "[tls]"})
    CHECK_THAT(m, !Contains(node_only));
  // What is printed still parses, to the same values.
  CHECK(Config::parse(m, "m2.toml").master.bind == master.master.bind);

  const Config node = Config::parse("[node]\nid = \"n1\"\n[cluster]\nheartbeat_ms = 500\n", "n.toml");
  CHECK(node.role() == Config::Role::node);
  const std::string n = node.to_toml(Config::Secrets::redact, node.role());
  CHECK_THAT(n, Contains("[node]"));
  CHECK_THAT(n, Contains("[limits]"));
  CHECK_THAT(n, Contains("heartbeat_ms = 500"));
  CHECK_THAT(n, !Contains("[master]"));
  CHECK_THAT(n, !Contains("[metrics]"));

  // Both, or neither: every section, as before.
  CHECK(Config::parse("[master]\n[node]\n", "b.toml").role() == Config::Role::any);
  CHECK(Config::parse("[cluster]\n[log]\n", "c.toml").role() == Config::Role::any);
  CHECK(Config{}.role() == Config::Role::any);
  CHECK(node.to_toml() == node.to_toml(Config::Secrets::redact, Config::Role::any));
  CHECK_THAT(node.to_toml(), Contains("[master]"));
}
