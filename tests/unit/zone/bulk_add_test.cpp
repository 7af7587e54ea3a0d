// ZoneSet::add_all against add() one record at a time: random record sets
// (fixed seeds) must leave byte-identical nodes, the same counters and the
// same refusals, since the store loads zone files and checkpoints through it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "zone/node_table.h"
#include "zone/zone_set.h"
#include "zone_test_util.h"

using zone_test::name;
using zone_test::rr;

namespace {

/// One refusal: input position, message, kind.
struct Refusal {
  size_t at;
  std::string message;
  util::ErrorKind kind;
  bool operator==(const Refusal& o) const { return at == o.at && message == o.message && kind == o.kind; }
};

std::ostream& operator<<(std::ostream& os, const Refusal& r) {
  return os << "#" << r.at << " kind " << static_cast<int>(r.kind) << ": " << r.message;
}

/// What the store does one op at a time: a record already present with the
/// same TTL changes nothing and is not refused; anything else goes to add().
std::vector<Refusal> add_one_by_one(zone::ZoneSet& zones, const std::vector<dns::RR>& records) {
  std::vector<Refusal> refused;
  for (size_t i = 0; i < records.size(); ++i) {
    const dns::RR& r = records[i];
    if (const zone::Zone* z = zones.zone_for(r.owner, r.type)) {
      const zone::Node* n = z->find(r.owner);
      const zone::RRset* set = n ? n->find(r.type) : nullptr;
      if (set && set->ttl == r.ttl && std::find(set->rdatas.begin(), set->rdatas.end(), r.rdata) != set->rdatas.end()) {
        continue;
      }
    }
    if (auto added = zones.add(r); !added) refused.push_back({i, added.error().message, added.error().kind});
  }
  return refused;
}

std::vector<Refusal> add_in_bulk(zone::ZoneSet& zones, const std::vector<dns::RR>& records) {
  std::vector<const dns::RR*> ptrs;
  for (const dns::RR& r : records) ptrs.push_back(&r);
  std::vector<Refusal> refused;
  for (auto& [at, e] : zones.add_all(ptrs).refused) refused.push_back({at, e.message, e.kind});
  return refused;
}

/// Every node of every zone as its stored octets (owner as spelled, flags,
/// children count, RRsets with TTLs and rdatas), keyed by zone and name.
std::map<std::string, std::string> node_images(const zone::ZoneSet& zones) {
  std::map<std::string, std::string> out;
  for (const dns::Name& apex : zones.zone_names()) {
    const zone::Zone* z = zones.find_zone(apex);
    z->nodes().for_each([&](const zone::Node& n) {
      const std::string key = apex.lowercased().to_text() + " " + n.owner().lowercased().to_text();
      EXPECT_EQ(out.count(key), 0u) << "two nodes for " << key;
      out[key] = std::string(reinterpret_cast<const char*>(&n), zone::NodeCodec::stored_size(n));
    });
  }
  return out;
}

/// Compares both sets zone by zone: nodes, record counts, delegation and
/// NSEC3 flags.
void expect_same(const zone::ZoneSet& want, const zone::ZoneSet& got, const std::string& where) {
  EXPECT_EQ(want.record_count(), got.record_count()) << where;
  ASSERT_EQ(want.zone_names().size(), got.zone_names().size()) << where;
  for (const dns::Name& apex : want.zone_names()) {
    const zone::Zone* a = want.find_zone(apex);
    const zone::Zone* b = got.find_zone(apex);
    ASSERT_NE(b, nullptr) << where << " " << apex.to_text();
    EXPECT_EQ(a->record_count(), b->record_count()) << where << " " << apex.to_text();
    EXPECT_EQ(a->has_delegations(), b->has_delegations()) << where << " " << apex.to_text();
    EXPECT_EQ(a->has_nsec3(), b->has_nsec3()) << where << " " << apex.to_text();
    EXPECT_EQ(a->nodes().size(), b->nodes().size()) << where << " " << apex.to_text();
  }
  const auto wa = node_images(want);
  const auto ga = node_images(got);
  for (const auto& [key, bytes] : wa) {
    auto it = ga.find(key);
    if (it == ga.end()) {
      ADD_FAILURE() << where << ": node " << key << " missing after add_all";
      continue;
    }
    if (bytes != it->second) {
      const auto* x = reinterpret_cast<const zone::Node*>(bytes.data());
      const auto* y = reinterpret_cast<const zone::Node*>(it->second.data());
      ADD_FAILURE() << where << ": node " << key << " differs: owner " << x->owner().to_text() << " / "
                    << y->owner().to_text() << ", children " << x->children() << " / " << y->children() << ", flags "
                    << int(zone::NodeCodec::flags(*x)) << " / " << int(zone::NodeCodec::flags(*y)) << ", RRsets "
                    << x->rrsets.size() << " / " << y->rrsets.size();
    }
  }
  for (const auto& [key, bytes] : ga) {
    if (!wa.count(key)) ADD_FAILURE() << where << ": node " << key << " only after add_all";
  }
}

/// A random spelling of `text`: each letter upper-cased with probability 1/3.
std::string spell(const std::string& text, std::mt19937& rng) {
  std::string out = text;
  for (char& c : out) {
    if (c >= 'a' && c <= 'z' && rng() % 3 == 0) c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

/// A random record set over the zones example., sub.example. (nested) and
/// other.: deep names (empty non-terminals), parents after children, mixed
/// case, duplicates, TTL changes, CNAME conflicts (both orders), apex CNAME,
/// delegations with glue, DS at the nested apex, NSEC3, bad class, meta
/// type, invalid rdata and names outside every zone.
std::vector<dns::RR> random_records(std::mt19937& rng, size_t count) {
  static const char* kLabels[] = {"a", "b", "www", "ns", "deleg", "x"};
  static const char* kApexes[] = {"example.", "sub.example.", "other.", "outside."};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // A pool of owners, so names repeat (in other spellings) and nest.
  std::vector<std::string> owners;
  for (size_t i = 0; i < 24; ++i) {
    std::string owner = kApexes[pick(4)];
    const size_t depth = pick(5);  // 0: the apex itself
    for (size_t d = 0; d < depth; ++d) owner = std::string(kLabels[pick(6)]) + "." + owner;
    owners.push_back(owner);
  }
  const std::string nsec3 = "1 0 10 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG";
  std::vector<dns::RR> out;
  std::vector<std::string> lines;
  for (size_t i = 0; i < count; ++i) {
    const std::string owner = owners[pick(owners.size())];
    const std::string ttl = pick(4) == 0 ? "600" : "300";
    std::string line;
    switch (pick(14)) {
      case 0:
      case 1:
      case 2:
        line = " A 192.0.2." + std::to_string(pick(4));
        break;
      case 3:
        line = " AAAA 2001:db8::" + std::to_string(pick(3));
        break;
      case 4:
        line = " TXT \"t" + std::to_string(pick(3)) + "\"";
        break;
      case 5:
      case 6:
        line = " CNAME target" + std::to_string(pick(2)) + ".example.";
        break;
      case 7:
        line = " NS ns" + std::to_string(pick(2)) + ".example.";
        break;
      case 8:
        line = " NSEC3 " + nsec3;
        break;
      case 9:
        line = " RRSIG A 8 2 300 20300101000000 20200101000000 1 example. AAAA";
        break;
      default:
        line = " A 192.0.2." + std::to_string(pick(2));
        break;
    }
    dns::RR r = rr(spell(owner, rng) + " " + ttl + line);
    switch (pick(40)) {
      case 0:
        r.rclass = dns::rrclass::CH;
        break;
      case 1:
        r.type = 255;  // ANY: a meta type
        break;
      case 2:
        r.type = dns::rrtype::A;
        r.rdata = "\x01\x02\x03";  // three octets: not an A
        break;
      default:
        break;
    }
    out.push_back(std::move(r));
  }
  // Glue and DS at the nested apex in every set, somewhere.
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(pick(out.size() + 1)),
             rr(spell("sub.example.", rng) + " 300 DS 12345 8 2 " + std::string(64, 'A')));
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(pick(out.size() + 1)),
             rr(spell("ns0.deleg.example.", rng) + " 300 A 192.0.2.9"));
  return out;
}

zone::ZoneSet with_soas() {
  return zone_test::zones({"example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300",
                           "sub.example. 3600 SOA ns.sub.example. admin.example. 1 7200 3600 1209600 300",
                           "Other. 3600 SOA ns.other. admin.other. 1 7200 3600 1209600 300"});
}

/// Removes every record but the SOAs from both sets in the same random order,
/// comparing counters as they fall: a wrong delegation or NSEC3 count or
/// children count (the empty non-terminals left behind) shows here.
void drain_both(zone::ZoneSet& want, zone::ZoneSet& got, std::mt19937& rng, const std::string& where) {
  std::vector<dns::RR> all;
  want.for_each_record([&](const dns::RR& r) {
    if (r.type != dns::rrtype::SOA) all.push_back(r);
  });
  std::shuffle(all.begin(), all.end(), rng);
  for (size_t i = 0; i < all.size(); ++i) {
    auto a = want.remove(all[i]);
    auto b = got.remove(all[i]);
    ASSERT_TRUE(a.ok() && b.ok()) << where;
    ASSERT_EQ(a.value(), b.value()) << where << " removing " << all[i].owner.to_text();
    for (const dns::Name& apex : want.zone_names()) {
      const zone::Zone* x = want.find_zone(apex);
      const zone::Zone* y = got.find_zone(apex);
      ASSERT_EQ(x->has_delegations(), y->has_delegations()) << where << " after removal " << i;
      ASSERT_EQ(x->has_nsec3(), y->has_nsec3()) << where << " after removal " << i;
      ASSERT_EQ(x->record_count(), y->record_count()) << where << " after removal " << i;
    }
  }
  expect_same(want, got, where + " drained");
}

TEST(ZoneSetAddAll, MatchesAddOneAtATimeOnRandomRecordSets) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<dns::RR> records = random_records(rng, 20 + rng() % 140);
    zone::ZoneSet want = with_soas();
    zone::ZoneSet got = with_soas();
    const zone::ZoneSet before = got;  // shares everything with `got` until add_all changes it
    const std::vector<Refusal> want_refused = add_one_by_one(want, records);
    const std::vector<Refusal> got_refused = add_in_bulk(got, records);
    const std::string where = "seed " + std::to_string(seed);
    EXPECT_EQ(want_refused, got_refused) << where;
    expect_same(want, got, where);
    expect_same(with_soas(), before, where + " (the copy taken before add_all)");
    drain_both(want, got, rng, where);
    if (HasFailure()) break;
  }
}

TEST(ZoneSetAddAll, OnTopOfStoredNamesKeepsTheirSpellingAndChildren) {
  // Names that exist before the call (a record, an empty non-terminal) gain
  // records and children; their spelling stays as stored.
  std::vector<dns::RR> first = {rr("A.b.Example. 300 A 192.0.2.1"), rr("Www.example. 300 A 192.0.2.2")};
  std::vector<dns::RR> then = {rr("b.EXAMPLE. 300 TXT \"x\""), rr("c.a.B.example. 300 A 192.0.2.3"),
                               rr("WWW.example. 600 A 192.0.2.4"), rr("d.b.example. 300 A 192.0.2.5"),
                               rr("www.example. 300 CNAME x.example.")};
  zone::ZoneSet want = zone_test::zones({"example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300"});
  zone::ZoneSet got = want;
  EXPECT_TRUE(add_one_by_one(want, first).empty());
  EXPECT_TRUE(add_in_bulk(got, first).empty());
  const auto want_refused = add_one_by_one(want, then);
  ASSERT_EQ(want_refused.size(), 1u);
  EXPECT_EQ(want_refused[0].at, 4u);
  EXPECT_EQ(want_refused[0].kind, util::ErrorKind::Conflict);
  EXPECT_EQ(add_in_bulk(got, then), want_refused);
  expect_same(want, got, "stored names");
  EXPECT_EQ(got.find_zone(name("example."))->find(name("b.example."))->owner().to_text(), "b.Example.");
  EXPECT_EQ(got.find_zone(name("example."))->find(name("b.example."))->children(), 2u);
}

TEST(ZoneSetAddAll, WithAnSoaAddsOneAtATime) {
  std::vector<dns::RR> records = {rr("www.example. 300 A 192.0.2.1"),
                                  rr("child.example. 3600 SOA ns.example. admin.example. 1 7200 3600 1209600 300"),
                                  rr("www.child.example. 300 A 192.0.2.2"), rr("www.none. 300 A 192.0.2.3")};
  zone::ZoneSet want = with_soas();
  zone::ZoneSet got = with_soas();
  const auto want_refused = add_one_by_one(want, records);
  ASSERT_EQ(want_refused.size(), 1u);
  EXPECT_EQ(add_in_bulk(got, records), want_refused);
  expect_same(want, got, "with an SOA");
  EXPECT_EQ(got.find_zone(name("www.child.example."))->apex(), name("child.example."));
}

}  // namespace
