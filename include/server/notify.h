// NOTIFY out (RFC 1996): after each new version of a zone, the leader tells
// the zone's secondaries, and retries with backoff until each answers.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/name.h"
#include "dns/tsig.h"
#include "store/store.h"

namespace server {

/// A secondary to notify: an IP literal and a port.
struct NotifyTarget {
  std::string host;
  uint16_t port = 53;
  bool operator==(const NotifyTarget& o) const { return host == o.host && port == o.port; }
  bool operator<(const NotifyTarget& o) const { return host != o.host ? host < o.host : port < o.port; }
  std::string to_string() const;
};

/// Whom to notify for one zone, and the key that signs the messages.
struct NotifyPolicy {
  std::vector<NotifyTarget> targets;
  std::optional<dns::tsig::Key> key;
};

struct NotifyOptions {
  NotifyPolicy policy;                           // zones without their own
  std::map<dns::Name, NotifyPolicy> zone_policies;  // per zone, already merged with `policy`
  uint32_t first_retry_ms = 1000;  // a NOTIFY unanswered this long is sent again,
  uint32_t max_retry_ms = 10000;   // the wait doubling each time up to this
  uint32_t verify_after_ms = 250;  // after an answer, when the secondary's SOA is asked (doubling)
  /// Every node's query address: a new serial is announced once each serves
  /// it, or after member_wait_ms (a node that is down cannot mislead a
  /// secondary). Empty: announced at once.
  std::vector<NotifyTarget> members;
  uint32_t member_wait_ms = 200;
  uint32_t poll_ms = 10;           // how often the store's version is checked
  uint32_t leader_poll_ms = 100;   // how often "am I the leader" is asked
};

/// NOTIFY counters for /metrics.
struct NotifyCounters {
  std::atomic<uint64_t> sent{0};      // messages sent, retries included
  std::atomic<uint64_t> answered{0};  // answered by the secondary with NOERROR
  std::atomic<uint64_t> failed{0};    // went unanswered in time, or answered with an error
};

/// Sends NOTIFY for every zone whose serial moved, from the leader only: a
/// secondary listing every node as its primary is notified once per change,
/// and a node that becomes leader notifies every zone once, taking over
/// whatever the previous leader may not have finished. A new serial is
/// announced once every node serves it, so a secondary that asks any node
/// finds it. Once a secondary has
/// answered, its SOA is asked; while it serves an older serial (it may have
/// asked a node that had not applied the change yet) it is notified again,
/// a few times at most. Runs its own thread.
class Notifier {
 public:
  /// `is_leader` is asked at most every leader_poll_ms, from the notifier's thread.
  Notifier(const store::Store& store, NotifyOptions options, std::function<bool()> is_leader);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  /// Opens the sockets; the error says why not.
  util::Result<void> start();
  void stop();

  const NotifyCounters& counters() const { return counters_; }

  /// The NOTIFY message for zone `apex` with its SOA (RFC 1996 §3.7), id `id`,
  /// signed with `key` when given. Exposed for tests.
  static std::string build(uint16_t id, const dns::RR& soa, const std::optional<dns::tsig::Key>& key, uint64_t now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  NotifyCounters counters_;
};

}  // namespace server
