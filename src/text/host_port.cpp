#include "text/host_port.h"

#include <algorithm>

namespace wsg {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::optional<uint16_t> parse_port(std::string_view port, std::string& why) {
  if (port.empty()) {
    why = "missing port after ':'";
    return std::nullopt;
  }
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit)) {
    why = "port '" + std::string(port) + "' is not a number between 1 and 65535";
    return std::nullopt;
  }
  unsigned value = 0;
  for (char c : port) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value < 1 || value > 65535) {
    why = "port " + std::string(port) + " is not between 1 and 65535";
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view s, std::string& why, Wildcard wildcard) {
  const std::string expected = " (expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)";
  const std::string quoted = "'" + std::string(s) + "'";
  auto fail = [&](std::string reason) -> std::optional<HostPort> {
    why = std::move(reason);
    return std::nullopt;
  };
  if (s.empty()) return fail("empty address" + expected);
  HostPort out;
  std::string_view host;
  std::string_view port;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return fail(quoted + " has no closing ']'" + expected);
    host = s.substr(1, close - 1);
    if (host.empty()) return fail(quoted + " has an empty host" + expected);
    for (char c : host)
      if (!is_hex(c) && c != ':' && c != '.' && c != '%')
        return fail(quoted + " has an invalid IPv6 address" + expected);
    if (close + 1 >= s.size() || s[close + 1] != ':') return fail(quoted + " has no port" + expected);
    port = s.substr(close + 2);
    out.bracketed = true;
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return fail(quoted + " has no port" + expected);
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.empty()) return fail(quoted + " has an empty host" + expected);
    if (host.find(':') != std::string_view::npos)
      return fail(quoted + ": an IPv6 address must be in brackets" + expected);
    if (!(wildcard == Wildcard::allow && host == "*")) {
      for (char c : host)
        if (!is_alnum(c) && c != '.' && c != '-' && c != '_') return fail(quoted + " has an invalid host" + expected);
    }
  }
  std::string port_why;
  const auto number = parse_port(port, port_why);
  if (!number) return fail(quoted + ": " + port_why);
  out.host = std::string(host);
  out.port = *number;
  return out;
}

}  // namespace wsg
