#include "tls_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cstdio>
#include <stdexcept>

namespace wsg::it::tls {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using ms = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Certificates

namespace {

std::string openssl_error(const std::string& what) {
  std::string s = what;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += std::string(": ") + buf;
  }
  return s;
}

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
  if (!ext) throw std::runtime_error(openssl_error(std::string("X509V3_EXT_conf_nid ") + value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

std::unique_ptr<FILE, FileCloser> open_write(const fs::path& path) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) throw std::runtime_error("cannot write " + path.string());
  return f;
}

}  // namespace

CertFiles make_self_signed(const fs::path& dir, const std::string& name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  if (!key) throw std::runtime_error(openssl_error("EVP_EC_gen"));
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  if (!cert) throw std::runtime_error(openssl_error("X509_new"));
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), &BN_free);
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("wsg tests"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), subject);
  add_ext(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), NID_authority_key_identifier, "keyid:always");
  add_ext(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error(openssl_error("X509_sign"));

  CertFiles out{dir / (name + ".crt"), dir / (name + ".key")};
  {
    auto f = open_write(out.cert);
    if (PEM_write_X509(f.get(), cert.get()) != 1) throw std::runtime_error(openssl_error("PEM_write_X509"));
  }
  {
    auto f = open_write(out.key);
    if (PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      throw std::runtime_error(openssl_error("PEM_write_PrivateKey"));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Client side

namespace {

// The client context: trusts only `opt.ca`, verifies the peer and its name.
void setup_client(ssl::context& ctx, const ClientOptions& opt) {
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.load_verify_file(opt.ca.string());
  if (opt.max_tls_1_1) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    // (the system's security level would refuse TLS < 1.2 on the client side already; the point is
    // that the node refuses it)
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "DEFAULT:@SECLEVEL=0");
  }
}

// Runs one asynchronous operation on `ioc` to its end. The caller armed the stream's deadline, so
// the operation always completes.
template <class Start>
beast::error_code run_op(net::io_context& ioc, Start&& start) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result.value_or(net::error::operation_aborted);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

HttpResponse https_get(uint16_t port, const std::string& target, const ClientOptions& opt, ms timeout) {
  HttpResponse out;
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  setup_client(ctx, opt);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification(opt.host));
  SSL_set_tlsext_host_name(stream.native_handle(), opt.host.c_str());
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeout);
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  if (auto ec = run_op(ioc, [&](auto h) { lowest.async_connect(ep, std::move(h)); })) {
    out.error = "connect: " + ec.message();
    return out;
  }
  if (auto ec = run_op(ioc, [&](auto h) { stream.async_handshake(ssl::stream_base::client, std::move(h)); })) {
    out.error = "tls handshake: " + ec.message();
    return out;
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, opt.host + ":" + std::to_string(port));
  req.set(http::field::user_agent, "wsg-integration-tests");
  req.keep_alive(false);
  if (auto ec = run_op(ioc, [&](auto h) { http::async_write(stream, req, std::move(h)); })) {
    out.error = "write: " + ec.message();
    return out;
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  if (auto ec = run_op(ioc, [&](auto h) { http::async_read(stream, buf, parser, std::move(h)); })) {
    out.error = "read: " + ec.message();
    return out;
  }
  auto& res = parser.get();
  out.status = res.result_int();
  out.body = res.body();
  for (const auto& f : res) out.headers[lower(std::string(f.name_string()))] = std::string(f.value());
  lowest.expires_after(ms(1000));
  run_op(ioc, [&](auto h) { stream.async_shutdown(std::move(h)); });  // the node may just close: ignored
  return out;
}

struct TlsWsClient::Impl {
  ClientOptions opt;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buf;
  bool connected = false;
  bool closed = false;
  CloseInfo close_info;
  std::string error;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(*ws); }

  void mark_closed(const beast::error_code& ec) {
    closed = true;
    if (ws->reason().code != websocket::close_code::none) {
      close_info.code = ws->reason().code;
      close_info.reason = std::string(ws->reason().reason.data(), ws->reason().reason.size());
    } else {
      close_info.code = 1006;
      close_info.reason = ec.message();
    }
    if (error.empty() && ec != websocket::error::closed) error = ec.message();
  }
};

TlsWsClient::TlsWsClient(ClientOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(opt);
  setup_client(impl_->ctx, impl_->opt);
  impl_->ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(impl_->ioc, impl_->ctx);
}

TlsWsClient::~TlsWsClient() {
  beast::error_code ignored;
  auto& sock = impl_->lowest().socket();
  if (sock.is_open()) {
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }
}

ConnectResult TlsWsClient::connect(uint16_t port, const std::string& target, ms timeout) {
  Impl& i = *impl_;
  ConnectResult r;
  auto& ws = *i.ws;
  ws.next_layer().set_verify_callback(ssl::host_name_verification(i.opt.host));
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), i.opt.host.c_str());
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::user_agent, "wsg-integration-tests"); }));
  ws.read_message_max(64 * 1024 * 1024);
  i.lowest().expires_after(timeout);
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  if (auto ec = run_op(i.ioc, [&](auto h) { i.lowest().async_connect(ep, std::move(h)); })) {
    r.error = "connect: " + ec.message();
    return r;
  }
  if (auto ec =
          run_op(i.ioc, [&](auto h) { ws.next_layer().async_handshake(ssl::stream_base::client, std::move(h)); })) {
    r.error = "tls handshake: " + ec.message();
    return r;
  }
  websocket::response_type res;
  auto ec = run_op(
      i.ioc, [&](auto h) { ws.async_handshake(res, i.opt.host + ":" + std::to_string(port), target, std::move(h)); });
  r.http_status = res.result_int();
  r.body = res.body();
  if (ec) {
    r.error = "websocket handshake: " + ec.message();
    return r;
  }
  i.lowest().expires_never();
  r.connected = true;
  i.connected = true;
  return r;
}

bool TlsWsClient::send_text(const std::string& text, ms timeout) {
  Impl& i = *impl_;
  if (!i.connected || i.closed) return false;
  i.ws->text(true);
  i.lowest().expires_after(timeout);
  auto ec = run_op(i.ioc, [&](auto h) { i.ws->async_write(net::buffer(text), std::move(h)); });
  i.lowest().expires_never();
  if (ec) {
    if (i.error.empty()) i.error = "write: " + ec.message();
    return false;
  }
  return true;
}

bool TlsWsClient::send_json(const boost::json::object& frame, ms timeout) {
  return send_text(boost::json::serialize(frame), timeout);
}

std::optional<boost::json::object> TlsWsClient::next(ms timeout) {
  Impl& i = *impl_;
  if (!i.connected || i.closed) return std::nullopt;
  i.lowest().expires_after(timeout);
  auto ec = run_op(i.ioc, [&](auto h) { i.ws->async_read(i.buf, std::move(h)); });
  i.lowest().expires_never();
  if (ec) {
    i.mark_closed(ec);
    return std::nullopt;
  }
  std::string text = beast::buffers_to_string(i.buf.data());
  i.buf.consume(i.buf.size());
  if (!i.ws->got_text()) throw std::runtime_error("server sent a binary frame");
  return parse_object(text);
}

std::optional<CloseInfo> TlsWsClient::expect_close(ms timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!impl_->closed) {
    const auto left = std::chrono::duration_cast<ms>(deadline - Clock::now());
    if (left <= ms(0)) return std::nullopt;
    next(left);
    if (!impl_->closed) continue;
    // a read that hit its deadline closes the stream too: that is not a close by the peer
    if (Clock::now() >= deadline && impl_->close_info.code == 1006) return std::nullopt;
  }
  return impl_->close_info;
}

bool TlsWsClient::close(ms timeout) {
  Impl& i = *impl_;
  if (!i.connected || i.closed) return false;
  i.lowest().expires_after(timeout);
  auto ec = run_op(i.ioc, [&](auto h) { i.ws->async_close(websocket::close_code::normal, std::move(h)); });
  i.closed = true;
  if (ec && i.error.empty()) i.error = "close: " + ec.message();
  return !ec;
}

bool TlsWsClient::send_raw_close(ms timeout) {
  Impl& i = *impl_;
  if (!i.connected || i.closed) return false;
  // RFC 6455 §5.5.1: FIN + close opcode, MASK bit + length 2, masking key, masked status code 1000.
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  const unsigned char code[2] = {0x03, 0xe8};
  std::string frame{static_cast<char>(0x88), static_cast<char>(0x82)};
  for (unsigned char k : key) frame.push_back(static_cast<char>(k));
  for (int n = 0; n < 2; ++n) frame.push_back(static_cast<char>(code[n] ^ key[n]));
  i.lowest().expires_after(timeout);
  auto ec = run_op(i.ioc, [&](auto h) { net::async_write(i.ws->next_layer(), net::buffer(frame), std::move(h)); });
  i.lowest().expires_never();
  if (ec && i.error.empty()) i.error = "raw close: " + ec.message();
  return !ec;
}

bool TlsWsClient::closed() const { return impl_->closed; }

struct SilentClient::Impl {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream{ioc, ctx};
  bool tls = false;
  bool connected = false;
  std::string error;
};

SilentClient::SilentClient(uint16_t port, const ClientOptions* tls, ms timeout) : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  auto& lowest = beast::get_lowest_layer(i.stream);
  lowest.expires_after(timeout);
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  if (auto ec = run_op(i.ioc, [&](auto h) { lowest.async_connect(ep, std::move(h)); })) {
    i.error = "connect: " + ec.message();
    return;
  }
  if (tls) {
    i.tls = true;
    setup_client(i.ctx, *tls);
    i.stream.set_verify_callback(ssl::host_name_verification(tls->host));
    SSL_set_tlsext_host_name(i.stream.native_handle(), tls->host.c_str());
    if (auto ec = run_op(i.ioc, [&](auto h) { i.stream.async_handshake(ssl::stream_base::client, std::move(h)); })) {
      i.error = "tls handshake: " + ec.message();
      return;
    }
  }
  lowest.expires_never();
  i.connected = true;
}

SilentClient::~SilentClient() {
  beast::error_code ignored;
  beast::get_lowest_layer(impl_->stream).socket().close(ignored);
}

bool SilentClient::connected() const { return impl_->connected; }

std::string SilentClient::error() const { return impl_->error; }

bool SilentClient::wait_closed(ms timeout, std::string* why) {
  Impl& i = *impl_;
  auto& lowest = beast::get_lowest_layer(i.stream);
  lowest.expires_after(timeout);
  char byte[64];
  beast::error_code ec;
  // The node sends nothing to a client that never sent a request: any byte is a surprise, but
  // keep reading until the connection ends or the deadline passes.
  do {
    ec = i.tls ? run_op(i.ioc, [&](auto h) { i.stream.async_read_some(net::buffer(byte), std::move(h)); })
               : run_op(i.ioc, [&](auto h) { lowest.async_read_some(net::buffer(byte), std::move(h)); });
  } while (!ec);
  lowest.expires_never();
  if (why) *why = ec.message();
  return ec != beast::error::timeout;
}

std::string TlsWsClient::error() const { return impl_->error; }

}  // namespace wsg::it::tls
