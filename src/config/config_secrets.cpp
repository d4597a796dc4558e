#include "config/config_secrets.h"

#include <string>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zmq.h>

#include <limits>
#include <memory>

namespace wsg::secrets {

Secret jwt_secret(const AuthConfig& auth) {
  auto secret = resolve({"auth.secret", auth.secret, "auth.secret_file", auth.secret_file, kJwtSecretEnv});
  if (!secret)
    throw ConfigError(std::string("key 'auth.mode': auth.mode \"jwt\" needs auth.secret, auth.secret_file or the "
                                  "environment variable ") +
                      kJwtSecretEnv);
  if (secret->value.empty()) throw ConfigError(secret->origin + ": the secret is empty");
  return std::move(*secret);
}

std::optional<std::string> public_key_problem(std::string_view algorithm, std::string_view pem) {
  if (algorithm != "RS256" && algorithm != "ES256") return std::nullopt;
  if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return "too large for a key";
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                      &BIO_free);
  if (!bio) return "out of memory";
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  ERR_clear_error();
  if (!key)
    return "not a PEM public key (expected -----BEGIN PUBLIC KEY-----, as `openssl pkey -in PRIVATE.pem -pubout` "
           "writes it)";
  const int type = EVP_PKEY_get_base_id(key.get());
  const int bits = EVP_PKEY_get_bits(key.get());
  if (algorithm == "RS256") {
    if (type != EVP_PKEY_RSA) return "RS256 needs an RSA public key";
    if (bits < 2048) return "RS256 needs an RSA key of at least 2048 bits (got " + std::to_string(bits) + ")";
    return std::nullopt;
  }
  if (type != EVP_PKEY_EC) return "ES256 needs an EC public key on P-256 (prime256v1)";
  char group[80] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key.get(), group, sizeof group, &len) != 1 ||
      std::string_view(group, len) != "prime256v1")
    return "ES256 needs an EC key on P-256 (prime256v1), got " + (len > 0 ? std::string(group, len) : "another curve");
  return std::nullopt;
}

Secret jwt_key(const AuthConfig& auth) {
  if (auth.algorithm == "HS256") return jwt_secret(auth);
  if (auth.public_key_file.empty())
    throw ConfigError("key 'auth.algorithm': auth.algorithm \"" + auth.algorithm +
                      "\" needs auth.public_key_file (a PEM public key)");
  std::string pem = read_file("auth.public_key_file", auth.public_key_file);
  if (auto bad = public_key_problem(auth.algorithm, pem))
    throw ConfigError("key 'auth.public_key_file' (file '" + auth.public_key_file + "'): " + *bad);
  return Secret{std::move(pem), "key 'auth.public_key_file' (file '" + auth.public_key_file + "')",
                "auth.public_key_file " + auth.public_key_file};
}

Secret webhook_secret(const WebhooksConfig& webhooks) {
  auto secret =
      resolve({"webhooks.secret", webhooks.secret, "webhooks.secret_file", webhooks.secret_file, kWebhookSecretEnv});
  if (!secret)
    throw ConfigError(std::string("key 'webhooks.url': webhooks need webhooks.secret, webhooks.secret_file or the "
                                  "environment variable ") +
                      kWebhookSecretEnv);
  if (secret->value.empty()) throw ConfigError(secret->origin + ": the secret is empty");
  return std::move(*secret);
}

std::optional<Secret> api_key(const ApiConfig& api) {
  auto secret = resolve({"api.key", api.key, "api.key_file", api.key_file, kApiKeyEnv});
  if (!secret) return std::nullopt;
  if (secret->value.size() < kMinApiKeyBytes)
    throw ConfigError(secret->origin + ": the API key must be at least " + std::to_string(kMinApiKeyBytes) +
                      " bytes (e.g. `openssl rand -hex 32`)");
  return secret;
}

}  // namespace wsg::secrets

namespace wsg::curve {

std::optional<KeyPair> cluster_keys(const ClusterConfig& cluster) {
  // The one order of precedence for secrets and the one reader of key files (secrets.h).
  auto found = secrets::resolve({"cluster.curve_secret_key", cluster.curve_secret_key, "cluster.curve_secret_key_file",
                                 cluster.curve_secret_key_file, kSecretEnv});
  if (!found) {
    if (!cluster.curve_public_key.empty())
      throw ConfigError(
          "key 'cluster.curve_public_key': set without a secret key (set cluster.curve_secret_key, "
          "cluster.curve_secret_key_file or " +
          std::string(kSecretEnv) + ")");
    return std::nullopt;
  }
  std::string secret = std::move(found->value);
  const std::string key = std::move(found->origin);  // what to name in errors
  std::string source = std::move(found->source);     // for logs

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
