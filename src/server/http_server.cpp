// HTTP/1.1 transport of the HTTP API on Boost.Beast, plain or over TLS
// (Boost.Asio's OpenSSL streams): one event-loop thread, keep-alive,
// per-request limits and timeouts, a connection cap.
#include "server/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>

#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

namespace server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

/// What identifies a file's content without reading it: a renewal that
/// writes a new file or rewrites it in place changes one of these.
struct FileStamp {
  bool exists = false;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, st.st_ino, st.st_size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

class HttpTls {
 public:
  ssl::context context{ssl::context::tls_server};
  std::string cert_file, key_file;
  FileStamp cert_stamp, key_stamp;  // of the files as they were loaded
};

namespace {

/// The reason OpenSSL's error queue holds, emptied.
std::string openssl_reason() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

/// Lets a reply that arrives from another thread (a change committing on
/// the Raft thread) reach the event loop, or be dropped once it has stopped.
struct Gate {
  std::mutex mu;
  net::io_context* ioc = nullptr;  // null once the server stopped

  template <class F>
  void post(F&& f) {
    std::lock_guard lock(mu);
    if (ioc) net::post(*ioc, std::forward<F>(f));
  }
};

}  // namespace

util::Result<std::shared_ptr<HttpTls>> load_http_tls(const std::string& cert_file, const std::string& key_file) {
  auto tls = std::make_shared<HttpTls>();
  tls->cert_file = cert_file;
  tls->key_file = key_file;
  // Stamped before reading: a file replaced while it is read is read again at the next check.
  tls->cert_stamp = stamp_of(cert_file);
  tls->key_stamp = stamp_of(key_file);
  SSL_CTX* ctx = tls->context.native_handle();
  ERR_clear_error();
  // TLS 1.2 and 1.3 only; OpenSSL's default cipher list and security level
  // (Debian: level 2) hold for what is left.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return util::make_error("http.tls.cert: cannot load the certificate chain '" + cert_file + "': " +
                            openssl_reason());
  }
  // Read the key first, so that an unreadable file and a key of another
  // certificate get different messages.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(key_file.c_str(), "r"), &BIO_free);
  // No passphrase: an encrypted key fails here instead of prompting on a terminal a service does not have.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr, &EVP_PKEY_free);
  if (!pkey) {
    return util::make_error("http.tls.key: cannot load the private key '" + key_file + "': " + openssl_reason());
  }
  if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return util::make_error("http.tls.key: the private key '" + key_file + "' does not match the certificate '" +
                            cert_file + "' of http.tls.cert");
  }
  return tls;
}

/// What the server holds of a connection, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close() = 0;
};

struct HttpServer::Impl {
  Impl(HttpApi& a, HttpServerOptions o) : api(a), options(std::move(o)), acceptor(ioc) {}

  void accept();
  void remove(const std::shared_ptr<SessionBase>& s);
  /// The TLS context for a new connection: reloaded from its files once
  /// they change (a renewed certificate), checked at most once a second.
  std::shared_ptr<HttpTls> current_tls();
  void poll_loop();

  HttpApi& api;
  HttpServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::set<std::shared_ptr<SessionBase>> sessions;  // owned here; replies hold only weak references
  std::atomic<size_t> open{0};
  std::thread thread;
  std::thread poller;
  std::mutex poll_mu;
  std::condition_variable poll_cv;
  bool stopping = false;
  uint16_t bound_port = 0;
  std::chrono::steady_clock::time_point next_tls_check{};
  std::pair<FileStamp, FileStamp> failed_tls_stamps;  // files that did not load; retried once they change again
};

/// One connection: `Stream` is beast::tcp_stream (plain HTTP) or
/// beast::ssl_stream<beast::tcp_stream> (HTTPS, handshake first).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... StreamArgs>
  Session(HttpServer::Impl& server, tcp::socket socket, StreamArgs&... args)
      : server_(server), stream_(std::move(socket), args...) {
    beast::error_code ec;
    auto ep = lowest().socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
      }
      client_ip_ = addr.to_string();
    }
  }

  /// Keeps `what` (the TLS context this connection was made with) alive as long as the connection.
  void hold(std::shared_ptr<const void> what) { held_ = std::move(what); }

  /// Starts the connection: the TLS handshake first when there is one.
  void start() {
    if constexpr (kTls) {
      // The handshake shares the request's deadline: a client that connects
      // and sends nothing holds its slot no longer than an idle one.
      lowest().expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) {
          // Plain HTTP sent to the HTTPS port ends here too: nothing is
          // answered in clear on a port that speaks TLS.
          spdlog::debug("http {}: TLS handshake failed: {}", self->client_ip_, ec.message());
          return self->close();
        }
        self->read();
      });
    } else {
      read();
    }
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(server_.options.max_header_bytes);
    parser_->body_limit(server_.options.max_body_bytes);
    lowest().expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
    server_.remove(this->shared_from_this());
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  /// Ends a connection after its last response: over TLS with a
  /// close_notify first (bounded by the write timeout), so the client can
  /// tell the end of the stream from a truncation.
  void finish() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::milliseconds(server_.options.write_timeout_ms));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      close();
    }
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::header_limit) return fail(431, "request headers larger than " +
                                                              std::to_string(server_.options.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit) return fail(413, "request body larger than " +
                                                            std::to_string(server_.options.max_body_bytes) + " bytes");
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || ec == ssl::error::stream_truncated ||
        ec.category() == net::error::get_ssl_category()) {
      return close();
    }
    if (ec) return fail(400, "bad request: " + ec.message());

    http::request<http::string_body>& req = parser_->get();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.content_type = std::string(req[http::field::content_type]);
    r.fetch_site = std::string(req["Sec-Fetch-Site"]);
    r.origin = std::string(req[http::field::origin]);
    r.host = std::string(req[http::field::host]);
    r.body = std::move(req.body());
    r.client_ip = client_ip_;
    r.tls = kTls;
    // While the API works (a change waits for its commit) nothing is read;
    // the API answers within the change timeout.
    lowest().expires_never();
    std::weak_ptr<Session> weak = this->shared_from_this();
    std::shared_ptr<Gate> gate = server_.gate;
    server_.api.handle(r, [weak, gate](HttpResponse resp) {
      gate->post([weak, resp = std::move(resp)]() mutable {
        if (auto self = weak.lock()) self->write(std::move(resp));
      });
    });
  }

  void fail(unsigned status, const std::string& why) {
    keep_alive_ = false;
    HttpResponse r;
    r.status = status;
    r.body = why + "\n";
    write(std::move(r));
  }

  void write(HttpResponse r) {
    if (closed_) return;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "dns-node");
    res_.set(http::field::content_type, r.content_type);
    res_.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : r.headers) res_.set(k, v);
    const size_t length = r.body.size();
    res_.body() = head_ ? std::string() : std::move(r.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    if (head_) res_.content_length(length);  // HEAD: the length GET would send, no body
    lowest().expires_after(std::chrono::milliseconds(server_.options.write_timeout_ms));
    http::async_write(stream_, res_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_) return self->finish();
      self->read();
    });
  }

  HttpServer::Impl& server_;
  std::shared_ptr<const void> held_;  // declared before stream_: destroyed after it
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string client_ip_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool closed_ = false;
};

void HttpServer::Impl::remove(const std::shared_ptr<SessionBase>& s) {
  if (sessions.erase(s)) open.store(sessions.size(), std::memory_order_relaxed);
}

std::shared_ptr<HttpTls> HttpServer::Impl::current_tls() {
  // Runs on the event loop thread only, like every use of options.tls.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_tls_check) return options.tls;
  next_tls_check = now + std::chrono::seconds(1);
  const HttpTls& tls = *options.tls;
  const std::pair<FileStamp, FileStamp> stamps{stamp_of(tls.cert_file), stamp_of(tls.key_file)};
  if ((stamps.first == tls.cert_stamp && stamps.second == tls.key_stamp) || stamps == failed_tls_stamps) {
    return options.tls;
  }
  auto fresh = load_http_tls(tls.cert_file, tls.key_file);
  if (!fresh) {
    // A renewal that has written the certificate but not yet its key lands
    // here too; the key's change brings the next try.
    spdlog::warn("http {}: the changed certificate or key is not used, the previous one still is: {}",
                 options.address.to_string(), fresh.error().message);
    failed_tls_stamps = stamps;
    return options.tls;
  }
  spdlog::info("http {}: certificate reloaded from {}", options.address.to_string(), tls.cert_file);
  // Connections in progress keep the context they started with (each holds
  // it); new ones get the new one.
  options.tls = std::move(fresh.value());
  return options.tls;
}

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (sessions.size() >= options.max_connections) {
        // Over the cap: refuse at once rather than let it wait unanswered.
        spdlog::debug("http {}: connection cap ({}) reached; closing a new connection", options.address.to_string(),
                      options.max_connections);
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        if (options.tls) {
          std::shared_ptr<HttpTls> tls = current_tls();
          auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket),
                                                                                   tls->context);
          s->hold(std::move(tls));
          sessions.insert(s);
          s->start();
        } else {
          auto s = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket));
          sessions.insert(s);
          s->start();
        }
        open.store(sessions.size(), std::memory_order_relaxed);
      }
    } else {
      spdlog::warn("http {}: accept failed: {}", options.address.to_string(), ec.message());
    }
    accept();
  });
}

void HttpServer::Impl::poll_loop() {
  std::unique_lock lock(poll_mu);
  while (!stopping) {
    lock.unlock();
    api.poll_status();
    lock.lock();
    poll_cv.wait_for(lock, std::chrono::milliseconds(options.status_poll_ms), [this] { return stopping; });
  }
}

HttpServer::HttpServer(HttpApi& api, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(options))) {
  std::shared_ptr<Gate> gate = impl_->gate;
  api.set_defer([gate](std::function<void()> work) { gate->post(std::move(work)); });
}

HttpServer::~HttpServer() { stop(); }

util::Result<void> HttpServer::bind() {
  const std::string where = "http " + impl_->options.address.to_string();
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->options.address.host, ec);
  if (ec) return util::make_error("cannot listen on " + where + ": bad address: " + ec.message());
  tcp::endpoint ep(addr, impl_->options.address.port);
  tcp::acceptor& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return util::make_error("cannot listen on " + where + ": " + ec.message());
  impl_->bound_port = a.local_endpoint(ec).port();
  return {};
}

void HttpServer::start() {
  {
    std::lock_guard lock(impl_->gate->mu);
    impl_->gate->ioc = &impl_->ioc;
  }
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  impl_->poller = std::thread([this] { impl_->poll_loop(); });
  spdlog::info("http API listening on {} ({})", impl_->options.address.to_string(),
               impl_->options.tls ? "HTTPS only" : "plain HTTP");
}

void HttpServer::stop() {
  {
    std::lock_guard lock(impl_->poll_mu);
    impl_->stopping = true;
  }
  impl_->poll_cv.notify_all();
  if (impl_->poller.joinable()) impl_->poller.join();
  {
    std::lock_guard lock(impl_->gate->mu);
    impl_->gate->ioc = nullptr;  // replies from now on are dropped
  }
  if (impl_->thread.joinable()) {
    net::post(impl_->ioc, [this] {
      beast::error_code ec;
      impl_->acceptor.close(ec);
      // Closing removes each session from the set; copy first.
      auto all = impl_->sessions;
      for (const auto& s : all) s->close();
      impl_->ioc.stop();
    });
    impl_->thread.join();
  }
  impl_->sessions.clear();
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

size_t HttpServer::open_connections() const { return impl_->open.load(std::memory_order_relaxed); }

}  // namespace server
