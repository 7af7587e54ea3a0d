// A transfer from an outside primary as apply sees it (store::TransferIn):
// applied only against the zone version it was computed from, its SOA stored
// exactly as the primary sent it, whatever the zone's serial policy.
#include <gtest/gtest.h>

#include "dns/message.h"
#include "store/change.h"
#include "store/store.h"

namespace {

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

dns::RR record(const std::string& owner, uint16_t type, const std::string& rdata_text, uint32_t ttl = 300) {
  dns::RR rr;
  rr.owner = dns::Name::from_text(owner).value();
  rr.type = type;
  rr.ttl = ttl;
  rr.rdata = dns::rdata_from_text(type, rdata_text, dns::Name()).value();
  return rr;
}

dns::RR soa(uint32_t serial, uint32_t refresh = 3600) {
  return record("sec.example.", dns::rrtype::SOA,
                "ns1.primary.example. host.primary.example. " + std::to_string(serial) + " " + std::to_string(refresh) +
                    " 900 604800 300");
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }
store::Op remove(dns::RR rr) { return {store::OpKind::Remove, std::move(rr)}; }

store::Change transfer(std::vector<store::Op> ops, std::optional<uint32_t> from, uint64_t sequence = 0) {
  store::Change c;
  c.origin = 1;
  c.client_id = 77;
  c.sequence = sequence;
  c.time_ms = 1'700'000'000'000;  // a unixtime policy would put 1700000000 in the SOA
  c.ops = std::move(ops);
  c.transfer = store::TransferIn{name("sec.example."), from};
  return c;
}

std::string soa_rdata(const store::Store& s) {
  const zone::Zone* z = s.snapshot()->find_zone(name("sec.example."));
  return z ? std::string(z->soa()->rdatas.front()) : std::string();
}

class TransferInTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The zone has a serial policy of its own: a transfer must not apply it.
    store::Change s;
    s.settings = store::Settings{};
    s.settings->serial_policies[name("sec.example.")] = store::SerialPolicy::UnixTime;
    ASSERT_TRUE(store_.apply(s, ++index_).all_ok());
    auto r = store_.apply(transfer({add(soa(5)), add(record("sec.example.", dns::rrtype::NS, "ns1.primary.example.")),
                                    add(record("a.sec.example.", dns::rrtype::A, "192.0.2.1"))},
                                   std::nullopt),
                          ++index_);
    ASSERT_TRUE(r.all_ok()) << r.first_error();
  }
  store::Store store_;
  uint64_t index_ = 0;
};

}  // namespace

TEST_F(TransferInTest, TheFirstTransferCreatesTheZoneWithThePrimarysSoa) {
  EXPECT_EQ(soa_rdata(store_), soa(5).rdata);
  EXPECT_EQ(store_.snapshot()->find_zone(name("sec.example."))->record_count(), 3u);
}

TEST_F(TransferInTest, ATransferredSoaIsStoredAsSentWithoutTheZonesSerialPolicy) {
  auto r = store_.apply(transfer({add(soa(6, 7200)), add(record("b.sec.example.", dns::rrtype::A, "192.0.2.2"))}, 5u),
                        ++index_);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(soa_rdata(store_), soa(6, 7200).rdata);  // not 1700000000, not 7
  // The journal holds the primary's own serials, so IXFR out follows them.
  const store::ZoneJournal* j = store_.version()->journal(name("sec.example."));
  ASSERT_NE(j, nullptr);
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ(j->back()->from_serial(), 5u);
  EXPECT_EQ(j->back()->to_serial(), 6u);
  ASSERT_EQ(j->back()->added.size(), 1u);
  EXPECT_TRUE(j->back()->removed.empty());
}

TEST_F(TransferInTest, AnOlderSerialFromThePrimaryIsStoredAsSentToo) {
  // A primary whose serial went back (reset by its operator): the cluster
  // mirrors it rather than inventing a serial of its own.
  auto r = store_.apply(transfer({add(soa(3)), remove(record("a.sec.example.", dns::rrtype::A, "192.0.2.1"))}, 5u),
                        ++index_);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(soa_rdata(store_), soa(3).rdata);
}

TEST_F(TransferInTest, ATransferComputedAgainstAnotherVersionIsNotAppliedAnywhere) {
  const std::string before = store_.digest();
  auto r = store_.apply(transfer({add(soa(9)), add(record("c.sec.example.", dns::rrtype::A, "192.0.2.3"))}, 4u, 1),
                        ++index_);
  EXPECT_EQ(r.rcode, dns::rcode::NXRRSET);
  ASSERT_EQ(r.op_errors.size(), 2u);
  EXPECT_NE(r.op_errors[0].find("computed against the zone at serial 4, which is now at serial 5"), std::string::npos)
      << r.op_errors[0];
  EXPECT_EQ(store_.digest(), before);
  EXPECT_EQ(soa_rdata(store_), soa(5).rdata);
  // A retry of the same change gets the same verdict, not a second try.
  auto again = store_.apply(transfer({add(soa(9))}, 5u, 1), ++index_);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.rcode, dns::rcode::NXRRSET);
  EXPECT_EQ(store_.digest(), before);
}

TEST_F(TransferInTest, AnInitialTransferIsRefusedOnceTheZoneExists) {
  // Two leaders in a row each read the whole zone while it was absent: only
  // the first one's transfer lands.
  auto r = store_.apply(transfer({add(soa(5)), add(record("x.sec.example.", dns::rrtype::A, "192.0.2.9"))}, std::nullopt),
                        ++index_);
  EXPECT_EQ(r.rcode, dns::rcode::NXRRSET);
  EXPECT_NE(r.first_error().find("computed against the zone absent, which is now at serial 5"), std::string::npos)
      << r.first_error();
  EXPECT_EQ(store_.snapshot()->find_zone(name("sec.example."))->record_count(), 3u);
}

TEST_F(TransferInTest, APlainChangeStillFollowsTheSerialPolicy) {
  store::Change c;
  c.origin = 1;
  c.time_ms = 1'700'000'000'000;
  c.ops = {add(record("d.sec.example.", dns::rrtype::A, "192.0.2.4"))};
  ASSERT_TRUE(store_.apply(c, ++index_).all_ok());
  EXPECT_EQ(dns::soa_decode(soa_rdata(store_))->serial, 1'700'000'000u);
}

TEST(TransferInEncoding, TheMarkerRoundTripsAndVersion3ChangesStillDecode) {
  store::Change c = transfer({add(soa(8))}, 7u, 3);
  auto back = store::decode_change(store::encode_change(c));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->transfer.has_value());
  EXPECT_EQ(*back->transfer, *c.transfer);
  c.transfer->from_serial.reset();
  back = store::decode_change(store::encode_change(c));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back->transfer, *c.transfer);

  // Version 3 (what older nodes wrote): neither the settings flag nor the
  // transfer flag at the end.
  store::Change plain = transfer({add(soa(8))}, 7u);
  plain.transfer.reset();
  std::string v4 = store::encode_change(plain);
  std::string v3 = v4.substr(0, v4.size() - 2);
  v3[0] = 3;
  auto old = store::decode_change(v3);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_FALSE(old->transfer.has_value());
  EXPECT_EQ(old->ops.size(), 1u);
}
