// The zone tree: per-zone hash maps of names (with empty non-terminals),
// copy-on-write sharing between versions, and the rules a record must obey.
#include "zone/zone_set.h"

#include <algorithm>
#include <unordered_map>

namespace zone {

namespace wire {

size_t label_offsets(std::string_view name_wire, uint8_t offsets[kMaxLabels]) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < name_wire.size() && count < kMaxLabels) {
    const auto len = static_cast<uint8_t>(name_wire[pos]);
    if (len == 0) break;
    offsets[count++] = static_cast<uint8_t>(pos);
    pos += 1 + size_t{len};
  }
  return count;
}

size_t hash(std::string_view name_wire) {
  // FNV-1a over the lower-cased octets; length octets (< 64) are unaffected.
  uint64_t h = 1469598103934665603ULL;
  for (const char c : name_wire) {
    h ^= dns::ascii_lower(static_cast<uint8_t>(c));
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h);
}

bool equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (dns::ascii_lower(static_cast<uint8_t>(a[i])) != dns::ascii_lower(static_cast<uint8_t>(b[i]))) return false;
  }
  return true;
}

}  // namespace wire

namespace {

struct WireHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return wire::hash(s); }
};
struct WireEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return wire::equal(a, b); }
};

using NodeMap = std::unordered_map<std::string, Node, WireHash, WireEq>;

std::string lower_wire(std::string_view w) {
  std::string out(w);
  for (char& c : out) c = static_cast<char>(dns::ascii_lower(static_cast<uint8_t>(c)));
  return out;
}

/// The wire name with its leftmost label removed (the root stays the root).
std::string_view parent_wire(std::string_view w) {
  if (w.empty() || w[0] == 0) return w;
  return w.substr(1 + static_cast<uint8_t>(w[0]));
}

/// Types that RFC 4035 §2.5 and RFC 2181 §10.1 allow beside a CNAME.
bool allowed_beside_cname(uint16_t type) {
  constexpr uint16_t kRrsig = 46, kNsec = 47;
  return type == kRrsig || type == kNsec;
}

std::string describe(const dns::RR& rr) { return rr.owner.to_text() + " " + dns::type_to_text(rr.type); }

/// MINIMUM is the last field of SOA rdata (RFC 1035 §3.3.13).
uint32_t soa_minimum(std::string_view rdata) {
  if (rdata.size() < 4) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(rdata.data() + rdata.size() - 4);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

constexpr uint16_t kDs = 43;

}  // namespace

const RRset* Node::find(uint16_t type) const {
  for (const RRset& s : rrsets) {
    if (s.type == type) return &s;
  }
  return nullptr;
}

struct Zone::Data {
  dns::Name apex;
  NodeMap nodes;  // key: lower-cased wire name
  size_t records = 0;
  size_t delegations = 0;  // non-apex nodes holding NS
  uint32_t negative_ttl = 0;

  bool is_apex(std::string_view w) const { return wire::equal(w, apex.wire()); }

  const Node* find(std::string_view w) const {
    auto it = nodes.find(w);
    return it == nodes.end() ? nullptr : &it->second;
  }
  Node* find(std::string_view w) {
    auto it = nodes.find(w);
    return it == nodes.end() ? nullptr : &it->second;
  }

  /// The node for `owner`, created with every missing ancestor up to the apex
  /// (the empty non-terminals) if it does not exist yet.
  Node& ensure(const dns::Name& owner) {
    if (Node* n = find(owner.wire())) return *n;
    auto [it, inserted] = nodes.emplace(lower_wire(owner.wire()), Node{owner, {}, 0});
    (void)inserted;
    if (!is_apex(owner.wire())) ensure(owner.parent()).children++;
    return it->second;
  }

  /// Removes the node at `w` if it holds nothing and has no children, then
  /// its ancestors that became unneeded empty non-terminals.
  void prune(std::string_view w) {
    std::string key(w);
    while (!is_apex(key)) {
      auto it = nodes.find(key);
      if (it == nodes.end() || !it->second.rrsets.empty() || it->second.children > 0 || it->second.nested_apex) return;
      nodes.erase(it);
      key = std::string(parent_wire(key));
      if (Node* p = find(key)) p->children--;
    }
  }

  void refresh_soa_facts() {
    const Node* a = find(apex.wire());
    const RRset* soa = a ? a->find(dns::rrtype::SOA) : nullptr;
    negative_ttl = (soa && !soa->rdatas.empty()) ? std::min(soa->ttl, soa_minimum(soa->rdatas.front())) : 0;
  }

  /// Inserts a record already validated. Returns true if it was new.
  bool insert(const dns::RR& rr) {
    Node& node = ensure(rr.owner);
    auto pos = std::lower_bound(node.rrsets.begin(), node.rrsets.end(), rr.type,
                                [](const RRset& s, uint16_t t) { return s.type < t; });
    if (pos == node.rrsets.end() || pos->type != rr.type) {
      pos = node.rrsets.insert(pos, RRset{rr.type, rr.ttl, {}});
      if (rr.type == dns::rrtype::NS && !is_apex(rr.owner.wire())) delegations++;
    }
    pos->ttl = rr.ttl;  // RFC 2181 §5.2: one TTL per RRset, the latest wins
    auto rit = std::lower_bound(pos->rdatas.begin(), pos->rdatas.end(), rr.rdata);
    bool added = false;
    if (rit == pos->rdatas.end() || *rit != rr.rdata) {
      pos->rdatas.insert(rit, rr.rdata);
      records++;
      added = true;
    }
    if (rr.type == dns::rrtype::SOA) refresh_soa_facts();
    return added;
  }

  /// Removes `count` matching records (all of the RRset when rdata is null).
  size_t erase(std::string_view owner, uint16_t type, const std::string* rdata) {
    Node* node = find(owner);
    if (!node) return 0;
    auto pos = std::find_if(node->rrsets.begin(), node->rrsets.end(), [&](const RRset& s) { return s.type == type; });
    if (pos == node->rrsets.end()) return 0;
    size_t removed = 0;
    if (rdata) {
      auto rit = std::lower_bound(pos->rdatas.begin(), pos->rdatas.end(), *rdata);
      if (rit == pos->rdatas.end() || *rit != *rdata) return 0;
      pos->rdatas.erase(rit);
      removed = 1;
    } else {
      removed = pos->rdatas.size();
      pos->rdatas.clear();
    }
    records -= removed;
    if (pos->rdatas.empty()) {
      node->rrsets.erase(pos);
      if (type == dns::rrtype::NS && !is_apex(owner)) delegations--;
      prune(owner);
    }
    return removed;
  }

  void collect(std::vector<dns::RR>& out) const {
    for (const auto& [key, node] : nodes) {
      for (const RRset& s : node.rrsets) {
        for (const std::string& rd : s.rdatas) out.push_back(dns::RR{node.name, s.type, dns::rrclass::IN, s.ttl, rd});
      }
    }
  }
};

// --- Zone --------------------------------------------------------------------

const dns::Name& Zone::apex() const { return data_->apex; }
const Node* Zone::find(const dns::Name& name) const { return data_->find(name.wire()); }
const Node* Zone::find_wire(std::string_view name_wire) const { return data_->find(name_wire); }
const Node* Zone::apex_node() const { return data_->find(data_->apex.wire()); }
const RRset* Zone::soa() const {
  const Node* a = apex_node();
  return a ? a->find(dns::rrtype::SOA) : nullptr;
}
uint32_t Zone::negative_ttl() const { return data_->negative_ttl; }
size_t Zone::record_count() const { return data_->records; }
bool Zone::has_delegations() const { return data_->delegations > 0; }

// --- ZoneSet -----------------------------------------------------------------

struct ZoneSet::Impl {
  std::unordered_map<std::string, Zone, WireHash, WireEq> zones;  // key: lower-cased apex wire
  size_t records = 0;

  Zone* find_zone(std::string_view w) {
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(w, offs);
    for (size_t i = 0; i <= n; ++i) {
      const std::string_view suffix = i < n ? w.substr(offs[i]) : w.substr(w.size() - 1);
      auto it = zones.find(suffix);
      if (it != zones.end()) return &it->second;
    }
    return nullptr;
  }

  Zone* parent_of(const Zone& z) {
    const std::string& w = z.apex().wire();
    if (w.size() <= 1) return nullptr;
    return find_zone(parent_wire(w));
  }

  /// The zone a record belongs to: the deepest enclosing one, except that DS
  /// at a nested apex lives on the parent side of the cut (RFC 4035 §2.4).
  Zone* zone_for(const dns::Name& owner, uint16_t type) {
    Zone* z = find_zone(owner.wire());
    if (z && type == kDs && wire::equal(z->apex().wire(), owner.wire())) {
      if (Zone* p = parent_of(*z)) return p;
    }
    return z;
  }

  /// Marks each zone's apex in the zone enclosing it, creating the empty
  /// non-terminals between the two apexes. Zones come and go rarely: O(zones).
  void mark_nested_apexes() {
    for (auto& [key, z] : zones) {
      Zone* p = parent_of(z);
      if (!p) continue;
      const Node* existing = p->data_->find(z.apex().wire());
      if (existing && existing->nested_apex) continue;
      mut(*p).ensure(z.apex()).nested_apex = true;
    }
  }

  static Zone::Data& mut(Zone& z) {
    if (z.data_.use_count() != 1) z.data_ = std::make_shared<Zone::Data>(*z.data_);
    return const_cast<Zone::Data&>(*z.data_);  // created non-const by make_shared, now unshared
  }
};

ZoneSet::ZoneSet() : impl_(std::make_shared<Impl>()) {}
ZoneSet::ZoneSet(const ZoneSet&) = default;
ZoneSet& ZoneSet::operator=(const ZoneSet&) = default;
ZoneSet::ZoneSet(ZoneSet&& o) noexcept : impl_(std::move(o.impl_)) { o.impl_ = nullptr; }
ZoneSet& ZoneSet::operator=(ZoneSet&& o) noexcept {
  impl_ = std::move(o.impl_);
  return *this;
}
ZoneSet::~ZoneSet() = default;

ZoneSet::Impl& ZoneSet::mutable_impl() {
  if (!impl_) impl_ = std::make_shared<Impl>();  // a moved-from set is usable again
  if (impl_.use_count() != 1) impl_ = std::make_shared<Impl>(*impl_);
  return *impl_;
}

const Zone* ZoneSet::find_zone(const dns::Name& name) const { return find_zone_wire(name.wire()); }

const Zone* ZoneSet::find_zone_wire(std::string_view name_wire) const {
  if (!impl_) return nullptr;
  return impl_->find_zone(name_wire);
}

const Zone* ZoneSet::find_parent_zone(const Zone& zone) const {
  if (!impl_) return nullptr;
  return impl_->parent_of(zone);
}

util::Result<void> ZoneSet::add(const dns::RR& rr) {
  if (rr.rclass != dns::rrclass::IN) {
    return util::make_error(describe(rr) + ": class " + dns::class_to_text(rr.rclass) +
                            " is not served; only IN records can be stored");
  }
  if (dns::is_meta_type(rr.type)) {
    return util::make_error(describe(rr) + ": " + dns::type_to_text(rr.type) +
                            " is a meta type and cannot be stored in a zone");
  }
  if (auto v = dns::rdata_validate(rr.type, rr.rdata); !v) {
    return util::make_error(describe(rr) + ": invalid rdata: " + v.error().message);
  }
  Impl& impl = mutable_impl();

  if (rr.type == dns::rrtype::SOA) {
    Zone* z = impl.find_zone(rr.owner.wire());
    if (z && wire::equal(z->apex().wire(), rr.owner.wire())) {
      // Exactly one SOA per zone: a new one replaces the old.
      Zone::Data& d = Impl::mut(*z);
      const size_t before = d.records;
      d.erase(rr.owner.wire(), dns::rrtype::SOA, nullptr);
      d.insert(rr);
      impl.records = impl.records - before + d.records;
      return {};
    }
    auto data = std::make_shared<Zone::Data>();
    data->apex = rr.owner;
    std::vector<dns::RR> moved;
    if (z) {
      // A nested zone: it takes over the parent's records at and below its
      // apex, except DS at the apex, which stays on the parent side.
      const Zone::Data& pd = *z->data_;
      if (const Node* n = pd.find(rr.owner.wire()); n && n->find(dns::rrtype::CNAME)) {
        return util::make_error(describe(rr) + ": " + rr.owner.to_text() +
                                " has a CNAME, which cannot stand beside other data (RFC 1034 §3.6.2)");
      }
      std::vector<dns::RR> kept;
      std::vector<dns::RR> all;
      pd.collect(all);
      for (dns::RR& r : all) {
        const bool below = r.owner.is_subdomain_of(rr.owner);
        const bool ds_at_cut = r.type == kDs && r.owner == rr.owner;
        (below && !ds_at_cut ? moved : kept).push_back(std::move(r));
      }
      // Rebuilt from its records; the nested-apex marks are redone below.
      auto rebuilt = std::make_shared<Zone::Data>();
      rebuilt->apex = pd.apex;
      rebuilt->nodes.emplace(lower_wire(pd.apex.wire()), Node{pd.apex, {}, 0});
      for (const dns::RR& r : kept) rebuilt->insert(r);
      rebuilt->refresh_soa_facts();
      z->data_ = std::move(rebuilt);
    }
    data->insert(rr);
    for (const dns::RR& r : moved) data->insert(r);
    impl.zones.emplace(lower_wire(rr.owner.wire()), Zone(std::move(data)));
    impl.records += 1;
    impl.mark_nested_apexes();
    return {};
  }

  Zone* z = impl.zone_for(rr.owner, rr.type);
  if (!z) return util::make_error(describe(rr) + ": no zone for " + rr.owner.to_text() + " (add its SOA first)");

  if (const Node* n = z->data_->find(rr.owner.wire())) {
    if (rr.type == dns::rrtype::CNAME) {
      if (const RRset* c = n->find(dns::rrtype::CNAME); c && !(c->rdatas.size() == 1 && c->rdatas[0] == rr.rdata)) {
        return util::make_error(describe(rr) + ": " + rr.owner.to_text() +
                                " already has a CNAME; a name can have only one (RFC 2181 §10.1)");
      }
      for (const RRset& s : n->rrsets) {
        if (s.type != dns::rrtype::CNAME && !allowed_beside_cname(s.type)) {
          return util::make_error(describe(rr) + ": " + rr.owner.to_text() + " already has " +
                                  dns::type_to_text(s.type) +
                                  " records; a CNAME cannot stand beside other data (RFC 1034 §3.6.2)");
        }
      }
    } else if (n->find(dns::rrtype::CNAME) && !allowed_beside_cname(rr.type)) {
      return util::make_error(describe(rr) + ": " + rr.owner.to_text() +
                              " has a CNAME, which cannot stand beside other data (RFC 1034 §3.6.2)");
    }
  }
  if (rr.type == dns::rrtype::CNAME && wire::equal(rr.owner.wire(), z->apex().wire())) {
    return util::make_error(describe(rr) + ": a zone apex holds SOA and NS, so it cannot have a CNAME (RFC 1034 §3.6.2)");
  }
  if (Impl::mut(*z).insert(rr)) impl.records++;
  return {};
}

util::Result<bool> ZoneSet::remove(const dns::RR& rr) {
  if (!impl_) return false;
  if (rr.type == dns::rrtype::SOA) {
    const Zone* cz = impl_->find_zone(rr.owner.wire());
    if (!cz || !wire::equal(cz->apex().wire(), rr.owner.wire())) return false;
    const RRset* soa = cz->soa();
    if (!soa || soa->rdatas.empty() || soa->rdatas.front() != rr.rdata) return false;
    if (cz->record_count() > 1) {
      return util::make_error(describe(rr) + ": the zone " + rr.owner.to_text() + " still has " +
                              std::to_string(cz->record_count() - 1) +
                              " other records; remove them before its SOA");
    }
    Impl& impl = mutable_impl();
    auto it = impl.zones.find(std::string_view(rr.owner.wire()));
    if (Zone* parent = impl.parent_of(it->second)) {
      Zone::Data& pd = Impl::mut(*parent);
      if (Node* n = pd.find(rr.owner.wire())) {
        n->nested_apex = false;
        pd.prune(rr.owner.wire());
      }
    }
    impl.zones.erase(it);
    impl.records -= 1;
    impl.mark_nested_apexes();  // zones nested in the removed one now hang off its parent
    return true;
  }
  const Zone* cz = impl_->zone_for(rr.owner, rr.type);
  if (!cz || !cz->find(rr.owner)) return false;
  if (const Node* n = cz->find(rr.owner); !n->find(rr.type)) return false;
  Impl& impl = mutable_impl();
  Zone* z = impl.zone_for(rr.owner, rr.type);
  const size_t removed = Impl::mut(*z).erase(rr.owner.wire(), rr.type, &rr.rdata);
  impl.records -= removed;
  return removed > 0;
}

util::Result<size_t> ZoneSet::remove_rrset(const dns::Name& owner, uint16_t type) {
  if (!impl_) return size_t{0};
  const Zone* cz = impl_->zone_for(owner, type);
  if (!cz) return size_t{0};
  const Node* n = cz->find(owner);
  const RRset* s = n ? n->find(type) : nullptr;
  if (!s) return size_t{0};
  if (type == dns::rrtype::SOA) {
    auto r = remove(dns::RR{owner, type, dns::rrclass::IN, s->ttl, s->rdatas.front()});
    if (!r) return r.error();
    return size_t{*r ? 1u : 0u};
  }
  Impl& impl = mutable_impl();
  Zone* z = impl.zone_for(owner, type);
  const size_t removed = Impl::mut(*z).erase(owner.wire(), type, nullptr);
  impl.records -= removed;
  return removed;
}

namespace {
std::vector<const Zone*> zones_in_order(const std::unordered_map<std::string, Zone, WireHash, WireEq>& zones) {
  std::vector<const Zone*> out;
  out.reserve(zones.size());
  for (const auto& [key, z] : zones) out.push_back(&z);
  std::sort(out.begin(), out.end(), [](const Zone* a, const Zone* b) { return a->apex() < b->apex(); });
  return out;
}
}  // namespace

void ZoneSet::for_each_record(const std::function<void(const dns::RR&)>& fn) const {
  if (!impl_) return;
  for (const Zone* z : zones_in_order(impl_->zones)) {
    std::vector<const Node*> nodes;
    for (const auto& [key, node] : z->data_->nodes) nodes.push_back(&node);
    std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) { return a->name < b->name; });
    dns::RR rr;
    rr.rclass = dns::rrclass::IN;
    for (const Node* n : nodes) {
      rr.owner = n->name;
      for (const RRset& s : n->rrsets) {
        rr.type = s.type;
        rr.ttl = s.ttl;
        for (const std::string& rd : s.rdatas) {
          rr.rdata = rd;
          fn(rr);
        }
      }
    }
  }
}

std::vector<dns::Name> ZoneSet::zone_names() const {
  std::vector<dns::Name> out;
  if (!impl_) return out;
  for (const Zone* z : zones_in_order(impl_->zones)) out.push_back(z->apex());
  return out;
}

size_t ZoneSet::record_count() const { return impl_ ? impl_->records : 0; }

}  // namespace zone
