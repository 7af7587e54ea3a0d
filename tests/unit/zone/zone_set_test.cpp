// ZoneSet: the rules a record must obey, empty non-terminals, nested zones
// and copy-on-write sharing.
#include "zone/zone_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "zone_test_util.h"

using zone_test::name;
using zone_test::rr;

namespace {

const char* kSoa = "example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300";

zone::ZoneSet base() { return zone_test::zones({kSoa, "example. 3600 NS ns.example.", "ns.example. 3600 A 192.0.2.53"}); }

std::vector<std::string> all_records(const zone::ZoneSet& z) {
  std::vector<std::string> out;
  z.for_each_record([&](const dns::RR& r) {
    out.push_back(r.owner.to_text() + " " + std::to_string(r.ttl) + " " + dns::type_to_text(r.type) + " " +
                  dns::rdata_to_text(r.type, r.rdata));
  });
  return out;
}

TEST(ZoneSet, SoaCreatesZoneAndFindZoneReturnsIt) {
  auto z = base();
  ASSERT_NE(z.find_zone(name("www.example.")), nullptr);
  EXPECT_EQ(z.find_zone(name("www.example."))->apex(), name("example."));
  EXPECT_EQ(z.find_zone(name("example.org.")), nullptr);
  EXPECT_EQ(z.zone_names().size(), 1u);
  EXPECT_EQ(z.record_count(), 3u);
}

TEST(ZoneSet, RecordOutsideEveryZoneIsRejected) {
  auto z = base();
  auto r = z.add(rr("www.example.org. 300 A 192.0.2.1"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no zone for www.example.org."), std::string::npos) << r.error().message;
  EXPECT_EQ(z.record_count(), 3u);
}

TEST(ZoneSet, CnameBesideOtherDataIsRejected_Rfc1034_3_6_2) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.1")).ok());
  auto r = z.add(rr("www.example. 300 CNAME web.example."));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("CNAME"), std::string::npos);
  EXPECT_NE(r.error().message.find("RFC 1034"), std::string::npos);

  ASSERT_TRUE(z.add(rr("alias.example. 300 CNAME web.example.")).ok());
  auto r2 = z.add(rr("alias.example. 300 TXT \"hi\""));
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("has a CNAME"), std::string::npos);
}

TEST(ZoneSet, SecondCnameIsRejected_Rfc2181_10_1) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("alias.example. 300 CNAME a.example.")).ok());
  auto r = z.add(rr("alias.example. 300 CNAME b.example."));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("already has a CNAME"), std::string::npos);
  // The same CNAME again is not a second one: it only sets the TTL.
  ASSERT_TRUE(z.add(rr("alias.example. 600 CNAME a.example.")).ok());
  EXPECT_EQ(z.find_zone(name("example."))->find(name("alias.example."))->find(dns::rrtype::CNAME)->ttl, 600u);
}

TEST(ZoneSet, CnameAtApexIsRejected) {
  auto z = base();
  EXPECT_FALSE(z.add(rr("example. 300 CNAME other.example.")).ok());
}

TEST(ZoneSet, ClassOtherThanInIsRejected) {
  auto z = base();
  dns::RR r = rr("www.example. 300 A 192.0.2.1");
  r.rclass = dns::rrclass::CH;
  auto res = z.add(r);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find("only IN"), std::string::npos);
}

TEST(ZoneSet, MetaTypesAreRejected) {
  auto z = base();
  for (uint16_t t : {dns::rrtype::ANY, dns::rrtype::AXFR, dns::rrtype::OPT, dns::rrtype::TSIG}) {
    dns::RR r{name("www.example."), t, dns::rrclass::IN, 300, ""};
    EXPECT_FALSE(z.add(r).ok()) << t;
  }
  EXPECT_EQ(z.record_count(), 3u);
}

TEST(ZoneSet, InvalidRdataIsRejected) {
  auto z = base();
  dns::RR r{name("www.example."), dns::rrtype::A, dns::rrclass::IN, 300, std::string("\x01\x02", 2)};
  EXPECT_FALSE(z.add(r).ok());
}

TEST(ZoneSet, RrsetTtlsAreUnified_Rfc2181_5_2) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.1")).ok());
  ASSERT_TRUE(z.add(rr("www.example. 900 A 192.0.2.2")).ok());
  EXPECT_EQ(all_records(z), (std::vector<std::string>{
                                "example. 3600 NS ns.example.",
                                "example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300",
                                "ns.example. 3600 A 192.0.2.53",
                                "www.example. 900 A 192.0.2.1",
                                "www.example. 900 A 192.0.2.2",
                            }));
}

TEST(ZoneSet, DuplicateRecordIsStoredOnce) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.1")).ok());
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.1")).ok());
  EXPECT_EQ(z.record_count(), 4u);
}

TEST(ZoneSet, ExactlyOneSoaPerZone_AddedSoaReplaces) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("example. 60 SOA ns.example. admin.example. 2 7200 3600 1209600 30")).ok());
  const zone::Zone* zn = z.find_zone(name("example."));
  ASSERT_EQ(zn->soa()->rdatas.size(), 1u);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::SOA, zn->soa()->rdatas[0]), "ns.example. admin.example. 2 7200 3600 1209600 30");
  EXPECT_EQ(zn->negative_ttl(), 30u);
  EXPECT_EQ(z.record_count(), 3u);
}

TEST(ZoneSet, NegativeTtlIsMinOfSoaTtlAndMinimum_Rfc2308_5) {
  auto z = zone_test::zones({"example. 100 SOA ns.example. admin.example. 1 7200 3600 1209600 300"});
  EXPECT_EQ(z.find_zone(name("example."))->negative_ttl(), 100u);
  auto z2 = zone_test::zones({"example. 1000 SOA ns.example. admin.example. 1 7200 3600 1209600 300"});
  EXPECT_EQ(z2.find_zone(name("example."))->negative_ttl(), 300u);
}

TEST(ZoneSet, EmptyNonTerminalsExistBetweenNameAndApex) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("a.b.c.example. 300 A 192.0.2.1")).ok());
  const zone::Zone* zn = z.find_zone(name("example."));
  ASSERT_NE(zn->find(name("b.c.example.")), nullptr);
  EXPECT_TRUE(zn->find(name("b.c.example."))->empty_nonterminal());
  ASSERT_NE(zn->find(name("C.Example.")), nullptr) << "lookups ignore case";
  EXPECT_EQ(zn->find(name("x.c.example.")), nullptr);
}

TEST(ZoneSet, RemovingLastRecordRemovesNodeAndUnneededEnts) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("a.b.c.example. 300 A 192.0.2.1")).ok());
  ASSERT_TRUE(z.add(rr("x.c.example. 300 A 192.0.2.2")).ok());
  auto removed = z.remove(rr("a.b.c.example. 300 A 192.0.2.1"));
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed.value());
  const zone::Zone* zn = z.find_zone(name("example."));
  EXPECT_EQ(zn->find(name("a.b.c.example.")), nullptr);
  EXPECT_EQ(zn->find(name("b.c.example.")), nullptr);
  ASSERT_NE(zn->find(name("c.example.")), nullptr) << "still the parent of x.c.example.";
  ASSERT_TRUE(z.remove(rr("x.c.example. 300 A 192.0.2.2")).value());
  EXPECT_EQ(z.find_zone(name("example."))->find(name("c.example.")), nullptr);
  EXPECT_EQ(z.record_count(), 3u);
}

TEST(ZoneSet, RemovingAbsentRecordReturnsFalse) {
  auto z = base();
  EXPECT_FALSE(z.remove(rr("www.example. 300 A 192.0.2.1")).value());
  EXPECT_FALSE(z.remove(rr("ns.example. 300 A 192.0.2.99")).value());
  EXPECT_FALSE(z.remove(rr("www.example.org. 300 A 192.0.2.1")).value());
}

TEST(ZoneSet, RemoveRrsetRemovesEveryRecordOfTheType) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.1")).ok());
  ASSERT_TRUE(z.add(rr("www.example. 300 A 192.0.2.2")).ok());
  ASSERT_TRUE(z.add(rr("www.example. 300 TXT \"x\"")).ok());
  EXPECT_EQ(z.remove_rrset(name("www.example."), dns::rrtype::A).value(), 2u);
  EXPECT_EQ(z.record_count(), 4u);
  EXPECT_EQ(z.remove_rrset(name("www.example."), dns::rrtype::A).value(), 0u);
}

TEST(ZoneSet, SoaRemovalRefusedWhileZoneHasOtherRecords) {
  auto z = base();
  auto r = z.remove(rr(kSoa));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("still has 2 other records"), std::string::npos) << r.error().message;
  EXPECT_FALSE(z.remove_rrset(name("example."), dns::rrtype::SOA).ok());
}

TEST(ZoneSet, RemovingOnlySoaRemovesTheZone) {
  auto z = zone_test::zones({kSoa});
  ASSERT_TRUE(z.remove(rr(kSoa)).value());
  EXPECT_EQ(z.find_zone(name("example.")), nullptr);
  EXPECT_EQ(z.record_count(), 0u);
  EXPECT_TRUE(z.zone_names().empty());
}

/// Whether every zone's apex is marked in the zone enclosing it, and every
/// mark is the apex of a zone the marking zone encloses directly.
void expect_nested_apexes_marked(const zone::ZoneSet& set, const std::string& where) {
  for (const dns::Name& apex : set.zone_names()) {
    const zone::Zone* z = set.find_zone(apex);
    if (const zone::Zone* parent = set.find_parent_zone(*z)) {
      const zone::Node* n = parent->find(apex);
      EXPECT_TRUE(n && n->nested_apex()) << where << ": " << apex.to_text() << " not marked in " << parent->apex().to_text();
    }
    z->nodes().for_each([&](const zone::Node& n) {
      if (!n.nested_apex()) return;
      const zone::Zone* child = set.find_zone(n.owner());
      EXPECT_TRUE(child && child->apex() == n.owner() && set.find_parent_zone(*child) == z)
          << where << ": " << n.owner().to_text() << " marked in " << apex.to_text() << " is no zone it encloses";
    });
  }
}

// Zones created and removed in any order, nested or side by side: each
// apex stays marked in the zone enclosing it (top-level zones are kept in
// an index so that creating one does not visit every zone).
TEST(ZoneSet, NestedApexesStayMarkedWhateverOrderZonesComeAndGo) {
  const std::vector<std::string> apexes = {"a.",       "b.a.",   "c.b.a.", "d.a.",  "e.",     "f.e.",
                                           "g.f.e.",   "h.e.",   "x.b.a.", "y.c.b.a.", "z.",   "q.z."};
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    zone::ZoneSet set;
    std::vector<std::string> order = apexes;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < order.size(); ++i) {
      const std::string soa = order[i] + " 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300";
      ASSERT_TRUE(set.add(rr(soa)).ok()) << soa;
      expect_nested_apexes_marked(set, "round " + std::to_string(round) + " after adding " + order[i]);
      if (rng() % 4 == 0) {
        // Remove a zone created earlier, then create it again.
        const std::string& back = order[rng() % (i + 1)];
        const std::string again = back + " 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300";
        ASSERT_TRUE(set.remove(rr(again)).value()) << again;
        expect_nested_apexes_marked(set, "round " + std::to_string(round) + " after removing " + back);
        ASSERT_TRUE(set.add(rr(again)).ok()) << again;
        expect_nested_apexes_marked(set, "round " + std::to_string(round) + " after adding " + back + " again");
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(ZoneSet, NestedZoneIsFoundAsDeepest) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("sub.example. 3600 SOA ns.sub.example. admin.example. 1 7200 3600 1209600 300")).ok());
  ASSERT_TRUE(z.add(rr("www.sub.example. 300 A 192.0.2.9")).ok());
  EXPECT_EQ(z.find_zone(name("www.sub.example."))->apex(), name("sub.example."));
  EXPECT_EQ(z.find_zone(name("www.example."))->apex(), name("example."));
  EXPECT_EQ(z.find_zone(name("example."))->record_count(), 3u);
  EXPECT_EQ(z.find_zone(name("sub.example."))->record_count(), 2u);
  EXPECT_EQ(z.zone_names(), (std::vector<dns::Name>{name("example."), name("sub.example.")}));
}

TEST(ZoneSet, NestedZoneTakesOverParentRecordsBelowItsApex) {
  auto z = base();
  ASSERT_TRUE(z.add(rr("www.sub.example. 300 A 192.0.2.9")).ok());
  ASSERT_TRUE(z.add(rr("sub.example. 300 DS \\# 6 00010802aabb")).ok());
  ASSERT_TRUE(z.add(rr("sub.example. 3600 SOA ns.sub.example. admin.example. 1 7200 3600 1209600 300")).ok());
  const zone::Zone* parent = z.find_zone(name("example."));
  const zone::Zone* child = z.find_zone(name("sub.example."));
  EXPECT_EQ(parent->find(name("www.sub.example.")), nullptr);
  ASSERT_NE(child->find(name("www.sub.example.")), nullptr);
  // DS stays on the parent side of the cut (RFC 4035 §2.4).
  ASSERT_NE(parent->find(name("sub.example.")), nullptr);
  EXPECT_NE(parent->find(name("sub.example."))->find(43), nullptr);
  EXPECT_EQ(child->find(name("sub.example."))->find(43), nullptr);
  EXPECT_EQ(z.record_count(), 6u);
}

TEST(ZoneSet, CopiesShareZonesAndMutationDoesNotLeak) {
  auto a = base();
  zone::ZoneSet b = a;
  ASSERT_TRUE(b.add(rr("www.example. 300 A 192.0.2.1")).ok());
  EXPECT_EQ(a.record_count(), 3u);
  EXPECT_EQ(b.record_count(), 4u);
  EXPECT_EQ(a.find_zone(name("example."))->find(name("www.example.")), nullptr);
  EXPECT_NE(b.find_zone(name("example."))->find(name("www.example.")), nullptr);
  ASSERT_TRUE(a.remove(rr("ns.example. 3600 A 192.0.2.53")).value());
  EXPECT_NE(b.find_zone(name("example."))->find(name("ns.example.")), nullptr);
}

TEST(ZoneSet, ForEachRecordIsInCanonicalOrder) {
  auto z = zone_test::zones({kSoa, "b.example. 300 A 192.0.2.2", "a.example. 300 A 192.0.2.1",
                             "a.example. 300 A 192.0.2.0", "Z.a.example. 300 TXT \"z\""});
  EXPECT_EQ(all_records(z), (std::vector<std::string>{
                                "example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300",
                                "a.example. 300 A 192.0.2.0",
                                "a.example. 300 A 192.0.2.1",
                                "Z.a.example. 300 TXT \"z\"",
                                "b.example. 300 A 192.0.2.2",
                            }));
}

}  // namespace

namespace {

const char* kChildSoa = "a.b.example. 3600 SOA ns.a.b.example. admin.example. 1 7200 3600 1209600 300";

TEST(ZoneSetNested, NamesAboveNestedApexExistInParent_Rfc8020) {
  auto z = base();
  ASSERT_TRUE(z.add(rr(kChildSoa)).ok());
  const zone::Zone* parent = z.find_zone(name("example."));
  ASSERT_NE(parent->find(name("b.example.")), nullptr);
  EXPECT_TRUE(parent->find(name("b.example."))->empty_nonterminal());
  ASSERT_NE(parent->find(name("a.b.example.")), nullptr);
  EXPECT_TRUE(parent->find(name("a.b.example."))->nested_apex());
  EXPECT_EQ(z.record_count(), 4u);
  EXPECT_EQ(parent->record_count(), 3u);
}

TEST(ZoneSetNested, ChildLoadedBeforeParentIsMarkedToo) {
  auto z = zone_test::zones({kChildSoa, kSoa});
  ASSERT_NE(z.find_zone(name("example."))->find(name("b.example.")), nullptr);
}

TEST(ZoneSetNested, MarkSurvivesRemovalOfRecordsAroundIt) {
  auto z = base();
  ASSERT_TRUE(z.add(rr(kChildSoa)).ok());
  ASSERT_TRUE(z.add(rr("x.b.example. 300 A 192.0.2.1")).ok());
  ASSERT_TRUE(z.add(rr("a.b.example. 300 DS \\# 6 00010802aabb")).ok());
  ASSERT_TRUE(z.remove(rr("x.b.example. 300 A 192.0.2.1")).value());
  ASSERT_TRUE(z.remove(rr("a.b.example. 300 DS \\# 6 00010802aabb")).value());
  ASSERT_NE(z.find_zone(name("example."))->find(name("b.example.")), nullptr);
}

TEST(ZoneSetNested, RemovingNestedZoneRemovesItsMark) {
  auto z = base();
  ASSERT_TRUE(z.add(rr(kChildSoa)).ok());
  ASSERT_TRUE(z.remove(rr(kChildSoa)).value());
  EXPECT_EQ(z.find_zone(name("example."))->find(name("b.example.")), nullptr);
  EXPECT_EQ(z.find_zone(name("x.a.b.example."))->apex(), name("example."));
}

TEST(ZoneSetNested, ZoneBetweenTwoOthersTakesTheMark) {
  auto z = base();
  ASSERT_TRUE(z.add(rr(kChildSoa)).ok());
  ASSERT_TRUE(z.add(rr("b.example. 3600 SOA ns.b.example. admin.example. 1 7200 3600 1209600 300")).ok());
  EXPECT_EQ(z.find_zone(name("example."))->find(name("a.b.example.")), nullptr);
  ASSERT_NE(z.find_zone(name("b.example."))->find(name("a.b.example.")), nullptr);
  EXPECT_TRUE(z.find_zone(name("b.example."))->find(name("a.b.example."))->nested_apex());
  ASSERT_TRUE(z.remove(rr("b.example. 3600 SOA ns.b.example. admin.example. 1 7200 3600 1209600 300")).value());
  ASSERT_NE(z.find_zone(name("example."))->find(name("a.b.example.")), nullptr) << "marked in the parent again";
}

}  // namespace
