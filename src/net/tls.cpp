#include "net/tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace wsg {

namespace ssl = boost::asio::ssl;

namespace {

// The file must be readable by this process; a clearer message than OpenSSL's for the usual cases.
void check_readable(const char* key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError(std::string("key '") + key + "': cannot read '" + path +
                      "': " + (err != 0 ? std::strerror(err) : "unknown error"));
  }
}

std::string describe(const boost::system::error_code& ec) {
  std::string s = ec.message();
  // Anything left on OpenSSL's error queue (the first error is in ec already).
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += std::string("; ") + buf;
  }
  return s;
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const TlsConfig& tls) {
  if (tls.cert.empty() || tls.key.empty()) {
    throw ConfigError(std::string("key '") + (tls.cert.empty() ? "tls.cert" : "tls.key") +
                      "': tls.cert and tls.key must be set together");
  }
  check_readable("tls.cert", tls.cert);
  check_readable("tls.key", tls.key);

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw ConfigError("key 'tls.cert': cannot restrict TLS to version 1.2 and later");
  }
  // Client-initiated renegotiation only costs the server CPU; clients reconnect instead.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An encrypted key must not make OpenSSL prompt on the terminal: an empty passphrase fails.
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });

  boost::system::error_code ec;
  ERR_clear_error();
  ctx->use_certificate_chain_file(tls.cert, ec);
  if (ec) {
    throw ConfigError("key 'tls.cert': cannot load a PEM certificate chain from '" + tls.cert + "': " + describe(ec));
  }
  ctx->use_private_key_file(tls.key, ssl::context::pem, ec);
  if (ec) {
    throw ConfigError("key 'tls.key': cannot load the PEM private key '" + tls.key + "' (an encrypted key is not "
                      "supported; it must match tls.cert): " + describe(ec));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw ConfigError("key 'tls.key': the private key '" + tls.key + "' does not match the certificate in '" +
                      tls.cert + "'");
  }
  return ctx;
}

}  // namespace wsg
