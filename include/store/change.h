// A change: an ordered batch of record operations, or one RFC 2136 UPDATE,
// the unit that Raft replicates and apply executes. Carries its origin for
// exactly-once apply.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/rr.h"
#include "util/result.h"

namespace store {

enum class OpKind : uint8_t {
  Add = 1,          // add rr (an existing identical record only refreshes the TTL)
  Remove = 2,       // remove the record matching owner, type and rdata
  RemoveRRset = 3,  // remove every record of rr.type at rr.owner
  /// Add a DNSSEC signing key (rr: a SIGNING_KEY record at a zone apex) and
  /// publish it: its DNSKEY, and for a KSK its CDS and CDNSKEY (RFC 7344),
  /// derived from the key identically on every node. Refused when the zone
  /// already holds keys that an earlier change added: the first committed
  /// key set wins, so leaders racing to make keys are harmless.
  AddSigningKey = 4,
  /// Replace the zone's signing keys (a key roll): rr.rdata is a
  /// dns::KeySetChange naming, by digest, the key set it replaces. Applied
  /// only while the zone still holds exactly that set (compare and set), the
  /// DNSKEY, CDS and CDNSKEY derived anew; refused otherwise, so leaders
  /// racing to roll a key are harmless too.
  SetSigningKeys = 5,
  RemoveZone = 6,   // remove the zone whose apex is rr.owner, every record of it (zones nested in it stay)
};

struct Op {
  OpKind kind = OpKind::Add;
  dns::RR rr;
};

/// The five prerequisite kinds of RFC 2136 §2.4 (evaluated as §3.2).
enum class PrereqKind : uint8_t {
  RRsetExists = 1,       // §2.4.1 (class ANY, type T): an RRset of rr.type exists at rr.owner
  RRsetExistsValue = 2,  // §2.4.2 (class IN): the RRset equals the prerequisite records of that name and type
  RRsetAbsent = 3,       // §2.4.3 (class NONE, type T): no RRset of rr.type at rr.owner
  NameInUse = 4,         // §2.4.4 (class ANY, type ANY): rr.owner owns at least one record
  NameNotInUse = 5,      // §2.4.5 (class NONE, type ANY): rr.owner owns no record
};

struct Prereq {
  PrereqKind kind = PrereqKind::NameInUse;
  dns::RR rr;  // owner always; type for the RRset kinds; rdata for RRsetExistsValue
};

/// The update kinds of RFC 2136 §2.5 (applied as §3.4.2).
enum class UpdateKind : uint8_t {
  Add = 1,          // §2.5.1 add rr to its RRset
  DeleteRRset = 2,  // §2.5.2 delete the RRset of rr.type at rr.owner
  DeleteName = 3,   // §2.5.3 delete every RRset at rr.owner
  DeleteRR = 4,     // §2.5.4 delete the record matching rr (owner, type, rdata)
};

struct UpdateOp {
  UpdateKind kind = UpdateKind::Add;
  dns::RR rr;  // class is IN whatever the wire class was
};

/// One RFC 2136 UPDATE, evaluated in apply against the replicated state so
/// that every node reaches the same outcome: all prerequisites hold and every
/// update is applied, or nothing changes (the rcode says why).
struct Update {
  dns::Name zone;                 // the zone section's name (an apex)
  std::vector<Prereq> prereqs;    // in message order
  std::vector<UpdateOp> updates;  // in message order
};

/// How a zone's SOA serial advances when a change modifies the zone (the
/// policies of Knot's serial-policy). Every policy moves forward in RFC 1982
/// arithmetic: when its value would not be newer, the serial is incremented.
enum class SerialPolicy : uint8_t {
  Increment = 0,   // serial + 1
  UnixTime = 1,    // seconds since the epoch of the change's timestamp
  DateSerial = 2,  // YYYYMMDDnn of the change's timestamp (UTC)
};

/// Settings every node must agree on because apply reads them; a change
/// carrying them replaces the whole set (node/zone_settings proposes the
/// config's values when they differ from the replicated ones).
struct Settings {
  std::map<dns::Name, SerialPolicy> serial_policies;  // by apex; absent = Increment
  std::optional<dns::Name> catalog;  // the RFC 9432 catalog zone apply maintains, if any
  bool operator==(const Settings& o) const { return serial_policies == o.serial_policies && catalog == o.catalog; }
};

/// A zone transfer from the zone's outside primary (RFC 5936 AXFR, RFC 1995
/// IXFR), committed as one change of plain ops: the effective difference
/// from the zone the cluster held to the primary's version. Apply checks
/// first that the zone is still the one the difference was computed
/// against (same serial, or still absent); if it moved, nothing is applied
/// and the result's rcode is NXRRSET, as for an UPDATE whose SOA
/// prerequisite failed (RFC 2136 §3.2.3). The SOA the ops add is stored as
/// the primary sent it: no serial policy applies to it.
struct TransferIn {
  dns::Name zone;                       // the zone's apex
  std::optional<uint32_t> from_serial;  // the serial the ops were computed against; nullopt: the zone was absent
  bool operator==(const TransferIn& o) const { return zone == o.zone && from_serial == o.from_serial; }
};

/// A batch of operations. Ops are applied in order; each succeeds or fails
/// on its own (a zone file seeding a cluster loads what it can). A change
/// carrying an `update` is an RFC 2136 UPDATE instead, all or nothing; its
/// `ops` are then empty.
/// (origin, client_id, sequence) identify the change for deduplication: a
/// change whose sequence equals the last applied one from the same
/// (origin, client_id) is not applied again and gets the earlier result; one
/// below it is refused. store::ClientSession (store/session.h) states the
/// rule its senders follow.
///
/// A session stamps its changes with a time and a log position too, which
/// apply uses to forget idle sessions identically on every node (Store):
/// `time_ms` is the proposer's wall clock (the log's clock is the highest
/// time applied so far), and `stamped_after` the log index the proposer had
/// applied when stamping, below which no copy of the change can land.
/// Changes of encoding version 2 carry neither (both 0).
struct Change {
  uint32_t origin = 0;      // node id that accepted it
  uint64_t client_id = 0;   // a client session of that node (store/session.h)
  uint64_t sequence = 0;    // increasing per (origin, client_id); 0 = no dedupe
  // `time_ms` is also apply's clock for the serial policies (unixtime,
  // dateserial): every node derives the same serial from it.
  uint64_t time_ms = 0;     // when its session stamped it, ms since the epoch; 0 = not stamped
  uint64_t stamped_after = 0;  // the proposer had applied the log up to this index when stamping
  std::vector<Op> ops;
  std::optional<Update> update;
  std::optional<Settings> settings;  // applied before the ops
  std::optional<TransferIn> transfer;  // set when the ops are a transfer from an outside primary
};

/// The operations that create zone `apex` (RFC 1035 §3.3.13): its SOA
/// (`mname`, `rname`, `serial`, refresh 3600, retry 600, expire 1209600,
/// minimum 300, TTL 3600) and an NS record naming `mname`, so secondaries
/// (which refuse a zone without NS) can load it.
std::vector<Op> new_zone_ops(const dns::Name& apex, const dns::Name& mname, const dns::Name& rname, uint32_t serial);

/// Compact, versioned binary encoding (the bytes stored in the Raft log).
std::string encode_change(const Change& change);
util::Result<Change> decode_change(std::string_view bytes);

}  // namespace store
