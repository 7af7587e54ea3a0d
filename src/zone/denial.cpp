// The NSEC order and NSEC3 chain of a signed zone (see include/zone/denial.h).
#include "zone/denial.h"

#include <algorithm>

#include "dns/encoding.h"
#include "dns/rr.h"
#include "zone/zone_set.h"

namespace zone {

void DenialIndex::start(const Node* apex, const dns::Name& apex_name) {
  apex_wire_ = apex_name.wire();
  if (!apex) return;
  signed_ = apex->find(dns::rrtype::DNSKEY) != nullptr;
  if (const RRset* p = apex->find(dns::rrtype::NSEC3PARAM)) {
    for (std::string_view rd : p->rdatas) {
      auto params = dns::nsec3_params(rd);
      // RFC 5155 §4.1.2: an NSEC3PARAM with flags set is not for the server.
      if (!params || params->algorithm != dns::kNsec3Sha1 || params->flags != 0) continue;
      nsec3_ = true;
      nsec3_alg_ = params->algorithm;
      nsec3_iterations_ = params->iterations;
      nsec3_salt_ = std::string(params->salt);
      break;
    }
  }
}

void DenialIndex::add(const Node& n) {
  if (n.find(dns::rrtype::NSEC)) nsec_.push_back(&n);
  if (!nsec3_) return;
  const RRset* s = n.find(dns::rrtype::NSEC3);
  if (!s) return;
  // The owner is <base32hex(hash)>.<apex> (RFC 5155 §3).
  const std::string_view w = n.wire();
  if (w.empty() || size_t{static_cast<uint8_t>(w[0])} + 1 >= w.size()) return;
  if (!wire::equal(w.substr(1 + static_cast<uint8_t>(w[0])), apex_wire_)) return;
  auto raw = dns::base32hex_decode(w.substr(1, static_cast<uint8_t>(w[0])));
  if (!raw || raw->size() != sizeof(dns::Nsec3Hash)) return;
  for (std::string_view rd : s->rdatas) {
    auto p = dns::nsec3_params(rd);
    if (!p || p->algorithm != nsec3_alg_ || p->iterations != nsec3_iterations_ || p->salt != nsec3_salt_) continue;
    Nsec3Entry h{};
    std::copy(raw->begin(), raw->end(), h.hash.begin());
    h.node = &n;
    h.rdata = rd;
    chain_.push_back(h);
    break;
  }
}

void DenialIndex::finish() {
  std::sort(nsec_.begin(), nsec_.end(), [](const Node* a, const Node* b) { return wire::canonical_less(a->wire(), b->wire()); });
  std::sort(chain_.begin(), chain_.end(), [](const Nsec3Entry& a, const Nsec3Entry& b) { return a.hash < b.hash; });
}

const Node* DenialIndex::nsec_covering(std::string_view name_wire) const {
  if (nsec_.empty()) return nullptr;
  auto it = std::upper_bound(nsec_.begin(), nsec_.end(), name_wire,
                             [](std::string_view n, const Node* node) { return wire::canonical_less(n, node->wire()); });
  // Before the first owner (the apex, so never for a name in the zone): the
  // last NSEC, whose next name wraps to the apex, covers it.
  return it == nsec_.begin() ? nsec_.back() : *(it - 1);
}

dns::Nsec3Hash DenialIndex::hash(std::string_view name_wire) const {
  return dns::nsec3_hash(name_wire, nsec3_salt_, nsec3_iterations_);
}

const DenialIndex::Nsec3Entry* DenialIndex::nsec3_matching(const dns::Nsec3Hash& h) const {
  auto it = std::lower_bound(chain_.begin(), chain_.end(), h,
                             [](const Nsec3Entry& e, const dns::Nsec3Hash& v) { return e.hash < v; });
  return it != chain_.end() && it->hash == h ? &*it : nullptr;
}

const DenialIndex::Nsec3Entry* DenialIndex::nsec3_covering(const dns::Nsec3Hash& h) const {
  if (chain_.empty()) return nullptr;
  auto it = std::lower_bound(chain_.begin(), chain_.end(), h,
                             [](const Nsec3Entry& e, const dns::Nsec3Hash& v) { return e.hash < v; });
  // The last owner hash below h; below the first, the last NSEC3 wraps around.
  return it == chain_.begin() ? &chain_.back() : &*(it - 1);
}

}  // namespace zone
