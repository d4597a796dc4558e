// The secrets a configuration names: auth.mode "jwt"'s HS256 secret or RS256 / ES256 public key,
// and the cluster's CURVE key pair, each found by the one order of precedence of secrets.h (value, file, environment)
// and checked. Start-up only: throws ConfigError.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/curve.h"
#include "config/secrets.h"

namespace wsg::secrets {

// The HS256 secret of auth.mode "jwt": auth.secret, else auth.secret_file, else $WSG_JWT_SECRET
// (resolve's order). Throws ConfigError naming where it looked when none gives a non-empty secret,
// or as read_file.
Secret jwt_secret(const AuthConfig& auth);

// Why `pem` cannot verify tokens of `algorithm` ("RS256", "ES256"): not a PEM public key
// (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY"), an RSA key shorter than 2048 bits or not RSA for
// RS256, not an EC key on P-256 for ES256; nullopt when it can (and for "HS256").
std::optional<std::string> public_key_problem(std::string_view algorithm, std::string_view pem);

// The key auth.mode "jwt" verifies tokens with, by auth.algorithm: HS256, jwt_secret(); RS256 and
// ES256, the contents of auth.public_key_file, which must hold a public key of that algorithm
// (public_key_problem). Throws ConfigError naming the key and the file otherwise, or as read_file.
Secret jwt_key(const AuthConfig& auth);

// The signing secret of webhooks.url: webhooks.secret, else webhooks.secret_file, else
// $WSG_WEBHOOK_SECRET (resolve's order). Throws ConfigError naming where it looked when none gives a
// non-empty secret, or as read_file.
Secret webhook_secret(const WebhooksConfig& webhooks);

// The server API's bearer key: api.key, else api.key_file, else $WSG_API_KEY (resolve's order);
// nullopt when none is set (allowed only on a loopback api.listen: the node checks). Throws as
// read_file, or ConfigError when the key is shorter than kMinApiKeyBytes.
inline constexpr std::size_t kMinApiKeyBytes = 16;
std::optional<Secret> api_key(const ApiConfig& api);

}  // namespace wsg::secrets

namespace wsg::curve {

// The cluster key pair the configuration asks for: cluster.curve_secret_key, else the contents of
// cluster.curve_secret_key_file (surrounding whitespace stripped), else $WSG_CURVE_SECRET_KEY;
// nullopt when none is set (plain-text cluster links). Throws ConfigError naming the key (or the
// variable) when the secret is unreadable or malformed, when cluster.curve_public_key does not
// belong to it or is set without a secret, or when libzmq has no CURVE.
std::optional<KeyPair> cluster_keys(const ClusterConfig& cluster);

}  // namespace wsg::curve
