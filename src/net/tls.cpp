#include "net/tls.h"

#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "config/secrets.h"

namespace wsg {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's first queued error, as text (the queue is cleared).
std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : "error " + std::to_string(e);
}

// No passphrase prompt on the terminal: an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) { return 0; }

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const TlsConfig& tls) {
  if (tls.cert.empty() || tls.key.empty()) {
    throw ConfigError(std::string("key '") + (tls.cert.empty() ? "tls.cert" : "tls.key") +
                      "': tls.cert and tls.key must be set together");
  }
  // The key files' reader (secrets.h): a clearer message than OpenSSL's for a missing, unreadable
  // or empty file. OpenSSL reads the certificate chain itself below.
  secrets::read_file("tls.cert", tls.cert);
  const std::string key_pem = secrets::read_file("tls.key", tls.key);

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

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, tls.cert.c_str()) != 1) {
    throw ConfigError("key 'tls.cert': cannot load a PEM certificate chain from '" + tls.cert +
                      "': " + openssl_reason());
  }

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_passphrase, nullptr) : nullptr, &EVP_PKEY_free);
  if (!pkey) {
    const std::string reason = openssl_reason();
    if (key_pem.find("PRIVATE KEY-----") == std::string::npos) {
      throw ConfigError("key 'tls.key': no PEM private key in '" + tls.key + "'");
    }
    if (key_pem.find("ENCRYPTED") != std::string::npos) {
      throw ConfigError("key 'tls.key': '" + tls.key +
                        "' is an encrypted private key: wsg does not prompt for a passphrase, store it "
                        "unencrypted (readable by the wsg user only)");
    }
    throw ConfigError("key 'tls.key': cannot load a PEM private key from '" + tls.key + "': " + reason);
  }
  if (SSL_CTX_use_PrivateKey(native, pkey.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw ConfigError("key 'tls.key': the private key in '" + tls.key + "' does not match the certificate in '" +
                      tls.cert + "' (tls.cert)");
  }
  return ctx;
}

std::shared_ptr<ssl::context> make_webhook_tls_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw ConfigError("key 'webhooks.url': cannot restrict TLS to version 1.2 and later");
  }
  ctx->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  ERR_clear_error();
  if (!ca_file.empty()) {
    // A clearer message than OpenSSL's for a missing, unreadable or empty file.
    const std::string pem = secrets::read_file("webhooks.ca_file", ca_file);
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      throw ConfigError("key 'webhooks.ca_file': no PEM certificate in '" + ca_file + "'");
    }
    ctx->load_verify_file(ca_file, ec);
    if (ec) {
      ERR_clear_error();
      throw ConfigError("key 'webhooks.ca_file': cannot load PEM certificates from '" + ca_file + "': " + ec.message());
    }
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      ERR_clear_error();
      throw ConfigError("key 'webhooks.url': cannot load the system's CA certificates (" + ec.message() +
                        "); set webhooks.ca_file");
    }
  }
  return ctx;
}

std::string certificate_summary(boost::asio::ssl::context& ctx, bool* valid_now) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (valid_now) *valid_now = false;
  if (!cert) return "no certificate";
  std::string out;
  if (char* subject = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0)) {
    out = subject;
    OPENSSL_free(subject);
  }
  auto time_text = [](const ASN1_TIME* t) {
    std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), &BIO_free);
    if (!b || ASN1_TIME_print(b.get(), t) != 1) return std::string("?");
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  const ASN1_TIME* not_before = X509_get0_notBefore(cert);
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  out += ", valid " + time_text(not_before) + " to " + time_text(not_after);
  if (valid_now) *valid_now = X509_cmp_current_time(not_before) < 0 && X509_cmp_current_time(not_after) > 0;
  return out;
}

}  // namespace wsg
