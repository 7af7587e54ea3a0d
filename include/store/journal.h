// The IXFR journal (RFC 1995 §4): per zone, the exact difference each
// committed change made, bounded in entries and bytes, part of the
// replicated state; and the SOA serial policies that number those versions.
#pragma once

#include <cstdint>
#include <deque>
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
/// one's old serial. Immutable once published; a change copies it.
struct ZoneJournal {
  std::deque<std::shared_ptr<const Diff>> diffs;
  size_t bytes = 0;

  /// Appends `diff` (which must start at the last diff's new serial), then
  /// restores the bounds: the two oldest diffs are condensed into one while
  /// there are too many or that makes them smaller, else the oldest goes.
  void append(std::shared_ptr<const Diff> diff, const JournalLimits& limits);

  /// The diffs leading from `serial` to the newest version, or nullopt when
  /// the journal does not reach back to exactly that serial.
  std::optional<std::vector<std::shared_ptr<const Diff>>> since(uint32_t serial) const;
};

/// The checkpoint form of a diff (owners in full, uncompressed).
void write_diff(util::ByteWriter& w, const Diff& diff);
util::Result<Diff> read_diff(util::ByteReader& r);

}  // namespace store
