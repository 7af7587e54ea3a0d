// The zone tree: every served zone's records, organised for the lookup of
// RFC 1034 §4.3.2. Copying a ZoneSet is cheap (shared, copy-on-write zones),
// so the store can build the next version without disturbing readers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "util/result.h"

namespace zone {

/// All records of one type at one name. TTLs within an RRset are one value
/// (RFC 2181 §5.2): the last one added wins.
struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::string> rdatas;  // uncompressed wire, no duplicates
};

/// One name in a zone. A node with no RRsets is an empty non-terminal
/// (RFC 8020): it exists, so it blocks wildcards and answers NODATA.
struct Node {
  dns::Name name;
  std::vector<RRset> rrsets;
  const RRset* find(uint16_t type) const;
};

class Zone;

/// The set of zones a node serves. A zone is a name that has an SOA record.
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

  /// Adds one record. An SOA at a name with no zone creates the zone; an SOA
  /// at an apex replaces the existing one. Refused, with the reason: a record
  /// outside every zone, CNAME beside other data (RFC 1034 §3.6.2, RFC 2181
  /// §10.1), a second CNAME, an SOA below an apex of the same zone, a meta
  /// type, a class other than IN, rdata invalid for its type. Adding a record
  /// already present only updates the RRset's TTL.
  util::Result<void> add(const dns::RR& rr);

  /// Removes one record (matched by owner, type and rdata). Returns whether it
  /// was there. Refuses to remove the SOA of a zone that has other records.
  util::Result<bool> remove(const dns::RR& rr);
  /// Removes the whole RRset of a type at a name; returns records removed.
  util::Result<size_t> remove_rrset(const dns::Name& owner, uint16_t type);

  /// Every record, zone by zone, in canonical order (used for checkpoints,
  /// digests and listings).
  void for_each_record(const std::function<void(const dns::RR&)>& fn) const;
  /// Every zone apex, in canonical order.
  std::vector<dns::Name> zone_names() const;
  size_t record_count() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // copy-on-write
};

/// One zone: its apex, its nodes and the facts lookup needs.
class Zone {
 public:
  const dns::Name& apex() const;
  /// The node at exactly `name` (case-insensitive), including empty
  /// non-terminals; null if the name does not exist in this zone.
  const Node* find(const dns::Name& name) const;
  const RRset* soa() const;
  /// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
  uint32_t negative_ttl() const;
  size_t record_count() const;

  struct Data;
  explicit Zone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

 private:
  std::shared_ptr<const Data> data_;
  friend class ZoneSet;
};

}  // namespace zone
