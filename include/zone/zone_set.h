// The zone tree: every served zone's records, organised for the lookup of
// RFC 1034 §4.3.2. Copying a ZoneSet is cheap and so is changing the copy: a
// zone's names live in copy-on-write shards (zone/node_table.h), and a change
// copies only the shard it touches, so the store can build the next version
// without disturbing readers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "util/result.h"
#include "zone/node.h"
#include "zone/node_table.h"

namespace zone {

/// Wire-form helpers shared by the zone tree and the lookup; they work on
/// uncompressed names (length-prefixed labels ending in the zero octet)
/// without allocating.
namespace wire {
inline constexpr size_t kMaxLabels = 128;
/// Fills `offsets` with the start of each label (leftmost first, the final
/// root label not included) and returns how many there are.
size_t label_offsets(std::string_view name_wire, uint8_t offsets[kMaxLabels]);
/// Case-insensitive hash and equality of wire names (RFC 4343); the hash is
/// the one the node table uses.
size_t hash(std::string_view name_wire);
bool equal(std::string_view a, std::string_view b);
/// RFC 4034 §6.1 canonical order: labels compared right to left as
/// lower-cased octet strings. Same order as dns::Name::canonical_compare.
bool canonical_less(std::string_view a, std::string_view b);
}  // namespace wire

class Zone;
class DenialIndex;

/// The set of zones a node serves. A zone is a name that has an SOA record.
/// Zones may nest (a zone whose apex lies inside another served zone); each
/// record belongs to the deepest zone containing its owner, except DS at a
/// nested apex, which belongs to the parent side of the cut (RFC 4035 §2.4).
class ZoneSet {
 public:
  ZoneSet();
  ZoneSet(const ZoneSet&);
  ZoneSet& operator=(const ZoneSet&);
  ZoneSet(ZoneSet&&) noexcept;
  ZoneSet& operator=(ZoneSet&&) noexcept;
  ~ZoneSet();

  /// The deepest zone whose apex is `name` or an ancestor of it, or null.
  const Zone* find_zone(const dns::Name& name) const;
  /// Same, for an uncompressed wire name; does not allocate.
  const Zone* find_zone_wire(std::string_view name_wire) const;
  /// The zone that holds the parent side of the cut at `apex` (where DS at a
  /// nested zone's apex lives), or null if no served zone encloses it.
  const Zone* find_parent_zone(const Zone& zone) const;
  /// The zone that holds records of `type` at `owner`: the deepest zone
  /// containing the name, except that a parent-side type (DS) at a nested
  /// apex belongs to the enclosing zone (RFC 4035 §2.4). The one rule for
  /// adding, removing, listing and answering records.
  const Zone* zone_for(const dns::Name& owner, uint16_t type) const { return zone_for_wire(owner.wire(), type); }
  /// Same, for an uncompressed wire name; does not allocate.
  const Zone* zone_for_wire(std::string_view owner_wire, uint16_t type) const;

  /// Adds one record. An SOA at a name with no zone creates the zone; an SOA
  /// inside a zone but not at its apex creates a nested zone there, which
  /// takes over the parent's records at and below it; an SOA at an apex
  /// replaces the existing one (exactly one SOA per zone). Refused, with the
  /// reason: a record outside every zone, CNAME beside other data (RFC 1034
  /// §3.6.2, RFC 2181 §10.1), a second CNAME, a meta type, a class other than
  /// IN, rdata invalid for its type. Adding a record already present only
  /// updates the RRset's TTL; a new record's TTL becomes the RRset's
  /// (RFC 2181 §5.2).
  util::Result<void> add(const dns::RR& rr);

  /// What add_all did.
  struct BulkAddResult {
    /// Each refused record: its position in the input and the reason,
    /// positions increasing.
    std::vector<std::pair<size_t, util::Error>> refused;
    /// The apexes of the zones whose records changed.
    std::vector<dns::Name> modified_zones;
  };
  /// Adds records as add() would one after the other, in order, with the
  /// same outcome for each, except that a record already present with the
  /// same TTL changes nothing and is never refused (the store's rule for a
  /// repeated add). Builds each zone's new names at once, so a zone file's
  /// million records cost one pass instead of one table insert each. No
  /// record may be an SOA (zones stay as they are during the call); with one,
  /// the records go through add() one at a time instead.
  BulkAddResult add_all(std::span<const dns::RR* const> records);

  /// Removes one record (matched by owner, type and rdata). Returns whether it
  /// was there. Refuses to remove the SOA of a zone that has other records;
  /// removing the SOA of a zone that holds nothing else removes the zone.
  util::Result<bool> remove(const dns::RR& rr);
  /// Removes the whole RRset of a type at a name; returns records removed.
  /// The SOA follows the rule of remove().
  util::Result<size_t> remove_rrset(const dns::Name& owner, uint16_t type);

  /// Every record, zone by zone, in canonical order (used for checkpoints,
  /// digests and listings).
  void for_each_record(const std::function<void(const dns::RR&)>& fn) const;
  /// Every zone apex, in canonical order.
  std::vector<dns::Name> zone_names() const;
  size_t record_count() const;

 private:
  struct Impl;
  Impl& mutable_impl();
  std::shared_ptr<Impl> impl_;  // copy-on-write
};

/// One zone: its apex, its nodes and the facts lookup needs.
class Zone {
 public:
  const dns::Name& apex() const;
  /// The node at exactly `name` (case-insensitive), including empty
  /// non-terminals; null if the name does not exist in this zone.
  const Node* find(const dns::Name& name) const;
  /// Same, for an uncompressed wire name; does not allocate.
  const Node* find_wire(std::string_view name_wire) const;
  const Node* apex_node() const;
  const RRset* soa() const;
  /// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
  uint32_t negative_ttl() const;
  size_t record_count() const;
  /// Whether any name below the apex has NS records (a zone cut), so lookup
  /// can skip the search for a delegation in zones without one.
  bool has_delegations() const;
  /// Whether any name holds NSEC3 records. Their owners (hashed names, RFC
  /// 5155 §3) are not names of the zone for lookup (§7.2.8), so lookup checks
  /// for them only in zones that have some.
  bool has_nsec3() const;
  /// The zone's NSEC order and NSEC3 chain, built on first use for this
  /// version of the zone (thread-safe; later calls return the same index).
  const DenialIndex& denial() const;
  /// The zone's names (for statistics and tests of the sharing).
  const NodeTable& nodes() const;

  struct Data;
  explicit Zone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

 private:
  std::shared_ptr<const Data> data_;
  friend class ZoneSet;
};

}  // namespace zone
