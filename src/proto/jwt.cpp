#include "proto/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cmath>
#include <limits>

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

ClaimsResult verify_claims(std::string_view token, std::string_view secret, int64_t now_s) {
  if (token.empty()) return Refused{"missing token"};
  if (token.size() > kMaxTokenBytes) return Refused{"token too long"};
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Refused{"malformed token"};
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Refused{"malformed token"};
  }
  const auto header_b64 = token.substr(0, dot1);
  const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto sig_b64 = token.substr(dot2 + 1);

  std::string header_text, payload_text, sig;
  if (!base64url_decode(header_b64, header_text) || !base64url_decode(payload_b64, payload_text) ||
      !base64url_decode(sig_b64, sig)) {
    return Refused{"malformed token"};
  }
  json::object header;
  if (!parse_object(header_text, header)) return Refused{"malformed token header"};
  const auto* alg = header.if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != "HS256") return Refused{"unsupported alg"};
  if (const auto* typ = header.if_contains("typ"); typ != nullptr && (!typ->is_string() || typ->as_string() != "JWT")) {
    return Refused{"unsupported typ"};
  }

  // Signature before the payload is looked at.
  const std::string expected = hmac_sha256(secret, token.substr(0, dot2));
  if (expected.size() != 32 || sig.size() != expected.size() ||
      CRYPTO_memcmp(sig.data(), expected.data(), expected.size()) != 0) {
    return Refused{"bad signature"};
  }

  json::object payload;
  if (!parse_object(payload_text, payload)) return Refused{"malformed token payload"};
  const auto* sub = payload.if_contains("sub");
  if (sub == nullptr || !sub->is_string()) return Refused{"missing sub"};
  std::string user(sub->as_string());
  if (!proto::valid_user_id(user)) return Refused{"invalid sub"};
  if (const auto* exp = payload.if_contains("exp")) {
    int64_t t = 0;
    if (!numeric_date(*exp, t)) return Refused{"invalid exp"};
    if (t <= now_s) return Refused{"expired"};
  }
  if (const auto* nbf = payload.if_contains("nbf")) {
    int64_t t = 0;
    if (!numeric_date(*nbf, t)) return Refused{"invalid nbf"};
    if (t > now_s) return Refused{"not yet valid"};
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
