// The zone tree: per-zone node tables of names (with empty non-terminals),
// copy-on-write sharing between versions, and the rules a record must obey.
#include "zone/zone_set.h"

#include <algorithm>
#include <array>
#include <map>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "zone/denial.h"

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

size_t hash(std::string_view name_wire) { return NameKey(name_wire).hash; }

bool equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (dns::ascii_lower(static_cast<uint8_t>(a[i])) != dns::ascii_lower(static_cast<uint8_t>(b[i]))) return false;
  }
  return true;
}

// A shorter label sorts first when it is a prefix of a longer one.
bool canonical_less(std::string_view a, std::string_view b) {
  uint8_t la[wire::kMaxLabels], lb[wire::kMaxLabels];
  size_t ia = wire::label_offsets(a, la), ib = wire::label_offsets(b, lb);
  while (ia > 0 && ib > 0) {
    const size_t pa = la[--ia], pb = lb[--ib];
    const size_t na = static_cast<uint8_t>(a[pa]), nb = static_cast<uint8_t>(b[pb]);
    const size_t n = std::min(na, nb);
    for (size_t i = 1; i <= n; ++i) {
      const uint8_t ca = dns::ascii_lower(static_cast<uint8_t>(a[pa + i]));
      const uint8_t cb = dns::ascii_lower(static_cast<uint8_t>(b[pb + i]));
      if (ca != cb) return ca < cb;
    }
    if (na != nb) return na < nb;
  }
  return ia == 0 && ib != 0;
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

std::string describe(const dns::RR& rr) { return rr.owner.to_text() + " " + dns::type_to_text(rr.type); }

/// Why a record cannot be stored anywhere, judged on the record alone: its
/// class, a meta type, rdata invalid for its type.
std::optional<util::Error> record_error(const dns::RR& rr) {
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
  return std::nullopt;
}

/// Why `rr` cannot join the RRsets already at its owner: CNAME beside other
/// data (RFC 1034 §3.6.2), a second CNAME (RFC 2181 §10.1). `sets` is any
/// range of RRsets with .type and .rdatas: a stored node's, or one being built.
template <class Sets>
std::optional<util::Error> cname_error(const dns::RR& rr, const Sets& sets) {
  const auto* cname = static_cast<decltype(&*std::begin(sets))>(nullptr);
  for (const auto& set : sets) {
    if (set.type == dns::rrtype::CNAME) cname = &set;
  }
  if (rr.type == dns::rrtype::CNAME) {
    if (cname && !(cname->rdatas.size() == 1 && cname->rdatas[0] == rr.rdata)) {
      return util::make_error(util::ErrorKind::Conflict, describe(rr) + ": " + rr.owner.to_text() +
                              " already has a CNAME; a name can have only one (RFC 2181 §10.1)");
    }
    for (const auto& set : sets) {
      if (set.type != dns::rrtype::CNAME && !dns::allowed_beside_cname(set.type)) {
        return util::make_error(util::ErrorKind::Conflict, describe(rr) + ": " + rr.owner.to_text() + " already has " +
                                dns::type_to_text(set.type) +
                                " records; a CNAME cannot stand beside other data (RFC 1034 §3.6.2)");
      }
    }
  } else if (cname && !dns::allowed_beside_cname(rr.type)) {
    return util::make_error(util::ErrorKind::Conflict, describe(rr) + ": " + rr.owner.to_text() +
                            " has a CNAME, which cannot stand beside other data (RFC 1034 §3.6.2)");
  }
  return std::nullopt;
}

util::Error apex_cname_error(const dns::RR& rr) {
  return util::make_error(util::ErrorKind::Conflict, describe(rr) +
                          ": a zone apex holds SOA and NS, so it cannot have a CNAME (RFC 1034 §3.6.2)");
}

util::Error no_zone_error(const dns::RR& rr) {
  return util::make_error(util::ErrorKind::NotFound,
                          describe(rr) + ": no zone for " + rr.owner.to_text() + " (add its SOA first)");
}

/// MINIMUM is the last field of SOA rdata (RFC 1035 §3.3.13).
uint32_t soa_minimum(std::string_view rdata) {
  if (rdata.size() < 4) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(rdata.data() + rdata.size() - 4);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}


/// Scratch for building a node's new bytes; reused so a bulk load does not
/// allocate per record.
std::string& scratch() {
  thread_local std::string buf;
  return buf;
}

}  // namespace

/// A DenialIndex built on demand for one zone version. Copying a version
/// (to change it) starts the copy without one; any change drops it, since it
/// points at nodes. Built under a lock, read without one.
class DenialSlot {
 public:
  DenialSlot() = default;
  DenialSlot(const DenialSlot&) {}
  DenialSlot& operator=(const DenialSlot&) {
    reset();
    return *this;
  }
  ~DenialSlot() { reset(); }
  void reset() { delete index_.exchange(nullptr, std::memory_order_acq_rel); }
  template <class Build>
  const DenialIndex& get(Build&& build) const {
    if (const DenialIndex* d = index_.load(std::memory_order_acquire)) return *d;
    static std::mutex building;
    std::lock_guard<std::mutex> lock(building);
    if (const DenialIndex* d = index_.load(std::memory_order_acquire)) return *d;
    auto* d = new DenialIndex(build());
    index_.store(d, std::memory_order_release);
    return *d;
  }

 private:
  mutable std::atomic<const DenialIndex*> index_{nullptr};
};

struct Zone::Data {
  dns::Name apex;
  NodeTable nodes;
  size_t records = 0;
  size_t delegations = 0;  // non-apex nodes holding NS
  size_t nsec3_rrsets = 0;  // nodes holding NSEC3
  uint32_t negative_ttl = 0;
  DenialSlot denial;

  bool is_apex(std::string_view w) const { return wire::equal(w, apex.wire()); }

  const Node* find(std::string_view w) const { return nodes.find(w); }

  /// Creates the node for `owner` if missing, with every missing ancestor up
  /// to the apex (the empty non-terminals), counting it in its parent.
  void ensure(std::string_view owner) {
    if (nodes.find(owner)) return;
    std::string& bytes = scratch();
    NodeCodec::make_empty(owner, &bytes);
    add_node(owner, bytes);
  }

  /// Adds a node that does not exist yet and links it to its parent.
  void add_node(std::string_view owner, std::string_view bytes) {
    denial.reset();
    nodes.insert(owner, bytes);
    if (is_apex(owner)) return;
    const std::string_view parent = parent_wire(owner);
    ensure(parent);
    Node* p = nodes.find_mutable(parent);
    NodeCodec::set_children(*p, p->children() + 1);
  }

  void set_nested_apex(std::string_view owner, bool on) {
    denial.reset();
    if (Node* n = nodes.find_mutable(owner)) NodeCodec::set_nested_apex(*n, on);
  }

  /// Removes the node at `w` if it holds nothing and has no children, then
  /// its ancestors that became unneeded empty non-terminals.
  void prune(std::string_view w) {
    denial.reset();
    std::string key(w);
    while (!is_apex(key)) {
      const Node* n = nodes.find(key);
      if (!n || !n->rrsets.empty() || n->children() > 0 || n->nested_apex()) return;
      nodes.erase(key);
      key = std::string(parent_wire(key));
      if (Node* p = nodes.find_mutable(key)) NodeCodec::set_children(*p, p->children() - 1);
    }
  }

  void refresh_soa_facts() {
    const Node* a = find(apex.wire());
    const RRset* soa = a ? a->find(dns::rrtype::SOA) : nullptr;
    negative_ttl = (soa && !soa->rdatas.empty()) ? std::min(soa->ttl, soa_minimum(soa->rdatas.front())) : 0;
  }

  /// Inserts a record already validated. Returns true if it was new.
  bool insert(const dns::RR& rr) {
    denial.reset();
    const std::string_view owner = rr.owner.wire();
    const Node* n = nodes.find(owner);
    const bool new_rrset = !n || n->find(rr.type) == nullptr;
    std::string& bytes = scratch();
    bool added = false;
    if (!n) {
      // A new name: built with its record, then linked to its parent.
      thread_local std::string empty;
      NodeCodec::make_empty(owner, &empty);
      NodeCodec::with_rdata(*reinterpret_cast<const Node*>(empty.data()), rr.type, rr.ttl, rr.rdata, &bytes);
      add_node(owner, bytes);
      records++;
      added = true;
    } else if (NodeCodec::with_rdata(*n, rr.type, rr.ttl, rr.rdata, &bytes)) {
      nodes.replace(owner, bytes);
      records++;
      added = true;
    } else {
      // RFC 2181 §5.2: one TTL per RRset, the latest wins.
      NodeCodec::set_ttl(*nodes.find_mutable(owner)->find(rr.type), rr.ttl);
    }
    if (new_rrset && rr.type == dns::rrtype::NS && !is_apex(owner)) delegations++;
    if (new_rrset && rr.type == dns::rrtype::NSEC3) nsec3_rrsets++;
    if (rr.type == dns::rrtype::SOA) refresh_soa_facts();
    return added;
  }

  /// Removes the matching record (all of the RRset when rdata is null).
  size_t erase(std::string_view owner, uint16_t type, const std::string* rdata) {
    denial.reset();
    const Node* node = find(owner);
    if (!node) return 0;
    const RRset* set = node->find(type);
    if (!set) return 0;
    const bool rrset_goes = !rdata || (set->rdatas.size() == 1 && set->rdatas.front() == *rdata);
    const std::string_view rd = rdata ? std::string_view(*rdata) : std::string_view();
    std::string& bytes = scratch();
    const size_t removed = NodeCodec::without(*node, type, rdata ? &rd : nullptr, &bytes);
    if (removed == 0) return 0;
    nodes.replace(owner, bytes);
    records -= removed;
    if (rrset_goes) {
      if (type == dns::rrtype::NS && !is_apex(owner)) delegations--;
      if (type == dns::rrtype::NSEC3) nsec3_rrsets--;
      prune(owner);
    }
    return removed;
  }

  void collect(std::vector<dns::RR>& out) const {
    nodes.for_each([&](const Node& node) {
      for (const RRset& s : node.rrsets) {
        for (std::string_view rd : s.rdatas) {
          out.push_back(dns::RR{node.owner(), s.type, dns::rrclass::IN, s.ttl, std::string(rd)});
        }
      }
    });
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
bool Zone::has_nsec3() const { return data_->nsec3_rrsets > 0; }
const DenialIndex& Zone::denial() const {
  const Data& d = *data_;
  return d.denial.get([&d] {
    return DenialIndex::build(d.find(d.apex.wire()), d.apex, [&d](auto&& fn) { d.nodes.for_each(fn); });
  });
}
const NodeTable& Zone::nodes() const { return data_->nodes; }

// --- ZoneSet -----------------------------------------------------------------

namespace {
/// Whether a label of wire name `w` starts at offset `at` (the final root label counts).
bool at_label_start(std::string_view w, size_t at) {
  size_t pos = 0;
  while (pos < at && pos < w.size() && w[pos] != 0) pos += 1 + static_cast<uint8_t>(w[pos]);
  return pos == at;
}
}  // namespace

struct ZoneSet::Impl {
  /// Up to this many zones, find_zone compares apexes one by one.
  static constexpr size_t kFewZones = 4;

  std::unordered_map<std::string, Zone, WireHash, WireEq> zones;  // key: lower-cased apex wire
  size_t records = 0;

  Zone* find_zone(std::string_view w) {
    if (zones.size() <= kFewZones) {
      // A server with one zone (or a few) compares the name's tail with each
      // apex instead of hashing every suffix of the name.
      Zone* best = nullptr;
      for (auto& [key, z] : zones) {
        const std::string& a = z.apex().wire();
        if (a.size() > w.size() || (best && a.size() <= best->apex().wire().size())) continue;
        if (wire::equal(w.substr(w.size() - a.size()), a) && at_label_start(w, w.size() - a.size())) best = &z;
      }
      return best;
    }
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

  /// The zone a record belongs to: the deepest enclosing one, except that a
  /// parent-side type at a nested apex lives in the parent (RFC 4035 §2.4).
  Zone* zone_for(std::string_view owner, uint16_t type) {
    Zone* z = find_zone(owner);
    if (z && dns::parent_side_type(type) && wire::equal(z->apex().wire(), owner)) {
      if (Zone* p = parent_of(*z)) return p;
    }
    return z;
  }

  /// The zones no other zone encloses, by tree key (see tree_key): the ones
  /// under an apex sit in one range of it. Kept up to date while only such
  /// top-level zones are created (a zone file directory of sibling zones);
  /// a nested zone or a removal clears it, and the next creation rebuilds it.
  std::map<std::string, std::string, std::less<>> roots;  // tree key -> key in `zones`
  bool roots_valid = false;

  /// The labels of a lower-cased apex wire from the root down, each with its
  /// length octet: a name under another has the other's key as a prefix.
  static std::string tree_key(std::string_view w) {
    uint8_t offs[wire::kMaxLabels];
    const size_t n = wire::label_offsets(w, offs);
    std::string key;
    key.reserve(w.size());
    for (size_t i = n; i-- > 0;) key.append(w.substr(offs[i], 1 + static_cast<uint8_t>(w[offs[i]])));
    return key;
  }

  void rebuild_roots() {
    roots.clear();
    for (auto& [key, z] : zones) {
      if (!parent_of(z)) roots.emplace(tree_key(key), key);
    }
    roots_valid = true;
  }

  /// After creating zone `key`, which no zone encloses: the top-level zones
  /// under it now hang off it, and nothing else changed. O(log zones) with
  /// the roots index, where marking every zone again made a directory of
  /// 10,000 zone files cost 10,000 x 10,000 parent lookups.
  void adopt_top_level_zones_below(const std::string& key) {
    if (!roots_valid) {
      mark_nested_apexes();
      rebuild_roots();
      return;
    }
    Zone& z = zones.find(std::string_view(key))->second;
    const std::string tk = tree_key(key);
    for (auto it = roots.lower_bound(tk); it != roots.end() && it->first.starts_with(tk);) {
      const std::string& child_apex = zones.find(std::string_view(it->second))->second.apex().wire();
      Zone::Data& d = mut(z);
      d.ensure(child_apex);
      d.set_nested_apex(child_apex, true);
      it = roots.erase(it);
    }
    roots.emplace(tk, key);
  }

  /// Marks each zone's apex in the zone enclosing it, creating the empty
  /// non-terminals between the two apexes. O(zones): for a nested zone or a
  /// removal (see adopt_top_level_zones_below).
  void mark_nested_apexes() {
    for (auto& [key, z] : zones) {
      Zone* p = parent_of(z);
      if (!p) continue;
      const Node* existing = p->data_->find(z.apex().wire());
      if (existing && existing->nested_apex()) continue;
      Zone::Data& pd = mut(*p);
      pd.ensure(z.apex().wire());
      pd.set_nested_apex(z.apex().wire(), true);
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

const Zone* ZoneSet::zone_for_wire(std::string_view owner_wire, uint16_t type) const {
  if (!impl_) return nullptr;
  return impl_->zone_for(owner_wire, type);
}

util::Result<void> ZoneSet::add(const dns::RR& rr) {
  if (auto e = record_error(rr)) return std::move(*e);
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
        return util::make_error(util::ErrorKind::Conflict, describe(rr) + ": " + rr.owner.to_text() +
                                " has a CNAME, which cannot stand beside other data (RFC 1034 §3.6.2)");
      }
      std::vector<dns::RR> kept;
      std::vector<dns::RR> all;
      pd.collect(all);
      for (dns::RR& r : all) {
        const bool below = r.owner.is_subdomain_of(rr.owner);
        const bool ds_at_cut = dns::parent_side_type(r.type) && r.owner == rr.owner;
        (below && !ds_at_cut ? moved : kept).push_back(std::move(r));
      }
      // Rebuilt from its records; the nested-apex marks are redone below.
      auto rebuilt = std::make_shared<Zone::Data>();
      rebuilt->apex = pd.apex;
      rebuilt->ensure(pd.apex.wire());
      for (const dns::RR& r : kept) rebuilt->insert(r);
      rebuilt->refresh_soa_facts();
      z->data_ = std::move(rebuilt);
    }
    data->insert(rr);
    for (const dns::RR& r : moved) data->insert(r);
    std::string key = lower_wire(rr.owner.wire());
    impl.zones.emplace(key, Zone(std::move(data)));
    impl.records += 1;
    if (z) {
      impl.roots_valid = false;
      impl.mark_nested_apexes();
    } else {
      impl.adopt_top_level_zones_below(key);
    }
    return {};
  }

  Zone* z = impl.zone_for(rr.owner.wire(), rr.type);
  if (!z) return no_zone_error(rr);

  if (const Node* n = z->data_->find(rr.owner.wire())) {
    if (auto e = cname_error(rr, n->rrsets)) return std::move(*e);
  }
  if (rr.type == dns::rrtype::CNAME && wire::equal(rr.owner.wire(), z->apex().wire())) return apex_cname_error(rr);
  if (Impl::mut(*z).insert(rr)) impl.records++;
  return {};
}

namespace {

/// An RRset of a node being built by add_all: views of rdatas that live in
/// the stored node or in the records being added.
struct BuildSet {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::string_view> rdatas;  // sorted by octets, no duplicates
};

bool holds(const BuildSet& set, std::string_view rdata) {
  return std::binary_search(set.rdatas.begin(), set.rdatas.end(), rdata);
}

}  // namespace

ZoneSet::BulkAddResult ZoneSet::add_all(std::span<const dns::RR* const> records) {
  BulkAddResult out;
  if (records.empty()) return out;
  std::vector<std::string> modified_keys;  // lower-cased apex wires, as zones are keyed
  auto note_modified = [&](const Zone& z) {
    std::string key = lower_wire(z.apex().wire());
    if (std::find(modified_keys.begin(), modified_keys.end(), key) != modified_keys.end()) return;
    modified_keys.push_back(std::move(key));
    out.modified_zones.push_back(z.apex());
  };
  if (std::any_of(records.begin(), records.end(), [](const dns::RR* rr) { return rr->type == dns::rrtype::SOA; })) {
    // An SOA may create or reshape zones under the records that follow it:
    // one at a time, as the caller would.
    for (size_t i = 0; i < records.size(); ++i) {
      const dns::RR& rr = *records[i];
      if (const Zone* z = zone_for(rr.owner, rr.type)) {
        const Node* n = z->find(rr.owner);
        const RRset* set = n ? n->find(rr.type) : nullptr;
        if (set && set->ttl == rr.ttl && std::find(set->rdatas.begin(), set->rdatas.end(), rr.rdata) != set->rdatas.end()) {
          continue;
        }
      }
      if (auto added = add(rr); !added) {
        out.refused.emplace_back(i, added.error());
      } else if (const Zone* z = zone_for(rr.owner, rr.type)) {
        note_modified(*z);
      }
    }
    return out;
  }
  Impl& impl = mutable_impl();

  // 1. Each record's zone and its owner's hash; sorted, the records of one
  // owner come together, in input order.
  struct Item {
    uint32_t zone;
    uint32_t hash;
    uint32_t index;
  };
  std::vector<Zone*> zones;  // the distinct zones the records fall in
  std::vector<Item> items;
  items.reserve(records.size());
  size_t arena_estimate = 0;  // octets of the nodes built below, about
  for (size_t i = 0; i < records.size(); ++i) {
    const dns::RR& rr = *records[i];
    arena_estimate += sizeof(Node) + sizeof(RRset) + 8 + rr.owner.wire().size() + rr.rdata.size();
    Zone* z = impl.zone_for(rr.owner.wire(), rr.type);
    if (!z) {
      // As add(): the record's own faults first, then the missing zone.
      out.refused.emplace_back(i, record_error(rr).value_or(no_zone_error(rr)));
      continue;
    }
    auto zi = std::find(zones.begin(), zones.end(), z);
    if (zi == zones.end()) zi = zones.insert(zones.end(), z);
    items.push_back({static_cast<uint32_t>(zi - zones.begin()), NameKey(rr.owner.wire()).hash, static_cast<uint32_t>(i)});
  }
  // Sorted by (zone, hash), stably: the items are in input order already.
  // A radix sort, 11 bits a pass: a comparison sort of a million items
  // was a tenth of a restart's CPU.
  {
    std::vector<Item> spare(items.size());
    auto pass = [&](auto digit) {
      std::array<uint32_t, 2049> starts{};
      for (const Item& it : items) ++starts[digit(it) + 1];
      for (size_t d = 1; d < starts.size(); ++d) starts[d] += starts[d - 1];
      for (const Item& it : items) spare[starts[digit(it)]++] = it;
      items.swap(spare);
    };
    for (unsigned shift = 0; shift < 32; shift += 11) pass([shift](const Item& it) { return (it.hash >> shift) & 0x7ffu; });
    for (unsigned shift = 0; shift < 32 && (zones.size() - 1) >> shift; shift += 11) {
      pass([shift](const Item& it) { return (it.zone >> shift) & 0x7ffu; });
    }
  }
  // The owners, each with its records (in input order), listed by their
  // first record's position: built in that order, the records are read and
  // the nodes written one after the other rather than in hash order, which
  // costs a cache miss each in a zone file's million records.
  struct Owner {
    uint32_t zone;
    uint32_t hash;
    uint32_t begin;  // its records: members[begin, begin + count)
    uint32_t count;
    uint32_t first;  // members[begin], kept here: `members` is in hash order
  };
  std::vector<Owner> owners;
  std::vector<uint32_t> members;
  owners.reserve(items.size());
  members.reserve(items.size());
  {
    std::vector<uint32_t> owner_at(records.size(), UINT32_MAX);  // owner whose first record is at i
    std::vector<bool> taken;
    size_t at = 0;
    while (at < items.size()) {
      size_t end = at + 1;
      while (end < items.size() && items[end].zone == items[at].zone && items[end].hash == items[at].hash) ++end;
      if (end - at == 1) {
        owner_at[items[at].index] = static_cast<uint32_t>(owners.size());
        owners.push_back({items[at].zone, items[at].hash, static_cast<uint32_t>(members.size()), 1, items[at].index});
        members.push_back(items[at].index);
        at = end;
        continue;
      }
      // Names of equal hash but different spelling are different owners.
      taken.assign(end - at, false);
      for (size_t lead = at; lead < end; ++lead) {
        if (taken[lead - at]) continue;
        const std::string_view owner_wire = records[items[lead].index]->owner.wire();
        owner_at[items[lead].index] = static_cast<uint32_t>(owners.size());
        Owner& o = owners.emplace_back(
            Owner{items[lead].zone, items[lead].hash, static_cast<uint32_t>(members.size()), 0, items[lead].index});
        for (size_t k = lead; k < end; ++k) {
          if (!taken[k - at] && wire::equal(records[items[k].index]->owner.wire(), owner_wire)) {
            taken[k - at] = true;
            members.push_back(items[k].index);
            ++o.count;
          }
        }
      }
      at = end;
    }
    items = {};
    std::vector<Owner> ordered;
    ordered.reserve(owners.size());
    for (uint32_t o : owner_at) {
      if (o != UINT32_MAX) ordered.push_back(owners[o]);
    }
    owners = std::move(ordered);
  }

  // 2. Each owner's node as the records in order would leave it, built once.
  struct Built {
    uint32_t zone;
    uint32_t hash;
    uint32_t first;   // input position of the record that created it
    size_t offset;    // of its bytes in `arena`
    bool replaces;    // the name existed: the node replaces the stored one
  };
  std::vector<Built> built;
  std::string arena;
  std::string bytes;
  std::vector<BuildSet> sets;
  std::vector<NodeCodec::RRsetParts> parts;
  std::vector<size_t> added(zones.size()), delegations(zones.size()), nsec3(zones.size());
  built.reserve(owners.size());
  arena.reserve(arena_estimate);
  for (const Owner& owner : owners) {
    // A name with one record (most of a large zone) needs no look into `members`.
    const std::span<const uint32_t> group =
        owner.count == 1 ? std::span<const uint32_t>(&owner.first, 1)
                         : std::span<const uint32_t>(members.data() + owner.begin, owner.count);
    const std::string_view owner_wire = records[owner.first]->owner.wire();
    const uint32_t zi = owner.zone;
    Zone::Data& d = Impl::mut(*zones[zi]);
    const Node* existing = d.find(owner_wire);
    sets.clear();
    if (existing) {
      for (const RRset& s : existing->rrsets) {
        BuildSet& b = sets.emplace_back();
        b.type = s.type;
        b.ttl = s.ttl;
        b.rdatas.assign(s.rdatas.begin(), s.rdatas.end());
      }
    }
    const bool apex = d.is_apex(owner_wire);
    const bool had_ns = existing && existing->find(dns::rrtype::NS);
    const bool had_nsec3 = existing && existing->find(dns::rrtype::NSEC3);
    bool changed = false;
    uint32_t first = 0;
    for (uint32_t i : group) {
      const dns::RR& rr = *records[i];
      auto set = std::find_if(sets.begin(), sets.end(), [&](const BuildSet& b) { return b.type == rr.type; });
      if (set != sets.end() && set->ttl == rr.ttl && holds(*set, rr.rdata)) continue;  // already there
      std::optional<util::Error> refused = record_error(rr);
      if (!refused) refused = cname_error(rr, sets);
      if (!refused && rr.type == dns::rrtype::CNAME && apex) refused = apex_cname_error(rr);
      if (refused) {
        out.refused.emplace_back(i, std::move(*refused));
        continue;
      }
      if (!changed) first = i;
      changed = true;
      if (set == sets.end()) {
        set = sets.insert(std::lower_bound(sets.begin(), sets.end(), rr.type,
                                           [](const BuildSet& b, uint16_t t) { return b.type < t; }),
                          BuildSet{rr.type, rr.ttl, {}});
      }
      set->ttl = rr.ttl;  // RFC 2181 §5.2: one TTL per RRset, the latest wins
      auto pos = std::lower_bound(set->rdatas.begin(), set->rdatas.end(), std::string_view(rr.rdata));
      if (pos == set->rdatas.end() || *pos != rr.rdata) {
        set->rdatas.insert(pos, rr.rdata);
        ++added[zi];
      }
    }
    if (!changed) continue;
    const auto has = [&](uint16_t type) {
      return std::any_of(sets.begin(), sets.end(), [&](const BuildSet& b) { return b.type == type; });
    };
    if (!had_ns && has(dns::rrtype::NS) && !apex) ++delegations[zi];
    if (!had_nsec3 && has(dns::rrtype::NSEC3)) ++nsec3[zi];
    parts.clear();
    for (const BuildSet& b : sets) parts.push_back({b.type, b.ttl, b.rdatas});
    // A new name is spelled as the record that created it.
    const std::string_view spelling = existing ? existing->wire() : records[first]->owner.wire();
    NodeCodec::build(spelling, existing ? existing->children() : 0,
                     existing ? NodeCodec::flags(*existing) : uint8_t{0}, parts, &bytes);
    built.push_back({zi, owner.hash, first, arena.size(), existing != nullptr});
    arena += bytes;
  }
  sets = {};
  owners = {};
  members = {};
  std::vector<std::vector<uint32_t>> built_of_zone(zones.size());  // indexes into `built`, in its order
  for (size_t b = 0; b < built.size(); ++b) built_of_zone[built[b].zone].push_back(static_cast<uint32_t>(b));

  // 3. Into each zone's table: changed names replaced, new names inserted at
  // once with the empty non-terminals above them (RFC 8020), children counted.
  auto node_of = [&](const Built& b) { return reinterpret_cast<Node*>(arena.data() + b.offset); };
  for (size_t zi = 0; zi < zones.size(); ++zi) {
    if (built_of_zone[zi].empty()) continue;
    Zone::Data& d = Impl::mut(*zones[zi]);
    d.denial.reset();
    // New names, linked to their parents in the order their records came,
    // as one add at a time would: a parent not there yet is created empty,
    // spelled as the child that needed it.
    std::vector<Built*> fresh;
    for (uint32_t b : built_of_zone[zi]) {
      Built& it = built[b];
      if (it.replaces) {
        d.nodes.replace(node_of(it)->wire(), std::string_view(arena.data() + it.offset, NodeCodec::stored_size(*node_of(it))));
      } else {
        fresh.push_back(&it);
      }
    }
    std::vector<uint32_t>().swap(built_of_zone[zi]);
    // The fresh names by hash, for finding a parent among them; sorted when
    // first needed (names whose parents all exist never need it).
    std::vector<std::pair<uint32_t, uint32_t>> by_hash;
    std::vector<bool> linked(fresh.size(), false);
    auto find_fresh = [&](std::string_view w) -> std::optional<size_t> {
      if (by_hash.empty()) {
        by_hash.resize(fresh.size());
        for (size_t k = 0; k < fresh.size(); ++k) by_hash[k] = {fresh[k]->hash, static_cast<uint32_t>(k)};
        std::sort(by_hash.begin(), by_hash.end());
      }
      const uint32_t h = NameKey(w).hash;
      auto lo = std::lower_bound(by_hash.begin(), by_hash.end(), std::pair<uint32_t, uint32_t>{h, 0});
      for (auto it = lo; it != by_hash.end() && it->first == h; ++it) {
        if (wire::equal(node_of(*fresh[it->second])->wire(), w)) return it->second;
      }
      return std::nullopt;
    };
    std::vector<std::string> ents;  // bytes of the empty non-terminals made here
    std::unordered_map<std::string, size_t, WireHash, WireEq> ent_at;
    // Children gained by one stored parent, counted while its children come
    // one after the other (most names of a zone share a parent).
    std::string gain_parent;
    uint32_t gain = 0;
    auto flush_gain = [&] {
      if (gain == 0) return;
      Node* p = d.nodes.find_mutable(gain_parent);
      NodeCodec::set_children(*p, p->children() + gain);
      gain = 0;
    };
    // Links the name `w` (not the apex) to its parent, creating what is missing.
    auto link = [&](std::string_view w, auto&& self) -> void {
      const std::string_view parent = parent_wire(w);
      if (gain > 0 && wire::equal(parent, gain_parent)) {
        ++gain;
        return;
      }
      if (d.nodes.find(parent)) {
        flush_gain();
        gain_parent.assign(parent);
        gain = 1;
        return;
      }
      Node* p = nullptr;
      if (auto f = find_fresh(parent)) {
        p = node_of(*fresh[*f]);
        if (!linked[*f]) {
          // Its own record comes later: one add at a time would make it now,
          // empty, spelled as this child spells it.
          linked[*f] = true;
          NodeCodec::respell(*p, parent);
          if (!d.is_apex(parent)) self(parent, self);
        }
      } else if (auto e = ent_at.find(parent); e != ent_at.end()) {
        p = reinterpret_cast<Node*>(ents[e->second].data());
      } else {
        std::string empty;
        NodeCodec::make_empty(parent, &empty);
        ent_at.emplace(std::string(parent), ents.size());
        ents.push_back(std::move(empty));
        p = reinterpret_cast<Node*>(ents.back().data());
        if (!d.is_apex(parent)) self(parent, self);
      }
      NodeCodec::set_children(*p, p->children() + 1);
    };
    std::vector<size_t> order(fresh.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    // Nearly in that order already (by each name's first record, refused or not).
    const auto by_first = [&](size_t a, size_t b) { return fresh[a]->first < fresh[b]->first; };
    if (!std::is_sorted(order.begin(), order.end(), by_first)) std::sort(order.begin(), order.end(), by_first);
    for (size_t k : order) {
      if (linked[k]) continue;
      linked[k] = true;
      const std::string_view w = node_of(*fresh[k])->wire();  // stable: the arena no longer grows
      if (!d.is_apex(w)) link(w, link);
    }
    flush_gain();
    std::vector<NodeTable::NewNode> adds;
    adds.reserve(fresh.size() + ents.size());
    for (const Built* b : fresh) {
      adds.push_back({b->hash, std::string_view(arena.data() + b->offset, NodeCodec::stored_size(*node_of(*b)))});
    }
    for (const std::string& e : ents) adds.push_back({NameKey(reinterpret_cast<const Node*>(e.data())->wire()).hash, e});
    d.nodes.insert_all(adds);
    d.records += added[zi];
    d.delegations += delegations[zi];
    d.nsec3_rrsets += nsec3[zi];
    impl.records += added[zi];
    note_modified(*zones[zi]);
  }
  std::sort(out.refused.begin(), out.refused.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

util::Result<bool> ZoneSet::remove(const dns::RR& rr) {
  if (!impl_) return false;
  if (rr.type == dns::rrtype::SOA) {
    const Zone* cz = impl_->find_zone(rr.owner.wire());
    if (!cz || !wire::equal(cz->apex().wire(), rr.owner.wire())) return false;
    const RRset* soa = cz->soa();
    if (!soa || soa->rdatas.empty() || soa->rdatas.front() != rr.rdata) return false;
    if (cz->record_count() > 1) {
      return util::make_error(util::ErrorKind::Conflict, describe(rr) + ": the zone " + rr.owner.to_text() + " still has " +
                              std::to_string(cz->record_count() - 1) +
                              " other records; remove them before its SOA");
    }
    Impl& impl = mutable_impl();
    auto it = impl.zones.find(std::string_view(rr.owner.wire()));
    if (Zone* parent = impl.parent_of(it->second)) {
      Zone::Data& pd = Impl::mut(*parent);
      if (pd.find(rr.owner.wire())) {
        pd.set_nested_apex(rr.owner.wire(), false);
        pd.prune(rr.owner.wire());
      }
    }
    impl.zones.erase(it);
    impl.records -= 1;
    impl.roots_valid = false;
    impl.mark_nested_apexes();  // zones nested in the removed one now hang off its parent
    return true;
  }
  const Zone* cz = impl_->zone_for(rr.owner.wire(), rr.type);
  if (!cz || !cz->find(rr.owner)) return false;
  if (const Node* n = cz->find(rr.owner); !n->find(rr.type)) return false;
  Impl& impl = mutable_impl();
  Zone* z = impl.zone_for(rr.owner.wire(), rr.type);
  const size_t removed = Impl::mut(*z).erase(rr.owner.wire(), rr.type, &rr.rdata);
  impl.records -= removed;
  return removed > 0;
}

util::Result<size_t> ZoneSet::remove_rrset(const dns::Name& owner, uint16_t type) {
  if (!impl_) return size_t{0};
  const Zone* cz = impl_->zone_for(owner.wire(), type);
  if (!cz) return size_t{0};
  const Node* n = cz->find(owner);
  const RRset* s = n ? n->find(type) : nullptr;
  if (!s) return size_t{0};
  if (type == dns::rrtype::SOA) {
    auto r = remove(dns::RR{owner, type, dns::rrclass::IN, s->ttl, std::string(s->rdatas.front())});
    if (!r) return r.error();
    return size_t{*r ? 1u : 0u};
  }
  Impl& impl = mutable_impl();
  Zone* z = impl.zone_for(owner.wire(), type);
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
    nodes.reserve(z->data_->nodes.size());
    z->data_->nodes.for_each([&](const Node& n) { nodes.push_back(&n); });
    std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) { return wire::canonical_less(a->wire(), b->wire()); });
    dns::RR rr;
    rr.rclass = dns::rrclass::IN;
    for (const Node* n : nodes) {
      if (n->rrsets.empty()) continue;
      rr.owner = n->owner();
      for (const RRset& s : n->rrsets) {
        rr.type = s.type;
        rr.ttl = s.ttl;
        for (std::string_view rd : s.rdatas) {
          rr.rdata.assign(rd);
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
