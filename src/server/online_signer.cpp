// Online signing at query time: the zone's keys parsed once per key set,
// signatures cached, compact denial of existence (RFC 9824).
#include "server/online_signer.h"

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/dnssec.h"
#include "dns/dnssec_sign.h"
#include "dns/message.h"
#include "zone/node_table.h"

namespace server {
namespace {

constexpr uint32_t kWeek = 7 * 86400;
constexpr uint16_t kNxName = 128;  // RFC 9824 §2: the NXNAME meta type in NSEC bit maps
constexpr size_t kMaxCachedSignatures = 200000;

/// One usable key of a zone.
struct ZoneKey {
  dns::SigningKey key;
  uint16_t tag = 0;
  bool ksk = false;
};

/// The keys of one zone, from its SIGNING_KEY RRset.
struct KeySet {
  std::vector<ZoneKey> signing;      // the keys that sign something now
  const ZoneKey* zsk = nullptr;      // signs everything but the key RRsets
  std::vector<const ZoneKey*> ksks;  // sign DNSKEY, CDS and CDNSKEY (two during a KSK roll)
};

/// Parsed key sets by the bytes of their records, so a key is decoded once.
class KeyCache {
 public:
  std::shared_ptr<const KeySet> get(const zone::RRset& records) {
    // Nearly every query finds the key set its thread used last: compared in
    // place, without building the cache's key or taking its lock.
    thread_local LastUsed last;
    if (!last.matches(records)) last.remember(records, find_or_parse(records));
    return last.set;
  }

 private:
  /// The key set a thread used last, with the records it came from.
  struct LastUsed {
    std::vector<std::string> records;
    std::shared_ptr<const KeySet> set;

    bool matches(const zone::RRset& rrset) const {
      if (!set || rrset.rdatas.size() != records.size()) return false;
      size_t i = 0;
      for (std::string_view rd : rrset.rdatas) {
        if (rd != records[i++]) return false;
      }
      return true;
    }
    void remember(const zone::RRset& rrset, std::shared_ptr<const KeySet> parsed) {
      records = rrset.rdatas;
      set = std::move(parsed);
    }
  };

  std::shared_ptr<const KeySet> find_or_parse(const zone::RRset& records) {
    std::string id;
    for (std::string_view rd : records.rdatas) {
      id += std::to_string(rd.size());
      id.push_back(':');
      id += rd;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = sets_.find(id); it != sets_.end()) return it->second;
    auto set = std::make_shared<KeySet>();
    std::vector<bool> is_active;  // of each key of set->signing: in the Active state
    for (std::string_view rd : records.rdatas) {
      auto rec = dns::SigningKeyRecord::decode(rd);
      if (!rec || !(rec->active() || rec->signs_keys())) continue;
      auto key = dns::SigningKey::from_private_der(rec->algorithm, rec->private_der);
      if (!key) continue;
      const std::string dnskey = dns::dnskey_rdata(rec->flags, rec->algorithm, key->public_key());
      set->signing.push_back(ZoneKey{*key, dns::key_tag(dnskey), rec->ksk()});
      is_active.push_back(rec->active());
    }
    const ZoneKey* active_ksk = nullptr;
    for (size_t i = 0; i < set->signing.size(); ++i) {
      const ZoneKey& k = set->signing[i];
      if (k.ksk) set->ksks.push_back(&k);
      if (k.ksk && !active_ksk && is_active[i]) active_ksk = &k;
      if (!k.ksk && !set->zsk) set->zsk = &k;
    }
    if (!set->zsk) set->zsk = active_ksk;  // a combined signing key signs everything
    if (set->ksks.empty() && set->zsk) set->ksks.push_back(set->zsk);
    if (sets_.size() > 64) sets_.clear();  // old key sets of rolled keys
    sets_[id] = set;
    return set;
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const KeySet>> sets_;
};

/// Signatures by everything they depend on.
class SignatureCache {
 public:
  bool find(const std::string& key, std::string* out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    *out = it->second;
    return true;
  }
  void put(std::string key, std::string rrsig) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= kMaxCachedSignatures) map_.clear();  // a new window or a flood of names: start over
    map_.emplace(std::move(key), std::move(rrsig));
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> map_;
};

KeyCache& key_cache() {
  static KeyCache c;
  return c;
}

SignatureCache& signature_cache() {
  static SignatureCache c;
  return c;
}

/// The RRsets made for the response being built on this thread: standalone
/// packed RRsets that RRsetRefs can point at until the next query.
std::deque<std::string>& made_rrsets() {
  thread_local std::deque<std::string> made;
  return made;
}

const zone::RRset* make_rrset(uint16_t type, uint32_t ttl, std::string_view rdata) {
  std::string& bytes = made_rrsets().emplace_back();
  const std::string_view one[] = {rdata};
  zone::NodeCodec::make_rrset(type, ttl, one, &bytes);
  return reinterpret_cast<const zone::RRset*>(bytes.data());
}

size_t label_count(std::string_view wire) {
  size_t n = 0;
  for (size_t p = 0; p < wire.size() && wire[p] != 0; p += 1 + static_cast<uint8_t>(wire[p])) ++n;
  return n;
}

bool signed_by_ksk(uint16_t type) {
  return type == dns::rrtype::DNSKEY || type == dns::rrtype::CDS || type == dns::rrtype::CDNSKEY;
}

/// The RRSIG rdata over one RRset by one key, from the cache or made now.
std::optional<std::string> rrsig_by(const zone::RRsetRef& ref, const ZoneKey& k, std::pair<uint32_t, uint32_t> window,
                                    const dns::Name& signer) {
  dns::RrsigFields f;
  f.type_covered = ref.rrset->type;
  f.algorithm = k.key.algorithm();
  f.labels = static_cast<uint8_t>(label_count(ref.owner->wire()));
  f.original_ttl = ref.ttl;
  f.inception = window.first;
  f.expiration = window.second;
  f.key_tag = k.tag;
  f.signer = signer;
  std::vector<std::string_view> rdatas(ref.rrset->rdatas.begin(), ref.rrset->rdatas.end());
  // The cache key: everything the signature covers, and the key.
  std::string id = signer.lowercased().wire() + ref.owner->lowercased().wire();
  id.push_back(static_cast<char>(f.type_covered >> 8));
  id.push_back(static_cast<char>(f.type_covered));
  id += std::to_string(f.original_ttl) + "/" + std::to_string(f.expiration) + "/" + std::to_string(f.key_tag) + "/";
  for (std::string_view rd : rdatas) {
    id += std::to_string(rd.size());
    id.push_back(':');
    id += rd;
  }
  std::string rrsig;
  if (signature_cache().find(id, &rrsig)) {
    signing_stats().cache_hits.fetch_add(1, std::memory_order_relaxed);
  } else {
    auto made = dns::make_rrsig(f, k.key, ref.owner->wire(), rdatas);
    if (!made) return std::nullopt;
    rrsig = std::move(made).value();
    signing_stats().signatures_made.fetch_add(1, std::memory_order_relaxed);
    signature_cache().put(std::move(id), rrsig);
  }
  return rrsig;
}

/// The RRSIG RRset over one RRset of the response: by the ZSK, or for the
/// key RRsets by each KSK that signs them (both during a KSK roll, so a
/// validator holding either DS validates, RFC 6781 §4.1.2).
const zone::RRset* rrsig_for(const zone::RRsetRef& ref, const KeySet& keys, std::pair<uint32_t, uint32_t> window,
                             const dns::Name& signer) {
  if (!signed_by_ksk(ref.rrset->type)) {
    auto one = rrsig_by(ref, *keys.zsk, window, signer);
    return one ? make_rrset(dns::rrtype::RRSIG, ref.ttl, *one) : nullptr;
  }
  std::vector<std::string> sigs;
  for (const ZoneKey* k : keys.ksks) {
    if (auto sig = rrsig_by(ref, *k, window, signer)) sigs.push_back(std::move(*sig));
  }
  if (sigs.empty()) return nullptr;
  if (sigs.size() == 1) return make_rrset(dns::rrtype::RRSIG, ref.ttl, sigs.front());
  std::vector<std::string_view> views(sigs.begin(), sigs.end());
  std::string& bytes = made_rrsets().emplace_back();
  zone::NodeCodec::make_rrset(dns::rrtype::RRSIG, ref.ttl, views, &bytes);
  return reinterpret_cast<const zone::RRset*>(bytes.data());
}

/// RFC 9824 §3: the NSEC that denies everything at `name` but what is
/// there: next name "\000.<name>", the types of `node` (none for a name
/// that does not exist, which gets NXNAME instead).
const zone::RRset* compact_nsec(std::string_view name, const zone::Node* node, uint32_t ttl) {
  if (name.size() + 2 > dns::kMaxNameLength) return nullptr;
  std::string rdata;
  rdata.push_back('\x01');
  rdata.push_back('\x00');
  rdata.append(name);
  std::vector<uint16_t> types = {dns::rrtype::RRSIG, dns::rrtype::NSEC};
  if (node) {
    for (const zone::RRset& s : node->rrsets) {
      if (s.type != dns::rrtype::SIGNING_KEY) types.push_back(s.type);
    }
  } else {
    types.push_back(kNxName);
  }
  rdata += dns::type_bitmap(std::move(types));
  return make_rrset(dns::rrtype::NSEC, ttl, rdata);
}

}  // namespace

SigningStats& signing_stats() {
  static SigningStats s;
  return s;
}

bool online_signed(const zone::Zone& zone) {
  const zone::Node* apex = zone.apex_node();
  return apex && apex->find(dns::rrtype::SIGNING_KEY) != nullptr;
}

std::pair<uint32_t, uint32_t> signature_window(uint64_t now) {
  const uint64_t week = now / kWeek;
  return {static_cast<uint32_t>((week - 1) * kWeek), static_cast<uint32_t>((week + 2) * kWeek)};
}

bool sign_online(const zone::Zone& zone, const dns::Name& qname, uint64_t now, zone::LookupResult* r) {
  const zone::Node* apex = zone.apex_node();
  const zone::RRset* records = apex ? apex->find(dns::rrtype::SIGNING_KEY) : nullptr;
  if (!records) return false;
  const std::shared_ptr<const KeySet> keys = key_cache().get(*records);
  if (!keys->zsk) return false;
  made_rrsets().clear();
  const auto window = signature_window(now);

  // Compact denial: the name asked about (or the chain's last target)
  // exists with exactly the types it has, or with none (NXNAME).
  const bool referral_without_ds =
      r->status == zone::LookupStatus::Referral && r->denied_node && !r->denied_node->find(dns::rrtype::DS);
  if (r->status == zone::LookupStatus::NxDomain || r->status == zone::LookupStatus::NoData || referral_without_ds) {
    const std::string_view name = r->denied_name;
    const dns::Name* owner = name == qname.wire() ? &qname : r->owners.add(name);
    const zone::Node* node = r->status == zone::LookupStatus::NxDomain ? nullptr : r->denied_node;
    const uint32_t ttl = zone.negative_ttl();
    if (const zone::RRset* nsec = owner ? compact_nsec(name, node, ttl) : nullptr) r->authority.push(owner, nsec, ttl);
    // RFC 9824 §3.2: NXDOMAIN becomes NOERROR; the NSEC's NXNAME says why.
    if (r->rcode == dns::rcode::NXDOMAIN) r->rcode = dns::rcode::NOERROR;
  }

  // Sign every RRset of the answer and authority sections. The lists only
  // grow, so the sizes are read before the signatures are appended.
  auto sign_section = [&](auto& list, bool authority) {
    const size_t n = list.size();
    for (size_t i = 0; i < n; ++i) {
      const zone::RRsetRef ref = list[i];
      if (ref.rrset->type == dns::rrtype::RRSIG) continue;
      // RFC 4035 §2.2: the NS RRset of a delegation is not signed.
      if (authority && r->status == zone::LookupStatus::Referral && ref.rrset->type == dns::rrtype::NS) continue;
      if (const zone::RRset* sig = rrsig_for(ref, *keys, window, zone.apex())) list.push(ref.owner, sig, ref.ttl);
    }
  };
  sign_section(r->answer, false);
  sign_section(r->authority, true);
  return true;
}

}  // namespace server
