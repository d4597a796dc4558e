// Unit tests for JSON Web Tokens: HS256 here, RS256 and ES256 in jwt_pk_test.cpp (docs/protocol.md, "Identity"; `wsg
// token` in man/wsg.1).
#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "proto/jwt.h"

using namespace wsg::jwt;

namespace {

constexpr int64_t kNow = 1700000000;
const std::string kSecret = "test-secret";

// Computed independently (Python hmac + hashlib + base64): secret "known-answer-secret",
// payload {"sub":"alice","iat":1700000000,"exp":1700003600}.
const std::string kKnownToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ."
    "qbQ3WnSVEgH_I104wC01oOeJq0QXDgTOh2yrdj-YnWk";

// A token signed with `secret` from raw header and payload JSON texts.
std::string make(const std::string& header, const std::string& payload, const std::string& secret = kSecret) {
  const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(hmac_sha256(secret, input));
}
std::string make_payload(const std::string& payload) { return make(R"({"alg":"HS256","typ":"JWT"})", payload); }

std::string accepted(const VerifyResult& r) {
  if (const auto* e = std::get_if<Refused>(&r)) FAIL("refused: " << e->reason);
  return std::get<std::string>(r);
}
std::string refused(const VerifyResult& r) {
  if (const auto* s = std::get_if<std::string>(&r)) FAIL("accepted with sub " << *s);
  return std::get<Refused>(r).reason;
}

}  // namespace

TEST_CASE("base64url encodes without padding and round-trips", "[jwt]") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    std::string out;
    REQUIRE(base64url_decode(base64url_encode(all.substr(0, n)), out));
    CHECK(out == all.substr(0, n));
  }
}

TEST_CASE("base64url decode refuses bad characters, padding, lengths and stray bits", "[jwt]") {
  std::string out;
  CHECK(base64url_decode("Zm9v", out));
  CHECK(out == "foo");
  CHECK_FALSE(base64url_decode("Zg==", out));  // padding
  CHECK_FALSE(base64url_decode("Zg=", out));
  CHECK_FALSE(base64url_decode("Z+8v", out));  // base64 (not url) alphabet
  CHECK_FALSE(base64url_decode("Z/8v", out));
  CHECK_FALSE(base64url_decode("Zm9 ", out));
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4), out));
  CHECK_FALSE(base64url_decode("Zm9vZ", out));  // length 4k+1
  CHECK_FALSE(base64url_decode("Zh", out));     // non-zero unused bits
  CHECK(base64url_decode("Zg", out));
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2", "[jwt]") {
  const std::string mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  CHECK(base64url_encode(mac) == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
}

TEST_CASE("mint reproduces an independently computed token and verify accepts it", "[jwt]") {
  CHECK(mint("alice", "known-answer-secret", kNow, 3600) == kKnownToken);
  CHECK(accepted(verify(kKnownToken, "known-answer-secret", kNow)) == "alice");
  CHECK(accepted(verify(kKnownToken, "known-answer-secret", kNow + 3599)) == "alice");
}

TEST_CASE("mint/verify round trip", "[jwt]") {
  for (const std::string& user : std::vector<std::string>{"alice", "a.B_c@d:e-1", "0", std::string(128, 'z')}) {
    const auto token = mint(user, kSecret, kNow, 60);
    CHECK(accepted(verify(token, kSecret, kNow)) == user);
  }
  // ttl 0: no exp, valid forever
  const auto forever = mint("bob", kSecret, kNow, 0);
  CHECK(forever.find('.') != std::string::npos);
  CHECK(accepted(verify(forever, kSecret, kNow + 100LL * 365 * 24 * 3600)) == "bob");
  // an empty secret still signs, but verifies nothing: libjwt checks no signature without a key,
  // so verify() refuses every token under an empty key (the configuration refuses one anyway)
  const auto empty = mint("carol", "", kNow, 60);
  CHECK(refused(verify(empty, "", kNow)) == "bad signature");
  refused(verify(empty, "x", kNow));
}

TEST_CASE("exp boundary: valid before exp, refused at and after", "[jwt]") {
  const auto token = mint("alice", kSecret, kNow, 10);
  CHECK(accepted(verify(token, kSecret, kNow + 9)) == "alice");
  CHECK(refused(verify(token, kSecret, kNow + 10)) == "expired");
  CHECK(refused(verify(token, kSecret, kNow + 11)) == "expired");
  // non-integral exp
  CHECK(accepted(verify(make_payload(R"({"sub":"a","exp":1700000000.5})"), kSecret, kNow - 1)) == "a");
  refused(verify(make_payload(R"({"sub":"a","exp":1700000000.5})"), kSecret, kNow));
  // non-numeric exp
  CHECK(refused(verify(make_payload(R"({"sub":"a","exp":"9999999999"})"), kSecret, kNow)) == "invalid exp");
  refused(verify(make_payload(R"({"sub":"a","exp":null})"), kSecret, kNow));
  refused(verify(make_payload(R"({"sub":"a","exp":true})"), kSecret, kNow));
  // huge exp saturates; an integer beyond int64 is refused: libjwt's JSON parser (jansson) cannot
  // read the payload
  CHECK(accepted(verify(make_payload(R"({"sub":"a","exp":9223372036854775807})"), kSecret, kNow)) == "a");
  refused(verify(make_payload(R"({"sub":"a","exp":18446744073709551615})"), kSecret, kNow));
  CHECK(accepted(verify(make_payload(R"({"sub":"a","exp":1e300})"), kSecret, kNow)) == "a");
}

TEST_CASE("nbf in the future is refused", "[jwt]") {
  CHECK(accepted(verify(make_payload(R"({"sub":"a","nbf":1700000000})"), kSecret, kNow)) == "a");
  CHECK(refused(verify(make_payload(R"({"sub":"a","nbf":1700000001})"), kSecret, kNow)) == "not yet valid");
  refused(verify(make_payload(R"({"sub":"a","nbf":"0"})"), kSecret, kNow));
}

TEST_CASE("bad signatures are refused: wrong secret, tampered payload, header or signature", "[jwt]") {
  const auto token = mint("alice", kSecret, kNow, 60);
  CHECK(refused(verify(token, "other-secret", kNow)) == "bad signature");
  CHECK(refused(verify(token, "", kNow)) == "bad signature");

  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  // payload swapped for another user's, signature kept
  const auto mallory = base64url_encode(R"({"sub":"mallory","iat":1700000000,"exp":1700000060})");
  CHECK(refused(verify(token.substr(0, d1 + 1) + mallory + token.substr(d2), kSecret, kNow)) == "bad signature");
  // payload of a token signed with another secret
  const auto other = mint("alice", "other", kNow, 60);
  CHECK(refused(verify(token.substr(0, d2) + other.substr(other.rfind('.')), kSecret, kNow)) == "bad signature");
  // one flipped signature character
  std::string flipped = token;
  flipped[d2 + 1] = flipped[d2 + 1] == 'A' ? 'B' : 'A';
  CHECK(refused(verify(flipped, kSecret, kNow)) == "bad signature");
  // truncated / empty signature
  refused(verify(token.substr(0, token.size() - 2), kSecret, kNow));
  CHECK(refused(verify(token.substr(0, d2 + 1), kSecret, kNow)) == "bad signature");
  // a signature with a trailing extra byte
  std::string sig;
  REQUIRE(base64url_decode(token.substr(d2 + 1), sig));
  CHECK(refused(verify(token.substr(0, d2 + 1) + base64url_encode(sig + "x"), kSecret, kNow)) == "bad signature");
}

TEST_CASE("malformed tokens are refused", "[jwt]") {
  const auto token = mint("alice", kSecret, kNow, 60);
  CHECK(refused(verify("", kSecret, kNow)) == "missing token");
  refused(verify("abc", kSecret, kNow));
  refused(verify("a.b", kSecret, kNow));
  refused(verify(token + ".", kSecret, kNow));
  refused(verify(token + ".x", kSecret, kNow));
  refused(verify("..", kSecret, kNow));
  // bad base64url in each part
  const auto d1 = token.find('.');
  refused(verify("*" + token.substr(1), kSecret, kNow));
  refused(verify(token.substr(0, d1 + 1) + "=" + token.substr(d1 + 1), kSecret, kNow));
  refused(verify(token + "=", kSecret, kNow));
  // header not JSON / not an object
  refused(verify(make("not json", R"({"sub":"a"})"), kSecret, kNow));
  refused(verify(make("[1,2]", R"({"sub":"a"})"), kSecret, kNow));
  // payload not JSON / not an object (correctly signed)
  refused(verify(make_payload("{\"sub\":\"a\""), kSecret, kNow));
  refused(verify(make_payload(R"("alice")"), kSecret, kNow));
  // too long
  const std::string long_user(kMaxTokenBytes, 'a');
  CHECK(refused(verify(make_payload(R"({"sub":"a","pad":")" + long_user + "\"}"), kSecret, kNow)) == "token too long");
}

TEST_CASE("only alg HS256 is accepted, and typ must be JWT when present", "[jwt]") {
  const std::string payload = R"({"sub":"alice"})";
  CHECK(accepted(verify(make(R"({"alg":"HS256"})", payload), kSecret, kNow)) == "alice");
  // alg none with an empty signature, and with a valid HS256 signature
  const auto none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(payload) + ".";
  CHECK(refused(verify(none, kSecret, kNow)) == "unsupported alg");
  CHECK(refused(verify(make(R"({"alg":"none"})", payload), kSecret, kNow)) == "unsupported alg");
  refused(verify(make(R"({"alg":"HS512"})", payload), kSecret, kNow));
  refused(verify(make(R"({"alg":"RS256"})", payload), kSecret, kNow));
  refused(verify(make(R"({"alg":"hs256"})", payload), kSecret, kNow));
  refused(verify(make(R"({"typ":"JWT"})", payload), kSecret, kNow));
  refused(verify(make(R"({"alg":null})", payload), kSecret, kNow));
  CHECK(refused(verify(make(R"({"alg":"HS256","typ":"JWS"})", payload), kSecret, kNow)) == "unsupported typ");
  refused(verify(make(R"({"alg":"HS256","typ":1})", payload), kSecret, kNow));
}

TEST_CASE("sub must be a string and a valid user id", "[jwt]") {
  CHECK(refused(verify(make_payload(R"({"iat":1})"), kSecret, kNow)) == "missing sub");
  refused(verify(make_payload(R"({"sub":42})"), kSecret, kNow));
  refused(verify(make_payload(R"({"sub":null})"), kSecret, kNow));
  refused(verify(make_payload(R"({"sub":["alice"]})"), kSecret, kNow));
  CHECK(refused(verify(make_payload(R"({"sub":""})"), kSecret, kNow)) == "invalid sub");
  refused(verify(make_payload(R"({"sub":"bad user"})"), kSecret, kNow));
  refused(verify(make_payload(R"({"sub":"a/b"})"), kSecret, kNow));
  refused(verify(make_payload(R"({"sub":"\u00e9"})"), kSecret, kNow));
  refused(verify(make_payload("{\"sub\":\"" + std::string(129, 'a') + "\"}"), kSecret, kNow));
  refused(verify(mint("bad user", kSecret, kNow, 60), kSecret, kNow));
}
