// Snapshot files are written atomically, checked on load, replace older ones,
// and become the log base when a follower installs one (Raft §7).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "storage_test_util.h"

namespace raft {
namespace {

using testing::entries;
using testing::entry;
using testing::kDir;
using testing::open_ok;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

Snapshot snap(Index index, Term term, std::string data) {
  return Snapshot{SnapshotMeta{index, term, Membership{{1, 2, 3}, {4}}}, std::move(data)};
}

std::vector<std::string> snapshot_files(MemFileSystem& fs) {
  std::vector<std::string> out;
  auto names = fs.list_dir(kDir);
  for (const auto& n : *names) {
    if (n.rfind("snap-", 0) == 0) out.push_back(n);
  }
  return out;
}

TEST(Snapshots, SaveAndLoadRoundTripAcrossReopen) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->save_snapshot(snap(8, 1, std::string("state\0bytes", 11))).ok());
    EXPECT_EQ(s->snapshot_meta().index, 8u);
    // Saving does not touch the log; compaction is a separate step.
    EXPECT_EQ(s->first_index(), 1u);
  }
  fs.crash();
  auto s = open_ok(fs);
  EXPECT_EQ(s->snapshot_meta(), (SnapshotMeta{8, 1, Membership{{1, 2, 3}, {4}}}));
  auto loaded = s->load_snapshot();
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->data, std::string("state\0bytes", 11));
  EXPECT_EQ((*loaded)->meta, s->snapshot_meta());
  // On open the log starts after the snapshot; later entries are kept.
  EXPECT_EQ(s->first_index(), 9u);
  EXPECT_EQ(s->term(8), 1u);
  EXPECT_EQ(s->all_entries(), entries(9, 10, 1));
}

TEST(Snapshots, NoSnapshotLoadsAsNothing) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  auto loaded = s->load_snapshot();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST(Snapshots, NewerSnapshotReplacesTheOlderFile) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->save_snapshot(snap(5, 1, "five")).ok());
  ASSERT_TRUE(s->save_snapshot(snap(9, 2, "nine")).ok());
  EXPECT_EQ(snapshot_files(fs), std::vector<std::string>{"snap-0000000000000009-0000000000000002.snap"});
  EXPECT_FALSE(s->save_snapshot(snap(7, 2, "older")).ok());
  EXPECT_EQ((*s->load_snapshot())->data, "nine");
}

TEST(Snapshots, CrashBeforeRenameLeavesTheOldSnapshotIntact) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->save_snapshot(snap(5, 1, "old state")).ok());
    fs.fail_next_rename();  // the temp file is written and synced, then the power goes
    ASSERT_FALSE(s->save_snapshot(snap(9, 2, "new state")).ok());
    EXPECT_EQ(s->snapshot_meta().index, 5u);
  }
  fs.crash(1 << 20);
  auto s = open_ok(fs);
  EXPECT_EQ(s->snapshot_meta().index, 5u);
  EXPECT_EQ((*s->load_snapshot())->data, "old state");
  auto names = fs.list_dir(kDir);
  ASSERT_TRUE(names.ok());
  for (const auto& n : *names) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
}

TEST(Snapshots, LeftoverTempFileIsRemovedAndReported) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->save_snapshot(snap(5, 1, "old state")).ok());
  }
  fs.set_contents(std::string(kDir) + "/snap-0000000000000009-0000000000000002.snap.tmp", "half a snap");
  auto s = open_ok(fs);
  EXPECT_EQ(s->snapshot_meta().index, 5u);
  ASSERT_EQ(s->recovery().warnings.size(), 1u);
  EXPECT_TRUE(contains(s->recovery().warnings[0], ".tmp")) << s->recovery().warnings[0];
  EXPECT_EQ(snapshot_files(fs).size(), 1u);
}

TEST(Snapshots, CrashBeforeTheDirectorySyncNeverShowsAHalfSnapshot) {
  // The rename happened in memory but the directory was not synced: after the
  // crash either the old or the new snapshot is there, whole.
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->save_snapshot(snap(5, 1, "old state")).ok());
    ASSERT_TRUE(s->save_snapshot(snap(9, 2, "new state")).ok());
  }
  fs.crash();
  auto s = open_ok(fs);
  EXPECT_EQ(s->snapshot_meta().index, 9u);
  EXPECT_EQ((*s->load_snapshot())->data, "new state");
}

TEST(Snapshots, CorruptSnapshotIsAnErrorNamingTheFile) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->save_snapshot(snap(5, 1, std::string(1000, 'x'))).ok());
  }
  std::string name = snapshot_files(fs).at(0);
  std::string path = std::string(kDir) + "/" + name;
  std::string good = *fs.contents(path);
  for (size_t at : {size_t{3}, size_t{20}, size_t{40}, good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    fs.set_contents(path, bad);
    auto s = LogStorage::open(kDir, testing::mem_options(fs));
    ASSERT_FALSE(s.ok()) << "flip at " << at;
    EXPECT_TRUE(contains(s.error().message, name)) << s.error().message;
    EXPECT_TRUE(contains(s.error().message, "corrupt snapshot")) << s.error().message;
  }
  fs.set_contents(path, good.substr(0, good.size() - 1));
  EXPECT_FALSE(LogStorage::open(kDir, testing::mem_options(fs)).ok());
}

TEST(Snapshots, SnapshotPlusCompactionKeepsTheLogBounded) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 1024);
    for (Index i = 1; i <= 300; i += 10) {
      ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
    ASSERT_TRUE(s->save_snapshot(snap(250, 1, "state@250")).ok());
    ASSERT_TRUE(s->compact(250).ok());
    EXPECT_EQ(s->first_index(), 251u);
  }
  auto s = open_ok(fs, 1024);
  EXPECT_EQ(s->first_index(), 251u);
  EXPECT_EQ(s->term(250), 1u);
  EXPECT_EQ(s->all_entries(), entries(251, 300, 1));
}

// A node may remove compacted segments on another thread (their blocks
// take milliseconds to free); one a crash leaves behind only makes the
// recovered log start earlier, with the same entries after the snapshot.
TEST(Snapshots, CompactedSegmentsGoToTheRemoverAndOneLeftBehindStillRecovers) {
  MemFileSystem fs;
  std::vector<std::string> handed;
  {
    StorageOptions o = testing::mem_options(fs, 1024);
    o.remove_segment = [&](const std::string& path) { handed.push_back(path); };
    auto opened = LogStorage::open(kDir, o);
    ASSERT_TRUE(opened.ok());
    auto& s = *opened;
    for (Index i = 1; i <= 300; i += 10) {
      ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
    const size_t segments = testing::segment_files(fs).size();
    ASSERT_TRUE(s->save_snapshot(snap(250, 1, "state@250")).ok());
    ASSERT_TRUE(s->compact(250).ok());
    EXPECT_EQ(s->first_index(), 251u);
    ASSERT_FALSE(handed.empty());
    // Nothing removed by the storage itself: the remover was never run.
    EXPECT_EQ(testing::segment_files(fs).size(), segments);
  }
  auto s = open_ok(fs, 1024);
  EXPECT_LE(s->first_index(), 251u);
  EXPECT_EQ(s->snapshot_meta().index, 250u);
  auto after = s->entries(251, 301);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, entries(251, 300, 1));
  // Once removed, the next open starts where the compaction did.
  for (const std::string& path : handed) ASSERT_TRUE(fs.remove(path).ok());
  s.reset();
  s = open_ok(fs, 1024);
  EXPECT_EQ(s->first_index(), 251u);
  EXPECT_EQ(s->all_entries(), entries(251, 300, 1));
}

/// Entries 1-300 in segments of 1 KiB, a snapshot at 250 and a compaction to
/// it, with a remover that only notes the segments it is handed, as a node's
/// would before its thread ran. Their paths, oldest first.
std::vector<std::string> compact_to_250_with_a_remover(MemFileSystem& fs) {
  std::vector<std::string> handed;
  StorageOptions o = testing::mem_options(fs, 1024);
  o.remove_segment = [&](const std::string& path) { handed.push_back(path); };
  auto s = LogStorage::open(kDir, o);
  EXPECT_TRUE(s.ok());
  if (!s.ok()) return handed;
  for (Index i = 1; i <= 300; i += 10) {
    EXPECT_TRUE((*s)->append(entries(i, i + 9, 1)).ok());
    EXPECT_TRUE((*s)->sync().ok());
  }
  EXPECT_TRUE((*s)->save_snapshot(snap(250, 1, "state@250")).ok());
  EXPECT_TRUE((*s)->compact(250).ok());
  return handed;
}

// Nothing orders the remover's removals (StorageOptions::remove_segment),
// and a power loss may keep an older segment while a newer one is gone. The hole is
// harmless when the snapshot covers the segments before it: they are
// removed at open. A hole the snapshot does not cover is still an error.
TEST(Snapshots, ACompactedSegmentOutlivingANewerOneIsRemovedAtOpen) {
  MemFileSystem fs;
  const std::vector<std::string> handed = compact_to_250_with_a_remover(fs);
  ASSERT_GE(handed.size(), 3u);
  // The second compacted segment is gone, the first and the rest are not.
  ASSERT_TRUE(fs.remove(handed[1]).ok());
  ASSERT_TRUE(fs.sync_dir(kDir).ok());
  fs.crash();
  auto s = open_ok(fs, 1024);
  EXPECT_EQ(s->snapshot_meta().index, 250u);
  auto after = s->entries(251, 301);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, entries(251, 300, 1));
  const auto files = testing::segment_files(fs);
  EXPECT_EQ(std::count(files.begin(), files.end(), handed[0].substr(handed[0].rfind('/') + 1)), 0);
  ASSERT_FALSE(s->recovery().warnings.empty());
  EXPECT_TRUE(contains(s->recovery().warnings.front(), "left behind by a crash")) << s->recovery().warnings.front();
}

TEST(Snapshots, AHoleTheSnapshotDoesNotCoverIsAnError) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 1024);
    for (Index i = 1; i <= 300; i += 10) {
      ASSERT_TRUE(s->append(entries(i, i + 9, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
    ASSERT_TRUE(s->save_snapshot(snap(100, 1, "state@100")).ok());
  }
  auto files = testing::segment_files(fs);
  ASSERT_GE(files.size(), 6u);
  ASSERT_TRUE(fs.remove(std::string(kDir) + "/" + files[files.size() - 2]).ok());
  auto reopened = LogStorage::open(kDir, testing::mem_options(fs, 1024));
  ASSERT_FALSE(reopened.ok());
  EXPECT_TRUE(contains(reopened.error().message, "is missing")) << reopened.error().message;
}

// A node's remover (remove_segment_gradually) renames a compacted segment
// out of the log before it shortens and unlinks it; one a crash left
// half-removed is deleted at open and the log recovers as before.
TEST(Snapshots, ASegmentWhoseRemovalACrashInterruptedIsDeletedAtOpen) {
  MemFileSystem fs;
  const std::vector<std::string> handed = compact_to_250_with_a_remover(fs);
  ASSERT_FALSE(handed.empty());
  for (const std::string& path : handed) ASSERT_TRUE(fs.rename(path, path + kObsoleteSegmentSuffix).ok());
  auto s = open_ok(fs, 1024);
  EXPECT_EQ(s->first_index(), 251u);
  EXPECT_EQ(s->all_entries(), entries(251, 300, 1));
  auto names = fs.list_dir(kDir);
  ASSERT_TRUE(names.ok());
  for (const std::string& n : *names) EXPECT_FALSE(n.ends_with(kObsoleteSegmentSuffix)) << n;
}

TEST(Snapshots, RemovingASegmentGraduallyLeavesNothingOnTheRealDisk) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("raft-remove-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string segment = (dir / "wal-0000000000000001-0000000000000001.log").string();
  {
    std::ofstream out(segment, std::ios::binary);
    const std::string mib(1 << 20, 'x');
    for (int i = 0; i < 10; ++i) out << mib;
  }
  ASSERT_EQ(std::filesystem::file_size(segment), 10u << 20);
  remove_segment_gradually(segment);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(Snapshots, InstallKeepsTheSuffixWhenTheLogAgrees) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->install_snapshot(snap(6, 1, "s6")).ok());
    EXPECT_EQ(s->first_index(), 7u);
    EXPECT_EQ(s->all_entries(), entries(7, 10, 1));
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  EXPECT_EQ(s->first_index(), 7u);
  EXPECT_EQ(s->all_entries(), entries(7, 10, 1));
}

TEST(Snapshots, InstallDiscardsAConflictingLog) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    // The leader's snapshot says index 8 has term 3: our entries 1..10 lose.
    ASSERT_TRUE(s->install_snapshot(snap(8, 3, "s8")).ok());
    EXPECT_EQ(s->last_index(), 8u);
    EXPECT_EQ(s->first_index(), 9u);
    EXPECT_EQ(s->durable_index(), 8u);
    ASSERT_TRUE(s->append(entries(9, 12, 3)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  EXPECT_EQ(s->first_index(), 9u);
  EXPECT_EQ(s->term(8), 3u);
  EXPECT_EQ(s->all_entries(), entries(9, 12, 3));
}

TEST(Snapshots, InstallThenCrashBeforeSyncStillUsesTheSnapshot) {
  // The snapshot file is durable but the log marker was never synced.
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->install_snapshot(snap(20, 4, "s20")).ok());
  }
  fs.crash();
  {
    auto s = open_ok(fs);
    EXPECT_EQ(s->first_index(), 21u);
    EXPECT_EQ(s->last_index(), 20u);
    EXPECT_EQ(s->term(20), 4u);
    // Entries appended now replay after the snapshot on the next start.
    ASSERT_TRUE(s->append(entries(21, 25, 4)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  EXPECT_EQ(s->all_entries(), entries(21, 25, 4));
}

TEST(Snapshots, ASnapshotAheadOfTheLogAndATornSegmentHeaderRecoverTheSameWayTwice) {
  // Found by fuzz_wal_recovery: the first open wrote the torn header of the
  // last segment again as starting after the snapshot, so the next open found
  // that header out of line with the segment before it and refused to start.
  MemFileSystem fs;
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(1, 5, 1)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->install_snapshot(snap(31, 3, "s31")).ok());
  }
  fs.crash();  // the snapshot file is durable, the log's marker for it is not
  // A segment created just before the crash, its header never written whole.
  fs.set_contents(std::string(kDir) + "/wal-0000000000000002-0000000000000006.log", std::string(3, '\0'));
  for (int open = 1; open <= 2; ++open) {
    auto s = open_ok(fs);
    ASSERT_NE(s, nullptr) << "open " << open;
    EXPECT_EQ(s->first_index(), 32u) << "open " << open;
    EXPECT_EQ(s->last_index(), 31u) << "open " << open;
    EXPECT_EQ(s->term(31), 3u) << "open " << open;
  }
  {
    auto s = open_ok(fs);
    ASSERT_TRUE(s->append(entries(32, 34, 3)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->all_entries(), entries(32, 34, 3));
}

TEST(Snapshots, AppendCannotReplaceEntriesTheSnapshotHolds) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  ASSERT_TRUE(s->append(entries(1, 10, 1)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->save_snapshot(snap(6, 1, "s6")).ok());
  auto r = s->append(entries(5, 7, 2));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "committed")) << r.error().message;
  EXPECT_EQ(s->last_index(), 10u);
  // The same entries again are fine: they are skipped up to the snapshot.
  ASSERT_TRUE(s->append(entries(5, 7, 1)).ok());
  EXPECT_EQ(s->all_entries(), entries(1, 7, 1));
}

TEST(Snapshots, ApplyRequiresTheSnapshotToBeSavedFirst) {
  MemFileSystem fs;
  auto s = open_ok(fs);
  auto r = s->apply_snapshot(SnapshotMeta{5, 1, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "save_snapshot")) << r.error().message;
}

TEST(Snapshots, InstallAfterRollAndCompactionReplaysCorrectly) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 600);
    for (Index i = 1; i <= 60; i += 5) {
      ASSERT_TRUE(s->append(entries(i, i + 4, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
    ASSERT_TRUE(s->install_snapshot(snap(100, 5, "s100")).ok());
    ASSERT_TRUE(s->append(entries(101, 150, 5)).ok());
    ASSERT_TRUE(s->sync().ok());
    ASSERT_TRUE(s->compact(120).ok());
    ASSERT_TRUE(s->append(entries(151, 160, 6)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open_ok(fs, 600);
  EXPECT_EQ(s->last_index(), 160u);
  EXPECT_LE(s->first_index(), 121u);
  auto tail = s->entries(121, 161);
  ASSERT_TRUE(tail.ok()) << tail.error().message;
  auto want = entries(121, 150, 5);
  for (auto& e : entries(151, 160, 6)) want.push_back(e);
  EXPECT_EQ(*tail, want);
}

}  // namespace
}  // namespace raft
