// The cluster's ZeroMQ CURVE key pair: Z85 key checks, key derivation and generation, and where the
// secret comes from (cluster.curve_secret_key, cluster.curve_secret_key_file, $WSG_CURVE_SECRET_KEY).
//
// One key pair is shared by the master, every node and `wsg status` (docs/security.md): every
// server socket is a CURVE server with the secret, every client socket a CURVE client with the
// pair and the same public key as its server key, and a ZAP handler admits only clients whose
// public key is the cluster's.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsg::curve {

inline constexpr std::size_t kKeyChars = 40;  // Z85 text of a 32-byte key
inline constexpr const char* kSecretEnv = "WSG_CURVE_SECRET_KEY";

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
  std::string source;      // where the secret came from, for logs ("cluster.curve_secret_key_file /etc/...")
};

// Whether the linked libzmq supports CURVE (zmq_has("curve")).
bool available();

// Why `key` is not a Z85-encoded 32-byte key (40 characters of the Z85 alphabet whose 5-character
// groups fit in 32 bits); nullopt when it is one.
std::optional<std::string> key_problem(std::string_view key);

// The public key of a valid Z85 secret key (zmq_curve_public); nullopt when the secret is not a
// valid key or libzmq has no CURVE.
std::optional<std::string> public_key_of(std::string_view secret);

// A fresh key pair (zmq_curve_keypair). Throws std::runtime_error when libzmq has no CURVE.
KeyPair generate();

// The 32 raw bytes of a valid Z85 key ("" when it is not valid).
std::string decode(std::string_view key);

}  // namespace wsg::curve
