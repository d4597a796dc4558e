// http[s]://HOST[:PORT][/PATH]: the one parser of the URLs wsg sends requests to (webhooks.url), and
// of the ws[s]:// URL a node tells clients to use (node.public_url).
// Configuration checking and the webhook sender both use it, so a URL `wsg check-config` accepts is
// one the sender can use. No I/O: the host is resolved by the sender, per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsg {

struct HttpUrl {
  std::string host;         // without brackets
  uint16_t port = 80;       // 80 (http) or 443 (https) unless given
  bool tls = false;         // https://: TLS with certificate verification (the sender's job)
  std::string target;       // the path and query, "/" when none
  std::string host_header;  // HOST[:PORT] as written (brackets kept), for the Host header
};

// Parses an http:// or https:// URL: HOST is a name, an IPv4 address or a bracketed IPv6 address (the rules of
// host_port.h), PORT 1 to 65535, the rest (from the first '/' or '?') the request target, which must
// be printable ASCII without spaces. Any other scheme, a fragment or user information is refused:
// nullopt with the reason in `why`.
std::optional<HttpUrl> parse_http_url(std::string_view text, std::string& why);

// The longest WebSocket URL parse_ws_url accepts: the cluster protocol's address limit
// (cluster::kMaxAddressBytes), since node.public_url travels in HELLO_PUBLIC.
inline constexpr std::size_t kMaxWsUrlBytes = 512;

// A ws:// or wss:// URL (node.public_url), by the same rules as parse_http_url (`tls` for wss://,
// ports 80 and 443 by default), at most kMaxWsUrlBytes long.
std::optional<HttpUrl> parse_ws_url(std::string_view text, std::string& why);

}  // namespace wsg
