// TLS on the node's port: the server-side OpenSSL context built from tls.cert / tls.key; and the
// client-side one of the webhook sender (https:// webhooks.url).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "config/config.h"

namespace wsg {

// Builds the server context: TLS 1.2 and later only, OpenSSL's default cipher suites (at the
// system's security level), no renegotiation, no compression; the certificate chain and the private
// key are loaded from the files named by tls.cert and tls.key (PEM) and checked against each other.
// Start-up only: throws ConfigError naming the key for a file that is missing or unreadable, not
// PEM, an encrypted key (no passphrase prompt), or a key that does not match the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const TlsConfig& tls);

// Builds the webhook sender's client context: TLS 1.2 and later only, peer verification on (the
// host name is checked per connection by the sender), trusting the certificates of the PEM bundle
// `ca_file` (webhooks.ca_file) or, when it is empty, the system's default CA store. Start-up only:
// throws ConfigError naming webhooks.ca_file for a file that is missing, unreadable or holds no PEM
// certificate.
std::shared_ptr<boost::asio::ssl::context> make_webhook_tls_context(const std::string& ca_file);

// "subject, valid FROM to UNTIL" of the context's certificate, for the start-up log; `valid_now`
// (when given) tells whether the current time is inside that period.
std::string certificate_summary(boost::asio::ssl::context& ctx, bool* valid_now = nullptr);

}  // namespace wsg
