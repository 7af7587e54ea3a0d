// Zone seeding: only what changed in the files is proposed on restart.
#include "node/zone_seed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace
