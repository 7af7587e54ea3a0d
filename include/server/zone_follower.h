// The cluster following outside primaries: while this node leads, each
// secondary zone is checked on its SOA timers and on NOTIFY (RFC 1996), and
// each transfer (IXFR with AXFR fallback, RFC 1995/5936) is committed as one
// change, so every node moves to the primary's serial together. The logic
// lives in server/secondary.h; this is the thread, the sockets and the
// counters around it.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/tsig.h"
#include "server/metrics.h"
#include "server/secondary.h"
#include "store/session.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

/// One zone the cluster copies from an outside primary.
struct FollowedZone {
  dns::Name zone;
  std::string host;                   // the primary: an IP literal
  uint16_t port = 53;
  std::optional<dns::tsig::Key> key;  // signs every request; every answer and NOTIFY must verify with it
  std::string primary_text() const;   // "192.0.2.1:53", "[2001:db8::1]:53"
};

struct FollowerOptions {
  std::vector<FollowedZone> zones;
  std::vector<dns::tsig::Key> keys;  // every configured key: a signed NOTIFY is verified with them
  uint32_t leader_poll_ms = 100;     // how often "am I the leader" is asked
  uint32_t timeout_ms = 3000;        // for one SOA answer, a connection, each message of a transfer
  uint32_t commit_timeout_ms = 60000;  // for a transfer's change to be applied here
  std::function<uint64_t()> unix_now;  // seconds since the epoch, for TSIG; default the system clock
};

/// Follows the primaries of `options.zones` from this node while
/// `is_leader` says it leads; answers every NOTIFY on any node. Runs its
/// own thread; answer_notify is called from the listeners' threads.
class ZoneFollower {
 public:
  /// `submit` takes the transfers' changes (node::ChangeSubmitter in the
  /// daemon, beneath the guard that refuses other changes to these zones).
  ZoneFollower(const store::Store& store, FollowerOptions options, std::function<bool()> is_leader,
               store::SubmitFn submit);
  ~ZoneFollower();
  ZoneFollower(const ZoneFollower&) = delete;
  ZoneFollower& operator=(const ZoneFollower&) = delete;

  void start();
  void stop();

  /// Whether `packet` is a NOTIFY request (opcode NOTIFY, QR clear),
  /// from the header alone.
  static bool is_notify(const uint8_t* packet, size_t len) {
    return len >= 12 && (packet[2] & 0x80) == 0 && ((packet[2] >> 3) & 0xF) == 4;
  }

  /// RFC 1996 §3.7-3.11 on the secondary's side: answers the NOTIFY
  /// `packet` from `peer` into `out` (`cap` octets) and returns the answer's
  /// length (0: nothing to send). NOERROR, signed like the request, when it
  /// names a followed zone, comes from that zone's primary address and
  /// verifies with its key (when one is configured); the leader then checks
  /// the zone at once. FORMERR, NOTAUTH (not a followed zone, or a bad TSIG)
  /// or REFUSED (another source, or unsigned where a key is required)
  /// otherwise.
  size_t answer_notify(const uint8_t* packet, size_t len, const sockaddr* peer, uint8_t* out, size_t cap);

  /// The refresh state of each followed zone, transfers received by kind
  /// and result, SOA checks and NOTIFY received, for /metrics.
  void render_metrics(PrometheusWriter& w) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace server
