// The replicated state machine: the record store, changed only by apply,
// read by queries through immutable snapshots swapped in atomically.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/change.h"
#include "store/journal.h"
#include "zone/zone_set.h"

namespace store {

/// One published version of the replicated state: the records, each zone's
/// journal leading to them, and the settings apply used. Immutable: a reader
/// holding it has one consistent view for as long as it needs (an AXFR
/// streams from it, an IXFR takes the diffs that match its records).
struct Version {
  zone::ZoneSet zones;
  std::map<std::string, std::shared_ptr<const ZoneJournal>> journals;  // by lower-cased apex wire
  Settings settings;

  /// The journal of the zone at `apex`, or null when it has none.
  const ZoneJournal* journal(const dns::Name& apex) const;
};

/// RFC 9432 §4.1: a catalog member's id, the label under "zones." that
/// names the member zone: a hash of the zone's name, so every node derives
/// the same one (SHA-1 of the lower-cased wire name, in hex, as BIND does).
std::string catalog_member_id(const dns::Name& zone);

/// What applying one change did: per op, empty on success or the reason.
/// For an UPDATE (Change::update): `rcode` is the RFC 2136 outcome
/// (NOERROR, NXRRSET, YXRRSET, NXDOMAIN, YXDOMAIN, NOTZONE, NOTAUTH, SERVFAIL)
/// and op_errors holds one entry with the reason when it is not NOERROR.
struct ApplyResult {
  std::vector<std::string> op_errors;  // one entry per op, "" when it applied
  /// The kind of each op's failure, at the same positions (absent: Invalid).
  std::vector<util::ErrorKind> op_kinds;
  bool duplicate = false;              // already applied earlier; results are the earlier ones
  bool stale = false;                  // below its session's last sequence: refused, not applied (see session.h)
  bool expired = false;                // its session was forgotten: refused, not applied by this copy
  uint16_t rcode = 0;                  // DNS rcode of the outcome; 0 (NOERROR) for plain ops
  bool all_ok() const;
  /// First error, or "" when every op applied.
  std::string first_error() const;
  /// The kind of op `i`'s failure.
  util::ErrorKind kind(size_t i) const { return i < op_kinds.size() ? op_kinds[i] : util::ErrorKind::Invalid; }
  /// The first failure as an error value, or nullopt when every op applied.
  std::optional<util::Error> first_failure() const;
};

/// Bounds of the client-session table (store/session.h; Raft dissertation
/// §6.3). Apply forgets sessions by them, so every node must use the same.
struct SessionLimits {
  /// A session whose last change is older than this, in log time (the
  /// highest Change::time_ms applied so far), is forgotten.
  uint64_t idle_ms = 3'600'000;
  /// Beyond this many sessions the least recently used is forgotten.
  size_t max_sessions = 10'000;
};

/// Every committed change that modifies a zone advances the zone's SOA serial
/// by the zone's serial policy (RFC 1982), unless the change itself set a
/// newer serial; an SOA added with a serial not newer than the current one
/// keeps the current one. A change whose operations cancel out leaves the
/// zone's serial alone. A transfer from an outside primary (Change::transfer)
/// stores the SOA it carries as it is, whatever its serial. Each new version
/// of a zone that existed before the change is recorded in the zone's journal.
/// The record store. One writer (the apply loop) and many readers (query
/// threads). Readers call snapshot() or, on the hot path, check generation()
/// and keep their snapshot until it moves.
class Store {
 public:
  explicit Store(SessionLimits limits = {}, JournalLimits journal = {});

  /// The current version of the records. Never blocks on the writer.
  std::shared_ptr<const zone::ZoneSet> snapshot() const {
    auto v = current_.load(std::memory_order_acquire);
    return std::shared_ptr<const zone::ZoneSet>(v, &v->zones);
  }
  /// The current version with its journals and settings.
  std::shared_ptr<const Version> version() const { return current_.load(std::memory_order_acquire); }
  /// Increases each time a new version is published.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  /// Applies a change committed at log `index` and publishes the result.
  ApplyResult apply(const Change& change, uint64_t index);
  /// Applies several committed changes and publishes once (group apply).
  std::vector<ApplyResult> apply_batch(const std::vector<std::pair<Change, uint64_t>>& changes);

  /// Highest log index applied.
  uint64_t applied_index() const { return applied_index_.load(std::memory_order_acquire); }

  /// The whole state (records, applied index, dedupe table, settings,
  /// journals) as bytes, for a
  /// checkpoint or a Raft snapshot; restore() is its inverse.
  std::string serialize() const;
  util::Result<void> restore(std::string_view bytes);

  /// The whole state as serialize() writes it, captured now on the apply
  /// thread and encoded later on any thread (Image::encode()): the sessions
  /// are copied, the records, settings and journals shared (a published
  /// version never changes). A checkpoint of a large store is written so
  /// without holding up apply.
  class Image;
  Image capture() const;


  /// A digest of the records, equal on nodes that hold the same records.
  std::string digest() const;

  /// Client sessions remembered (for tests and metrics; apply thread only).
  size_t session_count() const { return sessions_.size(); }

 private:
  /// A client session as apply remembers it: the outcome of its last change,
  /// kept to answer that change's retries, and when it was last used. Only
  /// the ops that failed are kept: a zone file seeds the cluster as one change
  /// of a million ops, and a string per op would cost 32 MB on every node.
  struct Session {
    uint64_t sequence = 0;
    uint32_t op_count = 0;
    struct Failed {
      uint32_t op = 0;
      util::ErrorKind kind = util::ErrorKind::Invalid;
      std::string reason;
    };
    std::vector<Failed> failed_ops;
    uint16_t rcode = 0;
    uint64_t last_index = 0;      // log index of its last change; 0 if that change had no stamp
    uint64_t last_active_ms = 0;  // the log's clock when it was applied; 0 if it had no stamp
    void keep(const ApplyResult& result);
    void answer(ApplyResult& result) const;
  };
  using SessionKey = std::pair<uint32_t, uint64_t>;  // (origin, client id)
  /// Sessions least recently used first: by last use, then log index, then key.
  using LruKey = std::tuple<uint64_t, uint64_t, SessionKey>;
  static LruKey lru_key(const SessionKey& key, const Session& s) { return {s.last_active_ms, s.last_index, key}; }

  ApplyResult apply_one(Version& next, const Change& change, uint64_t index);
  /// The session part of apply: advances the clock, forgets idle sessions,
  /// and answers retries, late copies and changes of forgotten sessions.
  /// Returns true when `result` is the whole answer (nothing to apply).
  bool check_session(const Change& change, ApplyResult& result);
  void remember(const Change& change, uint64_t index, const ApplyResult& result);
  void forget_least_recently_used();
  void publish(Version next, uint64_t index);

  JournalLimits journal_limits_;
  std::atomic<std::shared_ptr<const Version>> current_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> applied_index_{0};
  SessionLimits limits_;
  std::map<SessionKey, Session> sessions_;
  std::set<LruKey> lru_;             // the keys of sessions_, least recently used first
  uint64_t clock_ms_ = 0;            // the log's clock: the highest Change::time_ms applied
  uint64_t forgotten_through_ = 0;   // the highest last_index of any session forgotten
};

class Store::Image {
 public:
  /// Store::serialize()'s bytes for the captured state.
  std::string encode() const;

 private:
  friend class Store;
  std::shared_ptr<const Version> version_;
  uint64_t applied_index_ = 0;
  uint64_t clock_ms_ = 0;
  uint64_t forgotten_through_ = 0;
  std::map<SessionKey, Session> sessions_;
};

}  // namespace store
