// Key and secret files, and where a secret comes from: one reader for every file holding a key or
// a secret (auth.secret_file, cluster.curve_secret_key_file, tls.key, tls.cert), with one trimming
// rule and one kind of error, and one order of precedence for the secrets (auth.secret,
// cluster.curve_secret_key). Start-up only: throws ConfigError.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/config_error.h"

namespace wsg::secrets {

// The environment variable holding auth.mode "jwt"'s HS256 secret when no key sets it.
inline constexpr const char* kJwtSecretEnv = "WSG_JWT_SECRET";
// The environment variable holding webhooks.url's signing secret when no key sets it.
inline constexpr const char* kWebhookSecretEnv = "WSG_WEBHOOK_SECRET";

// Files larger than this are not key files (a PEM certificate chain is a few KiB).
inline constexpr std::size_t kMaxFileBytes = 1024 * 1024;

// The one trimming rule: spaces, tabs, CRs and LFs around a secret are not part of it (the newline
// an editor or `wsg keygen --secret-file` ends the file with, a stray blank line).
std::string trim(std::string_view s);

// The trimmed contents of the file `path` named by the configuration key (or the flag standing for
// it) `key`. Throws ConfigError "key 'KEY': ..." naming the file when it is a directory, cannot be
// opened or read, is larger than kMaxFileBytes, or holds nothing but whitespace.
std::string read_file(std::string_view key, const std::string& path);

// Where a secret may come from. `value` is a configuration key holding the secret itself (a flag
// that overrides it has already been applied to the configuration), `file` a key naming a file
// that holds it, `env` an environment variable.
struct Sources {
  std::string_view value_key;  // e.g. "auth.secret"
  std::string_view value;
  std::string_view file_key;  // e.g. "auth.secret_file"
  std::string_view file;
  const char* env = nullptr;  // e.g. "WSG_JWT_SECRET"
};

struct Secret {
  std::string value;
  std::string origin;  // for errors: "key 'auth.secret_file' (file 'PATH')", "environment variable X", ...
  std::string source;  // for logs: "auth.secret_file PATH", "X", ...
};

// The one order of precedence (docs/security.md): the value, else the file's trimmed contents,
// else the environment variable, trimmed (an empty variable counts as unset). nullopt when none
// is set. Throws as read_file.
std::optional<Secret> resolve(const Sources& sources);

// Whether the environment variable `env` is set to something other than whitespace: a check that
// a secret will be found, without reading any file.
bool env_set(const char* env);

}  // namespace wsg::secrets
