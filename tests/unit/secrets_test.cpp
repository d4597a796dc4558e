// secrets::read_file (every key or secret file), secrets::resolve (the one order of precedence:
// value, then file, then environment) and secrets::jwt_secret.
#include "config/secrets.h"
#include "config/config_secrets.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace wsg;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto path =
      std::filesystem::temp_directory_path() / ("wsg-secrets-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string read_error(const std::string& key, const std::string& path) {
  try {
    secrets::read_file(key, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

constexpr const char* kEnv = "WSG_SECRETS_TEST_ENV";

}  // namespace

TEST_CASE("secrets: one trimming rule, surrounding whitespace only", "[secrets]") {
  CHECK(secrets::trim("abc") == "abc");
  CHECK(secrets::trim("abc\n") == "abc");
  CHECK(secrets::trim("abc\r\n") == "abc");
  CHECK(secrets::trim(" \t abc \n\n") == "abc");
  CHECK(secrets::trim("a b\tc") == "a b\tc");  // inside: part of the secret
  CHECK(secrets::trim(" \r\n\t").empty());
  CHECK(secrets::trim("caf\xC3\xA9\n") == "caf\xC3\xA9");
}

TEST_CASE("secrets: read_file trims and names the key and the file on every failure", "[secrets]") {
  const auto file = write_temp("ok", "  s3cret value\r\n\n");
  CHECK(secrets::read_file("auth.secret_file", file.string()) == "s3cret value");

  const auto empty = write_temp("empty", " \n\t\n");
  CHECK(read_error("auth.secret_file", empty.string()) == "key 'auth.secret_file': '" + empty.string() + "' is empty");

  const auto missing = (std::filesystem::temp_directory_path() / "wsg-secrets-test-missing").string();
  CHECK_THAT(read_error("tls.key", missing), StartsWith("key 'tls.key': cannot open '" + missing + "': "));
  CHECK_THAT(read_error("tls.key", missing), Contains("No such file"));

  const auto dir = std::filesystem::temp_directory_path().string();
  CHECK(read_error("cluster.curve_secret_key_file", dir) ==
        "key 'cluster.curve_secret_key_file': '" + dir + "' is a directory");

  const auto big = write_temp("big", std::string(secrets::kMaxFileBytes + 1, 'x'));
  CHECK_THAT(read_error("tls.cert", big.string()), Contains("is larger than 1024 KiB"));
  const auto at_limit = write_temp("limit", std::string(secrets::kMaxFileBytes, 'x'));
  CHECK(secrets::read_file("tls.cert", at_limit.string()).size() == secrets::kMaxFileBytes);

  for (const auto& p : {file, empty, big, at_limit}) std::filesystem::remove(p);
}

TEST_CASE("secrets: value, then file, then environment", "[secrets]") {
  const auto file = write_temp("precedence", "from-file\n");
  ::setenv(kEnv, "  from-env \n", 1);

  auto s = secrets::resolve({"x.secret", "from-value", "x.secret_file", file.string(), kEnv});
  REQUIRE(s);
  CHECK(s->value == "from-value");  // taken as written: a value in TOML is quoted on purpose
  CHECK(s->origin == "key 'x.secret'");

  s = secrets::resolve({"x.secret", "", "x.secret_file", file.string(), kEnv});
  REQUIRE(s);
  CHECK(s->value == "from-file");
  CHECK(s->origin == "key 'x.secret_file' (file '" + file.string() + "')");
  CHECK(s->source == "x.secret_file " + file.string());

  s = secrets::resolve({"x.secret", "", "x.secret_file", "", kEnv});
  REQUIRE(s);
  CHECK(s->value == "from-env");  // the same trimming rule as a file
  CHECK(s->origin == std::string("environment variable ") + kEnv);
  CHECK(secrets::env_set(kEnv));

  // A file that cannot be read is an error, not a reason to fall back to the environment.
  CHECK_THROWS_AS(secrets::resolve({"x.secret", "", "x.secret_file", file.string() + ".missing", kEnv}), ConfigError);

  ::setenv(kEnv, "", 1);
  CHECK_FALSE(secrets::resolve({"x.secret", "", "x.secret_file", "", kEnv}));
  CHECK_FALSE(secrets::env_set(kEnv));
  ::setenv(kEnv, " \n", 1);
  CHECK_FALSE(secrets::env_set(kEnv));
  ::unsetenv(kEnv);
  CHECK_FALSE(secrets::resolve({"x.secret", "", "x.secret_file", "", kEnv}));
  CHECK_FALSE(secrets::resolve({"x.secret", "", "x.secret_file", "", nullptr}));
  std::filesystem::remove(file);
}

TEST_CASE("secrets: jwt_secret follows the order and refuses an empty secret", "[secrets]") {
  const char* saved = std::getenv(secrets::kJwtSecretEnv);
  const std::string saved_value = saved ? saved : "";
  ::unsetenv(secrets::kJwtSecretEnv);

  AuthConfig auth;
  auth.mode = "jwt";
  CHECK_THROWS_WITH(secrets::jwt_secret(auth), StartsWith("key 'auth.mode': auth.mode \"jwt\" needs auth.secret"));
  ::setenv(secrets::kJwtSecretEnv, "env-secret", 1);
  CHECK(secrets::jwt_secret(auth).value == "env-secret");
  ::setenv(secrets::kJwtSecretEnv, "  \n", 1);
  CHECK_THROWS_WITH(secrets::jwt_secret(auth), "environment variable WSG_JWT_SECRET: the secret is empty");

  const auto file = write_temp("jwt", "file-secret\n");
  auth.secret_file = file.string();
  CHECK(secrets::jwt_secret(auth).value == "file-secret");
  auth.secret = "inline";
  CHECK(secrets::jwt_secret(auth).value == "inline");
  std::filesystem::remove(file);

  if (saved) ::setenv(secrets::kJwtSecretEnv, saved_value.c_str(), 1);
  else ::unsetenv(secrets::kJwtSecretEnv);
}
