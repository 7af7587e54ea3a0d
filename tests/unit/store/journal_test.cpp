// The IXFR journal and serial policies: each committed change to a zone is
// one exact diff and one serial, decided in apply; the journal is bounded,
// condenses correctly and survives checkpoints.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "store/journal.h"
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

dns::RR soa(uint32_t serial, const char* apex = "example.com.") {
  return record(apex, dns::rrtype::SOA,
                "ns1.example.com. host.example.com. " + std::to_string(serial) + " 3600 900 604800 300");
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }
store::Op remove(dns::RR rr) { return {store::OpKind::Remove, std::move(rr)}; }

store::Change change(std::vector<store::Op> ops, uint64_t timestamp_ms = 0) {
  store::Change c;
  c.origin = 1;
  c.time_ms = timestamp_ms;
  c.ops = std::move(ops);
  return c;
}

uint32_t serial_of(const store::Store& s, const char* apex = "example.com.") {
  const zone::Zone* z = s.snapshot()->find_zone(name(apex));
  return dns::soa_decode(z->soa()->rdatas.front())->serial;
}

const store::ZoneJournal* journal(const store::Store& s, const char* apex = "example.com.") {
  return s.version()->journal(name(apex));
}

/// Every record of a zone as "owner type ttl rdata" text, for comparing states.
std::set<std::string> zone_texts(const store::Store& s, bool with_soa = false) {
  std::set<std::string> out;
  s.snapshot()->for_each_record([&](const dns::RR& rr) {
    if (rr.type == dns::rrtype::SOA && !with_soa) return;
    out.insert(rr.owner.lowercased().to_text() + " " + std::to_string(rr.type) + " " + std::to_string(rr.ttl) + " " +
               dns::rdata_to_text(rr.type, rr.rdata));
  });
  return out;
}

std::string text(const dns::RR& rr) {
  return rr.owner.lowercased().to_text() + " " + std::to_string(rr.type) + " " + std::to_string(rr.ttl) + " " +
         dns::rdata_to_text(rr.type, rr.rdata);
}

/// Applies a diff to a state the way an IXFR client does (RFC 1995 §4):
/// fails the test if it removes a missing record or adds an existing one.
void replay(std::set<std::string>& state, const store::Diff& d) {
  for (const dns::RR& rr : d.removed) ASSERT_EQ(state.erase(text(rr)), 1u) << "removes missing " << text(rr);
  for (const dns::RR& rr : d.added) ASSERT_TRUE(state.insert(text(rr)).second) << "adds existing " << text(rr);
}

/// Replays every diff of `j` on `first`, in order; the state reached, or
/// what was reached when a diff failed the test.
std::set<std::string> replay_all(std::set<std::string> first, const store::ZoneJournal& j) {
  for (const auto& d : j) {
    replay(first, *d);
    if (::testing::Test::HasFatalFailure()) break;
  }
  return first;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.apply(change({add(soa(10))}), 1).all_ok()); }
  uint64_t next_index() { return ++index_; }
  store::Store store_;
  uint64_t index_ = 1;
};

TEST(SerialPolicy, IncrementAddsOneModulo2To32) {
  EXPECT_EQ(store::next_serial(store::SerialPolicy::Increment, 41, 1'700'000'000'000), 42u);
  EXPECT_EQ(store::next_serial(store::SerialPolicy::Increment, 0xFFFFFFFFu, 0), 0u);
  EXPECT_TRUE(store::serial_newer(0, 0xFFFFFFFFu));
}

TEST(SerialPolicy, UnixTimeTakesTheChangesSecondsWhenNewerElseIncrements) {
  EXPECT_EQ(store::next_serial(store::SerialPolicy::UnixTime, 5, 1'700'000'000'123), 1'700'000'000u);
  // Two changes in the same second: the second still gets a newer serial.
  EXPECT_EQ(store::next_serial(store::SerialPolicy::UnixTime, 1'700'000'000, 1'700'000'000'900), 1'700'000'001u);
  // A serial already ahead of the clock never goes back.
  EXPECT_EQ(store::next_serial(store::SerialPolicy::UnixTime, 1'800'000'000, 1'700'000'000'000), 1'800'000'001u);
  // No timestamp (a change from an older version): increment.
  EXPECT_EQ(store::next_serial(store::SerialPolicy::UnixTime, 5, 0), 6u);
}

TEST(SerialPolicy, DateSerialIsTheUtcDateWithTwoDigitsOfChanges) {
  const uint64_t dec7_2026 = 1796601600000ull + 3600'000;  // 2026-12-07T01:00:00Z
  EXPECT_EQ(store::next_serial(store::SerialPolicy::DateSerial, 7, dec7_2026), 2026120700u);
  EXPECT_EQ(store::next_serial(store::SerialPolicy::DateSerial, 2026120700, dec7_2026), 2026120701u);
  EXPECT_EQ(store::next_serial(store::SerialPolicy::DateSerial, 2026120899, dec7_2026), 2026120900u);
  const uint64_t feb29_2024 = 1709164800000ull;  // 2024-02-29T00:00:00Z
  EXPECT_EQ(store::next_serial(store::SerialPolicy::DateSerial, 1, feb29_2024), 2024022900u);
}

TEST_F(JournalTest, EachChangeIsOneDiffAndOneSerial) {
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1")),
                                   add(record("b.example.com.", dns::rrtype::A, "192.0.2.2"))}),
                           next_index())
                  .all_ok());
  EXPECT_EQ(serial_of(store_), 11u);
  const store::ZoneJournal* j = journal(store_);
  ASSERT_NE(j, nullptr);
  ASSERT_EQ(j->size(), 1u);
  const store::Diff& d = *j->front();
  EXPECT_EQ(d.from_serial(), 10u);
  EXPECT_EQ(d.to_serial(), 11u);
  EXPECT_TRUE(d.removed.empty());
  EXPECT_EQ(d.added.size(), 2u);
}

TEST_F(JournalTest, AnUpdateIsOneDiffAndOneSerial) {
  store::Change c;
  c.update = store::Update{name("example.com."), {}, {}};
  c.update->updates.push_back({store::UpdateKind::Add, record("a.example.com.", dns::rrtype::A, "192.0.2.1")});
  c.update->updates.push_back({store::UpdateKind::Add, record("a.example.com.", dns::rrtype::A, "192.0.2.2")});
  c.update->updates.push_back({store::UpdateKind::Add, record("b.example.com.", dns::rrtype::TXT, "\"x\"")});
  ASSERT_EQ(store_.apply(c, next_index()).rcode, 0);
  EXPECT_EQ(serial_of(store_), 11u);
  ASSERT_EQ(journal(store_)->size(), 1u);
  EXPECT_EQ(journal(store_)->front()->added.size(), 3u);
}

TEST_F(JournalTest, AFailedUpdateLeavesNoDiffAndNoSerial) {
  store::Change c;
  c.update = store::Update{name("example.com."), {}, {}};
  c.update->prereqs.push_back(
      {store::PrereqKind::NameInUse, dns::RR{name("nope.example.com."), dns::rrtype::ANY, dns::rrclass::IN, 0, ""}});
  c.update->updates.push_back({store::UpdateKind::Add, record("a.example.com.", dns::rrtype::A, "192.0.2.1")});
  EXPECT_NE(store_.apply(c, next_index()).rcode, 0);
  EXPECT_EQ(serial_of(store_), 10u);
  EXPECT_EQ(journal(store_), nullptr);
}

TEST_F(JournalTest, TheDiffIsTheEffectiveDifferenceOnly) {
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1"))}), next_index()).all_ok());
  // Adding what is there, and removing what is not, change nothing: no version.
  auto r = store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1")),
                                remove(record("zz.example.com.", dns::rrtype::A, "192.0.2.9"))}),
                        next_index());
  EXPECT_EQ(serial_of(store_), 11u);
  EXPECT_EQ(journal(store_)->size(), 1u);
  // Added then removed in one change: cancelled out, no version either.
  ASSERT_TRUE(store_.apply(change({add(record("t.example.com.", dns::rrtype::A, "192.0.2.7")),
                                   remove(record("t.example.com.", dns::rrtype::A, "192.0.2.7"))}),
                           next_index())
                  .all_ok());
  EXPECT_EQ(serial_of(store_), 11u);
  // One new member of an RRset: only it is added.
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.2"))}), next_index()).all_ok());
  const store::Diff& d = *journal(store_)->back();
  EXPECT_TRUE(d.removed.empty());
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(text(d.added[0]), text(record("a.example.com.", dns::rrtype::A, "192.0.2.2")));
}

TEST_F(JournalTest, ATtlOnlyRefreshIsADiffOfTheWholeRRset) {
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1", 300)),
                                   add(record("a.example.com.", dns::rrtype::A, "192.0.2.2", 300))}),
                           next_index())
                  .all_ok());
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1", 60))}), next_index()).all_ok());
  const store::Diff& d = *journal(store_)->back();
  EXPECT_EQ(d.from_serial(), 11u);
  EXPECT_EQ(d.to_serial(), 12u);
  ASSERT_EQ(d.removed.size(), 2u);
  ASSERT_EQ(d.added.size(), 2u);
  for (const dns::RR& rr : d.removed) EXPECT_EQ(rr.ttl, 300u);
  for (const dns::RR& rr : d.added) EXPECT_EQ(rr.ttl, 60u);
}

TEST(JournalWrap, TheSerialWrapsAround2To32AndTheJournalFollows) {
  store::Store s;
  ASSERT_TRUE(s.apply(change({add(soa(0xFFFFFFFEu))}), 1).all_ok());  // a new zone takes its serial as given
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.apply(change({add(record("w" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.1"))}),
                        i + 2)
                    .all_ok());
  }
  EXPECT_EQ(serial_of(s), 1u);
  auto chain = journal(s)->since(0xFFFFFFFEu);
  ASSERT_TRUE(chain.has_value());
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[1]->from_serial(), 0xFFFFFFFFu);
  EXPECT_EQ((*chain)[2]->from_serial(), 0u);
  EXPECT_EQ(chain->back()->to_serial(), 1u);
  // An older SOA never moves the serial back, across the wrap either.
  ASSERT_TRUE(s.apply(change({add(soa(0xFFFFFFF0u))}), 9).all_ok());
  EXPECT_EQ(serial_of(s), 1u);
}

TEST_F(JournalTest, SerialPolicyComesFromTheReplicatedSettings) {
  store::Change s;
  s.settings = store::Settings{};
  s.settings->serial_policies[name("example.com.")] = store::SerialPolicy::UnixTime;
  ASSERT_TRUE(store_.apply(s, next_index()).all_ok());
  EXPECT_EQ(serial_of(store_), 10u);  // settings alone change no zone
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1"))}, 1'700'000'000'500),
                           next_index())
                  .all_ok());
  EXPECT_EQ(serial_of(store_), 1'700'000'000u);
  ASSERT_TRUE(store_.apply(change({add(record("b.example.com.", dns::rrtype::A, "192.0.2.1"))}, 1'700'000'000'700),
                           next_index())
                  .all_ok());
  EXPECT_EQ(serial_of(store_), 1'700'000'001u);
}

TEST_F(JournalTest, TheJournalIsBoundedInEntriesAndStillLeadsToTheCurrentVersion) {
  store::Store bounded(store::SessionLimits{}, store::JournalLimits{4, 1u << 20});
  ASSERT_TRUE(bounded.apply(change({add(soa(1))}), 1).all_ok());
  std::set<std::string> first = zone_texts(bounded);
  std::mt19937 rng(7);
  for (uint64_t i = 0; i < 40; ++i) {
    std::vector<store::Op> ops;
    for (int k = 0; k < 3; ++k) {
      std::string host = "h" + std::to_string(rng() % 6) + ".example.com.";
      std::string addr = "192.0.2." + std::to_string(rng() % 3);
      uint32_t ttl = 60 * (1 + rng() % 2);
      ops.push_back(rng() % 3 == 0 ? remove(record(host, dns::rrtype::A, addr, ttl))
                                   : add(record(host, dns::rrtype::A, addr, ttl)));
    }
    bounded.apply(change(std::move(ops)), i + 2);
  }
  const store::ZoneJournal* j = journal(bounded);
  ASSERT_NE(j, nullptr);
  EXPECT_LE(j->size(), 4u);
  // Condensing kept the oldest serial: replaying from the first state
  // through every diff reaches the current state, exactly.
  EXPECT_EQ(j->front()->from_serial(), 1u);
  EXPECT_EQ(replay_all(first, *j), zone_texts(bounded));
  EXPECT_EQ(j->back()->to_serial(), serial_of(bounded));
}

TEST_F(JournalTest, KeepingTheJournalBoundedReadsAFewRecordsPerChangeNotTheWholeHistory) {
  // One new name per change, as DynDNS clients make them: condensing the
  // two oldest entries every time read every name added since the journal
  // filled, on every change (about 8,000,000 records here; now about 360,000,
  // growing with the log of the history).
  store::Store bounded(store::SessionLimits{}, store::JournalLimits{16, 1u << 30});
  ASSERT_TRUE(bounded.apply(change({add(soa(1))}), 1).all_ok());
  std::set<std::string> first = zone_texts(bounded);
  constexpr uint64_t kChanges = 4000;
  for (uint64_t i = 0; i < kChanges; ++i) {
    bounded.apply(change({add(record("n" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.1"))}), i + 2);
  }
  const store::ZoneJournal* j = journal(bounded);
  ASSERT_NE(j, nullptr);
  EXPECT_LE(j->size(), 16u);
  EXPECT_LT(j->condensed_records(), 128 * kChanges);
  // Still one chain from the first serial to the current one.
  EXPECT_EQ(j->front()->from_serial(), 1u);
  EXPECT_EQ(replay_all(first, *j), zone_texts(bounded));
}

TEST_F(JournalTest, TheJournalIsBoundedInBytes) {
  store::Store bounded(store::SessionLimits{}, store::JournalLimits{1000, 600});
  ASSERT_TRUE(bounded.apply(change({add(soa(1))}), 1).all_ok());
  for (uint64_t i = 0; i < 50; ++i) {
    bounded.apply(change({add(record("n" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.1"))}), i + 2);
  }
  const store::ZoneJournal* j = journal(bounded);
  ASSERT_NE(j, nullptr);
  EXPECT_LE(j->bytes(), 600u);
  size_t sum = 0;
  for (const auto& d : *j) sum += d->bytes();
  EXPECT_EQ(sum, j->bytes());
  EXPECT_EQ(j->back()->to_serial(), serial_of(bounded));
}

/// Diff number i: serial i to i + 1, adding n<i>; every third also removes
/// what the one before it added (so condensing cancels records).
std::shared_ptr<const store::Diff> numbered_diff(uint32_t i) {
  auto d = std::make_shared<store::Diff>();
  d->old_soa = soa(i);
  d->new_soa = soa(i + 1);
  d->added.push_back(record("n" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.1"));
  if (i % 3 == 0 && i > 1) {
    d->removed.push_back(record("n" + std::to_string(i - 1) + ".example.com.", dns::rrtype::A, "192.0.2.1"));
  }
  return d;
}

/// The journal as text: each diff's serials and records, oldest first.
std::vector<std::string> journal_text(const store::ZoneJournal& j) {
  std::vector<std::string> out;
  for (const auto& d : j) {
    std::string line = std::to_string(d->from_serial()) + ">" + std::to_string(d->to_serial());
    for (const dns::RR& rr : d->removed) line += " -" + text(rr);
    for (const dns::RR& rr : d->added) line += " +" + text(rr);
    out.push_back(std::move(line));
  }
  return out;
}

// A journal's diffs sit in chunks that copies share. Condensing and dropping
// across chunk boundaries keep one chain, and a copy taken earlier (an older
// version, still read by a transfer) never changes.
TEST(JournalChunks, CopiesStayAsTheyWereWhileTheJournalGoesOnAcrossChunks) {
  for (const store::JournalLimits limits : {store::JournalLimits{100, 1u << 30}, store::JournalLimits{1000, 20000}}) {
    SCOPED_TRACE("max_entries " + std::to_string(limits.max_entries) + ", max_bytes " + std::to_string(limits.max_bytes));
    store::ZoneJournal j;
    std::vector<std::pair<store::ZoneJournal, std::vector<std::string>>> copies;
    std::set<std::string> names;
    constexpr uint32_t kDiffs = 1000;
    for (uint32_t i = 1; i <= kDiffs; ++i) {
      j.append(numbered_diff(i), limits);
      if (i % 97 == 0) copies.emplace_back(j, journal_text(j));
    }
    for (const auto& [copy, text_then] : copies) EXPECT_EQ(journal_text(copy), text_then);
    ASSERT_FALSE(j.empty());
    EXPECT_LE(j.size(), limits.max_entries);
    EXPECT_LE(j.bytes(), limits.max_bytes);
    size_t bytes = 0, count = 0;
    uint32_t serial = j.front()->from_serial();
    for (const auto& d : j) {
      EXPECT_EQ(d->from_serial(), serial) << "a gap in the chain at diff " << count;
      serial = d->to_serial();
      bytes += d->bytes();
      EXPECT_EQ(j[count]->to_serial(), d->to_serial());
      ++count;
    }
    EXPECT_EQ(count, j.size());
    EXPECT_EQ(bytes, j.bytes());
    EXPECT_EQ(serial, kDiffs + 1);
    EXPECT_EQ(j.back()->to_serial(), kDiffs + 1);
    if (limits.max_bytes == (1u << 30)) {
      EXPECT_EQ(j.front()->from_serial(), 1u) << "condensing keeps the oldest serial";
      EXPECT_GT(copies.size(), 5u);
    } else {
      EXPECT_GT(j.front()->from_serial(), 1u) << "the byte bound dropped the oldest diffs";
    }
    auto tail = j.since(j[j.size() / 2]->from_serial());
    ASSERT_TRUE(tail);
    EXPECT_EQ(tail->size(), j.size() - j.size() / 2);
  }
}

TEST(Condense, TwoDiffsBecomeTheDirectDifference) {
  store::Diff a, b;
  a.old_soa = soa(1);
  a.new_soa = soa(2);
  b.old_soa = soa(2);
  b.new_soa = soa(3);
  const dns::RR x = record("x.example.com.", dns::rrtype::A, "192.0.2.1");
  const dns::RR y = record("y.example.com.", dns::rrtype::A, "192.0.2.2");
  const dns::RR z = record("z.example.com.", dns::rrtype::A, "192.0.2.3");
  a.removed = {x};      // x was there
  a.added = {y};        // y is new
  b.removed = {y, z};   // y goes again, z was there all along
  b.added = {x};        // x comes back
  store::Diff c = store::condense(a, b);
  EXPECT_EQ(c.from_serial(), 1u);
  EXPECT_EQ(c.to_serial(), 3u);
  ASSERT_EQ(c.removed.size(), 1u);
  EXPECT_EQ(text(c.removed[0]), text(z));
  EXPECT_TRUE(c.added.empty());
}

TEST_F(JournalTest, JournalAndSettingsSurviveACheckpointAndAVersion3ImageStillLoads) {
  store::Change s;
  s.settings = store::Settings{};
  s.settings->serial_policies[name("example.com.")] = store::SerialPolicy::DateSerial;
  ASSERT_TRUE(store_.apply(s, next_index()).all_ok());
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1"))}), next_index()).all_ok());
  store::Store copy;
  ASSERT_TRUE(copy.restore(store_.serialize()));
  EXPECT_EQ(copy.serialize(), store_.serialize());
  ASSERT_NE(journal(copy), nullptr);
  EXPECT_EQ(journal(copy)->size(), 1u);
  EXPECT_EQ(copy.version()->settings, store_.version()->settings);

  // A version 3 image (before journals): the same records, no settings.
  store::Store plain;
  ASSERT_TRUE(plain.apply(change({add(soa(10))}), 1).all_ok());
  std::string image = plain.serialize();
  ASSERT_EQ(image[13], '\x04');
  image[13] = '\x03';
  image.resize(image.size() - 9);  // no catalog flag, no policies, no journals
  store::Store old;
  auto restored = old.restore(image);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(old.digest(), plain.digest());
}

TEST_F(JournalTest, RemovingAZoneRemovesItsRecordsAndItsJournal) {
  ASSERT_TRUE(store_.apply(change({add(record("a.example.com.", dns::rrtype::A, "192.0.2.1")),
                                   add(record("example.com.", dns::rrtype::NS, "ns1.example.com."))}),
                           next_index())
                  .all_ok());
  store::Op rz{store::OpKind::RemoveZone, dns::RR{name("example.com."), 0, dns::rrclass::IN, 0, ""}};
  auto r = store_.apply(change({rz}), next_index());
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(store_.snapshot()->find_zone(name("example.com.")), nullptr);
  EXPECT_EQ(store_.snapshot()->record_count(), 0u);
  EXPECT_EQ(journal(store_), nullptr);
  auto again = store_.apply(change({rz}), next_index());
  EXPECT_NE(again.first_error().find("no zone example.com."), std::string::npos) << again.first_error();
}

TEST_F(JournalTest, TheCatalogListsEveryZoneAndChangesInTheCommitThatAddsOrRemovesOne) {
  store::Change s;
  s.settings = store::Settings{};
  s.settings->catalog = name("catalog.invalid.");
  ASSERT_TRUE(store_.apply(s, next_index()).all_ok());
  auto member = [&](const char* zone) {
    return store::catalog_member_id(name(zone)) + ".zones.catalog.invalid.";
  };
  auto ptr_at = [&](const std::string& owner) -> std::string {
    const zone::Zone* cz = store_.snapshot()->find_zone(name("catalog.invalid."));
    if (!cz) return "";
    const zone::Node* n = cz->find(dns::Name::from_text(owner).value());
    const zone::RRset* rs = n ? n->find(dns::rrtype::PTR) : nullptr;
    return rs ? dns::rdata_to_text(dns::rrtype::PTR, rs->rdatas.front()) : "";
  };
  EXPECT_EQ(ptr_at(member("example.com.")), "example.com.");
  const zone::Zone* cz = store_.snapshot()->find_zone(name("catalog.invalid."));
  ASSERT_NE(cz, nullptr);
  const zone::Node* version = cz->find(name("version.catalog.invalid."));
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::TXT, version->find(dns::rrtype::TXT)->rdatas.front()), "\"2\"");
  const uint32_t catalog_serial = serial_of(store_, "catalog.invalid.");

  ASSERT_TRUE(store_.apply(change({add(soa(1, "example.net."))}), next_index()).all_ok());
  EXPECT_EQ(ptr_at(member("example.net.")), "example.net.");
  EXPECT_EQ(serial_of(store_, "catalog.invalid."), catalog_serial + 1);
  ASSERT_EQ(journal(store_, "catalog.invalid.")->size(), 1u);

  store::Op rz{store::OpKind::RemoveZone, dns::RR{name("example.net."), 0, dns::rrclass::IN, 0, ""}};
  ASSERT_TRUE(store_.apply(change({rz}), next_index()).all_ok());
  EXPECT_EQ(ptr_at(member("example.net.")), "");
  EXPECT_EQ(serial_of(store_, "catalog.invalid."), catalog_serial + 2);
  // The member id depends on the name alone (any case): every node agrees.
  EXPECT_EQ(store::catalog_member_id(name("Example.NET.")), store::catalog_member_id(name("example.net.")));
  EXPECT_EQ(store::catalog_member_id(name("example.net.")).size(), 40u);
}

TEST(ChangeEncoding, TheSessionTimeAndSettingsRoundTripAndVersion2StillDecodes) {
  store::Change c = change({add(soa(3))}, 1'700'000'000'123);
  c.settings = store::Settings{};
  c.settings->catalog = name("cat.example.");
  c.settings->serial_policies[name("example.com.")] = store::SerialPolicy::UnixTime;
  auto back = store::decode_change(store::encode_change(c));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->time_ms, 1'700'000'000'123u);
  ASSERT_TRUE(back->settings.has_value());
  EXPECT_EQ(*back->settings, *c.settings);

  // Version 2: no session stamp after the sequence, no settings nor transfer at the end.
  store::Change plain = change({add(soa(3))});
  std::string v4 = store::encode_change(plain);
  std::string v2 = v4.substr(0, 21) + v4.substr(37, v4.size() - 37 - 2);
  v2[0] = 2;
  auto old = store::decode_change(v2);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->time_ms, 0u);
  EXPECT_EQ(old->ops.size(), 1u);
}

}  // namespace
