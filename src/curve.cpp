#include "curve.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <zmq.h>

namespace wsg::curve {

namespace {

// The Z85 alphabet (ZeroMQ RFC 32).
constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string trim(std::string s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.back())) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && is_space(s[start])) ++start;
  return s.substr(start);
}

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
  if (!available()) throw std::runtime_error("this libzmq was built without CURVE support (zmq_has(\"curve\") is false)");
  char pub[kKeyChars + 1] = {};
  char sec[kKeyChars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  return KeyPair{std::string(pub, kKeyChars), std::string(sec, kKeyChars), "generated"};
}

std::optional<KeyPair> cluster_keys(const ClusterConfig& cluster) {
  std::string secret;
  std::string key;     // what to name in errors
  std::string source;  // for logs
  if (!cluster.curve_secret_key.empty()) {
    secret = cluster.curve_secret_key;
    key = "key 'cluster.curve_secret_key'";
    source = "cluster.curve_secret_key";
  } else if (!cluster.curve_secret_key_file.empty()) {
    const std::string& path = cluster.curve_secret_key_file;
    key = "key 'cluster.curve_secret_key_file'";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw ConfigError(key + ": '" + path + "' is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int err = errno;
      throw ConfigError(key + ": cannot open '" + path + "': " + (err != 0 ? std::strerror(err) : "unknown error"));
    }
    // A key file is small; read a little more than a key (plus comments or a newline) at most.
    std::string text;
    text.resize(4096);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) throw ConfigError(key + ": cannot read '" + path + "'");
    text.resize(static_cast<std::size_t>(in.gcount()));
    secret = trim(std::move(text));
    if (secret.empty()) throw ConfigError(key + ": '" + path + "' is empty");
    key += " (file '" + path + "')";
    source = "cluster.curve_secret_key_file " + path;
  } else if (const char* env = std::getenv(kSecretEnv); env != nullptr && *env != '\0') {
    secret = trim(env);
    key = std::string("environment variable ") + kSecretEnv;
    source = kSecretEnv;
  } else {
    if (!cluster.curve_public_key.empty())
      throw ConfigError("key 'cluster.curve_public_key': set without a secret key (set cluster.curve_secret_key, "
                        "cluster.curve_secret_key_file or " + std::string(kSecretEnv) + ")");
    return std::nullopt;
  }

  if (!available())
    throw ConfigError(key + ": this libzmq was built without CURVE support (zmq_has(\"curve\") is false)");
  if (auto bad = key_problem(secret)) throw ConfigError(key + ": " + *bad);
  auto pub = public_key_of(secret);
  if (!pub) throw ConfigError(key + ": zmq_curve_public failed: " + zmq_strerror(zmq_errno()));
  if (!cluster.curve_public_key.empty() && cluster.curve_public_key != *pub)
    throw ConfigError("key 'cluster.curve_public_key': does not belong to the secret key of " + source +
                      " (its public key is " + *pub + ")");
  return KeyPair{*pub, std::move(secret), std::move(source)};
}

}  // namespace wsg::curve
