// Raft peer transport over TLS 1.3: outbound connections with backoff,
// priority queues, inbound authentication and frame checks, and fault
// injection (see raft/transport.h).
#include "raft/transport.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace raft {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

using Frame = std::shared_ptr<const std::string>;

/// Counters shared with stats(), which may run on any thread.
struct Counters {
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> handshake_timeouts{0};
  std::atomic<uint64_t> decode_failures{0};
  std::atomic<uint64_t> dropped_queue_full{0};
  std::atomic<uint64_t> dropped_no_peer{0};
  std::atomic<uint64_t> dropped_unreliable{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> key_updates{0};
};

uint64_t bump(std::atomic<uint64_t>& c, uint64_t n = 1) { return c.fetch_add(n, std::memory_order_relaxed) + n; }

// Log the 1st, 2nd, 4th, 8th... occurrence so a misconfigured peer cannot
// flood the log while the operator still sees that it keeps happening.
bool worth_logging(uint64_t count) { return (count & (count - 1)) == 0; }

/// The TCP socket under a link's TLS stream. Until lift_budget() it lets at
/// most `budget` bytes in: a client that has not authenticated costs a few
/// KiB at most, however large the handshake messages it announces.
class BudgetedSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;

  explicit BudgetedSocket(asio::io_context& io) : socket_(io) {}

  executor_type get_executor() { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }

  void set_budget(std::size_t bytes) { budget_ = bytes; }
  void lift_budget() { budget_ = kUnlimited; }
  bool budget_spent() const { return budget_ == 0; }
  /// Bytes read so far (counted while a budget applies).
  std::size_t bytes_in() const { return bytes_in_; }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    if (budget_ == kUnlimited) return socket_.read_some(buffers, ec);
    asio::mutable_buffer first = *asio::buffer_sequence_begin(buffers);
    if (first.size() > 0 && budget_ == 0) {
      ec = asio::error::message_size;
      return 0;
    }
    std::size_t n = socket_.read_some(asio::buffer(first, budget_), ec);
    consume(n);
    return n;
  }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (budget_ == kUnlimited) {
      socket_.async_read_some(buffers, std::forward<Handler>(handler));
      return;
    }
    asio::mutable_buffer first = *asio::buffer_sequence_begin(buffers);
    if (first.size() > 0 && budget_ == 0) {
      asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler)]() mutable {
        h(error_code(asio::error::message_size), std::size_t{0});
      });
      return;
    }
    socket_.async_read_some(asio::buffer(first, budget_),
                            [this, h = std::forward<Handler>(handler)](const error_code& ec, std::size_t n) mutable {
                              consume(n);
                              h(ec, n);
                            });
  }

  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    return socket_.write_some(buffers, ec);
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    socket_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  static constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();

  void consume(std::size_t n) {
    bytes_in_ += n;
    if (budget_ != kUnlimited) budget_ -= std::min(budget_, n);
  }

  tcp::socket socket_;
  std::size_t budget_ = kUnlimited;
  std::size_t bytes_in_ = 0;
};

using TlsStream = ssl::stream<BudgetedSocket>;

// A TLS-level failure (an alert, a bad certificate or key) rather than the
// network: a refusal, counted as an authentication failure.
bool is_tls_failure(const error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() || ec == asio::error::message_size;
}

/// One outbound connection to a peer plus its two send queues.
struct Peer {
  enum class State { Idle, Connecting, Connected, Backoff, Closed };

  Peer(asio::io_context& io, NodeId id_, std::string addr_)
      : id(id_), addr(std::move(addr_)), resolver(io), timer(io), deadline(io) {}

  NodeId id;
  std::string addr;
  tcp::resolver resolver;
  // The current connection; a new one for every attempt (an SSL object is
  // not reused). Handlers hold it alive while they are pending.
  std::shared_ptr<TlsStream> stream;
  asio::steady_timer timer;     // backoff between attempts
  asio::steady_timer deadline;  // connect plus handshake
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
  uint64_t records_since_key_update = 0;  // an upper bound on the TLS records sent under the current key
  char probe = 0;  // target of the read that notices the peer closing
};

/// One inbound connection: handshakes, then reads frames and delivers them.
struct Session {
  Session(asio::io_context& io, ssl::context& ctx) : stream(io, ctx), deadline(io) {}
  TlsStream stream;
  asio::steady_timer deadline;  // handshake
  ServerHandshake hs;
  uint64_t seq = 0;            // accept order: the oldest pending handshake is displaced first
  bool authenticated = false;  // handshake done
  bool closed = false;
  std::string in;            // bytes read but not yet delivered: at most one partial frame after delivery
  NodeId peer_id = kNoNode;  // the member the handshake proved; kNoNode until known
  std::string remote;        // for log messages
};

}  // namespace

class Transport::Impl : public std::enable_shared_from_this<Transport::Impl> {
 public:
  Impl(asio::io_context& io, NodeId self, std::string listen_addr, std::string secret, Options opt)
      : io_(io),
        self_(self),
        listen_addr_(std::move(listen_addr)),
        secret_(std::move(secret)),
        opt_(std::move(opt)),
        security_(opt_.security),
        acceptor_(io),
        rng_(opt_.unreliable.seed) {}

  asio::io_context& io_;
  const NodeId self_;
  const std::string listen_addr_;
  const std::string secret_;
  const Options opt_;
  std::shared_ptr<PeerSecurity> security_;
  MessageHandler handler_;
  tcp::acceptor acceptor_;
  std::map<NodeId, std::shared_ptr<Peer>> peers_;
  // Inbound connections not yet tied to a member, by accept order: in their
  // handshake, or (while a --join placeholder is a peer) authenticated and
  // waiting for a first frame to name their sender.
  std::map<uint64_t, std::shared_ptr<Session>> pending_;
  // Authenticated inbound links, one per member.
  std::map<NodeId, std::shared_ptr<Session>> sessions_;
  uint64_t accept_seq_ = 0;
  std::set<std::shared_ptr<asio::steady_timer>> delayed_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint16_t> port_{0};
  Counters counters_;
  std::mt19937_64 rng_;

  // ---- names -----------------------------------------------------------

  std::string label(NodeId id) const { return opt_.node_label ? opt_.node_label(id) : std::to_string(id); }

  // For log lines: "node 2", or the --join placeholder.
  std::string who(NodeId id) const {
    std::string l = label(id);
    return l.empty() ? std::string("the member at the --join address") : "node " + l;
  }

  // The name `id` proves on a link; empty for a placeholder.
  std::string credential_name(NodeId id) const {
    std::string l = label(id);
    return l.empty() ? std::string() : peer_credential_name(l);
  }

  // While a placeholder is a peer (this node is joining and knows no member
  // ids yet), any node that authenticates may connect.
  bool accepting_any() const {
    return std::any_of(peers_.begin(), peers_.end(), [&](const auto& kv) { return label(kv.first).empty(); });
  }

  bool is_member(NodeId id) const { return id != self_ && peers_.count(id) != 0 && !credential_name(id).empty(); }

  // ---- lifecycle -------------------------------------------------------

  const char* mode_text() const {
    switch (security_->mode()) {
      case PeerSecurity::Mode::Certificates:
        return "TLS 1.3, certificates of the cluster CA";
      case PeerSecurity::Mode::SharedSecret:
        return "TLS 1.3, PSK from the cluster secret";
      case PeerSecurity::Mode::Insecure:
        return "INSECURE: --insecure-peers, anyone reaching this port can speak for any node";
    }
    return "";
  }

  util::Result<void> start() {
    if (stopped_) return util::make_error("raft transport: already stopped");
    if (started_) return {};
    if (!security_) {
      if (secret_.empty() && !opt_.insecure) {
        return util::make_error(
            "raft transport: no cluster secret configured; set one for every node, or pass --insecure-peers "
            "to run peers unauthenticated");
      }
      auto sec = secret_.empty() ? PeerSecurity::insecure(credential_name(self_))
                                 : PeerSecurity::with_secret(secret_, credential_name(self_));
      if (!sec) return util::make_error("raft transport: " + sec.error().message);
      security_ = *sec;
    }
    if (opt_.listen) {
      if (auto r = listen(); !r) return r;
    }
    started_ = true;
    for (auto& [id, peer] : peers_) connect(peer);
    return {};
  }

  util::Result<void> listen() {
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
    spdlog::info("raft transport: {} listening on {}:{} ({})", who(self_), ep.address().to_string(), port_.load(),
                 mode_text());
    accept();
    return {};
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (auto& [id, peer] : peers_) close_peer(*peer);
    peers_.clear();
    for (const auto& [seq, s] : pending_) shut(*s);
    pending_.clear();
    for (const auto& [id, s] : sessions_) shut(*s);
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
        spdlog::info("raft transport: {} drops peer {} ({})", who(self_), who(it->first), it->second->addr);
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
    // A node no longer a member loses its inbound link at once: its
    // credential may still be valid, but it speaks for no one now.
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto s = (it++)->second;
      if (!is_member(s->peer_id)) {
        spdlog::info("raft transport: {} closes the link from {}: no longer a member", who(self_), who(s->peer_id));
        close_session(s);
      }
    }
  }

  void close_peer(Peer& p) {
    error_code ignored;
    p.state = Peer::State::Closed;
    ++p.generation;
    p.resolver.cancel();
    p.timer.cancel();
    p.deadline.cancel();
    if (p.stream) p.stream->lowest_layer().close(ignored);
    p.stream.reset();
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
      spdlog::error("raft transport: peer {}: {}; messages to it are dropped", who(p->id), hp.error().message);
      close_peer(*p);
      return;
    }
    p->state = Peer::State::Connecting;
    p->stream = std::make_shared<TlsStream>(io_, security_->context());
    p->stream->next_layer().set_budget(opt_.max_handshake_bytes);
    security_->prepare_client(p->stream->native_handle(), credential_name(p->id));
    uint64_t gen = p->generation;
    // One deadline for connecting and the handshake: an address that
    // swallows packets is retried instead of waited on.
    p->deadline.expires_after(opt_.handshake_timeout);
    p->deadline.async_wait([self = shared_from_this(), p, gen](const error_code& ec) {
      if (ec || self->stopped_ || gen != p->generation || p->state != Peer::State::Connecting) return;
      self->connection_failed(p, "connect and complete a TLS handshake with", asio::error::timed_out);
    });
    auto stream = p->stream;
    p->resolver.async_resolve(
        hp->first, std::to_string(hp->second),
        [self = shared_from_this(), p, gen, stream](const error_code& ec, const tcp::resolver::results_type& results) {
          if (self->stopped_ || gen != p->generation) return;
          if (ec) return self->connection_failed(p, "resolve", ec);
          asio::async_connect(stream->lowest_layer(), results,
                              [self, p, gen, stream](const error_code& ec2, const tcp::endpoint&) {
                                if (self->stopped_ || gen != p->generation) return;
                                if (ec2) return self->connection_failed(p, "connect to", ec2);
                                error_code ignored;
                                stream->lowest_layer().set_option(tcp::no_delay(true), ignored);
                                stream->async_handshake(ssl::stream_base::client, [self, p, gen,
                                                                                   stream](const error_code& ec3) {
                                  if (self->stopped_ || gen != p->generation) return;
                                  if (ec3) {
                                    if (is_tls_failure(ec3)) bump(self->counters_.auth_failures);
                                    return self->connection_failed(p, "complete a TLS handshake with", ec3);
                                  }
                                  self->connected(p);
                                });
                              });
        });
  }

  void connected(const std::shared_ptr<Peer>& p) {
    p->deadline.cancel();
    p->stream->next_layer().lift_budget();
    p->state = Peer::State::Connected;
    p->backoff = opt_.backoff_min;
    if (p->ever_connected) bump(counters_.reconnects);
    if (p->failures_in_a_row > 0 || p->ever_connected) {
      spdlog::info("raft transport: {} connected to peer {} at {}", who(self_), who(p->id), p->addr);
    }
    p->ever_connected = true;
    p->failures_in_a_row = 0;
    p->records_since_key_update = 0;
    watch_for_close(p);
    maybe_write(p);
  }

  // The peer never writes application data on our outbound connection, so
  // any completion of this read means the connection is gone (EOF after a
  // restart, a reset, or an alert: the peer refused our credential after its
  // side of the handshake). Without it a dead connection is only noticed on
  // the next failing write.
  void watch_for_close(const std::shared_ptr<Peer>& p) {
    uint64_t gen = p->generation;
    auto stream = p->stream;
    stream->async_read_some(asio::buffer(&p->probe, 1), [self = shared_from_this(), p, gen, stream](
                                                            const error_code& ec, std::size_t) {
      if (self->stopped_ || gen != p->generation) return;
      self->connection_lost(p, ec ? ec : asio::error::make_error_code(asio::error::eof));
    });
  }

  void connection_failed(const std::shared_ptr<Peer>& p, const char* step, const error_code& ec) {
    bump(counters_.connect_failures);
    ++p->failures_in_a_row;
    if (is_tls_failure(ec)) {
      if (worth_logging(p->failures_in_a_row)) {
        spdlog::warn("raft transport: {} cannot {} peer {} at {}: {}{}; retrying with backoff up to {} ms",
                     who(self_), step, who(p->id), p->addr, ec.message(), kRefusedHint, opt_.backoff_max.count());
      }
    } else if (p->failures_in_a_row == 1) {
      spdlog::info("raft transport: {} cannot {} peer {} at {}: {}; retrying with backoff up to {} ms", who(self_),
                   step, who(p->id), p->addr, ec.message(), opt_.backoff_max.count());
    } else {
      spdlog::debug("raft transport: peer {} at {}: {} failed again: {}", who(p->id), p->addr, step, ec.message());
    }
    schedule_reconnect(p);
  }

  void connection_lost(const std::shared_ptr<Peer>& p, const error_code& ec) {
    // In TLS 1.3 the server checks the client's certificate after the client
    // is done: its refusal arrives here, as an alert.
    spdlog::info("raft transport: {} lost connection to peer {} at {}: {}{}", who(self_), who(p->id), p->addr,
                 ec.message(), is_tls_failure(ec) ? kRefusedHint : "");
    schedule_reconnect(p);
  }

  // What to check when a handshake fails between nodes that should agree.
  static constexpr const char* kRefusedHint =
      " (both ends need the same cluster.secret, or certificates from the same CA naming each node; the peer "
      "accepts only current members: MEMBER ADD a new node before it joins)";

  void schedule_reconnect(const std::shared_ptr<Peer>& p) {
    error_code ignored;
    ++p->generation;  // orphan every handler of the old connection
    if (p->stream) p->stream->lowest_layer().close(ignored);
    p->stream.reset();
    p->deadline.cancel();
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
      spdlog::debug("raft transport: {} ignores a {} addressed to itself", who(self_), message_type_name(m.type));
      return;
    }
    auto it = peers_.find(m.to);
    if (it == peers_.end() || it->second->state == Peer::State::Closed) {
      uint64_t n = bump(counters_.dropped_no_peer);
      if (worth_logging(n)) {
        spdlog::warn("raft transport: {} has no address for {}; dropped {} (total {})", who(self_), who(m.to),
                     message_type_name(m.type), n);
      }
      return;
    }
    // A join request goes to an address whose node id the sender does not
    // know yet (kept under a placeholder id): it is addressed to no one.
    if (m.type == MessageType::JoinRequest) m.to = kNoNode;
    bool control = is_control_message(m.type);
    auto frame = std::make_shared<const std::string>(codec::encode_frame(m));
    if (frame->size() - codec::kLengthPrefixSize > opt_.max_frame_size) {
      // The receiver would cut the connection; better to lose one message.
      spdlog::error("raft transport: {} to {} is {} bytes, above the frame limit of {}; dropped",
                    message_type_name(m.type), who(m.to), frame->size(), opt_.max_frame_size);
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
      uint64_t n = bump(counters_.dropped_queue_full, dropped);
      if (worth_logging(n)) {
        spdlog::warn("raft transport: {}: send queue to peer {} is full; dropped {} frames so far", who(self_),
                     who(p->id), n);
      }
    }
    maybe_write(p);
  }

  // Writes queued frames as one batch. The TLS stream encrypts straight from
  // the frames' buffers: a frame of 8 KiB or more becomes records without a
  // copy; smaller ones are gathered (up to 8 KiB) into one record, which also
  // keeps the per-record overhead off small frames.
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
    auto stream = p->stream;
    // A batch takes at most a record per frame plus one per 16 KiB. The
    // KeyUpdate is sent ahead of the batch's first record; the peer only
    // reads on this link, so none is asked back.
    p->records_since_key_update += batch.size() + bytes / kMaxRecordPlaintext + 1;
    if (p->records_since_key_update >= opt_.key_update_records &&
        SSL_key_update(stream->native_handle(), SSL_KEY_UPDATE_NOT_REQUESTED) == 1) {
      p->records_since_key_update = 0;
      bump(counters_.key_updates);
    }
    // The batch rides in the handler so the bytes outlive the write even if
    // the connection is torn down meanwhile.
    asio::async_write(*stream, buffers,
                      [self = shared_from_this(), p, gen, stream, batch = std::move(batch)](const error_code& ec,
                                                                                             std::size_t) {
                        if (self->stopped_ || gen != p->generation) return;
                        p->writing = false;
                        if (ec) return self->connection_lost(p, ec);
                        bump(self->counters_.frames_sent, batch.size());
                        self->maybe_write(p);
                      });
  }

  static constexpr std::size_t kMaxRecordPlaintext = 16384;  // RFC 8446 §5.1

  // ---- inbound: accepting and authenticating ---------------------------

  void accept() {
    auto s = std::make_shared<Session>(io_, security_->context());
    acceptor_.async_accept(s->stream.lowest_layer(), [self = shared_from_this(), s](const error_code& ec) {
      if (self->stopped_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        // Typically out of file descriptors: pause instead of spinning.
        spdlog::warn("raft transport: {} accept failed: {}; retrying in 100 ms", self->who(self->self_), ec.message());
        auto timer = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(100));
        self->delayed_.insert(timer);
        timer->async_wait([self, timer](const error_code& ec2) {
          self->delayed_.erase(timer);
          if (!ec2 && !self->stopped_) self->accept();
        });
        return;
      }
      self->start_handshake(s);
      self->accept();
    });
  }

  void start_handshake(const std::shared_ptr<Session>& s) {
    error_code ignored;
    auto remote = s->stream.lowest_layer().remote_endpoint(ignored);
    s->remote = remote.address().to_string() + ":" + std::to_string(remote.port());
    s->stream.lowest_layer().set_option(tcp::no_delay(true), ignored);
    s->stream.next_layer().set_budget(opt_.max_handshake_bytes);
    s->seq = ++accept_seq_;
    pending_.emplace(s->seq, s);
    if (pending_.size() > opt_.max_pending_handshakes) displace_oldest_pending();
    // identify runs inside the handshake, on the io thread, while this
    // Impl is alive (the handshake's handler holds it).
    s->hs.identify = [this](const std::function<bool(const std::string&)>& proves) { return identify(proves); };
    security_->prepare_server(s->stream.native_handle(), &s->hs);
    s->deadline.expires_after(opt_.handshake_timeout);
    s->deadline.async_wait([self = shared_from_this(), s](const error_code& ec) {
      if (ec || self->stopped_ || s->closed || s->authenticated) return;
      self->refuse_slow(s, "did not complete its TLS handshake within " +
                               std::to_string(self->opt_.handshake_timeout.count()) + " ms");
    });
    s->stream.async_handshake(ssl::stream_base::server, [self = shared_from_this(), s](const error_code& ec) {
      self->handshake_done(s, ec);
    });
  }

  // Which current member a credential names: exactly one, or none (refused).
  // While joining (a placeholder peer), any authenticated node is let in,
  // its id to be read from its first frame.
  NodeId identify(const std::function<bool(const std::string&)>& proves) const {
    NodeId found = kNoNode;
    int matches = 0;
    for (const auto& [id, p] : peers_) {
      std::string name = credential_name(id);
      if (!name.empty() && proves(name)) {
        found = id;
        ++matches;
      }
    }
    if (matches == 1) return found;
    if (matches == 0 && accepting_any()) return kAnyNode;
    return kNoNode;
  }

  // Marks a session accepted while joining: authenticated, sender not known yet.
  static constexpr NodeId kAnyNode = std::numeric_limits<NodeId>::max() - 1;

  // Makes room for the newest connection (which always gets its chance):
  // the oldest other one that has sent nothing goes first (a real peer
  // speaks at once), else the oldest of all.
  void displace_oldest_pending() {
    std::shared_ptr<Session> victim;
    const uint64_t newest = pending_.rbegin()->first;
    for (const auto& [seq, s] : pending_) {
      if (seq != newest && !s->authenticated && s->stream.next_layer().bytes_in() == 0) {
        victim = s;
        break;
      }
    }
    if (!victim) victim = pending_.begin()->second;
    refuse_slow(victim, "was displaced by newer connections before it authenticated (" +
                            std::to_string(opt_.max_pending_handshakes) + " may wait)");
  }

  void refuse_slow(const std::shared_ptr<Session>& s, const std::string& why) {
    uint64_t n = bump(counters_.handshake_timeouts);
    if (worth_logging(n)) {
      spdlog::warn("raft transport: {} closed a connection from {} that {} ({} so far)", who(self_), s->remote, why, n);
    }
    close_session(s);
  }

  void refuse(const std::shared_ptr<Session>& s, const std::string& why) {
    uint64_t n = bump(counters_.auth_failures);
    if (worth_logging(n)) {
      spdlog::warn("raft transport: {} refused a peer connection from {}: {} ({} refused so far)", who(self_),
                   s->remote, why, n);
    }
    close_session(s);
  }

  void handshake_done(const std::shared_ptr<Session>& s, const error_code& ec) {
    if (stopped_ || s->closed) return;
    if (ec) {
      if (s->stream.next_layer().budget_spent()) {
        return refuse_slow(s, "sent more than " + std::to_string(opt_.max_handshake_bytes) +
                                  " bytes without completing a TLS handshake");
      }
      std::string why = "TLS handshake failed: " + ec.message();
      if (!s->hs.refusal.empty()) why += " (" + s->hs.refusal + ")";
      return refuse(s, why);
    }
    s->deadline.cancel();
    s->authenticated = true;
    s->stream.next_layer().lift_budget();
    // From here on a read first drains what has already arrived without
    // waiting (see read_frames), which needs a non-blocking socket.
    error_code nb;
    s->stream.lowest_layer().non_blocking(true, nb);
    if (nb) return refuse(s, "cannot make its socket non-blocking: " + nb.message());
    if (s->hs.peer == kAnyNode) {
      // Joining: kept among the pending until its first frame names it.
      read_frames(s);
      return;
    }
    // The member set may have changed during the handshake.
    if (!is_member(s->hs.peer)) return refuse(s, who(s->hs.peer) + " is not a member any more");
    pin(s, s->hs.peer);
    read_frames(s);
  }

  // Makes `s` the link of member `id`. A newer link from the same member
  // replaces the older: that member has given up on it (it reconnects only
  // after losing its connection).
  void pin(const std::shared_ptr<Session>& s, NodeId id) {
    pending_.erase(s->seq);
    s->peer_id = id;
    auto& slot = sessions_[id];
    if (slot && slot != s) {
      auto old = slot;
      slot = s;
      shut(*old);
    } else {
      slot = s;
    }
  }

  // Closes the socket; pending handlers see `closed` and do nothing more.
  static void shut(Session& s) {
    error_code ignored;
    s.closed = true;
    s.deadline.cancel();
    s.stream.lowest_layer().close(ignored);
  }

  void close_session(const std::shared_ptr<Session>& s) {
    shut(*s);
    pending_.erase(s->seq);
    auto it = sessions_.find(s->peer_id);
    if (it != sessions_.end() && it->second == s) sessions_.erase(it);
  }

  // ---- inbound: frames -------------------------------------------------

  // Reads what has arrived, at most kReadStep bytes at a time (more only to
  // finish one large frame, in steps of at most kBodyStep, so a peer
  // announcing a 64 MiB frame and sending nothing costs one step of memory),
  // and delivers every complete frame in one go. Frames that queued up while
  // the io thread was busy (an fsync) thus all reach the node before its next
  // Ready, and share that Ready's fsync (group commit); read one at a time,
  // each would get a Ready and an fsync of its own. TLS hands out at most one
  // record (16 KiB) per read, so after the first read completes the rest of
  // what has arrived is drained without waiting.
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
    s->stream.async_read_some(asio::buffer(s->in.data() + have, step), [self = shared_from_this(), s, have, step](
                                                                            const error_code& ec, std::size_t n) {
      if (self->stopped_ || s->closed) return;
      if (ec) return self->close_session(s);
      std::size_t got = n;
      error_code more;
      while (got < step) {
        std::size_t m = s->stream.read_some(asio::buffer(s->in.data() + have + got, step - got), more);
        got += m;
        if (more || m == 0) break;
      }
      s->in.resize(have + got);
      if (!self->deliver_frames(s)) return self->close_session(s);
      if (self->stopped_ || s->closed) return;
      if (more && more != asio::error::would_block && more != asio::error::try_again) {
        return self->close_session(s);
      }
      self->read_frames(s);
    });
  }

  // Hands every complete frame in the buffer to the handler, in order, and
  // keeps the rest. Returns false when the connection must be closed.
  bool deliver_frames(const std::shared_ptr<Session>& s) {
    std::size_t pos = 0;
    while (!stopped_ && !s->closed && s->in.size() - pos >= codec::kLengthPrefixSize) {
      uint8_t prefix[codec::kLengthPrefixSize];
      std::memcpy(prefix, s->in.data() + pos, codec::kLengthPrefixSize);
      auto len = codec::parse_frame_length(prefix, opt_.max_frame_size);
      if (!len) {
        // Framing is lost: nothing after this point can be trusted.
        bump(counters_.decode_failures);
        spdlog::warn("raft transport: {} closes the link from {}: {}", who(self_), s->remote, len.error().message);
        return false;
      }
      if (s->in.size() - pos - codec::kLengthPrefixSize < *len) break;
      if (!handle_frame(s, std::string_view(s->in).substr(pos + codec::kLengthPrefixSize, *len))) return false;
      pos += codec::kLengthPrefixSize + *len;
    }
    if (s->closed) return false;
    s->in.erase(0, pos);
    // Do not keep a multi-megabyte buffer per idle connection.
    if (s->in.capacity() > kBodyStep && s->in.size() <= kReadStep) std::string(s->in).swap(s->in);
    return true;
  }

  // Returns false when the connection must be closed.
  bool handle_frame(const std::shared_ptr<Session>& s, std::string_view body) {
    auto opened = codec::open_frame(body);
    if (opened.error != codec::FrameError::None) {
      uint64_t n = bump(counters_.decode_failures);
      if (worth_logging(n)) {
        spdlog::warn("raft transport: {} dropped a frame from {}: {} ({} so far)", who(self_), s->remote,
                     opened.reason, n);
      }
      return true;
    }
    Message& m = opened.message;
    // A joining node does not know the id of the member it asks, so a
    // JoinRequest alone may be addressed to no one in particular.
    bool join_to_anyone = m.type == MessageType::JoinRequest && m.to == kNoNode;
    if ((m.to != self_ && !join_to_anyone) || m.from == kNoNode || m.from == self_) {
      uint64_t n = bump(counters_.decode_failures);
      if (worth_logging(n)) {
        spdlog::warn("raft transport: {} dropped a {} from {} claiming to be from node {} to node {}", who(self_),
                     message_type_name(m.type), s->remote, m.from, m.to);
      }
      return true;
    }
    if (s->peer_id == kNoNode) {
      // Accepted while joining: the first frame names the sender, which its
      // credential must prove.
      std::string name = credential_name(m.from);
      if (!security_->client_proves(s->stream.native_handle(), s->hs, name) ||
          !(is_member(m.from) || accepting_any())) {
        return refuse_frame(s, m);
      }
      pin(s, m.from);
    } else if (m.from != s->peer_id) {
      // The link belongs to the member its handshake named: a frame claiming
      // another sender is a forgery, and the whole link is suspect.
      return refuse_frame(s, m);
    }
    bump(counters_.frames_received);
    if (handler_) handler_(std::move(m));
    return true;
  }

  bool refuse_frame(const std::shared_ptr<Session>& s, const Message& m) {
    uint64_t n = bump(counters_.auth_failures);
    if (worth_logging(n)) {
      const std::string as = s->peer_id == kNoNode ? std::string("a joining node's peer") : who(s->peer_id);
      spdlog::warn("raft transport: {} closes the link from {}: authenticated as {}, it sent a {} claiming to be "
                   "from node {} ({} refused so far)",
                   who(self_), s->remote, as, message_type_name(m.type), label(m.from), n);
    }
    return false;
  }

  TransportStats stats() const {
    auto ld = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    TransportStats s;
    s.frames_sent = ld(counters_.frames_sent);
    s.frames_received = ld(counters_.frames_received);
    s.auth_failures = ld(counters_.auth_failures);
    s.handshake_timeouts = ld(counters_.handshake_timeouts);
    s.decode_failures = ld(counters_.decode_failures);
    s.dropped_queue_full = ld(counters_.dropped_queue_full);
    s.dropped_no_peer = ld(counters_.dropped_no_peer);
    s.dropped_unreliable = ld(counters_.dropped_unreliable);
    s.reconnects = ld(counters_.reconnects);
    s.connect_failures = ld(counters_.connect_failures);
    s.key_updates = ld(counters_.key_updates);
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
