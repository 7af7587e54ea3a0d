// The query port's defences in the responder: UDP answers capped at
// max_udp_payload whatever EDNS size the client claims, and TSIG on queries
// (RFC 8945): signed answers, NOTAUTH with BADKEY/BADSIG/BADTIME, TC + signed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../zone/zone_test_util.h"
#include "dns/message.h"
#include "dns/tsig.h"
#include "server/responder.h"

namespace {

constexpr uint64_t kNow = 1700000000;
const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

int clock_reads = 0;
uint64_t fixed_clock() {
  ++clock_reads;
  return kNow;
}

zone::ZoneSet test_zones() {
  std::vector<std::string> l = {
      "example. 3600 SOA ns1.example. admin.example. 1 7200 3600 1209600 300",
      "example. 3600 NS ns1.example.",
      "ns1.example. 3600 A 192.0.2.53",
      "www.example. 3600 A 192.0.2.80",
  };
  // A TXT RRset of about 8 KB: the amplifier of a 44-octet query.
  for (int i = 0; i < 40; ++i) l.push_back("big.example. 60 TXT \"" + std::to_string(i) + std::string(200, 'x') + "\"");
  return zone_test::zones(l);
}

std::string query(const std::string& qname, uint16_t qtype, int udp_size = -1, uint8_t opcode = 0) {
  std::vector<uint8_t> buf(512);
  dns::MessageWriter w(buf.data(), buf.size());
  dns::Header h;
  h.id = 0x4321;
  h.flags = static_cast<uint16_t>(dns::flag::RD | (opcode << 11));
  w.set_header(h);
  EXPECT_TRUE(w.add_question(zone_test::name(qname), qtype, dns::rrclass::IN));
  if (udp_size >= 0) {
    EXPECT_TRUE(w.add_opt(static_cast<uint16_t>(udp_size), 0, 0, 0));
  }
  buf.resize(w.finish());
  return std::string(buf.begin(), buf.end());
}

dns::tsig::Key key(const char* name = "query-key.", const char* algorithm = "hmac-sha256",
                   const char* secret = kSecret) {
  return dns::tsig::make_key(name, algorithm, secret).value();
}

struct Guard : ::testing::Test {
  zone::ZoneSet zones = test_zones();
  std::vector<uint8_t> out = std::vector<uint8_t>(65535);
  std::vector<dns::tsig::Key> keys = {key(), key("md5-key.", "hmac-md5")};
  server::RespondOptions options;
  server::ResponseInfo info;
  size_t len = 0;

  Guard() {
    options.tsig_keys = &keys;
    options.now = fixed_clock;
  }

  dns::Message ask(const std::string& q) {
    len = server::respond(zones, reinterpret_cast<const uint8_t*>(q.data()), q.size(), out.data(), out.size(), options,
                          &info);
    EXPECT_GT(len, 0u);
    auto m = dns::parse_message(out.data(), len);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return m.ok() ? m.value() : dns::Message{};
  }
  /// Verifies the answer's TSIG as a client that sent `request_mac`.
  dns::tsig::Verification check(const dns::Message& m, const std::string& request_mac,
                                 const std::vector<dns::tsig::Key>& client_keys) {
    return dns::tsig::verify(out.data(), len, m, client_keys, kNow, request_mac);
  }
};

// ---- max_udp_payload

TEST_F(Guard, HugeEdnsSizeStillGetsAnAnswerNoLargerThan1232) {
  // Before the cap, this 44-octet query drew the whole 8 KB RRset.
  const std::string q = query("big.example.", dns::rrtype::TXT, 65535);
  auto m = ask(q);
  EXPECT_LE(len, 1232u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  EXPECT_TRUE(info.truncated);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.questions.size(), 1u);
  ASSERT_TRUE(m.edns.has_value());  // the OPT stays
  EXPECT_EQ(m.edns->udp_size, 1232);
}

TEST_F(Guard, AnswersUnderTheCapAreWhole) {
  auto m = ask(query("www.example.", dns::rrtype::A, 65535));
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 1u);
}

TEST_F(Guard, TheCapIsConfigurableAndAdvertised) {
  options.max_udp_payload = 4096;
  auto m = ask(query("big.example.", dns::rrtype::TXT, 65535));
  EXPECT_LE(len, 4096u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);  // 8 KB does not fit in 4096 either
  EXPECT_EQ(m.edns->udp_size, 4096);
  zones = zone_test::zones({"example. 3600 SOA ns1.example. admin.example. 1 7200 3600 1209600 300",
                            "mid.example. 60 TXT \"" + std::string(250, 'a') + "\" \"" + std::string(250, 'b') +
                                "\" \"" + std::string(250, 'c') + "\" \"" + std::string(250, 'd') + "\" \"" +
                                std::string(250, 'e') + "\""});
  m = ask(query("mid.example.", dns::rrtype::TXT, 65535));  // about 1,300 octets
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_GT(len, 1232u);
  options.max_udp_payload = 1232;
  m = ask(query("mid.example.", dns::rrtype::TXT, 65535));
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  // The client's own smaller size still counts.
  options.max_udp_payload = 4096;
  m = ask(query("mid.example.", dns::rrtype::TXT, 1000));
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  EXPECT_LE(len, 1000u);
}

TEST_F(Guard, TcpIsNotCapped) {
  options.over_tcp = true;
  auto m = ask(query("big.example.", dns::rrtype::TXT, 1232));
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 40u);
}

// ---- TSIG on queries

TEST_F(Guard, UnsignedQueriesNeverReadTheClock) {
  clock_reads = 0;
  ask(query("www.example.", dns::rrtype::A, 1232));
  ask(query("nothing.example.", dns::rrtype::A));
  EXPECT_EQ(clock_reads, 0);
  EXPECT_FALSE(info.signed_query);
}

TEST_F(Guard, SignedQueryGetsASignedAnswer) {
  std::string q = query("www.example.", dns::rrtype::A, 1232);
  const std::string request_mac = dns::tsig::sign(q, keys[0], kNow - 30);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  EXPECT_TRUE(m.header.flags & dns::flag::AA);
  EXPECT_EQ(m.answers.size(), 1u);
  ASSERT_TRUE(m.tsig);
  ASSERT_TRUE(m.edns);  // OPT before TSIG
  auto v = check(m, request_mac, {keys[0]});
  EXPECT_EQ(v.error, 0) << v.reason;
  EXPECT_EQ(v.rdata.time_signed, kNow);
  EXPECT_TRUE(info.signed_query);
  EXPECT_EQ(info.tsig_error, 0);
}

TEST_F(Guard, HmacMd5SignedQueryGetsASignedAnswer) {
  std::string q = query("www.example.", dns::rrtype::A);
  const std::string request_mac = dns::tsig::sign(q, keys[1], kNow);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOERROR);
  ASSERT_TRUE(m.tsig);
  EXPECT_EQ(check(m, request_mac, {keys[1]}).error, 0);
}

TEST_F(Guard, UnknownKeyIsNotAuthWithAnUnsignedBadKey) {
  std::string q = query("www.example.", dns::rrtype::A, 1232);
  dns::tsig::sign(q, key("stranger."), kNow);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOTAUTH);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_TRUE(m.tsig);
  EXPECT_EQ(m.tsig->owner, zone_test::name("stranger."));
  auto rd = dns::tsig::parse_rdata(m.tsig->rdata).value();
  EXPECT_EQ(rd.error, dns::rcode::BADKEY);
  EXPECT_TRUE(rd.mac.empty());
  EXPECT_EQ(info.tsig_error, dns::rcode::BADKEY);
  // A node with no keys at all answers the same.
  options.tsig_keys = nullptr;
  m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOTAUTH);
  EXPECT_EQ(dns::tsig::parse_rdata(m.tsig->rdata).value().error, dns::rcode::BADKEY);
}

TEST_F(Guard, WrongSecretIsNotAuthWithAnUnsignedBadSig) {
  std::string q = query("www.example.", dns::rrtype::A);
  dns::tsig::sign(q, key("query-key.", "hmac-sha256", "c2VjcmV0c2VjcmV0"), kNow);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOTAUTH);
  EXPECT_TRUE(m.answers.empty());
  auto rd = dns::tsig::parse_rdata(m.tsig->rdata).value();
  EXPECT_EQ(rd.error, dns::rcode::BADSIG);
  EXPECT_TRUE(rd.mac.empty());
}

TEST_F(Guard, StaleTimeIsNotAuthWithASignedBadTimeCarryingOurClock) {
  std::string q = query("www.example.", dns::rrtype::A);
  const std::string request_mac = dns::tsig::sign(q, keys[0], kNow - 3600);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOTAUTH);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_TRUE(m.tsig);
  auto v = dns::tsig::verify(out.data(), len, m, {keys[0]}, kNow - 3600, request_mac);
  ASSERT_EQ(v.error, 0) << v.reason;  // signed with the request's key and time
  EXPECT_EQ(v.rdata.error, dns::rcode::BADTIME);
  EXPECT_EQ(v.rdata.time_signed, kNow - 3600);
  EXPECT_EQ(v.rdata.other, std::string("\x00\x00\x65\x53\xf1\x00", 6));  // kNow (RFC 8945 §5.2.3)
}

TEST_F(Guard, TruncatedSignedAnswerIsStillSigned) {
  std::string q = query("big.example.", dns::rrtype::TXT, 65535);
  const std::string request_mac = dns::tsig::sign(q, keys[0], kNow);
  auto m = ask(q);
  EXPECT_LE(len, 1232u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  ASSERT_TRUE(m.tsig);
  EXPECT_EQ(check(m, request_mac, {keys[0]}).error, 0);
  // Without EDNS: 512 octets, still room for the question and the TSIG.
  q = query("big.example.", dns::rrtype::TXT);
  const std::string mac512 = dns::tsig::sign(q, keys[0], kNow);
  m = ask(q);
  EXPECT_LE(len, 512u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  ASSERT_TRUE(m.tsig);
  EXPECT_EQ(check(m, mac512, {keys[0]}).error, 0);
}

TEST_F(Guard, AnAnswerThatOnlyFitsWithoutTheTsigIsTruncated) {
  // An answer that fills most of 512 octets: with the TSIG it does not fit.
  zones = zone_test::zones({"example. 3600 SOA ns1.example. admin.example. 1 7200 3600 1209600 300",
                            "fat.example. 60 TXT \"" + std::string(200, 'a') + "\" \"" + std::string(200, 'b') + "\""});
  auto plain = ask(query("fat.example.", dns::rrtype::TXT));
  ASSERT_FALSE(plain.header.flags & dns::flag::TC);
  std::string q = query("fat.example.", dns::rrtype::TXT);
  const std::string request_mac = dns::tsig::sign(q, keys[0], kNow);
  auto m = ask(q);
  EXPECT_LE(len, 512u);
  EXPECT_TRUE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(check(m, request_mac, {keys[0]}).error, 0);
}

TEST_F(Guard, SignedQueriesOverTcpAreAnsweredWholeAndSigned) {
  options.over_tcp = true;
  std::string q = query("big.example.", dns::rrtype::TXT);
  const std::string request_mac = dns::tsig::sign(q, keys[0], kNow);
  auto m = ask(q);
  EXPECT_FALSE(m.header.flags & dns::flag::TC);
  EXPECT_EQ(m.answers.size(), 40u);
  EXPECT_EQ(check(m, request_mac, {keys[0]}).error, 0);
}

TEST_F(Guard, ErrorAnswersToSignedQueriesAreSignedToo) {
  std::string q = query("www.example.", dns::rrtype::A, -1, dns::opcode::NOTIFY);
  std::string request_mac = dns::tsig::sign(q, keys[0], kNow);
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::NOTIMP);
  EXPECT_EQ(check(m, request_mac, {keys[0]}).error, 0);
  q = query("elsewhere.test.", dns::rrtype::A);
  request_mac = dns::tsig::sign(q, keys[0], kNow);
  m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::REFUSED);
  EXPECT_EQ(check(m, request_mac, {keys[0]}).error, 0);
}

TEST_F(Guard, MalformedTsigIsFormErrUnsigned) {
  std::string q = query("www.example.", dns::rrtype::A);
  dns::tsig::sign(q, keys[0], kNow);
  // The TSIG's TTL (after owner, type, class) made non-zero.
  const size_t ttl_at = q.size() - dns::tsig::record_size(keys[0]) + keys[0].name.wire_length() + 4;
  q[ttl_at + 3] = 1;
  auto m = ask(q);
  EXPECT_EQ(m.rcode(), dns::rcode::FORMERR);
  EXPECT_FALSE(m.tsig);
}

}  // namespace
