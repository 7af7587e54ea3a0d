// The authoritative lookup of RFC 1034 §4.3.2 over a ZoneSet: exact match,
// CNAME chains, wildcards (RFC 4592), referrals, NXDOMAIN and NODATA, and for
// a query with DO in a signed zone the RRSIGs and the NSEC or NSEC3 proofs
// of RFC 4035 §3.1 and RFC 5155 §7.2.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/dnssec.h"
#include "dns/name.h"
#include "zone/zone_set.h"

namespace zone {

/// CNAME chains are followed at most this many links (loops stop earlier).
inline constexpr size_t kMaxCnameHops = 8;

/// One RRset to write into a section: the owner to write, the records, and
/// the TTL to use (the RRset's own, except for the negative-answer SOA).
/// The owner is the question name when the stored owner matches it octet for
/// octet, the zone's apex, or a name in LookupResult::owners. For an RRSIG
/// RRset, `covered` names the type whose signatures to write (a node keeps
/// the signatures of all its types in one RRset); 0 writes every record.
/// No default member values: a result's arrays are left unset until filled.
struct RRsetRef {
  const dns::Name* owner;
  const RRset* rrset;
  uint32_t ttl;
  uint16_t covered;
  /// Whether a record of the RRset is to be written.
  bool writes(std::string_view rdata) const { return covered == 0 || dns::rrsig_type_covered(rdata) == covered; }
};

/// A section's RRsets in a fixed-capacity array, so a lookup never allocates
/// for its result. push() returns false when full (the caller decides what a
/// full section means; for additional data it simply means "omit").
template <size_t N>
class RRsetList {
 public:
  bool push(const dns::Name* owner, const RRset* rrset, uint32_t ttl, uint16_t covered = 0) {
    if (count_ == N || owner == nullptr) return false;
    items_[count_++] = RRsetRef{owner, rrset, ttl, covered};
    return true;
  }
  bool push(const dns::Name* owner, const RRset* rrset) { return push(owner, rrset, rrset->ttl); }
  bool contains(const RRset* rrset) const {
    for (size_t i = 0; i < count_; ++i) {
      if (items_[i].rrset == rrset) return true;
    }
    return false;
  }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const RRsetRef& operator[](size_t i) const { return items_[i]; }
  const RRsetRef* begin() const { return items_.data(); }
  const RRsetRef* end() const { return items_.data() + count_; }
  void clear() { count_ = 0; }

 private:
  std::array<RRsetRef, N> items_;  // only the first count_ are set
  size_t count_ = 0;
};

/// Owner names a lookup had to build as dns::Name objects: a stored owner
/// whose case differs from the question's, or a wildcard answer's synthesized
/// owner after a CNAME link. Fixed storage, constructed on demand, so a
/// lookup whose owners are the question name or a zone apex builds none, and
/// building one allocates only for names longer than the small-string buffer.
class OwnerNames {
 public:
  static constexpr size_t kCapacity = 56;  // at least one per RRset a result can hold

  OwnerNames() = default;
  OwnerNames(const OwnerNames&) = delete;
  OwnerNames& operator=(const OwnerNames&) = delete;
  ~OwnerNames() { clear(); }

  /// A name built from stored (valid) wire form; null if full or malformed.
  const dns::Name* add(std::string_view wire);
  void clear();
  size_t size() const { return count_; }

 private:
  alignas(dns::Name) unsigned char storage_[kCapacity][sizeof(dns::Name)];
  size_t count_ = 0;
};

/// Which step of RFC 1034 §4.3.2 produced the answer (for the last link of a
/// CNAME chain, the step that ended the chain).
enum class LookupStatus : uint8_t {
  Answer,        // data found (or a CNAME chain that leaves the served zones or stops)
  NoData,        // the name exists, the type does not (RFC 2308 §2.2)
  NxDomain,      // the name does not exist (RFC 2308 §2.1)
  Referral,      // the name lies at or below a zone cut (RFC 1034 §4.3.2 step 3b)
  NotAuthoritative,  // no served zone contains the name: REFUSED
};

/// Everything a response needs. Pointers refer into the ZoneSet (and into the
/// question name for wildcard answers), so the ZoneSet and the name must
/// outlive the result.
struct LookupResult {
  LookupStatus status = LookupStatus::NotAuthoritative;
  uint16_t rcode = 5;          // REFUSED until a zone is found
  bool authoritative = false;  // AA (RFC 1035 §4.1.1)
  const Zone* zone = nullptr;  // the zone of the question name
  RRsetList<2 * kMaxCnameHops + 8> answer;  // each RRset may have its RRSIGs
  RRsetList<16> authority;                  // SOA or NS, DS, and up to three NSEC3 with RRSIGs
  RRsetList<32> additional;
  /// Owners that are neither the question name nor a zone apex (see
  /// OwnerNames); the RRsetRefs above may point here.
  OwnerNames owners;
  /// For a negative answer or a referral, what online signing denies: the
  /// name (the question, or the last target of a CNAME chain) and the node
  /// there (the wildcard for a wildcard NODATA, the cut for a referral, null
  /// for NXDOMAIN). Valid as long as the question name and the ZoneSet.
  std::string_view denied_name;
  const Node* denied_node = nullptr;
};

/// Answers `qname`/`qtype` from `zones` into `*out` (which is reset first).
///
/// qtype ANY (RFC 8482 §4.1): the answer is one RRset of the name, the one
/// with the lowest type code, over UDP and TCP alike. Knot DNS does the same;
/// NSD also answers a single RRset (its choice may differ). A CNAME at the name
/// is returned without being followed.
///
/// Delegations (RFC 1034 §4.3.2 step 3b): a name at or below a non-apex NS
/// RRset gets a referral (AA clear unless a CNAME led there), except qtype DS
/// at the cut itself, which the parent answers (RFC 4035 §3.1.4.1).
///
/// `dnssec` (the query's DO bit, RFC 3225): in a signed zone (one whose apex
/// has a DNSKEY) each RRset comes with its RRSIGs, and referrals, negative
/// and wildcard answers with the NSEC (RFC 4035 §3.1.3-4) or NSEC3 (RFC 5155
/// §7.2) records that prove them. Names that own only NSEC3 records are not
/// names of the zone, with or without DO (RFC 5155 §7.2.8).
void lookup(const ZoneSet& zones, const dns::Name& qname, uint16_t qtype, LookupResult* out, bool dnssec = false);

}  // namespace zone
