// Recovery after a crash: a torn tail is cut and reported, corruption in the
// middle of the log is an error naming the file and byte offset.
#include <gtest/gtest.h>

#include "storage_test_util.h"

namespace raft {
namespace {

using testing::entries;
using testing::entry;
using testing::open_ok;
using testing::seg_path;
using testing::segment_files;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// Writes entries 1..5 durably and returns the byte size of the segment.
uint64_t write_five(MemFileSystem& fs) {
  auto s = open_ok(fs);
  EXPECT_TRUE(s->append(entries(1, 5, 1)).ok());
  EXPECT_TRUE(s->set_hard_state({1, 1, 5}).ok());
  EXPECT_TRUE(s->sync().ok());
  return fs.contents(seg_path(segment_files(fs).back()))->size();
}

TEST(Recovery, TornLastRecordAtEveryByteOffsetIsTruncatedAndReported) {
  // Measure the last record: entry 6 appended after a durable prefix.
  MemFileSystem probe;
  uint64_t durable_size = write_five(probe);
  {
    auto s = open_ok(probe);
    ASSERT_TRUE(s->append({entry(6, 1)}).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  uint64_t full_size = probe.contents(seg_path(segment_files(probe).back()))->size();
  ASSERT_GT(full_size, durable_size + 16);

  for (uint64_t keep = 0; keep < full_size - durable_size; ++keep) {
    MemFileSystem fs;
    write_five(fs);
    {
      auto s = open_ok(fs);
      ASSERT_TRUE(s->append({entry(6, 1)}).ok());
      fs.fail_next_sync();  // written, never durable: the power goes mid-write
      ASSERT_FALSE(s->sync().ok());
    }
    fs.crash(keep);
    auto s = open_ok(fs);
    ASSERT_NE(s, nullptr) << "keep=" << keep;
    EXPECT_EQ(s->all_entries(), entries(1, 5, 1)) << "keep=" << keep;
    EXPECT_EQ(s->hard_state(), (HardState{1, 1, 5}));
    if (keep == 0) {
      EXPECT_TRUE(s->recovery().warnings.empty());
    } else {
      ASSERT_EQ(s->recovery().warnings.size(), 1u) << "keep=" << keep;
      const std::string& w = s->recovery().warnings[0];
      EXPECT_TRUE(contains(w, "byte " + std::to_string(durable_size))) << w;
      EXPECT_TRUE(contains(w, "torn record")) << w;
      EXPECT_EQ(s->recovery().truncated_bytes, keep);
    }
    // The log goes on cleanly after the cut.
    ASSERT_TRUE(s->append({entry(6, 2)}).ok());
    ASSERT_TRUE(s->sync().ok());
    auto again = open_ok(fs);
    EXPECT_EQ(again->last_index(), 6u);
    EXPECT_EQ(again->term(6), 2u);
    EXPECT_TRUE(again->recovery().warnings.empty());
  }
}

TEST(Recovery, TornTailWithZeroFilledBytesIsTruncated) {
  // Some file systems extend the file with zeros when the data never made it.
  MemFileSystem fs;
  uint64_t size = write_five(fs);
  std::string path = seg_path(segment_files(fs).back());
  fs.set_contents(path, *fs.contents(path) + std::string(4096, '\0'));
  auto s = open_ok(fs);
  EXPECT_EQ(s->all_entries(), entries(1, 5, 1));
  ASSERT_EQ(s->recovery().warnings.size(), 1u);
  EXPECT_EQ(fs.contents(path)->size(), size);
}

TEST(Recovery, FlippedBitInTheMiddleIsAnErrorNamingFileAndOffset) {
  MemFileSystem fs;
  uint64_t size = write_five(fs);
  std::string name = segment_files(fs).back();
  std::string data = *fs.contents(seg_path(name));
  // Flip every bit position of one byte in turn, in a record in the middle.
  uint64_t flip_at = size / 2;
  for (int bit = 0; bit < 8; ++bit) {
    std::string bad = data;
    bad[flip_at] = static_cast<char>(bad[flip_at] ^ (1 << bit));
    fs.set_contents(seg_path(name), bad);
    auto s = LogStorage::open(testing::kDir, testing::mem_options(fs));
    ASSERT_FALSE(s.ok()) << "bit " << bit;
    const std::string& msg = s.error().message;
    EXPECT_TRUE(contains(msg, name)) << msg;
    EXPECT_TRUE(contains(msg, "byte ")) << msg;
    EXPECT_TRUE(contains(msg, "corrupt")) << msg;
    // Nothing was truncated: the file is as it was, for an operator to inspect.
    EXPECT_EQ(*fs.contents(seg_path(name)), bad);
  }
}

TEST(Recovery, ErrorNamesTheOffsetOfTheCorruptRecord) {
  MemFileSystem fs;
  write_five(fs);
  std::string name = segment_files(fs).back();
  std::string data = *fs.contents(seg_path(name));
  // Find where the third record starts by walking the length fields.
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(data[at + i])} << (8 * i);
    return v;
  };
  size_t off = 0;
  for (int i = 0; i < 3; ++i) off += 16 + u32(off);
  data[off + 20] = static_cast<char>(data[off + 20] ^ 0x40);  // inside its payload
  fs.set_contents(seg_path(name), data);
  auto s = LogStorage::open(testing::kDir, testing::mem_options(fs));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, name + ": byte " + std::to_string(off) + ":")) << s.error().message;
  EXPECT_TRUE(contains(s.error().message, "checksum")) << s.error().message;
}

TEST(Recovery, CorruptLastRecordOfAnOlderSegmentIsAnError) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 512);
    for (Index i = 1; i <= 60; i += 5) {
      ASSERT_TRUE(s->append(entries(i, i + 4, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
  }
  auto files = segment_files(fs);
  ASSERT_GE(files.size(), 2u);
  std::string data = *fs.contents(seg_path(files[0]));
  data.back() = static_cast<char>(data.back() ^ 1);  // the tail of a segment that is not the last
  fs.set_contents(seg_path(files[0]), data);
  auto s = LogStorage::open(testing::kDir, testing::mem_options(fs, 512));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, files[0])) << s.error().message;
}

TEST(Recovery, MissingSegmentIsAnError) {
  MemFileSystem fs;
  {
    auto s = open_ok(fs, 512);
    for (Index i = 1; i <= 100; i += 5) {
      ASSERT_TRUE(s->append(entries(i, i + 4, 1)).ok());
      ASSERT_TRUE(s->sync().ok());
    }
  }
  auto files = segment_files(fs);
  ASSERT_GE(files.size(), 3u);
  ASSERT_TRUE(fs.remove(seg_path(files[1])).ok());
  auto s = LogStorage::open(testing::kDir, testing::mem_options(fs, 512));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, "missing")) << s.error().message;
}

TEST(Recovery, CrashAfterManySyncsLosesNothingSynced) {
  // Crash at an arbitrary point with a torn partial batch; every synced entry
  // and hard state is there after recovery, across segment rolls.
  for (uint64_t keep : {0u, 1u, 7u, 16u, 40u, 200u}) {
    MemFileSystem fs;
    Index synced = 0;
    {
      auto s = open_ok(fs, 700);
      for (Index i = 1; i <= 90; i += 3) {
        ASSERT_TRUE(s->append(entries(i, i + 2, 1 + i / 30)).ok());
        ASSERT_TRUE(s->set_hard_state({1 + i / 30, 1, i}).ok());
        ASSERT_TRUE(s->sync().ok());
        synced = i + 2;
      }
      ASSERT_TRUE(s->append(entries(91, 99, 9)).ok());
      fs.fail_next_sync();
      ASSERT_FALSE(s->sync().ok());
    }
    fs.crash(keep);
    auto s = open_ok(fs, 700);
    ASSERT_NE(s, nullptr);
    ASSERT_GE(s->last_index(), synced) << keep;
    for (Index i = 1; i <= synced; ++i) EXPECT_EQ(s->term(i), 1 + (i - 1) / 3 * 3 / 30) << i;
    EXPECT_EQ(s->hard_state().commit, 88u);
  }
}

}  // namespace
}  // namespace raft
