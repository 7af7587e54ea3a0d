// I/O failures surface as error values and never cost an acknowledged entry:
// short writes, a full disk, failed fsyncs (after which writes are refused).
#include <gtest/gtest.h>

#include "storage_test_util.h"

namespace raft {
namespace {

using testing::entries;
using testing::entry;
using testing::open_ok;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Faults, ShortWriteIsAnErrorAndIsRolledBack) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->append(entries(6, 8, 1)).ok());
  fs.fail_next_write(10);
  auto r = s->sync();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "wrote 10 of")) << r.error().message;
  EXPECT_EQ(s->durable_index(), 5u);
  EXPECT_FALSE(s->failed());
  // The buffered batch is retried by the next sync and lands whole.
  ASSERT_TRUE(s->sync().ok());
  EXPECT_EQ(s->durable_index(), 8u);
  s.reset();
  fs.crash();
  auto again = open_ok(fs);
  EXPECT_EQ(again->all_entries(), entries(1, 8, 1));
  EXPECT_TRUE(again->recovery().warnings.empty());
}

TEST(Faults, ShortWriteThenCrashKeepsEverythingSynced) {
  for (uint64_t keep : {0u, 3u, 16u, 30u}) {
    MemFileSystem fs;
    {
      auto s = open_ok(fs);
      ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
      ASSERT_TRUE(s->set_hard_state({1, 2, 5}).ok());
      ASSERT_TRUE(s->sync().ok());
      ASSERT_TRUE(s->append(entries(6, 8, 1)).ok());
      fs.fail_next_write(keep);
      ASSERT_FALSE(s->sync().ok());
    }
    fs.crash(1000);
    auto s = open_ok(fs);
    EXPECT_EQ(s->all_entries(), entries(1, 5, 1)) << keep;
    EXPECT_EQ(s->hard_state(), (HardState{1, 2, 5}));
  }
}

TEST(Faults, FullDiskIsAnErrorValueAndLosesNothingAcknowledged) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  fs.set_capacity(fs.used_bytes() + 50);  // room for about one entry
  ASSERT_TRUE(s->append(entries(6, 20, 1)).ok());
  auto r = s->sync();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "No space left on device")) << r.error().message;
  EXPECT_EQ(s->durable_index(), 5u);
  // Still full: the retry fails the same way and nothing half-written stays.
  EXPECT_FALSE(s->sync().ok());
  // Space is freed: the retry succeeds.
  fs.set_capacity(std::nullopt);
  ASSERT_TRUE(s->sync().ok());
  EXPECT_EQ(s->durable_index(), 20u);
  s.reset();
  fs.crash();
  EXPECT_EQ(open_ok(fs)->all_entries(), entries(1, 20, 1));
}

TEST(Faults, FullDiskThenCrashRecoversTheSyncedPrefix) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    fs.set_capacity(fs.used_bytes() + 50);
    ASSERT_TRUE(s->append(entries(6, 20, 1)).ok());
    ASSERT_FALSE(s->sync().ok());
  }
  fs.crash(1000);
  fs.set_capacity(std::nullopt);
  auto s = open_ok(fs);
  EXPECT_EQ(s->all_entries(), entries(1, 5, 1));
}

TEST(Faults, FullDiskWhenRollingASegmentStopsTheLog) {
  MemFileSystem fs;
  auto s = open_ok(fs, 256);
  ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->append(entries(4, 10, 1)).ok());
  // The batch fits, but the next segment's header does not.
  uint64_t batch = 7 * (16 + 17 + 10);
  fs.set_capacity(fs.used_bytes() + batch + 8);
  auto r = s->sync();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(s->failed());
  EXPECT_FALSE(s->append({entry(11, 1)}).ok());
  fs.set_capacity(std::nullopt);
  s.reset();
  fs.crash();
  auto again = open_ok(fs, 256);
  EXPECT_EQ(again->all_entries(), entries(1, 10, 1));
}

TEST(Faults, FailedFsyncRefusesAllFurtherWrites) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->append(entries(4, 6, 1)).ok());
  fs.fail_next_sync();
  auto r = s->sync();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "fdatasync")) << r.error().message;
  EXPECT_TRUE(s->failed());
  EXPECT_EQ(s->durable_index(), 3u);
  // fsyncgate: a retry could "succeed" without the data being on disk.
  auto retry = s->sync();
  ASSERT_FALSE(retry.ok());
  EXPECT_TRUE(contains(retry.error().message, "restart")) << retry.error().message;
  EXPECT_FALSE(s->append({entry(7, 1)}).ok());
  EXPECT_FALSE(s->set_hard_state({2, 1, 0}).ok());
  EXPECT_FALSE(s->compact(2).ok());
  EXPECT_FALSE(s->save_snapshot(Snapshot{{3, 1, {{1}, {}}}, "x"}).ok());
  // A restart recovers from what the disk really holds.
  s.reset();
  fs.crash();
  auto again = open_ok(fs);
  EXPECT_EQ(again->all_entries(), entries(1, 3, 1));
  EXPECT_FALSE(again->failed());
}

TEST(Faults, HardStateIsDurableOnlyAfterSync) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->set_hard_state({5, 2, 0}).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->set_hard_state({6, 3, 0}).ok());
    EXPECT_EQ(s->hard_state(), (HardState{6, 3, 0}));
  }
  fs.crash();
  // The vote for node 3 was never synced, so it must not have been sent.
  EXPECT_EQ(open_ok(fs)->hard_state(), (HardState{5, 2, 0}));
}

// write() without sync(): a power loss takes it; a process that dies keeps
// it (the kernel has it) and the next open makes it durable; sync() does.
TEST(Faults, WrittenHardStateSurvivesTheProcessButNotAPowerLossUntilSynced) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->set_hard_state({5, 2, 1}).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->set_hard_state({5, 2, 7}).ok());
    ASSERT_TRUE(s->write().ok());
    EXPECT_TRUE(s->unsynced());
    fs.crash();
  }
  EXPECT_EQ(open_ok(fs)->hard_state(), (HardState{5, 2, 1})) << "power loss: only what was synced";
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->set_hard_state({5, 2, 7}).ok());
    ASSERT_TRUE(s->write().ok());
  }
  EXPECT_EQ(open_ok(fs)->hard_state(), (HardState{5, 2, 7})) << "the process died; the kernel kept the write";
  fs.crash();
  EXPECT_EQ(open_ok(fs)->hard_state(), (HardState{5, 2, 7})) << "the open after the dead process synced it";
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->set_hard_state({5, 2, 9}).ok());
    ASSERT_TRUE(s->write().ok());
    ASSERT_TRUE(s->sync().ok());
    EXPECT_FALSE(s->unsynced());
    fs.crash();
  }
  EXPECT_EQ(open_ok(fs)->hard_state(), (HardState{5, 2, 9}));
}

// Entries a process wrote but died before syncing are in the page cache:
// the next process takes them as durable (and may acknowledge them), so its
// open must sync them before a power loss can take them.
TEST(Faults, EntriesLeftUnsyncedByADeadProcessAreMadeDurableByTheNextOpen) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->append(entries(4, 6, 1)).ok());
    ASSERT_TRUE(s->write().ok());
  }
  {
    auto s = open_ok(fs);
    EXPECT_EQ(s->durable_index(), 6u);
  }
  fs.crash();
  EXPECT_EQ(open_ok(fs)->last_index(), 6u) << "what the second process counted as durable was lost";
}

TEST(Faults, OpenReportsAnUnreadableDirectory) {
  StorageOptions o;
  auto real = LogStorage::open("/proc/version/raft", o);
  ASSERT_FALSE(real.ok());
  EXPECT_TRUE(contains(real.error().message, "/proc/version")) << real.error().message;
}

// Found by the replica simulator: a process that died (no power loss) while
// rolling onto a new segment on a full disk left the segment's directory
// entry in the page cache only. The next process took that segment as its
// active one, synced entries into it and acknowledged them; a power loss then
// took the never-synced directory entry, and the acknowledged entries with it.
TEST(Faults, ASegmentLeftByADeadProcessIsMadeDurableByTheNextOpen) {
  MemFileSystem fs;
  auto s = open_ok(fs, 256);
  ASSERT_TRUE(s->append(entries(1, 3, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->append(entries(4, 10, 1)).ok());
  uint64_t batch = 7 * (16 + 17 + 10);
  fs.set_capacity(fs.used_bytes() + batch + 8);  // the new segment's header is torn
  ASSERT_FALSE(s->sync().ok());
  s.reset();  // the process exits: what it wrote stays, nothing more is synced
  fs.set_capacity(std::nullopt);
  auto again = open_ok(fs, 256);
  ASSERT_TRUE(again->append(entries(11, 12, 1)).ok());
  ASSERT_TRUE(again->sync().ok());  // 11 and 12 are acknowledged from here on
  again.reset();
  fs.crash();  // power loss
  auto last = open_ok(fs, 256);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->all_entries(), entries(1, 12, 1));
}

}  // namespace
}  // namespace raft
