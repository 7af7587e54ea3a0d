// The write-ahead log keeps entries and hard state across reopen, replaces a
// conflicting suffix, rolls segments, compacts, and group-commits syncs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage_test_util.h"

namespace raft {
namespace {

using testing::entries;
using testing::entry;
using testing::open_ok;
using testing::segment_files;

TEST(Wal, EmptyStorageStartsAtIndexOne) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  EXPECT_EQ(s->first_index(), 1u);
  EXPECT_EQ(s->last_index(), 0u);
  EXPECT_EQ(s->term(0), 0u);
  EXPECT_EQ(s->hard_state(), HardState{});
  EXPECT_TRUE(s->recovery().warnings.empty());
}

TEST(Wal, EntriesAndHardStateSurviveReopen) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
    ASSERT_TRUE(s->set_hard_state({2, 3, 4}).ok());
    ASSERT_TRUE(s->append({entry(6, 2, std::string("\0binary\xff", 8))}).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  EXPECT_EQ(s->hard_state(), (HardState{2, 3, 4}));
  ASSERT_EQ(s->last_index(), 6u);
  auto all = s->all_entries();
  auto want = entries(1, 5, 1);
  want.push_back(entry(6, 2, std::string("\0binary\xff", 8)));
  EXPECT_EQ(all, want);
  EXPECT_TRUE(s->recovery().warnings.empty());
}

TEST(Wal, SurvivesReopenOnTheRealFileSystem) {
  std::string dir = "/tmp/raft-storage-test-" + std::to_string(::getpid());
  StorageOptions o;
  o.segment_bytes = 512;
  {
    auto s = LogStorage::open(dir, o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->append(entries(1, 50, 3)).ok());
    ASSERT_TRUE((*s)->set_hard_state({3, 1, 40}).ok());
    ASSERT_TRUE((*s)->sync().ok());
    ASSERT_TRUE((*s)->append(entries(51, 60, 3)).ok());
    ASSERT_TRUE((*s)->sync().ok());
  }
  {
    auto s = LogStorage::open(dir, o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ((*s)->all_entries(), entries(1, 60, 3));
    EXPECT_EQ((*s)->hard_state(), (HardState{3, 1, 40}));
    EXPECT_GT((*s)->size_on_disk(), 0u);
  }
  std::filesystem::remove_all(dir);
}

TEST(Wal, UnsyncedAppendsAreLostInACrashButSyncedOnesAreNot) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    EXPECT_EQ(s->durable_index(), 3u);
    ASSERT_TRUE(s->append(entries(4, 6, 1)).ok());
    EXPECT_EQ(s->durable_index(), 3u);
  }
  fs.crash();
  auto s = open_ok(fs);
  EXPECT_EQ(s->all_entries(), entries(1, 3, 1));
}

TEST(Wal, ConflictingAppendReplacesTheSuffix) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    // A new leader of term 2 disagrees from index 6 on (Raft §5.3).
    ASSERT_TRUE(s->append(entries(6, 7, 2)).ok());
    EXPECT_EQ(s->last_index(), 7u);
    EXPECT_EQ(s->durable_index(), 5u);
    EXPECT_EQ(s->term(7), 2u);
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  auto want = entries(1, 5, 1);
  for (auto& e : entries(6, 7, 2)) want.push_back(e);
  EXPECT_EQ(s->all_entries(), want);
}

TEST(Wal, AppendFromAnEarlierIndexMirrorsTheBatch) {
  // The core hands out entries from the point its own log was cut: storage
  // cuts there too, even where the terms agree, so the two never diverge.
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
  ASSERT_TRUE(s->append(entries(4, 5, 1)).ok());
  EXPECT_EQ(s->all_entries(), entries(1, 5, 1));
}

TEST(Wal, AppendRefusesGapsAndNonContiguousBatches) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
  auto gap = s->append({entry(5, 1)});
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.error().message.find("gap after index 3"), std::string::npos) << gap.error().message;
  EXPECT_FALSE(s->append({entry(4, 1), entry(6, 1)}).ok());
  EXPECT_EQ(s->last_index(), 3u);
}

TEST(Wal, EntriesReadsAHalfOpenRange) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
  auto r = s->entries(2, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, entries(2, 3, 1));
  EXPECT_FALSE(s->entries(0, 2).ok());
  EXPECT_FALSE(s->entries(3, 7).ok());
}

TEST(Wal, OneSyncCoversManyAppends) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  uint64_t before = fs.sync_count();
  for (Index i = 1; i <= 100; ++i) ASSERT_TRUE(s->append({entry(i, 1)}).ok());
  ASSERT_TRUE(s->set_hard_state({1, 1, 50}).ok());
  ASSERT_TRUE(s->sync().ok());
  EXPECT_EQ(fs.sync_count() - before, 1u);
  ASSERT_TRUE(s->sync().ok());  // nothing new: no fsync
  EXPECT_EQ(fs.sync_count() - before, 1u);
}

TEST(Wal, FsyncCanBeTurnedOffForTests) {
  MemFileSystem fs;
  auto o = testing::mem_options(fs);
  o.fsync = false;
  auto s = LogStorage::open(testing::kDir, o);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->append(entries(1, 3, 1)).ok());
  ASSERT_TRUE((*s)->sync().ok());
  EXPECT_EQ(fs.sync_count(), 0u);
}

TEST(Wal, SegmentsRollAtTheSizeBoundAndReplayInOrder) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 1024);
    for (Index i = 1; i <= 200; i += 10) {
      ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
      ASSERT_TRUE(s->set_hard_state({1, 1, i}).ok());
      ASSERT_TRUE(s->sync().ok());
    }
  }
  auto files = segment_files(fs);
  EXPECT_GT(files.size(), 3u);
  EXPECT_EQ(files.front(), "wal-0000000000000001-0000000000000001.log");
  for (const auto& f : files) EXPECT_LT(fs.contents(testing::seg_path(f))->size(), 1024u + 1024u) << f;
  auto s = open_ok(fs, 1024);
  EXPECT_EQ(s->all_entries(), entries(1, 200, 1));
  EXPECT_EQ(s->hard_state(), (HardState{1, 1, 191}));
  EXPECT_EQ(s->recovery().segments, files.size());
}

TEST(Wal, CompactionDropsWholeOldSegmentsAndKeepsTheRest) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 1024);
    for (Index i = 1; i <= 200; i += 10) {
      ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
    ASSERT_TRUE(s->set_hard_state({1, 2, 200}).ok());
    ASSERT_TRUE(s->sync().ok());
    uint64_t size_before = s->size_on_disk();
    size_t files_before = segment_files(fs).size();
    ASSERT_TRUE(s->compact(150).ok());
    EXPECT_EQ(s->first_index(), 151u);
    EXPECT_EQ(s->term(150), 1u);
    EXPECT_FALSE(s->term(149).has_value());
    EXPECT_LT(segment_files(fs).size(), files_before);
    EXPECT_LT(s->size_on_disk(), size_before);
    // Appending after compaction still works and rolls on.
    ASSERT_TRUE(s->append(entries(201, 230, 2)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs, 1024);
  // Replay resumes at the first kept segment: at or before the compaction point.
  EXPECT_LE(s->first_index(), 151u);
  EXPECT_GT(s->first_index(), 1u);
  EXPECT_EQ(s->last_index(), 230u);
  EXPECT_EQ(s->hard_state(), (HardState{1, 2, 200}));
  auto tail = s->entries(151, 231);
  ASSERT_TRUE(tail.ok());
  auto want = entries(151, 200, 1);
  for (auto& e : entries(201, 230, 2)) want.push_back(e);
  EXPECT_EQ(*tail, want);
}

TEST(Wal, CompactionKeepsTheLogBoundedUnderSteadyLoad) {
  MemFileSystem fs;
  auto s = open_ok(fs, 4096);
  for (Index i = 1; i <= 5000; i += 10) {
    ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    if (i > 200) {
      ASSERT_TRUE(s->compact(i - 100).ok());
    }
  }
  EXPECT_LT(segment_files(fs).size(), 5u);
  EXPECT_LT(s->size_on_disk(), 5u * 8192u);
  auto again = open_ok(fs, 4096);
  EXPECT_EQ(again->last_index(), 5000u);
}

TEST(Wal, CompactionRefusesEntriesThatAreNotDurable) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
  EXPECT_FALSE(s->compact(3).ok());
  ASSERT_TRUE(s->sync().ok());
  EXPECT_TRUE(s->compact(3).ok());
  EXPECT_TRUE(s->compact(2).ok());  // already covered: no-op
  EXPECT_EQ(s->first_index(), 4u);
}

TEST(Wal, OverwriteBelowTheFirstKeptSegmentReplaysCorrectly) {
  // The log is overwritten from an index that lives in an older segment;
  // then that segment is compacted away. Replay must still end in the same log.
  MemFileSystem fs;
  std::vector<Entry> want;
  {
    auto s = open_ok(fs, 512);
    ASSERT_TRUE(s->append(entries(1, 30, 1)).ok());
    ASSERT_TRUE(s->sync().ok());  // rolls: the next segment starts after 30
    ASSERT_GE(segment_files(fs).size(), 2u);
    ASSERT_TRUE(s->append(entries(25, 40, 2)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->append(entries(41, 45, 2)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->compact(35).ok());
    want = s->all_entries();
  }
  auto s = open_ok(fs, 512);
  auto got = s->entries(36, s->last_index() + 1);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, std::vector<Entry>(want.begin(), want.end()));
  EXPECT_EQ(s->term(35), 2u);
  // Replay starts in the second segment, whose first record overwrote index
  // 25 in term 2: the log resumes right after that entry.
  EXPECT_EQ(s->first_index(), 26u);
  EXPECT_EQ(s->term(25), 2u);
  EXPECT_EQ(s->term(30), 2u);
}

}  // namespace
}  // namespace raft
