// Unit tests for the RR tables and the rdata text and wire codecs.
#include "dns/rr.h"

#include <gtest/gtest.h>

namespace dns {
namespace {

const Name& origin() {
  static const Name o = Name::from_text("example.com.").value();
  return o;
}

std::string from_text(uint16_t type, std::string_view text) {
  auto r = rdata_from_text(type, text, origin());
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : std::string();
}

// Text -> wire -> text must give the canonical presentation.
void round_trip(uint16_t type, std::string_view in, std::string_view out) {
  std::string wire = from_text(type, in);
  EXPECT_TRUE(rdata_validate(type, wire).ok());
  EXPECT_EQ(rdata_to_text(type, wire), out);
  // And the printed form parses back to the same wire.
  EXPECT_EQ(from_text(type, out), wire);
}

TEST(RrTypes, MnemonicsAndGenericForm) {
  EXPECT_EQ(type_from_text("aaaa"), rrtype::AAAA);
  EXPECT_EQ(type_from_text("CAA"), rrtype::CAA);
  EXPECT_EQ(type_from_text("TYPE65280"), 65280);
  EXPECT_EQ(type_from_text("type1"), rrtype::A);
  EXPECT_FALSE(type_from_text("TYPE65536").has_value());
  EXPECT_FALSE(type_from_text("TYPE").has_value());
  EXPECT_FALSE(type_from_text("BOGUS").has_value());
  EXPECT_EQ(type_to_text(rrtype::SRV), "SRV");
  EXPECT_EQ(type_to_text(65280), "TYPE65280");
  EXPECT_TRUE(is_meta_type(rrtype::ANY));
  EXPECT_TRUE(is_meta_type(rrtype::OPT));
  EXPECT_TRUE(is_meta_type(rrtype::AXFR));
  EXPECT_FALSE(is_meta_type(rrtype::TXT));
  EXPECT_FALSE(is_meta_type(rrtype::CAA));
}

TEST(RrClasses, Table) {
  EXPECT_EQ(class_from_text("in"), rrclass::IN);
  EXPECT_EQ(class_from_text("CLASS3"), rrclass::CH);
  EXPECT_EQ(class_to_text(rrclass::NONE), "NONE");
  EXPECT_EQ(class_to_text(42), "CLASS42");
  EXPECT_FALSE(class_from_text("XX").has_value());
}

TEST(Rdata, AddressTypes) {
  EXPECT_EQ(from_text(rrtype::A, "192.0.2.1"), std::string("\xC0\x00\x02\x01", 4));
  round_trip(rrtype::A, "192.0.2.1", "192.0.2.1");
  round_trip(rrtype::AAAA, "2001:DB8:0:0::1", "2001:db8::1");
  EXPECT_FALSE(rdata_from_text(rrtype::A, "192.0.2", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::A, "192.0.2.1 192.0.2.2", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::A, "", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::AAAA, "1.2.3.4", origin()).ok());
}

TEST(Rdata, NameTypesUseOrigin) {
  round_trip(rrtype::NS, "ns1", "ns1.example.com.");
  round_trip(rrtype::CNAME, "target.example.org.", "target.example.org.");
  round_trip(rrtype::PTR, "@", "example.com.");
  EXPECT_FALSE(rdata_from_text(rrtype::NS, "a..b", origin()).ok());
}

TEST(Rdata, Mx) {
  round_trip(rrtype::MX, "10 mail", "10 mail.example.com.");
  EXPECT_FALSE(rdata_from_text(rrtype::MX, "70000 mail", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::MX, "mail", origin()).ok());
}

TEST(Rdata, SoaAndFields) {
  std::string w = from_text(rrtype::SOA, "ns1 hostmaster 2024010101 1h 15m 1w 300");
  EXPECT_EQ(rdata_to_text(rrtype::SOA, w),
            "ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 300");
  auto f = soa_decode(w);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->serial, 2024010101u);
  EXPECT_EQ(f->expire, 604800u);
  EXPECT_EQ(f->mname.to_text(), "ns1.example.com.");
  EXPECT_EQ(soa_encode(*f), w);
  EXPECT_FALSE(rdata_from_text(rrtype::SOA, "ns1 hm 1 2 3 4", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::SOA, "ns1 hm x 2 3 4 5", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::SOA, "ns1 hm 1 2 3 4 5x", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::SOA, "ns1 hm 1 2 3 4 h", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::SOA, "ns1 hm 1 2 3 4 99999999999", origin()).ok());
  std::string units = from_text(rrtype::SOA, "ns1 hm 1 1h30 2d 1W 1m1s");
  EXPECT_EQ(rdata_to_text(rrtype::SOA, units), "ns1.example.com. hm.example.com. 1 3630 172800 604800 61");
  EXPECT_FALSE(soa_decode(w.substr(0, w.size() - 1)).ok());
}

TEST(Rdata, TxtStringsAndEscapes) {
  round_trip(rrtype::TXT, "\"hello world\"", "\"hello world\"");
  round_trip(rrtype::TXT, "\"a\" \"b c\"", "\"a\" \"b c\"");
  round_trip(rrtype::TXT, "bare words", "\"bare\" \"words\"");
  std::string w = from_text(rrtype::TXT, R"x("say \"hi\"; (ok)" "\065\255")x");
  EXPECT_EQ(w, std::string("\x0esay \"hi\"; (ok)\x02" "A\xff", 18));
  EXPECT_EQ(rdata_to_text(rrtype::TXT, w), R"x("say \"hi\"; (ok)" "A\255")x");
  EXPECT_EQ(from_text(rrtype::TXT, "\"\""), std::string(1, '\0'));
  EXPECT_FALSE(rdata_from_text(rrtype::TXT, "\"unterminated", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::TXT, "", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::TXT, "\"bad \\9\"", origin()).ok());
}

TEST(Rdata, LongTxtIsSplitInto255OctetStrings) {
  std::string big(600, 'x');
  std::string w = from_text(rrtype::TXT, "\"" + big + "\"");
  ASSERT_EQ(w.size(), 603u);
  EXPECT_EQ(static_cast<uint8_t>(w[0]), 255);
  EXPECT_EQ(static_cast<uint8_t>(w[256]), 255);
  EXPECT_EQ(static_cast<uint8_t>(w[512]), 90);
  EXPECT_TRUE(rdata_validate(rrtype::TXT, w).ok());
}

TEST(Rdata, Srv) {
  round_trip(rrtype::SRV, "10 60 5060 sip", "10 60 5060 sip.example.com.");
  round_trip(rrtype::SRV, "0 0 0 .", "0 0 0 .");
  EXPECT_FALSE(rdata_from_text(rrtype::SRV, "10 60 sip", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::SRV, "10 60 65536 sip", origin()).ok());
}

TEST(Rdata, Caa) {
  round_trip(rrtype::CAA, "0 issue \"letsencrypt.org\"", "0 issue \"letsencrypt.org\"");
  round_trip(rrtype::CAA, "128 iodef mailto:a@example.com", "128 iodef \"mailto:a@example.com\"");
  EXPECT_EQ(from_text(rrtype::CAA, "0 issue \"ca.net\""), std::string("\0\5issueca.net", 13));
  round_trip(rrtype::CAA, "0 issue \"\"", "0 issue \"\"");
  EXPECT_FALSE(rdata_from_text(rrtype::CAA, "256 issue \"x\"", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::CAA, "0 is-sue \"x\"", origin()).ok());
  EXPECT_FALSE(rdata_from_text(rrtype::CAA, "0 issue", origin()).ok());
}

TEST(Rdata, Hinfo) {
  round_trip(rrtype::HINFO, "\"INTEL-386\" Linux", "\"INTEL-386\" \"Linux\"");
  EXPECT_FALSE(rdata_from_text(rrtype::HINFO, "one", origin()).ok());
}

TEST(Rdata, GenericForm) {
  round_trip(65280, "\\# 4 0A000001", "\\# 4 0A000001");
  round_trip(65280, "\\# 0", "\\# 0");
  EXPECT_EQ(from_text(65280, "\\# 3 ab CD ef"), "\xab\xcd\xef");
  // Known types accept it too, then validate the layout.
  EXPECT_EQ(from_text(rrtype::A, "\\# 4 C0000201"), std::string("\xC0\x00\x02\x01", 4));
  EXPECT_FALSE(rdata_from_text(rrtype::A, "\\# 3 C00002", origin()).ok());
  EXPECT_FALSE(rdata_from_text(65280, "\\# 2 0A", origin()).ok());
  EXPECT_FALSE(rdata_from_text(65280, "\\# 1 0G", origin()).ok());
  EXPECT_FALSE(rdata_from_text(65280, "\\# 1 0", origin()).ok());
  EXPECT_FALSE(rdata_from_text(65280, "\\#", origin()).ok());
  EXPECT_FALSE(rdata_from_text(65280, "plain text", origin()).ok());
  EXPECT_EQ(rdata_to_text(65280, std::string("\x01\x02", 2)), "\\# 2 0102");
}

TEST(Rdata, ValidateRejectsBadLayouts) {
  EXPECT_FALSE(rdata_validate(rrtype::A, "abc").ok());
  EXPECT_FALSE(rdata_validate(rrtype::AAAA, std::string(4, '\0')).ok());
  EXPECT_FALSE(rdata_validate(rrtype::NS, std::string("\3com", 4)).ok());
  EXPECT_FALSE(rdata_validate(rrtype::NS, std::string("\xC0\x0c", 2)).ok());
  EXPECT_FALSE(rdata_validate(rrtype::MX, std::string("\0", 1)).ok());
  EXPECT_FALSE(rdata_validate(rrtype::TXT, std::string("\5ab", 3)).ok());
  EXPECT_FALSE(rdata_validate(rrtype::TXT, "").ok());
  EXPECT_FALSE(rdata_validate(rrtype::CAA, std::string("\0\0", 2)).ok());
  EXPECT_TRUE(rdata_validate(65280, "anything").ok());
  // Invalid rdata of a known type prints in the generic form instead of crashing.
  EXPECT_EQ(rdata_to_text(rrtype::A, "ab"), "\\# 2 6162");
}

TEST(Rdata, Targets) {
  EXPECT_EQ(rdata_target(rrtype::MX, from_text(rrtype::MX, "5 mx")), Name::from_text("mx.example.com.").value());
  EXPECT_EQ(rdata_target(rrtype::SRV, from_text(rrtype::SRV, "1 2 3 t")), Name::from_text("t.example.com.").value());
  EXPECT_EQ(rdata_target(rrtype::CNAME, from_text(rrtype::CNAME, "c")), Name::from_text("c.example.com.").value());
  EXPECT_FALSE(rdata_target(rrtype::A, from_text(rrtype::A, "1.2.3.4")).has_value());
  EXPECT_EQ(rdata_target_offset(rrtype::SRV), 6u);
  EXPECT_TRUE(rdata_names_compressible(rrtype::MX));
  EXPECT_FALSE(rdata_names_compressible(rrtype::SRV));
}

TEST(Rdata, FromWireExpandsCompressedNames) {
  // Message: 12-octet header, then "example.com." at 12, then an MX rdata
  // at 25: preference 10, "mail" + pointer to 12.
  std::string msg(12, '\0');
  msg += std::string("\7example\3com\0", 13);
  size_t rd = msg.size();
  msg += std::string("\0\x0a\4mail\xC0\x0c", 9);
  auto r = rdata_from_wire(rrtype::MX, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), rd, 9);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(rdata_to_text(rrtype::MX, *r), "10 mail.example.com.");
  // rdlength shorter than the name: error, not an overread.
  EXPECT_FALSE(rdata_from_wire(rrtype::MX, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), rd, 5).ok());
  // rdlength past the message end.
  EXPECT_FALSE(rdata_from_wire(rrtype::MX, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), rd, 10).ok());
  // Trailing octets after the SOA fields.
  EXPECT_FALSE(rdata_from_wire(rrtype::A, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), rd, 5).ok());
}

}  // namespace
}  // namespace dns
