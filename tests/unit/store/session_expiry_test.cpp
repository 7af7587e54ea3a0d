// Client sessions expire (Raft dissertation §6.3): the store's session table
// stays bounded, identically on every node, and a change whose session was
// forgotten is refused instead of being applied twice.
#include <gtest/gtest.h>

#include "store/change.h"
#include "store/store.h"
#include "util/bytes.h"

namespace {

dns::RR a_record(const std::string& owner, const char* address = "192.0.2.1") {
  dns::RR rr;
  rr.owner = dns::Name::from_text(owner).value();
  rr.type = dns::rrtype::A;
  rr.ttl = 60;
  rr.rdata = dns::rdata_from_text(dns::rrtype::A, address, dns::Name()).value();
  return rr;
}

/// A change of session `client` as a node stamps it: its sequence, the time
/// its proposer stamped it, and the index that proposer had applied then.
store::Change stamped(uint64_t client, uint64_t seq, uint64_t time_ms, uint64_t after, store::OpKind kind,
                      const std::string& owner) {
  store::Change c;
  c.origin = 1;
  c.client_id = client;
  c.sequence = seq;
  c.time_ms = time_ms;
  c.stamped_after = after;
  c.ops.push_back({kind, a_record(owner)});
  return c;
}

class SessionExpiryTest : public ::testing::Test {
 protected:
  /// Sessions idle for more than 1000 ms of log time go; at most 3 are kept.
  static constexpr store::SessionLimits kLimits{1000, 3};

  void SetUp() override {
    store::Change soa;
    dns::RR rr;
    rr.owner = dns::Name::from_text("example.com.").value();
    rr.type = dns::rrtype::SOA;
    rr.ttl = 300;
    rr.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns.example.com. h.example.com. 1 2 3 4 5", dns::Name()).value();
    soa.ops.push_back({store::OpKind::Add, rr});
    ASSERT_TRUE(store_.apply(soa, ++index_).all_ok());
  }

  store::ApplyResult apply(const store::Change& c) { return store_.apply(c, ++index_); }
  bool has(const std::string& owner) {
    auto snap = store_.snapshot();
    const zone::Zone* z = snap->find_zone(dns::Name::from_text(owner).value());
    const zone::Node* n = z ? z->find(dns::Name::from_text(owner).value()) : nullptr;
    return n && n->find(dns::rrtype::A);
  }

  store::Store store_{kLimits};
  uint64_t index_ = 0;
};

TEST_F(SessionExpiryTest, SessionsIdleLongerThanTheBoundAreDroppedByTheLogsClock) {
  ASSERT_TRUE(apply(stamped(11, 1, 10'000, index_, store::OpKind::Add, "a.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(12, 1, 10'800, index_, store::OpKind::Add, "b.example.com.")).all_ok());
  EXPECT_EQ(store_.session_count(), 2u);
  // 1,500 ms after session 11's last change: it goes, session 12 (700 ms) stays.
  ASSERT_TRUE(apply(stamped(13, 1, 11'500, index_, store::OpKind::Add, "c.example.com.")).all_ok());
  EXPECT_EQ(store_.session_count(), 2u);
  // A change stamped with an earlier time does not move the clock back.
  ASSERT_TRUE(apply(stamped(14, 1, 5'000, index_, store::OpKind::Add, "d.example.com.")).all_ok());
  EXPECT_EQ(store_.session_count(), 3u);
}

TEST_F(SessionExpiryTest, ARetryAfterItsSessionExpiredIsRefusedNotAppliedTwice) {
  const store::Change add = stamped(21, 1, 10'000, index_, store::OpKind::Add, "x.example.com.");
  ASSERT_TRUE(apply(add).all_ok());
  // Another client removes the record; later session 21 has been idle too long.
  ASSERT_TRUE(apply(stamped(22, 1, 10'100, index_, store::OpKind::Remove, "x.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(23, 1, 12'000, index_, store::OpKind::Add, "y.example.com.")).all_ok());
  ASSERT_FALSE(has("x.example.com."));
  // A late copy of session 21's change: applying it would bring x back.
  store::ApplyResult late = apply(add);
  EXPECT_TRUE(late.expired);
  EXPECT_FALSE(late.duplicate);
  EXPECT_FALSE(late.all_ok());
  EXPECT_NE(late.first_error().find("session expired"), std::string::npos) << late.first_error();
  EXPECT_FALSE(has("x.example.com."));
}

TEST_F(SessionExpiryTest, TheCapEvictsTheLeastRecentlyUsedSession) {
  const store::Change first = stamped(31, 1, 10'000, index_, store::OpKind::Add, "p.example.com.");
  ASSERT_TRUE(apply(first).all_ok());
  const store::Change second = stamped(32, 1, 10'000, index_, store::OpKind::Add, "q.example.com.");
  ASSERT_TRUE(apply(second).all_ok());
  ASSERT_TRUE(apply(stamped(33, 1, 10'000, index_, store::OpKind::Add, "r.example.com.")).all_ok());
  // Session 31 is used again: now 32 is the least recently used.
  ASSERT_TRUE(apply(stamped(31, 2, 10'000, index_, store::OpKind::Add, "s.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(34, 1, 10'000, index_, store::OpKind::Add, "t.example.com.")).all_ok());
  EXPECT_EQ(store_.session_count(), 3u);
  EXPECT_TRUE(apply(second).expired);
  EXPECT_TRUE(apply(stamped(31, 2, 10'000, 0, store::OpKind::Add, "s.example.com.")).duplicate);
}

TEST_F(SessionExpiryTest, ANewOrRenewedSessionStampedAfterTheDropIsApplied) {
  ASSERT_TRUE(apply(stamped(41, 1, 10'000, index_, store::OpKind::Add, "a.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(42, 1, 20'000, index_, store::OpKind::Add, "b.example.com.")).all_ok());
  ASSERT_EQ(store_.session_count(), 1u);  // 41 expired
  // Session 41 comes back with its next change, stamped after the drop.
  store::ApplyResult renewed = apply(stamped(41, 2, 20'100, index_, store::OpKind::Add, "c.example.com."));
  EXPECT_TRUE(renewed.all_ok()) << renewed.first_error();
  EXPECT_TRUE(has("c.example.com."));
  // A brand-new session too.
  EXPECT_TRUE(apply(stamped(43, 1, 20'200, index_, store::OpKind::Add, "d.example.com.")).all_ok());
}

TEST_F(SessionExpiryTest, ExpiryIsTheSameAfterASerializeAndRestore) {
  store::Store copy{kLimits};
  ASSERT_TRUE(apply(stamped(51, 1, 10'000, index_, store::OpKind::Add, "a.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(52, 1, 10'600, index_, store::OpKind::Add, "b.example.com.")).all_ok());
  ASSERT_TRUE(apply(stamped(53, 1, 10'700, index_, store::OpKind::Add, "c.example.com.")).all_ok());
  ASSERT_TRUE(copy.restore(store_.serialize()));
  EXPECT_EQ(copy.serialize(), store_.serialize());
  // The same later log on both: the same sessions go, the same answers come.
  std::vector<store::Change> later = {
      stamped(54, 1, 11'300, index_, store::OpKind::Add, "d.example.com."),  // 51 expires
      stamped(51, 1, 9'000, 1, store::OpKind::Add, "a.example.com."),       // its late copy
      stamped(55, 1, 11'400, index_, store::OpKind::Add, "e.example.com."),  // the cap: 52 goes
      stamped(52, 1, 10'600, 1, store::OpKind::Add, "b.example.com."),
      stamped(53, 1, 10'700, 1, store::OpKind::Add, "c.example.com."),
  };
  uint64_t copy_index = index_;
  for (const store::Change& c : later) {
    store::ApplyResult mine = apply(c);
    store::ApplyResult theirs = copy.apply(c, ++copy_index);
    EXPECT_EQ(mine.expired, theirs.expired);
    EXPECT_EQ(mine.duplicate, theirs.duplicate);
    EXPECT_EQ(mine.op_errors, theirs.op_errors);
  }
  EXPECT_EQ(copy.serialize(), store_.serialize());
  EXPECT_EQ(copy.session_count(), store_.session_count());
}

TEST_F(SessionExpiryTest, ChangesWithoutAStampNeitherExpireSessionsNorAreRefused) {
  // Entries written before changes carried a time are applied as they were
  // then, so a node replaying an old log reaches the state its peers saved.
  for (uint64_t client = 61; client < 66; ++client) {
    ASSERT_TRUE(apply(stamped(client, 1, 0, 0, store::OpKind::Add, "o" + std::to_string(client) + ".example.com."))
                    .all_ok());
  }
  EXPECT_EQ(store_.session_count(), 5u);
  EXPECT_TRUE(apply(stamped(61, 1, 0, 0, store::OpKind::Add, "o61.example.com.")).duplicate);
}

TEST(ChangeEncoding, TheStampRoundTripsAndVersion2EntriesStillDecode) {
  store::Change c;
  c.origin = 3;
  c.client_id = 77;
  c.sequence = 5;
  c.time_ms = 1'800'000'000'123;
  c.stamped_after = 4242;
  c.ops.push_back({store::OpKind::Add, a_record("www.example.com.")});
  auto back = store::decode_change(store::encode_change(c));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->time_ms, c.time_ms);
  EXPECT_EQ(back->stamped_after, c.stamped_after);
  EXPECT_EQ(back->sequence, 5u);

  // A version-2 entry (no stamp), as earlier releases wrote it.
  std::string v2;
  util::ByteWriter w(v2);
  w.u8(2);
  w.u32(3);
  w.u64(77);
  w.u64(5);
  w.u32(0);  // no ops
  w.u8(0);   // no update
  auto old = store::decode_change(v2);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->client_id, 77u);
  EXPECT_EQ(old->sequence, 5u);
  EXPECT_EQ(old->time_ms, 0u);
  EXPECT_EQ(old->stamped_after, 0u);
}

TEST(StateFormat, AVersion2StateStillRestoresWithItsSessions) {
  // Records and a dedupe table as earlier releases saved them.
  std::string v2;
  util::ByteWriter w(v2);
  w.raw(std::string_view("DNSNODE-STATE\x02", 14));
  w.u64(9);  // applied index
  w.u32(1);  // one dedupe entry
  w.u32(1);  // origin
  w.u64(88); // client
  w.u64(4);  // sequence
  w.u32(2);  // two ops
  w.str("");
  w.str("no zone for x.test.");
  w.u16(0);  // rcode
  w.u64(0);  // no records
  store::Store st;
  ASSERT_TRUE(st.restore(v2));
  EXPECT_EQ(st.applied_index(), 9u);
  EXPECT_EQ(st.session_count(), 1u);
  store::Change retry;
  retry.origin = 1;
  retry.client_id = 88;
  retry.sequence = 4;
  retry.ops.resize(2);
  store::ApplyResult r = st.apply(retry, 10);
  EXPECT_TRUE(r.duplicate);
  ASSERT_EQ(r.op_errors.size(), 2u);
  EXPECT_EQ(r.op_errors[1], "no zone for x.test.");
}

}  // namespace
