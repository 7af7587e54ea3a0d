// The IXFR journal (RFC 1995 §4): per zone, the exact difference each
// committed change made, bounded in entries and bytes, part of the
// replicated state; and the SOA serial policies that number those versions.
#pragma once

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/rr.h"
#include "store/change.h"
#include "util/bytes.h"
#include "util/result.h"

namespace store {

/// RFC 1982 serial number arithmetic: whether `a` is newer than `b`.
inline bool serial_newer(uint32_t a, uint32_t b) { return a != b && static_cast<uint32_t>(a - b) < 0x80000000u; }

/// The serial a zone moves to from `current` under `policy`, for a change
/// proposed at `timestamp_ms` (0 = unknown: the policy falls back to +1).
/// Always newer than `current` (RFC 1982 §3.1: addition modulo 2^32).
uint32_t next_serial(SerialPolicy policy, uint32_t current, uint64_t timestamp_ms);

/// One version step of a zone (RFC 1995 §4): the SOA before and after, the
/// records removed and the records added. Removed records existed before,
/// added ones did not (a record whose TTL changed is removed with the old TTL
/// and added with the new one); the SOA is in neither list.
struct Diff {
  dns::RR old_soa, new_soa;
  std::vector<dns::RR> removed, added;

  uint32_t from_serial() const;
  uint32_t to_serial() const;
  /// An estimate of its size on the wire, for the journal's byte bound.
  size_t bytes() const;
};

/// What one record adds to Diff::bytes().
size_t diff_bytes(const dns::RR& rr);

/// Composes two consecutive diffs (`second.old_soa` is `first.new_soa`) into
/// one from first's old version to second's new one, with nothing removed
/// and added again.
Diff condense(const Diff& first, const Diff& second);

/// How much journal a zone keeps. Not replicated: a node with a shorter
/// journal answers old serials with the whole zone, which is still correct.
struct JournalLimits {
  size_t max_entries = 1000;
  size_t max_bytes = 16u << 20;
};

/// One zone's journal, oldest diff first, each diff's new serial the next
/// one's old serial. Immutable once published; a change copies it. The diffs
/// sit in small chunks that copies share, so a copy costs a pointer per
/// chunk and a change rewrites only the chunks it touches, not the whole
/// journal (up to 1,000 diffs by default).
class ZoneJournal {
  struct Entry {
    std::shared_ptr<const Diff> diff;
    size_t records = 0;  // removed + added
    size_t bytes = 0;    // diff->bytes(), computed once
  };
  using Chunk = std::vector<Entry>;

 public:
  /// Read access to the diffs in order, as a sequence.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::shared_ptr<const Diff>;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;
    reference operator*() const { return (*(*chunks_)[chunk_])[entry_].diff; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++();
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& o) const { return chunk_ == o.chunk_ && entry_ == o.entry_; }

   private:
    friend class ZoneJournal;
    const_iterator(const std::vector<std::shared_ptr<const Chunk>>* chunks, size_t chunk, size_t entry)
        : chunks_(chunks), chunk_(chunk), entry_(entry) {}
    const std::vector<std::shared_ptr<const Chunk>>* chunks_;
    size_t chunk_, entry_;
  };

  const_iterator begin() const { return const_iterator(&chunks_, 0, 0); }
  const_iterator end() const { return const_iterator(&chunks_, chunks_.size(), 0); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::shared_ptr<const Diff>& front() const { return chunks_.front()->front().diff; }
  const std::shared_ptr<const Diff>& back() const { return chunks_.back()->back().diff; }
  /// The i-th diff, oldest first (a walk over the chunks: for tests and tools).
  const std::shared_ptr<const Diff>& operator[](size_t i) const;
  /// Estimated wire bytes of all diffs (Diff::bytes()), for the byte bound.
  size_t bytes() const { return bytes_; }
  /// Records read by condensing since this node built the journal: the
  /// bound's cost (not in the checkpoint).
  uint64_t condensed_records() const { return condensed_records_; }

  /// Appends `diff` (which must start at the last diff's new serial), then
  /// restores the bounds: while there are too many diffs, the adjacent two
  /// smallest together are condensed into one (the oldest serial stays
  /// reachable); while there are too many bytes, the oldest diff goes.
  void append(std::shared_ptr<const Diff> diff, const JournalLimits& limits);
  /// Appends without bounding: a journal read back from a checkpoint.
  void restore(std::shared_ptr<const Diff> diff);

  /// The diffs leading from `serial` to the newest version, or nullopt when
  /// the journal does not reach back to exactly that serial.
  std::optional<std::vector<std::shared_ptr<const Diff>>> since(uint32_t serial) const;

 private:
  struct Position {
    size_t chunk, entry;
  };
  Position locate(size_t i) const;
  /// A private copy of chunk `c`, replacing the shared one, to change.
  Chunk& own(size_t c);
  void push(std::shared_ptr<const Diff> diff);
  void condense_smallest_pair();
  void drop_oldest();
  void erase(Position at);

  std::vector<std::shared_ptr<const Chunk>> chunks_;  // none empty
  size_t size_ = 0;
  size_t bytes_ = 0;
  uint64_t condensed_records_ = 0;
};

/// The checkpoint form of a diff (owners in full, uncompressed).
void write_diff(util::ByteWriter& w, const Diff& diff);
util::Result<Diff> read_diff(util::ByteReader& r);

}  // namespace store
