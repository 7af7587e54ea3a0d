// The cluster as a secondary of an outside primary, the parts without
// sockets or clocks: the SOA refresh timers (RFC 1034 §4.3.5) as a state
// machine, the SOA query and the AXFR/IXFR exchange from the client's side
// with TSIG on every message (RFC 5936, RFC 1995, RFC 8945 §5.3.1), and the
// one change that brings the cluster's copy of a zone to the primary's
// version. server/zone_follower.h drives them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rr.h"
#include "dns/tsig.h"
#include "server/xfr.h"
#include "store/change.h"
#include "zone/zone_set.h"

namespace server {

/// The refresh, retry and expire intervals of a zone's SOA (RFC 1035
/// §3.3.13), in seconds.
struct SoaTimers {
  uint32_t refresh = 0, retry = 0, expire = 0;
  static SoaTimers of(const dns::SoaFields& soa) { return {soa.refresh, soa.retry, soa.expire}; }
};

/// When the leader checks a secondary zone's primary (RFC 1034 §4.3.5): at
/// once when it starts leading and on NOTIFY (RFC 1996 §3.11), `refresh`
/// seconds after a check that found the zone current, `retry` seconds after
/// one that failed. The zone is expired once no check has succeeded for
/// `expire` seconds; checks go on at `retry` (the cluster keeps answering
/// from its copy: docs/config.md, "zones"). Time comes in as milliseconds
/// on any monotonic clock; the caller does the checking.
class RefreshTimer {
 public:
  enum class State : uint8_t {
    Standby,   // this node does not lead: another one follows the primary
    Checking,  // a check (SOA query, maybe a transfer) is under way
    Current,   // the last check found the zone current
    Retrying,  // the last check failed; the zone has not expired
    Expired,   // no check has succeeded for `expire` seconds
  };

  /// Used before the zone has an SOA (nothing held yet): retry this often.
  static constexpr uint32_t kRetryWithoutZoneSeconds = 10;
  /// Intervals are taken as at least this (an SOA with refresh 0 must not
  /// make the leader query its primary in a loop).
  static constexpr uint32_t kMinIntervalSeconds = 1;

  /// This node now leads: a check is due at once. A new leader does not
  /// know when its predecessor last succeeded: expire counts from now.
  void lead(uint64_t now_ms);
  /// This node no longer leads: nothing is due until lead().
  void stand_by();
  /// A NOTIFY from the primary: a check is due at once, or, during a check,
  /// once more as soon as it ends (the primary may have moved meanwhile).
  void notified(uint64_t now_ms);
  /// Starts the check if one is due at `now_ms`; returns whether it did.
  bool begin(uint64_t now_ms);
  /// The check found the zone current (after a transfer, maybe): the next
  /// is due after `timers.refresh`.
  void succeeded(uint64_t now_ms, const SoaTimers& timers);
  /// The check failed: the next is due after the retry of `timers` (the
  /// zone held), or kRetryWithoutZoneSeconds without one.
  void failed(uint64_t now_ms, const std::optional<SoaTimers>& timers);
  /// The check learnt nothing about the primary (its transfer was computed
  /// against a version the cluster has since left): check again at once.
  void again(uint64_t now_ms);

  State state(uint64_t now_ms) const;
  /// When begin() will next start a check; UINT64_MAX when none is
  /// scheduled (standing by, or checking).
  uint64_t next_check_ms() const;
  bool leading() const { return leading_; }

 private:
  void schedule(uint64_t now_ms, uint32_t seconds);

  bool leading_ = false;
  bool checking_ = false;
  bool recheck_ = false;       // a NOTIFY came during the check
  bool last_ok_ = false;       // the last finished check succeeded
  uint64_t next_ms_ = UINT64_MAX;
  uint64_t last_success_ms_ = 0;  // or the moment leading began
  uint32_t expire_s_ = 0;         // of the zone held; 0: never expires (nothing held)
};

const char* state_name(RefreshTimer::State state);

/// Why a check or a transfer failed, for what follows (fall back to AXFR,
/// retry later) and for the log.
struct TransferError {
  enum class Kind : uint8_t {
    Network,    // no answer in time, connection refused or cut
    Rcode,      // the primary answered with an error rcode (`rcode`)
    Tsig,       // a message did not verify, or was unsigned where a key is configured
    Malformed,  // not a well-formed answer (RFC 5936 §2.2, RFC 1995 §4)
    Diverged,   // an IXFR whose diffs do not fit the zone the cluster holds
  };
  Kind kind = Kind::Network;
  uint16_t rcode = 0;
  std::string message;
};

/// RFC 1034 §4.3.5: the SOA query a secondary sends to learn its primary's
/// serial, signed when a key is given, and the check of its answer.
class SoaQuery {
 public:
  SoaQuery(const dns::Name& zone, const dns::tsig::Key* key, uint16_t id, uint64_t now);
  const std::string& request() const { return request_; }
  /// Whether `msg` answers this query (its ID and question): anything else
  /// arriving on the socket is ignored.
  bool matches(const uint8_t* msg, size_t len) const;
  /// Reads the answer: the primary's SOA, or why not.
  std::optional<TransferError> read(const uint8_t* msg, size_t len, uint64_t now);
  /// The SOA read (valid after read() returned no error).
  const dns::RR& soa() const { return soa_; }
  /// The answer had TC set (RFC 1035 §4.2.1): ask again over TCP.
  bool truncated() const { return truncated_; }

 private:
  dns::Name zone_;
  const dns::tsig::Key* key_;
  uint16_t id_;
  std::string request_, request_mac_;
  dns::RR soa_;
  bool truncated_ = false;
};

/// One AXFR (RFC 5936) or IXFR (RFC 1995) exchange from the client's side:
/// the request, signed when a key is given, and the answer read message by
/// message, each checked (ID, rcode, TSIG as a stream, RFC 8945 §5.3.1)
/// before its records go to a TransferReader.
class TransferExchange {
 public:
  /// IXFR when `held` (the SOA of the zone the cluster holds) is given: it
  /// goes in the authority section (RFC 1995 §3). AXFR otherwise.
  TransferExchange(const dns::Name& zone, const std::optional<dns::RR>& held, const dns::tsig::Key* key, uint16_t id,
                   uint64_t now);
  const std::string& request() const { return request_; }
  bool ixfr() const { return ixfr_; }
  /// Adds the next message of the answer; after an error the exchange is over.
  std::optional<TransferError> add(const uint8_t* msg, size_t len, uint64_t now);
  /// The final SOA arrived and, when signed, the last message verified.
  bool done() const { return reader_.done() && (!verifier_ || verifier_->complete()); }
  const TransferReader& reader() const { return reader_; }
  size_t messages() const { return messages_; }

 private:
  dns::Name zone_;
  bool ixfr_;
  const dns::tsig::Key* key_;
  uint16_t id_;
  std::string request_;
  std::unique_ptr<dns::tsig::StreamVerifier> verifier_;
  TransferReader reader_;
  size_t messages_ = 0;
};

/// What a received transfer does to the cluster's copy of a zone.
struct TransferPlan {
  store::Change change;  // ops and the TransferIn marker; not stamped yet
  std::optional<uint32_t> from_serial;  // of the zone held (nullopt: none)
  uint32_t to_serial = 0;
  size_t removed = 0, added = 0;  // records, SOA excluded
  size_t skipped = 0;  // records outside the zone, or in a zone nested in it that the cluster serves on its own
};

/// The one change that takes zone `apex` as `zones` holds it to the version
/// `reader` received: for a whole zone (AXFR, or IXFR answered in full) the
/// effective difference from the records held; for diffs (IXFR), their net
/// effect, checked against the records held (RFC 1995 §4: a diff that
/// removes a record the zone lacks or adds one it has means the copies
/// diverged: Kind::Diverged, and the caller asks AXFR). Ops: the new SOA,
/// then removals, then additions (so a name can trade its records for a
/// CNAME). A record whose TTL changed is added again with the new TTL.
/// The change carries store::TransferIn, so apply refuses it if the zone
/// moved meanwhile and stores the primary's SOA as it is.
std::optional<TransferError> plan_transfer(const zone::ZoneSet& zones, const dns::Name& apex,
                                           const TransferReader& reader, TransferPlan& plan);

}  // namespace server
