// JWT authentication at the handshake (docs/protocol.md, "Identity") and `wsg token` (man/wsg.1).
#include "cluster_ops.h"
#include "test_util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/secrets.h"
#include "proto/jwt.h"

using namespace wsg::it;
using namespace wsg::it::ops;

namespace {

const std::string kSecret = "it-secret-0123456789";

// Tokens computed independently (Python hmac + hashlib + base64) for kSecret, and one for another
// secret.
// {"sub":"alice","iat":1700000000} (no exp)
const std::string kAliceToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMH0."
    "1_NELEL5e--X74dv3S44W3qxDHb56mbd2erKJR9dkp8";
// {"sub":"alice","iat":1000000000,"exp":1000003600} (expired in 2001)
const std::string kExpiredToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MTAwMDAwMDAwMCwiZXhwIjoxMDAwMDAzNjAwfQ."
    "dw9Ypg_hE_TfPkatUubh4pKlnVTlDeNEmyKnO0Jbyug";
// {"sub":"alice","iat":1700000000} signed with "wrong-secret"
const std::string kForgedToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMH0."
    "LlGCJX_PhUVe9wZsbflZuP1q2LOFHnal3Go3uwIlITg";

// A cluster of `nodes` nodes in jwt mode, the secret given by a config file.
ClusterOptions jwt_cluster(int nodes,
                           const std::string& auth_toml = "[auth]\nmode = \"jwt\"\nsecret = \"" + kSecret + "\"\n") {
  const auto config = write_file("jwt.toml", auth_toml);
  ClusterOptions o;
  o.nodes = nodes;
  for (int i = 0; i < nodes; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  return o;
}

// `wsg token ARGS...`: the token printed (exit 0 and one line required).
std::string wsg_token(const std::vector<std::string>& args) {
  std::vector<std::string> full{"token"};
  full.insert(full.end(), args.begin(), args.end());
  auto r = run_command(wsg_binary(), full, 5000ms);
  INFO("wsg token: exit " << (r.exit_code ? *r.exit_code : -1) << " out " << r.out << " err " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.size() > 1);
  REQUIRE(r.out.back() == '\n');
  const std::string token = r.out.substr(0, r.out.size() - 1);
  REQUIRE(token.find('\n') == std::string::npos);
  return token;
}

// The handshake is refused with `status` (no upgrade).
void expect_refused(uint16_t port, const std::string& target, int status,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  WsClient ws;
  auto r = ws.connect(port, target, headers);
  INFO("target " << target << ": http " << r.http_status << " " << r.error << " body " << r.body);
  CHECK_FALSE(r.connected);
  CHECK(r.http_status == status);
}

// Connects with `headers` and requires a welcome for `user`.
Session join_with(Cluster& c, std::size_t i, const std::string& user, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  Session s;
  s.ws = std::make_unique<WsClient>();
  s.user = user;
  auto r = s.ws->connect(c.ws_port(i), target, headers);
  INFO("connecting " << target << ": http " << r.http_status << " " << r.error << " " << r.body);
  REQUIRE(r.connected);
  auto w = expect_frame(*s.ws, "welcome");
  CHECK(str(w, "user") == user);
  CHECK(str(w, "node") == c.node_id(i));
  s.session = str(w, "session");
  s.node = str(w, "node");
  return s;
}

// Runs a shell command (the openssl tool); REQUIREs exit 0.
void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An RS256 token for `payload`, signed with the PEM private key in `key_file` (OpenSSL: PKCS#1
// v1.5, SHA-256).
std::string rs256_token(const std::filesystem::path& key_file, const std::string& payload,
                        const std::string& header = R"({"alg":"RS256","typ":"JWT"})") {
  const std::string pem = read_text(key_file);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  REQUIRE(key);
  const std::string input = wsg::jwt::base64url_encode(header) + "." + wsg::jwt::base64url_encode(payload);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(md.get(), nullptr, &len, data, input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) == 1);
  sig.resize(len);
  return input + "." + wsg::jwt::base64url_encode(sig);
}

}  // namespace

TEST_CASE("jwt mode: a valid ?token= is welcomed as its sub", "[integration]") {
  Cluster c(jwt_cluster(1));
  auto a = join(c, 0, "alice", "/ws?token=" + kAliceToken);
  expect_alive(*a, "p1");
  // ?user= does not override the token's identity
  auto a2 = join(c, 0, "alice", "/ws?user=bob&token=" + kAliceToken);
  // the session is registered under the sub
  CHECK(user_sessions(c, "alice").size() == 2);
  CHECK(user_sessions(c, "bob").empty());
}

TEST_CASE("jwt mode: Authorization: Bearer works, scheme case-insensitive", "[integration]") {
  Cluster c(jwt_cluster(1));
  auto a = join_with(c, 0, "alice", "/ws", {{"Authorization", "Bearer " + kAliceToken}});
  expect_alive(*a, "p1");
  join_with(c, 0, "alice", "/ws", {{"Authorization", "bearer " + kAliceToken}});
  join_with(c, 0, "alice", "/ws", {{"Authorization", "BEARER " + kAliceToken}});
  // a bearer with the wrong secret, another scheme, an empty bearer
  expect_refused(c.ws_port(0), "/ws", 401, {{"Authorization", "Bearer " + kForgedToken}});
  expect_refused(c.ws_port(0), "/ws", 401, {{"Authorization", "Basic YWxpY2U6cHc="}});
  expect_refused(c.ws_port(0), "/ws", 401, {{"Authorization", "Bearer "}});
}

TEST_CASE("jwt mode: missing, forged, expired and malformed tokens get 401", "[integration]") {
  Cluster c(jwt_cluster(1));
  const auto port = c.ws_port(0);
  expect_refused(port, "/ws", 401);
  expect_refused(port, "/ws?token=", 401);
  expect_refused(port, "/ws?token=" + kForgedToken, 401);
  expect_refused(port, "/ws?token=" + kExpiredToken, 401);
  expect_refused(port, "/ws?token=not.a.token", 401);
  expect_refused(port, "/ws?token=" + kAliceToken.substr(0, kAliceToken.size() - 1), 401);
  // an alg "none" token with alice's payload
  expect_refused(port, "/ws?token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", 401);
  {
    WsClient ws;
    auto r = ws.connect(port, "/ws?token=" + kExpiredToken);
    CHECK(r.body.find("expired") != std::string::npos);
  }
  // still serving
  auto a = join(c, 0, "alice", "/ws?token=" + kAliceToken);
  CHECK(user_sessions(c, "alice").size() == 1);
}

TEST_CASE("jwt mode: ?user= without a token is refused with 401", "[integration]") {
  Cluster c(jwt_cluster(1));
  expect_refused(c.ws_port(0), "/ws?user=alice", 401);
  CHECK(user_sessions(c, "alice").empty());
}

TEST_CASE("jwt mode: the Origin check (403) comes before auth (401)", "[integration]") {
  const auto config = write_file("jwt-origin.toml", "[auth]\nmode = \"jwt\"\nsecret = \"" + kSecret +
                                                        "\"\n[http]\nallowed_origins = [\"https://good.example\"]\n");
  ClusterOptions o;
  o.nodes = 1;
  o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  Cluster c(o);
  expect_refused(c.ws_port(0), "/ws", 403, {{"Origin", "https://evil.example"}});
  expect_refused(c.ws_port(0), "/ws?token=" + kAliceToken, 403, {{"Origin", "https://evil.example"}});
  expect_refused(c.ws_port(0), "/ws", 401, {{"Origin", "https://good.example"}});
  join_with(c, 0, "alice", "/ws?token=" + kAliceToken, {{"Origin", "https://good.example"}});
}

TEST_CASE("wsg token mints a token the node accepts", "[integration]") {
  Cluster c(jwt_cluster(1));
  const auto token = wsg_token({"--secret", kSecret, "--user", "carol@example.com"});
  join(c, 0, "carol@example.com", "/ws?token=" + token);
  // --ttl 0 (no exp) works too; a token for another secret does not
  join(c, 0, "dave", "/ws?token=" + wsg_token({"--secret", kSecret, "--user", "dave", "--ttl", "0"}));
  expect_refused(c.ws_port(0), "/ws?token=" + wsg_token({"--secret", "other", "--user", "dave"}), 401);
  // the secret from the environment
  auto r = run_command("/usr/bin/env", {"WSG_JWT_SECRET=" + kSecret, wsg_binary(), "token", "--user", "erin"}, 5000ms);
  REQUIRE(r.exit_code == 0);
  REQUIRE(!r.out.empty());
  join(c, 0, "erin", "/ws?token=" + r.out.substr(0, r.out.size() - 1));
}

TEST_CASE("wsg token refuses an invalid user or a missing secret with exit code 2", "[integration]") {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"token", "--secret", "s", "--user", "bad user"},
                                             {"token", "--secret", "s", "--user", ""},
                                             {"token", "--secret", "s"},
                                             {"token", "--secret", "s", "--user", "a", "--ttl", "-1"}}) {
    auto r = run_command(
        "/usr/bin/env",
        [&] {
          std::vector<std::string> a{"-u", "WSG_JWT_SECRET", wsg_binary()};
          a.insert(a.end(), args.begin(), args.end());
          return a;
        }(),
        5000ms);
    INFO("args " << args.size() << " out " << r.out << " err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
  }
  auto r = run_command("/usr/bin/env", {"-u", "WSG_JWT_SECRET", wsg_binary(), "token", "--user", "alice"}, 5000ms);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("WSG_JWT_SECRET") != std::string::npos);
}

TEST_CASE("jwt mode: two users exchange a message across nodes", "[integration]") {
  Cluster c(jwt_cluster(2));
  auto a = join(c, 0, "alice", "/ws?token=" + kAliceToken);
  const auto bob_token = wsg_token({"--secret", kSecret, "--user", "bob"});
  auto b = join_with(c, 1, "bob", "/ws", {{"Authorization", "Bearer " + bob_token}});
  const int64_t t0 = unix_ms();
  a->send_json(send_frame("bob", json::value("hi bob"), std::string("m1")));
  expect_ack(*a, "m1", "delivered");
  check_message(expect_frame(*b, "message"), "alice", "bob", json::value("hi bob"), t0, unix_ms());
  b->send_json(send_frame("alice", json::value("hi alice"), std::string("m2")));
  expect_ack(*b, "m2", "delivered");
  check_message(expect_frame(*a, "message"), "bob", "alice", json::value("hi alice"), t0, unix_ms());
}

TEST_CASE("jwt mode: the secret from auth.secret_file - an unreadable file stops the node with exit 2",
          "[integration]") {
  const auto secret_file = write_file("jwt.secret", kSecret + "\n");
  Cluster c(jwt_cluster(1, "[auth]\nmode = \"jwt\"\nsecret_file = \"" + secret_file.string() + "\"\n"));
  join(c, 0, "alice", "/ws?token=" + kAliceToken);
  expect_refused(c.ws_port(0), "/ws?token=" + kForgedToken, 401);

  const auto missing = (test_dir() / "no-such.secret").string();
  const auto bad = write_file("bad.toml", "[auth]\nmode = \"jwt\"\nsecret_file = \"" + missing + "\"\n");
  auto r = run_command(wsg_binary(),
                       {"node", "--config", bad.string(), "--listen", "127.0.0.1:" + std::to_string(free_port()),
                        "--master", c.master_addr(), "--events-bind", "tcp://127.0.0.1:" + std::to_string(free_port())},
                       10000ms);
  INFO("out " << r.out << " err " << r.err);
  CHECK(r.exit_code == 2);
  CHECK((r.out + r.err).find(missing) != std::string::npos);
}

TEST_CASE("jwt mode RS256: a login service's token is welcomed, forged and confused ones get 401",
          "[integration][auth]") {
  // The login service's key pair, made by the openssl tool; the node has only the public key.
  const auto dir = test_dir().string();
  sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + dir + "/login.pem");
  sh("openssl pkey -in " + dir + "/login.pem -pubout -out " + dir + "/login.pub");
  sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + dir + "/other.pem");
  Cluster c(
      jwt_cluster(1, "[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\npublic_key_file = \"" + dir +
                         "/login.pub\"\nleeway_ms = 30000\naudience = \"wsg\"\nissuer = \"https://login.example\"\n"));
  const auto port = c.ws_port(0);
  const int64_t now = unix_ms() / 1000;
  const auto claims = [&](const std::string& sub, int64_t exp, const std::string& aud = R"("wsg")") {
    return R"({"sub":")" + sub + R"(","iss":"https://login.example","aud":)" + aud + ",\"iat\":" + std::to_string(now) +
           ",\"exp\":" + std::to_string(exp) + "}";
  };
  const auto login = std::filesystem::path(dir) / "login.pem";

  // good: as ?token= and as a bearer; aud in an array; expired 5 s ago but within the leeway
  auto a = join(c, 0, "alice", "/ws?token=" + rs256_token(login, claims("alice", now + 600)));
  expect_alive(*a, "p1");
  join_with(c, 0, "bob", "/ws", {{"Authorization", "Bearer " + rs256_token(login, claims("bob", now + 600))}});
  join(c, 0, "carol", "/ws?token=" + rs256_token(login, claims("carol", now + 600, R"(["api","wsg"])")));
  join(c, 0, "dave", "/ws?token=" + rs256_token(login, claims("dave", now - 5)));

  // bad: another key, expired beyond the leeway, wrong audience, wrong issuer
  expect_refused(port, "/ws?token=" + rs256_token(std::filesystem::path(dir) / "other.pem", claims("alice", now + 600)),
                 401);
  expect_refused(port, "/ws?token=" + rs256_token(login, claims("alice", now - 60)), 401);
  expect_refused(port, "/ws?token=" + rs256_token(login, claims("alice", now + 600, R"("api")")), 401);
  expect_refused(port, "/ws?token=" + rs256_token(login, R"({"sub":"alice","iss":"https://evil.example","aud":"wsg"})"),
                 401);
  // algorithm confusion: HS256 keyed with the public key file's text; alg none
  const std::string input = wsg::jwt::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                            wsg::jwt::base64url_encode(claims("mallory", now + 600));
  for (const std::string& pem : {read_text(std::filesystem::path(dir) / "login.pub"),
                                 wsg::secrets::trim(read_text(std::filesystem::path(dir) / "login.pub"))}) {
    const auto confused = input + "." + wsg::jwt::base64url_encode(wsg::jwt::hmac_sha256(pem, input));
    WsClient ws;
    auto r = ws.connect(port, "/ws?token=" + confused);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 401);
    CHECK(r.body.find("unsupported alg") != std::string::npos);
  }
  expect_refused(port,
                 "/ws?token=" + wsg::jwt::base64url_encode(R"({"alg":"none"})") + "." +
                     wsg::jwt::base64url_encode(claims("mallory", now + 600)) + ".",
                 401);
  CHECK(user_sessions(c, "mallory").empty());
  CHECK(user_sessions(c, "alice").size() == 1);
}

TEST_CASE("jwt mode RS256: a public key file that is no RSA public key stops the node with exit 2",
          "[integration][auth]") {
  const auto dir = test_dir().string();
  sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + dir + "/login.pem");
  sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + dir + "/ec.pem");
  sh("openssl pkey -in " + dir + "/ec.pem -pubout -out " + dir + "/ec.pub");
  struct Bad {
    std::string file;
    std::string message;
  };
  for (const auto& bad : std::vector<Bad>{{dir + "/login.pem", "not a PEM public key"},
                                          {dir + "/ec.pub", "RS256 needs an RSA public key"},
                                          {dir + "/missing.pub", "cannot open"}}) {
    const auto config = write_file(
        "bad-key.toml", "[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\npublic_key_file = \"" + bad.file + "\"\n");
    auto r = run_command(wsg_binary(),
                         {"node", "--config", config.string(), "--listen", "127.0.0.1:" + std::to_string(free_port()),
                          "--master", "tcp://127.0.0.1:" + std::to_string(free_port()), "--events-bind",
                          "tcp://127.0.0.1:" + std::to_string(free_port())},
                         10000ms);
    INFO("out " << r.out << " err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK((r.out + r.err).find("auth.public_key_file") != std::string::npos);
    CHECK((r.out + r.err).find(bad.message) != std::string::npos);
    // check-config says the same
    auto check = run_command(wsg_binary(), {"check-config", config.string()}, 10000ms);
    INFO("check-config out " << check.out << " err " << check.err);
    CHECK(check.exit_code == 2);
    CHECK(check.err.find(bad.message) != std::string::npos);
  }
}
