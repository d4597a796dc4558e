#include "proto/jwt.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include <boost/json.hpp>

#include "proto/room_name.h"
#include "proto/user_id.h"

namespace wsg::jwt {

namespace json = boost::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kDecode = make_decode_table();

// A parsed JSON object, or nullopt (not JSON, not an object, duplicate-free is not required).
bool parse_object(std::string_view text, json::object& out) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  out = std::move(v.as_object());
  return true;
}

// A NumericDate (RFC 7519 §2): a JSON number, possibly non-integral. Truncated to seconds,
// saturated to int64. false when not a number.
bool numeric_date(const json::value& v, int64_t& out) {
  if (v.is_int64()) {
    out = v.as_int64();
    return true;
  }
  if (v.is_uint64()) {
    const auto u = v.as_uint64();
    out = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                         : static_cast<int64_t>(u);
    return true;
  }
  if (v.is_double()) {
    const double d = v.as_double();
    if (std::isnan(d)) return false;
    if (d >= 9.2e18) out = std::numeric_limits<int64_t>::max();
    else if (d <= -9.2e18) out = std::numeric_limits<int64_t>::min();
    else out = static_cast<int64_t>(std::floor(d));
    return true;
  }
  return false;
}

}  // namespace

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t n =
        (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8) | uint8_t(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t n = uint32_t(uint8_t(data[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t n = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    const int8_t v = kDecode[static_cast<unsigned char>(ch)];
    if (v < 0) return false;  // also '=' (no padding) and every non-alphabet byte
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits (2 or 4) must be zero: one encoding per byte string.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return false;
  return true;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(key.data());
  const auto* d = data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), md, &len) == nullptr || len != 32) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

VerifyResult verify(std::string_view token, std::string_view secret, int64_t now_s) {
  auto result = verify_claims(token, secret, now_s);
  if (auto* refused = std::get_if<Refused>(&result)) return std::move(*refused);
  return std::move(std::get<Claims>(result).sub);
}

bool Claims::room_allowed(std::string_view room) const {
  if (!rooms_limited) return true;
  for (const auto& pattern : rooms) {
    if (proto::room_matches(pattern, room)) return true;
  }
  return false;
}

namespace {

// A rooms claim: an array of at most kMaxRoomClaims strings, each passing `valid`.
bool room_list(const json::value& v, bool (*valid)(std::string_view), std::vector<std::string>& out) {
  if (!v.is_array() || v.as_array().size() > kMaxRoomClaims) return false;
  for (const auto& item : v.as_array()) {
    if (!item.is_string() || !valid(item.as_string())) return false;
    out.emplace_back(item.as_string());
  }
  return true;
}

}  // namespace

namespace {

jwt_alg_t libjwt_alg(Alg alg) {
  switch (alg) {
    case Alg::HS256: return JWT_ALG_HS256;
    case Alg::RS256: return JWT_ALG_RS256;
    case Alg::ES256: return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

// Seconds to milliseconds, saturated to int64.
int64_t to_ms(int64_t s) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (s > kMax / 1000) return kMax;
  if (s < kMin / 1000) return kMin;
  return s * 1000;
}

int64_t add_saturated(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

// `aud` names `audience`: a string equal to it, or an array holding it (RFC 7519 §4.1.3).
// nullopt when it does; the refusal otherwise.
std::optional<Refused> audience_problem(const json::value& aud, std::string_view audience) {
  if (aud.is_string()) {
    if (aud.as_string() == audience) return std::nullopt;
    return Refused{"wrong aud"};
  }
  if (!aud.is_array()) return Refused{"invalid aud"};
  bool found = false;
  for (const auto& item : aud.as_array()) {
    if (!item.is_string()) return Refused{"invalid aud"};
    if (item.as_string() == audience) found = true;
  }
  if (!found) return Refused{"wrong aud"};
  return std::nullopt;
}

using JwtPtr = std::unique_ptr<jwt_t, decltype(&jwt_free)>;

}  // namespace

std::string_view alg_name(Alg alg) {
  switch (alg) {
    case Alg::HS256: return "HS256";
    case Alg::RS256: return "RS256";
    case Alg::ES256: return "ES256";
  }
  return "?";
}

bool alg_from_name(std::string_view name, Alg& out) {
  for (Alg a : {Alg::HS256, Alg::RS256, Alg::ES256}) {
    if (alg_name(a) == name) {
      out = a;
      return true;
    }
  }
  return false;
}

ClaimsResult verify_claims(std::string_view token, std::string_view secret, int64_t now_s) {
  Verifier verifier;
  verifier.alg = Alg::HS256;
  verifier.key = std::string(secret);
  return verify_claims(token, verifier, to_ms(now_s));
}

ClaimsResult verify_claims(std::string_view token, const Verifier& verifier, int64_t now_ms) {
  // Cheap structural checks first, and the header's algorithm before any key is used: libjwt 1.10
  // verifies with whatever algorithm the header names.
  if (token.empty()) return Refused{"missing token"};
  if (token.size() > kMaxTokenBytes) return Refused{"token too long"};
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Refused{"malformed token"};
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Refused{"malformed token"};
  }
  if (token.find('\0') != std::string_view::npos) return Refused{"malformed token"};
  std::string header_text, payload_text, sig;
  if (!base64url_decode(token.substr(0, dot1), header_text) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_text) ||
      !base64url_decode(token.substr(dot2 + 1), sig)) {
    return Refused{"malformed token"};
  }
  json::object header;
  if (!parse_object(header_text, header)) return Refused{"malformed token header"};
  const auto* alg = header.if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != alg_name(verifier.alg)) {
    return Refused{"unsupported alg"};
  }
  if (const auto* typ = header.if_contains("typ"); typ != nullptr && (!typ->is_string() || typ->as_string() != "JWT")) {
    return Refused{"unsupported typ"};
  }

  // The signature (libjwt). With no key libjwt checks none, so an empty key verifies nothing.
  if (verifier.key.empty() || verifier.key.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Refused{"bad signature"};
  }
  const std::string token_z(token);  // libjwt wants it NUL-terminated
  jwt_t* decoded = nullptr;
  const int rc = jwt_decode(&decoded, token_z.c_str(), reinterpret_cast<const unsigned char*>(verifier.key.data()),
                            static_cast<int>(verifier.key.size()));
  const JwtPtr owned(decoded, &jwt_free);
  json::object payload;
  const bool payload_ok = parse_object(payload_text, payload);
  if (rc != 0 || !owned) return Refused{payload_ok ? "bad signature" : "malformed token payload"};
  // The algorithm libjwt verified with must be the configured one (the header check above is ours;
  // this is libjwt's reading of the same header).
  if (jwt_get_alg(owned.get()) != libjwt_alg(verifier.alg)) return Refused{"unsupported alg"};
  if (!payload_ok) return Refused{"malformed token payload"};

  // The claims, from the bytes the signature covers.
  const auto* sub = payload.if_contains("sub");
  if (sub == nullptr || !sub->is_string()) return Refused{"missing sub"};
  std::string user(sub->as_string());
  if (!proto::valid_user_id(user)) return Refused{"invalid sub"};
  const int64_t leeway = std::max<int64_t>(verifier.leeway_ms, 0);
  if (const auto* exp = payload.if_contains("exp")) {
    int64_t t = 0;
    if (!numeric_date(*exp, t)) return Refused{"invalid exp"};
    if (add_saturated(to_ms(t), leeway) <= now_ms) return Refused{"expired"};
  }
  if (const auto* nbf = payload.if_contains("nbf")) {
    int64_t t = 0;
    if (!numeric_date(*nbf, t)) return Refused{"invalid nbf"};
    if (to_ms(t) > add_saturated(now_ms, leeway)) return Refused{"not yet valid"};
  }
  if (!verifier.issuer.empty()) {
    const auto* iss = payload.if_contains("iss");
    if (iss == nullptr) return Refused{"missing iss"};
    if (!iss->is_string()) return Refused{"invalid iss"};
    if (iss->as_string() != verifier.issuer) return Refused{"wrong iss"};
  }
  if (!verifier.audience.empty()) {
    const auto* aud = payload.if_contains("aud");
    if (aud == nullptr) return Refused{"missing aud"};
    if (auto bad = audience_problem(*aud, verifier.audience)) return std::move(*bad);
  }
  Claims claims;
  claims.sub = std::move(user);
  if (const auto* rooms = payload.if_contains("rooms")) {
    claims.rooms_limited = true;
    if (!room_list(*rooms, proto::valid_room_pattern, claims.rooms)) return Refused{"invalid rooms claim"};
  }
  if (const auto* join = payload.if_contains("join")) {
    if (!room_list(*join, proto::valid_room_name, claims.join)) return Refused{"invalid join claim"};
    for (const auto& room : claims.join) {
      if (!claims.room_allowed(room)) return Refused{"join claim names a room the rooms claim does not allow"};
    }
  }
  return claims;
}

std::string mint(std::string_view user, std::string_view secret, int64_t now_s, int64_t ttl_s) {
  Claims claims;
  claims.sub = std::string(user);
  return mint(claims, secret, now_s, ttl_s);
}

std::string mint(const Claims& claims, std::string_view secret, int64_t now_s, int64_t ttl_s) {
  json::object payload;
  payload["sub"] = claims.sub;
  if (claims.rooms_limited) {
    json::array rooms;
    for (const auto& r : claims.rooms) rooms.emplace_back(r);
    payload["rooms"] = std::move(rooms);
  }
  if (!claims.join.empty()) {
    json::array join;
    for (const auto& r : claims.join) join.emplace_back(r);
    payload["join"] = std::move(join);
  }
  payload["iat"] = now_s;
  if (ttl_s > 0) {
    payload["exp"] =
        ttl_s > std::numeric_limits<int64_t>::max() - now_s ? std::numeric_limits<int64_t>::max() : now_s + ttl_s;
  }
  const std::string signing_input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(json::serialize(payload));
  return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

}  // namespace wsg::jwt
