#include "config/config_secrets.h"

#include <string>
#include <utility>

#include <zmq.h>

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
