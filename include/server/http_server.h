// The HTTP/1.1 listener of the HTTP API (Boost.Beast), plain or over TLS:
// keep-alive, a size limit per request, timeouts and a connection cap.
// Requests go to HttpApi.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/http_api.h"
#include "server/listen_address.h"
#include "util/result.h"

namespace server {

/// A TLS server context (OpenSSL through Boost.Asio): a certificate chain
/// and its private key; TLS 1.2 or later.
class HttpTls;

/// Loads the PEM certificate chain and private key of http.tls. The error
/// names the config field and the file ("http.tls.key: cannot load the
/// private key '/etc/x.key': ..."); a key that does not match the
/// certificate is refused.
util::Result<std::shared_ptr<HttpTls>> load_http_tls(const std::string& cert_file, const std::string& key_file);

struct HttpServerOptions {
  ListenAddress address;
  uint32_t max_connections = 256;      ///< further connections are closed at once
  uint32_t max_header_bytes = 8192;    ///< request line and headers; beyond: 431 and close
  uint32_t max_body_bytes = 65536;     ///< beyond: 413 and close
  uint32_t request_timeout_ms = 10000; ///< to receive a whole request (and idle time between keep-alive requests)
  uint32_t write_timeout_ms = 10000;   ///< to send a response
  uint32_t status_poll_ms = 250;       ///< how often the status is polled for the leader-change counter
  /// Set: the port speaks HTTPS only (a connection must complete its TLS
  /// handshake within request_timeout_ms); null: plain HTTP.
  std::shared_ptr<HttpTls> tls;
};

/// One thread runs the event loop; changes are answered when they commit,
/// without holding the loop. bind() first, then start(); stop() is idempotent.
class HttpServer {
 public:
  HttpServer(HttpApi& api, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Opens, binds and listens. The error names the address.
  util::Result<void> bind();
  void start();
  void stop();

  /// The bound port (useful when binding port 0 in tests).
  uint16_t port() const;
  size_t open_connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
