#include "net/listen_address.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "config/config.h"
#include "text/host_port.h"

namespace wsg {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::vector<tcp::endpoint> listen_endpoints(std::string_view key, const std::string& value) {
  const std::string named = "key '" + std::string(key) + "': ";
  std::string why;
  const auto parsed = parse_host_port(value, why);
  if (!parsed) throw ConfigError(named + why);

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(parsed->host, ec);
  if (!ec) return {tcp::endpoint(address, parsed->port)};
  if (parsed->bracketed) throw ConfigError(named + "'" + value + "' has an invalid IPv6 address");

  // A host name: resolved once, now (getaddrinfo, blocking: start-up only).
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(parsed->host, std::to_string(parsed->port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) throw ConfigError(named + "cannot resolve host '" + parsed->host + "': " + ec.message());
  std::vector<tcp::endpoint> out;
  for (const auto& entry : results) out.push_back(entry.endpoint());
  if (out.empty()) throw ConfigError(named + "host '" + parsed->host + "' has no address");
  return out;
}

bool loopback_only(const std::vector<tcp::endpoint>& endpoints) {
  for (const auto& e : endpoints)
    if (!e.address().is_loopback()) return false;
  return true;
}

bool zmq_endpoint_loopback(std::string_view endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) return true;
  if (!endpoint.starts_with("tcp://")) return false;
  try {
    return loopback_only(listen_endpoints("cluster", std::string(endpoint.substr(6))));
  } catch (const std::exception&) {
    return false;  // "*", or a name that does not resolve: assume the network
  }
}

}  // namespace wsg
