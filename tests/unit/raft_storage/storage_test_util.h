// Helpers shared by the Raft storage tests: entries to write and a storage
// opened on an in-memory, fault-injecting disk.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "raft/mem_file_system.h"
#include "raft/storage.h"

namespace raft::testing {

inline Entry entry(Index index, Term term, std::string data = "") {
  if (data.empty()) data = "data-" + std::to_string(index) + "-" + std::to_string(term);
  return Entry{term, index, EntryType::Normal, std::move(data)};
}

/// Entries lo..hi (inclusive) all of term `term`.
inline std::vector<Entry> entries(Index lo, Index hi, Term term) {
  std::vector<Entry> out;
  for (Index i = lo; i <= hi; ++i) out.push_back(entry(i, term));
  return out;
}

inline constexpr const char* kDir = "/data/raft";

inline StorageOptions mem_options(MemFileSystem& fs, uint64_t segment_bytes = 64ull << 20) {
  StorageOptions o;
  o.fs = &fs;
  o.segment_bytes = segment_bytes;
  return o;
}

/// Opens the storage or fails the test with the error message.
inline std::unique_ptr<LogStorage> open_ok(MemFileSystem& fs, uint64_t segment_bytes = 64ull << 20) {
  auto s = LogStorage::open(kDir, mem_options(fs, segment_bytes));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  if (!s.ok()) return nullptr;
  return std::move(*s);
}

/// Segment file names in the directory, sorted.
inline std::vector<std::string> segment_files(MemFileSystem& fs) {
  auto names = fs.list_dir(kDir);
  std::vector<std::string> out;
  for (const auto& n : *names) {
    if (n.rfind("wal-", 0) == 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string seg_path(const std::string& name) { return std::string(kDir) + "/" + name; }

}  // namespace raft::testing
