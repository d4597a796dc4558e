// Unit tests for RS256 and ES256 tokens and the claim checks a login service's tokens need (leeway,
// aud, iss): docs/security.md, "Tokens". The key pairs are made by the `openssl` command in a
// temporary directory; the tokens are signed here with OpenSSL's own API (not libjwt, which the
// verifier uses), and one token per algorithm by `openssl dgst`, independently of this file.
#include <catch2/catch.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "proto/jwt.h"

using namespace wsg::jwt;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNow = 1700000000;           // seconds
constexpr int64_t kNowMs = kNow * 1000 + 500;  // half a second into kNow

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_all(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Runs a shell command; REQUIREs exit 0.
void sh(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0);
}

// Key pairs made once per run by the openssl command, in a directory removed at exit.
struct Keys {
  fs::path dir;
  Keys() {
    std::string pattern = (fs::temp_directory_path() / "wsg-jwt-pk-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    const std::string d = dir.string();
    const char* commands[] = {
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {}/rs.pem",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {}/rs-other.pem",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out {}/rs-short.pem",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {}/es.pem",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {}/es-other.pem",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out {}/es-384.pem",
    };
    for (std::string c : commands) {
      c.replace(c.find("{}"), 2, d);
      if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + c);
    }
    for (const char* name : {"rs", "rs-other", "rs-short", "es", "es-other", "es-384"}) {
      const std::string c =
          "openssl pkey -in " + d + "/" + name + ".pem -pubout -out " + d + "/" + name + ".pub >/dev/null 2>&1";
      if (std::system(c.c_str()) != 0) throw std::runtime_error("failed: " + c);
    }
  }
  ~Keys() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string pub(const std::string& name) const { return read_all(dir / (name + ".pub")); }
  std::string priv(const std::string& name) const { return read_all(dir / (name + ".pem")); }
};

const Keys& keys() {
  static const Keys k;
  return k;
}

// A JWS signature of `input` with the PEM private key `pem`: PKCS#1 v1.5 SHA-256 for RSA; for EC,
// ECDSA SHA-256 converted from DER to R || S, 32 bytes each (RFC 7518 §3.4).
std::string sign(const std::string& pem, const std::string& input) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(md.get(), nullptr, &len, data, input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) == 1);
  sig.resize(len);
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return sig;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ec(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(len)),
                                                           &ECDSA_SIG_free);
  REQUIRE(ec);
  std::string raw(64, '\0');
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_r(ec.get()), reinterpret_cast<unsigned char*>(raw.data()), 32) == 32);
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_s(ec.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32);
  return raw;
}

std::string header_of(Alg alg) { return R"({"alg":")" + std::string(alg_name(alg)) + R"(","typ":"JWT"})"; }

// A token from raw header and payload texts, signed with the private key `key_name` of keys().
std::string make(const std::string& header, const std::string& payload, const std::string& key_name) {
  const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign(keys().priv(key_name), input));
}

Verifier verifier_for(Alg alg, const std::string& key_name) {
  Verifier v;
  v.alg = alg;
  v.key = keys().pub(key_name);
  return v;
}

std::string accepted(const ClaimsResult& r) {
  if (const auto* e = std::get_if<Refused>(&r)) FAIL("refused: " << e->reason);
  return std::get<Claims>(r).sub;
}
std::string refused(const ClaimsResult& r) {
  if (const auto* c = std::get_if<Claims>(&r)) FAIL("accepted with sub " << c->sub);
  return std::get<Refused>(r).reason;
}

struct Case {
  Alg alg;
  std::string key;    // "rs" or "es"
  std::string other;  // another key pair of the same kind
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {{Alg::RS256, "rs", "rs-other"}, {Alg::ES256, "es", "es-other"}};
  return all;
}

}  // namespace

TEST_CASE("RS256 / ES256: a token signed by `openssl dgst` is accepted (known answer)", "[jwt]") {
  for (const auto& c : cases()) {
    INFO(alg_name(c.alg));
    const std::string input = base64url_encode(header_of(c.alg)) + "." +
                              base64url_encode(R"({"sub":"alice","iat":1700000000,"exp":1700003600})");
    write_all(keys().dir / "input", input);
    const std::string d = keys().dir.string();
    sh("openssl dgst -sha256 -sign " + d + "/" + c.key + ".pem -out " + d + "/sig " + d + "/input");
    std::string sig = read_all(keys().dir / "sig");
    if (c.alg == Alg::ES256) {
      // DER → R || S, by the same command line tool: the two INTEGERs `openssl asn1parse` shows.
      sh("openssl asn1parse -inform DER -in " + d + "/sig | grep INTEGER | sed 's/.*://' > " + d + "/rs.txt");
      std::istringstream lines(read_all(keys().dir / "rs.txt"));
      std::string raw, hex;
      while (std::getline(lines, hex)) {
        REQUIRE(hex.size() <= 64);
        hex = std::string(64 - hex.size(), '0') + hex;
        for (std::size_t i = 0; i < 64; i += 2) raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
      }
      REQUIRE(raw.size() == 64);
      sig = raw;
    } else {
      // PKCS#1 v1.5 is deterministic: the same bytes as this file's own signer.
      CHECK(sig == sign(keys().priv(c.key), input));
    }
    const std::string token = input + "." + base64url_encode(sig);
    CHECK(accepted(verify_claims(token, verifier_for(c.alg, c.key), kNowMs)) == "alice");
    CHECK(refused(verify_claims(token, verifier_for(c.alg, c.other), kNowMs)) == "bad signature");
  }
}

TEST_CASE("RS256 / ES256: accepted with the room claims; wrong key, tampering, bad sub refused", "[jwt]") {
  for (const auto& c : cases()) {
    INFO(alg_name(c.alg));
    const auto v = verifier_for(c.alg, c.key);
    const auto token = make(header_of(c.alg), R"({"sub":"alice","rooms":["lobby","team-*"],"join":["lobby"]})", c.key);
    const auto result = verify_claims(token, v, kNowMs);
    REQUIRE(accepted(result) == "alice");
    const auto& claims = std::get<Claims>(result);
    CHECK(claims.rooms_limited);
    CHECK(claims.join == std::vector<std::string>{"lobby"});
    CHECK(claims.room_allowed("team-a"));
    CHECK_FALSE(claims.room_allowed("other"));
    // signed with another key pair of the same kind
    CHECK(refused(verify_claims(make(header_of(c.alg), R"({"sub":"alice"})", c.other), v, kNowMs)) == "bad signature");
    // payload swapped for mallory's, signature kept
    const auto d1 = token.find('.');
    const auto d2 = token.find('.', d1 + 1);
    const auto mallory = token.substr(0, d1 + 1) + base64url_encode(R"({"sub":"mallory"})") + token.substr(d2);
    CHECK(refused(verify_claims(mallory, v, kNowMs)) == "bad signature");
    // no signature, a truncated one
    CHECK(refused(verify_claims(token.substr(0, d2 + 1), v, kNowMs)) == "bad signature");
    refused(verify_claims(token.substr(0, token.size() - 4), v, kNowMs));
    // sub
    CHECK(refused(verify_claims(make(header_of(c.alg), R"({"sub":"bad user"})", c.key), v, kNowMs)) == "invalid sub");
    CHECK(refused(verify_claims(make(header_of(c.alg), R"({"iat":1})", c.key), v, kNowMs)) == "missing sub");
    // room claims as for HS256
    CHECK(refused(verify_claims(make(header_of(c.alg), R"({"sub":"a","rooms":["x"],"join":["y"]})", c.key), v,
                                kNowMs)) == "join claim names a room the rooms claim does not allow");
    // an empty key verifies nothing
    Verifier empty = v;
    empty.key.clear();
    CHECK(refused(verify_claims(token, empty, kNowMs)) == "bad signature");
  }
}

TEST_CASE("algorithm confusion: only the configured algorithm is accepted", "[jwt]") {
  for (const auto& c : cases()) {
    INFO(alg_name(c.alg));
    const auto v = verifier_for(c.alg, c.key);
    const std::string payload = R"({"sub":"mallory"})";
    // HS256 keyed with the public key's PEM text: what libjwt alone would accept, since it verifies
    // with the header's algorithm and the public key is no secret
    const std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload);
    const std::string confused = input + "." + base64url_encode(hmac_sha256(v.key, input));
    CHECK(refused(verify_claims(confused, v, kNowMs)) == "unsupported alg");
    // the same token is a good HS256 token for a verifier whose secret is that text (the attack's
    // premise: it only fails above because the algorithm is pinned)
    Verifier hs = v;
    hs.alg = Alg::HS256;
    CHECK(accepted(verify_claims(confused, hs, kNowMs)) == "mallory");
    // alg none, empty signature and with one
    const std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(payload) + ".";
    CHECK(refused(verify_claims(none, v, kNowMs)) == "unsupported alg");
    CHECK(refused(verify_claims(make(R"({"alg":"none"})", payload, c.key), v, kNowMs)) == "unsupported alg");
    // the other public-key algorithm, correctly signed with its own key
    const Case& other_kind = c.alg == Alg::RS256 ? cases()[1] : cases()[0];
    CHECK(refused(verify_claims(make(header_of(other_kind.alg), payload, other_kind.key), v, kNowMs)) ==
          "unsupported alg");
    // a right signature under a header naming another algorithm: refused before the key is used
    CHECK(refused(verify_claims(make(R"({"alg":"RS512"})", payload, c.key), v, kNowMs)) == "unsupported alg");
    CHECK(refused(verify_claims(make(R"({"typ":"JWT"})", payload, c.key), v, kNowMs)) == "unsupported alg");
    CHECK(refused(verify_claims(
              make(R"({"alg":")" + std::string(alg_name(c.alg)) + R"(","typ":"JWS"})", payload, c.key), v, kNowMs)) ==
          "unsupported typ");
    // and an HS256 verifier refuses the public-key algorithms
    Verifier secret;
    secret.key = "some-secret";
    CHECK(refused(verify_claims(make(header_of(c.alg), payload, c.key), secret, kNowMs)) == "unsupported alg");
  }
}

TEST_CASE("leeway applies to exp and nbf, in milliseconds", "[jwt]") {
  for (const auto& c : cases()) {
    INFO(alg_name(c.alg));
    auto v = verifier_for(c.alg, c.key);
    // expired 5.5 s ago (exp = kNow - 5; now is kNow + 0.5 s)
    const auto expired = make(header_of(c.alg), R"({"sub":"a","exp":1699999995})", c.key);
    CHECK(refused(verify_claims(expired, v, kNowMs)) == "expired");
    v.leeway_ms = 5500;  // exp + leeway = now: still expired
    CHECK(refused(verify_claims(expired, v, kNowMs)) == "expired");
    v.leeway_ms = 5501;
    CHECK(accepted(verify_claims(expired, v, kNowMs)) == "a");
    // valid from 4.5 s ahead (nbf = kNow + 5)
    const auto early = make(header_of(c.alg), R"({"sub":"a","nbf":1700000005})", c.key);
    v.leeway_ms = 0;
    CHECK(refused(verify_claims(early, v, kNowMs)) == "not yet valid");
    v.leeway_ms = 4499;
    CHECK(refused(verify_claims(early, v, kNowMs)) == "not yet valid");
    v.leeway_ms = 4500;
    CHECK(accepted(verify_claims(early, v, kNowMs)) == "a");
    // a huge leeway does not overflow
    v.leeway_ms = std::numeric_limits<int64_t>::max();
    CHECK(accepted(verify_claims(expired, v, kNowMs)) == "a");
  }
}

TEST_CASE("aud and iss are checked when configured", "[jwt]") {
  for (const auto& c : cases()) {
    INFO(alg_name(c.alg));
    auto v = verifier_for(c.alg, c.key);
    const auto token = [&](const std::string& payload) { return make(header_of(c.alg), payload, c.key); };
    // not configured: neither claim is looked at
    CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":"other","iss":"else"})"), v, kNowMs)) == "a");
    CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":7,"iss":[]})"), v, kNowMs)) == "a");

    v.audience = "wsg";
    CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":"wsg"})"), v, kNowMs)) == "a");
    CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":["api","wsg"]})"), v, kNowMs)) == "a");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"api"})"), v, kNowMs)) == "wrong aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":["api"]})"), v, kNowMs)) == "wrong aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":[]})"), v, kNowMs)) == "wrong aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"WSG"})"), v, kNowMs)) == "wrong aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a"})"), v, kNowMs)) == "missing aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":7})"), v, kNowMs)) == "invalid aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":["wsg",7]})"), v, kNowMs)) == "invalid aud");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":{"wsg":true}})"), v, kNowMs)) == "invalid aud");

    v.issuer = "https://login.example.com";
    CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":"wsg","iss":"https://login.example.com"})"), v, kNowMs)) ==
          "a");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"wsg","iss":"https://evil.example.com"})"), v, kNowMs)) ==
          "wrong iss");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"wsg","iss":"https://login.example.com/"})"), v, kNowMs)) ==
          "wrong iss");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"wsg"})"), v, kNowMs)) == "missing iss");
    CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"wsg","iss":1})"), v, kNowMs)) == "invalid iss");
    // the issuer alone
    v.audience.clear();
    CHECK(accepted(verify_claims(token(R"({"sub":"a","iss":"https://login.example.com"})"), v, kNowMs)) == "a");
  }
}

TEST_CASE("HS256 verifier: leeway, aud and iss work the same", "[jwt]") {
  Verifier v;
  v.key = "hs-secret";
  v.leeway_ms = 1000;
  v.audience = "wsg";
  v.issuer = "login";
  const auto token = [&](const std::string& payload) {
    const std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload);
    return input + "." + base64url_encode(hmac_sha256(v.key, input));
  };
  CHECK(accepted(verify_claims(token(R"({"sub":"a","aud":["wsg"],"iss":"login","exp":1700000000})"), v, kNowMs)) ==
        "a");
  CHECK(refused(verify_claims(token(R"({"sub":"a","aud":["wsg"],"iss":"login","exp":1699999999})"), v, kNowMs)) ==
        "expired");
  CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"x","iss":"login"})"), v, kNowMs)) == "wrong aud");
  CHECK(refused(verify_claims(token(R"({"sub":"a","aud":"wsg","iss":"x"})"), v, kNowMs)) == "wrong iss");
  // mint()'s tokens (wsg token) have neither claim: refused by such a verifier, accepted without
  CHECK(refused(verify_claims(mint("a", v.key, kNow, 60), v, kNowMs)) == "missing iss");
  v.audience.clear();
  v.issuer.clear();
  CHECK(accepted(verify_claims(mint("a", v.key, kNow, 60), v, kNowMs)) == "a");
}
