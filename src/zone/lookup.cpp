// The authoritative lookup: RFC 1034 §4.3.2 step by step, with wildcards
// (RFC 4592), negative answers (RFC 2308) and additional-section data.
#include "zone/lookup.h"

#include <cstring>
#include <new>
#include <string_view>

#include "dns/message.h"

namespace zone {

namespace {

size_t label_count(std::string_view w) {
  uint8_t offs[wire::kMaxLabels];
  return wire::label_offsets(w, offs);
}

}  // namespace

const dns::Name* OwnerNames::add(std::string_view wire) {
  if (count_ == kCapacity) return nullptr;
  auto parsed = dns::Name::from_wire(wire);
  if (!parsed) return nullptr;
  auto* n = new (storage_[count_]) dns::Name(std::move(parsed.value()));
  ++count_;
  return n;
}

void OwnerNames::clear() {
  for (size_t i = 0; i < count_; ++i) std::launder(reinterpret_cast<dns::Name*>(storage_[i]))->~Name();
  count_ = 0;
}

namespace {

/// Where the search for a name in a zone ended (RFC 1034 §4.3.2 step 3).
struct Match {
  const Node* exact = nullptr;             // the node at the name itself
  const Node* closest_encloser = nullptr;  // deepest existing ancestor-or-self (RFC 4592 §3.3.1)
  std::string_view closest_encloser_wire;
  const Node* cut = nullptr;  // topmost non-apex NS node on the path, if any
};

/// One lookup's state: the result being filled and the CNAME chain so far.
class Lookup {
 public:
  Lookup(const ZoneSet& zones, uint16_t qtype, LookupResult* out) : zones_(zones), qtype_(qtype), r_(*out) {}

  void run(const dns::Name& qname) {
    qname_ = &qname;
    // RFC 4035 §3.1.4.1: DS at a nested apex is answered by the parent.
    const Zone* zone = zones_.zone_for_wire(qname.wire(), qtype_);
    if (!zone) return;  // REFUSED: not authoritative for the name
    r_.zone = zone;
    r_.authoritative = true;
    r_.rcode = dns::rcode::NOERROR;
    answer_authoritative(zone, qname.wire(), &qname);
  }

 private:
  /// RFC 1034 §4.3.2 step 3: find the name in `zone`, starting at the top.
  Match search(const Zone* zone, std::string_view name) const {
    Match m;
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(name, offs);
    const size_t below_apex = n - label_count(zone->apex().wire());
    size_t depth = 0;  // labels stripped from the name to reach the closest encloser
    for (; depth <= below_apex; ++depth) {
      const std::string_view suffix = depth < n ? name.substr(offs[depth]) : name.substr(name.size() - 1);
      if (const Node* node = zone->find_wire(suffix)) {
        m.closest_encloser = node;
        m.closest_encloser_wire = suffix;
        break;
      }
    }
    if (!m.closest_encloser) return m;  // only if the apex is missing: cannot happen
    if (depth == 0) m.exact = m.closest_encloser;
    if (zone->has_delegations()) {
      // Step 3b: the topmost cut between the apex and the closest encloser.
      // Every ancestor of an existing node exists (empty non-terminals).
      for (size_t i = below_apex; i-- > depth;) {
        const Node* node = zone->find_wire(name.substr(offs[i]));
        if (node && node->find(dns::rrtype::NS)) {
          const bool ds_at_cut = i == 0 && dns::parent_side_type(qtype_);
          if (!ds_at_cut) m.cut = node;
          break;
        }
      }
    }
    return m;
  }

  /// Step 3 for one name (the question, or a CNAME target).
  void answer_authoritative(const Zone* zone, std::string_view name, const dns::Name* name_obj) {
    visited_[hops_] = name;
    const Match m = search(zone, name);
    if (m.cut) return answer_delegation(zone, m.cut);
    if (m.exact) return answer_node(zone, m.exact, owner_of(zone, m.exact));

    // Step 3c, RFC 4592 §3.3.1: only the wildcard child of the closest
    // encloser applies. An existing name in between (an empty non-terminal
    // included) is itself the closest encloser, so it blocks wildcards above.
    uint8_t buf[dns::kMaxNameLength + 2];
    const std::string_view ce = m.closest_encloser_wire;
    if (ce.size() + 2 <= dns::kMaxNameLength) {
      buf[0] = 1;
      buf[1] = '*';
      std::memcpy(buf + 2, ce.data(), ce.size());
      const std::string_view wild(reinterpret_cast<const char*>(buf), ce.size() + 2);
      if (const Node* w = zone->find_wire(wild)) {
        // The synthesized owner is the name asked for (RFC 4592 §2.1.1).
        const dns::Name* owner = name_obj ? name_obj : r_.owners.add(name);
        if (!owner) return;
        return answer_node(zone, w, owner);
      }
    }
    answer_nxdomain(zone);
  }

  /// The name (or its wildcard) exists: answer the type, follow a CNAME, or NODATA.
  void answer_node(const Zone* zone, const Node* node, const dns::Name* owner) {
    if (qtype_ == dns::rrtype::ANY) {
      // RFC 8482 §4.1: one RRset rather than all of them.
      if (node->rrsets.empty()) return answer_nodata(zone);
      r_.answer.push(owner, &node->rrsets.front());
      add_additional(zone, node->rrsets.front());
      r_.status = LookupStatus::Answer;
      return;
    }
    if (const RRset* s = node->find(qtype_)) {
      r_.answer.push(owner, s);
      add_additional(zone, *s);
      r_.status = LookupStatus::Answer;
      return;
    }
    if (const RRset* c = node->find(dns::rrtype::CNAME); c && !c->rdatas.empty()) {
      r_.answer.push(owner, c);
      r_.status = LookupStatus::Answer;
      return follow_cname(c->rdatas.front());
    }
    answer_nodata(zone);
  }

  /// RFC 1034 §4.3.2 step 3a: restart the lookup at the CNAME target while
  /// it stays in a served zone, stopping at loops and long chains.
  void follow_cname(std::string_view target) {
    if (hops_ + 1 >= kMaxCnameHops) return;
    for (size_t i = 0; i <= hops_; ++i) {
      if (wire::equal(visited_[i], target)) return;  // a loop: the chain so far is the answer
    }
    const Zone* zone = zones_.find_zone_wire(target);
    if (!zone) return;  // leaves our zones: the resolver follows it
    ++hops_;
    answer_authoritative(zone, target, nullptr);
  }

  /// Step 3b: a referral to the child zone's servers, with glue.
  void answer_delegation(const Zone* zone, const Node* cut) {
    const RRset* ns = cut->find(dns::rrtype::NS);
    // The first link of a chain is not ours to vouch for; an answer that
    // already holds our CNAME stays authoritative (as Knot and NSD do).
    if (r_.answer.empty()) r_.authoritative = false;
    r_.authority.push(owner_of(zone, cut), ns);
    add_additional(zone, *ns);
    r_.status = LookupStatus::Referral;
    r_.rcode = dns::rcode::NOERROR;
  }

  /// RFC 2308 §2.1 and §3: NXDOMAIN with the SOA, its TTL capped by MINIMUM.
  void answer_nxdomain(const Zone* zone) {
    add_soa(zone);
    r_.status = LookupStatus::NxDomain;
    r_.rcode = dns::rcode::NXDOMAIN;
  }

  /// RFC 2308 §2.2: NOERROR, no answer for the type, the SOA in authority.
  void answer_nodata(const Zone* zone) {
    add_soa(zone);
    r_.status = LookupStatus::NoData;
    r_.rcode = dns::rcode::NOERROR;
  }

  void add_soa(const Zone* zone) {
    if (const RRset* soa = zone->soa()) r_.authority.push(&zone->apex(), soa, zone->negative_ttl());
  }

  /// RFC 1035 §3.3.9/§3.3.11, RFC 2782: addresses of NS, MX and SRV targets
  /// that lie in the same zone (including glue below a cut). Omitted when
  /// the section is full.
  void add_additional(const Zone* zone, const RRset& s) {
    if (s.type != dns::rrtype::NS && s.type != dns::rrtype::MX && s.type != dns::rrtype::SRV) return;
    const auto offset = dns::rdata_target_offset(s.type);
    if (!offset) return;
    for (std::string_view rd : s.rdatas) {
      if (rd.size() <= *offset) continue;
      const std::string_view target = rd.substr(*offset);
      const Node* node = zone->find_wire(target);
      if (!node) continue;
      for (const uint16_t t : {dns::rrtype::A, dns::rrtype::AAAA}) {
        const RRset* addr = node->find(t);
        if (addr && !r_.additional.contains(addr) && !r_.answer.contains(addr)) {
          r_.additional.push(owner_of(zone, node), addr);
        }
      }
    }
  }

  /// The owner to write for a stored node: the question name or the apex
  /// when octet-for-octet the same (no copy), else a name built once.
  const dns::Name* owner_of(const Zone* zone, const Node* node) {
    const std::string_view w = node->wire();
    if (w == qname_->wire()) return qname_;
    if (w == zone->apex().wire()) return &zone->apex();
    return r_.owners.add(w);
  }

  const ZoneSet& zones_;
  const dns::Name* qname_ = nullptr;
  const uint16_t qtype_;
  LookupResult& r_;
  size_t hops_ = 0;
  std::string_view visited_[kMaxCnameHops + 1];
};

}  // namespace

void lookup(const ZoneSet& zones, const dns::Name& qname, uint16_t qtype, LookupResult* out) {
  out->status = LookupStatus::NotAuthoritative;
  out->rcode = dns::rcode::REFUSED;
  out->authoritative = false;
  out->zone = nullptr;
  out->answer.clear();
  out->authority.clear();
  out->additional.clear();
  out->owners.clear();
  Lookup(zones, qtype, out).run(qname);
}

}  // namespace zone
