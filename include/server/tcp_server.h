// DNS over TCP (RFC 7766): length-framed queries, several per connection,
// each answered as it arrives; idle and per-message timeouts, connection
// cap, output bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "dns/tsig.h"
#include "server/listen_address.h"
#include "server/query_stats.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

class UpdateHandler;
class XfrHandler;
class ZoneFollower;

struct TcpOptions {
  ListenAddress address;
  uint32_t idle_timeout_ms = 10000;      // close a connection silent this long (RFC 7766 §6.2.3)
  uint32_t max_connections = 1000;       // newer connections beyond this are closed at once
  uint32_t max_buffered_output = 256 * 1024;  // queued answers before reading pauses
  bool query_log = false;
  // Once the first byte of a message has arrived, the whole message must
  // arrive within this time, or the connection is closed: the idle timeout
  // alone restarts on every byte, so a client dripping bytes would hold its
  // connection forever (NSD's tcp-timeout, Knot's tcp-io-timeout).
  uint32_t message_timeout_ms = 5000;
  std::vector<dns::tsig::Key> tsig_keys;  // keys signed queries may use (RFC 8945)
};

/// The TCP listener: one event-loop thread. bind() first, then start().
class TcpServer {
 public:
  TcpServer(const store::Store& store, QueryStats& stats, TcpOptions options);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /// Opens, binds and listens. The error names the address.
  util::Result<void> bind();
  /// RFC 2136 UPDATE messages go to `handler`; their answers are written on
  /// the connection when the change is committed. Call before start().
  void set_update_handler(UpdateHandler* handler);
  /// AXFR and IXFR requests go to `handler`, which streams the response as
  /// the connection's output drains. Call before start().
  void set_xfr_handler(XfrHandler* handler);
  /// RFC 1996 NOTIFY messages go to `follower`, answered at once. Call
  /// before start().
  void set_notify_handler(ZoneFollower* follower);
  void start();
  void stop();

  /// Connections open now, and refused so far because of the cap.
  size_t open_connections() const;
  uint64_t refused_connections() const;

  struct Impl;  // the event loop and its state, in tcp_server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
