// The in-memory Raft log of one node: entries after the last snapshot plus
// the commit, apply and persistence markers over them.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "raft/types.h"

namespace raft {

/// The unpruned log: a snapshot base (index, term) and the entries after it.
/// Indexes are absolute. Invariants: applied <= committed <= last_index(),
/// snapshot index <= applied, and entries are contiguous after the base.
class RaftLog {
 public:
  RaftLog() = default;
  /// Start from a snapshot base and the entries after it (already checked
  /// contiguous). Everything given is considered durable.
  RaftLog(Index snap_index, Term snap_term, std::vector<Entry> entries);

  Index first_index() const { return snap_index_ + 1; }
  Index last_index() const { return snap_index_ + entries_.size(); }
  Term last_term() const;
  Index snapshot_index() const { return snap_index_; }
  Term snapshot_term() const { return snap_term_; }
  Index committed() const { return committed_; }
  Index applied() const { return applied_; }

  /// Term of the entry at `i`; the snapshot term at the base; nullopt when
  /// compacted away or beyond the end.
  std::optional<Term> term_at(Index i) const;
  bool match_term(Index i, Term t) const;
  /// Entry at `i`, or nullptr if not held in memory.
  const Entry* entry(Index i) const;
  const std::vector<Entry>& entries() const { return entries_; }

  /// §5.4.1: is a log ending at (last_index, last_term) at least as up to date as ours?
  bool is_up_to_date(Index last_index, Term last_term) const;

  /// Leader: append at the end. Returns the new last index.
  Index append(std::vector<Entry> ents);

  /// Follower (§5.3): if our entry at `prev` has term `prev_term`, merge
  /// `ents` (truncating a conflicting suffix) and return the index of the last
  /// new entry; nullopt when the consistency check fails. `truncated` is set
  /// to the first index removed, if any.
  std::optional<Index> maybe_append(Index prev, Term prev_term, const std::vector<Entry>& ents,
                                    std::optional<Index>* truncated);

  /// Fast backtracking: the largest index <= `index` whose term is <= `term`,
  /// with that term. Stops at the snapshot base.
  std::pair<Index, Term> find_conflict_by_term(Index index, Term term) const;

  /// Entries [lo, hi) capped to about `max_bytes` (always at least one).
  std::vector<Entry> slice(Index lo, Index hi, size_t max_bytes) const;

  void commit_to(Index i);
  void applied_to(Index i);

  /// Replace everything by a snapshot base (InstallSnapshot): no entries left.
  void restore(Index snap_index, Term snap_term);
  /// Drop entries up to and including `index` (must be <= applied and in the log).
  /// With `dropped`, they are moved there for the caller to free.
  void compact(Index index, std::vector<Entry>* dropped = nullptr);

  /// Entries not yet handed to the host for persisting.
  std::vector<Entry> unstable_entries() const;
  bool has_unstable() const { return unstable_from_ <= last_index(); }
  /// The host persisted through (i, t): mark stable if the entry still matches.
  void stable_to(Index i, Term t);
  /// Persisted-entry marker; entries from here on await persisting.
  Index unstable_from() const { return unstable_from_; }

  /// Count of suffix truncations and snapshot restores so far: lets observers
  /// (tests, the simulator) re-verify only what changed.
  uint64_t rewrites() const { return rewrites_; }

  /// Committed entries not yet applied, starting after `from`, capped in bytes.
  std::vector<Entry> next_committed(Index from, size_t max_bytes) const;

 private:
  Index snap_index_ = 0;
  Term snap_term_ = 0;
  std::vector<Entry> entries_;
  Index committed_ = 0;
  Index applied_ = 0;
  Index unstable_from_ = 1;
  uint64_t rewrites_ = 0;
};

}  // namespace raft
