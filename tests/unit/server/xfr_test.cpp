// Zone transfers out: the message splitter (RFC 5936 §2.2), AXFR and IXFR
// answers (RFC 1995 §4) from a real store, the ACL, and TSIG on every
// message of a stream (RFC 8945 §5.3.1).
#include "server/xfr.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <set>

#include "dns/dnssec_sign.h"
#include "dns/message.h"
#include "dns/tsig.h"

namespace server {
namespace {

constexpr uint64_t kNow = 1700000000;
const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

dns::Name name(const std::string& text) { return dns::Name::from_text(text).value(); }

dns::RR record(const std::string& owner, uint16_t type, const std::string& rdata_text, uint32_t ttl = 300) {
  return dns::RR{name(owner), type, dns::rrclass::IN, ttl, dns::rdata_from_text(type, rdata_text, dns::Name()).value()};
}

std::string text(const dns::RR& rr) {
  return rr.owner.lowercased().to_text() + " " + dns::type_to_text(rr.type) + " " + std::to_string(rr.ttl) + " " +
         dns::rdata_to_text(rr.type, rr.rdata);
}

sockaddr_in addr(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

std::string query(const char* zone, uint16_t qtype, std::optional<uint32_t> ixfr_serial = std::nullopt,
                  const dns::tsig::Key* key = nullptr, std::string* mac = nullptr) {
  uint8_t buf[1024];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = 0x1234;
  w.set_header(h);
  w.add_question(name(zone), qtype, dns::rrclass::IN);
  if (ixfr_serial) {
    dns::RR soa = record(zone, dns::rrtype::SOA, "ns1.example.com. host.example.com. " + std::to_string(*ixfr_serial) +
                                                     " 3600 900 604800 300");
    w.add_rr(dns::Section::Authority, soa.owner, soa.type, soa.rclass, soa.ttl, soa.rdata);
  }
  std::string msg(reinterpret_cast<char*>(buf), w.finish());
  if (key) {
    std::string m = dns::tsig::sign(msg, *key, kNow);
    if (mac) *mac = m;
  }
  return msg;
}

struct Response {
  std::vector<dns::Message> messages;
  std::vector<std::string> raw;
  std::vector<dns::RR> records() const {
    std::vector<dns::RR> out;
    for (const auto& m : messages) out.insert(out.end(), m.answers.begin(), m.answers.end());
    return out;
  }
};

Response drain(XfrStream& stream) {
  Response r;
  std::vector<uint8_t> buf(65535);
  for (int i = 0; i < 100000; ++i) {
    size_t n = stream.next(buf.data(), buf.size());
    if (n == 0) break;
    r.raw.emplace_back(reinterpret_cast<char*>(buf.data()), n);
    auto m = dns::parse_message(buf.data(), n);
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    if (m) r.messages.push_back(std::move(m.value()));
  }
  return r;
}

class XfrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
    other_key_ = dns::tsig::make_key("other-key.", "hmac-sha256", kSecret).value();
    store::Change seed;
    seed.ops.push_back({store::OpKind::Add, record("example.com.", dns::rrtype::SOA,
                                                   "ns1.example.com. host.example.com. 100 3600 900 604800 300")});
    seed.ops.push_back({store::OpKind::Add, record("example.com.", dns::rrtype::NS, "ns1.example.com.")});
    for (int i = 0; i < 3000; ++i) {
      seed.ops.push_back({store::OpKind::Add, record("host" + std::to_string(i) + ".example.com.", dns::rrtype::A,
                                                     "192.0.2." + std::to_string(i % 250))});
    }
    ASSERT_TRUE(store_.apply(seed, ++index_).all_ok());
  }

  void change(std::vector<store::Op> ops) {
    store::Change c;
    c.ops = std::move(ops);
    ASSERT_TRUE(store_.apply(c, ++index_).all_ok());
  }

  XfrHandler handler(TransferAcl acl) {
    XfrOptions o;
    o.acl = std::move(acl);
    o.keys = {key_, other_key_};
    o.now = [] { return kNow; };
    return XfrHandler(store_, std::move(o));
  }

  static TransferAcl loopback_acl() {
    TransferAcl acl;
    acl.allow = std::vector<Network>{Network::parse("127.0.0.0/8").value()};
    return acl;
  }

  store::Store store_{store::SessionLimits{}, store::JournalLimits{3, 1u << 20}};
  uint64_t index_ = 0;
  dns::tsig::Key key_, other_key_;
  sockaddr_in local_ = addr("127.0.0.1");
  sockaddr_in remote_ = addr("192.0.2.77");
};

TEST(MessageSplitter, RecordsSplitIntoMessagesUnderTheLimitWithTheQuestionInTheFirstOnly) {
  MessageSplitter s(7, dns::flag::QR | dns::flag::AA, name("example.com."), dns::rrtype::AXFR, 1000, 0);
  std::vector<uint8_t> buf(1000);
  std::vector<std::string> sent;
  std::vector<dns::RR> all;
  for (int i = 0; i < 200; ++i) all.push_back(record("n" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.1"));
  size_t next = 0;
  while (next < all.size()) {
    s.begin(buf.data());
    while (next < all.size() && s.add(all[next].owner, all[next].type, all[next].ttl, all[next].rdata)) ++next;
    ASSERT_GT(s.count(), 0u);
    size_t len = s.finish();
    ASSERT_LE(len, 1000u);
    sent.emplace_back(reinterpret_cast<char*>(buf.data()), len);
  }
  ASSERT_GT(sent.size(), 3u);
  size_t records = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    auto m = dns::parse_message(reinterpret_cast<const uint8_t*>(sent[i].data()), sent[i].size());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->questions.size(), i == 0 ? 1u : 0u);
    EXPECT_EQ(m->header.id, 7);
    records += m->answers.size();
    // Compression: each owner after the first shares "example.com." with it.
    EXPECT_LT(sent[i].size(), 12 + m->answers.size() * (18 + 10 + 4));
  }
  EXPECT_EQ(records, all.size());
}

TEST_F(XfrTest, AxfrIsTheWholeZoneSoaFirstAndLastInMessagesUpTo64KiB) {
  XfrHandler h = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::AXFR);
  auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
  Response r = drain(*stream);
  ASSERT_GT(r.messages.size(), 1u);  // 3002 records do not fit one message
  for (const std::string& raw : r.raw) EXPECT_LE(raw.size(), 65535u);
  for (const auto& m : r.messages) {
    EXPECT_TRUE(m.header.flags & dns::flag::AA);
    EXPECT_EQ(m.header.rcode(), 0);
  }
  std::vector<dns::RR> rrs = r.records();
  ASSERT_EQ(rrs.size(), 3002u + 1);  // the SOA twice
  EXPECT_EQ(rrs.front().type, dns::rrtype::SOA);
  EXPECT_EQ(rrs.back().type, dns::rrtype::SOA);
  std::set<std::string> got, want;
  for (size_t i = 1; i + 1 < rrs.size(); ++i) got.insert(text(rrs[i]));
  store_.snapshot()->for_each_record([&](const dns::RR& rr) {
    if (rr.type != dns::rrtype::SOA) want.insert(text(rr));
  });
  EXPECT_EQ(got, want);
  EXPECT_EQ(h.counters().axfr.load(), 1u);
}

TEST_F(XfrTest, ATransferComesFromTheVersionItBeganWith) {
  XfrHandler h = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::AXFR);
  auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
  change({{store::OpKind::Add, record("late.example.com.", dns::rrtype::A, "192.0.2.99")}});
  Response r = drain(*stream);
  for (const dns::RR& rr : r.records()) EXPECT_NE(rr.owner, name("late.example.com."));
  EXPECT_EQ(dns::soa_decode(r.records().front().rdata)->serial, 100u);
}

TEST_F(XfrTest, IxfrSendsTheJournalsDiffsInRfc1995Form) {
  change({{store::OpKind::Add, record("new.example.com.", dns::rrtype::A, "192.0.2.200")}});        // 101
  change({{store::OpKind::Remove, record("host1.example.com.", dns::rrtype::A, "192.0.2.1")}});     // 102
  XfrHandler h = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::IXFR, 100);
  auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
  std::vector<dns::RR> rrs = drain(*stream).records();
  std::vector<std::string> got;
  for (const dns::RR& rr : rrs) {
    got.push_back(rr.type == dns::rrtype::SOA ? "SOA " + std::to_string(dns::soa_decode(rr.rdata)->serial) : text(rr));
  }
  std::vector<std::string> want = {"SOA 102", "SOA 100", "SOA 101", text(record("new.example.com.", dns::rrtype::A, "192.0.2.200")),
                                   "SOA 101", text(record("host1.example.com.", dns::rrtype::A, "192.0.2.1")), "SOA 102",
                                   "SOA 102"};
  EXPECT_EQ(got, want);
  EXPECT_EQ(h.counters().ixfr.load(), 1u);
}

TEST_F(XfrTest, IxfrFromASerialOlderThanTheJournalGetsTheWholeZone) {
  for (int i = 0; i < 6; ++i) change({{store::OpKind::Add, record("x" + std::to_string(i) + ".example.com.", dns::rrtype::A, "192.0.2.5")}});
  // The journal keeps 3 entries: condensing kept serial 100 reachable, 101 is not.
  XfrHandler h = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::IXFR, 101);
  auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
  std::vector<dns::RR> rrs = drain(*stream).records();
  ASSERT_EQ(rrs.size(), store_.snapshot()->record_count() + 1);
  EXPECT_EQ(rrs.front().type, dns::rrtype::SOA);
  EXPECT_NE(rrs[1].type, dns::rrtype::SOA);  // AXFR form: no diff sequence
  EXPECT_EQ(h.counters().ixfr_full.load(), 1u);
}

TEST_F(XfrTest, IxfrAtOrAheadOfTheCurrentSerialGetsTheSoaAlone) {
  XfrHandler h = handler(loopback_acl());
  for (uint32_t serial : {100u, 150u}) {
    std::string q = query("example.com.", dns::rrtype::IXFR, serial);
    auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
    Response r = drain(*stream);
    ASSERT_EQ(r.messages.size(), 1u);
    ASSERT_EQ(r.records().size(), 1u);
    EXPECT_EQ(dns::soa_decode(r.records()[0].rdata)->serial, 100u);
  }
}

// An online-signed zone's private keys live in the zone as SIGNING_KEY
// records; a transfer carries what they publish (DNSKEY) and never them.
TEST_F(XfrTest, TransfersOfAnOnlineSignedZoneNeverCarryItsPrivateKeys) {
  dns::SigningKeyRecord key;
  key.flags = dns::kDnskeyZone | dns::kDnskeySep;
  key.algorithm = dns::kAlgEcdsaP256Sha256;
  key.private_der = dns::SigningKey::generate(key.algorithm).value().private_der();
  change({{store::OpKind::AddSigningKey,
           dns::RR{name("example.com."), dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, key.encode()}}});  // 101
  XfrHandler h = handler(loopback_acl());
  for (std::optional<uint32_t> ixfr_from : {std::optional<uint32_t>(), std::optional<uint32_t>(100)}) {
    std::string q = query("example.com.", ixfr_from ? dns::rrtype::IXFR : dns::rrtype::AXFR, ixfr_from);
    auto stream = h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_));
    std::vector<dns::RR> rrs = drain(*stream).records();
    ASSERT_FALSE(rrs.empty());
    EXPECT_EQ(std::count_if(rrs.begin(), rrs.end(), [](const dns::RR& rr) { return rr.type == dns::rrtype::DNSKEY; }), 1)
        << (ixfr_from ? "IXFR" : "AXFR");
    for (const dns::RR& rr : rrs) EXPECT_NE(rr.type, dns::rrtype::SIGNING_KEY) << (ixfr_from ? "IXFR" : "AXFR");
    // Nor does any message hold the private key's bytes in any other form.
    for (const std::string& raw : drain(*h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                                                  reinterpret_cast<sockaddr*>(&local_)))
                                      .raw) {
      EXPECT_EQ(raw.find(key.private_der), std::string::npos);
    }
  }
}

TEST_F(XfrTest, TheAclRefusesOtherSourcesAndUnsignedRequestsWhereAKeyIsRequired) {
  XfrHandler by_address = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::AXFR);
  Response r = drain(*by_address.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                                       reinterpret_cast<sockaddr*>(&remote_)));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].header.rcode(), dns::rcode::REFUSED);

  TransferAcl keyed;
  keyed.keys = std::vector<dns::Name>{name("xfr-key.")};
  XfrHandler by_key = handler(keyed);
  r = drain(*by_key.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_)));
  EXPECT_EQ(r.messages.at(0).header.rcode(), dns::rcode::REFUSED);
  // Signed with a valid key that the ACL does not list: refused, signed.
  std::string other = query("example.com.", dns::rrtype::AXFR, std::nullopt, &other_key_);
  r = drain(*by_key.start(reinterpret_cast<const uint8_t*>(other.data()), other.size(), reinterpret_cast<sockaddr*>(&local_)));
  EXPECT_EQ(r.messages.at(0).header.rcode(), dns::rcode::REFUSED);
  EXPECT_TRUE(r.messages.at(0).tsig.has_value());
  // No ACL at all: nobody.
  XfrHandler none = handler(TransferAcl{});
  r = drain(*none.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_)));
  EXPECT_EQ(r.messages.at(0).header.rcode(), dns::rcode::REFUSED);
  EXPECT_EQ(none.counters().refused.load(), 1u);
}

TEST_F(XfrTest, ABadSignatureIsNotAuthAndAZoneNotServedIsNotAuth) {
  TransferAcl keyed;
  keyed.keys = std::vector<dns::Name>{name("xfr-key.")};
  XfrHandler h = handler(keyed);
  dns::tsig::Key wrong = key_;
  wrong.secret[0] ^= 1;
  std::string q = query("example.com.", dns::rrtype::AXFR, std::nullopt, &wrong);
  Response r = drain(*h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_)));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].header.rcode(), dns::rcode::NOTAUTH);
  ASSERT_TRUE(r.messages[0].tsig.has_value());
  EXPECT_EQ(dns::tsig::parse_rdata(r.messages[0].tsig->rdata)->error, dns::rcode::BADSIG);

  std::string elsewhere = query("example.org.", dns::rrtype::AXFR, std::nullopt, &key_);
  r = drain(*h.start(reinterpret_cast<const uint8_t*>(elsewhere.data()), elsewhere.size(),
                     reinterpret_cast<sockaddr*>(&local_)));
  EXPECT_EQ(r.messages.at(0).header.rcode(), dns::rcode::NOTAUTH);
}

TEST_F(XfrTest, ASignedTransferVerifiesMessageByMessage) {
  TransferAcl keyed;
  keyed.keys = std::vector<dns::Name>{name("xfr-key.")};
  XfrHandler h = handler(keyed);
  std::string mac;
  std::string q = query("example.com.", dns::rrtype::AXFR, std::nullopt, &key_, &mac);
  Response r = drain(*h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&remote_)));
  ASSERT_GT(r.messages.size(), 1u);
  dns::tsig::StreamVerifier verifier(key_, mac);
  for (size_t i = 0; i < r.raw.size(); ++i) {
    ASSERT_TRUE(r.messages[i].tsig.has_value()) << "message " << i;
    EXPECT_LE(r.raw[i].size(), 65535u);
    auto v = verifier.add(reinterpret_cast<const uint8_t*>(r.raw[i].data()), r.raw[i].size(), r.messages[i], kNow);
    EXPECT_EQ(v.error, 0) << "message " << i << ": " << v.reason;
  }
  // A message altered in flight does not verify.
  dns::tsig::StreamVerifier again(key_, mac);
  std::string first = r.raw[0];
  ASSERT_EQ(again.add(reinterpret_cast<const uint8_t*>(first.data()), first.size(), r.messages[0], kNow).error, 0);
  std::string second = r.raw[1];
  second[second.size() / 2] ^= 1;
  auto parsed = dns::parse_message(reinterpret_cast<const uint8_t*>(second.data()), second.size());
  if (parsed) {
    EXPECT_NE(again.add(reinterpret_cast<const uint8_t*>(second.data()), second.size(), *parsed, kNow).error, 0);
  }
}

}  // namespace
}  // namespace server

namespace server {
namespace {

TEST(NotifyMessage, CarriesTheZoneAndItsSoaAndIsSignedWhenAKeyIsGiven) {
  const dns::RR soa = record("example.com.", dns::rrtype::SOA, "ns1.example.com. host.example.com. 42 3600 900 604800 300");
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  std::string msg = Notifier::build(0x5151, soa, key, kNow);
  auto m = dns::parse_message(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  ASSERT_TRUE(m) << m.error().message;
  // RFC 1996 §3.7: opcode NOTIFY, AA, the zone's SOA as the question, the SOA in the answer.
  EXPECT_EQ(m->header.opcode(), dns::opcode::NOTIFY);
  EXPECT_TRUE(m->header.flags & dns::flag::AA);
  EXPECT_FALSE(m->header.flags & dns::flag::QR);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].qtype, dns::rrtype::SOA);
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(dns::soa_decode(m->answers[0].rdata)->serial, 42u);
  ASSERT_TRUE(m->tsig.has_value());
  auto v = dns::tsig::verify(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), *m, {key}, kNow);
  EXPECT_EQ(v.error, 0) << v.reason;
  std::string plain = Notifier::build(1, soa, std::nullopt, kNow);
  EXPECT_FALSE(dns::parse_message(reinterpret_cast<const uint8_t*>(plain.data()), plain.size())->tsig.has_value());
}

}  // namespace
}  // namespace server

namespace server {
namespace {

std::vector<std::string> texts(const std::vector<dns::RR>& rrs) {
  std::vector<std::string> out;
  for (const dns::RR& rr : rrs) out.push_back(text(rr));
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(XfrTest, ATransferReaderGetsBackTheJournalsDiffsAndTheWholeZone) {
  change({{store::OpKind::Add, record("new.example.com.", dns::rrtype::A, "192.0.2.200")},
          {store::OpKind::Remove, record("host7.example.com.", dns::rrtype::A, "192.0.2.7")}});
  change({{store::OpKind::Add, record("host8.example.com.", dns::rrtype::A, "192.0.2.8", 60)}});  // a TTL change
  XfrHandler h = handler(loopback_acl());
  std::string q = query("example.com.", dns::rrtype::IXFR, 100);
  Response r = drain(*h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local_)));
  TransferReader incremental(100);
  for (const auto& m : r.messages) ASSERT_TRUE(incremental.add(m.answers));
  ASSERT_TRUE(incremental.done());
  ASSERT_EQ(incremental.kind(), TransferReader::Kind::Incremental);
  const store::ZoneJournal& journal = *store_.version()->journal(name("example.com."));
  ASSERT_EQ(incremental.diffs().size(), journal.size());
  for (size_t i = 0; i < journal.size(); ++i) {
    EXPECT_EQ(incremental.diffs()[i].from_serial(), journal[i]->from_serial());
    EXPECT_EQ(incremental.diffs()[i].to_serial(), journal[i]->to_serial());
    EXPECT_EQ(texts(incremental.diffs()[i].removed), texts(journal[i]->removed));
    EXPECT_EQ(texts(incremental.diffs()[i].added), texts(journal[i]->added));
  }
  EXPECT_EQ(texts(incremental.diffs()[1].removed), texts({record("host8.example.com.", dns::rrtype::A, "192.0.2.8")}));

  std::string a = query("example.com.", dns::rrtype::AXFR);
  r = drain(*h.start(reinterpret_cast<const uint8_t*>(a.data()), a.size(), reinterpret_cast<sockaddr*>(&local_)));
  TransferReader full;
  for (const auto& m : r.messages) ASSERT_TRUE(full.add(m.answers));
  ASSERT_TRUE(full.done());
  EXPECT_EQ(full.kind(), TransferReader::Kind::Full);
  std::vector<dns::RR> zone;
  store_.snapshot()->for_each_record([&](const dns::RR& rr) {
    if (rr.type != dns::rrtype::SOA) zone.push_back(rr);
  });
  EXPECT_EQ(texts(full.records()), texts(zone));

  std::string current = query("example.com.", dns::rrtype::IXFR, 102);
  r = drain(*h.start(reinterpret_cast<const uint8_t*>(current.data()), current.size(), reinterpret_cast<sockaddr*>(&local_)));
  TransferReader up_to_date(102);
  for (const auto& m : r.messages) ASSERT_TRUE(up_to_date.add(m.answers));
  EXPECT_TRUE(up_to_date.done());
  EXPECT_EQ(up_to_date.kind(), TransferReader::Kind::UpToDate);
}

TEST(TransferReader, RefusesMalformedSequences) {
  const dns::RR soa5 = record("example.com.", dns::rrtype::SOA, "ns1.example.com. host.example.com. 5 3600 900 604800 300");
  const dns::RR soa6 = record("example.com.", dns::rrtype::SOA, "ns1.example.com. host.example.com. 6 3600 900 604800 300");
  const dns::RR a = record("a.example.com.", dns::rrtype::A, "192.0.2.1");
  EXPECT_FALSE(TransferReader().add({a}));                          // no SOA first
  EXPECT_FALSE(TransferReader().add({soa6, a, soa5}));              // ends with another serial
  EXPECT_FALSE(TransferReader().add({soa6, soa5}));                 // AXFR with a second SOA
  TransferReader after_end;
  ASSERT_TRUE(after_end.add({soa6, a, soa6}));
  EXPECT_FALSE(after_end.add({a}));                                 // records after the end
  EXPECT_FALSE(TransferReader(4).add({soa6, soa5, a, soa6, a, soa5})); // a diff not from the previous serial
}

}  // namespace
}  // namespace server

namespace server {
namespace {

TEST(XfrWrap, AnIxfrChainAcrossTheSerialWrapGoesOutAsOneCondensedDifference) {
  store::Store s;
  store::Change seed;
  seed.ops.push_back({store::OpKind::Add, record("wrap.test.", dns::rrtype::SOA,
                                                 "ns1.wrap.test. host.wrap.test. 4294967294 3600 900 604800 300")});
  ASSERT_TRUE(s.apply(seed, 1).all_ok());
  for (int i = 0; i < 4; ++i) {
    store::Change c;
    c.ops.push_back({store::OpKind::Add, record("h" + std::to_string(i) + ".wrap.test.", dns::rrtype::A, "192.0.2.1")});
    ASSERT_TRUE(s.apply(c, static_cast<uint64_t>(i) + 2).all_ok());
  }
  XfrOptions o;
  o.acl.allow = std::vector<Network>{Network::parse("127.0.0.0/8").value()};
  o.now = [] { return kNow; };
  XfrHandler h(s, std::move(o));
  sockaddr_in local = addr("127.0.0.1");
  auto ask = [&](uint32_t from) {
    std::string q = query("wrap.test.", dns::rrtype::IXFR, from);
    Response r = drain(*h.start(reinterpret_cast<const uint8_t*>(q.data()), q.size(), reinterpret_cast<sockaddr*>(&local)));
    TransferReader reader(from);
    for (const auto& m : r.messages) EXPECT_TRUE(reader.add(m.answers));
    EXPECT_TRUE(reader.done());
    return reader;
  };
  // From 4294967294 to 2 crosses the wrap: one difference, every record added.
  TransferReader across = ask(4294967294u);
  ASSERT_EQ(across.kind(), TransferReader::Kind::Incremental);
  ASSERT_EQ(across.diffs().size(), 1u);
  EXPECT_EQ(across.diffs()[0].from_serial(), 4294967294u);
  EXPECT_EQ(across.diffs()[0].to_serial(), 2u);
  EXPECT_EQ(across.diffs()[0].added.size(), 4u);
  // From 0 to 2 does not: the journal's own diffs, one by one.
  TransferReader after = ask(0);
  EXPECT_EQ(after.diffs().size(), 2u);
}

}  // namespace
}  // namespace server
