// Zone seeding: only what changed in the files is proposed on restart.
#include "node/zone_seed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>

#include "node/change_submitter.h"
#include "applying_submitter.h"
#include "store/store.h"
#include "util/file.h"

namespace {

dns::RR a_record(const char* owner, const char* ip, uint32_t ttl = 300) {
  dns::RR rr;
  rr.owner = dns::Name::from_text(owner).value();
  rr.type = dns::rrtype::A;
  rr.ttl = ttl;
  rr.rdata = dns::rdata_from_text(dns::rrtype::A, ip, dns::Name()).value();
  return rr;
}

TEST(ZoneSeed, FirstLoadAddsEveryRecord) {
  auto ops = node::zone_seed_diff({}, {a_record("a.example.", "192.0.2.1"), a_record("b.example.", "192.0.2.2")});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, store::OpKind::Add);
  EXPECT_EQ(ops[1].kind, store::OpKind::Add);
}

TEST(ZoneSeed, UnchangedFileProposesNothingSoRuntimeRemovalsSurviveRestart) {
  std::vector<dns::RR> file = {a_record("a.example.", "192.0.2.1")};
  EXPECT_TRUE(node::zone_seed_diff(file, file).empty());
}

TEST(ZoneSeed, OwnerCaseDoesNotMakeADifference) {
  EXPECT_TRUE(node::zone_seed_diff({a_record("A.Example.", "192.0.2.1")}, {a_record("a.example.", "192.0.2.1")}).empty());
}

TEST(ZoneSeed, EditedFileRemovesDroppedRecordsAndAddsNewOnes) {
  auto ops = node::zone_seed_diff({a_record("a.example.", "192.0.2.1"), a_record("b.example.", "192.0.2.2")},
                                  {a_record("a.example.", "192.0.2.1"), a_record("b.example.", "192.0.2.3")});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, store::OpKind::Remove);
  EXPECT_EQ(ops[0].rr, a_record("b.example.", "192.0.2.2"));
  EXPECT_EQ(ops[1].kind, store::OpKind::Add);
  EXPECT_EQ(ops[1].rr, a_record("b.example.", "192.0.2.3"));
}

TEST(ZoneSeed, ChangedTtlIsProposedAgain) {
  auto ops = node::zone_seed_diff({a_record("a.example.", "192.0.2.1", 300)}, {a_record("a.example.", "192.0.2.1", 60)});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].rr.ttl, 60u);
}

TEST(ZoneSeed, StateRoundTripsThroughItsFile) {
  std::string path = std::filesystem::temp_directory_path() / ("seed-state-" + std::to_string(::getpid()));
  auto missing = node::load_seed_state(path);
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  std::vector<dns::RR> records = {a_record("a.example.", "192.0.2.1", 42)};
  ASSERT_TRUE(node::save_seed_state(path, records));
  auto loaded = node::load_seed_state(path);
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0], records[0]);
  EXPECT_EQ((*loaded)[0].ttl, 42u);
  std::filesystem::remove(path);
}

TEST(ZoneSeed, CorruptStateIsAnErrorNamingTheFile) {
  std::string path = std::filesystem::temp_directory_path() / ("seed-bad-" + std::to_string(::getpid()));
  ASSERT_TRUE(util::write_file_atomically(path, "garbage"));
  auto loaded = node::load_seed_state(path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find(path), std::string::npos);
  std::filesystem::remove(path);
}

/// Applies changes to a store like a one-node cluster, and keeps what it was given.
class RecordingSubmitter final : public node::ChangeSubmitter {
 public:
  explicit RecordingSubmitter(store::Store& store) : local_(store) {}
  void submit(store::Change change, std::function<void(node::SubmitResult)> done) override {
    changes.push_back(change);
    local_.submit(std::move(change), std::move(done));
  }
  size_t ops() const {
    size_t n = 0;
    for (const auto& c : changes) n += c.ops.size();
    return n;
  }
  std::vector<store::Change> changes;

 private:
  node::test_support::ApplyingSubmitter local_;
};

/// A zone of `hosts` A records plus its SOA, as the loader hands it over.
node::ZoneLoad zone_load(size_t hosts, const char* last_ip = "192.0.2.1") {
  node::ZoneLoad load;
  dns::RR soa;
  soa.owner = dns::Name::from_text("example.").value();
  soa.type = dns::rrtype::SOA;
  soa.ttl = 300;
  soa.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns1.example. admin.example. 7 3600 900 604800 300", dns::Name())
                  .value();
  load.change.ops.push_back({store::OpKind::Add, soa});
  for (size_t i = 0; i < hosts; ++i) {
    std::string owner = "h" + std::to_string(i) + ".example.";
    const char* ip = i + 1 == hosts ? last_ip : "192.0.2.1";
    load.change.ops.push_back({store::OpKind::Add, a_record(owner.c_str(), ip)});
  }
  return load;
}

/// Every record of the store, counted by its text form.
std::map<std::string, int> records_of(const store::Store& store) {
  std::map<std::string, int> out;
  store.snapshot()->for_each_record([&](const dns::RR& rr) {
    ++out[rr.owner.to_text() + " " + std::to_string(rr.ttl) + " " + dns::type_to_text(rr.type) + " " +
          dns::rdata_to_text(rr.type, rr.rdata)];
  });
  return out;
}

class SeedFromFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = std::filesystem::temp_directory_path() / ("seed-run-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove(state_);
  }
  void TearDown() override { std::filesystem::remove(state_); }
  std::string state_;
  std::atomic<bool> stopping_{false};
};

TEST_F(SeedFromFiles, ChunkedLoadStoresEveryRecordOnceAndSavesTheState) {
  store::Store store;
  RecordingSubmitter submitter(store);
  node::seed_from_zone_files(submitter, store, state_, zone_load(10), stopping_, 0, /*chunk_ops=*/3);
  // 11 records in changes of at most 3: four changes, the SOA in the first.
  ASSERT_EQ(submitter.changes.size(), 4u);
  for (const auto& c : submitter.changes) EXPECT_LE(c.ops.size(), 3u);
  EXPECT_EQ(submitter.changes[0].ops[0].rr.type, dns::rrtype::SOA);
  auto records = records_of(store);
  EXPECT_EQ(records.size(), 11u);
  for (const auto& [text, count] : records) EXPECT_EQ(count, 1) << text;
  EXPECT_EQ(records.count("h9.example. 300 A 192.0.2.1"), 1u);
  auto saved = node::load_seed_state(state_);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->size(), 11u);
}

TEST_F(SeedFromFiles, RestartWithTheSameFileProposesNothing) {
  store::Store store;
  RecordingSubmitter first(store);
  node::seed_from_zone_files(first, store, state_, zone_load(10), stopping_, 0, 3);
  RecordingSubmitter again(store);
  node::seed_from_zone_files(again, store, state_, zone_load(10), stopping_, 0, 3);
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(records_of(store).size(), 11u);
}

TEST_F(SeedFromFiles, EditedFileProposesOnlyTheDifference) {
  store::Store store;
  RecordingSubmitter first(store);
  node::seed_from_zone_files(first, store, state_, zone_load(10), stopping_, 0, 3);
  // h9 changes address, h10 is new: one remove, two adds.
  node::ZoneLoad edited = zone_load(11, "192.0.2.99");
  edited.change.ops[10].rr = a_record("h9.example.", "192.0.2.7");
  RecordingSubmitter again(store);
  node::seed_from_zone_files(again, store, state_, std::move(edited), stopping_, 0, 3);
  ASSERT_EQ(again.ops(), 3u);
  EXPECT_EQ(again.changes[0].ops[0].kind, store::OpKind::Remove);
  EXPECT_EQ(again.changes[0].ops[0].rr, a_record("h9.example.", "192.0.2.1"));
  auto records = records_of(store);
  EXPECT_EQ(records.size(), 12u);
  EXPECT_EQ(records.count("h9.example. 300 A 192.0.2.7"), 1u);
  EXPECT_EQ(records.count("h9.example. 300 A 192.0.2.1"), 0u);
  EXPECT_EQ(records.count("h10.example. 300 A 192.0.2.99"), 1u);
  RecordingSubmitter third(store);
  node::ZoneLoad same = zone_load(11, "192.0.2.99");
  same.change.ops[10].rr = a_record("h9.example.", "192.0.2.7");
  node::seed_from_zone_files(third, store, state_, std::move(same), stopping_, 0, 3);
  EXPECT_TRUE(third.changes.empty());
}

TEST_F(SeedFromFiles, WholeLoadIsOneChangeAndServesTheFilesSerial) {
  store::Store store;
  RecordingSubmitter submitter(store);
  node::seed_from_zone_files(submitter, store, state_, zone_load(100), stopping_, 0);
  ASSERT_EQ(submitter.changes.size(), 1u);
  const zone::Zone* z = store.snapshot()->find_zone(dns::Name::from_text("example.").value());
  ASSERT_NE(z, nullptr);
  auto soa = dns::soa_decode(z->soa()->rdatas.front());
  ASSERT_TRUE(soa);
  EXPECT_EQ(soa->serial, 7u);
}

// A zone file of 10,000,000 records made one change of 494 MB, more than a
// Raft log entry takes: the load now goes in changes of bounded bytes.
TEST_F(SeedFromFiles, ALargeLoadGoesInChangesOfBoundedBytes) {
  store::Store store;
  RecordingSubmitter submitter(store);
  constexpr size_t kChunkBytes = 1000;
  node::seed_from_zone_files(submitter, store, state_, zone_load(100), stopping_, 0, node::kSeedWholeDiff, kChunkBytes);
  ASSERT_GT(submitter.changes.size(), 3u);
  for (const auto& c : submitter.changes) {
    EXPECT_LT(store::encode_change(c).size(), 2 * kChunkBytes) << c.ops.size() << " ops";
  }
  auto records = records_of(store);
  EXPECT_EQ(records.size(), 101u);
  for (const auto& [text, count] : records) EXPECT_EQ(count, 1) << text;
  auto saved = node::load_seed_state(state_);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->size(), 101u);
}

TEST_F(SeedFromFiles, RefusedRecordStaysOutOfTheStateAndIsProposedAgain) {
  store::Store store;
  node::ZoneLoad load = zone_load(3);
  load.change.ops.push_back({store::OpKind::Add, a_record("outside.test.", "192.0.2.5")});
  RecordingSubmitter first(store);
  node::seed_from_zone_files(first, store, state_, std::move(load), stopping_, 0, 2);
  auto saved = node::load_seed_state(state_);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->size(), 4u);
  node::ZoneLoad again_load = zone_load(3);
  again_load.change.ops.push_back({store::OpKind::Add, a_record("outside.test.", "192.0.2.5")});
  RecordingSubmitter again(store);
  node::seed_from_zone_files(again, store, state_, std::move(again_load), stopping_, 0, 2);
  ASSERT_EQ(again.ops(), 1u);
  EXPECT_EQ(again.changes[0].ops[0].rr.owner.to_text(), "outside.test.");
}

/// A file in the test's temporary directory holding `text`.
std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = std::filesystem::temp_directory_path() / ("fp-" + std::to_string(::getpid()) + "-" + name);
  EXPECT_TRUE(util::write_file_atomically(path, text));
  return path;
}

TEST(ZoneFilesFingerprint, FollowsEveryByteAndTheOrderOfTheFiles) {
  const std::string a = write_temp("a", "$ORIGIN example.\n@ SOA ns admin 1 2 3 4 5\n");
  const std::string b = write_temp("b", "$ORIGIN other.\n@ SOA ns admin 1 2 3 4 5\n");
  auto ab = node::zone_files_fingerprint({a, b});
  ASSERT_TRUE(ab);
  EXPECT_EQ(node::zone_files_fingerprint({a, b}), ab);
  EXPECT_NE(node::zone_files_fingerprint({b, a}), ab);
  EXPECT_NE(node::zone_files_fingerprint({a}), ab);
  ASSERT_TRUE(util::write_file_atomically(b, "$ORIGIN other.\n@ SOA ns admin 2 2 3 4 5\n"));
  EXPECT_NE(node::zone_files_fingerprint({a, b}), ab);
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

TEST(ZoneFilesFingerprint, NoneForAnUnreadableFileOrAnInclude) {
  EXPECT_FALSE(node::zone_files_fingerprint({"/nonexistent/zone.file"}));
  // The included file's bytes are not in the fingerprint: never trust one.
  const std::string inc = write_temp("inc", "$ORIGIN example.\n$Include hosts.zone\n");
  EXPECT_FALSE(node::zone_files_fingerprint({inc}));
  std::filesystem::remove(inc);
}

TEST_F(SeedFromFiles, CleanLoadSavesTheFingerprintThatMarksTheFilesUnchanged) {
  store::Store store;
  node::ZoneLoad load = zone_load(10);
  load.fingerprint = "f1";
  RecordingSubmitter first(store);
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f1"));
  node::seed_from_zone_files(first, store, state_, std::move(load), stopping_, 0);
  EXPECT_TRUE(node::zone_files_unchanged(state_, "f1"));
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f2"));
  // Without its state the fingerprint proves nothing.
  std::filesystem::remove(state_);
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f1"));
  std::filesystem::remove(state_ + ".sha256");
}

/// Checks, as each change is proposed, that no fingerprint pairs with the state.
class FingerprintCheckingSubmitter final : public node::ChangeSubmitter {
 public:
  FingerprintCheckingSubmitter(store::Store& store, std::string state) : local_(store), state_(std::move(state)) {}
  void submit(store::Change change, std::function<void(node::SubmitResult)> done) override {
    fingerprint_seen |= std::filesystem::exists(state_ + ".sha256");
    local_.submit(std::move(change), std::move(done));
  }
  bool fingerprint_seen = false;

 private:
  node::test_support::ApplyingSubmitter local_;
  std::string state_;
};

TEST_F(SeedFromFiles, EditedFilesDropTheOldFingerprintBeforeProposing) {
  store::Store store;
  node::ZoneLoad load = zone_load(10);
  load.fingerprint = "f1";
  RecordingSubmitter first(store);
  node::seed_from_zone_files(first, store, state_, std::move(load), stopping_, 0);
  ASSERT_TRUE(node::zone_files_unchanged(state_, "f1"));
  node::ZoneLoad edited = zone_load(11);
  edited.fingerprint = "f2";
  FingerprintCheckingSubmitter again(store, state_);
  node::seed_from_zone_files(again, store, state_, std::move(edited), stopping_, 0);
  EXPECT_FALSE(again.fingerprint_seen);  // a crash mid-way leaves no fingerprint for the new state
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f1"));
  EXPECT_TRUE(node::zone_files_unchanged(state_, "f2"));
  std::filesystem::remove(state_ + ".sha256");
}

TEST_F(SeedFromFiles, NoFingerprintWhenARecordWasRefusedOrALineSkipped) {
  store::Store store;
  node::ZoneLoad load = zone_load(3);
  load.change.ops.push_back({store::OpKind::Add, a_record("outside.test.", "192.0.2.5")});
  load.fingerprint = "f1";
  RecordingSubmitter first(store);
  node::seed_from_zone_files(first, store, state_, std::move(load), stopping_, 0);
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f1"));
  node::ZoneLoad skipped = zone_load(3);
  skipped.warnings.push_back("zone:3: bad line");
  skipped.fingerprint = "f2";
  RecordingSubmitter again(store);
  node::seed_from_zone_files(again, store, state_, std::move(skipped), stopping_, 0);
  EXPECT_FALSE(node::zone_files_unchanged(state_, "f2"));
}

}  // namespace
