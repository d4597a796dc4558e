#include "config/curve.h"

#include <stdexcept>

#include <zmq.h>

namespace wsg::curve {

namespace {

// The Z85 alphabet (ZeroMQ RFC 32).
constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

}  // namespace

bool available() { return zmq_has("curve") != 0; }

std::optional<std::string> key_problem(std::string_view key) {
  const std::string hint = " (expected the 40 Z85 characters `wsg keygen` prints)";
  if (key.size() != kKeyChars)
    return "a CURVE key is " + std::to_string(kKeyChars) + " characters of Z85, got " + std::to_string(key.size()) +
           hint;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (kZ85.find(key[i]) == std::string_view::npos)
      return "character " + std::to_string(i + 1) + " is not in the Z85 alphabet" + hint;
  }
  if (decode(key).empty()) return "not a valid Z85 key (a 5-character group exceeds 32 bits)" + hint;
  return std::nullopt;
}

std::string decode(std::string_view key) {
  if (key.size() != kKeyChars) return {};
  const std::string text(key);  // NUL-terminated for zmq_z85_decode
  uint8_t bytes[32];
  if (zmq_z85_decode(bytes, text.c_str()) == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

std::optional<std::string> public_key_of(std::string_view secret) {
  if (key_problem(secret)) return std::nullopt;
  const std::string text(secret);
  char out[kKeyChars + 1] = {};
  if (zmq_curve_public(out, text.c_str()) != 0) return std::nullopt;
  return std::string(out, kKeyChars);
}

KeyPair generate() {
  if (!available())
    throw std::runtime_error("this libzmq was built without CURVE support (zmq_has(\"curve\") is false)");
  char pub[kKeyChars + 1] = {};
  char sec[kKeyChars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  return KeyPair{std::string(pub, kKeyChars), std::string(sec, kKeyChars), "generated"};
}

}  // namespace wsg::curve
