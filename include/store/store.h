// The replicated state machine: the record store, changed only by apply,
// read by queries through immutable snapshots swapped in atomically.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/change.h"
#include "zone/zone_set.h"

namespace store {

/// RFC 1982 serial number arithmetic: whether `a` is newer than `b`.
inline bool serial_newer(uint32_t a, uint32_t b) { return a != b && static_cast<uint32_t>(a - b) < 0x80000000u; }

/// What applying one change did: per op, empty on success or the reason.
/// For an UPDATE (Change::update): `rcode` is the RFC 2136 outcome
/// (NOERROR, NXRRSET, YXRRSET, NXDOMAIN, YXDOMAIN, NOTZONE, NOTAUTH, SERVFAIL)
/// and op_errors holds one entry with the reason when it is not NOERROR.
struct ApplyResult {
  std::vector<std::string> op_errors;  // one entry per op, "" when it applied
  bool duplicate = false;              // already applied earlier; results are the earlier ones
  bool stale = false;                  // below its session's last sequence: refused, not applied (see session.h)
  uint16_t rcode = 0;                  // DNS rcode of the outcome; 0 (NOERROR) for plain ops
  bool all_ok() const;
  /// First error, or "" when every op applied.
  std::string first_error() const;
};

/// Every committed change that modifies a zone advances the zone's SOA serial
/// by one (RFC 1982), unless the change itself set a newer serial; an SOA
/// added with a serial not newer than the current one keeps the current one.
/// The record store. One writer (the apply loop) and many readers (query
/// threads). Readers call snapshot() or, on the hot path, check generation()
/// and keep their snapshot until it moves.
class Store {
 public:
  Store();

  /// The current version of the records. Never blocks on the writer.
  std::shared_ptr<const zone::ZoneSet> snapshot() const { return current_.load(std::memory_order_acquire); }
  /// Increases each time a new version is published.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  /// Applies a change committed at log `index` and publishes the result.
  ApplyResult apply(const Change& change, uint64_t index);
  /// Applies several committed changes and publishes once (group apply).
  std::vector<ApplyResult> apply_batch(const std::vector<std::pair<Change, uint64_t>>& changes);

  /// Highest log index applied.
  uint64_t applied_index() const { return applied_index_.load(std::memory_order_acquire); }

  /// The whole state (records, applied index, dedupe table) as bytes, for a
  /// checkpoint or a Raft snapshot; restore() is its inverse.
  std::string serialize() const;
  util::Result<void> restore(std::string_view bytes);


  /// A digest of the records, equal on nodes that hold the same records.
  std::string digest() const;

 private:
  /// The outcome of a client's last change, kept to answer its retries. Only
  /// the ops that failed are kept: a zone file seeds the cluster as one change
  /// of a million ops, and a string per op would cost 32 MB on every node.
  struct Dedupe {
    uint64_t sequence = 0;
    uint32_t op_count = 0;
    std::vector<std::pair<uint32_t, std::string>> failed_ops;  // (op index, reason)
    uint16_t rcode = 0;
    void keep(const std::vector<std::string>& op_errors);
    std::vector<std::string> op_errors() const;
  };
  ApplyResult apply_one(zone::ZoneSet& next, const Change& change);
  void publish(zone::ZoneSet next, uint64_t index);

  std::atomic<std::shared_ptr<const zone::ZoneSet>> current_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> applied_index_{0};
  std::map<std::pair<uint32_t, uint64_t>, Dedupe> dedupe_;  // (origin, client) -> last
};

}  // namespace store
