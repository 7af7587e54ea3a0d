// DNS over UDP: one socket per worker thread (SO_REUSEPORT), batched
// receive and send, answers from each worker's cached snapshot.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "dns/message.h"
#include "dns/tsig.h"
#include "server/listen_address.h"
#include "server/query_stats.h"
#include "server/rrl.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

class UpdateHandler;
class ZoneFollower;

struct UdpOptions {
  ListenAddress address;
  unsigned threads = 1;
  bool query_log = false;  // one info line per query
  RrlOptions rrl;          // response rate limiting (on unless responses_per_second is 0)
  /// The largest answer sent, whatever EDNS size a client advertises
  /// (the config's "max_udp_payload"); larger answers go out truncated.
  uint16_t max_udp_payload = dns::kAdvertisedUdpSize;
  std::vector<dns::tsig::Key> tsig_keys;  // keys signed queries may use (RFC 8945)
};

/// The UDP listener. bind() first (so a busy port is reported before
/// anything is served), then start(); stop() joins the workers.
class UdpServer {
 public:
  UdpServer(const store::Store& store, QueryStats& stats, UdpOptions options);
  ~UdpServer();
  UdpServer(const UdpServer&) = delete;
  UdpServer& operator=(const UdpServer&) = delete;

  /// Opens and binds one socket per worker. The error names the address.
  util::Result<void> bind();
  /// RFC 2136 UPDATE messages go to `handler` (answered later, from its
  /// thread); without one they get NOTIMP. Call before start().
  void set_update_handler(UpdateHandler* handler) { update_ = handler; }
  /// RFC 1996 NOTIFY messages go to `follower` (answered at once); without
  /// one they get NOTIMP. Call before start().
  void set_notify_handler(ZoneFollower* follower) { notify_ = follower; }
  void start();
  void stop();
  /// Responses RRL dropped and sent truncated so far (0 when it is off).
  uint64_t rrl_dropped() const { return rrl_ ? rrl_->dropped() : 0; }
  uint64_t rrl_slipped() const { return rrl_ ? rrl_->slipped() : 0; }

 private:
  void worker(int fd, QueryCounters& counters);
  void hand_over_update(int fd, const uint8_t* packet, size_t len, const sockaddr_storage& peer, socklen_t peer_len);
  void answer_notify(int fd, const uint8_t* packet, size_t len, const sockaddr_storage& peer, socklen_t peer_len);

  const store::Store& store_;
  QueryStats& stats_;
  UdpOptions options_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  UpdateHandler* update_ = nullptr;
  ZoneFollower* notify_ = nullptr;
  std::unique_ptr<ResponseRateLimiter> rrl_;  // null when RRL is off
};

}  // namespace server
