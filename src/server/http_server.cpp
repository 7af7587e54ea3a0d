// HTTP/1.1 transport of the HTTP API on Boost.Beast: one event-loop thread,
// keep-alive, per-request limits and timeouts, a connection cap.
#include "server/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace server {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

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

class Session;

struct HttpServer::Impl {
  Impl(HttpApi& a, HttpServerOptions o) : api(a), options(std::move(o)), acceptor(ioc) {}

  void accept();
  void remove(const std::shared_ptr<Session>& s);
  void poll_loop();

  HttpApi& api;
  HttpServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::set<std::shared_ptr<Session>> sessions;  // owned here; replies hold only weak references
  std::atomic<size_t> open{0};
  std::thread thread;
  std::thread poller;
  std::mutex poll_mu;
  std::condition_variable poll_cv;
  bool stopping = false;
  uint16_t bound_port = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
      }
      client_ip_ = addr.to_string();
    }
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(server_.options.max_header_bytes);
    parser_->body_limit(server_.options.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    server_.remove(shared_from_this());
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::header_limit) return fail(431, "request headers larger than " +
                                                              std::to_string(server_.options.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit) return fail(413, "request body larger than " +
                                                            std::to_string(server_.options.max_body_bytes) + " bytes");
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
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
    r.body = std::move(req.body());
    r.client_ip = client_ip_;
    // While the API works (a change waits for its commit) nothing is read;
    // the API answers within the change timeout.
    stream_.expires_never();
    std::weak_ptr<Session> weak = shared_from_this();
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
    stream_.expires_after(std::chrono::milliseconds(server_.options.write_timeout_ms));
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  HttpServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string client_ip_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool closed_ = false;
};

void HttpServer::Impl::remove(const std::shared_ptr<Session>& s) {
  if (sessions.erase(s)) open.store(sessions.size(), std::memory_order_relaxed);
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
        auto s = std::make_shared<Session>(*this, std::move(socket));
        sessions.insert(s);
        open.store(sessions.size(), std::memory_order_relaxed);
        s->read();
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
  spdlog::info("http API listening on {}", impl_->options.address.to_string());
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
