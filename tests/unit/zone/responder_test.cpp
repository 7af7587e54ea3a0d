// The responder: packet checks (drop, FORMERR, NOTIMP, REFUSED), EDNS,
// truncation, flags and case echo, on whole wire messages.
#include "server/responder.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dns/message.h"
#include "zone_test_util.h"

using zone_test::name;
using zone_test::rr;

namespace {

zone::ZoneSet test_zones() {
  std::vector<std::string> l = {
      "example. 3600 SOA ns1.example. admin.example. 1 7200 3600 1209600 300",
      "example. 3600 NS ns1.example.",
      "ns1.example. 3600 A 192.0.2.53",
      "www.example. 3600 A 192.0.2.80",
      "sub.example. 3600 NS ns.sub.example.",
      "ns.sub.example. 3600 A 192.0.2.200",
  };
  // A TXT RRset of about 2 KB: fits only over TCP or with a large EDNS size.
  for (int i = 0; i < 10; ++i) l.push_back("big.example. 60 TXT \"" + std::to_string(i) + std::string(200, 'x') + "\"");
  // An MX RRset whose answer fits in 512 octets but whose targets' addresses do not.
  for (int i = 0; i < 12; ++i) {
    const std::string target = "mx" + std::to_string(i) + ".example.";
    l.push_back("mail.example. 60 MX " + std::to_string(i) + " " + target);
    for (int j = 0; j < 4; ++j) l.push_back(target + " 60 AAAA 2001:db8::" + std::to_string(i * 10 + j + 1));
  }
  return zone_test::zones(l);
}

struct QueryOptions {
  uint16_t id = 0x1234;
  uint16_t flags = dns::flag::RD;
  uint16_t qclass = dns::rrclass::IN;
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t edns_version = 0;
};

std::vector<uint8_t> make_query(const std::string& qname, uint16_t qtype, QueryOptions o = {}) {
  std::vector<uint8_t> buf(512);
  dns::MessageWriter w(buf.data(), buf.size());
  dns::Header h;
  h.id = o.id;
  h.flags = o.flags;
  w.set_header(h);
  EXPECT_TRUE(w.add_question(name(qname), qtype, o.qclass));
  if (o.edns) {
    EXPECT_TRUE(w.add_opt(o.udp_size, 0, o.edns_version, 0));
  }
  buf.resize(w.finish());
  return buf;
}

struct Responder : ::testing::Test {
  zone::ZoneSet zones = test_zones();
  std::vector<uint8_t> out = std::vector<uint8_t>(65535);
  server::ResponseInfo info;
  size_t len = 0;

  dns::Message ask(const std::vector<uint8_t>& q, bool tcp = false) {
    len = server::respond(zones, q.data(), q.size(), out.data(), out.size(), tcp, &info);
    EXPECT_GT(len, 0u);
    auto m = dns::parse_message(out.data(), len);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return m.ok() ? m.value() : dns::Message{};
  }
};

TEST_F(Responder, PacketShorterThanHeaderIsDropped) {
  const uint8_t q[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(server::respond(zones, q, sizeof q, out.data(), out.size(), false), 0u);
}

TEST_F(Responder, ResponseIsNeverAnswered) {
  auto q = make_query("www.example.", dns::rrtype::A, {.flags = dns::flag::QR});
  EXPECT_EQ(server::respond(zones, q.data(), q.size(), out.data(), out.size(), false), 0u);
}

TEST_F(Responder, TruncatedQuestionGetsFormErrWithIdAndRd) {
  auto q = make_query("www.example.", dns::rrtype::A);
  q.resize(q.size() - 3);
  auto m = ask(q);
  EXPECT_EQ(m.header.id, 0x1234);
  EXPECT_EQ(m.rcode(), dns::rcode::FORMERR);
  EXPECT_TRUE(m.header.flags & dns::flag::QR);
  EXPECT_TRUE(m.header.flags & dns::flag::RD);
  EXPECT_EQ(m.header.qdcount, 0);
  EXPECT_EQ(info.rcode, dns::rcode::FORMERR);
}

TEST_F(Responder, HeaderOnlyQueryGetsFormErr) {
  auto q = make_query("www.example.", dns::rrtype::A);
  q.resize(dns::kHeaderSize);
  q[5] = 0;  // QDCOUNT 0
  EXPECT_EQ(ask(q).rcode(), dns::rcode::FORMERR);
}

TEST_F(Responder, TwoQuestionsGetFormErr) {
  auto q = make_query("www.example.", dns::rrtype::A);
  q[5] = 2;
  EXPECT_EQ(ask(q).rcode(), dns::rcode::FORMERR);
}

TEST_F(Responder, CompressionLoopInQuestionGetsFormErr) {
  std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  EXPECT_EQ(ask(q).rcode(), dns::rcode::FORMERR);
}

TEST_F(Responder, OtherOpcodesGetNotImpWithQuestion) {
  for (uint8_t op : {dns::opcode::NOTIFY, uint8_t{2}, dns::opcode::UPDATE}) {
    auto m = ask(make_query("www.example.", dns::rrtype::A, {.flags = static_cast<uint16_t>(op << 11)}));
    EXPECT_EQ(m.rcode(), dns::rcode::NOTIMP) << int(op);
    EXPECT_EQ(m.header.opcode(), op);
    EXPECT_EQ(m.questions.size(), 1u);
    EXPECT_FALSE(m.header.flags & dns::flag::AA);
  }
}

TEST_F(Responder, AuthoritativeAnswerHasAaAndEchoesRdNeverRa) {
  auto m = ask(make_query("www.example.", dns::rrtype::A));
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  EXPECT_EQ(m.header.flags & 0xFFF0, dns::flag::QR | dns::flag::AA | dns::flag::RD);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].owner, name("www.example."));
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::A, m.answers[0].rdata), "192.0.2.80");
  EXPECT_FALSE(m.edns.has_value()) << "no OPT without one in the query";

  auto m2 = ask(make_query("www.example.", dns::rrtype::A, {.flags = 0}));
  EXPECT_EQ(m2.header.flags & 0xFFF0, dns::flag::QR | dns::flag::AA);
}

TEST_F(Responder, QuestionCaseIsEchoed) {
  auto q = make_query("WwW.ExAmPlE.", dns::rrtype::A);
  auto m = ask(q);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name.wire(), name("WwW.ExAmPlE.").wire());
  EXPECT_EQ(m.answers.size(), 1u);
}

TEST_F(Responder, ReferralHasAaClearAndGlue) {
  auto m = ask(make_query("www.sub.example.", dns::rrtype::A));
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  EXPECT_FALSE(m.header.flags & dns::flag::AA);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.authorities.size(), 1u);
  EXPECT_EQ(m.authorities[0].type, dns::rrtype::NS);
  ASSERT_EQ(m.additionals.size(), 1u);
  EXPECT_EQ(m.additionals[0].owner, name("ns.sub.example."));
}

TEST_F(Responder, NxDomainHasSoaWithNegativeTtl) {
  auto m = ask(make_query("nope.example.", dns::rrtype::A));
  EXPECT_EQ(m.rcode(), dns::rcode::NXDOMAIN);
  EXPECT_TRUE(m.header.flags & dns::flag::AA);
  ASSERT_EQ(m.authorities.size(), 1u);
  EXPECT_EQ(m.authorities[0].type, dns::rrtype::SOA);
  EXPECT_EQ(m.authorities[0].ttl, 300u);
}

TEST_F(Responder, NameOutsideZonesIsRefused) {
  auto m = ask(make_query("www.example.org.", dns::rrtype::A));
  EXPECT_EQ(m.rcode(), dns::rcode::REFUSED);
  EXPECT_FALSE(m.header.flags & dns::flag::AA);
  EXPECT_EQ(m.questions.size(), 1u);
}

TEST_F(Responder, ClassChIsRefusedClassAnyIsAnswered) {
  EXPECT_EQ(ask(make_query("www.example.", dns::rrtype::A, {.qclass = dns::rrclass::CH})).rcode(), dns::rcode::REFUSED);
  auto m = ask(make_query("www.example.", dns::rrtype::A, {.qclass = dns::rrclass::ANY}));
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  EXPECT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].rclass, dns::rrclass::IN);
}

TEST_F(Responder, AxfrOverUdpIsNotImpAndTransfersOverTcpWithoutAHandlerAreRefused) {
  EXPECT_EQ(ask(make_query("example.", dns::rrtype::AXFR)).rcode(), dns::rcode::NOTIMP);
  EXPECT_EQ(ask(make_query("example.", dns::rrtype::AXFR), true).rcode(), dns::rcode::REFUSED);
  EXPECT_EQ(ask(make_query("example.", dns::rrtype::IXFR), true).rcode(), dns::rcode::REFUSED);
}

TEST_F(Responder, IxfrOverUdpGetsTheSoaAlone) {
  // RFC 1995 §2: the client learns the serial and asks over TCP if it must.
  auto m = ask(make_query("example.", dns::rrtype::IXFR));
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  EXPECT_TRUE(m.header.flags & dns::flag::AA);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].type, dns::rrtype::SOA);
  EXPECT_TRUE(m.authorities.empty());
  EXPECT_EQ(ask(make_query("www.example.", dns::rrtype::IXFR)).rcode(), dns::rcode::NOTAUTH);
}

TEST_F(Responder, OptInQueryGetsOptAdvertising1232) {
  auto m = ask(make_query("www.example.", dns::rrtype::A, {.edns = true, .udp_size = 4096}));
  ASSERT_TRUE(m.edns.has_value());
  EXPECT_EQ(m.edns->udp_size, 1232);
  EXPECT_EQ(m.edns->version, 0);
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
}

TEST_F(Responder, EdnsVersionAboveZeroGetsBadvers_Rfc6891_6_1_3) {
  auto m = ask(make_query("www.example.", dns::rrtype::A, {.edns = true, .edns_version = 1}));
  ASSERT_TRUE(m.edns.has_value());
  EXPECT_EQ(m.rcode(), dns::rcode::BADVERS);
  EXPECT_EQ(m.header.rcode(), 0) << "the low 4 bits of BADVERS (16) are zero";
  EXPECT_EQ(m.edns->ext_rcode, 1);
  EXPECT_EQ(m.edns->version, 0);
  EXPECT_TRUE(m.answers.empty());
}

TEST_F(Responder, AnswerTooBigForUdpSetsTcAndKeepsQuestion) {
  auto m = ask(make_query("big.example.", dns::rrtype::TXT));
  EXPECT_LE(len, 512u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  EXPECT_TRUE(info.truncated);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, name("big.example."));
  EXPECT_TRUE(m.answers.empty());
  EXPECT_TRUE(m.header.flags & dns::flag::AA);
}

TEST_F(Responder, TruncatedEdnsAnswerKeepsOpt) {
  auto m = ask(make_query("big.example.", dns::rrtype::TXT, {.edns = true, .udp_size = 1232}));
  EXPECT_LE(len, 1232u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  EXPECT_TRUE(m.edns.has_value());
}

TEST_F(Responder, SmallEdnsSizeMeans512) {
  // RFC 6891 §6.2.5: an advertised size below 512 is treated as 512.
  auto m = ask(make_query("mail.example.", dns::rrtype::MX, {.edns = true, .udp_size = 100}));
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 12u);
  EXPECT_GT(len, 100u);
  EXPECT_LE(len, 512u);
}

TEST_F(Responder, LargeEdnsSizeAvoidsTruncationUpToOurCap) {
  // The client's 4096 counts only up to max_udp_payload (1232 by default).
  const auto q = make_query("big.example.", dns::rrtype::TXT, {.edns = true, .udp_size = 4096});
  auto capped = ask(q);
  EXPECT_TRUE(capped.header.flags & dns::flag::TC);
  EXPECT_LE(len, 1232u);
  server::RespondOptions o;
  o.max_udp_payload = 4096;
  len = server::respond(zones, q.data(), q.size(), out.data(), out.size(), o, &info);
  auto m = dns::parse_message(out.data(), len).value();
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 10u);
}

TEST_F(Responder, TcpIsNotTruncated) {
  auto m = ask(make_query("big.example.", dns::rrtype::TXT), true);
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_FALSE(info.truncated);
  EXPECT_EQ(m.answers.size(), 10u);
}

TEST_F(Responder, AdditionalThatDoesNotFitIsOmittedWithoutTc) {
  auto m = ask(make_query("mail.example.", dns::rrtype::MX));
  EXPECT_LE(len, 512u);
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 12u);
  EXPECT_LT(m.additionals.size(), 48u);
  EXPECT_EQ(m.additionals.size() % 4, 0u) << "whole RRsets only";
  auto full = ask(make_query("mail.example.", dns::rrtype::MX), true);
  EXPECT_EQ(full.additionals.size(), 48u);
}

TEST_F(Responder, RandomPacketsNeverCrashAndNeverOverrun) {
  std::mt19937 rng(42);
  auto base = make_query("www.example.", dns::rrtype::A, {.edns = true});
  std::vector<uint8_t> small(600);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> q = base;
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) q[rng() % q.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) q.resize(rng() % (q.size() + 1));
    const size_t n = server::respond(zones, q.data(), q.size(), small.data(), 512, false);
    ASSERT_LE(n, 512u);
    if (n > 0) {
      ASSERT_TRUE(dns::parse_message(small.data(), n).ok() || n == dns::kHeaderSize);
    }
  }
}

}  // namespace
