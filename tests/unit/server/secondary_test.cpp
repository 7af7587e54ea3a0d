// The cluster as a secondary, without sockets: the refresh timers (RFC 1034
// §4.3.5, RFC 1996 §3.11), transfers read from a primary made of the
// cluster's own transfer handler (AXFR, IXFR, IXFR answered in full, TSIG on
// every message), the one change a transfer makes, and NOTIFY answered
// (RFC 1996 §3.7).
#include "server/secondary.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctime>
#include <set>

#include "dns/message.h"
#include "dns/tsig.h"
#include "server/responder.h"
#include "server/xfr.h"
#include "server/zone_follower.h"
#include "store/store.h"

namespace server {
namespace {

const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const char* kOtherSecret = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

dns::Name name(const std::string& text) { return dns::Name::from_text(text).value(); }

dns::RR record(const std::string& owner, uint16_t type, const std::string& rdata_text, uint32_t ttl = 300) {
  return dns::RR{name(owner), type, dns::rrclass::IN, ttl, dns::rdata_from_text(type, rdata_text, dns::Name()).value()};
}

dns::RR soa(uint32_t serial, uint32_t refresh = 3600, uint32_t retry = 600, uint32_t expire = 86400) {
  return record("sec.example.", dns::rrtype::SOA,
                "ns1.primary.example. host.primary.example. " + std::to_string(serial) + " " + std::to_string(refresh) +
                    " " + std::to_string(retry) + " " + std::to_string(expire) + " 300");
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }
store::Op remove(dns::RR rr) { return {store::OpKind::Remove, std::move(rr)}; }

sockaddr_in addr(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

uint64_t now_s() { return static_cast<uint64_t>(::time(nullptr)); }

/// A zone's records as sorted text (SOA included), to compare two stores.
std::set<std::string> zone_texts(const store::Store& s, const char* apex = "sec.example.") {
  std::set<std::string> out;
  s.snapshot()->for_each_record([&](const dns::RR& rr) {
    if (!rr.owner.is_subdomain_of(name(apex))) return;
    out.insert(rr.owner.lowercased().to_text() + " " + dns::type_to_text(rr.type) + " " + std::to_string(rr.ttl) +
               " " + dns::rdata_to_text(rr.type, rr.rdata));
  });
  return out;
}

/// An outside primary made of a store and the cluster's own transfer handler.
struct Primary {
  explicit Primary(std::optional<dns::tsig::Key> key = std::nullopt, store::JournalLimits limits = {})
      : store(store::SessionLimits{}, limits) {
    XfrOptions o;
    if (key) {
      o.keys.push_back(*key);
      o.acl.keys = std::vector<dns::Name>{key->name};  // signed requests only
    } else {
      o.acl.allow = std::vector<Network>{Network::parse("127.0.0.0/8").value()};
    }
    xfr = std::make_unique<XfrHandler>(store, std::move(o));
  }
  void apply(std::vector<store::Op> ops) {
    store::Change c;
    c.origin = 9;
    c.ops = std::move(ops);
    auto r = store.apply(c, ++index);
    ASSERT_TRUE(r.all_ok()) << r.first_error();
  }
  /// Every message the TCP listener would send in answer to `request`.
  std::vector<std::string> answer(const std::string& request) {
    sockaddr_in peer = addr("127.0.0.1");
    auto stream = xfr->start(reinterpret_cast<const uint8_t*>(request.data()), request.size(),
                             reinterpret_cast<const sockaddr*>(&peer));
    std::vector<std::string> out;
    std::vector<uint8_t> buf(65535 + 512);
    while (size_t n = stream->next(buf.data(), buf.size())) out.emplace_back(reinterpret_cast<char*>(buf.data()), n);
    return out;
  }
  store::Store store;
  std::unique_ptr<XfrHandler> xfr;
  uint64_t index = 0;
};

/// The cluster's side: its store, and the transfer it received applied as one change.
struct Secondary {
  std::optional<dns::RR> held() const {
    const zone::Zone* z = store.snapshot()->find_zone(name("sec.example."));
    if (!z || z->apex() != name("sec.example.")) return std::nullopt;
    return dns::RR{z->apex(), dns::rrtype::SOA, dns::rrclass::IN, z->soa()->ttl, std::string(z->soa()->rdatas.front())};
  }
  /// Transfers from `p` (IXFR when a zone is held, unless `axfr`) into `plan`.
  std::optional<TransferError> fetch(Primary& p, TransferPlan& plan, const dns::tsig::Key* key = nullptr,
                                     bool axfr = false) {
    TransferExchange ex(name("sec.example."), axfr ? std::nullopt : held(), key, 0x4242, now_s());
    for (const std::string& msg : p.answer(ex.request())) {
      if (auto e = ex.add(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), now_s())) return e;
    }
    if (!ex.done()) return TransferError{TransferError::Kind::Malformed, 0, "incomplete"};
    last_kind = ex.reader().kind();
    messages = ex.messages();
    return plan_transfer(*store.snapshot(), name("sec.example."), ex.reader(), plan);
  }
  store::ApplyResult commit(TransferPlan& plan) { return store.apply(plan.change, ++index); }

  store::Store store;
  uint64_t index = 0;
  TransferReader::Kind last_kind = TransferReader::Kind::Pending;
  size_t messages = 0;
};

std::vector<store::Op> base_zone() {
  return {add(soa(10)), add(record("sec.example.", dns::rrtype::NS, "ns1.primary.example.")),
          add(record("www.sec.example.", dns::rrtype::A, "192.0.2.1")),
          add(record("www.sec.example.", dns::rrtype::A, "192.0.2.2")),
          add(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example.")),
          add(record("txt.sec.example.", dns::rrtype::TXT, "\"v=1\"", 600))};
}

// --- the refresh timers ---

TEST(RefreshTimer, NothingIsDueUntilThisNodeLeadsThenACheckIsDueAtOnce) {
  RefreshTimer t;
  EXPECT_FALSE(t.begin(1000));
  EXPECT_EQ(t.state(1000), RefreshTimer::State::Standby);
  t.lead(5000);
  EXPECT_EQ(t.next_check_ms(), 5000u);
  EXPECT_TRUE(t.begin(5000));
  EXPECT_EQ(t.state(5000), RefreshTimer::State::Checking);
  EXPECT_FALSE(t.begin(5000));  // one check at a time
}

TEST(RefreshTimer, ACurrentZoneIsCheckedAgainAfterRefresh) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(100, SoaTimers{60, 10, 3600});
  EXPECT_EQ(t.state(100), RefreshTimer::State::Current);
  EXPECT_EQ(t.next_check_ms(), 60'100u);
  EXPECT_FALSE(t.begin(60'099));
  EXPECT_TRUE(t.begin(60'100));
}

TEST(RefreshTimer, ANotifyMakesTheCheckDueAtOnce) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(0, SoaTimers{3600, 600, 86400});
  t.notified(2000);
  EXPECT_TRUE(t.begin(2000));
}

TEST(RefreshTimer, ANotifyDuringACheckCausesAnotherRightAfterIt) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.notified(50);  // the primary moved while we were asking it
  t.succeeded(80, SoaTimers{3600, 600, 86400});
  EXPECT_EQ(t.next_check_ms(), 80u);
  EXPECT_TRUE(t.begin(80));
}

TEST(RefreshTimer, AFailedCheckIsRetriedAfterRetryAndTheZoneExpiresAfterExpire) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(0, SoaTimers{100, 10, 35});
  ASSERT_TRUE(t.begin(100'000));
  t.failed(100'000, SoaTimers{100, 10, 35});
  EXPECT_EQ(t.state(100'000), RefreshTimer::State::Expired);  // 100 s since the last success, expire 35
  EXPECT_EQ(t.next_check_ms(), 110'000u);
  // Expired or not, checks go on at retry; one success makes it current.
  ASSERT_TRUE(t.begin(110'000));
  t.succeeded(110'500, SoaTimers{100, 10, 35});
  EXPECT_EQ(t.state(110'500), RefreshTimer::State::Current);
}

TEST(RefreshTimer, RetryingBeforeExpireIsNotExpired) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(0, SoaTimers{20, 5, 60});
  ASSERT_TRUE(t.begin(20'000));
  t.failed(20'000, SoaTimers{20, 5, 60});
  EXPECT_EQ(t.state(20'000), RefreshTimer::State::Retrying);
  EXPECT_EQ(t.state(59'999), RefreshTimer::State::Retrying);
  EXPECT_EQ(t.state(60'000), RefreshTimer::State::Expired);
}

TEST(RefreshTimer, WithoutAZoneHeldFailuresAreRetriedEveryTenSecondsAndNeverExpire) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.failed(0, std::nullopt);
  EXPECT_EQ(t.next_check_ms(), RefreshTimer::kRetryWithoutZoneSeconds * 1000u);
  EXPECT_EQ(t.state(1'000'000'000), RefreshTimer::State::Retrying);
}

TEST(RefreshTimer, AZeroIntervalIsTakenAsOneSecond) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(0, SoaTimers{0, 0, 0});
  EXPECT_EQ(t.next_check_ms(), 1000u);
}

TEST(RefreshTimer, ANewLeaderChecksAtOnceAndCountsExpireFromItsTakeOver) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.succeeded(0, SoaTimers{100, 10, 50});
  t.stand_by();
  EXPECT_EQ(t.state(500'000), RefreshTimer::State::Standby);
  EXPECT_EQ(t.next_check_ms(), UINT64_MAX);
  t.notified(500'000);  // a NOTIFY to a node that does not lead changes nothing
  EXPECT_FALSE(t.begin(500'000));
  t.lead(600'000);
  EXPECT_TRUE(t.begin(600'000));
  t.failed(600'000, SoaTimers{100, 10, 50});
  EXPECT_EQ(t.state(600'000), RefreshTimer::State::Retrying);
  EXPECT_EQ(t.state(650'000), RefreshTimer::State::Expired);
}

TEST(RefreshTimer, ATransferThatFoundTheZoneMovedIsRetriedAtOnce) {
  RefreshTimer t;
  t.lead(0);
  ASSERT_TRUE(t.begin(0));
  t.again(30);
  EXPECT_TRUE(t.begin(30));
}

// --- transfers and the change they make ---

TEST(TransferIn, TheFirstAxfrCreatesTheZoneAsThePrimaryHasIt) {
  Primary p;
  p.apply(base_zone());
  Secondary s;
  TransferPlan plan;
  ASSERT_FALSE(s.fetch(p, plan)) << "AXFR";
  EXPECT_EQ(s.last_kind, TransferReader::Kind::Full);
  EXPECT_FALSE(plan.from_serial.has_value());
  EXPECT_EQ(plan.to_serial, 10u);
  EXPECT_EQ(plan.added, 5u);
  ASSERT_TRUE(plan.change.transfer.has_value());
  auto r = s.commit(plan);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
}

TEST(TransferIn, AnIxfrIsCommittedAsItsNetEffectAndKeepsThePrimarysSerial) {
  Primary p;
  p.apply(base_zone());
  Secondary s;
  TransferPlan plan;
  ASSERT_FALSE(s.fetch(p, plan));
  ASSERT_TRUE(s.commit(plan).all_ok());
  // Three versions on the primary: a record comes and goes again, one is
  // replaced, a TTL changes.
  p.apply({add(record("tmp.sec.example.", dns::rrtype::A, "192.0.2.9"))});
  p.apply({remove(record("tmp.sec.example.", dns::rrtype::A, "192.0.2.9")),
           remove(record("www.sec.example.", dns::rrtype::A, "192.0.2.2")),
           add(record("www.sec.example.", dns::rrtype::A, "192.0.2.3"))});
  p.apply({add(record("txt.sec.example.", dns::rrtype::TXT, "\"v=1\"", 900))});
  ASSERT_FALSE(s.fetch(p, plan));
  EXPECT_EQ(s.last_kind, TransferReader::Kind::Incremental);
  EXPECT_EQ(plan.from_serial, 10u);
  EXPECT_EQ(plan.to_serial, 13u);
  EXPECT_EQ(plan.removed, 1u);  // www 192.0.2.2
  EXPECT_EQ(plan.added, 1u);    // www 192.0.2.3 (tmp came and went)
  EXPECT_EQ(plan.change.ops.size(), 4u);  // SOA, the removal, the addition, the TXT at its new TTL
  ASSERT_TRUE(s.commit(plan).all_ok());
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
  // The cluster's own journal now holds the step 10 -> 13, for its own secondaries.
  const store::ZoneJournal* j = s.store.version()->journal(name("sec.example."));
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->back()->from_serial(), 10u);
  EXPECT_EQ(j->back()->to_serial(), 13u);
}

TEST(TransferIn, APrimaryWithoutTheJournalAnswersIxfrWithTheWholeZoneAndThatIsApplied) {
  // A journal bounded to nothing: the primary keeps no diffs at all.
  Primary p(std::nullopt, store::JournalLimits{1000, 1});
  p.apply(base_zone());
  Secondary s;
  TransferPlan plan;
  ASSERT_FALSE(s.fetch(p, plan));
  ASSERT_TRUE(s.commit(plan).all_ok());
  p.apply({add(record("a.sec.example.", dns::rrtype::A, "192.0.2.10"))});
  p.apply({add(record("b.sec.example.", dns::rrtype::A, "192.0.2.11"))});
  p.apply({remove(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example."))});
  ASSERT_FALSE(s.fetch(p, plan));
  EXPECT_EQ(s.last_kind, TransferReader::Kind::Full);  // RFC 1995 §4: the whole zone, in answer to IXFR
  EXPECT_EQ(plan.removed, 1u);
  EXPECT_EQ(plan.added, 2u);
  EXPECT_EQ(plan.change.ops.size(), 4u);  // only the difference, not the whole zone again
  ASSERT_TRUE(s.commit(plan).all_ok());
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
}

TEST(TransferIn, AnAxfrIntoAHeldZoneIsTheEffectiveDifferenceOnly) {
  Primary p;
  p.apply(base_zone());
  Secondary s;
  TransferPlan plan;
  ASSERT_FALSE(s.fetch(p, plan));
  ASSERT_TRUE(s.commit(plan).all_ok());
  p.apply({remove(record("www.sec.example.", dns::rrtype::A, "192.0.2.1")),
           remove(record("www.sec.example.", dns::rrtype::A, "192.0.2.2")),
           add(record("www.sec.example.", dns::rrtype::CNAME, "web.sec.example.")),
           add(record("web.sec.example.", dns::rrtype::A, "192.0.2.5"))});
  ASSERT_FALSE(s.fetch(p, plan, nullptr, /*axfr=*/true));
  EXPECT_EQ(s.last_kind, TransferReader::Kind::Full);
  EXPECT_EQ(plan.removed, 2u);
  EXPECT_EQ(plan.added, 2u);
  // The A RRset goes as a whole before the CNAME comes (RFC 1034 §3.6.2).
  ASSERT_EQ(plan.change.ops.size(), 4u);
  EXPECT_EQ(plan.change.ops[1].kind, store::OpKind::RemoveRRset);
  auto r = s.commit(plan);
  ASSERT_TRUE(r.all_ok()) << r.first_error();
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
}

TEST(TransferIn, RecordsOutsideTheZoneAreSkipped) {
  TransferReader reader;
  ASSERT_TRUE(reader.add({soa(4), record("a.sec.example.", dns::rrtype::A, "192.0.2.1"),
                          record("www.victim.example.", dns::rrtype::A, "192.0.2.66"), soa(4)}));
  ASSERT_TRUE(reader.done());
  store::Store held;
  store::Change victim;
  victim.ops = {add(record("victim.example.", dns::rrtype::SOA, "ns. host. 1 3600 600 86400 300"))};
  ASSERT_TRUE(held.apply(victim, 1).all_ok());
  TransferPlan plan;
  ASSERT_FALSE(plan_transfer(*held.snapshot(), name("sec.example."), reader, plan));
  EXPECT_EQ(plan.skipped, 1u);
  EXPECT_EQ(plan.change.ops.size(), 2u);  // the SOA and a.sec.example. only
}

TEST(TransferIn, AnIxfrThatDoesNotFitTheZoneHeldIsReportedAsDiverged) {
  Primary p;
  p.apply(base_zone());
  Secondary s;
  TransferPlan plan;
  ASSERT_FALSE(s.fetch(p, plan));
  ASSERT_TRUE(s.commit(plan).all_ok());
  // The cluster's copy lost a record at the same serial (a copy that
  // diverged); the primary's next diff removes it.
  store::Change lose;
  lose.ops = {add(soa(10)), remove(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example."))};
  lose.transfer = store::TransferIn{name("sec.example."), 10u};
  ASSERT_TRUE(s.store.apply(lose, ++s.index).all_ok());
  p.apply({remove(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example."))});
  auto e = s.fetch(p, plan);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, TransferError::Kind::Diverged);
  EXPECT_NE(e->message.find("removes mail.sec.example. MX"), std::string::npos) << e->message;
  // The fallback, AXFR, brings the copy back in line.
  ASSERT_FALSE(s.fetch(p, plan, nullptr, /*axfr=*/true));
  ASSERT_TRUE(s.commit(plan).all_ok());
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
}

/// Enough records for a transfer of several messages.
std::vector<store::Op> big_zone(int records) {
  std::vector<store::Op> ops = base_zone();
  for (int i = 0; i < records; ++i) {
    ops.push_back(add(record("host" + std::to_string(i) + ".sec.example.", dns::rrtype::TXT,
                             "\"" + std::string(200, static_cast<char>('a' + i % 26)) + "\"")));
  }
  return ops;
}

TEST(TransferIn, APrimaryRequiringTsigIsFollowedWithTheKeyMessageByMessage) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  Primary p(key);
  p.apply(big_zone(2000));
  Secondary s;
  TransferPlan plan;
  // Unsigned: the primary refuses.
  auto refused = s.fetch(p, plan);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->kind, TransferError::Kind::Rcode);
  EXPECT_EQ(refused->rcode, dns::rcode::REFUSED);
  // Signed: every message verifies, and the zone arrives whole.
  ASSERT_FALSE(s.fetch(p, plan, &key)) << "signed AXFR";
  EXPECT_GT(s.messages, 3u);
  ASSERT_TRUE(s.commit(plan).all_ok());
  EXPECT_EQ(zone_texts(s.store), zone_texts(p.store));
  // A key of the same name with another secret: the answer does not verify.
  const dns::tsig::Key wrong = dns::tsig::make_key("xfr-key.", "hmac-sha256", kOtherSecret).value();
  auto bad = s.fetch(p, plan, &wrong, /*axfr=*/true);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->kind, TransferError::Kind::Tsig);
}

TEST(TransferIn, AMessageAlteredInTheStreamFailsItsTsigCheck) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  Primary p(key);
  p.apply(big_zone(2000));
  TransferExchange ex(name("sec.example."), std::nullopt, &key, 7, now_s());
  std::vector<std::string> msgs = p.answer(ex.request());
  ASSERT_GT(msgs.size(), 3u);
  msgs[2][40] = static_cast<char>(msgs[2][40] ^ 1);  // one bit of a record's data
  std::optional<TransferError> e;
  for (const std::string& m : msgs) {
    e = ex.add(reinterpret_cast<const uint8_t*>(m.data()), m.size(), now_s());
    if (e) break;
  }
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, TransferError::Kind::Tsig);
  EXPECT_FALSE(ex.done());
}

TEST(SoaQuery, ASignedQueryNeedsASignedAuthoritativeAnswer) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  Primary p;
  p.apply(base_zone());
  std::vector<dns::tsig::Key> keys{key};
  RespondOptions ro;
  ro.tsig_keys = &keys;
  uint8_t out[4096];
  SoaQuery q(name("sec.example."), &key, 99, now_s());
  size_t n = respond(*p.store.snapshot(), reinterpret_cast<const uint8_t*>(q.request().data()), q.request().size(), out,
                     sizeof out, ro, nullptr);
  ASSERT_GT(n, 0u);
  ASSERT_TRUE(q.matches(out, n));
  auto e = q.read(out, n, now_s());
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(dns::soa_decode(q.soa().rdata)->serial, 10u);
  // The same answer unsigned (the TSIG record cut off) is refused.
  auto parsed = dns::parse_message(out, n);
  ASSERT_TRUE(parsed && parsed->tsig);
  std::string cut(reinterpret_cast<char*>(out), parsed->tsig_offset);
  cut[11] = static_cast<char>(cut[11] - 1);  // ARCOUNT without the TSIG
  SoaQuery q2(name("sec.example."), &key, 99, now_s());
  auto unsigned_answer = q2.read(reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), now_s());
  ASSERT_TRUE(unsigned_answer.has_value());
  EXPECT_EQ(unsigned_answer->kind, TransferError::Kind::Tsig);
}

// --- NOTIFY answered (RFC 1996 §3.7) ---

std::string notify_message(const char* zone, const dns::tsig::Key* key = nullptr, std::string* mac = nullptr) {
  uint8_t buf[512];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = 0x5151;
  h.flags = static_cast<uint16_t>((dns::opcode::NOTIFY << 11) | dns::flag::AA);
  w.set_header(h);
  w.add_question(name(zone), dns::rrtype::SOA, dns::rrclass::IN);
  dns::RR s = soa(11);
  w.add_rr(dns::Section::Answer, name(zone), dns::rrtype::SOA, dns::rrclass::IN, s.ttl, s.rdata);
  std::string msg(reinterpret_cast<char*>(buf), w.finish());
  if (key) {
    std::string m = dns::tsig::sign(msg, *key, now_s());
    if (mac) *mac = m;
  }
  return msg;
}

struct NotifyAnswer {
  uint16_t rcode = 0xFFFF;
  std::optional<dns::Message> message;
  std::string bytes;
};

NotifyAnswer send_notify(ZoneFollower& f, const std::string& msg, const char* from) {
  sockaddr_in peer = addr(from);
  uint8_t out[1024];
  size_t n = f.answer_notify(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(),
                             reinterpret_cast<const sockaddr*>(&peer), out, sizeof out);
  NotifyAnswer a;
  if (n == 0) return a;
  a.bytes.assign(reinterpret_cast<char*>(out), n);
  auto parsed = dns::parse_message(out, n);
  if (parsed) {
    a.rcode = parsed->rcode();
    a.message = parsed.value();
  }
  return a;
}

FollowerOptions follower_options(std::optional<dns::tsig::Key> key = std::nullopt) {
  FollowerOptions o;
  FollowedZone z;
  z.zone = name("sec.example.");
  z.host = "192.0.2.53";
  z.port = 53;
  z.key = key;
  o.zones.push_back(z);
  if (key) o.keys.push_back(*key);
  return o;
}

TEST(NotifyIn, TheZonesPrimaryGetsAnAuthoritativeNoerrorEchoingTheQuestion) {
  store::Store s;
  ZoneFollower f(s, follower_options(), [] { return false; }, [](store::Change, auto) {});
  NotifyAnswer a = send_notify(f, notify_message("sec.example."), "192.0.2.53");
  ASSERT_TRUE(a.message.has_value());
  EXPECT_EQ(a.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(a.message->header.id, 0x5151);
  EXPECT_TRUE(a.message->header.flags & dns::flag::QR);
  EXPECT_TRUE(a.message->header.flags & dns::flag::AA);
  EXPECT_EQ(a.message->header.opcode(), dns::opcode::NOTIFY);
  ASSERT_EQ(a.message->questions.size(), 1u);
  EXPECT_EQ(a.message->questions[0].name, name("sec.example."));
  EXPECT_EQ(a.message->questions[0].qtype, dns::rrtype::SOA);
}

TEST(NotifyIn, AnotherSourceIsRefusedAndAnotherZoneIsNotAuth) {
  store::Store s;
  ZoneFollower f(s, follower_options(), [] { return false; }, [](store::Change, auto) {});
  EXPECT_EQ(send_notify(f, notify_message("sec.example."), "192.0.2.54").rcode, dns::rcode::REFUSED);
  EXPECT_EQ(send_notify(f, notify_message("other.example."), "192.0.2.53").rcode, dns::rcode::NOTAUTH);
}

TEST(NotifyIn, WithAKeyOnlyASignedNotifyIsAcceptedAndItsAnswerIsSigned) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  store::Store s;
  ZoneFollower f(s, follower_options(key), [] { return false; }, [](store::Change, auto) {});
  EXPECT_EQ(send_notify(f, notify_message("sec.example."), "192.0.2.53").rcode, dns::rcode::REFUSED);
  std::string mac;
  NotifyAnswer a = send_notify(f, notify_message("sec.example.", &key, &mac), "192.0.2.53");
  ASSERT_TRUE(a.message.has_value());
  EXPECT_EQ(a.rcode, dns::rcode::NOERROR);
  ASSERT_TRUE(a.message->tsig.has_value());
  dns::tsig::Verification v = dns::tsig::verify(reinterpret_cast<const uint8_t*>(a.bytes.data()), a.bytes.size(),
                                                *a.message, {key}, now_s(), mac);
  EXPECT_EQ(v.error, 0) << v.reason;
  // Signed with another secret under the same name: NOTAUTH (RFC 8945 §5.2).
  const dns::tsig::Key wrong = dns::tsig::make_key("xfr-key.", "hmac-sha256", kOtherSecret).value();
  EXPECT_EQ(send_notify(f, notify_message("sec.example.", &wrong), "192.0.2.53").rcode, dns::rcode::NOTAUTH);
}

TEST(NotifyIn, AMessageWithoutOneSoaQuestionIsFormerr) {
  store::Store s;
  ZoneFollower f(s, follower_options(), [] { return false; }, [](store::Change, auto) {});
  std::string msg = notify_message("sec.example.");
  msg[5] = 0;  // QDCOUNT 0
  EXPECT_EQ(send_notify(f, msg, "192.0.2.53").rcode, dns::rcode::FORMERR);
}

}  // namespace
}  // namespace server
