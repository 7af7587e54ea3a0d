// The packed node table: node encoding, the open-addressing shards (with
// colliding hashes), shard splitting, and copy-on-write sharing between copies.
#include "zone/node_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "zone/zone_set.h"
#include "zone_test_util.h"

using zone_test::name;
using zone_test::rr;

namespace {

const char* kSoa = "example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300";

std::vector<std::string> rdatas_of(const zone::RRset& s) {
  std::vector<std::string> out;
  for (std::string_view rd : s.rdatas) out.emplace_back(rd);
  return out;
}

std::string wire_of(const std::string& text) { return name(text).wire(); }

/// Host i's name: "h<i>.example.".
std::string host(size_t i) { return "h" + std::to_string(i) + ".example."; }

TEST(NodeCodec, EmptyNodeKeepsOwnerAsWritten) {
  std::string bytes;
  zone::NodeCodec::make_empty(wire_of("WwW.Example."), &bytes);
  ASSERT_EQ(bytes.size() % 4, 0u);
  const auto* n = reinterpret_cast<const zone::Node*>(bytes.data());
  EXPECT_EQ(n->wire(), wire_of("WwW.Example."));
  EXPECT_TRUE(n->empty_nonterminal());
  EXPECT_EQ(n->find(dns::rrtype::A), nullptr);
  EXPECT_TRUE(zone::NodeCodec::owner_is(*n, wire_of("www.example.")));
  EXPECT_FALSE(zone::NodeCodec::owner_is(*n, wire_of("wwx.example.")));
}

TEST(NodeCodec, RdatasStaySortedAndRrsetsSortedByType) {
  std::string a, b;
  zone::NodeCodec::make_empty(wire_of("www.example."), &a);
  auto add = [&](uint16_t type, uint32_t ttl, const std::string& rd) {
    const auto* n = reinterpret_cast<const zone::Node*>(a.data());
    const bool added = zone::NodeCodec::with_rdata(*n, type, ttl, rd, &b);
    if (added) a = b;
    return added;
  };
  EXPECT_TRUE(add(dns::rrtype::TXT, 60, "\x01z"));
  EXPECT_TRUE(add(dns::rrtype::A, 300, std::string("\xc0\x00\x02\x02", 4)));
  EXPECT_TRUE(add(dns::rrtype::A, 600, std::string("\xc0\x00\x02\x01", 4)));
  EXPECT_FALSE(add(dns::rrtype::A, 900, std::string("\xc0\x00\x02\x01", 4))) << "already there";
  const auto* n = reinterpret_cast<const zone::Node*>(a.data());
  ASSERT_EQ(n->rrsets.size(), 2u);
  EXPECT_EQ(n->rrsets.front().type, dns::rrtype::A);
  EXPECT_EQ(n->find(dns::rrtype::A)->ttl, 600u);
  EXPECT_EQ(rdatas_of(*n->find(dns::rrtype::A)),
            (std::vector<std::string>{std::string("\xc0\x00\x02\x01", 4), std::string("\xc0\x00\x02\x02", 4)}));
  EXPECT_EQ(n->find(dns::rrtype::A)->rdatas[1], std::string("\xc0\x00\x02\x02", 4));
  EXPECT_EQ(n->wire(), wire_of("www.example.")) << "the owner follows the RRsets";

  const std::string_view gone("\xc0\x00\x02\x01", 4);
  EXPECT_EQ(zone::NodeCodec::without(*n, dns::rrtype::A, &gone, &b), 1u);
  const auto* m = reinterpret_cast<const zone::Node*>(b.data());
  EXPECT_EQ(m->find(dns::rrtype::A)->rdatas.size(), 1u);
  EXPECT_EQ(m->find(dns::rrtype::TXT)->rdatas.front(), "\x01z");
  const std::string_view absent("\x01\x02\x03\x04", 4);
  EXPECT_EQ(zone::NodeCodec::without(*n, dns::rrtype::A, &absent, &b), 0u);
  EXPECT_EQ(zone::NodeCodec::without(*n, dns::rrtype::A, nullptr, &b), 2u);
  EXPECT_EQ(reinterpret_cast<const zone::Node*>(b.data())->rrsets.size(), 1u);
}

TEST(Shard, CollidingHashesAreTellApartAndSurviveErase) {
  // Every name gets the same hash: one long probe run, then erasing from its
  // middle must keep the names after the hole reachable.
  zone::Shard shard;
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(wire_of("n" + std::to_string(i) + ".example."));
  auto key = [](const std::string& w) {
    zone::NameKey k(w);
    k.hash = 7;
    return k;
  };
  std::string bytes;
  for (const std::string& w : names) {
    zone::NodeCodec::make_empty(w, &bytes);
    shard.insert(7, bytes);
  }
  EXPECT_EQ(shard.size(), names.size());
  for (const std::string& w : names) {
    const zone::Node* n = shard.find(key(w));
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->wire(), w);
  }
  for (size_t i = 0; i < names.size(); i += 3) EXPECT_TRUE(shard.erase(key(names[i])));
  EXPECT_FALSE(shard.erase(key(names[0])));
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(shard.find(key(names[i])) != nullptr, i % 3 != 0) << i;
  }
}

TEST(NameKey, LowerCasesOnlyAsciiLettersAtEveryOffset) {
  // Every octet value at every position of the eight-at-a-time part and the tail.
  for (int c = 0; c < 256; ++c) {
    for (size_t at = 0; at < 19; ++at) {
      std::string w(19, 'Q');
      w[at] = static_cast<char>(c);
      const zone::NameKey k(w);
      std::string expect;
      for (char ch : w) expect.push_back(static_cast<char>(dns::ascii_lower(static_cast<uint8_t>(ch))));
      ASSERT_EQ(k.lower(), expect) << c << " at " << at;
      ASSERT_EQ(k.hash, zone::NameKey(expect).hash);
    }
  }
}

TEST(NodeTable, LookupIgnoresCaseButKeepsTheOwnersCase) {
  zone::NodeTable t;
  std::string bytes;
  zone::NodeCodec::make_empty(wire_of("Mail.Example."), &bytes);
  t.insert(wire_of("Mail.Example."), bytes);
  ASSERT_NE(t.find(wire_of("mail.example.")), nullptr);
  ASSERT_NE(t.find(wire_of("MAIL.EXAMPLE.")), nullptr);
  EXPECT_EQ(t.find(wire_of("mail.example."))->wire(), wire_of("Mail.Example."));
  EXPECT_EQ(t.find(wire_of("mail.example.org.")), nullptr);
  EXPECT_EQ(t.find(std::string(300, '\x01')), nullptr) << "longer than any name";
}

TEST(NodeTable, ManyNamesSplitIntoShardsAndStayFindable) {
  zone::NodeTable t;
  std::string bytes;
  const size_t n = 20 * zone::NodeTable::kSplitAt;
  for (size_t i = 0; i < n; ++i) {
    const std::string w = wire_of(host(i));
    zone::NodeCodec::make_empty(w, &bytes);
    t.insert(w, bytes);
  }
  EXPECT_EQ(t.size(), n);
  EXPECT_GE(t.shard_count(), 16u);
  EXPECT_LE(t.size(), t.shard_count() * zone::NodeTable::kSplitAt);
  for (size_t i = 0; i < n; ++i) ASSERT_NE(t.find(wire_of(host(i))), nullptr) << i;
  EXPECT_EQ(t.find(wire_of(host(n))), nullptr);
  size_t seen = 0;
  t.for_each([&](const zone::Node&) { ++seen; });
  EXPECT_EQ(seen, n);
}

zone::ZoneSet big_zone(size_t hosts) {
  zone::ZoneSet z;
  EXPECT_TRUE(z.add(rr(kSoa)).ok());
  for (size_t i = 0; i < hosts; ++i) {
    dns::RR r = rr("h.example. 300 A 192.0.2.1");
    r.owner = name(host(i));
    r.rdata[3] = static_cast<char>(i & 0xff);
    EXPECT_TRUE(z.add(r).ok());
  }
  return z;
}

TEST(ZoneSetSharing, ACopyChangedInOneRecordSharesAlmostEveryShard) {
  const zone::ZoneSet a = big_zone(10000);
  zone::ZoneSet b = a;
  ASSERT_TRUE(b.add(rr("new.example. 300 A 192.0.2.99")).ok());
  const zone::Zone* za = a.find_zone(name("example."));
  const zone::Zone* zb = b.find_zone(name("example."));
  ASSERT_GE(za->nodes().shard_count(), 32u);
  // The new name's shard and the apex's (whose child count changed) at most.
  EXPECT_GE(zb->nodes().shared_shards(za->nodes()), za->nodes().shard_count() - 2);
  EXPECT_EQ(za->find(name("new.example.")), nullptr) << "the original is untouched";
  EXPECT_NE(zb->find(name("new.example.")), nullptr);
  EXPECT_EQ(a.record_count(), 10001u);
  EXPECT_EQ(b.record_count(), 10002u);

  zone::ZoneSet c = b;
  ASSERT_TRUE(c.remove(rr("h5.example. 300 A 192.0.2.5")).value());
  EXPECT_NE(b.find_zone(name("example."))->find(name("h5.example.")), nullptr);
  EXPECT_EQ(c.find_zone(name("example."))->find(name("h5.example.")), nullptr);
  EXPECT_NE(a.find_zone(name("example."))->find(name("h5.example.")), nullptr);
  EXPECT_GE(c.find_zone(name("example."))->nodes().shared_shards(zb->nodes()), zb->nodes().shard_count() - 2);
}

TEST(ZoneSetSharing, TtlChangeInACopyLeavesTheOriginalsTtl) {
  const zone::ZoneSet a = big_zone(1000);
  zone::ZoneSet b = a;
  ASSERT_TRUE(b.add(rr("h7.example. 900 A 192.0.2.7")).ok());  // present: only the TTL changes
  EXPECT_EQ(a.find_zone(name("example."))->find(name("h7.example."))->find(dns::rrtype::A)->ttl, 300u);
  EXPECT_EQ(b.find_zone(name("example."))->find(name("h7.example."))->find(dns::rrtype::A)->ttl, 900u);
}

TEST(ZoneSetSharing, EmptyNonTerminalsAcrossShardsArePruned) {
  zone::ZoneSet z = big_zone(2000);
  ASSERT_TRUE(z.add(rr("a.b.c.d.example. 300 A 192.0.2.1")).ok());
  const zone::ZoneSet before = z;
  for (const char* ent : {"b.c.d.example.", "c.d.example.", "d.example."}) {
    const zone::Node* n = z.find_zone(name("example."))->find(name(ent));
    ASSERT_NE(n, nullptr) << ent;
    EXPECT_TRUE(n->empty_nonterminal());
    EXPECT_EQ(n->children(), 1u);
  }
  ASSERT_TRUE(z.remove(rr("a.b.c.d.example. 300 A 192.0.2.1")).value());
  for (const char* gone : {"a.b.c.d.example.", "b.c.d.example.", "c.d.example.", "d.example."}) {
    EXPECT_EQ(z.find_zone(name("example."))->find(name(gone)), nullptr) << gone;
    EXPECT_NE(before.find_zone(name("example."))->find(name(gone)), nullptr) << gone;
  }
  EXPECT_EQ(z.find_zone(name("example."))->apex_node()->children(), 2000u);
}

TEST(ZoneSetSharing, NestedZoneCarvedOutOfABigZone) {
  zone::ZoneSet z = big_zone(3000);
  ASSERT_TRUE(z.add(rr("x.h42.example. 300 TXT \"below\"")).ok());
  const zone::ZoneSet before = z;
  ASSERT_TRUE(z.add(rr("h42.example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300")).ok());
  const zone::Zone* parent = z.find_zone(name("example."));
  const zone::Zone* child = z.find_zone(name("x.h42.example."));
  ASSERT_EQ(child->apex(), name("h42.example."));
  EXPECT_NE(child->find(name("x.h42.example.")), nullptr);
  EXPECT_NE(child->find(name("h42.example."))->find(dns::rrtype::A), nullptr) << "moved below the new apex";
  EXPECT_EQ(parent->find(name("x.h42.example.")), nullptr);
  EXPECT_TRUE(parent->find(name("h42.example."))->nested_apex());
  EXPECT_NE(parent->find(name("h41.example.")), nullptr);
  EXPECT_EQ(z.record_count(), before.record_count() + 1);
  EXPECT_EQ(before.find_zone(name("x.h42.example."))->apex(), name("example.")) << "the copy still has one zone";
}

TEST(ZoneSetSharing, RandomChangesMatchAModel) {
  // Adds and removes at random over a few hundred names (so shards split,
  // fill with garbage and compact), checked against a plain set of records.
  zone::ZoneSet z = zone_test::zones({kSoa});
  std::set<std::tuple<std::string, uint16_t, std::string>> model;
  model.emplace("example.", dns::rrtype::SOA, rr(kSoa).rdata);
  std::mt19937 rng(7);
  std::vector<zone::ZoneSet> versions;
  for (int step = 0; step < 6000; ++step) {
    const std::string owner = (rng() % 4 == 0 ? "x." : "") + host(rng() % 400);
    dns::RR r = rng() % 2 ? rr(owner + " 300 A 192.0.2.1") : rr(owner + " 300 TXT \"t\"");
    if (r.type == dns::rrtype::A) r.rdata[3] = static_cast<char>(rng() % 3);
    const auto key = std::make_tuple(r.owner.to_text(), r.type, r.rdata);
    if (rng() % 3 == 0) {
      EXPECT_EQ(z.remove(r).value(), model.erase(key) == 1);
    } else {
      ASSERT_TRUE(z.add(r).ok());
      model.insert(key);
    }
    if (step % 1000 == 0) versions.push_back(z);
  }
  std::set<std::tuple<std::string, uint16_t, std::string>> stored;
  z.for_each_record([&](const dns::RR& r) { stored.emplace(r.owner.to_text(), r.type, r.rdata); });
  EXPECT_EQ(stored, model);
  EXPECT_EQ(z.record_count(), model.size());
  // Older versions kept their own record counts while this one moved on.
  for (const zone::ZoneSet& v : versions) {
    size_t n = 0;
    v.for_each_record([&](const dns::RR&) { ++n; });
    EXPECT_EQ(n, v.record_count());
  }
}

TEST(ZoneSetSharing, ForEachRecordIsCanonicalOverManyShards) {
  const zone::ZoneSet z = big_zone(3000);
  std::vector<dns::Name> owners;
  z.for_each_record([&](const dns::RR& r) { owners.push_back(r.owner); });
  ASSERT_EQ(owners.size(), 3001u);
  for (size_t i = 1; i < owners.size(); ++i) ASSERT_LT(owners[i - 1], owners[i]) << i;
}

}  // namespace

namespace {

TEST(NodeTable, InsertAllHoldsWhatInsertsOneAtATimeWouldAndLeavesCopiesAlone) {
  // A table with some names, copied (sharing every shard), then many names
  // added at once: the shards split to the number one insert at a time
  // reaches, every name is found, and the copy still holds only its own.
  zone::NodeTable one_by_one, bulk;
  std::vector<std::string> bytes(3000);
  for (size_t i = 0; i < bytes.size(); ++i) zone::NodeCodec::make_empty(wire_of(host(i)), &bytes[i]);
  for (size_t i = 0; i < 300; ++i) {
    one_by_one.insert(wire_of(host(i)), bytes[i]);
    bulk.insert(wire_of(host(i)), bytes[i]);
  }
  const zone::NodeTable before = bulk;
  std::vector<zone::NodeTable::NewNode> adds;
  for (size_t i = 300; i < bytes.size(); ++i) {
    one_by_one.insert(wire_of(host(i)), bytes[i]);
    adds.push_back({zone::NameKey(wire_of(host(i))).hash, bytes[i]});
  }
  bulk.insert_all(adds);
  EXPECT_EQ(bulk.size(), bytes.size());
  EXPECT_EQ(bulk.shard_count(), one_by_one.shard_count());
  EXPECT_GT(bulk.shard_count(), before.shard_count());
  for (size_t i = 0; i < bytes.size(); ++i) {
    const zone::Node* n = bulk.find(wire_of(host(i)));
    ASSERT_NE(n, nullptr) << host(i);
    EXPECT_EQ(n->wire(), wire_of(host(i)));
    EXPECT_EQ(before.find(wire_of(host(i))) != nullptr, i < 300) << host(i);
  }
  EXPECT_EQ(before.size(), 300u);
  EXPECT_EQ(bulk.find(wire_of(host(bytes.size()))), nullptr);
  // The table goes on taking single inserts and removals after a bulk one.
  bulk.insert(wire_of(host(bytes.size())), [&] {
    std::string b;
    zone::NodeCodec::make_empty(wire_of(host(bytes.size())), &b);
    return b;
  }());
  EXPECT_TRUE(bulk.erase(wire_of(host(5))));
  EXPECT_EQ(bulk.find(wire_of(host(5))), nullptr);
  EXPECT_NE(before.find(wire_of(host(5))), nullptr);
  EXPECT_EQ(bulk.size(), bytes.size());
}

}  // namespace
