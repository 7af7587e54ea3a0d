// Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) answered from one
// version of the store, as a stream of messages made one at a time, with the
// transfer ACL and TSIG (RFC 8945 §5.3.1) on every message.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/tsig.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/update.h"
#include "store/store.h"

namespace server {

/// Who may transfer a zone. Allowed when the source is in `allow` (if
/// given) and the request is signed with one of `keys` (if given); with
/// neither given, nobody is.
struct TransferAcl {
  std::optional<std::vector<Network>> allow;
  std::optional<std::vector<dns::Name>> keys;
};

/// Transfers served, by outcome, for /metrics. Bumped by the TCP loop.
struct TransferCounters {
  std::atomic<uint64_t> axfr{0};           // whole zone, asked as AXFR
  std::atomic<uint64_t> ixfr{0};           // diffs from the journal
  std::atomic<uint64_t> ixfr_full{0};      // IXFR answered with the whole zone (RFC 1995 §4)
  std::atomic<uint64_t> ixfr_uptodate{0};  // IXFR answered with the SOA alone
  std::atomic<uint64_t> refused{0};        // ACL said no (REFUSED)
  std::atomic<uint64_t> notauth{0};        // bad TSIG, or a zone not served (NOTAUTH)
};

struct XfrOptions {
  TransferAcl acl;                             // for zones without their own
  std::map<dns::Name, TransferAcl> zone_acls;  // per zone, already merged with `acl`
  std::vector<dns::tsig::Key> keys;            // every key the config defines
  uint16_t fudge = dns::tsig::kDefaultFudge;
  std::function<uint64_t()> now;               // seconds since the epoch; default the system clock
};

/// One transfer response: its messages, produced one at a time from the
/// version of the store it began with, so a transfer never mixes versions
/// and is never held in memory whole.
class XfrStream {
 public:
  virtual ~XfrStream() = default;
  /// Writes the next message into `out` (at most `cap` octets, 64 KiB at
  /// most used); returns its length, or 0 when the response is complete.
  virtual size_t next(uint8_t* out, size_t cap) = 0;
};

/// Starts AXFR/IXFR responses. Thread-safe (holds no mutable state but
/// its counters).
class XfrHandler {
 public:
  XfrHandler(const store::Store& store, XfrOptions options);

  /// Whether `packet` is a query for AXFR or IXFR (header and question only).
  static bool is_transfer(const uint8_t* packet, size_t len);

  /// The response to the transfer request `query` from `peer`: a stream of
  /// one message (a refusal, the SOA alone) or of the whole transfer.
  std::unique_ptr<XfrStream> start(const uint8_t* query, size_t len, const sockaddr* peer);

  const TransferCounters& counters() const { return counters_; }

 private:
  const store::Store& store_;
  XfrOptions options_;
  TransferCounters counters_;
};

/// Splits records into messages of at most `limit` octets (RFC 5936 §2.2:
/// as many records as fit, names compressed), the question in the first
/// only, `reserve` octets kept free at the end of each (for TSIG). Exposed
/// for tests; XfrStream builds on it.
class MessageSplitter {
 public:
  MessageSplitter(uint16_t id, uint16_t flags, const dns::Name& qname, uint16_t qtype, size_t limit, size_t reserve);
  /// Starts a message in `buf` (capacity >= limit).
  void begin(uint8_t* buf);
  /// Adds a record to the current message; false when it does not fit.
  bool add(const dns::Name& owner, uint16_t type, uint32_t ttl, std::string_view rdata);
  /// Records in the current message.
  size_t count() const { return count_; }
  /// Ends the current message; returns its length.
  size_t finish();

 private:
  uint16_t id_, flags_;
  dns::Name qname_;
  uint16_t qtype_;
  size_t limit_, reserve_;
  bool first_ = true;
  std::optional<dns::MessageWriter> writer_;
  size_t count_ = 0;
};

/// Reads the answer records of an AXFR or IXFR response message by message
/// (RFC 5936 §2.2, RFC 1995 §4), as a secondary does: the whole zone, the
/// SOA alone (IXFR: up to date), or the diffs from the requested serial.
/// Checks the sequence of SOAs as it goes; what it collects is what a
/// client then applies (a zone replaced, or diffs in order).
class TransferReader {
 public:
  enum class Kind { Pending, UpToDate, Full, Incremental };

  /// `ixfr_serial`: the serial an IXFR asked from; nullopt for AXFR.
  explicit TransferReader(std::optional<uint32_t> ixfr_serial = std::nullopt) : ixfr_serial_(ixfr_serial) {}

  /// Adds one message's answer records; the error says what is malformed.
  util::Result<void> add(const std::vector<dns::RR>& answers);
  /// Whether the response is complete (the final SOA arrived, or an IXFR
  /// was answered with the SOA alone).
  bool done() const { return done_; }
  Kind kind() const { return kind_; }

  const dns::RR& soa() const { return soa_; }                   // the new version's SOA
  const std::vector<dns::RR>& records() const { return records_; }  // Full: every record but the SOA
  const std::vector<store::Diff>& diffs() const { return diffs_; }  // Incremental: oldest first

 private:
  std::optional<uint32_t> ixfr_serial_;
  Kind kind_ = Kind::Pending;
  bool done_ = false;
  bool adding_ = false;  // Incremental: in the additions of the current diff
  size_t seen_ = 0;      // records so far
  dns::RR soa_;
  uint32_t serial_ = 0;
  std::vector<dns::RR> records_;
  std::vector<store::Diff> diffs_;
};

/// The transfer families of /metrics: transfers served by kind, NOTIFY
/// sent/answered/failed, and the journal depth of each zone.
void render_transfer_metrics(PrometheusWriter& w, const XfrHandler& xfr, const Notifier& notifier,
                             const store::Store& store);

}  // namespace server
