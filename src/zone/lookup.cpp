// The authoritative lookup: RFC 1034 §4.3.2 step by step, with wildcards
// (RFC 4592), negative answers (RFC 2308) and additional-section data.
#include "zone/lookup.h"

#include <cstring>
#include <new>
#include <string_view>

#include "dns/message.h"
#include "zone/denial.h"

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
  std::string_view cut_wire;
};

/// RFC 5155 §7.2.8: a name owning only NSEC3 records (and their RRSIGs) is
/// not a name of the zone; it is covered by the chain like any absent name.
bool nsec3_only(const Node* n) {
  if (n->children() > 0 || !n->find(dns::rrtype::NSEC3)) return false;
  for (const RRset& s : n->rrsets) {
    if (s.type != dns::rrtype::NSEC3 && s.type != dns::rrtype::RRSIG) return false;
  }
  return true;
}

/// "*." + `ce` in `buf` (RFC 4592 §2.1.1), or an empty view when too long.
std::string_view wildcard_of(std::string_view ce, uint8_t (&buf)[dns::kMaxNameLength + 2]) {
  if (ce.size() + 2 > dns::kMaxNameLength) return {};
  buf[0] = 1;
  buf[1] = '*';
  std::memcpy(buf + 2, ce.data(), ce.size());
  return {reinterpret_cast<const char*>(buf), ce.size() + 2};
}

/// One lookup's state: the result being filled and the CNAME chain so far.
class Lookup {
 public:
  Lookup(const ZoneSet& zones, uint16_t qtype, LookupResult* out, bool dnssec)
      : zones_(zones), qtype_(qtype), r_(*out), dnssec_(dnssec) {}

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
    const bool nsec3 = zone->has_nsec3();
    size_t depth = 0;  // labels stripped from the name to reach the closest encloser
    for (; depth <= below_apex; ++depth) {
      const std::string_view suffix = depth < n ? name.substr(offs[depth]) : name.substr(name.size() - 1);
      if (const Node* node = zone->find_wire(suffix)) {
        if (nsec3 && depth < below_apex && nsec3_only(node)) continue;
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
          if (!ds_at_cut) {
            m.cut = node;
            m.cut_wire = name.substr(offs[i]);
          }
          break;
        }
      }
    }
    return m;
  }

  /// Step 3 for one name (the question, or a CNAME target).
  void answer_authoritative(const Zone* zone, std::string_view name, const dns::Name* name_obj) {
    visited_[hops_] = name;
    denial_ = signed_denial(zone);
    const Match m = search(zone, name);
    if (m.cut) return answer_delegation(zone, m.cut, m.cut_wire);
    if (m.exact) return answer_node(zone, m.exact, owner_of(zone, m.exact), name, {});

    // Step 3c, RFC 4592 §3.3.1: only the wildcard child of the closest
    // encloser applies. An existing name in between (an empty non-terminal
    // included) is itself the closest encloser, so it blocks wildcards above.
    uint8_t buf[dns::kMaxNameLength + 2];
    const std::string_view ce = m.closest_encloser_wire;
    if (const std::string_view wild = wildcard_of(ce, buf); !wild.empty()) {
      if (const Node* w = zone->find_wire(wild)) {
        // The synthesized owner is the name asked for (RFC 4592 §2.1.1).
        const dns::Name* owner = name_obj ? name_obj : r_.owners.add(name);
        if (!owner) return;
        return answer_node(zone, w, owner, name, ce);
      }
    }
    answer_nxdomain(zone, name, ce);
  }

  /// The name (or its wildcard, when `wildcard_ce` names the closest
  /// encloser it hangs from) exists: answer the type, follow a CNAME, or NODATA.
  void answer_node(const Zone* zone, const Node* node, const dns::Name* owner, std::string_view name,
                   std::string_view wildcard_ce) {
    if (qtype_ == dns::rrtype::ANY) {
      // RFC 8482 §4.1: one RRset rather than all of them.
      if (node->rrsets.empty()) return answer_nodata(zone, node, name, wildcard_ce);
      answer_rrset(zone, node, owner, node->rrsets.front(), name, wildcard_ce);
      return;
    }
    // The cluster's signing keys are never answered (rr.h: SIGNING_KEY).
    if (const RRset* s = node->find(qtype_); s && qtype_ != dns::rrtype::SIGNING_KEY) {
      answer_rrset(zone, node, owner, *s, name, wildcard_ce);
      return;
    }
    // RFC 4035 §2.5: NSEC and RRSIG stand beside a CNAME as data of the
    // name itself, so a query for them is not redirected (as Knot answers).
    if (const RRset* c = node->find(dns::rrtype::CNAME);
        c && !c->rdatas.empty() && !dns::allowed_beside_cname(qtype_)) {
      answer_rrset(zone, node, owner, *c, name, wildcard_ce);
      return follow_cname(c->rdatas.front());
    }
    answer_nodata(zone, node, name, wildcard_ce);
  }

  /// Puts one RRset of the node in the answer, with its RRSIGs and, for a
  /// wildcard answer, the proof that the name itself does not exist.
  void answer_rrset(const Zone* zone, const Node* node, const dns::Name* owner, const RRset& s, std::string_view name,
                    std::string_view wildcard_ce) {
    r_.answer.push(owner, &s);
    if (s.type != dns::rrtype::CNAME) add_additional(zone, s);
    r_.status = LookupStatus::Answer;
    if (!denial_) return;
    if (s.type != dns::rrtype::RRSIG) add_sigs(r_.answer, owner, node, s.type, s.ttl);
    if (!wildcard_ce.empty()) prove_wildcard_answer(zone, name, wildcard_ce);
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

  /// Step 3b: a referral to the child zone's servers, with glue, and with
  /// DNSSEC the DS RRset or the proof that there is none (RFC 4035 §3.1.4).
  void answer_delegation(const Zone* zone, const Node* cut, std::string_view cut_wire) {
    const RRset* ns = cut->find(dns::rrtype::NS);
    // The first link of a chain is not ours to vouch for; an answer that
    // already holds our CNAME stays authoritative (as Knot and NSD do).
    if (r_.answer.empty()) r_.authoritative = false;
    r_.denied_name = cut_wire;
    r_.denied_node = cut;
    const dns::Name* owner = owner_of(zone, cut);
    r_.authority.push(owner, ns);
    if (denial_) {
      if (const RRset* ds = cut->find(dns::rrtype::DS)) {
        r_.authority.push(owner, ds);
        add_sigs(r_.authority, owner, cut, dns::rrtype::DS, ds->ttl);
      } else {
        prove_nodata(zone, cut, cut_wire, {});
      }
    }
    add_additional(zone, *ns);
    r_.status = LookupStatus::Referral;
    r_.rcode = dns::rcode::NOERROR;
  }

  /// RFC 2308 §2.1 and §3: NXDOMAIN with the SOA, its TTL capped by MINIMUM.
  void answer_nxdomain(const Zone* zone, std::string_view name, std::string_view ce) {
    add_soa(zone);
    r_.status = LookupStatus::NxDomain;
    r_.rcode = dns::rcode::NXDOMAIN;
    r_.denied_name = name;
    r_.denied_node = nullptr;
    if (!denial_) return;
    uint8_t buf[dns::kMaxNameLength + 2];
    const std::string_view wild = wildcard_of(ce, buf);
    if (!denial_->uses_nsec3()) {
      // RFC 4035 §3.1.3.2: the name is covered, and so is the wildcard that
      // could have matched it.
      add_nsec(zone, denial_->nsec_covering(name));
      if (!wild.empty()) add_nsec(zone, denial_->nsec_covering(wild));
      return;
    }
    // RFC 5155 §7.2.2: the closest encloser proof, and the NSEC3 covering
    // the wildcard at the closest encloser.
    const std::string_view encloser = prove_closest_encloser(zone, name, ce);
    if (const std::string_view w = wildcard_of(encloser, buf); !w.empty()) {
      if (auto* e = denial_->nsec3_covering(denial_->hash(w))) add_nsec3(zone, e);
    }
  }

  /// RFC 2308 §2.2: NOERROR, no answer for the type, the SOA in authority.
  void answer_nodata(const Zone* zone, const Node* node, std::string_view name, std::string_view wildcard_ce) {
    add_soa(zone);
    r_.status = LookupStatus::NoData;
    r_.rcode = dns::rcode::NOERROR;
    r_.denied_name = name;
    r_.denied_node = node;
    if (denial_) prove_nodata(zone, node, name, wildcard_ce);
  }

  void add_soa(const Zone* zone) {
    const RRset* soa = zone->soa();
    if (!soa) return;
    r_.authority.push(&zone->apex(), soa, zone->negative_ttl());
    if (denial_) add_sigs(r_.authority, &zone->apex(), zone->apex_node(), dns::rrtype::SOA, zone->negative_ttl());
  }

  // --- DNSSEC (only with DO, in signed zones) ---------------------------------

  const DenialIndex* signed_denial(const Zone* zone) const {
    if (!dnssec_) return nullptr;
    const DenialIndex& d = zone->denial();
    return d.signed_zone() ? &d : nullptr;
  }

  /// The RRSIGs at `node` covering `type`, written with the TTL of the RRset
  /// they sign (RFC 4034 §3: the two TTLs match).
  template <size_t N>
  void add_sigs(RRsetList<N>& list, const dns::Name* owner, const Node* node, uint16_t type, uint32_t ttl) {
    const RRset* sigs = node ? node->find(dns::rrtype::RRSIG) : nullptr;
    if (!sigs) return;
    for (std::string_view rd : sigs->rdatas) {
      if (dns::rrsig_type_covered(rd) == type) {
        list.push(owner, sigs, ttl, type);
        return;
      }
    }
  }

  /// The NSEC RRset at `node` and its RRSIGs, once (not when the answer
  /// already holds it: a wildcard's NSEC asked for by type proves itself).
  void add_nsec(const Zone* zone, const Node* node) {
    const RRset* nsec = node ? node->find(dns::rrtype::NSEC) : nullptr;
    if (!nsec || r_.authority.contains(nsec) || r_.answer.contains(nsec)) return;
    const dns::Name* owner = owner_of(zone, node);
    r_.authority.push(owner, nsec);
    add_sigs(r_.authority, owner, node, dns::rrtype::NSEC, nsec->ttl);
  }

  /// An NSEC3 RRset of the chain and its RRSIGs, once.
  void add_nsec3(const Zone* zone, const DenialIndex::Nsec3Entry* e) {
    const RRset* nsec3 = e ? e->node->find(dns::rrtype::NSEC3) : nullptr;
    if (!nsec3 || r_.authority.contains(nsec3)) return;
    const dns::Name* owner = owner_of(zone, e->node);
    r_.authority.push(owner, nsec3);
    add_sigs(r_.authority, owner, e->node, dns::rrtype::NSEC3, nsec3->ttl);
  }

  /// The type asked for (or DS at a cut) is not at `node`, which is `name`
  /// or, when `wildcard_ce` is set, the wildcard that matched `name`.
  void prove_nodata(const Zone* zone, const Node* node, std::string_view name, std::string_view wildcard_ce) {
    if (!denial_->uses_nsec3()) {
      // RFC 4035 §3.1.3.1: the NSEC of the name lists its types; an empty
      // non-terminal has none, and the NSEC before it covers it. §3.1.3.4:
      // for a wildcard, the NSEC of the wildcard and the one covering the name.
      if (node->find(dns::rrtype::NSEC)) {
        add_nsec(zone, node);
      } else {
        add_nsec(zone, denial_->nsec_covering(name));
      }
      if (!wildcard_ce.empty()) add_nsec(zone, denial_->nsec_covering(name));
      return;
    }
    if (!wildcard_ce.empty()) {
      // RFC 5155 §7.2.5: closest encloser proof, and the NSEC3 matching the wildcard.
      const std::string_view encloser = prove_closest_encloser(zone, name, wildcard_ce);
      uint8_t buf[dns::kMaxNameLength + 2];
      if (const std::string_view w = wildcard_of(encloser, buf); !w.empty()) {
        add_nsec3(zone, denial_->nsec3_matching(denial_->hash(w)));
      }
      return;
    }
    // RFC 5155 §7.2.3: the NSEC3 matching the name; §7.2.4: without one
    // (an insecure delegation under Opt-Out), the closest provable encloser.
    if (const auto* e = denial_->nsec3_matching(denial_->hash(name))) return add_nsec3(zone, e);
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(name, offs);
    prove_closest_encloser(zone, name, n > 0 ? name.substr(offs[n > 1 ? 1 : 0]) : name);
  }

  /// RFC 4035 §3.1.3.3 and RFC 5155 §7.2.6: a wildcard answered `name`; the
  /// name itself (the next closer name, for NSEC3) is proven absent.
  void prove_wildcard_answer(const Zone* zone, std::string_view name, std::string_view ce) {
    if (!denial_->uses_nsec3()) return add_nsec(zone, denial_->nsec_covering(name));
    const std::string_view next = next_closer(name, ce);
    if (!next.empty()) add_nsec3(zone, denial_->nsec3_covering(denial_->hash(next)));
  }

  /// RFC 5155 §7.2.1: the NSEC3 matching the closest provable encloser of
  /// `name` (from `ce` upwards, the first name with a matching NSEC3) and the
  /// NSEC3 covering the next closer name. Returns that encloser.
  std::string_view prove_closest_encloser(const Zone* zone, std::string_view name, std::string_view ce) {
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(ce, offs);
    const size_t apex_labels = label_count(zone->apex().wire());
    std::string_view encloser = ce;
    const DenialIndex::Nsec3Entry* match = nullptr;
    for (size_t i = 0; i + apex_labels <= n; ++i) {
      encloser = i < n ? ce.substr(offs[i]) : ce.substr(ce.size() - 1);
      match = denial_->nsec3_matching(denial_->hash(encloser));
      if (match) break;
    }
    add_nsec3(zone, match);
    const std::string_view next = next_closer(name, encloser);
    if (!next.empty()) add_nsec3(zone, denial_->nsec3_covering(denial_->hash(next)));
    return encloser;
  }

  /// The ancestor-or-self of `name` one label longer than its ancestor `encloser`.
  static std::string_view next_closer(std::string_view name, std::string_view encloser) {
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(name, offs);
    for (size_t i = 0; i < n; ++i) {
      const size_t rest = 1 + static_cast<uint8_t>(name[offs[i]]);
      if (name.size() - offs[i] - rest == encloser.size()) return name.substr(offs[i]);
    }
    return {};
  }

  // --- additional data and owners -------------------------------------------

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
  const bool dnssec_;
  const DenialIndex* denial_ = nullptr;  // the zone being answered is signed and DO is set
  size_t hops_ = 0;
  std::string_view visited_[kMaxCnameHops + 1];
};

}  // namespace

void lookup(const ZoneSet& zones, const dns::Name& qname, uint16_t qtype, LookupResult* out, bool dnssec) {
  out->status = LookupStatus::NotAuthoritative;
  out->rcode = dns::rcode::REFUSED;
  out->authoritative = false;
  out->zone = nullptr;
  out->answer.clear();
  out->authority.clear();
  out->additional.clear();
  out->owners.clear();
  out->denied_name = {};
  out->denied_node = nullptr;
  Lookup(zones, qtype, out, dnssec).run(qname);
}

}  // namespace zone
