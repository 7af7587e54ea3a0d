// Durable Raft storage: a segmented write-ahead log of entries and hard state,
// plus snapshot files, in one directory. Knows nothing about what entries mean.
//
// On-disk layout of the directory:
//   wal-<seq:16 hex>-<first index:16 hex>.log  log segments, replayed in seq order
//   snap-<index:16 hex>-<term:16 hex>.snap     the newest durable snapshot
//   *.tmp                                      a snapshot being written (removed on open)
//
// A segment is a sequence of records, each
//   u32 payload length | u8 type | 3 zero bytes | u32 crc32c(payload) | u32 crc32c(previous 12 bytes)
// followed by the payload (all integers little-endian). Each segment starts
// with a header record (its seq and the index/term of the last entry before
// it) and the hard state, so dropping older segments loses nothing needed.
// An entry whose index is <= the last one replaces that suffix of the log
// (Raft §5.3: a conflicting suffix is deleted), so files are append-only.
#pragma once

#include <cstdint>
#include <functional>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/file_io.h"
#include "raft/types.h"
#include "util/result.h"

namespace raft {

/// How a LogStorage behaves.
struct StorageOptions {
  /// fsync on sync(), on segment creation and on snapshot save. Turn off only
  /// in tests and benchmarks that do not care about power loss.
  bool fsync = true;
  /// A segment is closed and a new one started once it reaches this size.
  uint64_t segment_bytes = 64ull << 20;
  /// Entries with more data than this are refused by append().
  uint64_t max_entry_bytes = 64ull << 20;
  /// The file system to use; null means the real one (posix_file_system()).
  FileSystem* fs = nullptr;
  /// Removes a segment compact() dropped; null: at once, through `fs`, with
  /// a directory sync. Freeing a large file's blocks takes milliseconds, so
  /// a node may hand it to another thread: a segment a crash leaves behind
  /// only makes the recovered log start earlier, as when the directory sync
  /// after a removal did not happen.
  std::function<void(const std::string& path)> remove_segment;
};

/// A remover for StorageOptions::remove_segment on the real disk; blocking,
/// so run it on a thread of its own. Unlinking a 48 MB segment at once held
/// the log's fdatasync beside it for 7.5 ms (ext4 frees the blocks in the
/// journal transaction the fsync commits). The segment is first renamed out
/// of the log (`path` + kObsoleteSegmentSuffix; open() removes such files a
/// crash leaves), then shortened a few MiB at a time, then unlinked.
void remove_segment_gradually(const std::string& path);
inline constexpr const char* kObsoleteSegmentSuffix = ".obsolete";

/// What open() found on disk, for the operator's log.
struct RecoveryReport {
  /// Things repaired on the way, each naming the file and byte offset, e.g. a
  /// torn record at the tail of the last segment that was truncated. Empty
  /// after a clean shutdown.
  std::vector<std::string> warnings;
  uint64_t segments = 0;           // segment files replayed
  uint64_t records = 0;            // records replayed
  uint64_t truncated_bytes = 0;    // bytes cut from a torn tail
};

/// The write-ahead log and snapshot files of one Raft node.
///
/// The log holds entries [first_index(), last_index()]; the entry just before
/// them, at first_index() - 1, is the log base: the last entry covered by a
/// snapshot or a compaction (index 0, term 0 when nothing is).
///
/// Writes are group-committed: append(), set_hard_state() and
/// apply_snapshot() only buffer; one sync() writes the buffer and makes it
/// durable with a single fsync. A node calls sync() once per Ready batch,
/// before it sends any message that acknowledges what the batch persisted
/// (a vote, an append response). Reads see buffered writes at once.
///
/// After a failed fsync (or any failure that leaves the disk in an unknown
/// state) the storage is failed(): every write returns an error until the
/// process reopens it and recovers from what is really on disk. A failed
/// write (short write, disk full) is rolled back and may be retried by
/// calling sync() again. The live entries are also kept in memory (reads never
/// touch the disk), so compact() is what bounds memory as well as disk.
/// Not thread-safe: one owner (the node's Raft thread).
class LogStorage {
 public:
  /// Opens (creating if needed) the storage in `dir` and recovers it:
  /// loads the newest snapshot file, replays every segment, truncates a torn
  /// tail of the last segment (reported in recovery().warnings), and fails
  /// with a message naming file and byte offset if a record in the middle of
  /// the log is corrupt, a segment is missing, or the snapshot is corrupt.
  /// The recovered log starts right after the newest snapshot (entries it
  /// covers are dropped, the whole log if it disagrees at the snapshot index).
  /// Hand the core: hard_state(), snapshot_meta(), all_entries().
  static util::Result<std::unique_ptr<LogStorage>> open(const std::string& dir,
                                                        StorageOptions options = {});
  ~LogStorage();
  LogStorage(const LogStorage&) = delete;
  LogStorage& operator=(const LogStorage&) = delete;

  // ---- Reading the recovered / current state ----

  const RecoveryReport& recovery() const { return report_; }
  const HardState& hard_state() const { return hard_state_; }
  /// Meta of the newest durable snapshot file (index 0 if there is none).
  const SnapshotMeta& snapshot_meta() const { return snapshot_meta_; }
  Index first_index() const { return base_index_ + 1; }
  Index last_index() const { return base_index_ + entries_.size(); }
  /// Term of the entry at `index`, for first_index()-1 <= index <= last_index().
  std::optional<Term> term(Index index) const;
  /// Entries [lo, hi); lo >= first_index(), hi <= last_index() + 1.
  util::Result<std::vector<Entry>> entries(Index lo, Index hi) const;
  /// Every entry in the log, first_index() to last_index().
  std::vector<Entry> all_entries() const { return {entries_.begin(), entries_.end()}; }
  /// Bytes of segment and snapshot files, including buffered writes.
  uint64_t size_on_disk() const;
  /// True once a failure made the storage refuse writes (see class comment).
  bool failed() const { return !failure_.empty(); }
  /// Entries up to this index are durable (synced).
  Index durable_index() const { return durable_index_; }
  /// Batches sync() has written to the log since open: one fsync each (with
  /// fsync on). Group commit shows here: many changes, few batches.
  uint64_t batches_synced() const { return batches_synced_; }

  // ---- Writing (buffered until sync()) ----

  /// Appends contiguous entries. If the first index is <= last_index() the
  /// existing suffix from that index on is replaced (Raft §5.3), whatever its
  /// terms: the log mirrors what the core hands out. Entries a snapshot
  /// covers (at or below the log base, or below the saved snapshot with the
  /// same term) are skipped. Refused: a gap after last_index(), and replacing
  /// an entry covered by the saved snapshot (it is committed).
  util::Result<void> append(const std::vector<Entry>& entries);

  /// Records term, vote and commit. A no-op if unchanged.
  util::Result<void> set_hard_state(const HardState& hs);

  /// Writes everything buffered and fsyncs it: one fsync per call however
  /// many appends were buffered (group commit). Starts a new segment when
  /// the current one is full.
  util::Result<void> sync();

  /// Writes everything buffered to the file without an fsync: it then
  /// survives the process (a crash, a kill) but not a power loss until the
  /// next sync(). For what may lag the disk, such as the commit index.
  util::Result<void> write();
  /// True while something written or buffered waits for sync().
  bool unsynced() const { return unsynced_ || !pending_.empty(); }

  /// Drops entries <= `index` from memory and deletes whole segments that
  /// hold nothing above `index`, keeping the log bounded. Call it once the
  /// state machine up to `index` is durable elsewhere (a snapshot or a
  /// checkpoint). Needs a synced log (call sync() first) and
  /// index <= durable_index(); below first_index() it is a no-op. After a
  /// restart the log may start a little earlier than `index` (replay resumes
  /// at the oldest kept segment), never later unless a snapshot covers more.
  /// With `dropped`, the in-memory entries are moved there for the caller
  /// to free (a 48 MB entry takes milliseconds to give back to the system).
  util::Result<void> compact(Index index, std::vector<Entry>* dropped = nullptr);

  // ---- Snapshots ----

  /// Writes a snapshot file atomically (temp file, fsync, rename, fsync the
  /// directory) and then removes older snapshot files. Does not touch the
  /// log: call compact() to drop entries it covers. Refuses a snapshot
  /// older than the current one.
  util::Result<void> save_snapshot(const Snapshot& snapshot);

  /// save_snapshot() in two steps, so that the long one can run on another
  /// thread while the owner goes on: write_snapshot_file() writes and
  /// fsyncs the temp file and touches nothing else of the storage (any
  /// thread); publish_snapshot_file() renames it into place (the owner's
  /// thread), or removes it if a newer snapshot was saved meanwhile.
  struct WrittenSnapshot {
    SnapshotMeta meta;
    std::string temp_path;
    uint64_t bytes = 0;
  };
  util::Result<WrittenSnapshot> write_snapshot_file(const Snapshot& snapshot) const;
  util::Result<void> publish_snapshot_file(const WrittenSnapshot& written);

  /// The newest snapshot, or nullopt if none was saved.
  util::Result<std::optional<Snapshot>> load_snapshot() const;

  /// For a follower that received InstallSnapshot (Raft §7): the saved
  /// snapshot `meta` (save_snapshot() first) becomes the log base. Entries
  /// after meta.index are kept if the log has meta.index with meta.term,
  /// otherwise the whole log is discarded. Buffered: durable at sync().
  util::Result<void> apply_snapshot(const SnapshotMeta& meta);

  /// save_snapshot() then apply_snapshot().
  util::Result<void> install_snapshot(const Snapshot& snapshot);

 private:
  struct Segment {
    uint64_t seq = 0;
    Index first_index = 0;  // from the name: the next index when it was created
    Index max_index = 0;    // highest index written into it (entries, prev, base)
    uint64_t bytes = 0;
    std::string name;
  };

  LogStorage(std::string dir, StorageOptions options);
  util::Result<void> recover();
  util::Result<void> replay_segment(Segment& seg, bool first, bool last);
  util::Result<void> load_newest_snapshot();
  /// Recovery: segments before a missing one, when the snapshot covers them.
  util::Result<void> drop_segments_before_a_hole();
  util::Result<void> start_segment(uint64_t seq);
  util::Result<void> write_records(const std::string& records, Index max_index);
  util::Result<void> maybe_roll();
  bool apply_base(Index index, Term term);
  void append_in_memory(const Entry& e);
  util::Result<void> fail(std::string message);
  util::Result<void> check_writable() const;
  std::string path(const std::string& name) const;

  std::string dir_;
  StorageOptions options_;
  FileSystem* fs_;
  RecoveryReport report_;

  HardState hard_state_;
  SnapshotMeta snapshot_meta_;
  std::string snapshot_name_;   // file name of the newest snapshot
  uint64_t snapshot_bytes_ = 0;
  Index base_index_ = 0;        // log base: last index covered by snapshot/compaction
  Term base_term_ = 0;
  std::deque<Entry> entries_;   // base_index_+1 .. last_index()

  std::vector<Segment> segments_;        // in seq order; back() is active
  std::unique_ptr<WritableFile> active_;
  std::string pending_;                  // encoded records not yet written
  Index durable_index_ = 0;
  bool unsynced_ = false;                // written but not yet fsynced
  uint64_t batches_synced_ = 0;          // see batches_synced()
  std::string failure_;                  // why writes are refused; empty if fine
};

}  // namespace raft
