// Raft peer transport over TLS 1.3 (Boost.Asio and OpenSSL): one outbound
// connection per peer with reconnect and backoff, bounded priority queues,
// length-prefixed frames (raft/codec.h), and optional fault injection for
// tests.
//
// Authentication (raft/peer_security.h): every link is a TLS 1.3 connection,
// authenticated by certificates from the cluster CA or by a PSK derived from
// the cluster secret. Links are one-way: a node writes frames only on the
// connection it opened, and reads only on connections it accepted. The
// accepting end learns at the handshake which member connected (the name in
// its certificate, or the PSK identity it claims), refuses names that are not
// in the current peer set (set_peers), and drops a connection whose frames
// claim another sender. Nothing from a connection is parsed as a frame before
// its handshake has completed.
//
// Before the handshake: a connection must complete it within
// Options::handshake_timeout and may send at most
// Options::max_handshake_bytes; at most Options::max_pending_handshakes such
// connections are kept, and a new one displaces the oldest other (one that
// has sent nothing first). Authenticated links are kept apart, one per member (a
// newer link from the same member replaces the older), so connections that
// never authenticate cannot keep a member out.
//
// Threading: every member function except stats() and listen_port() must be
// called on the thread running the io_context (the node runs one io thread
// for Raft I/O). send() is the exception that may be called from any thread:
// off the io thread it posts itself there. on_message is always invoked on
// the io thread. Destroy the Transport on the io thread, or after the
// io_context has stopped; no callback runs after stop() or destruction. The
// io_context must outlive the Transport.
//
// Queueing: each peer has two queues, written in strict priority order on a
// single connection. The control queue (votes, heartbeats and every response,
// TimeoutNow, ReadIndex, AppliedReport) is always drained before the bulk
// queue (Append, Snapshot chunks, Forward), and at most one bulk write batch
// (<= Options::max_write_batch_bytes plus one frame) can be on the wire ahead
// of a newly queued control message. So a heartbeat never waits behind a
// snapshot backlog. Messages may be reordered between the two classes, never
// within one; Raft tolerates that.
//
// Loss: when a peer's queues exceed their frame or byte bound, the oldest bulk
// frames are dropped first (Raft resends appends and snapshot chunks), then the
// oldest control frames; a single message larger than the byte bound is
// dropped on arrival. Every drop is counted in dropped_queue_full. Frames in
// flight on a connection that fails are lost, not retried.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "raft/codec.h"
#include "raft/peer_security.h"
#include "raft/types.h"
#include "util/result.h"

namespace raft {

/// Fault injection applied to this node's outgoing peer messages. Off unless
/// a probability or a delay is non-zero. Parsed from
/// `--unreliable drop=0.2,dup=0.05,delay=5-50ms[,seed=7]`.
struct UnreliableOptions {
  double drop = 0.0;          // probability a message is silently dropped
  double dup = 0.0;           // probability a (not dropped) message is sent twice
  uint32_t delay_min_ms = 0;  // each copy is held back a uniform random
  uint32_t delay_max_ms = 0;  //   time in [min, max] ms (reorders messages)
  uint64_t seed = 1;          // PRNG seed, so a faulty run can be replayed

  bool enabled() const { return drop > 0.0 || dup > 0.0 || delay_max_ms > 0; }
};

/// Parses "drop=P,dup=P,delay=A-Bms,seed=N" (any subset, any order, at least
/// one key). P in [0,1]; delay is "A-Bms", "A-B" or a single "Ams" (ms).
/// Errors name the offending key: "unreliable: drop must be in [0,1], got 1.5".
util::Result<UnreliableOptions> parse_unreliable_spec(std::string_view spec);

/// Counters, monotonically increasing over the transport's lifetime.
struct TransportStats {
  uint64_t frames_sent = 0;           // frames fully written to a peer socket
  uint64_t frames_received = 0;       // frames decoded and delivered
  uint64_t auth_failures = 0;         // TLS handshakes that failed (either end), connections naming no current
                                      // member, frames claiming a sender other than the link's member
  uint64_t handshake_timeouts = 0;    // inbound connections closed before authenticating: past the deadline,
                                      // over the byte bound, or displaced by newer ones
  uint64_t decode_failures = 0;       // frames that failed to decode, bad lengths, misaddressed frames
  uint64_t dropped_queue_full = 0;    // frames dropped because a peer queue was full (or above max_frame_size)
  uint64_t dropped_no_peer = 0;       // send() to a node not in the peer map
  uint64_t dropped_unreliable = 0;    // frames dropped by fault injection
  uint64_t reconnects = 0;            // outbound connections established after a previous one was lost
  uint64_t connect_failures = 0;      // failed outbound connection attempts
  uint64_t key_updates = 0;           // TLS key updates sent on outbound links (Options::key_update_records)
};

/// Peer TCP transport of one Raft node. See the file comment for threading,
/// queueing and loss rules.
class Transport {
 public:
  /// Tunables. Defaults suit a small cluster on a LAN.
  struct Options {
    /// Largest frame body accepted or sent (see codec::kDefaultMaxFrameSize).
    std::size_t max_frame_size = codec::kDefaultMaxFrameSize;
    /// Bounds on each peer's queued (not yet written) frames, both queues together.
    std::size_t max_queue_frames = 4096;
    std::size_t max_queue_bytes = 256u << 20;
    /// Upper bound on the bytes handed to one socket write (one frame is always allowed).
    std::size_t max_write_batch_bytes = 256u << 10;
    /// A connection (either way) must finish its TLS handshake within this.
    std::chrono::milliseconds handshake_timeout{3000};
    /// Bytes an inbound connection may send before it has authenticated.
    std::size_t max_handshake_bytes = 16u << 10;
    /// Inbound connections still in their handshake; one more displaces the
    /// oldest. Authenticated links do not count.
    std::size_t max_pending_handshakes = 64;
    /// An outbound link renews its sending key (TLS 1.3 KeyUpdate, RFC 8446
    /// §4.6.3) after about this many records: well within the 2^24.5 records
    /// that AES-GCM may protect under one key (§5.5), which a busy link that
    /// lives for days would otherwise exceed.
    uint64_t key_update_records = uint64_t{1} << 22;
    /// Reconnect backoff: doubles from min to max after each failure, resets on success.
    std::chrono::milliseconds backoff_min{50};
    std::chrono::milliseconds backoff_max{2000};
    /// Must be set to run without a secret (`--insecure-peers`).
    bool insecure = false;
    /// False: start() opens no port (a one-node cluster with nothing to
    /// authenticate peers with); outbound links still work.
    bool listen = true;
    /// The TLS settings; when null, start() derives them from the secret
    /// (or the insecure key) given to the constructor.
    std::shared_ptr<PeerSecurity> security;
    /// How logs and credentials name a node: its label (the config's node
    /// id), so that the node proves the name peer_credential_name(label).
    /// Empty for a placeholder peer whose id is not known (a --join address):
    /// any member's credential is accepted from it, and while one is in the
    /// peer set, any node that authenticates may connect (its id is taken
    /// from its first frame and checked against its credential). Default:
    /// the NodeId in decimal.
    std::function<std::string(NodeId)> node_label;
    /// Fault injection on outgoing messages; off by default.
    UnreliableOptions unreliable;
  };

  /// Peer node id -> "host:port" ("10.0.0.2:7000", "[::1]:7000", "node2:7000").
  using PeerMap = std::map<NodeId, std::string>;
  /// Delivery callback; runs on the io thread.
  using MessageHandler = std::function<void(Message)>;

  /// Creates an idle transport. Nothing is bound or connected until start().
  /// `listen_addr` is "host:port"; port 0 picks an ephemeral port (see listen_port()).
  /// Links are authenticated by options.security, or else by a PSK from
  /// `secret`; an empty `secret` then requires options.insecure.
  Transport(boost::asio::io_context& io, NodeId self_id, std::string listen_addr, PeerMap peers,
            std::string secret, Options options);
  /// Calls stop().
  ~Transport();

  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Sets the delivery callback. Set it before start(); messages that arrive
  /// with no handler are dropped.
  void on_message(MessageHandler handler);

  /// Binds and listens, then starts connecting to every peer. Fails with a
  /// clear message on a bad address, a port in use, or a missing secret.
  /// Logs the mode of authentication.
  util::Result<void> start();

  /// Closes every socket and timer. Idempotent; queued frames are discarded.
  void stop();

  /// Queues `m` for m.to. Never blocks; may drop (counted). Messages to
  /// self_id or to an unknown peer are dropped. Thread-safe (see file comment).
  void send(Message m);

  /// Replaces the peer set: new peers are connected, removed peers are
  /// disconnected (their inbound links too) and their queues discarded, a
  /// changed address reconnects. Only members of this set may connect. The
  /// own id, if present, is ignored.
  void set_peers(const PeerMap& peers);

  /// The port actually bound (useful with port 0); 0 before start().
  uint16_t listen_port() const;

  /// A copy of the counters. Safe from any thread.
  TransportStats stats() const;

  /// Frames currently queued for `peer` (both queues); 0 for an unknown peer.
  std::size_t queued_frames(NodeId peer) const;

  /// True when the outbound connection to `peer` is established (handshake done).
  bool connected(NodeId peer) const;

  class Impl;  // public only so the implementation's helpers can name it

 private:
  std::shared_ptr<Impl> impl_;
};

/// Which queue a message type rides in: true for control (votes, heartbeats,
/// responses), false for bulk (appends, snapshot chunks, forwarded proposals).
bool is_control_message(MessageType t);

/// Splits "host:port" / "[v6]:port" into host and port, with an error naming `addr`.
util::Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view addr);

}  // namespace raft
