// The TCP endpoints a listen key (node.listen, metrics.listen) names, at start-up: the value is
// parsed by parse_host_port (host_port.h), the parser `wsg check-config` uses, and a host name
// such as "localhost" is resolved now. Start-up only: throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace wsg {

// Every endpoint `value` stands for, in the resolver's order (an IP address gives one). Throws
// ConfigError naming `key` for a malformed value or a host name that does not resolve.
std::vector<boost::asio::ip::tcp::endpoint> listen_endpoints(std::string_view key, const std::string& value);

}  // namespace wsg
