// CURVE keys (src/curve.h): Z85 checks, derivation, where the secret comes from; and the ZAP
// handler with the refusal detector (src/net/curve_zmq.h) on real sockets over loopback TCP.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "config/config.h"
#include "config/config_secrets.h"
#include "config/curve.h"
#include "net/curve_zmq.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using wsg::ClusterConfig;
using wsg::ConfigError;
namespace curve = wsg::curve;

namespace {

// The key pairs of the zmq_curve(7) manual page.
constexpr const char* kClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* kClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
constexpr const char* kServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

std::string keys_error(const ClusterConfig& cluster) {
  try {
    curve::cluster_keys(cluster);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Saves an environment variable and restores it at scope exit.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) saved_ = v;
  }
  ~EnvGuard() {
    if (saved_) ::setenv(name_, saved_->c_str(), 1);
    else ::unsetenv(name_);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto path =
      std::filesystem::temp_directory_path() / ("wsg-curve-test-" + std::to_string(::getpid()) + "-" + name);
  FILE* f = std::fopen(path.string().c_str(), "w");
  REQUIRE(f != nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return path;
}

}  // namespace

TEST_CASE("curve: libzmq has CURVE", "[curve]") { REQUIRE(curve::available()); }

TEST_CASE("curve: Z85 key checks", "[curve]") {
  CHECK_FALSE(curve::key_problem(kClientSecret));
  CHECK_FALSE(curve::key_problem(kServerPublic));
  CHECK_THAT(*curve::key_problem(""), Contains("40 characters"));
  CHECK_THAT(*curve::key_problem(std::string(kClientSecret).substr(1)), Contains("got 39"));
  CHECK_THAT(*curve::key_problem(std::string(kClientSecret) + "0"), Contains("got 41"));
  std::string bad = kClientSecret;
  bad[7] = '"';  // not in the Z85 alphabet
  CHECK_THAT(*curve::key_problem(bad), Contains("character 8 is not in the Z85 alphabet"));
  bad[7] = '_';
  CHECK(curve::key_problem(bad).has_value());
  // "#####" is 85^5 - 1 > 2^32 - 1
  CHECK_THAT(*curve::key_problem(std::string(40, '#')), Contains("exceeds 32 bits"));
  CHECK(curve::decode(kClientPublic).size() == 32);
  CHECK(curve::decode(std::string(40, '#')).empty());
}

TEST_CASE("curve: public keys derive from secrets and generated pairs match", "[curve]") {
  CHECK(curve::public_key_of(kClientSecret) == std::optional<std::string>(kClientPublic));
  CHECK(curve::public_key_of(kServerSecret) == std::optional<std::string>(kServerPublic));
  CHECK_FALSE(curve::public_key_of("too short"));

  const auto a = curve::generate();
  const auto b = curve::generate();
  CHECK(a.secret_key != b.secret_key);
  CHECK_FALSE(curve::key_problem(a.secret_key));
  CHECK_FALSE(curve::key_problem(a.public_key));
  CHECK(curve::public_key_of(a.secret_key) == std::optional<std::string>(a.public_key));
}

TEST_CASE("curve: the cluster key comes from the key, the file or the environment", "[curve]") {
  EnvGuard env(curve::kSecretEnv);
  ::unsetenv(curve::kSecretEnv);

  ClusterConfig none;
  CHECK_FALSE(curve::cluster_keys(none));

  ClusterConfig inline_key;
  inline_key.curve_secret_key = kClientSecret;
  auto k = curve::cluster_keys(inline_key);
  REQUIRE(k);
  CHECK(k->secret_key == kClientSecret);
  CHECK(k->public_key == kClientPublic);
  CHECK(k->source == "cluster.curve_secret_key");

  // A file, with the newline `wsg keygen --secret-file` writes.
  const auto file = write_temp("secret", std::string(kServerSecret) + "\n");
  ClusterConfig from_file;
  from_file.curve_secret_key_file = file.string();
  k = curve::cluster_keys(from_file);
  REQUIRE(k);
  CHECK(k->secret_key == kServerSecret);
  CHECK(k->public_key == kServerPublic);
  CHECK_THAT(k->source, Contains(file.string()));
  from_file.curve_public_key = kServerPublic;
  CHECK(curve::cluster_keys(from_file));
  from_file.curve_public_key = kClientPublic;
  CHECK_THAT(keys_error(from_file), StartsWith("key 'cluster.curve_public_key': does not belong"));

  const auto garbage = write_temp("garbage", "not a key\n");
  ClusterConfig bad_file;
  bad_file.curve_secret_key_file = garbage.string();
  CHECK_THAT(keys_error(bad_file), StartsWith("key 'cluster.curve_secret_key_file' (file '" + garbage.string()));
  CHECK_THAT(keys_error(bad_file), Contains("40 characters"));
  const auto empty = write_temp("empty", "\n");
  bad_file.curve_secret_key_file = empty.string();
  CHECK_THAT(keys_error(bad_file), Contains("is empty"));
  bad_file.curve_secret_key_file = (std::filesystem::temp_directory_path() / "wsg-curve-test-missing").string();
  CHECK_THAT(keys_error(bad_file), StartsWith("key 'cluster.curve_secret_key_file': cannot open"));
  std::filesystem::remove(file);
  std::filesystem::remove(garbage);
  std::filesystem::remove(empty);

  ::setenv(curve::kSecretEnv, kServerSecret, 1);
  k = curve::cluster_keys(none);
  REQUIRE(k);
  CHECK(k->public_key == kServerPublic);
  CHECK(k->source == curve::kSecretEnv);
  // The config wins over the environment.
  k = curve::cluster_keys(inline_key);
  REQUIRE(k);
  CHECK(k->public_key == kClientPublic);
  ::setenv(curve::kSecretEnv, "short", 1);
  CHECK_THAT(keys_error(none), StartsWith("environment variable WSG_CURVE_SECRET_KEY: a CURVE key is 40"));
  ::unsetenv(curve::kSecretEnv);

  ClusterConfig public_only;
  public_only.curve_public_key = kClientPublic;
  CHECK_THAT(keys_error(public_only), StartsWith("key 'cluster.curve_public_key': set without a secret key"));
}

TEST_CASE("curve: refusal detector", "[curve]") {
  using Event = curve::HandshakeMonitor::Event;
  using Kind = curve::HandshakeMonitor::Kind;
  {
    curve::RefusalDetector d("the master", true);
    CHECK_FALSE(d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"}));
    CHECK_FALSE(d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"}));
    CHECK_FALSE(d.on_event(Event{Kind::succeeded, 0, "tcp://m"}));  // resets
    CHECK_FALSE(d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"}));
    CHECK_FALSE(d.on_event(Event{Kind::failed_protocol, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, "tcp://m"}));
    auto r = d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"});
    REQUIRE(r);
    CHECK_THAT(*r, StartsWith("the master (tcp://m) refused our CURVE key"));
    CHECK_THAT(*r, Contains("check cluster.curve_secret_key"));
  }
  {
    // Without CURVE, a master that has it may only be seen dropping the connection.
    curve::RefusalDetector d("the master", false);
    CHECK_FALSE(d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"}));
    CHECK_FALSE(d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"}));
    auto r = d.on_event(Event{Kind::failed_no_detail, 32, "tcp://m"});
    REQUIRE(r);
    CHECK_THAT(*r, StartsWith("the master (tcp://m) refused us: it probably requires CURVE"));
    CHECK_THAT(*r, Contains("set cluster.curve_secret_key"));
  }
  {
    curve::RefusalDetector d("the master", true);
    auto r = d.on_event(Event{Kind::failed_auth, 400, "tcp://m"});
    REQUIRE(r);
    CHECK_THAT(*r, Contains("refused our CURVE key (ZAP status 400)"));
  }
  {
    curve::RefusalDetector d("the master", false);
    auto r = d.on_event(Event{Kind::failed_protocol, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "tcp://m"});
    REQUIRE(r);
    CHECK_THAT(*r, Contains("refused us: it requires CURVE"));
    CHECK_THAT(*r, Contains("set cluster.curve_secret_key"));
  }
  {
    curve::RefusalDetector d("the master", true);
    auto r = d.on_event(Event{Kind::failed_protocol, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "tcp://m"});
    REQUIRE(r);
    CHECK_THAT(*r, Contains("refused our CURVE key: it does not use CURVE"));
    CHECK_THAT(*r, Contains("check cluster.curve_secret_key"));
  }
}

namespace {

// A CURVE server (ROUTER + ZAP handler) and one client on loopback TCP, driven from this thread.
// Returns what the client's monitor reported: "delivered" once the server received the client's
// message, the refusal reason once the detector is sure, "timeout" otherwise.
std::string run_client(const curve::KeyPair& cluster, const curve::KeyPair& client_keys, const std::string& serverkey,
                       uint64_t* zap_refused = nullptr) {
  zmq::context_t server_ctx(1);
  curve::ZapHandler zap(server_ctx, cluster);
  zmq::socket_t server(server_ctx, zmq::socket_type::router);
  server.set(zmq::sockopt::linger, 0);
  curve::make_server(server, cluster);
  server.bind("tcp://127.0.0.1:*");
  const std::string endpoint = server.get(zmq::sockopt::last_endpoint);

  zmq::context_t client_ctx(1);
  zmq::socket_t client(client_ctx, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  client.set(zmq::sockopt::curve_serverkey, serverkey);
  client.set(zmq::sockopt::curve_publickey, client_keys.public_key);
  client.set(zmq::sockopt::curve_secretkey, client_keys.secret_key);
  std::string result = "timeout";
  {
    curve::HandshakeMonitor monitor(client_ctx, client, "test");
    curve::RefusalDetector detector("the server", true);
    client.connect(endpoint);
    client.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);

    zmq_pollitem_t items[3] = {{server.handle(), 0, ZMQ_POLLIN, 0},
                               {zap.socket().handle(), 0, ZMQ_POLLIN, 0},
                               {monitor.socket().handle(), 0, ZMQ_POLLIN, 0}};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (result == "timeout" && std::chrono::steady_clock::now() < deadline) {
      zmq_poll(items, 3, 50);
      if (items[1].revents & ZMQ_POLLIN) zap.handle_pending();
      if (items[0].revents & ZMQ_POLLIN) {
        zmq::message_t ident;
        zmq::message_t body;
        if (server.recv(ident, zmq::recv_flags::dontwait) && server.recv(body, zmq::recv_flags::dontwait) &&
            body.to_string() == "hello")
          result = "delivered";
      }
      if (items[2].revents & ZMQ_POLLIN) {
        for (const auto& e : monitor.read_pending())
          if (auto reason = detector.on_event(e)) result = *reason;
      }
    }
  }
  if (zap_refused) *zap_refused = zap.refused();
  return result;
}

}  // namespace

TEST_CASE("curve: the ZAP handler admits the cluster key and refuses others", "[curve]") {
  const curve::KeyPair cluster = curve::generate();
  const curve::KeyPair other = curve::generate();
  uint64_t refused = 0;

  CHECK(run_client(cluster, cluster, cluster.public_key, &refused) == "delivered");
  CHECK(refused == 0);

  // Knows the server's public key but not the cluster secret: the handshake completes, the ZAP
  // handler says 400.
  const std::string r = run_client(cluster, other, cluster.public_key, &refused);
  CHECK_THAT(r, Contains("refused our CURVE key (ZAP status 400)"));
  CHECK(refused >= 1);

  // Expects another server key (its own cluster's): the server cannot open its HELLO and drops it.
  CHECK_THAT(run_client(cluster, other, other.public_key, &refused), Contains("3 handshakes in a row failed"));
}
