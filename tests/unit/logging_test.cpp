// logging::printable: strings from the network made safe for one log line.
#include "telemetry/logging.h"

#include <catch2/catch.hpp>

#include <string>

using wsg::logging::printable;

TEST_CASE("logging: printable keeps printable ASCII and escapes everything that could forge or garble a line",
          "[logging]") {
  CHECK(printable("node-1 joined (tcp://10.0.0.1:6001)") == "node-1 joined (tcp://10.0.0.1:6001)");
  // A newline would start a forged log line; an ANSI escape would rewrite the terminal.
  CHECK(printable("a\n[info] forged") == "a\\x0a[info] forged");
  CHECK(printable("a\r\x1b[2Jb") == "a\\x0d\\x1b[2Jb");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("\x7f") == "\\x7f");
  // Invalid UTF-8 and non-ASCII alike become bytes in hex: the line stays ASCII.
  CHECK(printable("tcp://h:1\xff\xfe") == "tcp://h:1\\xff\\xfe");
  CHECK(printable("caf\xC3\xA9") == "caf\\xc3\\xa9");
  // A backslash is doubled, so that "\x41" in the input cannot pass for an escape.
  CHECK(printable("a\\x41") == "a\\\\x41");
}

TEST_CASE("logging: printable cuts long strings and says how long they were", "[logging]") {
  const std::string id(4090, 'n');
  const std::string out = printable(id);
  CHECK(out == std::string(200, 'n') + "...(4090 bytes)");
  CHECK(printable("abcdef", 3) == "abc...(6 bytes)");
  CHECK(printable("abc", 3) == "abc");
  CHECK(printable("") == "");
}
