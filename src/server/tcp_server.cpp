// DNS over TCP (RFC 7766) on Boost.Asio: accept under a cap, reassemble
// length-framed queries under a per-message deadline, answer each at once,
// write answers in batches.
#include "server/tcp_server.h"

#include <array>
#include <chrono>
#include <vector>

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include "server/query_log.h"
#include "server/responder.h"
#include "server/snapshot_cache.h"
#include "server/tcp_framing.h"
#include "server/update.h"
#include "server/xfr.h"
#include "server/zone_follower.h"

namespace server {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr size_t kMaxMessage = 65535;

struct TcpServer::Impl {
  Impl(const store::Store& s, QueryStats& st, TcpOptions o) : store(s), stats(st), options(std::move(o)), cache(s) {}

  void do_accept();

  const store::Store& store;
  QueryStats& stats;
  TcpOptions options;
  // Touched by connections as they are destroyed, which may happen while
  // `io` below is torn down: declared before it, so they outlive it.
  std::atomic<size_t> open{0};
  std::atomic<uint64_t> refused{0};
  QueryCounters* counters = nullptr;
  UpdateHandler* update = nullptr;  // RFC 2136 UPDATE, when configured
  XfrHandler* xfr = nullptr;        // AXFR/IXFR, when configured
  ZoneFollower* notify = nullptr;   // NOTIFY from outside primaries, when configured
  SnapshotCache cache;  // used on the event-loop thread only
  std::vector<uint8_t> scratch = std::vector<uint8_t>(2 + kMaxMessage);  // one answer, length-prefixed
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;
};

namespace {

/// One client connection. Kept alive by the handler of whichever read or
/// write is outstanding; the idle timer holds only a weak reference.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TcpServer::Impl& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), idle_(server.io), message_(server.io) {
    ++server_.open;
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    remote_ = ep;
    peer_ = ec ? "?" : (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
                           ":" + std::to_string(ep.port());
  }
  ~Connection() { --server_.open; }

  void start() {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    arm_idle_timer();
    read();
  }

 private:
  size_t queued() const { return pending_.size() + writing_.size(); }

  void read() {
    reading_ = true;
    socket_.async_read_some(asio::buffer(read_buf_), [self = shared_from_this()](
                                                         const boost::system::error_code& ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const boost::system::error_code& ec, size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      // The client may half-close after its last query: answer, then close.
      peer_done_ = ec == asio::error::eof;
      if (!peer_done_ || (queued() == 0 && updates_in_flight_ == 0)) close();
      return;
    }
    arm_idle_timer();
    framer_.append(read_buf_.data(), n);
    process();
    write();
    // Reading pauses while too much is queued for a client that does not
    // read, and while a transfer streams (the queries after it wait).
    if (queued() <= server_.options.max_buffered_output && !stream_) read();
  }

  /// Answers the complete messages buffered, up to a transfer request,
  /// which then streams before the next is read.
  void process() {
    bool completed = false;
    const zone::ZoneSet& zones = server_.cache.current();
    uint8_t* out = server_.scratch.data();
    // RFC 7766 §6.2.1.1: answer each query as soon as it is complete; the
    // client matches answers by ID, so no ordering is kept.
    while (!stream_) {
      auto msg = framer_.next();
      if (!msg) break;
      completed = true;
      if (server_.update && UpdateHandler::is_update(msg->data(), msg->size())) {
        hand_over_update(msg->data(), msg->size());
        continue;
      }
      if (server_.notify && ZoneFollower::is_notify(msg->data(), msg->size())) {
        // RFC 1996 §3.6 allows NOTIFY over TCP; answered at once.
        size_t len = server_.notify->answer_notify(msg->data(), msg->size(), remote_.data(), out + 2, kMaxMessage);
        if (len == 0) continue;
        put_length_prefix(out, len);
        pending_.insert(pending_.end(), out, out + 2 + len);
        continue;
      }
      if (server_.xfr && XfrHandler::is_transfer(msg->data(), msg->size())) {
        // RFC 5936 §4.1: the transfer's messages go out one after the
        // other; made as the output drains, never all at once.
        stream_ = server_.xfr->start(msg->data(), msg->size(), remote_.data());
        pump();
        break;
      }
      ResponseInfo info;
      const auto start = std::chrono::steady_clock::now();
      RespondOptions respond_options;
      respond_options.over_tcp = true;
      respond_options.tsig_keys = &server_.options.tsig_keys;
      size_t len = respond(zones, msg->data(), msg->size(), out + 2, kMaxMessage, respond_options, &info);
      server_.counters->count(info, len, true);
      server_.counters->observe_latency(
          static_cast<uint64_t>((std::chrono::steady_clock::now() - start) / std::chrono::nanoseconds(1)));
      if (server_.options.query_log) log_query("tcp", peer_, msg->data(), msg->size(), info, len);
      if (len == 0) continue;
      put_length_prefix(out, len);
      pending_.insert(pending_.end(), out, out + 2 + len);
    }
    // The clock of a partial message starts with its first byte: a message
    // completed in this read hands the clock to the one begun after it.
    if (framer_.buffered() == 0) {
      message_started_ = false;
      message_.cancel();
    } else if (!message_started_ || completed) {
      arm_message_timer();
    }
  }

  /// Queues the transfer's next messages while the output has room.
  void pump() {
    uint8_t* out = server_.scratch.data();
    while (stream_ && queued() < server_.options.max_buffered_output) {
      size_t len = stream_->next(out + 2, kMaxMessage);
      if (len == 0) {
        stream_.reset();
        break;
      }
      put_length_prefix(out, len);
      pending_.insert(pending_.end(), out, out + 2 + len);
    }
  }

  /// An UPDATE is answered when its change commits: the handler's callback
  /// (any thread) posts the answer back to the event loop, keeping the
  /// connection alive until then.
  void hand_over_update(const uint8_t* data, size_t size) {
    ++updates_in_flight_;
    server_.update->handle(data, size, remote_.data(), [self = shared_from_this()](std::string answer) {
      asio::post(self->server_.io, [self, answer = std::move(answer)] { self->on_update_answer(answer); });
    });
  }

  void on_update_answer(const std::string& answer) {
    --updates_in_flight_;
    if (closed_) return;
    if (!answer.empty() && answer.size() <= kMaxMessage) {
      uint8_t prefix[2];
      put_length_prefix(prefix, answer.size());
      pending_.insert(pending_.end(), prefix, prefix + 2);
      pending_.insert(pending_.end(), answer.begin(), answer.end());
    }
    write();
    if (peer_done_ && queued() == 0 && updates_in_flight_ == 0) close();
  }

  void write() {
    if (closed_ || !writing_.empty() || pending_.empty()) return;
    std::swap(writing_, pending_);
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) return close();
    writing_.clear();
    if (stream_) {
      arm_idle_timer();  // a transfer in progress is not idle
      pump();
      if (!stream_) process();  // the queries that waited behind it
    }
    write();
    if (peer_done_) {
      if (queued() == 0 && updates_in_flight_ == 0) close();
      return;
    }
    if (!reading_ && queued() <= server_.options.max_buffered_output && !stream_) {
      // Reading was paused by us, not by the client: its partial message
      // gets a fresh allowance.
      if (message_started_) arm_message_timer();
      read();
    }
  }

  void arm_idle_timer() {
    idle_.expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    idle_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      if (auto self = weak.lock()) {
        spdlog::debug("tcp {}: idle timeout, closing", self->peer_);
        self->close();
      }
    });
  }

  /// Bounds the time from a message's first byte to its last (RFC 7766 §6.2.3
  /// leaves such limits to the server): the idle timer restarts on every
  /// byte, so without this a client sending one byte at a time would keep its
  /// connection as long as it likes.
  void arm_message_timer() {
    message_started_ = true;
    message_.expires_after(std::chrono::milliseconds(server_.options.message_timeout_ms));
    message_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      auto self = weak.lock();
      if (!self || self->closed_ || !self->message_started_) return;
      if (!self->reading_) {
        // Reading is paused until the client takes its answers: the
        // missing bytes wait on us, and the idle timer bounds that case.
        self->arm_message_timer();
        return;
      }
      spdlog::debug("tcp {}: message not complete {} ms after its first byte, closing", self->peer_,
                    self->server_.options.message_timeout_ms);
      self->close();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    idle_.cancel();
    message_.cancel();
  }

  TcpServer::Impl& server_;
  tcp::socket socket_;
  asio::steady_timer idle_;
  asio::steady_timer message_;  // runs while a partial message is buffered
  std::string peer_;
  TcpFramer framer_;
  std::array<uint8_t, 16384> read_buf_;
  std::vector<uint8_t> pending_;  // answers not yet handed to the socket
  std::vector<uint8_t> writing_;  // answers being written
  std::unique_ptr<XfrStream> stream_;  // a transfer being sent
  bool reading_ = false;
  bool message_started_ = false;  // a partial message is buffered and its timer runs
  bool peer_done_ = false;  // the client closed its side
  bool closed_ = false;
  tcp::endpoint remote_;
  unsigned updates_in_flight_ = 0;  // UPDATEs handed over, not answered yet
};

}  // namespace

void TcpServer::Impl::do_accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or similar: wait a little rather than spin.
      spdlog::warn("tcp {}: accept failed: {}", options.address.to_string(), ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const boost::system::error_code& e) {
        if (!e) do_accept();
      });
      return;
    }
    if (open.load() >= options.max_connections) {
      // Over the cap the newest connection is the one refused, so the
      // clients already being served keep their answers.
      ++refused;
      boost::system::error_code ignored;
      socket.close(ignored);
      spdlog::debug("tcp {}: connection refused, {} open (the cap)", options.address.to_string(), open.load());
    } else {
      std::make_shared<Connection>(*this, std::move(socket))->start();
    }
    do_accept();
  });
}

TcpServer::TcpServer(const store::Store& store, QueryStats& stats, TcpOptions options)
    : impl_(std::make_unique<Impl>(store, stats, std::move(options))) {}

TcpServer::~TcpServer() { stop(); }

util::Result<void> TcpServer::bind() {
  Impl& s = *impl_;
  std::string where = "tcp " + s.options.address.to_string();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(s.options.address.host, ec);
  if (ec) return util::make_error("cannot listen on " + where + ": bad address: " + ec.message());
  tcp::endpoint ep(address, s.options.address.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec && ep.protocol() == tcp::v6()) s.acceptor.set_option(asio::ip::v6_only(true), ec);
  // SO_REUSEADDR only lets a restart bind past old TIME_WAIT connections;
  // a live listener on the port still makes bind fail.
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(1024, ec);
  if (ec) return util::make_error("cannot listen on " + where + ": " + ec.message());
  return {};
}

void TcpServer::set_update_handler(UpdateHandler* handler) { impl_->update = handler; }
void TcpServer::set_xfr_handler(XfrHandler* handler) { impl_->xfr = handler; }
void TcpServer::set_notify_handler(ZoneFollower* follower) { impl_->notify = follower; }

void TcpServer::start() {
  Impl& s = *impl_;
  s.counters = &s.stats.add_thread();
  s.do_accept();
  s.thread = std::thread([&s] { s.io.run(); });
}

void TcpServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  asio::post(s.io, [&s] {
    boost::system::error_code ec;
    s.acceptor.close(ec);
    s.io.stop();
  });
  s.thread.join();
}

size_t TcpServer::open_connections() const { return impl_->open.load(); }
uint64_t TcpServer::refused_connections() const { return impl_->refused.load(); }

}  // namespace server
