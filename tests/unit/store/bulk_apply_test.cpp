// A change of many adds (a zone file seeding the cluster) applied in bulk
// must end exactly as one op at a time: the same records, refusals, serials,
// journals and digest; and a checkpoint of it must restore to the same state.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/journal.h"
#include "store/store.h"
#include "zone/node_table.h"

namespace {

dns::Name name(const std::string& text) { return dns::Name::from_text(text).value(); }

dns::RR record(const std::string& owner, uint16_t type, const std::string& rdata_text, uint32_t ttl = 300) {
  dns::RR rr;
  rr.owner = name(owner);
  rr.type = type;
  rr.ttl = ttl;
  rr.rdata = dns::rdata_from_text(type, rdata_text, dns::Name()).value();
  return rr;
}

dns::RR soa(const std::string& apex, uint32_t serial) {
  return record(apex, dns::rrtype::SOA, "ns1." + apex + " host." + apex + " " + std::to_string(serial) + " 3600 900 604800 300",
                3600);
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }

store::Change change(std::vector<store::Op> ops, uint64_t time_ms = 1'700'000'000'000) {
  store::Change c;
  c.origin = 1;
  c.time_ms = time_ms;
  c.ops = std::move(ops);
  return c;
}

/// The same change as `c` applied one op at a time: a trailing remove of a
/// record that is nowhere makes it more than adds, which apply never takes
/// in bulk, and changes nothing but its own refusal (the last position).
store::Change one_at_a_time(store::Change c) {
  c.ops.push_back({store::OpKind::Remove, record("nowhere.invalid.", dns::rrtype::A, "192.0.2.255")});
  return c;
}

/// Many adds over `apexes`: deep names, mixed case, duplicates with the same
/// and another TTL, CNAME conflicts, delegations with glue, and a few records
/// no zone takes or whose rdata is invalid.
std::vector<store::Op> random_adds(std::mt19937& rng, const std::vector<std::string>& apexes, size_t count) {
  static const char* kLabels[] = {"a", "B", "www", "Ns", "deleg", "x", "mail"};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<store::Op> ops;
  for (size_t i = 0; i < count; ++i) {
    std::string owner = apexes[pick(apexes.size())];
    for (size_t d = pick(4); d > 0; --d) owner = std::string(kLabels[pick(7)]) + "." + owner;
    const uint32_t ttl = pick(5) == 0 ? 600 : 300;
    switch (pick(10)) {
      case 0:
        ops.push_back(add(record(owner, dns::rrtype::CNAME, "target.example.", ttl)));
        break;
      case 1:
        ops.push_back(add(record(owner, dns::rrtype::NS, "ns" + std::to_string(pick(2)) + ".example.", ttl)));
        break;
      case 2:
        ops.push_back(add(record(owner, dns::rrtype::TXT, "\"t" + std::to_string(pick(3)) + "\"", ttl)));
        break;
      case 3:
        if (pick(4) == 0) {
          ops.push_back(add(record("host" + std::to_string(pick(5)) + ".nozone.test.", dns::rrtype::A, "192.0.2.1")));
          break;
        }
        [[fallthrough]];
      default: {
        dns::RR rr = record(owner, dns::rrtype::A, "192.0.2." + std::to_string(pick(8)), ttl);
        if (pick(50) == 0) rr.rdata.pop_back();  // three octets: invalid
        ops.push_back(add(std::move(rr)));
      }
    }
  }
  return ops;
}

/// Two stores that applied the same changes, one in bulk where it may and
/// one op at a time, must agree on everything a client or secondary sees.
void expect_same_state(const store::Store& bulk, const store::Store& single, const std::vector<std::string>& apexes,
                       const std::string& where) {
  EXPECT_EQ(bulk.digest(), single.digest()) << where;
  EXPECT_EQ(bulk.snapshot()->record_count(), single.snapshot()->record_count()) << where;
  for (const std::string& apex : apexes) {
    const zone::Zone* a = bulk.snapshot()->find_zone(name(apex));
    const zone::Zone* b = single.snapshot()->find_zone(name(apex));
    ASSERT_EQ(a == nullptr, b == nullptr) << where << " " << apex;
    if (!a) continue;
    EXPECT_EQ(a->soa()->rdatas.front(), b->soa()->rdatas.front()) << where << " SOA of " << apex;
    EXPECT_EQ(a->record_count(), b->record_count()) << where << " " << apex;
    EXPECT_EQ(a->nodes().size(), b->nodes().size()) << where << " nodes of " << apex;
    // Each node's octets: owner as spelled, flags, children count, RRsets.
    a->nodes().for_each([&](const zone::Node& n) {
      const zone::Node* m = b->find(n.owner());
      ASSERT_NE(m, nullptr) << where << " " << n.owner().to_text();
      EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(&n), zone::NodeCodec::stored_size(n)),
                std::string_view(reinterpret_cast<const char*>(m), zone::NodeCodec::stored_size(*m)))
          << where << " node " << n.owner().to_text() << " / " << m->owner().to_text();
    });
    const store::ZoneJournal* ja = bulk.version()->journal(name(apex));
    const store::ZoneJournal* jb = single.version()->journal(name(apex));
    ASSERT_EQ(ja == nullptr, jb == nullptr) << where << " journal of " << apex;
    if (!ja) continue;
    ASSERT_EQ(ja->size(), jb->size()) << where << " journal of " << apex;
    for (size_t i = 0; i < ja->size(); ++i) {
      const store::Diff& x = *(*ja)[i];
      const store::Diff& y = *(*jb)[i];
      EXPECT_EQ(x.old_soa.rdata, y.old_soa.rdata) << where;
      EXPECT_EQ(x.new_soa.rdata, y.new_soa.rdata) << where;
      ASSERT_EQ(x.added.size(), y.added.size()) << where << " diff " << i << " of " << apex;
      ASSERT_EQ(x.removed.size(), y.removed.size()) << where << " diff " << i << " of " << apex;
      for (size_t k = 0; k < x.added.size(); ++k) {
        EXPECT_EQ(x.added[k].owner.wire(), y.added[k].owner.wire()) << where;
        EXPECT_EQ(x.added[k].rdata, y.added[k].rdata) << where;
        EXPECT_EQ(x.added[k].ttl, y.added[k].ttl) << where;
      }
    }
  }
}

void expect_same_result(const store::ApplyResult& bulk, const store::ApplyResult& single, size_t ops,
                        const std::string& where) {
  ASSERT_EQ(bulk.op_errors.size(), ops) << where;
  ASSERT_EQ(single.op_errors.size(), ops + 1) << where;  // its trailing remove
  for (size_t i = 0; i < ops; ++i) {
    EXPECT_EQ(bulk.op_errors[i], single.op_errors[i]) << where << " op " << i;
    EXPECT_EQ(bulk.kind(i), single.kind(i)) << where << " op " << i;
  }
}

TEST(StoreBulkAdd, ZoneFileChangeEndsAsOneOpAtATime) {
  const std::vector<std::string> apexes = {"example.com.", "sub.example.com.", "example.org."};
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    store::Store bulk, single;
    // 1. A zone file seeding new zones (one nested in another): in bulk.
    std::vector<store::Op> ops = random_adds(rng, apexes, 300);
    ops.insert(ops.begin() + 7, add(soa("sub.example.com.", 5)));
    ops.insert(ops.begin(), add(soa("example.com.", 10)));
    ops.push_back(add(soa("example.org.", 20)));
    store::Change seed_change = change(ops);
    const std::string where = "seed " + std::to_string(seed);
    auto r1 = bulk.apply(seed_change, 1);
    auto r2 = single.apply(one_at_a_time(seed_change), 1);
    expect_same_result(r1, r2, ops.size(), where + " seeding");
    expect_same_state(bulk, single, apexes, where + " seeding");

    // 2. Many adds to zones that exist: one at a time (their journals need
    // each RRset's earlier state), with the same outcome either way.
    std::vector<store::Op> more = random_adds(rng, apexes, 200);
    auto r3 = bulk.apply(change(more, 1'700'000'001'000), 2);
    auto r4 = single.apply(one_at_a_time(change(more, 1'700'000'001'000)), 2);
    expect_same_result(r3, r4, more.size(), where + " adding");
    expect_same_state(bulk, single, apexes, where + " adding");
    ASSERT_NE(bulk.version()->journal(name("example.com.")), nullptr) << where;

    // 3. A new zone nested in an existing one, with records on both sides.
    std::vector<std::string> nested = {"deep.example.com.", "example.com."};
    std::vector<store::Op> third = random_adds(rng, nested, 100);
    third.insert(third.begin() + 50, add(soa("deep.example.com.", 1)));
    auto r5 = bulk.apply(change(third, 1'700'000'002'000), 3);
    auto r6 = single.apply(one_at_a_time(change(third, 1'700'000'002'000)), 3);
    expect_same_result(r5, r6, third.size(), where + " nesting");
    std::vector<std::string> all = apexes;
    all.push_back("deep.example.com.");
    expect_same_state(bulk, single, all, where + " nesting");
    if (HasFailure()) break;
  }
}

// Adds to zones that exist, each zone's share over the journal's byte bound
// (the later changes of a 10,000,000-record zone file), go in bulk and end
// as one op at a time: every serial advanced once, and the journal of each
// such zone started again, since the difference would have emptied it. A
// zone whose share fits keeps its journal, so that change goes one at a time.
TEST(StoreBulkAdd, AddsOverTheJournalBoundToZonesThatExistEndAsOneOpAtATime) {
  const std::vector<std::string> apexes = {"example.com.", "sub.example.com.", "example.org."};
  const store::JournalLimits limits{1000, 4096};
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    std::mt19937 rng(seed);
    const std::string where = "seed " + std::to_string(seed);
    store::Store bulk({}, limits), single({}, limits);
    auto both = [&](const store::Change& c, uint64_t index, const std::string& step) {
      auto r1 = bulk.apply(c, index);
      auto r2 = single.apply(one_at_a_time(c), index);
      expect_same_result(r1, r2, c.ops.size(), where + " " + step);
      expect_same_state(bulk, single, apexes, where + " " + step);
    };
    std::vector<store::Op> ops = random_adds(rng, apexes, 300);
    ops.insert(ops.begin(), add(soa("sub.example.com.", 5)));
    ops.insert(ops.begin(), add(soa("example.com.", 10)));
    ops.insert(ops.begin(), add(soa("example.org.", 20)));
    both(change(ops), 1, "seeding");
    both(change({add(record("one.example.com.", dns::rrtype::A, "192.0.2.9")),
                 add(record("one.example.org.", dns::rrtype::A, "192.0.2.9"))},
                1'700'000'001'000),
         2, "one record each");
    ASSERT_NE(bulk.version()->journal(name("example.org.")), nullptr) << where;

    // 1. Every zone's share over the bound.
    both(change(random_adds(rng, apexes, 1500), 1'700'000'002'000), 3, "over the bound");
    for (const std::string& apex : apexes) {
      EXPECT_EQ(bulk.version()->journal(name(apex)), nullptr) << where << " " << apex;
    }
    const auto org_soa = dns::soa_decode(bulk.snapshot()->find_zone(name("example.org."))->soa()->rdatas.front());
    ASSERT_TRUE(org_soa) << where;
    EXPECT_EQ(org_soa->serial, 22u) << where << ": one serial per change that modified it";

    // 2. example.org.'s share fits its journal: kept, with this difference.
    std::vector<store::Op> mixed = random_adds(rng, {"example.com."}, 800);
    mixed.push_back(add(record("two.example.org.", dns::rrtype::A, "192.0.2.10")));
    both(change(mixed, 1'700'000'003'000), 4, "one zone under the bound");
    const store::ZoneJournal* org = bulk.version()->journal(name("example.org."));
    ASSERT_NE(org, nullptr) << where;
    EXPECT_EQ(org->size(), 1u) << where;
    if (HasFailure()) break;
  }
}

TEST(StoreBulkAdd, TransferCreatingAZoneEndsAsOneOpAtATime) {
  std::mt19937 rng(7);
  const std::vector<std::string> apexes = {"sec.example."};
  std::vector<store::Op> ops = random_adds(rng, apexes, 200);
  ops.insert(ops.begin(), add(soa("sec.example.", 5)));
  store::Change c = change(ops);
  c.transfer = store::TransferIn{name("sec.example."), std::nullopt};
  store::Store bulk, single;
  auto r1 = bulk.apply(c, 1);
  auto r2 = single.apply(one_at_a_time(c), 1);
  EXPECT_EQ(r1.rcode, 0);  // NOERROR
  EXPECT_EQ(r1.op_errors.front(), "");
  EXPECT_GT(bulk.snapshot()->record_count(), 100u);
  expect_same_result(r1, r2, ops.size(), "transfer");
  expect_same_state(bulk, single, apexes, "transfer");
}

TEST(StoreBulkAdd, CheckpointOfABulkLoadRestoresTheSameState) {
  std::mt19937 rng(3);
  const std::vector<std::string> apexes = {"example.com.", "sub.example.com."};
  std::vector<store::Op> ops = random_adds(rng, apexes, 2000);
  ops.insert(ops.begin(), add(soa("sub.example.com.", 5)));
  ops.insert(ops.begin(), add(soa("example.com.", 10)));
  store::Store original;
  original.apply(change(ops), 1);
  original.apply(change({add(record("Late.Name.example.com.", dns::rrtype::A, "192.0.2.7"))}, 1'700'000'001'000), 2);
  const std::string image = original.serialize();
  store::Store restored;
  ASSERT_TRUE(restored.restore(image).ok());
  EXPECT_EQ(restored.digest(), original.digest());
  EXPECT_EQ(restored.serialize(), image);
  EXPECT_EQ(restored.snapshot()->record_count(), original.snapshot()->record_count());
  for (const std::string& apex : apexes) {
    const zone::Zone* a = original.snapshot()->find_zone(name(apex));
    const zone::Zone* b = restored.snapshot()->find_zone(name(apex));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->record_count(), b->record_count()) << apex;
    EXPECT_EQ(a->nodes().size(), b->nodes().size()) << apex << ": the same names and empty non-terminals";
    EXPECT_EQ(a->has_delegations(), b->has_delegations()) << apex;
    // Every name's children count, which answers for empty non-terminals.
    a->nodes().for_each([&](const zone::Node& n) {
      const zone::Node* m = b->find(n.owner());
      ASSERT_NE(m, nullptr) << n.owner().to_text();
      EXPECT_EQ(n.children(), m->children()) << n.owner().to_text();
      EXPECT_EQ(n.rrsets.size(), m->rrsets.size()) << n.owner().to_text();
    });
  }
  // A restored store goes on as the original: the next change gets the same serial.
  auto next = change({add(record("after.example.com.", dns::rrtype::A, "192.0.2.8"))}, 1'700'000'002'000);
  original.apply(next, 3);
  restored.apply(next, 3);
  EXPECT_EQ(restored.digest(), original.digest());
  EXPECT_EQ(restored.serialize(), original.serialize());
}

}  // namespace
