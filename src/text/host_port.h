// HOST:PORT, the one parser of every TCP address wsg is given (node.listen, metrics.listen, and the
// HOST:PORT of a tcp:// ZeroMQ endpoint). Configuration checking and every listener use it, so a
// value `wsg check-config` accepts is one the role can start with. No I/O: a host name is only
// checked for its form here; a listener resolves it at start-up (net/listen_address.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsg {

struct HostPort {
  std::string host;        // without brackets: "127.0.0.1", "::1", "localhost", "*"
  uint16_t port = 0;       // 1 to 65535
  bool bracketed = false;  // written as [IPv6]:PORT
};

// Whether "*" may stand for the host (a ZeroMQ bind address binds every interface with it).
enum class Wildcard { refuse, allow };

// Parses HOST:PORT, where HOST is a name (letters, digits, '.', '-', '_'), an IPv4 address or an
// IPv6 address in brackets ([::1]:8080); PORT is 1 to 65535 (port 0, "any free port", is refused:
// a node's default id is node-<port> and its clients need a known port). nullopt when `text` is
// not one, with the reason in `why` (it quotes `text`).
std::optional<HostPort> parse_host_port(std::string_view text, std::string& why, Wildcard wildcard = Wildcard::refuse);

}  // namespace wsg
