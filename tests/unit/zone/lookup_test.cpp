// The lookup of RFC 1034 §4.3.2: one test per rule, asserting whole sections.
#include "zone/lookup.h"

#include <gtest/gtest.h>

#include "dns/message.h"
#include "zone_test_util.h"

using zone_test::lines;
using zone_test::name;
using zone_test::rr;
using V = std::vector<std::string>;

namespace {

const char* kSoaLine = "example. 3600 SOA ns1.example. admin.example. 1 7200 3600 1209600 300";
const char* kNegSoa = "example. 300 SOA ns1.example. admin.example. 1 7200 3600 1209600 300";

zone::ZoneSet test_zones() {
  return zone_test::zones({
      kSoaLine,
      "example. 3600 NS ns1.example.",
      "example. 3600 NS ns2.example.",
      "example. 3600 MX 10 mail.example.",
      "example. 3600 A 192.0.2.1",
      "ns1.example. 3600 A 192.0.2.53",
      "ns2.example. 3600 A 192.0.2.54",
      "ns2.example. 3600 AAAA 2001:db8::54",
      "mail.example. 3600 A 192.0.2.25",
      "_sip._tcp.example. 3600 SRV 0 5 5060 sip.example.",
      "sip.example. 3600 AAAA 2001:db8::5",
      "www.example. 3600 CNAME web.example.",
      "web.example. 3600 A 192.0.2.80",
      "chain1.example. 3600 CNAME chain2.example.",
      "chain2.example. 3600 CNAME www.example.",
      "loop1.example. 3600 CNAME loop2.example.",
      "loop2.example. 3600 CNAME loop1.example.",
      "self.example. 3600 CNAME self.example.",
      "out.example. 3600 CNAME www.example.net.",
      "tonx.example. 3600 CNAME nothere.example.",
      "tonodata.example. 3600 CNAME web.example.",
      "*.wild.example. 3600 A 192.0.2.99",
      "*.wild.example. 3600 TXT \"wild\"",
      "*.wc.example. 3600 CNAME web.example.",
      "a.b.c.example. 3600 A 192.0.2.7",
      "*.c.example. 3600 A 192.0.2.8",
      "sub.example. 3600 NS ns.sub.example.",
      "sub.example. 3600 NS ns.other.net.",
      "ns.sub.example. 3600 A 192.0.2.200",
      "tocut.example. 3600 CNAME x.sub.example.",
      "towild.example. 3600 CNAME q.wild.example.",
  });
}

struct Fixture : ::testing::Test {
  zone::ZoneSet zones = test_zones();
  zone::LookupResult r;
  dns::Name qname;
  void query(const std::string& q, uint16_t qtype) {
    qname = name(q);
    zone::lookup(zones, qname, qtype, &r);
  }
};

using Lookup = Fixture;

TEST_F(Lookup, ExactMatchAnswersTheRrset) {
  query("web.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"web.example. 3600 A 192.0.2.80"}));
  EXPECT_TRUE(r.authority.empty());
  EXPECT_TRUE(r.additional.empty());
}

TEST_F(Lookup, ExactMatchIgnoresQuestionCase) {
  query("WeB.ExAmple.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"web.example. 3600 A 192.0.2.80"}));
}

TEST_F(Lookup, NameOutsideEveryZoneIsNotAuthoritative) {
  query("www.example.org.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::NotAuthoritative);
  EXPECT_EQ(r.rcode, dns::rcode::REFUSED);
  EXPECT_FALSE(r.authoritative);
  EXPECT_TRUE(r.answer.empty());
}

TEST_F(Lookup, NoDataGivesSoaWithNegativeTtl_Rfc2308_2_2) {
  query("web.example.", dns::rrtype::TXT);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.authoritative);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, NxDomainGivesSoaWithNegativeTtl_Rfc2308_2_1) {
  query("nothere.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::NxDomain);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_TRUE(r.authoritative);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, EmptyNonTerminalIsNoDataNotNxDomain_Rfc8020) {
  query("b.c.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, CnameIsFollowedInsideTheZone_Rfc1034_4_3_2_3a) {
  query("www.example.", dns::rrtype::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"www.example. 3600 CNAME web.example.", "web.example. 3600 A 192.0.2.80"}));
  EXPECT_TRUE(r.authority.empty());
}

TEST_F(Lookup, CnameChainIsFollowedLinkByLink) {
  query("chain1.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"chain1.example. 3600 CNAME chain2.example.",
                                "chain2.example. 3600 CNAME www.example.",
                                "www.example. 3600 CNAME web.example.", "web.example. 3600 A 192.0.2.80"}));
}

TEST_F(Lookup, CnameQueryAnswersTheCnameItself) {
  query("www.example.", dns::rrtype::CNAME);
  EXPECT_EQ(lines(r.answer), (V{"www.example. 3600 CNAME web.example."}));
}

TEST_F(Lookup, CnameLoopStopsWithTheChainSoFar) {
  query("loop1.example.", dns::rrtype::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(lines(r.answer), (V{"loop1.example. 3600 CNAME loop2.example.", "loop2.example. 3600 CNAME loop1.example."}));
  query("self.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"self.example. 3600 CNAME self.example."}));
}

TEST(LookupChain, LongCnameChainStopsAfterMaxHops) {
  std::vector<std::string> l = {kSoaLine};
  for (int i = 0; i < 20; ++i) {
    l.push_back("c" + std::to_string(i) + ".example. 300 CNAME c" + std::to_string(i + 1) + ".example.");
  }
  auto zones = zone_test::zones(l);
  zone::LookupResult r;
  const dns::Name q = name("c0.example.");
  zone::lookup(zones, q, dns::rrtype::A, &r);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(r.answer.size(), zone::kMaxCnameHops);
  EXPECT_TRUE(r.authority.empty());
}

TEST_F(Lookup, CnameToOutOfZoneTargetStops) {
  query("out.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(lines(r.answer), (V{"out.example. 3600 CNAME www.example.net."}));
  EXPECT_TRUE(r.authority.empty());
}

TEST_F(Lookup, CnameToNonexistentNameIsNxDomainWithTheCname_Rfc6604) {
  query("tonx.example.", dns::rrtype::A);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"tonx.example. 3600 CNAME nothere.example."}));
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, CnameToNameWithoutTheTypeIsNoDataWithTheCname) {
  query("tonodata.example.", dns::rrtype::TXT);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_EQ(lines(r.answer), (V{"tonodata.example. 3600 CNAME web.example."}));
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, CnameIntoDelegationGivesReferralAndKeepsAa) {
  query("tocut.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"tocut.example. 3600 CNAME x.sub.example."}));
  EXPECT_EQ(lines(r.authority), (V{"sub.example. 3600 NS ns.sub.example.", "sub.example. 3600 NS ns.other.net."}));
  EXPECT_EQ(lines(r.additional), (V{"ns.sub.example. 3600 A 192.0.2.200"}));
}

TEST_F(Lookup, CnameIntoOtherServedZoneIsFollowed) {
  ASSERT_TRUE(zones.add(rr("example.net. 3600 SOA ns.example.net. a.example.net. 1 2 3 4 60")).ok());
  ASSERT_TRUE(zones.add(rr("www.example.net. 600 A 198.51.100.1")).ok());
  query("out.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"out.example. 3600 CNAME www.example.net.", "www.example.net. 600 A 198.51.100.1"}));
}

TEST_F(Lookup, WildcardSynthesizesWithQnameAsOwner_Rfc4592_2_1_1) {
  query("Host.wild.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"Host.wild.example. 3600 A 192.0.2.99"}));
}

TEST_F(Lookup, WildcardMatchesSeveralLabelsDeep) {
  query("a.b.wild.example.", dns::rrtype::TXT);
  EXPECT_EQ(lines(r.answer), (V{"a.b.wild.example. 3600 TXT \"wild\""}));
}

TEST_F(Lookup, WildcardNoDataGivesSoa) {
  query("x.wild.example.", dns::rrtype::MX);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

TEST_F(Lookup, WildcardOwnerItselfAnswersLiterally) {
  query("*.wild.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"*.wild.example. 3600 A 192.0.2.99"}));
}

TEST_F(Lookup, ExistingNameIsNotOverriddenByWildcard_Rfc4592_3_3) {
  // a.b.c.example exists; *.c.example must not answer for it.
  query("a.b.c.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"a.b.c.example. 3600 A 192.0.2.7"}));
  query("a.b.c.example.", dns::rrtype::TXT);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
}

TEST_F(Lookup, EmptyNonTerminalBlocksWildcard_Rfc4592_2_2_2) {
  // b.c.example is an empty non-terminal: the closest encloser of x.b.c is
  // b.c, which has no wildcard child, so *.c does not apply.
  query("x.b.c.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::NxDomain);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
  query("y.c.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"y.c.example. 3600 A 192.0.2.8"}));
}

TEST_F(Lookup, WildcardCnameIsSynthesizedAndFollowed) {
  query("x.wc.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"x.wc.example. 3600 CNAME web.example.", "web.example. 3600 A 192.0.2.80"}));
}

TEST_F(Lookup, CnameToWildcardSynthesizesTargetAsOwner) {
  query("towild.example.", dns::rrtype::A);
  EXPECT_EQ(lines(r.answer), (V{"towild.example. 3600 CNAME q.wild.example.", "q.wild.example. 3600 A 192.0.2.99"}));
}

TEST_F(Lookup, BelowDelegationGivesReferralWithGlue_Rfc1034_4_3_2_3b) {
  query("www.sub.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_FALSE(r.authoritative);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(lines(r.authority), (V{"sub.example. 3600 NS ns.sub.example.", "sub.example. 3600 NS ns.other.net."}));
  EXPECT_EQ(lines(r.additional), (V{"ns.sub.example. 3600 A 192.0.2.200"}));
}

TEST_F(Lookup, DelegationPointItselfGivesReferralEvenForNs) {
  query("sub.example.", dns::rrtype::NS);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral);
  EXPECT_FALSE(r.authoritative);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(lines(r.authority), (V{"sub.example. 3600 NS ns.sub.example.", "sub.example. 3600 NS ns.other.net."}));
  query("sub.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral);
  query("ns.sub.example.", dns::rrtype::A);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral) << "glue is not authoritative data";
}

TEST_F(Lookup, DsAtDelegationPointIsAnsweredByParent_Rfc4035_3_1_4_1) {
  query("sub.example.", 43);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
  ASSERT_TRUE(zones.add(rr("sub.example. 3600 DS \\# 6 00010802aabb")).ok());
  query("sub.example.", 43);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_EQ(r.answer.size(), 1u);
  query("x.sub.example.", 43);
  EXPECT_EQ(r.status, zone::LookupStatus::Referral) << "DS below the cut is the child's";
}

TEST_F(Lookup, NestedZoneAnswersFromTheDeepestZone) {
  ASSERT_TRUE(zones.remove_rrset(name("sub.example."), dns::rrtype::NS).ok());
  ASSERT_TRUE(zones.add(rr("sub.example. 3600 SOA ns.sub.example. admin.example. 7 2 3 4 60")).ok());
  ASSERT_TRUE(zones.add(rr("sub.example. 3600 NS ns.sub.example.")).ok());
  ASSERT_TRUE(zones.add(rr("sub.example. 3600 DS \\# 6 00010802aabb")).ok());
  query("ns.sub.example.", dns::rrtype::A);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"ns.sub.example. 3600 A 192.0.2.200"}));
  query("nope.sub.example.", dns::rrtype::A);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_EQ(lines(r.authority), (V{"sub.example. 60 SOA ns.sub.example. admin.example. 7 2 3 4 60"}));
  query("sub.example.", dns::rrtype::NS);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_TRUE(r.authoritative);
  query("sub.example.", 43);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer) << "DS comes from the parent zone";
  EXPECT_EQ(r.zone->apex(), name("example."));
}

TEST_F(Lookup, NsAtApexAddsGlueForInZoneTargets) {
  query("example.", dns::rrtype::NS);
  EXPECT_TRUE(r.authoritative);
  EXPECT_EQ(lines(r.answer), (V{"example. 3600 NS ns1.example.", "example. 3600 NS ns2.example."}));
  EXPECT_TRUE(r.authority.empty());
  EXPECT_EQ(lines(r.additional), (V{"ns1.example. 3600 A 192.0.2.53", "ns2.example. 3600 A 192.0.2.54",
                                    "ns2.example. 3600 AAAA 2001:db8::54"}));
}

TEST_F(Lookup, MxAddsTargetAddresses) {
  query("example.", dns::rrtype::MX);
  EXPECT_EQ(lines(r.answer), (V{"example. 3600 MX 10 mail.example."}));
  EXPECT_EQ(lines(r.additional), (V{"mail.example. 3600 A 192.0.2.25"}));
}

TEST_F(Lookup, SrvAddsTargetAddresses) {
  query("_sip._tcp.example.", dns::rrtype::SRV);
  EXPECT_EQ(lines(r.additional), (V{"sip.example. 3600 AAAA 2001:db8::5"}));
}

TEST_F(Lookup, AnyAnswersOneRrsetWithLowestType_Rfc8482_4_1) {
  query("example.", dns::rrtype::ANY);
  EXPECT_EQ(r.status, zone::LookupStatus::Answer);
  EXPECT_EQ(lines(r.answer), (V{"example. 3600 A 192.0.2.1"}));
  query("ns2.example.", dns::rrtype::ANY);
  EXPECT_EQ(lines(r.answer), (V{"ns2.example. 3600 A 192.0.2.54"}));
}

TEST_F(Lookup, AnyAtCnameReturnsCnameUnfollowed) {
  query("www.example.", dns::rrtype::ANY);
  EXPECT_EQ(lines(r.answer), (V{"www.example. 3600 CNAME web.example."}));
}

TEST_F(Lookup, AnyAtEmptyNonTerminalIsNoData) {
  query("c.example.", dns::rrtype::ANY);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
}

TEST_F(Lookup, AnyAtNonexistentNameIsNxDomain) {
  query("zzz.example.", dns::rrtype::ANY);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
}

TEST_F(Lookup, AnyAtWildcardAnswersOneSynthesizedRrset) {
  query("q.wild.example.", dns::rrtype::ANY);
  EXPECT_EQ(lines(r.answer), (V{"q.wild.example. 3600 A 192.0.2.99"}));
}

TEST_F(Lookup, ResultIsResetBetweenLookups) {
  query("example.", dns::rrtype::NS);
  query("zzz.example.org.", dns::rrtype::A);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_TRUE(r.additional.empty());
  EXPECT_EQ(r.zone, nullptr);
}

}  // namespace

namespace {

TEST(LookupNested, NameAboveNestedApexIsNoDataNotNxDomain_Rfc8020) {
  auto zones = zone_test::zones({kSoaLine, "example. 3600 NS ns1.example.",
                                 "a.b.example. 3600 SOA ns.a.b.example. admin.example. 1 2 3 4 60",
                                 "a.b.example. 3600 NS ns.a.b.example."});
  zone::LookupResult r;
  const dns::Name q = name("b.example.");
  zone::lookup(zones, q, dns::rrtype::A, &r);
  EXPECT_EQ(r.status, zone::LookupStatus::NoData);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(lines(r.authority), (V{kNegSoa}));
}

}  // namespace
