// The server API's configuration (the `api` section), its key and its token bucket
// (src/config/config.h, src/config/config_secrets.h, src/net/api_context.h).
#include <catch2/catch.hpp>

#include <chrono>

#include "config/config.h"
#include "config/config_secrets.h"
#include "net/api_context.h"

using namespace wsg;

TEST_CASE("api config: defaults, keys, cross-checks", "[api]") {
  const Config d;
  CHECK(d.api.listen.empty());
  CHECK(d.api.max_body_bytes >= d.limits.max_message_bytes);
  CHECK(d.api.requests_per_second == 1000);

  const auto c =
      Config::parse("[api]\nlisten = \"127.0.0.1:9081\"\nkey = \"0123456789abcdef0123\"\nmax_batch = 5\n", "t");
  CHECK(c.api.listen == "127.0.0.1:9081");
  CHECK(c.api.max_batch == 5);
  CHECK(c.role() == Config::Role::node);
  // The key is not shown by check-config.
  CHECK(c.to_toml().find("0123456789abcdef0123") == std::string::npos);

  CHECK_THROWS_WITH(Config::parse("[api]\nlisten = \"nope\"\n", "t"), Catch::Contains("api.listen"));
  CHECK_THROWS_WITH(Config::parse("[api]\nkey = \"0123456789abcdef\"\nkey_file = \"/k\"\n", "t"),
                    Catch::Contains("set only one of api.key and api.key_file"));
  CHECK_THROWS_WITH(Config::parse("[api]\nmax_body_bytes = 2048\n", "t"),
                    Catch::Contains("at least limits.max_message_bytes"));
  CHECK_NOTHROW(Config::parse("[api]\nmax_body_bytes = 2048\n[limits]\nmax_message_bytes = 1024\n", "t"));
  CHECK_THROWS_WITH(Config::parse("[api]\nmax_bath = 5\n", "t"), Catch::Contains("did you mean 'api.max_batch'"));

  ApiConfig api;
  CHECK_FALSE(secrets::api_key(api).has_value());  // (unless WSG_API_KEY is set in the test's environment)
  api.key = "short";
  CHECK_THROWS_WITH(secrets::api_key(api), Catch::Contains("at least 16 bytes"));
  api.key = "0123456789abcdef";
  CHECK(secrets::api_key(api)->value == "0123456789abcdef");
}

TEST_CASE("api key comparison", "[api]") {
  ApiConfig api;
  ApiContext with_key(api, std::string("0123456789abcdef"));
  CHECK(with_key.key_matches("0123456789abcdef"));
  CHECK_FALSE(with_key.key_matches("0123456789abcdeF"));
  CHECK_FALSE(with_key.key_matches("0123456789abcde"));
  CHECK_FALSE(with_key.key_matches(""));
  ApiContext without(api, std::nullopt);
  CHECK(without.key_matches("anything"));
}

TEST_CASE("api token bucket", "[api]") {
  using namespace std::chrono_literals;
  const auto t0 = ApiRateLimiter::Clock::now();
  ApiRateLimiter limiter(2, 3);  // 2 a second, 3 at once
  CHECK_FALSE(limiter.take(t0));
  CHECK_FALSE(limiter.take(t0));
  CHECK_FALSE(limiter.take(t0));
  const auto wait = limiter.take(t0);
  REQUIRE(wait);
  CHECK(*wait == 1);
  CHECK_FALSE(limiter.take(t0 + 600ms));  // 1.2 tokens back
  CHECK(limiter.take(t0 + 600ms));
  ApiRateLimiter unlimited(0, 1);
  for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(unlimited.take(t0));
}
