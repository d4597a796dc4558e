#include "text/http_url.h"

#include "text/host_port.h"

namespace wsg {
namespace {

// SCHEME://HOST[:PORT][/PATH] for a scheme pair: `plain` ("http") and its TLS form (plain + "s").
std::optional<HttpUrl> parse_url(std::string_view text, std::string& why, std::string_view plain) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::string p(plain);
  const std::string expected = " (expected " + p + "[s]://HOST[:PORT][/PATH])";
  const bool tls = text.starts_with(p + "s://");
  if (!tls && !text.starts_with(p + "://")) {
    why = quoted + (p == "http" ? " is not an " : " is not a ") + p + ":// or " + p + "s:// URL" + expected;
    return std::nullopt;
  }
  std::string_view rest = text.substr(plain.size() + (tls ? 4 : 3));
  const auto end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
  if (authority.empty()) {
    why = quoted + ": no host" + expected;
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    why = quoted + ": user information in the URL is not supported";
    return std::nullopt;
  }
  for (char c : target) {
    if (c == '#') {
      why = quoted + ": a URL fragment ('#') is not sent to a server";
      return std::nullopt;
    }
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      why = quoted + ": the path may only hold printable ASCII without spaces (percent-encode the rest)";
      return std::nullopt;
    }
  }
  // Without a port: the default one, checked with the same host rules.
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    has_port = authority.find("]:") != std::string_view::npos;
  } else {
    has_port = authority.find(':') != std::string_view::npos;
  }
  const std::string host_port = has_port ? std::string(authority) : std::string(authority) + (tls ? ":443" : ":80");
  std::string inner;
  auto hp = parse_host_port(host_port, inner, Wildcard::refuse);
  if (!hp) {
    why = quoted + ": " + inner;
    return std::nullopt;
  }
  HttpUrl url;
  url.host = hp->host;
  url.port = hp->port;
  url.tls = tls;
  url.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  url.host_header = std::string(authority);
  return url;
}

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view text, std::string& why) { return parse_url(text, why, "http"); }

std::optional<HttpUrl> parse_ws_url(std::string_view text, std::string& why) {
  if (text.size() > kMaxWsUrlBytes) {
    why = "longer than " + std::to_string(kMaxWsUrlBytes) + " bytes (got " + std::to_string(text.size()) + ")";
    return std::nullopt;
  }
  return parse_url(text, why, "ws");
}

}  // namespace wsg
