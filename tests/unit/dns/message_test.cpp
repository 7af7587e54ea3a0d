// Unit tests for message parsing and writing: round trips, compression, and
// malformed packets that must yield errors, never crashes or over-reads.
#include "dns/message.h"

#include <gtest/gtest.h>

#include <vector>

namespace dns {
namespace {

Name N(std::string_view s) { return Name::from_text(s).value(); }

std::string rd(uint16_t type, std::string_view text) {
  return rdata_from_text(type, text, N("example.com.")).value();
}

// Builds a raw packet: header with the given counts, then `body`.
std::vector<uint8_t> packet(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar, const std::string& body) {
  std::vector<uint8_t> p(12 + body.size());
  const uint16_t words[6] = {0x1234, 0x0100, qd, an, ns, ar};
  for (size_t i = 0; i < 6; ++i) {
    p[2 * i] = static_cast<uint8_t>(words[i] >> 8);
    p[2 * i + 1] = static_cast<uint8_t>(words[i]);
  }
  for (size_t i = 0; i < body.size(); ++i) p[12 + i] = static_cast<uint8_t>(body[i]);
  return p;
}

const std::string kQuestion = std::string("\7example\3com\0\0\1\0\1", 17);

TEST(ReadName, FollowsBackwardPointers) {
  std::string body = std::string("\7example\3com\0", 13) + std::string("\3www\xC0\x0c", 6);
  auto p = packet(0, 0, 0, 0, body);
  size_t off = 25;
  auto n = read_name(p.data(), p.size(), &off);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, N("www.example.com."));
  EXPECT_EQ(off, 31u);  // just past the pointer
}

TEST(ReadName, RejectsLoopsForwardPointersAndOverreads) {
  // Pointer to itself.
  auto self = packet(0, 0, 0, 0, std::string("\xC0\x0c", 2));
  size_t off = 12;
  EXPECT_FALSE(read_name(self.data(), self.size(), &off).ok());
  EXPECT_EQ(off, 12u);  // offset untouched on error
  // Two names pointing at each other: 12 -> 14, 14 -> 12.
  auto loop = packet(0, 0, 0, 0, std::string("\xC0\x0e\xC0\x0c", 4));
  off = 14;
  EXPECT_FALSE(read_name(loop.data(), loop.size(), &off).ok());
  off = 12;
  EXPECT_FALSE(read_name(loop.data(), loop.size(), &off).ok());
  // A label pointing back into its own sequence: "\1a" then pointer to 12.
  auto inner = packet(0, 0, 0, 0, std::string("\1a\xC0\x0c", 4));
  off = 12;
  EXPECT_FALSE(read_name(inner.data(), inner.size(), &off).ok());
  // Truncated label and truncated pointer.
  auto trunc = packet(0, 0, 0, 0, std::string("\5ab", 3));
  off = 12;
  EXPECT_FALSE(read_name(trunc.data(), trunc.size(), &off).ok());
  auto tptr = packet(0, 0, 0, 0, std::string("\xC0", 1));
  off = 12;
  EXPECT_FALSE(read_name(tptr.data(), tptr.size(), &off).ok());
  // Offset at the end.
  off = tptr.size();
  EXPECT_FALSE(read_name(tptr.data(), tptr.size(), &off).ok());
  // Reserved label types 0x40 / 0x80.
  auto ext = packet(0, 0, 0, 0, std::string("\x41\0", 2));
  off = 12;
  EXPECT_FALSE(read_name(ext.data(), ext.size(), &off).ok());
}

TEST(ReadName, RejectsNamesOver255ViaPointerChains) {
  // 5 segments of 60-octet labels chained backwards: total > 255.
  std::string body;
  std::vector<size_t> starts;
  body += '\0';  // root at 12
  size_t prev = 12;
  for (int i = 0; i < 5; ++i) {
    starts.push_back(12 + body.size());
    body += static_cast<char>(60);
    body += std::string(60, 'a');
    body += static_cast<char>(0xC0 | (prev >> 8));
    body += static_cast<char>(prev & 0xFF);
    prev = starts.back();
  }
  auto p = packet(0, 0, 0, 0, body);
  size_t off = starts[3];  // 4 labels of 60: 245 octets, fits
  EXPECT_TRUE(read_name(p.data(), p.size(), &off).ok());
  off = starts[4];  // 5 labels: too long
  EXPECT_FALSE(read_name(p.data(), p.size(), &off).ok());
}

TEST(ParseMessage, QueryWithEdns) {
  std::string opt = std::string("\0\0\x29\x04\xd0\0\0\x80\0\0\0", 11);
  auto p = packet(1, 0, 0, 1, kQuestion + opt);
  auto m = parse_message(p.data(), p.size());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->header.id, 0x1234);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, N("example.com."));
  EXPECT_EQ(m->questions[0].qtype, rrtype::A);
  ASSERT_TRUE(m->edns.has_value());
  EXPECT_EQ(m->edns->udp_size, 1232);
  EXPECT_EQ(m->edns->flags, 0x8000);
  EXPECT_TRUE(m->additionals.empty());
}

TEST(ParseMessage, EdnsRules) {
  std::string opt = std::string("\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
  auto two = packet(1, 0, 0, 2, kQuestion + opt + opt);
  EXPECT_FALSE(parse_message(two.data(), two.size()).ok());
  std::string named_opt = std::string("\1a\0\0\x29\x04\xd0\0\0\0\0\0\0", 13);
  auto named = packet(1, 0, 0, 1, kQuestion + named_opt);
  EXPECT_FALSE(parse_message(named.data(), named.size()).ok());
  auto in_answer = packet(1, 1, 0, 0, kQuestion + opt);
  EXPECT_FALSE(parse_message(in_answer.data(), in_answer.size()).ok());
  // Option longer than the rdata.
  std::string bad_opt = std::string("\0\0\x29\x04\xd0\0\0\0\0\0\x04\0\x0a\0\x08", 15);
  auto badp = packet(1, 0, 0, 1, kQuestion + bad_opt);
  EXPECT_FALSE(parse_message(badp.data(), badp.size()).ok());
  // Small payload sizes count as 512.
  std::string small = std::string("\0\0\x29\0\x10\0\0\0\0\0\0", 11);
  auto sp = packet(1, 0, 0, 1, kQuestion + small);
  auto m = parse_message(sp.data(), sp.size());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->edns->udp_size, 512);
  bool ok = false;
  EXPECT_FALSE(parse_query(two.data(), two.size(), &ok).ok());
  EXPECT_TRUE(ok);
  EXPECT_FALSE(parse_query(named.data(), named.size(), &ok).ok());
  EXPECT_FALSE(parse_query(in_answer.data(), in_answer.size(), &ok).ok());
  EXPECT_FALSE(parse_query(badp.data(), badp.size(), &ok).ok());
}

TEST(ParseMessage, TsigMustBeLast) {
  std::string tsig = std::string("\3key\0\0\xfa\0\xff\0\0\0\0\0\0", 15);
  std::string a = std::string("\xC0\x0c\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4", 16);
  auto last = packet(1, 0, 0, 2, kQuestion + a + tsig);
  auto m = parse_message(last.data(), last.size());
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(m->tsig.has_value());
  EXPECT_EQ(m->tsig_offset, 12u + kQuestion.size() + a.size());
  EXPECT_EQ(m->additionals.size(), 1u);
  auto notlast = packet(1, 0, 0, 2, kQuestion + tsig + a);
  EXPECT_FALSE(parse_message(notlast.data(), notlast.size()).ok());
  bool ok;
  EXPECT_FALSE(parse_query(notlast.data(), notlast.size(), &ok).ok());
  auto q = parse_query(last.data(), last.size(), &ok);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->has_tsig);
}

TEST(ParseMessage, MalformedInputsAreErrors) {
  std::vector<uint8_t> shorty = {1, 2, 3};
  EXPECT_FALSE(parse_message(shorty.data(), shorty.size()).ok());
  bool ok = true;
  EXPECT_FALSE(parse_query(shorty.data(), shorty.size(), &ok).ok());
  EXPECT_FALSE(ok);
  // Counts that lie.
  auto lie = packet(1, 3, 0, 0, kQuestion);
  EXPECT_FALSE(parse_message(lie.data(), lie.size()).ok());
  EXPECT_FALSE(parse_query(lie.data(), lie.size(), &ok).ok());
  EXPECT_TRUE(ok);
  auto qlie = packet(2, 0, 0, 0, kQuestion);
  EXPECT_FALSE(parse_message(qlie.data(), qlie.size()).ok());
  // Truncated question.
  auto tq = packet(1, 0, 0, 0, kQuestion.substr(0, 15));
  EXPECT_FALSE(parse_message(tq.data(), tq.size()).ok());
  EXPECT_FALSE(parse_query(tq.data(), tq.size(), &ok).ok());
  // rdata longer than what remains.
  std::string a = std::string("\xC0\x0c\0\1\0\1\0\0\0\x3c\0\x08\1\2\3\4", 16);
  auto tr = packet(1, 1, 0, 0, kQuestion + a);
  EXPECT_FALSE(parse_message(tr.data(), tr.size()).ok());
  // A record whose rdata is not 4 octets.
  std::string a3 = std::string("\xC0\x0c\0\1\0\1\0\0\0\x3c\0\x03\1\2\3", 15);
  auto bad_a = packet(1, 1, 0, 0, kQuestion + a3);
  EXPECT_FALSE(parse_message(bad_a.data(), bad_a.size()).ok());
  // Forward pointer in the question.
  auto fwd = packet(1, 0, 0, 0, std::string("\xC0\x20\0\1\0\1", 6) + std::string(30, '\0'));
  EXPECT_FALSE(parse_message(fwd.data(), fwd.size()).ok());
  EXPECT_FALSE(parse_query(fwd.data(), fwd.size(), &ok).ok());
  // Zero or two questions in a query.
  auto none = packet(0, 0, 0, 0, "");
  EXPECT_TRUE(parse_message(none.data(), none.size()).ok());
  EXPECT_FALSE(parse_query(none.data(), none.size(), &ok).ok());
}

TEST(ParseMessage, UpdateRecordsWithEmptyRdataOfClassAnyOrNone) {
  // RFC 2136: zone section, one prerequisite "RRset exists" (ANY, A, rdlen 0),
  // one update "delete RRset" (ANY, A, rdlen 0) and "RRset does not exist" (NONE).
  std::string zone = std::string("\7example\3com\0\0\6\0\1", 17);
  std::string any_a = std::string("\xC0\x0c\0\1\0\xff\0\0\0\0\0\0", 12);
  std::string none_a = std::string("\xC0\x0c\0\1\0\xfe\0\0\0\0\0\0", 12);
  auto p = packet(1, 2, 1, 0, zone + any_a + none_a + any_a);
  p[2] = 0x28;  // opcode UPDATE
  auto m = parse_message(p.data(), p.size());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->header.opcode(), opcode::UPDATE);
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].rclass, rrclass::ANY);
  EXPECT_TRUE(m->answers[0].rdata.empty());
  EXPECT_EQ(m->answers[1].rclass, rrclass::NONE);
  ASSERT_EQ(m->authorities.size(), 1u);
  // Class IN with empty A rdata is still malformed.
  std::string in_a = std::string("\xC0\x0c\0\1\0\1\0\0\0\0\0\0", 12);
  auto bad = packet(1, 0, 1, 0, zone + in_a);
  EXPECT_FALSE(parse_message(bad.data(), bad.size()).ok());
}

TEST(ParseMessage, EveryTruncationOfAValidMessageFailsCleanly) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  ASSERT_TRUE(w.add_question(N("www.example.com."), rrtype::MX, rrclass::IN));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("www.example.com."), rrtype::MX, rrclass::IN, 60, rd(rrtype::MX, "10 mail")));
  ASSERT_TRUE(w.add_rr(Section::Authority, N("example.com."), rrtype::SOA, rrclass::IN, 60,
                       rd(rrtype::SOA, "ns1 hostmaster 1 2 3 4 5")));
  ASSERT_TRUE(w.add_rr(Section::Additional, N("mail.example.com."), rrtype::A, rrclass::IN, 60, rd(rrtype::A, "192.0.2.1")));
  size_t n = w.finish();
  ASSERT_TRUE(parse_message(buf.data(), n).ok());
  for (size_t cut = 0; cut < n; ++cut) {
    std::vector<uint8_t> part(buf.begin(), buf.begin() + static_cast<long>(cut));
    EXPECT_FALSE(parse_message(part.data(), part.size()).ok()) << cut;
  }
  // Flip every byte: must never crash (ASan checks reads).
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint8_t> copy(buf.begin(), buf.begin() + static_cast<long>(n));
    copy[i] ^= 0xFF;
    (void)parse_message(copy.data(), copy.size());
    bool ok;
    (void)parse_query(copy.data(), copy.size(), &ok);
  }
}

TEST(MessageWriter, RoundTripWithCompression) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  Header h;
  h.id = 77;
  h.flags = flag::QR | flag::AA;
  w.set_header(h);
  ASSERT_TRUE(w.add_question(N("example.com."), rrtype::ANY, rrclass::IN));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::MX, rrclass::IN, 300, rd(rrtype::MX, "10 mail")));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::NS, rrclass::IN, 300, rd(rrtype::NS, "ns1")));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::SOA, rrclass::IN, 300,
                       rd(rrtype::SOA, "ns1 hostmaster 2024 3600 900 604800 300")));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("_sip._udp.example.com."), rrtype::SRV, rrclass::IN, 300,
                       rd(rrtype::SRV, "1 2 5060 sip.example.com.")));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::TXT, rrclass::IN, 300, rd(rrtype::TXT, "\"v=spf1 -all\"")));
  ASSERT_TRUE(w.add_rr(Section::Additional, N("mail.example.com."), rrtype::A, rrclass::IN, 300, rd(rrtype::A, "192.0.2.25")));
  size_t n = w.finish();
  EXPECT_EQ(n, w.size());
  auto m = parse_message(buf.data(), n);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->header.id, 77);
  EXPECT_EQ(m->header.flags, flag::QR | flag::AA);
  EXPECT_EQ(m->header.qdcount, 1);
  EXPECT_EQ(m->header.ancount, 5);
  EXPECT_EQ(m->header.arcount, 1);
  ASSERT_EQ(m->answers.size(), 5u);
  EXPECT_EQ(rdata_to_text(rrtype::MX, m->answers[0].rdata), "10 mail.example.com.");
  EXPECT_EQ(rdata_to_text(rrtype::NS, m->answers[1].rdata), "ns1.example.com.");
  EXPECT_EQ(rdata_to_text(rrtype::SOA, m->answers[2].rdata),
            "ns1.example.com. hostmaster.example.com. 2024 3600 900 604800 300");
  EXPECT_EQ(m->answers[3].owner, N("_sip._udp.example.com."));
  EXPECT_EQ(rdata_to_text(rrtype::SRV, m->answers[3].rdata), "1 2 5060 sip.example.com.");
  EXPECT_EQ(m->answers[4].rdata, rd(rrtype::TXT, "\"v=spf1 -all\""));
  EXPECT_EQ(m->additionals[0].owner, N("mail.example.com."));
  EXPECT_EQ(m->answers[0].ttl, 300u);
  // Owners after the first are 2-octet pointers: the second answer's owner
  // starts right after the first answer.
  size_t first_answer = 12 + 13 + 4;
  EXPECT_EQ(buf[first_answer], 0xC0);
  EXPECT_EQ(buf[first_answer + 1], 12);
}

TEST(MessageWriter, SrvTargetIsNeverCompressed) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  ASSERT_TRUE(w.add_question(N("sip.example.com."), rrtype::SRV, rrclass::IN));
  std::string srv = rd(rrtype::SRV, "1 2 5060 sip.example.com.");
  ASSERT_TRUE(w.add_rr(Section::Answer, N("sip.example.com."), rrtype::SRV, rrclass::IN, 60, srv));
  size_t n = w.finish();
  // The rdata is the last thing written and must appear verbatim.
  ASSERT_GE(n, srv.size());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()) + n - srv.size(), srv.size()), srv);
}

TEST(MessageWriter, CompressesRdataNamesOfRfc1035Types) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  ASSERT_TRUE(w.add_question(N("example.com."), rrtype::MX, rrclass::IN));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::MX, rrclass::IN, 60, rd(rrtype::MX, "10 example.com.")));
  size_t n = w.finish();
  // question 12+13+4 = 29; RR: owner ptr 2 + 10 fixed + rdata (2 + ptr 2).
  EXPECT_EQ(n, 29u + 2 + 10 + 4);
}

TEST(MessageWriter, CompressionPreservesCase) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  ASSERT_TRUE(w.add_question(N("WWW.Example.COM."), rrtype::CNAME, rrclass::IN));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("WWW.Example.COM."), rrtype::CNAME, rrclass::IN, 60, rd(rrtype::CNAME, "host")));
  size_t n = w.finish();
  auto m = parse_message(buf.data(), n);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->answers[0].owner.to_text(), "WWW.Example.COM.");
  EXPECT_EQ(rdata_to_text(rrtype::CNAME, m->answers[0].rdata), "host.example.com.");
  // The owner was a pointer to the question; the target is not.
  EXPECT_EQ(n, 12u + 17 + 4 + 2 + 10 + 18);
}

TEST(MessageWriter, OverLimitRollsBackAndKeepsCounts) {
  std::vector<uint8_t> buf(100);
  MessageWriter w(buf.data(), 100);
  ASSERT_TRUE(w.add_question(N("example.com."), rrtype::TXT, rrclass::IN));
  size_t before = w.size();
  EXPECT_FALSE(w.add_rr(Section::Answer, N("other.example.net."), rrtype::TXT, rrclass::IN, 60,
                        rd(rrtype::TXT, "\"" + std::string(100, 'x') + "\"")));
  EXPECT_EQ(w.size(), before);
  EXPECT_EQ(w.header().ancount, 0);
  // A failed name must not leave a compression target behind.
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::A, rrclass::IN, 60, rd(rrtype::A, "1.2.3.4")));
  w.set_tc();
  size_t n = w.finish();
  auto m = parse_message(buf.data(), n);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->answers.size(), 1u);
  EXPECT_TRUE(m->header.flags & flag::TC);
}

TEST(MessageWriter, ReserveKeepsRoomForOpt) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), 12 + 17 + 16 + 11);  // question + one A + OPT
  w.reserve(11);
  ASSERT_TRUE(w.add_question(N("example.com."), rrtype::A, rrclass::IN));
  ASSERT_TRUE(w.add_rr(Section::Answer, N("example.com."), rrtype::A, rrclass::IN, 60, rd(rrtype::A, "1.2.3.4")));
  EXPECT_FALSE(w.add_rr(Section::Answer, N("example.com."), rrtype::A, rrclass::IN, 60, rd(rrtype::A, "1.2.3.5")));
  ASSERT_TRUE(w.add_opt(1232, 0, 0, 0x8000));
  size_t n = w.finish();
  auto m = parse_message(buf.data(), n);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(m->edns.has_value());
  EXPECT_EQ(m->edns->udp_size, 1232);
  EXPECT_EQ(m->edns->flags, 0x8000);
  EXPECT_EQ(m->header.arcount, 1);
  bool ok;
  auto q = parse_query(buf.data(), n, &ok);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(q->edns.has_value());
  EXPECT_EQ(q->question.name, N("example.com."));
  EXPECT_EQ(q->question_end, 29u);
}

}  // namespace
}  // namespace dns
