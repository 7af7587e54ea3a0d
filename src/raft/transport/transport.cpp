// Raft peer transport over TCP: outbound connections with backoff, priority
// queues, inbound frame verification and fault injection (see raft/transport.h).
#include "raft/transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <random>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace raft {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

using Frame = std::shared_ptr<const std::string>;

/// Counters shared with stats(), which may run on any thread.
struct Counters {
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> decode_failures{0};
  std::atomic<uint64_t> dropped_queue_full{0};
  std::atomic<uint64_t> dropped_no_peer{0};
  std::atomic<uint64_t> dropped_unreliable{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> connect_failures{0};
};

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

// Log the 1st, 2nd, 4th, 8th... occurrence so a misconfigured peer cannot
// flood the log while the operator still sees that it keeps happening.
bool worth_logging(uint64_t count) { return (count & (count - 1)) == 0; }

/// One outbound connection to a peer plus its two send queues.
struct Peer {
  enum class State { Idle, Connecting, Connected, Backoff, Closed };

  Peer(asio::io_context& io, NodeId id_, std::string addr_)
      : id(id_), addr(std::move(addr_)), resolver(io), socket(io), timer(io) {}

  NodeId id;
  std::string addr;
  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer timer;
  State state = State::Idle;
  // Bumped whenever the connection is torn down: completion handlers of the
  // old connection carry the old value and know to do nothing.
  uint64_t generation = 0;
  std::deque<Frame> control;
  std::deque<Frame> bulk;
  std::size_t queued_bytes = 0;
  bool writing = false;
  bool ever_connected = false;
  uint64_t failures_in_a_row = 0;
  std::chrono::milliseconds backoff{0};
  char probe = 0;  // target of the read that notices the peer closing
};

/// One inbound connection: reads frames and delivers them.
struct Session {
  explicit Session(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string in;            // bytes read but not yet delivered: at most one partial frame after delivery
  NodeId peer_id = kNoNode;  // pinned by the first authenticated frame
  std::string remote;        // for log messages
};

}  // namespace

class Transport::Impl : public std::enable_shared_from_this<Transport::Impl> {
 public:
  Impl(asio::io_context& io, NodeId self, std::string listen_addr, std::string secret, Options opt)
      : io_(io),
        self_(self),
        listen_addr_(std::move(listen_addr)),
        key_(std::move(secret)),
        opt_(std::move(opt)),
        acceptor_(io),
        rng_(opt_.unreliable.seed) {}

  asio::io_context& io_;
  const NodeId self_;
  const std::string listen_addr_;
  const codec::FrameKey key_;
  const Options opt_;
  MessageHandler handler_;
  tcp::acceptor acceptor_;
  std::map<NodeId, std::shared_ptr<Peer>> peers_;
  std::set<std::shared_ptr<Session>> sessions_;
  std::set<std::shared_ptr<asio::steady_timer>> delayed_;
  bool started_ = false;
  bool stopped_ = false;
  uint64_t refused_inbound_ = 0;
  std::atomic<uint16_t> port_{0};
  Counters counters_;
  std::mt19937_64 rng_;

  // ---- lifecycle -------------------------------------------------------

  util::Result<void> start() {
    if (stopped_) return util::make_error("raft transport: already stopped");
    if (started_) return {};
    if (key_.insecure() && !opt_.insecure) {
      return util::make_error(
          "raft transport: no cluster secret configured; set one for every node, or pass --insecure-peers "
          "to run peers unauthenticated");
    }
    auto hp = split_host_port(listen_addr_);
    if (!hp) return util::make_error("raft transport: listen address: " + hp.error().message);
    error_code ec;
    tcp::endpoint ep;
    auto ip = asio::ip::make_address(hp->first, ec);
    if (!ec) {
      ep = tcp::endpoint(ip, hp->second);
    } else {
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(hp->first, std::to_string(hp->second), ec);
      if (ec || results.empty()) {
        return util::make_error("raft transport: cannot resolve listen address '" + listen_addr_ +
                                "': " + (ec ? ec.message() : std::string("no addresses")));
      }
      ep = results.begin()->endpoint();
    }
    auto fail = [&](const char* step) {
      error_code ignored;
      acceptor_.close(ignored);
      return util::make_error(std::string("raft transport: cannot ") + step + " " + listen_addr_ + ": " +
                              ec.message());
    };
    acceptor_.open(ep.protocol(), ec);
    if (ec) return fail("open a socket for");
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (ec) return fail("set SO_REUSEADDR on");
    acceptor_.bind(ep, ec);
    if (ec) return fail("bind");
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen on");
    port_.store(acceptor_.local_endpoint().port(), std::memory_order_relaxed);
    started_ = true;
    spdlog::info("raft transport: node {} listening on {}:{}{}", self_, ep.address().to_string(), port_.load(),
                 key_.insecure() ? " (INSECURE: peer frames are not authenticated)" : "");
    accept();
    for (auto& [id, peer] : peers_) connect(peer);
    return {};
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (auto& [id, peer] : peers_) close_peer(*peer);
    peers_.clear();
    for (const auto& s : sessions_) s->socket.close(ignored);
    sessions_.clear();
    for (const auto& t : delayed_) t->cancel();
    delayed_.clear();
    // handler_ is kept: stop() may be running inside it. Nothing calls it
    // once stopped_ is set.
  }

  // ---- peers -----------------------------------------------------------

  void set_peers(const PeerMap& peers) {
    if (stopped_) return;
    for (auto it = peers_.begin(); it != peers_.end();) {
      auto want = peers.find(it->first);
      if (want == peers.end() || want->second != it->second->addr) {
        spdlog::info("raft transport: node {} drops peer {} ({})", self_, it->first, it->second->addr);
        close_peer(*it->second);
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [id, addr] : peers) {
      if (id == self_ || id == kNoNode || peers_.count(id) != 0) continue;
      auto peer = std::make_shared<Peer>(io_, id, addr);
      peer->backoff = opt_.backoff_min;
      peers_.emplace(id, peer);
      if (started_) connect(peer);
    }
  }

  void close_peer(Peer& p) {
    error_code ignored;
    p.state = Peer::State::Closed;
    ++p.generation;
    p.resolver.cancel();
    p.timer.cancel();
    p.socket.close(ignored);
    p.control.clear();
    p.bulk.clear();
    p.queued_bytes = 0;
    p.writing = false;
  }

  // ---- outbound connection ---------------------------------------------

  void connect(const std::shared_ptr<Peer>& p) {
    if (stopped_ || p->state == Peer::State::Closed) return;
    auto hp = split_host_port(p->addr);
    if (!hp) {
      spdlog::error("raft transport: peer {}: {}; messages to it are dropped", p->id, hp.error().message);
      close_peer(*p);
      return;
    }
    p->state = Peer::State::Connecting;
    uint64_t gen = p->generation;
    p->resolver.async_resolve(
        hp->first, std::to_string(hp->second),
        [self = shared_from_this(), p, gen](const error_code& ec, const tcp::resolver::results_type& results) {
          if (self->stopped_ || gen != p->generation) return;
          if (ec) return self->connection_failed(p, "resolve", ec);
          asio::async_connect(p->socket, results, [self, p, gen](const error_code& ec2, const tcp::endpoint&) {
            if (self->stopped_ || gen != p->generation) return;
            if (ec2) return self->connection_failed(p, "connect to", ec2);
            self->connected(p);
          });
        });
  }

  void connected(const std::shared_ptr<Peer>& p) {
    error_code ignored;
    p->socket.set_option(tcp::no_delay(true), ignored);
    p->state = Peer::State::Connected;
    p->backoff = opt_.backoff_min;
    if (p->ever_connected) bump(counters_.reconnects);
    if (p->failures_in_a_row > 0 || p->ever_connected) {
      spdlog::info("raft transport: node {} connected to peer {} at {}", self_, p->id, p->addr);
    }
    p->ever_connected = true;
    p->failures_in_a_row = 0;
    watch_for_close(p);
    maybe_write(p);
  }

  // The peer never writes on our outbound connection, so any completion of
  // this read means the connection is gone (EOF after a restart, or a reset).
  // Without it a dead connection is only noticed on the next failing write.
  void watch_for_close(const std::shared_ptr<Peer>& p) {
    uint64_t gen = p->generation;
    p->socket.async_read_some(asio::buffer(&p->probe, 1), [self = shared_from_this(), p, gen](const error_code& ec,
                                                                                             std::size_t) {
      if (self->stopped_ || gen != p->generation) return;
      self->connection_lost(p, ec ? ec : asio::error::make_error_code(asio::error::eof));
    });
  }

  void connection_failed(const std::shared_ptr<Peer>& p, const char* step, const error_code& ec) {
    bump(counters_.connect_failures);
    ++p->failures_in_a_row;
    if (p->failures_in_a_row == 1) {
      spdlog::info("raft transport: node {} cannot {} peer {} at {}: {}; retrying with backoff up to {} ms", self_,
                   step, p->id, p->addr, ec.message(), opt_.backoff_max.count());
    } else {
      spdlog::debug("raft transport: peer {} at {}: {} failed again: {}", p->id, p->addr, step, ec.message());
    }
    schedule_reconnect(p);
  }

  void connection_lost(const std::shared_ptr<Peer>& p, const error_code& ec) {
    spdlog::info("raft transport: node {} lost connection to peer {} at {}: {}", self_, p->id, p->addr,
                 ec.message());
    schedule_reconnect(p);
  }

  void schedule_reconnect(const std::shared_ptr<Peer>& p) {
    error_code ignored;
    ++p->generation;  // orphan every handler of the old socket
    p->socket.close(ignored);
    p->writing = false;
    p->state = Peer::State::Backoff;
    p->timer.expires_after(p->backoff);
    p->backoff = std::min(p->backoff * 2, opt_.backoff_max);
    uint64_t gen = p->generation;
    p->timer.async_wait([self = shared_from_this(), p, gen](const error_code& ec) {
      if (ec || self->stopped_ || gen != p->generation) return;
      self->connect(p);
    });
  }

  // ---- sending ---------------------------------------------------------

  void send(Message m) {
    if (stopped_) return;
    if (m.to == self_) {
      spdlog::debug("raft transport: node {} ignores a {} addressed to itself", self_,
                    message_type_name(m.type));
      return;
    }
    auto it = peers_.find(m.to);
    if (it == peers_.end() || it->second->state == Peer::State::Closed) {
      uint64_t n = counters_.dropped_no_peer.fetch_add(1, std::memory_order_relaxed) + 1;
      if (worth_logging(n)) {
        spdlog::warn("raft transport: node {} has no address for node {}; dropped {} (total {})", self_, m.to,
                     message_type_name(m.type), n);
      }
      return;
    }
    // A join request goes to an address whose node id the sender does not
    // know yet (kept under a placeholder id): it is addressed to no one.
    if (m.type == MessageType::JoinRequest) m.to = kNoNode;
    bool control = is_control_message(m.type);
    auto frame = std::make_shared<const std::string>(codec::encode_frame(m, key_));
    if (frame->size() - codec::kLengthPrefixSize > opt_.max_frame_size) {
      // The receiver would cut the connection; better to lose one message.
      spdlog::error("raft transport: {} to node {} is {} bytes, above the frame limit of {}; dropped",
                    message_type_name(m.type), m.to, frame->size(), opt_.max_frame_size);
      bump(counters_.dropped_queue_full);
      return;
    }
    if (!opt_.unreliable.enabled()) {
      enqueue(it->second, std::move(frame), control);
      return;
    }
    const auto& u = opt_.unreliable;
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    if (u.drop > 0.0 && coin(rng_) < u.drop) {
      bump(counters_.dropped_unreliable);
      return;
    }
    int copies = (u.dup > 0.0 && coin(rng_) < u.dup) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      uint32_t delay = 0;
      if (u.delay_max_ms > 0) {
        delay = std::uniform_int_distribution<uint32_t>(u.delay_min_ms, u.delay_max_ms)(rng_);
      }
      if (delay == 0) {
        enqueue(it->second, frame, control);
        continue;
      }
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay));
      delayed_.insert(timer);
      timer->async_wait([self = shared_from_this(), timer, p = it->second, frame, control](const error_code& ec) {
        self->delayed_.erase(timer);
        if (ec || self->stopped_ || p->state == Peer::State::Closed) return;
        self->enqueue(p, frame, control);
      });
    }
  }

  void enqueue(const std::shared_ptr<Peer>& p, Frame frame, bool control) {
    if (frame->size() > opt_.max_queue_bytes) {
      bump(counters_.dropped_queue_full);
      return;
    }
    p->queued_bytes += frame->size();
    (control ? p->control : p->bulk).push_back(std::move(frame));
    // Over a bound: shed the oldest bulk frames first (Raft resends appends
    // and snapshot chunks on its own), and control frames only when no bulk
    // is left.
    uint64_t dropped = 0;
    while (p->control.size() + p->bulk.size() > opt_.max_queue_frames || p->queued_bytes > opt_.max_queue_bytes) {
      auto& q = p->bulk.empty() ? p->control : p->bulk;
      p->queued_bytes -= q.front()->size();
      q.pop_front();
      ++dropped;
    }
    if (dropped > 0) {
      uint64_t n = counters_.dropped_queue_full.fetch_add(dropped, std::memory_order_relaxed) + dropped;
      if (worth_logging(n)) {
        spdlog::warn("raft transport: node {}: send queue to peer {} is full; dropped {} frames so far", self_, p->id,
                     n);
      }
    }
    maybe_write(p);
  }

  void maybe_write(const std::shared_ptr<Peer>& p) {
    if (stopped_ || p->state != Peer::State::Connected || p->writing) return;
    if (p->control.empty() && p->bulk.empty()) return;
    // Control first, then bulk, up to the batch bound (always at least one frame).
    std::vector<Frame> batch;
    std::vector<asio::const_buffer> buffers;
    std::size_t bytes = 0;
    for (auto* q : {&p->control, &p->bulk}) {
      while (!q->empty() && (batch.empty() || bytes + q->front()->size() <= opt_.max_write_batch_bytes)) {
        bytes += q->front()->size();
        buffers.emplace_back(asio::buffer(*q->front()));
        batch.push_back(std::move(q->front()));
        q->pop_front();
      }
    }
    p->queued_bytes -= bytes;
    p->writing = true;
    uint64_t gen = p->generation;
    // The batch rides in the handler so the bytes outlive the write even if
    // the connection is torn down meanwhile.
    asio::async_write(p->socket, buffers,
                      [self = shared_from_this(), p, gen, batch = std::move(batch)](const error_code& ec, std::size_t) {
                        if (self->stopped_ || gen != p->generation) return;
                        p->writing = false;
                        if (ec) return self->connection_lost(p, ec);
                        bump(self->counters_.frames_sent, batch.size());
                        self->maybe_write(p);
                      });
  }

  // ---- inbound ---------------------------------------------------------

  void accept() {
    acceptor_.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket socket) {
      if (self->stopped_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        // Typically out of file descriptors: pause instead of spinning.
        spdlog::warn("raft transport: node {} accept failed: {}; retrying in 100 ms", self->self_, ec.message());
        auto timer = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(100));
        self->delayed_.insert(timer);
        timer->async_wait([self, timer](const error_code& ec2) {
          self->delayed_.erase(timer);
          if (!ec2 && !self->stopped_) self->accept();
        });
        return;
      }
      if (self->sessions_.size() >= self->opt_.max_inbound_connections) {
        // Each peer needs one connection; this many means something is wrong.
        uint64_t n = ++self->refused_inbound_;
        if (worth_logging(n)) {
          spdlog::warn("raft transport: node {} refuses an inbound connection: already {} open ({} refused so far)",
                       self->self_, self->sessions_.size(), n);
        }
        error_code ignored;
        socket.close(ignored);
        return self->accept();
      }
      auto s = std::make_shared<Session>(std::move(socket));
      error_code ignored;
      auto remote = s->socket.remote_endpoint(ignored);
      s->remote = remote.address().to_string() + ":" + std::to_string(remote.port());
      self->sessions_.insert(s);
      self->read_frames(s);
      self->accept();
    });
  }

  void close_session(const std::shared_ptr<Session>& s) {
    error_code ignored;
    s->socket.close(ignored);
    sessions_.erase(s);
  }

  // Reads what has arrived, at most kReadStep bytes at a time (more only to
  // finish one large frame, in steps of at most kBodyStep, so a peer
  // announcing a 64 MiB frame and sending nothing costs one step of memory),
  // and delivers every complete frame in one go. Frames that queued up while
  // the io thread was busy (an fsync) thus all reach the node before its next
  // Ready, and share that Ready's fsync (group commit); read one at a time,
  // each would get a Ready and an fsync of its own.
  static constexpr std::size_t kReadStep = 64u << 10;
  static constexpr std::size_t kBodyStep = 1u << 20;

  void read_frames(const std::shared_ptr<Session>& s) {
    const std::size_t have = s->in.size();
    std::size_t step = kReadStep;
    if (have >= codec::kLengthPrefixSize) {
      // deliver_frames() left one partial frame with a valid length.
      uint8_t prefix[codec::kLengthPrefixSize];
      std::memcpy(prefix, s->in.data(), codec::kLengthPrefixSize);
      auto len = codec::parse_frame_length(prefix, opt_.max_frame_size);
      std::size_t missing = len ? codec::kLengthPrefixSize + *len - have : 0;
      step = std::max(kReadStep, std::min(kBodyStep, missing));
    }
    s->in.resize(have + step);
    s->socket.async_read_some(asio::buffer(s->in.data() + have, step),
                              [self = shared_from_this(), s, have](const error_code& ec, std::size_t n) {
                                if (self->stopped_) return;
                                if (ec) return self->close_session(s);
                                s->in.resize(have + n);
                                if (!self->deliver_frames(s)) return self->close_session(s);
                                if (!self->stopped_) self->read_frames(s);
                              });
  }

  // Hands every complete frame in the buffer to the handler, in order, and
  // keeps the rest. Returns false when the connection must be closed.
  bool deliver_frames(const std::shared_ptr<Session>& s) {
    std::size_t pos = 0;
    while (!stopped_ && s->in.size() - pos >= codec::kLengthPrefixSize) {
      uint8_t prefix[codec::kLengthPrefixSize];
      std::memcpy(prefix, s->in.data() + pos, codec::kLengthPrefixSize);
      auto len = codec::parse_frame_length(prefix, opt_.max_frame_size);
      if (!len) {
        // Framing is lost: nothing after this point can be trusted.
        bump(counters_.decode_failures);
        spdlog::warn("raft transport: node {} closes connection from {}: {}", self_, s->remote, len.error().message);
        return false;
      }
      if (s->in.size() - pos - codec::kLengthPrefixSize < *len) break;
      if (!handle_frame(s, std::string_view(s->in).substr(pos + codec::kLengthPrefixSize, *len))) return false;
      pos += codec::kLengthPrefixSize + *len;
    }
    s->in.erase(0, pos);
    // Do not keep a multi-megabyte buffer per idle connection.
    if (s->in.capacity() > kBodyStep && s->in.size() <= kReadStep) std::string(s->in).swap(s->in);
    return true;
  }

  // Returns false when the connection must be closed.
  bool handle_frame(const std::shared_ptr<Session>& s, std::string_view body) {
    auto opened = codec::open_frame(body, key_);
    if (opened.error == codec::FrameError::BadMac) {
      uint64_t n = counters_.auth_failures.fetch_add(1, std::memory_order_relaxed) + 1;
      if (worth_logging(n)) {
        spdlog::warn("raft transport: node {} dropped a frame from {}: {} ({} so far)", self_, s->remote,
                     opened.reason, n);
      }
      return true;
    }
    if (opened.error != codec::FrameError::None) {
      uint64_t n = counters_.decode_failures.fetch_add(1, std::memory_order_relaxed) + 1;
      if (worth_logging(n)) {
        spdlog::warn("raft transport: node {} dropped a frame from {}: {} ({} so far)", self_, s->remote,
                     opened.reason, n);
      }
      return true;
    }
    Message& m = opened.message;
    // A joining node does not know the id of the member it asks, so a
    // JoinRequest alone may be addressed to no one in particular.
    bool join_to_anyone = m.type == MessageType::JoinRequest && m.to == kNoNode;
    if ((m.to != self_ && !join_to_anyone) || m.from == kNoNode || m.from == self_) {
      uint64_t n = counters_.decode_failures.fetch_add(1, std::memory_order_relaxed) + 1;
      if (worth_logging(n)) {
        spdlog::warn("raft transport: node {} dropped a {} from {} claiming to be from node {} to node {}", self_,
                     message_type_name(m.type), s->remote, m.from, m.to);
      }
      return true;
    }
    // The MAC proves the sender holds the secret, not which node it is; but a
    // connection belongs to one node, so a change of sender mid-stream is
    // treated as tampering.
    if (s->peer_id == kNoNode) {
      s->peer_id = m.from;
    } else if (s->peer_id != m.from) {
      bump(counters_.auth_failures);
      spdlog::warn("raft transport: node {} closes connection from {}: it spoke as node {} and now as node {}", self_,
                   s->remote, s->peer_id, m.from);
      return false;
    }
    bump(counters_.frames_received);
    if (handler_) handler_(std::move(m));
    return true;
  }

  TransportStats stats() const {
    auto ld = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    TransportStats s;
    s.frames_sent = ld(counters_.frames_sent);
    s.frames_received = ld(counters_.frames_received);
    s.auth_failures = ld(counters_.auth_failures);
    s.decode_failures = ld(counters_.decode_failures);
    s.dropped_queue_full = ld(counters_.dropped_queue_full);
    s.dropped_no_peer = ld(counters_.dropped_no_peer);
    s.dropped_unreliable = ld(counters_.dropped_unreliable);
    s.reconnects = ld(counters_.reconnects);
    s.connect_failures = ld(counters_.connect_failures);
    return s;
  }
};

// ---- Transport -----------------------------------------------------------

Transport::Transport(asio::io_context& io, NodeId self_id, std::string listen_addr, PeerMap peers, std::string secret,
                     Options options)
    : impl_(std::make_shared<Impl>(io, self_id, std::move(listen_addr), std::move(secret), std::move(options))) {
  impl_->set_peers(peers);
}

Transport::~Transport() { stop(); }

void Transport::on_message(MessageHandler handler) { impl_->handler_ = std::move(handler); }

util::Result<void> Transport::start() { return impl_->start(); }

void Transport::stop() { impl_->stop(); }

void Transport::send(Message m) {
  if (impl_->io_.get_executor().running_in_this_thread()) {
    impl_->send(std::move(m));
  } else {
    asio::post(impl_->io_, [impl = impl_, m = std::move(m)]() mutable { impl->send(std::move(m)); });
  }
}

void Transport::set_peers(const PeerMap& peers) { impl_->set_peers(peers); }

uint16_t Transport::listen_port() const { return impl_->port_.load(std::memory_order_relaxed); }

TransportStats Transport::stats() const { return impl_->stats(); }

std::size_t Transport::queued_frames(NodeId peer) const {
  auto it = impl_->peers_.find(peer);
  return it == impl_->peers_.end() ? 0 : it->second->control.size() + it->second->bulk.size();
}

bool Transport::connected(NodeId peer) const {
  auto it = impl_->peers_.find(peer);
  return it != impl_->peers_.end() && it->second->state == Peer::State::Connected;
}

// ---- free functions ------------------------------------------------------

bool is_control_message(MessageType t) {
  // No default: a new MessageType must be classified here (-Wswitch).
  switch (t) {
    case MessageType::Append:
    case MessageType::Snapshot:
    case MessageType::Forward:
      return false;
    case MessageType::PreVote:
    case MessageType::PreVoteResp:
    case MessageType::Vote:
    case MessageType::VoteResp:
    case MessageType::AppendResp:
    case MessageType::Heartbeat:
    case MessageType::HeartbeatResp:
    case MessageType::SnapshotResp:
    case MessageType::TimeoutNow:
    case MessageType::ReadIndex:
    case MessageType::ReadIndexResp:
    case MessageType::AppliedReport:
    case MessageType::JoinRequest:
    case MessageType::JoinResponse:
      return true;
  }
  return false;
}

util::Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view addr) {
  auto bad = [&](const std::string& why) {
    return util::make_error("bad address '" + std::string(addr) + "': " + why);
  };
  std::string host;
  std::string_view port;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after an IPv6 address");
    host = std::string(addr.substr(1, close - 1));
    if (close + 1 >= addr.size() || addr[close + 1] != ':') return bad("expected ':port' after ']'");
    port = addr.substr(close + 2);
  } else {
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return bad("expected host:port");
    host = std::string(addr.substr(0, colon));
    if (host.find(':') != std::string::npos) return bad("write IPv6 addresses as [addr]:port");
    port = addr.substr(colon + 1);
  }
  if (host.empty()) return bad("empty host");
  if (port.empty() || port.size() > 5) return bad("port must be a number in 0..65535");
  uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("port must be a number in 0..65535");
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return bad("port must be a number in 0..65535");
  return std::pair<std::string, uint16_t>(std::move(host), static_cast<uint16_t>(value));
}

}  // namespace raft
