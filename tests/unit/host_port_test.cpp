// parse_host_port (the one HOST:PORT parser of config checking and every listener) and
// listen_endpoints (what a listener binds at start-up): they accept and refuse the same values.
#include "text/host_port.h"

#include <catch2/catch.hpp>

#include "config/config.h"
#include "net/listen_address.h"

#include <string>

using namespace wsg;
using Catch::Matchers::Contains;

namespace {

std::string why_not(std::string_view s, Wildcard w = Wildcard::refuse) {
  std::string why;
  if (parse_host_port(s, why, w)) return "";
  return why;
}

}  // namespace

TEST_CASE("host_port: IPv4, names and bracketed IPv6", "[host_port]") {
  std::string why;
  auto hp = parse_host_port("127.0.0.1:8080", why);
  REQUIRE(hp);
  CHECK(hp->host == "127.0.0.1");
  CHECK(hp->port == 8080);
  CHECK_FALSE(hp->bracketed);

  hp = parse_host_port("[::1]:80", why);
  REQUIRE(hp);
  CHECK(hp->host == "::1");
  CHECK(hp->port == 80);
  CHECK(hp->bracketed);

  hp = parse_host_port("[::ffff:127.0.0.1]:9000", why);
  REQUIRE(hp);
  CHECK(hp->host == "::ffff:127.0.0.1");

  hp = parse_host_port("localhost:65535", why);
  REQUIRE(hp);
  CHECK(hp->host == "localhost");
  CHECK(hp->port == 65535);
  CHECK(parse_host_port("chat-1.example_internal.com:1", why));
  CHECK(parse_host_port("0.0.0.0:80", why));
}

TEST_CASE("host_port: malformed values say why", "[host_port]") {
  CHECK_THAT(why_not(""), Contains("empty address"));
  CHECK_THAT(why_not("8080"), Contains("has no port"));
  CHECK_THAT(why_not(":8080"), Contains("empty host"));
  CHECK_THAT(why_not("[]:8080"), Contains("empty host"));
  CHECK_THAT(why_not("localhost:"), Contains("missing port"));
  CHECK_THAT(why_not("::1:8080"), Contains("brackets"));
  CHECK_THAT(why_not("[::1]8080"), Contains("has no port"));
  CHECK_THAT(why_not("[::1:8080"), Contains("closing ']'"));
  CHECK_THAT(why_not("[::g]:80"), Contains("invalid IPv6"));
  CHECK_THAT(why_not("bad host:80"), Contains("invalid host"));
  CHECK_THAT(why_not("a/b:80"), Contains("invalid host"));
  // The reason quotes the value.
  CHECK_THAT(why_not("bad host:80"), Contains("'bad host:80'"));
}

TEST_CASE("host_port: ports are 1 to 65535; 0 and out-of-range are refused", "[host_port]") {
  CHECK_THAT(why_not("127.0.0.1:0"), Contains("not between 1 and 65535"));
  CHECK_THAT(why_not("127.0.0.1:65536"), Contains("not between 1 and 65535"));
  CHECK_THAT(why_not("127.0.0.1:99999"), Contains("not between 1 and 65535"));
  CHECK_THAT(why_not("127.0.0.1:123456"), Contains("not a number"));
  CHECK_THAT(why_not("127.0.0.1:-1"), Contains("not a number"));
  CHECK_THAT(why_not("127.0.0.1:+80"), Contains("not a number"));
  CHECK_THAT(why_not("127.0.0.1:8o"), Contains("not a number"));
  std::string why;
  auto hp = parse_host_port("127.0.0.1:00080", why);  // five digits, leading zeros
  REQUIRE(hp);
  CHECK(hp->port == 80);
}

TEST_CASE("host_port: '*' is a host only where a wildcard is allowed", "[host_port]") {
  CHECK_THAT(why_not("*:5555"), Contains("invalid host"));
  CHECK(why_not("*:5555", Wildcard::allow).empty());
}

TEST_CASE("host_port: config checking and start-up agree", "[host_port][config]") {
  // Every value the config accepts for node.listen, a listener can bind; every value it refuses,
  // the listener refuses with a ConfigError naming the key.
  for (std::string good : {"127.0.0.1:8080", "[::1]:8080", "localhost:8080"}) {
    INFO(good);
    Config c;
    c.node.listen = good;
    CHECK_NOTHROW(c.validate());
    const auto endpoints = listen_endpoints("node.listen", good);
    REQUIRE_FALSE(endpoints.empty());
    CHECK(endpoints.front().port() == 8080);
  }
  CHECK(listen_endpoints("node.listen", "[::1]:80").front().address().to_string() == "::1");
  for (std::string bad : {"8080", ":8080", "localhost:0", "127.0.0.1:65536", "::1:80", "[::1]:x"}) {
    INFO(bad);
    Config c;
    c.node.listen = bad;
    CHECK_THROWS_AS(c.validate(), ConfigError);
    CHECK_THROWS_WITH(listen_endpoints("node.listen", bad), Contains("key 'node.listen': "));
  }
  // A name of the right form that does not resolve passes the check and fails at start-up, naming
  // the key (".invalid" never resolves: RFC 6761).
  CHECK_THROWS_WITH(listen_endpoints("metrics.listen", "no-such-host.invalid:9100"),
                    Contains("key 'metrics.listen': cannot resolve host 'no-such-host.invalid'"));
}
