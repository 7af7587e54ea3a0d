// An in-memory FileSystem that injects the failures real disks have: short
// writes, a full disk, failed fsyncs, and crashes that lose unsynced data.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/file_io.h"

namespace raft {

/// An in-memory disk for tests and the cluster simulator.
///
/// It keeps, per file, the bytes a reader sees and the bytes that are
/// durable (as of the last successful sync), and per directory the entries
/// that are durable (as of the last sync_dir). crash() throws away whatever
/// was not durable, optionally keeping a prefix of unsynced appends: that is
/// a torn write. Not thread-safe.
class MemFileSystem final : public FileSystem {
 public:
  MemFileSystem() = default;

  // ---- FileSystem ----
  util::Result<std::unique_ptr<WritableFile>> open_append(const std::string& path,
                                                          bool truncate) override;
  util::Result<std::string> read_file(const std::string& path) override;
  util::Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  util::Result<void> create_dirs(const std::string& dir) override;
  util::Result<void> rename(const std::string& from, const std::string& to) override;
  util::Result<void> remove(const std::string& path) override;
  util::Result<void> sync_dir(const std::string& dir) override;

  // ---- Faults ----

  /// Total bytes all files may hold; a write past it writes what fits and
  /// then fails with ENOSPC. nullopt: unlimited.
  void set_capacity(std::optional<uint64_t> bytes) { capacity_ = bytes; }

  /// The next append writes only `keep_bytes` of its data, then fails (EIO).
  void fail_next_write(uint64_t keep_bytes) { fail_write_keep_ = keep_bytes; }

  /// The next file sync fails (EIO); its data stays unsynced.
  void fail_next_sync() { fail_next_sync_ = true; }

  /// Every file sync fails from now on (or stops failing).
  void fail_all_syncs(bool on) { fail_all_syncs_ = on; }

  /// The next rename fails (EIO) and changes nothing.
  void fail_next_rename() { fail_next_rename_ = true; }

  /// Power loss: directory entries revert to their last sync_dir, each file
  /// to its last synced bytes plus the first `keep_unsynced_bytes` of what was
  /// appended after that sync (a torn write). Open handles stop working.
  void crash(uint64_t keep_unsynced_bytes = 0);

  // ---- Inspection, for tests ----

  /// The bytes a reader would see, or nullopt if there is no such file.
  std::optional<std::string> contents(const std::string& path) const;

  /// Replaces a file's bytes, durably (for corrupting files in tests).
  void set_contents(const std::string& path, std::string data);

  /// Number of successful file syncs so far (group-commit tests count them).
  uint64_t sync_count() const { return sync_count_; }

  /// Sum of the sizes of all files.
  uint64_t used_bytes() const;

 private:
  struct Inode {
    std::string data;     // what a reader sees now
    std::string durable;  // what survives a crash
  };
  class MemFile;

  static std::string parent_of(const std::string& path);
  util::Result<void> check_parent(const std::string& path) const;

  std::map<std::string, std::shared_ptr<Inode>> names_;          // live directory entries
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;  // entries that survive a crash
  std::set<std::string> dirs_;
  std::optional<uint64_t> capacity_;
  std::optional<uint64_t> fail_write_keep_;
  bool fail_next_sync_ = false;
  bool fail_all_syncs_ = false;
  bool fail_next_rename_ = false;
  uint64_t sync_count_ = 0;
  uint64_t epoch_ = 0;  // bumped by crash(); older handles are dead
};

}  // namespace raft
