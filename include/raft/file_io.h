// The file operations Raft storage needs, behind an interface so that tests can
// swap the disk for one that fails, fills up or loses unsynced data on "crash".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace raft {

/// A file opened for appending. Every error is a value whose message names
/// the file and the system error, e.g. "/var/lib/x/wal-1.log: write: No space
/// left on device (wrote 100 of 4096 bytes)".
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  /// Appends `data` at the end of the file. On error a prefix of `data` may
  /// have been written (a short write); size() tells how much.
  virtual util::Result<void> append(std::string_view data) = 0;

  /// Makes everything appended so far durable (fdatasync). After a failed
  /// sync the caller must assume the unsynced data is lost: the kernel may
  /// already have dropped the dirty pages, so retrying proves nothing.
  virtual util::Result<void> sync() = 0;

  /// Cuts the file to `size` bytes (size <= size()).
  virtual util::Result<void> truncate(uint64_t size) = 0;

  /// Bytes in the file as this handle sees it, including unsynced appends.
  virtual uint64_t size() const = 0;

  /// The path the file was opened with, for messages.
  virtual const std::string& path() const = 0;
};

/// A directory tree of files. Paths are plain strings joined with '/'.
/// Directory changes (create, rename, remove) are durable only after
/// sync_dir() on the parent directory.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  /// Opens `path` for appending, creating it if missing; `truncate` empties it.
  virtual util::Result<std::unique_ptr<WritableFile>> open_append(const std::string& path,
                                                                  bool truncate) = 0;

  /// The whole contents of `path`.
  virtual util::Result<std::string> read_file(const std::string& path) = 0;

  /// Names (not paths) of the regular files in `dir`, unsorted.
  virtual util::Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;

  /// Creates `dir` and its parents; succeeds if it already exists.
  virtual util::Result<void> create_dirs(const std::string& dir) = 0;

  /// Atomically replaces `to` with `from` (POSIX rename).
  virtual util::Result<void> rename(const std::string& from, const std::string& to) = 0;

  /// Removes the file `path`.
  virtual util::Result<void> remove(const std::string& path) = 0;

  /// Makes the directory's entries (created, renamed, removed files) durable.
  virtual util::Result<void> sync_dir(const std::string& dir) = 0;
};

/// The real file system (POSIX open/write/fdatasync/rename). Thread-safe.
FileSystem& posix_file_system();

/// `dir + "/" + name`.
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace raft
