// Packed nodes and the sharded, copy-on-write open-addressing table that
// holds them (see include/zone/node_table.h for the layout and the sharing).
#include "zone/node_table.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace zone {

namespace {

void put16(std::string* out, uint16_t v) {
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out->append(b, sizeof v);
}

void put32(std::string* out, uint32_t v) {
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out->append(b, sizeof v);
}

void patch32(std::string* out, size_t at, uint32_t v) { std::memcpy(out->data() + at, &v, sizeof v); }

void pad4(std::string* out) {
  while (out->size() % 4 != 0) out->push_back('\0');
}

bool has_upper(std::string_view w) {
  return std::any_of(w.begin(), w.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Offsets of the stored fields, written by hand below.
constexpr size_t kNodeSize = 0, kNodeChildren = 4, kNodeNameLen = 8, kNodeFlags = 9, kNodeCount = 12,
                 kNodeBytes = 16;
constexpr size_t kSetCount = 8, kSetBytes = 12;

/// Appends one RRset: header, then each rdata as a 16-bit length and octets.
/// `rdatas` must be sorted and free of duplicates.
template <class Range>
void put_rrset(std::string* out, uint16_t type, uint32_t ttl, const Range& rdatas) {
  const size_t start = out->size();
  put16(out, type);
  put16(out, 0);
  put32(out, ttl);
  put32(out, 0);  // count
  put32(out, 0);  // bytes
  uint32_t count = 0;
  for (std::string_view rd : rdatas) {
    put16(out, static_cast<uint16_t>(rd.size()));
    out->append(rd);
    ++count;
  }
  const auto bytes = static_cast<uint32_t>(out->size() - start - sizeof(RRset));
  patch32(out, start + kSetCount, count);
  patch32(out, start + kSetBytes, bytes);
  pad4(out);
}

void put_raw(std::string* out, const RRset& s) {
  out->append(reinterpret_cast<const char*>(&s), stored_size(s));
}

/// FNV-style mixing of 8 octets at a time, then a 64-bit finaliser
/// (MurmurHash3's fmix64), so both the top bits (shard) and the low bits
/// (slot) are well spread.
uint32_t hash_lower(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

}  // namespace

// --- NodeCodec ---------------------------------------------------------------

void NodeCodec::begin(std::string_view owner_wire, uint32_t children, uint8_t flags, std::string* out) {
  static_assert(offsetof(NodeHeader, size_) == kNodeSize && offsetof(NodeHeader, children_) == kNodeChildren &&
                offsetof(NodeHeader, name_len_) == kNodeNameLen && offsetof(NodeHeader, flags_) == kNodeFlags);
  static_assert(offsetof(Node, rrsets) == kNodeCount && offsetof(RRsetRange, count_) == 0 &&
                offsetof(RRsetRange, bytes_) == kNodeBytes - kNodeCount);
  static_assert(offsetof(RRset, ttl) == 4 && offsetof(RRset, rdatas) == kSetCount &&
                offsetof(RdataList, count_) == 0 && offsetof(RdataList, bytes_) == kSetBytes - kSetCount);
  out->clear();
  flags = static_cast<uint8_t>((flags & ~Node::kHasUpper) | (has_upper(owner_wire) ? Node::kHasUpper : 0));
  put32(out, 0);  // size
  put32(out, children);
  out->push_back(static_cast<char>(static_cast<uint8_t>(owner_wire.size())));
  out->push_back(static_cast<char>(flags));
  put16(out, 0);
  put32(out, 0);  // RRset count
  put32(out, 0);  // RRset bytes
}

void NodeCodec::finish(std::string_view owner_wire, uint32_t rrset_count, std::string* out) {
  patch32(out, kNodeCount, rrset_count);
  patch32(out, kNodeBytes, static_cast<uint32_t>(out->size() - sizeof(Node)));
  out->append(owner_wire);
  pad4(out);
  patch32(out, kNodeSize, static_cast<uint32_t>(out->size()));
}

void NodeCodec::make_empty(std::string_view owner_wire, std::string* out) {
  begin(owner_wire, 0, 0, out);
  finish(owner_wire, 0, out);
}

bool NodeCodec::with_rdata(const Node& from, uint16_t type, uint32_t ttl, std::string_view rdata, std::string* out) {
  const RRset* existing = from.find(type);
  if (existing) {
    for (std::string_view rd : existing->rdatas) {
      if (rd == rdata) return false;
    }
  }
  const std::string_view owner = from.wire();
  begin(owner, from.hdr_.children_, from.hdr_.flags_, out);
  uint32_t count = 0;
  bool placed = false;
  for (const RRset& s : from.rrsets) {
    if (!placed && s.type >= type) {
      placed = true;
      ++count;
      if (s.type == type) {
        // The RRset with the rdata in its sorted place (by octets).
        std::vector<std::string_view> merged(s.rdatas.begin(), s.rdatas.end());
        merged.insert(std::lower_bound(merged.begin(), merged.end(), rdata), rdata);
        put_rrset(out, type, ttl, merged);
        continue;
      }
      const std::string_view one[] = {rdata};
      put_rrset(out, type, ttl, one);
    }
    put_raw(out, s);
    ++count;
  }
  if (!placed) {
    const std::string_view one[] = {rdata};
    put_rrset(out, type, ttl, one);
    ++count;
  }
  finish(owner, count, out);
  return true;
}

size_t NodeCodec::without(const Node& from, uint16_t type, const std::string_view* rdata, std::string* out) {
  const RRset* target = from.find(type);
  if (!target) return 0;
  size_t removed = target->rdatas.size();
  if (rdata) {
    removed = 0;
    for (std::string_view rd : target->rdatas) {
      if (rd == *rdata) removed = 1;
    }
    if (removed == 0) return 0;
  }
  const std::string_view owner = from.wire();
  begin(owner, from.hdr_.children_, from.hdr_.flags_, out);
  uint32_t count = 0;
  for (const RRset& s : from.rrsets) {
    if (&s != target) {
      put_raw(out, s);
      ++count;
      continue;
    }
    if (!rdata || s.rdatas.size() == 1) continue;  // the RRset goes
    std::vector<std::string_view> kept;
    kept.reserve(s.rdatas.size() - 1);
    for (std::string_view rd : s.rdatas) {
      if (rd != *rdata) kept.push_back(rd);
    }
    put_rrset(out, s.type, s.ttl, kept);
    ++count;
  }
  finish(owner, count, out);
  return removed;
}

void NodeCodec::build(std::string_view owner_wire, uint32_t children, uint8_t flags, std::span<const RRsetParts> sets,
                      std::string* out) {
  begin(owner_wire, children, flags, out);
  for (const RRsetParts& set : sets) put_rrset(out, set.type, set.ttl, set.rdatas);
  finish(owner_wire, static_cast<uint32_t>(sets.size()), out);
}

void NodeCodec::respell(Node& n, std::string_view owner_wire) {
  if (owner_wire.size() != n.hdr_.name_len_) return;
  std::memcpy(const_cast<char*>(n.wire().data()), owner_wire.data(), owner_wire.size());
  n.hdr_.flags_ = static_cast<uint8_t>((n.hdr_.flags_ & ~Node::kHasUpper) | (has_upper(owner_wire) ? Node::kHasUpper : 0));
}

void NodeCodec::make_rrset(uint16_t type, uint32_t ttl, std::span<const std::string_view> rdatas, std::string* out) {
  out->clear();
  put_rrset(out, type, ttl, rdatas);
}

void NodeCodec::set_nested_apex(Node& n, bool on) {
  n.hdr_.flags_ = static_cast<uint8_t>(on ? (n.hdr_.flags_ | Node::kNestedApex) : (n.hdr_.flags_ & ~Node::kNestedApex));
}

bool NodeCodec::owner_is(const Node& n, std::string_view lower) {
  const std::string_view w = n.wire();
  if (w.size() != lower.size()) return false;
  if (!(n.hdr_.flags_ & Node::kHasUpper)) return std::memcmp(w.data(), lower.data(), w.size()) == 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (dns::ascii_lower(static_cast<uint8_t>(w[i])) != static_cast<uint8_t>(lower[i])) return false;
  }
  return true;
}

dns::Name Node::owner() const {
  auto n = dns::Name::from_wire(wire());
  return n.ok() ? std::move(n.value()) : dns::Name();  // stored names were valid Names
}

// --- NameKey -----------------------------------------------------------------

NameKey::NameKey(std::string_view wire) {
  if (wire.size() > sizeof buf) {
    len = 0;  // longer than any name (RFC 1035 §2.3.4): matches nothing
    hash = 0;
    return;
  }
  len = wire.size();
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    // Eight octets at a time: 0x20 added to each octet in 'A'..'Z'.
    uint64_t w;
    std::memcpy(&w, wire.data() + i, 8);
    const uint64_t low7 = w & 0x7F7F7F7F7F7F7F7FULL;
    const uint64_t at_least_a = low7 + 0x3F3F3F3F3F3F3F3FULL;  // high bit set where octet >= 'A'
    const uint64_t above_z = low7 + 0x2525252525252525ULL;     // high bit set where octet > 'Z'
    const uint64_t upper = at_least_a & ~above_z & ~w & 0x8080808080808080ULL;
    w |= upper >> 2;
    std::memcpy(buf + i, &w, 8);
  }
  for (; i < len; ++i) buf[i] = static_cast<char>(dns::ascii_lower(static_cast<uint8_t>(wire[i])));
  hash = hash_lower(buf, len);
}

// --- Shard -------------------------------------------------------------------

Shard::Shard() : slots_(8, Slot{0, kEmpty}) {}

Shard::Shard(const Shard& o) : slots_(o.slots_), used_(o.used_), cap_(o.used_), garbage_(o.garbage_), count_(o.count_) {
  if (cap_ > 0) {
    arena_ = new char[cap_];
    std::memcpy(arena_, o.arena_, used_);
  }
}

Shard::~Shard() { delete[] arena_; }

size_t Shard::slot_of(const NameKey& key) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = key.hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.offset == kEmpty) return slots_.size();
    if (s.hash == key.hash && NodeCodec::owner_is(*node_at(s.offset), key.lower())) return i;
  }
}

const Node* Shard::find_in(const View& v, const NameKey& key) {
  for (size_t i = key.hash & v.mask;; i = (i + 1) & v.mask) {
    const Slot s = v.slots[i];
    if (s.offset == kEmpty) return nullptr;
    const auto* n = reinterpret_cast<const Node*>(v.arena + s.offset);
    if (s.hash == key.hash && NodeCodec::owner_is(*n, key.lower())) return n;
  }
}

uint32_t Shard::append(std::string_view node_bytes) {
  const auto n = static_cast<uint32_t>(node_bytes.size());
  if (used_ + n > cap_) {
    // Grow by a quarter: a bulk load appends to every shard, and unused
    // headroom is memory every snapshot keeps.
    const uint32_t cap = std::max<uint32_t>(used_ + n, cap_ + cap_ / 4 + 256);
    char* grown = new char[cap];
    if (used_ > 0) std::memcpy(grown, arena_, used_);
    delete[] arena_;
    arena_ = grown;
    cap_ = cap;
  }
  std::memcpy(arena_ + used_, node_bytes.data(), n);
  const uint32_t at = used_;
  used_ += n;
  return at;
}

void Shard::grow_slots() { rehash(slots_.size() * 2); }

void Shard::rehash(size_t slots) {
  std::vector<Slot> old(slots, Slot{0, kEmpty});
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.offset == kEmpty) continue;
    size_t i = s.hash & mask;
    while (slots_[i].offset != kEmpty) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Shard::insert(uint32_t hash, std::string_view node_bytes) {
  if ((count_ + 1) * 5 > slots_.size() * 4) grow_slots();  // load factor at most 0.8
  const uint32_t at = append(node_bytes);
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].offset != kEmpty) i = (i + 1) & mask;
  slots_[i] = Slot{hash, at};
  ++count_;
}

void Shard::reserve(size_t nodes, size_t bytes) {
  size_t slots = slots_.size();
  while ((count_ + nodes) * 5 > slots * 4) slots *= 2;  // the load factor insert keeps
  if (slots != slots_.size()) rehash(slots);
  if (used_ + bytes > cap_) {
    // Exactly what is asked: the nodes are known, and headroom is memory
    // every snapshot keeps.
    const auto cap = static_cast<uint32_t>(used_ + bytes);
    char* grown = new char[cap];
    if (used_ > 0) std::memcpy(grown, arena_, used_);
    delete[] arena_;
    arena_ = grown;
    cap_ = cap;
  }
}

void Shard::replace(const NameKey& key, std::string_view node_bytes) {
  const size_t i = slot_of(key);
  if (i == slots_.size()) return;
  garbage_ += NodeCodec::stored_size(*node_at(slots_[i].offset));
  slots_[i].offset = append(node_bytes);
  maybe_compact();
}

bool Shard::erase(const NameKey& key) {
  size_t i = slot_of(key);
  if (i == slots_.size()) return false;
  garbage_ += NodeCodec::stored_size(*node_at(slots_[i].offset));
  // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
  const size_t mask = slots_.size() - 1;
  for (size_t j = (i + 1) & mask; slots_[j].offset != kEmpty; j = (j + 1) & mask) {
    const size_t home = slots_[j].hash & mask;
    // Move j into the hole at i unless j's home lies cyclically in (i, j].
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{0, kEmpty};
  --count_;
  maybe_compact();
  return true;
}

void Shard::maybe_compact() {
  if (garbage_ < 1024 || garbage_ * 4 < used_) return;
  // Rewrites the live nodes into a tight arena, in slot order.
  const uint32_t live = used_ - garbage_;
  char* fresh = new char[live + live / 8 + 64];
  uint32_t at = 0;
  for (Slot& s : slots_) {
    if (s.offset == kEmpty) continue;
    const auto n = static_cast<uint32_t>(NodeCodec::stored_size(*node_at(s.offset)));
    std::memcpy(fresh + at, arena_ + s.offset, n);
    s.offset = at;
    at += n;
  }
  delete[] arena_;
  arena_ = fresh;
  cap_ = live + live / 8 + 64;
  used_ = at;
  garbage_ = 0;
}

// --- NodeTable ---------------------------------------------------------------

NodeTable::NodeTable() : shards_{std::make_shared<const Shard>()}, views_{shards_[0]->view()} {}

Shard& NodeTable::mutable_shard(size_t i) {
  if (shards_[i].use_count() != 1) {
    shards_[i] = std::make_shared<const Shard>(*shards_[i]);
    views_[i] = shards_[i]->view();
  }
  return const_cast<Shard&>(*shards_[i]);  // created non-const by make_shared, now unshared
}

Node* NodeTable::find_mutable(std::string_view wire) {
  const NameKey key(wire);
  const size_t i = shard_of(key.hash);
  if (!shards_[i]->find(key)) return nullptr;
  return mutable_shard(i).find(key);
}

void NodeTable::insert(std::string_view wire, std::string_view node_bytes) {
  const NameKey key(wire);
  const size_t i = shard_of(key.hash);
  mutable_shard(i).insert(key.hash, node_bytes);
  views_[i] = shards_[i]->view();
  ++count_;
  maybe_split();
}

void NodeTable::replace(std::string_view wire, std::string_view node_bytes) {
  const NameKey key(wire);
  const size_t i = shard_of(key.hash);
  mutable_shard(i).replace(key, node_bytes);
  views_[i] = shards_[i]->view();
}

bool NodeTable::erase(std::string_view wire) {
  const NameKey key(wire);
  const size_t i = shard_of(key.hash);
  if (!shards_[i]->find(key)) return false;
  mutable_shard(i).erase(key);
  views_[i] = shards_[i]->view();
  --count_;
  return true;
}

void NodeTable::maybe_split() {
  if (count_ <= shards_.size() * kSplitAt || bits_ >= 16) return;
  split_to(bits_ + 1);
}

void NodeTable::split_to(unsigned bits) {
  // Each shard splits in 2^(bits - bits_) by the next bits of the hash. The
  // old shards stay untouched (another table may share them).
  const unsigned extra = bits - bits_;
  const size_t fan = size_t{1} << extra;
  std::vector<std::shared_ptr<const Shard>> next(shards_.size() * fan);
  std::vector<std::shared_ptr<Shard>> parts(fan);
  std::vector<size_t> nodes(fan), bytes(fan);
  for (size_t s = 0; s < shards_.size(); ++s) {
    const size_t first = s << extra;
    std::fill(nodes.begin(), nodes.end(), 0);
    std::fill(bytes.begin(), bytes.end(), 0);
    shards_[s]->for_each_hashed([&](uint32_t hash, const Node& n) {
      const size_t part = (hash >> (32 - bits)) - first;
      ++nodes[part];
      bytes[part] += NodeCodec::stored_size(n);
    });
    for (size_t p = 0; p < fan; ++p) {
      parts[p] = std::make_shared<Shard>();
      parts[p]->reserve(nodes[p], bytes[p]);
    }
    shards_[s]->for_each_hashed([&](uint32_t hash, const Node& n) {
      const std::string_view raw(reinterpret_cast<const char*>(&n), NodeCodec::stored_size(n));
      parts[(hash >> (32 - bits)) - first]->insert(hash, raw);
    });
    for (size_t p = 0; p < fan; ++p) next[first + p] = std::move(parts[p]);
  }
  shards_ = std::move(next);
  views_.resize(shards_.size());
  for (size_t i = 0; i < shards_.size(); ++i) views_[i] = shards_[i]->view();
  bits_ = bits;
}

void NodeTable::insert_all(std::span<const NewNode> nodes) {
  if (nodes.empty()) return;
  const size_t total = count_ + nodes.size();
  // The number of shards one insert at a time would end with.
  unsigned bits = bits_;
  while (total > (size_t{1} << bits) * kSplitAt && bits < 16) ++bits;
  if (bits != bits_) split_to(bits);
  std::vector<size_t> count(shards_.size()), bytes(shards_.size());
  for (const NewNode& n : nodes) {
    const size_t i = shard_of(n.hash);
    ++count[i];
    bytes[i] += n.bytes.size();
  }
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (count[i] > 0) mutable_shard(i).reserve(count[i], bytes[i]);
  }
  for (const NewNode& n : nodes) {
    mutable_shard(shard_of(n.hash)).insert(n.hash, n.bytes);
  }
  for (size_t i = 0; i < shards_.size(); ++i) views_[i] = shards_[i]->view();
  count_ = total;
}

size_t NodeTable::shared_shards(const NodeTable& other) const {
  if (other.shards_.size() != shards_.size()) return 0;
  size_t n = 0;
  for (size_t i = 0; i < shards_.size(); ++i) n += shards_[i] == other.shards_[i] ? 1 : 0;
  return n;
}

size_t NodeTable::memory() const {
  size_t n = shards_.size() * (sizeof(shards_[0]) + sizeof(views_[0]));
  for (const auto& s : shards_) n += sizeof(Shard) + s->memory();
  return n;
}

}  // namespace zone
