// Store: apply semantics, exactly-once, snapshots for readers, checkpoints.
#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>


namespace {

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

dns::RR record(const char* owner, uint16_t type, const char* rdata_text, uint32_t ttl = 300) {
  dns::RR rr;
  rr.owner = name(owner);
  rr.type = type;
  rr.ttl = ttl;
  rr.rdata = dns::rdata_from_text(type, rdata_text, dns::Name()).value();
  return rr;
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }
store::Op remove(dns::RR rr) { return {store::OpKind::Remove, std::move(rr)}; }

store::Change change(std::vector<store::Op> ops, uint64_t client = 0, uint64_t seq = 0) {
  store::Change c;
  c.origin = 1;
  c.client_id = client;
  c.sequence = seq;
  c.ops = std::move(ops);
  return c;
}

const dns::RR kSoa = record("example.com.", dns::rrtype::SOA, "ns1.example.com. host.example.com. 1 3600 900 604800 300");

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.apply(change({add(kSoa)}), 1).all_ok()); }
  store::Store store_;
};

TEST_F(StoreTest, AppliedRecordIsVisibleInTheNextSnapshot) {
  auto before = store_.snapshot();
  auto gen = store_.generation();
  auto result = store_.apply(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}), 2);
  EXPECT_TRUE(result.all_ok()) << result.first_error();
  EXPECT_GT(store_.generation(), gen);
  EXPECT_EQ(store_.applied_index(), 2u);
  EXPECT_EQ(store_.snapshot()->record_count(), 2u);
  // A reader holding the old snapshot keeps seeing the old version.
  EXPECT_EQ(before->record_count(), 1u);
}

TEST_F(StoreTest, SoaInBatchIsAppliedFirstSoZoneRecordsCanPrecedeIt) {
  auto result = store_.apply(change({add(record("a.example.org.", dns::rrtype::A, "192.0.2.9")),
                                     add(record("example.org.", dns::rrtype::SOA,
                                                "ns.example.org. h.example.org. 1 2 3 4 5"))}),
                             2);
  EXPECT_TRUE(result.all_ok()) << result.first_error();
  EXPECT_EQ(store_.snapshot()->record_count(), 3u);
}

TEST_F(StoreTest, EachOpFailsOnItsOwnWithItsReason) {
  auto result = store_.apply(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1")),
                                     add(record("www.other.test.", dns::rrtype::A, "192.0.2.2"))}),
                             2);
  ASSERT_EQ(result.op_errors.size(), 2u);
  EXPECT_EQ(result.op_errors[0], "");
  EXPECT_NE(result.op_errors[1], "");
  EXPECT_EQ(store_.snapshot()->record_count(), 2u);
}

TEST_F(StoreTest, RemovingAnAbsentRecordIsReported) {
  auto result = store_.apply(change({remove(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}), 2);
  EXPECT_FALSE(result.all_ok());
  EXPECT_NE(result.first_error().find("no such record"), std::string::npos) << result.first_error();
}

TEST_F(StoreTest, EachFailedOpCarriesTheKindOfItsFailure) {
  ASSERT_TRUE(store_.apply(change({add(record("alias.example.com.", dns::rrtype::CNAME, "www.example.com."))}), 2).all_ok());
  auto result = store_.apply(change({add(record("alias.example.com.", dns::rrtype::A, "192.0.2.1")),
                                     remove(record("gone.example.com.", dns::rrtype::A, "192.0.2.2")),
                                     add(record("www.other.test.", dns::rrtype::A, "192.0.2.3")),
                                     add(record("ok.example.com.", dns::rrtype::A, "192.0.2.4"))},
                                    8, 1),
                             3);
  ASSERT_EQ(result.op_errors.size(), 4u);
  EXPECT_EQ(result.kind(0), util::ErrorKind::Conflict);  // beside a CNAME
  EXPECT_EQ(result.kind(1), util::ErrorKind::NotFound);  // no such record
  EXPECT_EQ(result.kind(2), util::ErrorKind::NotFound);  // no zone for it
  EXPECT_EQ(result.op_errors[3], "");
  ASSERT_TRUE(result.first_failure());
  EXPECT_EQ(result.first_failure()->kind, util::ErrorKind::Conflict);
  // A retry gets the kinds back too, also after a restore.
  store::Store copy;
  ASSERT_TRUE(copy.restore(store_.serialize()));
  auto retry = copy.apply(change({}, 8, 1), 4);
  ASSERT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.op_kinds, result.op_kinds);
}

TEST_F(StoreTest, RetriedChangeIsAppliedExactlyOnce) {
  auto c = change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}, 7, 1);
  ASSERT_TRUE(store_.apply(c, 2).all_ok());
  auto c2 = change({remove(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}, 7, 2);
  ASSERT_TRUE(store_.apply(c2, 3).all_ok());
  // The first change arrives again (a late copy after a leader change): not
  // re-applied, and refused since the session has moved past it.
  auto again = store_.apply(c, 4);
  EXPECT_TRUE(again.stale);
  EXPECT_FALSE(again.all_ok());
  EXPECT_EQ(store_.snapshot()->record_count(), 1u);
  // The same sequence again gets the recorded outcome.
  auto again2 = store_.apply(c2, 5);
  EXPECT_TRUE(again2.duplicate);
  EXPECT_TRUE(again2.all_ok());
}

TEST_F(StoreTest, AChangeBelowTheSessionsLastSequenceIsNeverAnsweredAsApplied) {
  // Change 1 of a session commits after change 2 (two changes were in flight
  // at once, against the session rule): it is not applied, and its answer
  // must say so rather than report success.
  auto c1 = change({add(record("one.example.com.", dns::rrtype::A, "192.0.2.1"))}, 9, 1);
  auto c2 = change({add(record("two.example.com.", dns::rrtype::A, "192.0.2.2"))}, 9, 2);
  ASSERT_TRUE(store_.apply(c2, 2).all_ok());
  auto late = store_.apply(c1, 3);
  EXPECT_FALSE(late.all_ok());
  EXPECT_FALSE(late.duplicate);
  EXPECT_TRUE(late.stale);
  EXPECT_EQ(store_.snapshot()->record_count(), 2u);
  // The session's last change still gets its own outcome back.
  EXPECT_TRUE(store_.apply(c2, 4).duplicate);
  EXPECT_TRUE(store_.apply(c2, 5).all_ok());
}

TEST_F(StoreTest, SerializeRestoreRoundTripsRecordsIndexAndDedupe) {
  ASSERT_TRUE(store_.apply(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}, 3, 1), 9).all_ok());
  store::Store copy;
  ASSERT_TRUE(copy.restore(store_.serialize()));
  EXPECT_EQ(copy.applied_index(), 9u);
  EXPECT_EQ(copy.digest(), store_.digest());
  EXPECT_TRUE(copy.apply(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}, 3, 1), 10).duplicate);
}

TEST_F(StoreTest, ARetryGetsEachOpsOwnOutcomeBackAlsoAfterARestore) {
  auto c = change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1")),
                   add(record("b.other.test.", dns::rrtype::A, "192.0.2.2")),
                   add(record("c.example.com.", dns::rrtype::A, "192.0.2.3")),
                   remove(record("d.example.com.", dns::rrtype::A, "192.0.2.4"))},
                  5, 1);
  const auto first = store_.apply(c, 2);
  ASSERT_EQ(first.op_errors.size(), 4u);
  ASSERT_EQ(first.op_errors[0], "");
  ASSERT_NE(first.op_errors[1], "");
  ASSERT_EQ(first.op_errors[2], "");
  ASSERT_NE(first.op_errors[3], "");

  const auto retry = store_.apply(c, 3);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.op_errors, first.op_errors);

  store::Store copy;
  ASSERT_TRUE(copy.restore(store_.serialize()));
  EXPECT_EQ(copy.serialize(), store_.serialize());
  const auto retry_after_restore = copy.apply(c, 4);
  EXPECT_TRUE(retry_after_restore.duplicate);
  EXPECT_EQ(retry_after_restore.op_errors, first.op_errors);
}

TEST_F(StoreTest, DigestDiffersWhenRecordsDiffer) {
  std::string before = store_.digest();
  ASSERT_TRUE(store_.apply(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}), 2).all_ok());
  EXPECT_NE(before, store_.digest());
}

// A checkpoint holds Store::serialize(); the Raft snapshot file around it
// carries the checksum (raft/storage.h).
TEST_F(StoreTest, SerializedStateRestoresTheSameRecordsAndIndex) {
  store::Store loaded;
  ASSERT_TRUE(loaded.restore(store_.serialize()));
  EXPECT_EQ(loaded.digest(), store_.digest());
  EXPECT_EQ(loaded.applied_index(), 1u);
}

TEST_F(StoreTest, TruncatedStateIsAnErrorAndChangesNothing) {
  std::string state = store_.serialize();
  store::Store loaded;
  for (size_t cut : {size_t{0}, size_t{1}, state.size() / 2, state.size() - 1}) {
    EXPECT_FALSE(loaded.restore(std::string_view(state).substr(0, cut))) << "cut at " << cut;
    EXPECT_EQ(loaded.snapshot()->record_count(), 0u);
  }
}

TEST(ChangeCodec, RoundTripsEveryField) {
  store::Change c = change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1", 60)),
                            {store::OpKind::RemoveRRset, record("mx.example.com.", dns::rrtype::MX, "10 mail.example.com.")}},
                           42, 7);
  c.origin = 3;
  auto decoded = store::decode_change(store::encode_change(c));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->origin, 3u);
  EXPECT_EQ(decoded->client_id, 42u);
  EXPECT_EQ(decoded->sequence, 7u);
  ASSERT_EQ(decoded->ops.size(), 2u);
  EXPECT_EQ(decoded->ops[1].kind, store::OpKind::RemoveRRset);
  EXPECT_EQ(decoded->ops[0].rr, c.ops[0].rr);
  EXPECT_EQ(decoded->ops[0].rr.ttl, 60u);
}

TEST(ChangeCodec, RejectsEveryTruncation) {
  std::string bytes = store::encode_change(change({add(record("www.example.com.", dns::rrtype::A, "192.0.2.1"))}, 1, 1));
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(store::decode_change(std::string_view(bytes).substr(0, len))) << "length " << len;
  }
  EXPECT_FALSE(store::decode_change(bytes + "x"));
}

}  // namespace
