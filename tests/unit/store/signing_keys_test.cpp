// Store: the signing keys of online-signed zones, committed once per zone
// with their DNSKEY, CDS and CDNSKEY, and out of reach of ordinary changes.
#include <gtest/gtest.h>

#include "dns/dnssec_sign.h"
#include "dns/message.h"
#include "store/store.h"

namespace {

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

dns::RR soa() {
  return dns::RR{name("example.com."), dns::rrtype::SOA, dns::rrclass::IN, 3600,
                 dns::rdata_from_text(dns::rrtype::SOA, "ns1.example.com. h.example.com. 1 3600 900 604800 300",
                                      dns::Name())
                     .value()};
}

dns::RR key_record(uint16_t flags) {
  dns::SigningKeyRecord rec;
  rec.flags = flags;
  rec.algorithm = dns::kAlgEcdsaP256Sha256;
  rec.private_der = dns::SigningKey::generate(rec.algorithm).value().private_der();
  return dns::RR{name("example.com."), dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, rec.encode()};
}

store::Change key_change(uint64_t seq) {
  store::Change c;
  c.origin = 1;
  c.client_id = 7;
  c.sequence = seq;
  c.ops.push_back({store::OpKind::AddSigningKey, key_record(dns::kDnskeyZone | dns::kDnskeySep)});
  c.ops.push_back({store::OpKind::AddSigningKey, key_record(dns::kDnskeyZone)});
  return c;
}

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Change c;
    c.ops.push_back({store::OpKind::Add, soa()});
    ASSERT_TRUE(store_.apply(c, ++index_).all_ok());
  }
  const zone::RRset* apex(uint16_t type) {
    snap_ = store_.snapshot();
    const zone::Node* n = snap_->find_zone(name("example.com."))->apex_node();
    return n ? n->find(type) : nullptr;
  }
  store::Store store_;
  uint64_t index_ = 0;
  std::shared_ptr<const zone::ZoneSet> snap_;
};

TEST_F(SigningKeysTest, AKeySetIsPublishedWithItsDnskeyCdsAndCdnskey) {
  auto r = store_.apply(key_change(1), ++index_);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  ASSERT_NE(apex(dns::rrtype::SIGNING_KEY), nullptr);
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 2u);
  EXPECT_EQ(apex(dns::rrtype::DNSKEY)->rdatas.size(), 2u);
  ASSERT_NE(apex(dns::rrtype::CDS), nullptr);  // for the KSK only
  EXPECT_EQ(apex(dns::rrtype::CDS)->rdatas.size(), 1u);
  EXPECT_EQ(apex(dns::rrtype::CDNSKEY)->rdatas.size(), 1u);
  // The CDS is the DS of the published KSK.
  const std::string cdnskey(apex(dns::rrtype::CDNSKEY)->rdatas.front());
  EXPECT_EQ(std::string(apex(dns::rrtype::CDS)->rdatas.front()), dns::ds_rdata(name("example.com."), cdnskey));
}

TEST_F(SigningKeysTest, TheFirstCommittedKeySetWins) {
  ASSERT_TRUE(store_.apply(key_change(1), ++index_).all_ok());
  const std::vector<std::string> keys(apex(dns::rrtype::DNSKEY)->rdatas);
  // A second leader's keys, committed later, are refused whole.
  auto r = store_.apply(key_change(2), ++index_);
  EXPECT_FALSE(r.all_ok());
  EXPECT_NE(r.first_error().find("already has its signing keys"), std::string::npos) << r.first_error();
  EXPECT_EQ(std::vector<std::string>(apex(dns::rrtype::DNSKEY)->rdatas), keys);
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 2u);
}

TEST_F(SigningKeysTest, OrdinaryChangesCannotTouchTheKeys) {
  ASSERT_TRUE(store_.apply(key_change(1), ++index_).all_ok());
  store::Change c;
  c.ops.push_back({store::OpKind::RemoveRRset, dns::RR{name("example.com."), dns::rrtype::SIGNING_KEY}});
  c.ops.push_back({store::OpKind::Add, key_record(dns::kDnskeyZone)});
  auto r = store_.apply(c, ++index_);
  EXPECT_FALSE(r.all_ok());
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 2u);
  // UPDATE neither: refused, and deleting the apex's names keeps the keys.
  store::Change u;
  u.update = store::Update{name("example.com."), {}, {{store::UpdateKind::Add, key_record(dns::kDnskeyZone)}}};
  EXPECT_EQ(store_.apply(u, ++index_).rcode, dns::rcode::REFUSED);
  store::Change del;
  del.update = store::Update{name("example.com."), {}, {{store::UpdateKind::DeleteName, dns::RR{name("example.com."), 255}}}};
  EXPECT_EQ(store_.apply(del, ++index_).rcode, dns::rcode::NOERROR);
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 2u);
}

TEST_F(SigningKeysTest, AKeyRollStepAppliesOnlyToTheKeySetItWasMadeFrom) {
  ASSERT_TRUE(store_.apply(key_change(1), ++index_).all_ok());
  const std::vector<std::string> before(apex(dns::rrtype::SIGNING_KEY)->rdatas);
  // Publish a next ZSK beside the current keys (a roll's first step).
  dns::KeySetChange step;
  step.expected_digest = dns::key_set_digest(before);
  step.records = before;
  dns::SigningKeyRecord next = dns::SigningKeyRecord::decode(key_record(dns::kDnskeyZone).rdata).value();
  next.state = dns::SigningKeyRecord::State::Published;
  step.records.push_back(next.encode());
  store::Change c;
  c.ops.push_back({store::OpKind::SetSigningKeys, dns::RR{name("example.com."), dns::rrtype::SIGNING_KEY,
                                                          dns::rrclass::IN, 0, step.encode()}});
  auto r = store_.apply(c, ++index_);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 3u);
  EXPECT_EQ(apex(dns::rrtype::DNSKEY)->rdatas.size(), 3u);  // a published key is in DNSKEY before it signs
  EXPECT_EQ(apex(dns::rrtype::CDS)->rdatas.size(), 1u);
  // The same step made from the old key set again (a second leader): refused.
  auto again = store_.apply(c, ++index_);
  EXPECT_FALSE(again.all_ok());
  EXPECT_NE(again.first_error().find("changed meanwhile"), std::string::npos) << again.first_error();
  EXPECT_EQ(apex(dns::rrtype::SIGNING_KEY)->rdatas.size(), 3u);
}

TEST_F(SigningKeysTest, DuringAKskRollTheCdsNamesTheReadyKskAlone) {
  using State = dns::SigningKeyRecord::State;
  ASSERT_TRUE(store_.apply(key_change(1), ++index_).all_ok());
  const std::vector<std::string> first(apex(dns::rrtype::SIGNING_KEY)->rdatas);
  const std::vector<std::string> old_cds(apex(dns::rrtype::CDS)->rdatas);
  auto set_keys = [&](const std::vector<std::string>& from, const std::vector<std::string>& to) {
    dns::KeySetChange step;
    step.expected_digest = dns::key_set_digest(from);
    step.records = to;
    store::Change c;
    c.ops.push_back({store::OpKind::SetSigningKeys, dns::RR{name("example.com."), dns::rrtype::SIGNING_KEY,
                                                            dns::rrclass::IN, 0, step.encode()}});
    auto r = store_.apply(c, ++index_);
    ASSERT_TRUE(r.all_ok()) << r.first_error();
  };
  dns::SigningKeyRecord next = dns::SigningKeyRecord::decode(key_record(dns::kDnskeyZone | dns::kDnskeySep).rdata).value();
  const std::string next_dnskey =
      dns::dnskey_rdata(next.flags, next.algorithm,
                        dns::SigningKey::from_private_der(next.algorithm, next.private_der).value().public_key());
  // Published: in DNSKEY, not in CDS.
  next.state = State::Published;
  std::vector<std::string> published = first;
  published.push_back(next.encode());
  set_keys(first, published);
  EXPECT_EQ(apex(dns::rrtype::DNSKEY)->rdatas.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(apex(dns::rrtype::CDS)->rdatas), old_cds);
  // Ready: the CDS and CDNSKEY name the new KSK and nothing else.
  next.state = State::Ready;
  std::vector<std::string> ready = first;
  ready.push_back(next.encode());
  set_keys(published, ready);
  ASSERT_EQ(apex(dns::rrtype::CDNSKEY)->rdatas.size(), 1u);
  EXPECT_EQ(std::string(apex(dns::rrtype::CDNSKEY)->rdatas.front()), next_dnskey);
  ASSERT_EQ(apex(dns::rrtype::CDS)->rdatas.size(), 1u);
  EXPECT_EQ(std::string(apex(dns::rrtype::CDS)->rdatas.front()), dns::ds_rdata(name("example.com."), next_dnskey));
  EXPECT_EQ(apex(dns::rrtype::DNSKEY)->rdatas.size(), 3u);
}

TEST_F(SigningKeysTest, KeysTravelInSnapshots) {
  ASSERT_TRUE(store_.apply(key_change(1), ++index_).all_ok());
  store::Store copy;
  ASSERT_TRUE(copy.restore(store_.serialize()));
  EXPECT_EQ(copy.serialize(), store_.serialize());
  const zone::Node* n = copy.snapshot()->find_zone(name("example.com."))->apex_node();
  EXPECT_EQ(n->find(dns::rrtype::SIGNING_KEY)->rdatas.size(), 2u);
}

}  // namespace
