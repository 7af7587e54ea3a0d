// The rdata codecs of the DNSSEC, service and certificate types: vectors
// parsed by Knot DNS 3.2 from the same zone-file text (the wire form it
// serves) and printed by kdig, so our text, wire and printing match Knot's.
#include <gtest/gtest.h>

#include "dns/encoding.h"
#include "dns/message.h"
#include "dns/rr.h"

namespace {

struct Vector {
  const char* type;
  const char* text;      // as written in the zone file
  const char* wire_hex;  // the rdata Knot DNS serves for it
  const char* printed;   // how kdig prints it
};

const Vector kVectors[] = {
    {"NSEC3PARAM", "1 0 10 AABBCCDD",
     "0100000A04AABBCCDD",
     "1 0 10 AABBCCDD"},
    {"ZONEMD", "2018031500 1 1 FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE",
     "7848B78C0101FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE",
     "2018031500 1 1 FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE"},
    {"TLSA", "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
     "0301010C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
     "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"},
    {"AFSDB", "1 afs.example.com.",
     "000103616673076578616D706C6503636F6D00",
     "1 afs.example.com."},
    {"CDNSKEY", "0 3 0 AA==",
     "0000030000",
     "0 3 0 AA=="},
    {"CDS", "0 0 0 00",
     "0000000000",
     "0 0 0 00"},
    {"CERT", "PGP 0 0 dGVzdA==",
     "000300000074657374",
     "3 0 0 dGVzdA=="},
    {"CERT", "1 12345 8 dGVzdA==",
     "000130390874657374",
     "1 12345 8 dGVzdA=="},
    {"CSYNC", "66 3 A NS AAAA",
     "000000420003000460000008",
     "66 3 A NS AAAA"},
    {"DHCID", "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
     "000201636FC0B8271C82825BB1AC5C41CF5351AA69B4FEBD94E8F17CDB95000DA48C40",
     "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="},
    {"DS", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
     "EC4505012BB183AF5F22588179A53B0A98631FAD1A292118",
     "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"},
    {"DS", "20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
     "4F660802E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
     "20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"},
    {"EUI48", "00-00-5e-00-53-2a",
     "00005E00532A",
     "00-00-5E-00-53-2A"},
    {"EUI64", "00-00-5e-ef-10-00-00-2a",
     "00005EEF1000002A",
     "00-00-5E-EF-10-00-00-2A"},
    {"TYPE65534", "\\# 4 0A000001",
     "0A000001",
     "\\# 4 0A000001"},
    {"A", "\\# 4 0A000001",
     "0A000001",
     "10.0.0.1"},
    {"HTTPS", "1 . alpn=\"h3,h2\" no-default-alpn ech=AEP+DQA/ key65000=hello key7=/dns-query{?dns}",
     "0001000001000602683302683200020000000500060043FE0D003F000700102F646E732D71756572797B3F646E737DFDE8000568656C6C6F",
     // Knot 3.2 predates RFC 9461 and prints key 7 as "key7"; it is dohpath.
     "1 . alpn=h3,h2 no-default-alpn ech=AEP+DQA/ dohpath=\"/dns-query{?dns}\" key65000=\"hello\""},
    {"DNSKEY", "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=",
     "0101030803010001ACFFB409BCC939F831F7A1E5EC88F7A59255EC53040BE432027390A4CE896D6F9086F3C5E177FBFE118163AAEC7AF1462C47945944C4E2C026BE5E98BBCDED25978272E1E3E079C5094D573F0E83C92F02B32D3513B1550B826929C80DD0F92CAC966D17769FD5867B647C3F38029ABDC48152EB8F207159ECC5D232C7C1537C79F4B7AC28FF11682F21681BF6D6ABA555032BF6F9F036BEB2AAA5B3778D6EEBFBA6BF9EA191BE4AB0CAEA759E2F773A1F9029C73ECB8D5735B9321DB085F1B8E2D8038FE2941992548CEE0D67DD4547E11DD63AF9C9FC1C5466FB684CF009D7197C2CF79E792AB501E6A8A1CA519AF2CB9B5F6367E94C0D47502451357BE1B5",
     "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="},
    {"KX", "10 kx.example.com.",
     "000A026B78076578616D706C6503636F6D00",
     "10 kx.example.com."},
    {"LOC", "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
     "000016138B3CF018810CBCE0009895B8",
     "52 22 23 N 4 53 32 E -2m 0m 10000m 10m"},
    {"LOC", "42 21 54 N 71 06 18 W -24m 30m",
     "0033161389172DD070BE15F000988D20",
     "42 21 54 N 71 6 18 W -24m 30m 10000m 10m"},
    {"LOC", "1 S 1 W 0",
     "001216137FC911807FC9118000989680",
     "1 0 0 S 1 0 0 W 0m 1m 10000m 10m"},
    {"NAPTR", "100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:customer-service@example.com!\" _sip._udp.example.com.",
     "0064000A0153075349502B44325527215E2E2A24217369703A637573746F6D65722D73657276696365406578616D706C652E636F6D21045F736970045F756470076578616D706C6503636F6D00",
     "100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:customer-service@example.com!\" _sip._udp.example.com."},
    {"NAPTR", "100 50 \"s\" \"http+I2L+I2C+I2R\" \"\" _http._tcp.gatech.edu.",
     "00640032017310687474702B49324C2B4932432B49325200055F68747470045F746370066761746563680365647500",
     "100 50 \"s\" \"http+I2L+I2C+I2R\" \"\" _http._tcp.gatech.edu."},
    {"NSEC", "zz.example.com. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY TYPE65534",
     "027A7A076578616D706C6503636F6D00000762018008000380FF200000000000000000000000000000000000000000000000000000000000000002",
     "zz.example.com. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY TYPE65534"},
    {"OPENPGPKEY", "mQINBFit2jsBEADrbl5vjVxYeAE0g0IDYCBpHirv1Sjlqxx5gjtPhb2YhvyDMXjq",
     "99020D0458ADDA3B011000EB6E5E6F8D5C587801348342036020691E2AEFD528E5AB1C79823B4F85BD9886FC833178EA",
     "mQINBFit2jsBEADrbl5vjVxYeAE0g0IDYCBpHirv1Sjlqxx5gjtPhb2YhvyDMXjq"},
    {"RP", "mbox.example.com. txt.example.com.",
     "046D626F78076578616D706C6503636F6D0003747874076578616D706C6503636F6D00",
     "mbox.example.com. txt.example.com."},
    {"RRSIG", "A 8 3 3600 20240101000000 20231201000000 12345 example.com. dGVzdHNpZ25hdHVyZQ==",
     "0001080300000E1065920080656922003039076578616D706C6503636F6D00746573747369676E6174757265",
     "A 8 3 3600 20240101000000 20231201000000 12345 example.com. dGVzdHNpZ25hdHVyZQ=="},
    {"SMIMEA", "3 0 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
     "0300010C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
     "3 0 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"},
    {"SSHFP", "2 1 123456789abcdef67890123456789abcdef67890",
     "0201123456789ABCDEF67890123456789ABCDEF67890",
     "2 1 123456789ABCDEF67890123456789ABCDEF67890"},
    {"SVCB", "1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1 mandatory=alpn,port",
     "0001000000000400010003000100060268320268330003000220FB00040008C0000201C00002020006001020010DB8000000000000000000000001",
     "1 . mandatory=alpn,port alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1"},
    {"SVCB", "0 foo.example.com.",
     "000003666F6F076578616D706C6503636F6D00",
     "0 foo.example.com."},
    {"URI", "10 1 \"ftp://ftp1.example.com/public\"",
     "000A00016674703A2F2F667470312E6578616D706C652E636F6D2F7075626C6963",
     "10 1 \"ftp://ftp1.example.com/public\""},
    {"NSEC3", "1 1 10 AABBCCDD 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S A RRSIG",
     "0101000A04AABBCCDD1417F3DF17B2B2ADAEF615257DE4D2020B80AC6C7C0006400000000002",
     "1 1 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG"},
    {"NSEC3", "1 0 0 - 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S",
     "01000000001417F3DF17B2B2ADAEF615257DE4D2020B80AC6C7C",
     "1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s"},
};

const dns::Name kOrigin = dns::Name::from_text("example.com.").value();

TEST(RdataTypes, TextParsesToTheWireFormKnotServes) {
  for (const Vector& v : kVectors) {
    const uint16_t type = dns::type_from_text(v.type).value();
    auto wire = dns::rdata_from_text(type, v.text, kOrigin);
    ASSERT_TRUE(wire) << v.type << " " << v.text << ": " << wire.error().message;
    EXPECT_EQ(dns::hex_encode(*wire), v.wire_hex) << v.type << " " << v.text;
  }
}

TEST(RdataTypes, WireFormPrintsAsKdigPrintsIt) {
  for (const Vector& v : kVectors) {
    const uint16_t type = dns::type_from_text(v.type).value();
    const std::string wire = dns::hex_decode(v.wire_hex).value();
    EXPECT_TRUE(dns::rdata_validate(type, wire)) << v.type;
    EXPECT_EQ(dns::rdata_to_text(type, wire), v.printed) << v.type;
  }
}

TEST(RdataTypes, PrintedFormParsesBackToTheSameWire) {
  for (const Vector& v : kVectors) {
    const uint16_t type = dns::type_from_text(v.type).value();
    const std::string wire = dns::hex_decode(v.wire_hex).value();
    auto again = dns::rdata_from_text(type, dns::rdata_to_text(type, wire), kOrigin);
    ASSERT_TRUE(again) << v.type << ": " << again.error().message;
    EXPECT_EQ(*again, wire) << v.type;
  }
}

TEST(RdataTypes, EveryTypeAcceptsTheGenericForm) {
  // RFC 3597 §5: "\# <length> <hex>" for any type, checked against its layout.
  for (const Vector& v : kVectors) {
    const uint16_t type = dns::type_from_text(v.type).value();
    const std::string wire = dns::hex_decode(v.wire_hex).value();
    const std::string generic = "\\# " + std::to_string(wire.size()) + " " + dns::hex_encode(wire);
    auto parsed = dns::rdata_from_text(type, generic, kOrigin);
    ASSERT_TRUE(parsed) << v.type << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, wire);
  }
  EXPECT_FALSE(dns::rdata_from_text(dns::rrtype::DS, "\\# 3 010203", kOrigin));  // shorter than its fixed fields
}

TEST(RdataTypes, WireFromAMessageKeepsNamesUncompressedAndChecksTheLayout) {
  for (const Vector& v : kVectors) {
    const uint16_t type = dns::type_from_text(v.type).value();
    const std::string wire = dns::hex_decode(v.wire_hex).value();
    auto read = dns::rdata_from_wire(type, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), 0,
                                     static_cast<uint16_t>(wire.size()));
    ASSERT_TRUE(read) << v.type << ": " << read.error().message;
    EXPECT_EQ(*read, wire);
    EXPECT_FALSE(dns::rdata_names_compressible(type)) << v.type;
  }
}

TEST(RdataTypes, RrsigTimesAcceptSecondsAndPrintAsDates) {
  auto a = dns::rdata_from_text(dns::rrtype::RRSIG, "A 13 2 300 1704067200 20231201000000 1 example.com. AA==",
                                kOrigin);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::RRSIG, *a),
            "A 13 2 300 20240101000000 20231201000000 1 example.com. AA==");
  // Algorithm mnemonics are accepted (RFC 4034 Appendix A.1).
  auto b = dns::rdata_from_text(dns::rrtype::DNSKEY, "256 3 ECDSAP256SHA256 AA==", kOrigin);
  ASSERT_TRUE(b);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::DNSKEY, *b), "256 3 13 AA==");
  // A key or signature split over several words (a zone file's parentheses).
  auto c = dns::rdata_from_text(dns::rrtype::DNSKEY, "256 3 13 Zm9v YmFy", kOrigin);
  ASSERT_TRUE(c);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::DNSKEY, *c), "256 3 13 Zm9vYmFy");
}

TEST(RdataTypes, BadValuesAreRefusedWithTheReason) {
  const std::pair<uint16_t, const char*> bad[] = {
      {dns::rrtype::DS, "1 8 2"},                       // no digest
      {dns::rrtype::DS, "1 8 2 ABC"},                   // odd hex
      {dns::rrtype::DS, "70000 8 2 AB"},                // key tag over 16 bits
      {dns::rrtype::DNSKEY, "257 3 8 not*base64"},
      {dns::rrtype::RRSIG, "A 8 3 3600 20241301000000 20231201000000 1 example.com. AA=="},  // month 13
      {dns::rrtype::RRSIG, "BOGUS 8 3 3600 20240101000000 20231201000000 1 example.com. AA=="},
      {dns::rrtype::NSEC, "next.example.com. A BOGUS"},
      {dns::rrtype::NSEC3, "1 0 10 XYZ 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S"},  // salt not hex
      {dns::rrtype::NSEC3, "1 0 10 - 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3W"},    // W is not base32hex
      {dns::rrtype::NSEC3PARAM, "1 0 10"},
      {64, "1 . alpn"},               // alpn needs a value
      {64, "1 . port=1 port=2"},      // a key twice
      {64, "1 . frobnicate=1"},       // unknown key name
      {65, "1 . ipv4hint=2001:db8::1"},
      {29, "52 22 23 X 4 53 32 E 0m"},  // no hemisphere
      {256, "10 1 two words"},
      {108, "00-00-5e-00-53"},
  };
  for (auto [type, text] : bad) {
    auto r = dns::rdata_from_text(type, text, kOrigin);
    EXPECT_FALSE(r) << dns::type_to_text(type) << " " << text;
    if (!r) {
      EXPECT_NE(r.error().message.find(dns::type_to_text(type)), std::string::npos) << r.error().message;
    }
  }
}

TEST(RdataTypes, MalformedWireIsRefusedNotPrinted) {
  // An NSEC whose bit map windows are out of order, an RRSIG cut short.
  std::string nsec = dns::rdata_from_text(dns::rrtype::NSEC, "a.example.com. A", kOrigin).value();
  nsec += std::string("\x00\x01\x40", 3);  // window 0 again
  EXPECT_FALSE(dns::rdata_validate(dns::rrtype::NSEC, nsec));
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::NSEC, nsec).substr(0, 3), "\\# ");
  EXPECT_FALSE(dns::rdata_validate(dns::rrtype::RRSIG, std::string(10, '\0')));
}

}  // namespace
