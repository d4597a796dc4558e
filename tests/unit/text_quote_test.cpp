// text::append_json_escaped and text::toml_string: the one JSON string escaper (client frames,
// JSON log lines) and the one TOML quoter (check-config, keygen).
#include "text/text_quote.h"

#include <catch2/catch.hpp>

#include <toml++/toml.h>
#include <boost/json.hpp>

#include <string>

using wsg::text::append_json_escaped;
using wsg::text::toml_string;

namespace {

std::string json_escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}

// What a TOML parser reads back from `key = <quoted>`.
std::string toml_round_trip(std::string_view s) {
  const auto table = toml::parse("key = " + toml_string(s) + "\n");
  return std::string(*table["key"].value<std::string_view>());
}

std::string json_round_trip(std::string_view s) {
  return std::string(boost::json::parse("\"" + json_escaped(s) + "\"").as_string());
}

}  // namespace

TEST_CASE("json escaper: quotes, backslashes and control characters", "[text]") {
  CHECK(json_escaped("plain text") == "plain text");
  CHECK(json_escaped("") == "");
  CHECK(json_escaped("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(json_escaped("\b\f\n\r\t") == "\\b\\f\\n\\r\\t");
  CHECK(json_escaped(std::string("\0\x01\x1f", 3)) == "\\u0000\\u0001\\u001f");
  // DEL is not a control character for JSON: it passes unchanged.
  CHECK(json_escaped("\x7f") == "\x7f");
  // Appends: what is already there stays.
  std::string out = "{\"a\":\"";
  append_json_escaped(out, "x\ny");
  CHECK(out == "{\"a\":\"x\\ny");
}

TEST_CASE("json escaper: valid UTF-8 passes through, invalid bytes become U+FFFD", "[text]") {
  CHECK(json_escaped("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(json_escaped("a\xFF"
                     "b") == "a\\ufffdb");
  CHECK(json_escaped("\xC0\xAF") == "\\ufffd\\ufffd");                        // overlong '/'
  CHECK(json_escaped("\xED\xA0\x80") == "\\ufffd\\ufffd\\ufffd");             // a UTF-16 surrogate
  CHECK(json_escaped("\xF4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // above U+10FFFF
  CHECK(json_escaped("\xE2\x82") == "\\ufffd\\ufffd");                        // cut short
  // Whatever the bytes, the result parses as a JSON string.
  for (std::string s : {std::string("x\x01y\"\\\n\xC3\xA9", 9), std::string("\xFF\xFE\x80"), std::string(1, '\0')})
    CHECK_NOTHROW(json_round_trip(s));
  CHECK(json_round_trip("tab\there \"quoted\" caf\xC3\xA9") == "tab\there \"quoted\" caf\xC3\xA9");
}

TEST_CASE("toml quoter: quotes, escapes control characters and reads back the same", "[text]") {
  CHECK(toml_string("127.0.0.1:8080") == "\"127.0.0.1:8080\"");
  CHECK(toml_string("") == "\"\"");
  CHECK(toml_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(toml_string("\b\t\n\f\r") == "\"\\b\\t\\n\\f\\r\"");
  CHECK(toml_string(std::string("\0\x1b\x7f", 3)) == "\"\\u0000\\u001B\\u007F\"");
  CHECK(toml_string("/tmp/caf\xC3\xA9.key") == "\"/tmp/caf\xC3\xA9.key\"");
  CHECK(toml_string("a\xFF") == "\"a\\uFFFD\"");

  for (std::string s : {std::string("/etc/wsg/cluster.key"), std::string("new\nline \"and\" back\\slash"),
                        std::string("ctl\x01\x1f\x7f end"), std::string("\xE2\x82\xAC \xF0\x9F\x98\x80")})
    CHECK(toml_round_trip(s) == s);
}
