// TLS helpers for the integration tests: a self-signed certificate made at run time (OpenSSL's C
// API, no `openssl` command needed), an HTTPS GET and a small blocking WebSocket-over-TLS client
// that verifies the node's certificate. Kept out of harness.cpp: only tls_test.cpp needs them.
//
// Every operation has a deadline (the TCP stream's timer); nothing sleeps.
#pragma once

#include "harness.h"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace wsg::it::tls {

struct CertFiles {
  std::filesystem::path cert;  // PEM certificate (self-signed: also the client's trust anchor)
  std::filesystem::path key;   // PEM private key (unencrypted)
};

// A P-256 key and a self-signed certificate for CN=localhost, subjectAltName DNS:localhost and
// IP:127.0.0.1, valid from an hour ago for a day; written to dir/NAME.crt and dir/NAME.key.
CertFiles make_self_signed(const std::filesystem::path& dir, const std::string& name);

struct ClientOptions {
  std::filesystem::path ca;        // the only certificate trusted (verify file)
  std::string host = "localhost";  // SNI and the name the certificate must match
  bool max_tls_1_1 = false;        // offer TLS 1.0/1.1 only (to check the node refuses them)
};

// GET over TLS with peer verification. status 0 and `error` set when there was no answer.
HttpResponse https_get(uint16_t port, const std::string& target, const ClientOptions& opt,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

// A WebSocket client over TLS, blocking: each call runs its own I/O until done or its deadline.
// A read that times out leaves the connection unusable (the stream's timer closed it).
class TlsWsClient {
 public:
  explicit TlsWsClient(ClientOptions opt);
  ~TlsWsClient();
  TlsWsClient(const TlsWsClient&) = delete;
  TlsWsClient& operator=(const TlsWsClient&) = delete;

  // TCP connect, TLS handshake (peer verified), WebSocket upgrade. `error` says which step failed.
  ConnectResult connect(uint16_t port, const std::string& target, std::chrono::milliseconds timeout = kFrameTimeout);
  // false (see error()) when the write failed.
  bool send_text(const std::string& text, std::chrono::milliseconds timeout = kFrameTimeout);
  bool send_json(const boost::json::object& frame, std::chrono::milliseconds timeout = kFrameTimeout);
  // The next text frame, parsed; nullopt on timeout or once the connection is closed.
  std::optional<boost::json::object> next(std::chrono::milliseconds timeout = kFrameTimeout);
  // Reads (and drops) frames until the peer closes; nullopt at the deadline.
  std::optional<CloseInfo> expect_close(std::chrono::milliseconds timeout = kFrameTimeout);
  // Polite close: close frame 1000, then the peer's, then the TLS close_notify exchange.
  bool close(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  // Writes a close frame (1000) straight into the TLS stream, outside Beast's close: the client
  // then neither reads the node's answer nor sends its own close_notify (a peer that starts a close
  // and walks away).
  bool send_raw_close(std::chrono::milliseconds timeout = kFrameTimeout);
  bool closed() const;
  std::string error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A connection that says nothing after connecting: TCP only (`tls` null), or TCP plus a completed
// TLS handshake. For the node's handshake deadline.
class SilentClient {
 public:
  SilentClient(uint16_t port, const ClientOptions* tls,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  ~SilentClient();
  SilentClient(const SilentClient&) = delete;
  SilentClient& operator=(const SilentClient&) = delete;

  bool connected() const;
  std::string error() const;
  // Waits until the node closes the connection (end of stream, reset or TLS close); false at the
  // deadline. `why` gets how the read ended.
  bool wait_closed(std::chrono::milliseconds timeout, std::string* why = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsg::it::tls
