// The packed form of a zone's names: each node (owner name, RRsets, rdatas)
// is one contiguous run of bytes in its shard's arena, read through these views.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"

namespace zone {

class NodeCodec;

/// The rdatas of one RRset, uncompressed wire form, sorted by octets, no
/// duplicates. A view of the bytes stored right after it (each rdata is a
/// 16-bit length, host order, then its octets), so it cannot be copied on its
/// own: convert to std::vector<std::string> to keep the rdatas.
class RdataList {
 public:
  /// Walks the packed rdatas; dereferences to a view into the zone.
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = std::string_view;
    iterator() = default;
    explicit iterator(const char* p) : p_(p) {}
    std::string_view operator*() const { return {p_ + 2, length()}; }
    iterator& operator++() {
      p_ += 2 + length();
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    size_t length() const {
      uint16_t n;
      std::memcpy(&n, p_, sizeof n);
      return n;
    }
    const char* p_ = nullptr;
  };

  RdataList() = default;
  RdataList(const RdataList&) = delete;
  RdataList& operator=(const RdataList&) = delete;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  iterator begin() const { return iterator(data()); }
  iterator end() const { return iterator(data() + bytes_); }
  std::string_view front() const { return *begin(); }
  /// The i-th rdata: walks from the first, so O(i).
  std::string_view operator[](size_t i) const {
    iterator it = begin();
    while (i-- > 0) ++it;
    return *it;
  }
  /// Octets of the packed entries (lengths included).
  size_t byte_size() const { return bytes_; }
  /// A copy of every rdata, for callers that keep them past the snapshot.
  operator std::vector<std::string>() const {
    std::vector<std::string> out;
    out.reserve(count_);
    for (std::string_view rd : *this) out.emplace_back(rd);
    return out;
  }

 private:
  friend class NodeCodec;
  const char* data() const { return reinterpret_cast<const char*>(this) + sizeof(RdataList); }
  uint32_t count_;
  uint32_t bytes_;  // of the entries that follow, padding not included
};

/// All records of one type at one name. TTLs within an RRset are one value
/// (RFC 2181 §5.2): the last one added wins. Lives inside its node's bytes.
struct RRset {
  uint16_t type;
  uint16_t unused_;
  uint32_t ttl;
  RdataList rdatas;  // must stay last: the rdata octets follow it
};
static_assert(sizeof(RRset) == 16 && alignof(RRset) == 4);

/// A node's RRsets, sorted by type, stored one after the other right after it.
class RRsetRange {
 public:
  /// Steps from one stored RRset to the next.
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = RRset;
    using difference_type = std::ptrdiff_t;
    using pointer = const RRset*;
    using reference = const RRset&;
    iterator() = default;
    explicit iterator(const char* p) : p_(p) {}
    const RRset& operator*() const { return *reinterpret_cast<const RRset*>(p_); }
    const RRset* operator->() const { return reinterpret_cast<const RRset*>(p_); }
    iterator& operator++();
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    const char* p_ = nullptr;
  };

  RRsetRange() = default;
  RRsetRange(const RRsetRange&) = delete;
  RRsetRange& operator=(const RRsetRange&) = delete;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  iterator begin() const { return iterator(data()); }
  iterator end() const { return iterator(data() + bytes_); }
  const RRset& front() const { return *begin(); }
  /// Octets of the stored RRsets.
  size_t byte_size() const { return bytes_; }

 private:
  friend class NodeCodec;
  const char* data() const { return reinterpret_cast<const char*>(this) + sizeof(RRsetRange); }
  uint32_t count_;
  uint32_t bytes_;  // of the RRsets that follow
};

/// The stored size of an RRset: its header, then its rdatas padded to 4 octets.
inline size_t stored_size(const RRset& s) { return sizeof(RRset) + ((s.rdatas.byte_size() + 3) & ~size_t{3}); }

inline RRsetRange::iterator& RRsetRange::iterator::operator++() {
  p_ += stored_size(**this);
  return *this;
}

/// The fixed part of a stored node; read through Node's accessors.
class NodeHeader {
  friend class NodeCodec;
  friend class Node;
  uint32_t size_;      // octets of the whole stored node, a multiple of 4
  uint32_t children_;  // nodes exactly one label below this one
  uint8_t name_len_;   // octets of the owner's wire form
  uint8_t flags_;
  uint16_t unused_;
};

/// One name in a zone. A node with no RRsets is an empty non-terminal
/// (RFC 8020): it exists, so it blocks wildcards and answers NODATA.
/// Stored packed: header, RRsets, then the owner's wire form (case as added).
class Node {
 public:
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// The owner in uncompressed wire form, with the case it was added with.
  std::string_view wire() const {
    return {reinterpret_cast<const char*>(this) + sizeof(Node) + rrsets.byte_size(), hdr_.name_len_};
  }
  /// The owner as a Name (a copy: allocates for long names).
  dns::Name owner() const;
  const RRset* find(uint16_t type) const {
    for (const RRset& s : rrsets) {
      if (s.type == type) return &s;
    }
    return nullptr;
  }
  bool empty_nonterminal() const { return rrsets.empty(); }
  /// The apex of a nested zone served separately. Kept (empty) in the parent
  /// so the names between the two apexes exist there (RFC 8020: they must not
  /// be NXDOMAIN, since names below them do exist).
  bool nested_apex() const { return (hdr_.flags_ & kNestedApex) != 0; }
  /// Nodes exactly one label below this one.
  uint32_t children() const { return hdr_.children_; }

  static constexpr uint8_t kNestedApex = 1;
  static constexpr uint8_t kHasUpper = 2;  // the owner has upper-case letters

  NodeHeader hdr_;  // internal: sizes and flags (public only to keep the layout standard)
  RRsetRange rrsets;  // must stay last: the RRsets follow it
};
static_assert(sizeof(Node) == 20 && alignof(Node) == 4);

}  // namespace zone
