// JSON Web Tokens (RFC 7519): HS256, RS256 and ES256 verification through libjwt, HS256 minting
// (docs/protocol.md, "Identity"; docs/security.md, "Tokens"; `wsg token` in man/wsg.1).
// Pure functions: no I/O; safe on any untrusted input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace wsg::jwt {

// Longest token accepted by verify(); anything longer is refused before any decoding.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;

// base64url (RFC 4648 §5) without padding.
std::string base64url_encode(std::string_view data);
// false (and `out` unspecified) on a character outside the alphabet, '=' padding, a length of
// 4k+1, or non-zero unused bits in the last character (non-canonical encoding).
bool base64url_decode(std::string_view text, std::string& out);

// HMAC-SHA256 of `data` under `key` (32 raw bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);

struct Refused {
  std::string reason;  // short, human readable ("bad signature", "expired", ...)
};
using VerifyResult = std::variant<std::string /* sub */, Refused>;

// The one algorithm a node accepts (auth.algorithm): a token naming any other in its header, "none"
// included, is refused before and after its signature is checked (algorithm confusion: an RS256
// public key taken for an HS256 secret).
enum class Alg { HS256, RS256, ES256 };
// "HS256", "RS256", "ES256".
std::string_view alg_name(Alg alg);
// The Alg of a name (exactly as above); false for any other.
bool alg_from_name(std::string_view name, Alg& out);

// What verify_claims() checks a token against (auth.* in man/wsg.1).
struct Verifier {
  Alg alg = Alg::HS256;
  // HS256: the secret's bytes; RS256 / ES256: a PEM public key (SubjectPublicKeyInfo, "BEGIN
  // PUBLIC KEY"). An empty key verifies nothing: every token is refused ("bad signature").
  std::string key;
  int64_t leeway_ms = 0;  // clock skew allowed on exp and nbf
  std::string audience;   // non-empty: `aud` (a string, or an array of strings) must name it
  std::string issuer;     // non-empty: `iss` must equal it
};

// Checks an HS256 token against `secret` at time `now_s` (Unix seconds): structure, header
// (alg = HS256, typ = JWT when present), signature, `sub` (a valid user id), `exp` (refused when ≤
// now), `nbf` (refused when > now). Returns the `sub` claim.
VerifyResult verify(std::string_view token, std::string_view secret, int64_t now_s);

// Most entries in each rooms claim (docs/security.md, "Rooms").
inline constexpr std::size_t kMaxRoomClaims = 256;

// The claims wsg reads: `sub`, and the optional room claims (docs/protocol.md, "Rooms"):
//   rooms: array of room names and "prefix*" patterns the user may join and publish to; absent:
//          every room (rooms_limited false);
//   join:  array of room names the session is made a member of at connect (each must be allowed
//          by `rooms` when present).
struct Claims {
  std::string sub;
  bool rooms_limited = false;
  std::vector<std::string> rooms;
  std::vector<std::string> join;
  // Whether `room` may be joined / published to under these claims.
  bool room_allowed(std::string_view room) const;
};
using ClaimsResult = std::variant<Claims, Refused>;
// Checks `token` against `verifier` at time `now_ms` (Unix milliseconds): at most kMaxTokenBytes;
// three base64url parts; a header that is a JSON object whose `alg` is verifier.alg's name and
// whose `typ`, when present, is "JWT"; the signature (libjwt), and again the algorithm libjwt
// verified with; `sub` (a valid user id); `exp` (NumericDate; refused when exp + leeway ≤ now),
// `nbf` (refused when nbf - leeway > now); `aud` and `iss` when the verifier names them; the room
// claims: a token whose room claims break the rules above (not an array, an invalid name or
// pattern, more than kMaxRoomClaims entries, a `join` room `rooms` does not allow) is refused.
ClaimsResult verify_claims(std::string_view token, const Verifier& verifier, int64_t now_ms);
// The same for HS256 under `secret`, no leeway, no aud or iss check, at `now_s` (Unix seconds).
ClaimsResult verify_claims(std::string_view token, std::string_view secret, int64_t now_s);

// A token for `user`: header {"alg":"HS256","typ":"JWT"}, payload {"sub","iat","exp"}; `ttl_s`
// of 0 leaves `exp` out (a token that never expires).
std::string mint(std::string_view user, std::string_view secret, int64_t now_s, int64_t ttl_s);
// The same with the room claims: `rooms` written when rooms_limited, `join` when not empty.
std::string mint(const Claims& claims, std::string_view secret, int64_t now_s, int64_t ttl_s);

}  // namespace wsg::jwt
