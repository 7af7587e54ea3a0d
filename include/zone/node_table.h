// The node table of one zone: names hashed into copy-on-write shards, each an
// open-addressing table over one arena of packed nodes, so copying the table
// shares every shard and a change copies only the shard it touches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zone/node.h"

namespace zone {

/// Builds and edits the packed bytes of a node (the layout of zone/node.h).
/// Edits produce a new node in `out`; the table then swaps it in.
class NodeCodec {
 public:
  /// A node with no RRsets: an empty non-terminal until data is added.
  static void make_empty(std::string_view owner_wire, std::string* out);
  /// `from` with `rdata` added to its RRset of `type` (created if missing),
  /// whose TTL becomes `ttl`. Returns false, writing nothing, if the rdata is
  /// already there (the caller then only sets the TTL in place).
  static bool with_rdata(const Node& from, uint16_t type, uint32_t ttl, std::string_view rdata, std::string* out);
  /// `from` without `rdata` in its RRset of `type`, or without the whole
  /// RRset when `rdata` is null. Returns the records removed (0: nothing written).
  static size_t without(const Node& from, uint16_t type, const std::string_view* rdata, std::string* out);

  /// One RRset of a node built whole: rdatas sorted by octets, no duplicates.
  struct RRsetParts {
    uint16_t type;
    uint32_t ttl;
    std::span<const std::string_view> rdatas;
  };
  /// A node with the given RRsets (sorted by type), built at once: what a
  /// run of with_rdata calls would produce, without the copy per record.
  static void build(std::string_view owner_wire, uint32_t children, uint8_t flags, std::span<const RRsetParts> sets,
                    std::string* out);
  /// A standalone RRset of `rdatas` (sorted by the caller), laid out as in a
  /// node, for records made at query time (online signing).
  static void make_rrset(uint16_t type, uint32_t ttl, std::span<const std::string_view> rdatas, std::string* out);

  /// In-place edits of fixed-size fields, on a node the caller may change.
  static void set_children(Node& n, uint32_t children) { n.hdr_.children_ = children; }
  static void set_nested_apex(Node& n, bool on);
  static void set_ttl(const RRset& s, uint32_t ttl) { const_cast<RRset&>(s).ttl = ttl; }
  /// Rewrites the owner with another spelling of the same name (same
  /// length, different case).
  static void respell(Node& n, std::string_view owner_wire);

  /// The node's flags (Node::kNestedApex, Node::kHasUpper).
  static uint8_t flags(const Node& n) { return n.hdr_.flags_; }
  /// Octets the node occupies in its arena.
  static size_t stored_size(const Node& n) { return n.hdr_.size_; }
  /// Whether the node's owner equals `lower` (an already lower-cased wire name).
  static bool owner_is(const Node& n, std::string_view lower);

 private:
  static void begin(std::string_view owner_wire, uint32_t children, uint8_t flags, std::string* out);
  static void finish(std::string_view owner_wire, uint32_t rrset_count, std::string* out);
};

/// A wire name lower-cased into a buffer, with its hash (RFC 4343: names
/// compare without regard to ASCII case). Built once per lookup.
struct NameKey {
  explicit NameKey(std::string_view wire);
  std::string_view lower() const { return {buf, len}; }
  char buf[256];
  size_t len;
  uint32_t hash;
};

/// One shard: an open-addressing table (linear probing, power-of-two
/// capacity) of {hash, offset} slots over one arena that holds the nodes one
/// after the other. Immutable once shared between tables; copied whole to
/// change. Pointers to nodes stay valid until the shard is changed.
class Shard {
 public:
  struct Slot {
    uint32_t hash;
    uint32_t offset;  // into the arena; kEmpty marks a free slot
  };
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  /// Where a shard's slots and arena are, copied into the table's own array
  /// so a lookup does not first load the shard object (a cache miss in a big
  /// zone). Valid until the shard changes.
  struct View {
    const Slot* slots;
    const char* arena;
    size_t mask;  // slot count - 1
  };

  Shard();
  Shard(const Shard& other);
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  const Node* find(const NameKey& key) const { return find_in(view(), key); }
  Node* find(const NameKey& key) { return const_cast<Node*>(find_in(view(), key)); }
  View view() const { return View{slots_.data(), arena_, slots_.size() - 1}; }
  /// The node named by `key` in the shard seen through `v`, or null.
  static const Node* find_in(const View& v, const NameKey& key);
  /// Adds a node whose name is not in the shard yet.
  void insert(uint32_t hash, std::string_view node_bytes);
  /// Makes room for `nodes` more nodes of `bytes` octets in all, so that
  /// inserting them grows neither the slots nor the arena again.
  void reserve(size_t nodes, size_t bytes);
  /// Replaces the node named by `key` (which must exist) with new bytes.
  void replace(const NameKey& key, std::string_view node_bytes);
  /// Removes the node named by `key`; returns whether it was there.
  bool erase(const NameKey& key);

  size_t size() const { return count_; }
  /// Calls fn(const Node&) for every node, in no particular order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.offset != kEmpty) fn(*node_at(s.offset));
    }
  }
  /// Calls fn(hash, const Node&) for every node, in no particular order.
  template <class Fn>
  void for_each_hashed(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.offset != kEmpty) fn(s.hash, *node_at(s.offset));
    }
  }
  /// Octets held: slots plus arena (live, garbage and headroom).
  size_t memory() const { return slots_.size() * sizeof(Slot) + cap_; }

 private:
  const Node* node_at(uint32_t offset) const { return reinterpret_cast<const Node*>(arena_ + offset); }
  Node* node_at(uint32_t offset) { return reinterpret_cast<Node*>(arena_ + offset); }
  size_t slot_of(const NameKey& key) const;  // index of the key's slot, or slots_.size()
  uint32_t append(std::string_view node_bytes);
  void grow_slots();
  /// Moves every slot into a table of `slots` slots (a power of two).
  void rehash(size_t slots);
  void maybe_compact();

  std::vector<Slot> slots_;
  char* arena_ = nullptr;  // owned; nodes at 4-octet aligned offsets
  uint32_t used_ = 0;      // octets written
  uint32_t cap_ = 0;       // octets allocated
  uint32_t garbage_ = 0;   // octets of replaced or erased nodes, reclaimed by compaction
  uint32_t count_ = 0;     // nodes
};

/// The nodes of one zone, keyed by lower-cased wire name. Copying shares all
/// shards; a change copies the one shard it touches (if shared). The number of
/// shards doubles as the zone grows, so a shard stays small.
class NodeTable {
 public:
  /// Nodes per shard (on average) above which the shards split in two.
  static constexpr size_t kSplitAt = 256;

  NodeTable();

  /// The node named `wire` (any case), or null.
  const Node* find(std::string_view wire) const { return find(NameKey(wire)); }
  const Node* find(const NameKey& key) const { return Shard::find_in(views_[shard_of(key.hash)], key); }
  /// The same node, changeable in place (fixed-size fields only): copies its
  /// shard first if another table shares it. Valid until the next change.
  Node* find_mutable(std::string_view wire);
  /// Adds a node whose name is absent. `node_bytes` come from NodeCodec.
  void insert(std::string_view wire, std::string_view node_bytes);
  /// Replaces the existing node named `wire`.
  void replace(std::string_view wire, std::string_view node_bytes);
  bool erase(std::string_view wire);

  /// A node to add with insert_all: its name's hash (NameKey::hash) and bytes.
  struct NewNode {
    uint32_t hash;
    std::string_view bytes;
  };
  /// Adds many nodes whose names are all absent (and distinct), splitting
  /// the shards once to their final number and growing each shard once: a
  /// zone file's names in one step instead of one insert each.
  void insert_all(std::span<const NewNode> nodes);

  size_t size() const { return count_; }
  size_t shard_count() const { return shards_.size(); }
  /// Shards held by both tables (the same objects): how much a copy shares.
  size_t shared_shards(const NodeTable& other) const;
  /// Octets held by the shards (not counting sharing).
  size_t memory() const;

  /// Calls fn(const Node&) for every node, in no particular order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& s : shards_) s->for_each(fn);
  }

 private:
  size_t shard_of(uint32_t hash) const { return bits_ == 0 ? 0 : hash >> (32 - bits_); }
  Shard& mutable_shard(size_t i);
  void maybe_split();
  /// Redistributes the nodes over 2^bits shards (bits above the current).
  void split_to(unsigned bits);

  std::vector<std::shared_ptr<const Shard>> shards_;
  std::vector<Shard::View> views_;  // views_[i] shows shards_[i]; refreshed on every change
  unsigned bits_ = 0;  // log2 of the shard count
  size_t count_ = 0;
};

}  // namespace zone
