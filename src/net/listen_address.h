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

// The one loopback rule of the start-up checks and warnings (the server API's key rule, auth.mode
// = "insecure" and cluster links without a CURVE key): true when every endpoint is a loopback
// address (127.0.0.0/8 or ::1), i.e. reachable from this host only. A wildcard (0.0.0.0, ::) is not.
bool loopback_only(const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);

// The same rule for a ZeroMQ endpoint (master.bind, cluster.events_bind, cluster.master): ipc://
// and inproc:// stay on this host; tcp://HOST:PORT when HOST is a loopback address or a name that
// resolves to loopback addresses only. "*", a wildcard address, an unresolvable name or anything
// else is not. Start-up only (may resolve a name, blocking).
bool zmq_endpoint_loopback(std::string_view endpoint);

}  // namespace wsg
