// Regression tests for what the libFuzzer targets (tests/fuzz/) found: each input that crashed a
// fuzz build, as a unit test of the normal builds. docs/security.md, "Fuzzing", lists the runs.
#include <catch2/catch.hpp>

#include <string>

#include "config/config.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using wsg::Config;
using wsg::ConfigError;
using namespace std::string_literals;

namespace {

std::string parse_error(const std::string& text) {
  try {
    Config::parse(text, "fuzz.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// fuzz_config, toml++ 3.3.0: a control character where a table header's key starts failed an
// assertion in toml::parser::parse_key (parser.inl:3037) in a build with toml++'s assertions on.
// Debian's libtomlplusplus has them off and refuses the document, as it must.
TEST_CASE("fuzz: a control character opening a table header key is a ConfigError", "[config][fuzz]") {
  const std::string text = "[[\x03\x00\x00\x00node]]\ni$\x00= \"a\"\n[[node]]\nid = \"b\"\n"s;
  REQUIRE(text.size() == 40);
  const std::string error = parse_error(text);
  CHECK_THAT(error, StartsWith("fuzz.toml:1:"));
  CHECK_THAT(error, Contains("expected bare key starting character or string delimiter"));
  CHECK_THAT(parse_error("[\x01]\n"), StartsWith("fuzz.toml:1:"));
}

// fuzz_config, toml++ 3.3.0: a code point of U+00A1-U+0499, U+2C5E-U+3057 (but U+3000) or
// U+FB26-U+FEFE where toml++ tests for whitespace reaches __builtin_unreachable() in
// is_non_ascii_horizontal_whitespace (upstream marzer/tomlplusplus#295). Undefined behaviour in the
// library, not in wsg; Debian's build of it (GCC 12) refuses the document, which these cases pin.
TEST_CASE("fuzz: non-ASCII code points after a key or a value are a ConfigError", "[config][fuzz]") {
  // The minimised fuzz input: U+02AB right after the bare key "cap-2".
  CHECK_THAT(parse_error("[cache]\ncap-2\xC9\xAB"
                         "y = 1\n"),
             StartsWith("fuzz.toml:2:"));
  CHECK_THAT(parse_error("[node]\nid\xC3\xA9 = \"x\"\n"), StartsWith("fuzz.toml:2:"));
  CHECK_THAT(parse_error("\xEF\xAD\xBB["), StartsWith("fuzz.toml:1:"));
  CHECK_THAT(parse_error("[node]\nthreads = 4\xE3\x80\x81\n"), StartsWith("fuzz.toml:2:"));
  // Inside strings and comments such code points are ordinary text.
  const Config c = Config::parse(
      "[auth] # \xC3\xA9t\xC3\xA9\nsecret = \"s\xC3\xA9"
      "cr\xEF\xAD\xBB"
      "t\"\n",
      "fuzz.toml");
  CHECK(c.auth.secret ==
        "s\xC3\xA9"
        "cr\xEF\xAD\xBB"
        "t");
}
