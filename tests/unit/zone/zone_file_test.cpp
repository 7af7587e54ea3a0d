// Unit tests for the zone file readers: master format, legacy format, format
// detection, TTLs, JSON-list values, and every error path.
#include "zone/zone_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace zone {
namespace {

dns::Name N(std::string_view s) { return dns::Name::from_text(s).value(); }

std::string rr_text(const dns::RR& rr) {
  return rr.owner.to_text() + " " + std::to_string(rr.ttl) + " " + dns::type_to_text(rr.type) + " " +
         dns::rdata_to_text(rr.type, rr.rdata);
}

std::vector<std::string> texts(const ZoneFileResult& r) {
  std::vector<std::string> out;
  for (const auto& rr : r.records) out.push_back(rr_text(rr));
  return out;
}

std::string errors(const ZoneFileResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e + "\n";
  return s;
}

ZoneFileResult master(const std::string& text, const std::string& origin = "example.com.") {
  return parse_master(text, "z.zone", N(origin), ".");
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "zonefileXXXXXX";
    char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string& name, const std::string& content) const {
    std::string full = path_ + "/" + name;
    std::ofstream(full) << content;
    return full;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ParseTtl, SecondsAndUnits) {
  EXPECT_EQ(parse_ttl("300").value(), 300u);
  EXPECT_EQ(parse_ttl("1h30m").value(), 5400u);
  EXPECT_EQ(parse_ttl("1W2d").value(), 604800u + 172800u);
  EXPECT_EQ(parse_ttl("1h30").value(), 3630u);
  EXPECT_EQ(parse_ttl("2147483647").value(), 2147483647u);
  EXPECT_FALSE(parse_ttl("").ok());
  EXPECT_FALSE(parse_ttl("h").ok());
  EXPECT_FALSE(parse_ttl("1x").ok());
  EXPECT_FALSE(parse_ttl("-5").ok());
  EXPECT_FALSE(parse_ttl("2147483648").ok());
  EXPECT_FALSE(parse_ttl("99999999999999999999").ok());
  EXPECT_FALSE(parse_ttl("100000w").ok());
}

TEST(Master, BasicZoneWithDirectivesAndRelativeNames) {
  auto r = master(R"($TTL 1h
$ORIGIN example.com.
@   IN  SOA ns1 hostmaster ( 2024010101 ; serial
            3600 900 604800
            300 )
    IN  NS  ns1
ns1     A   192.0.2.1
www 300 IN A 192.0.2.2
mail IN 600 AAAA 2001:db8::1
@       MX  10 mail
)");
  EXPECT_EQ(errors(r), "");
  std::vector<std::string> want = {
      "example.com. 3600 SOA ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 300",
      "example.com. 3600 NS ns1.example.com.",
      "ns1.example.com. 3600 A 192.0.2.1",
      "www.example.com. 300 A 192.0.2.2",
      "mail.example.com. 600 AAAA 2001:db8::1",
      "example.com. 3600 MX 10 mail.example.com.",
  };
  EXPECT_EQ(texts(r), want);
}

TEST(Master, QuotedStringsKeepSemicolonsAndParens) {
  auto r = master("txt TXT \"a; not a comment (really)\" \"second\" ; real comment\n"
                  "caa CAA 0 issue \"letsencrypt.org\"\n");
  EXPECT_EQ(errors(r), "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::TXT, r.records[0].rdata), "\"a; not a comment (really)\" \"second\"");
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::CAA, r.records[1].rdata), "0 issue \"letsencrypt.org\"");
}

TEST(Master, DefaultTtlFallsBackToSoaMinimumThenHour) {
  auto r = master("@ SOA ns1 hm 1 2 3 4 120\nwww A 192.0.2.1\n");
  EXPECT_EQ(errors(r), "");
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].ttl, 120u);
  EXPECT_EQ(r.records[1].ttl, 120u);
  auto r2 = master("www A 192.0.2.1\n");
  ASSERT_EQ(r2.records.size(), 1u);
  EXPECT_EQ(r2.records[0].ttl, 3600u);
  auto r3 = master("$TTL 60\n@ SOA ns1 hm 1 2 3 4 120\nwww A 192.0.2.1\n");
  ASSERT_EQ(r3.records.size(), 2u);
  EXPECT_EQ(r3.records[1].ttl, 60u);
}

TEST(Master, OriginChangesAndAbsoluteNames) {
  auto r = master("$ORIGIN sub\nhost A 192.0.2.1\n$ORIGIN other.org.\nx CNAME www.example.com.\n@ NS ns\n");
  EXPECT_EQ(errors(r), "");
  std::vector<std::string> want = {"host.sub.example.com. 3600 A 192.0.2.1",
                                   "x.other.org. 3600 CNAME www.example.com.",
                                   "other.org. 3600 NS ns.other.org."};
  EXPECT_EQ(texts(r), want);
}

TEST(Master, BadLinesAreReportedAndSkipped) {
  auto r = master("ok1 A 192.0.2.1\n"
                  "bad1 A 300.0.0.1\n"
                  "bad2 BOGUS x\n"
                  "bad3 CH A 192.0.2.1\n"
                  "bad4 1x A 192.0.2.1\n"
                  "bad5 A\n"
                  "bad6\n"
                  "bad7 TXT \"unterminated\n"
                  "$BOGUS x\n"
                  "$TTL\n"
                  "$ORIGIN a..b\n"
                  "bad8 AXFR 1.2.3.4\n"
                  "bad9 A 1.2.3.4 )\n"
                  "ok2 A 192.0.2.2\n");
  EXPECT_EQ(texts(r), (std::vector<std::string>{"ok1.example.com. 3600 A 192.0.2.1",
                                                "ok2.example.com. 3600 A 192.0.2.2"}));
  ASSERT_EQ(r.errors.size(), 12u) << errors(r);
  EXPECT_EQ(r.errors[0].rfind("z.zone:2: ", 0), 0u) << r.errors[0];
  EXPECT_NE(r.errors[0].find("300.0.0.1"), std::string::npos);
  EXPECT_NE(r.errors[1].find("unknown record type 'BOGUS'"), std::string::npos);
  EXPECT_NE(r.errors[2].find("only IN"), std::string::npos);
  EXPECT_EQ(r.errors[3].rfind("z.zone:5: ", 0), 0u);
  EXPECT_NE(r.errors[4].find("missing A data"), std::string::npos);
  EXPECT_NE(r.errors[5].find("missing record type"), std::string::npos);
  EXPECT_NE(r.errors[6].find("unterminated"), std::string::npos);
  EXPECT_NE(r.errors[7].find("unknown directive '$BOGUS'"), std::string::npos);
  EXPECT_EQ(r.errors[8].rfind("z.zone:10: $TTL", 0), 0u);
  EXPECT_EQ(r.errors[9].rfind("z.zone:11: $ORIGIN", 0), 0u);
  EXPECT_NE(r.errors[10].find("cannot appear"), std::string::npos);
  EXPECT_NE(r.errors[11].find("')' without"), std::string::npos);
}

TEST(Master, UnclosedParenthesisIsAnError) {
  auto r = master("ok A 192.0.2.1\n@ SOA ns1 hm ( 1 2 3\n 4 5\n");
  ASSERT_EQ(r.records.size(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("opened on line 2"), std::string::npos) << r.errors[0];
}

TEST(Master, BlankOwnerWithoutPreviousOwner) {
  auto r = master("   A 192.0.2.1\n");
  EXPECT_TRUE(r.records.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("no previous owner"), std::string::npos);
}

TEST(Master, GenericRdataAndUnknownTypes) {
  auto r = master("x TYPE65280 \\# 3 010203\ny A \\# 4 C0000201\nz TYPE65280 plain\n");
  ASSERT_EQ(r.records.size(), 2u) << errors(r);
  EXPECT_EQ(r.records[0].type, 65280);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::A, r.records[1].rdata), "192.0.2.1");
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(Master, IncludeIsRelativeToTheIncludingFile) {
  TempDir dir;
  dir.write("sub.inc", "$ORIGIN inner\nhost A 192.0.2.9\n");
  std::string main = dir.write("main.zone",
                               "$TTL 300\n$ORIGIN example.com.\n$INCLUDE sub.inc\nafter A 192.0.2.1\n"
                               "$INCLUDE sub.inc other.net.\n$INCLUDE missing.inc\n");
  auto r = read_zone_file(main, dns::Name());
  EXPECT_FALSE(r.file_unreadable);
  std::vector<std::string> want = {"host.inner.example.com. 300 A 192.0.2.9",
                                   "after.example.com. 300 A 192.0.2.1",
                                   "host.inner.other.net. 300 A 192.0.2.9"};
  EXPECT_EQ(texts(r), want);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind(main + ":6: cannot read included file", 0), 0u) << r.errors[0];
}

TEST(Master, IncludeErrorsNameTheIncludedFile) {
  TempDir dir;
  dir.write("bad.inc", "ok A 192.0.2.1\nbad A nope\n");
  std::string main = dir.write("main.zone", "$ORIGIN example.com.\n$INCLUDE bad.inc\n");
  auto r = read_zone_file(main);
  EXPECT_EQ(r.records.size(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind(dir.path() + "/bad.inc:2: ", 0), 0u) << r.errors[0];
}

TEST(Master, IncludeDepthIsLimited) {
  TempDir dir;
  std::string self = dir.write("loop.zone", "$ORIGIN example.com.\na A 192.0.2.1\n$INCLUDE loop.zone\n");
  auto r = read_zone_file(self);
  EXPECT_EQ(r.records.size(), 9u);  // the file plus 8 nested levels
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("nested deeper"), std::string::npos);
}

TEST(Legacy, ShippedFormat) {
  auto r = parse_legacy("# zone for example.com\n"
                        "example.com SOA [\"ns1.example.com\", \"hostmaster.example.com\"]\n"
                        "example.com NS ns1.example.com\n"
                        "ns1.example.com A 192.0.2.1   # trailing comment\n"
                        "example.com. MX [\"mail.example.com.\", 10]\n"
                        "\n"
                        "www.example.com 300 A 192.0.2.2\n"
                        "example.com TXT \"v=spf1 # not a comment\"\n"
                        "example.com SOA [\"a.example.com\", \"b.example.com\", 7, 60, 30, 9000, 5]\n"
                        "example.com CAA 0 issue \"ca.example\"\n"
                        "_sip._udp.example.com SRV [1, 2, 5060, \"sip.example.com\"]\n"
                        "example.com TXT [\"a b\", \"c\"]\n"
                        "example.com CNAME target.example.org\n",
                        "zf1.txt");
  EXPECT_EQ(errors(r), "");
  std::vector<std::string> want = {
      "example.com. 3600 SOA ns1.example.com. hostmaster.example.com. 1 3600 900 604800 300",
      "example.com. 3600 NS ns1.example.com.",
      "ns1.example.com. 3600 A 192.0.2.1",
      "example.com. 3600 MX 10 mail.example.com.",
      "www.example.com. 300 A 192.0.2.2",
      "example.com. 3600 TXT \"v=spf1 # not a comment\"",
      "example.com. 3600 SOA a.example.com. b.example.com. 7 60 30 9000 5",
      "example.com. 3600 CAA 0 issue \"ca.example\"",
      "_sip._udp.example.com. 3600 SRV 1 2 5060 sip.example.com.",
      "example.com. 3600 TXT \"a b\" \"c\"",
      "example.com. 3600 CNAME target.example.org.",
  };
  EXPECT_EQ(texts(r), want);
}

TEST(Legacy, UnquotedTxtIsOneStringAndWrappedLinesJoin) {
  std::string long_value(300, 'k');
  auto r = parse_legacy("# header comment\n"
                        "example.com  TXT     some words with spaces\n"
                        "example.org  TXT     " + long_value.substr(0, 100) + "\n"
                        "    " + long_value.substr(100, 100) + "\n"
                        "\t" + long_value.substr(200) + "\n"
                        "#commented.example  TXT  first part\n"
                        "#    second part of the comment\n"
                        "example.net  A       192.0.2.7\n",
                        "zf.txt");
  EXPECT_EQ(errors(r), "");
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::TXT, r.records[0].rdata), "\"some words with spaces\"");
  // 300 octets joined from three lines, stored as a 255 + 45 octet pair.
  EXPECT_EQ(r.records[1].rdata.size(), 302u);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::TXT, r.records[1].rdata),
            "\"" + long_value.substr(0, 255) + "\" \"" + long_value.substr(255) + "\"");
  EXPECT_EQ(rr_text(r.records[2]), "example.net. 3600 A 192.0.2.7");
}

TEST(Legacy, BadLinesAreReportedAndSkipped) {
  auto r = parse_legacy("ok.example.com A 192.0.2.1\n"
                        "bad.example.com A\n"
                        "bad.example.com BOGUS 1\n"
                        "bad.example.com MX [\"mail.example.com\"]\n"
                        "bad.example.com MX [\"mail.example.com\", 70000]\n"
                        "bad.example.com SOA [\"ns1\"]\n"
                        "bad.example.com SOA [\"ns1\", \"hm\", -1]\n"
                        "bad.example.com MX [broken\n"
                        "@ A 192.0.2.1\n"
                        "bad..example.com A 192.0.2.1\n"
                        "bad.example.com 5q A 192.0.2.1\n"
                        "lonely\n"
                        "bad.example.com AXFR x\n"
                        "ok2.example.com MX 5 mail.example.com\n",
                        "zf2.txt");
  EXPECT_EQ(texts(r), (std::vector<std::string>{"ok.example.com. 3600 A 192.0.2.1",
                                                "ok2.example.com. 3600 MX 5 mail.example.com."}));
  ASSERT_EQ(r.errors.size(), 12u) << errors(r);
  for (size_t i = 0; i < r.errors.size(); ++i) {
    EXPECT_EQ(r.errors[i].rfind("zf2.txt:" + std::to_string(i + 2) + ": ", 0), 0u) << r.errors[i];
  }
  EXPECT_NE(r.errors[0].find("missing A value"), std::string::npos);
  EXPECT_NE(r.errors[1].find("unknown record type"), std::string::npos);
  EXPECT_NE(r.errors[2].find("MX list"), std::string::npos);
  EXPECT_NE(r.errors[3].find("over 65535"), std::string::npos);
  EXPECT_NE(r.errors[4].find("SOA list"), std::string::npos);
  EXPECT_NE(r.errors[5].find("SOA serial"), std::string::npos);
  EXPECT_NE(r.errors[6].find("not a valid JSON list"), std::string::npos);
  EXPECT_NE(r.errors[7].find("absolute"), std::string::npos);
  EXPECT_NE(r.errors[8].find("owner"), std::string::npos);
  EXPECT_NE(r.errors[9].find("TTL"), std::string::npos);
  EXPECT_NE(r.errors[10].find("expected"), std::string::npos);
  EXPECT_NE(r.errors[11].find("cannot appear"), std::string::npos);
}

TEST(ParseRdataAny, AcceptsBothSyntaxes) {
  dns::Name root;
  auto a = parse_rdata_any(dns::rrtype::MX, "[\"mail.example.com\", 10]", root);
  auto b = parse_rdata_any(dns::rrtype::MX, "10 mail.example.com.", root);
  auto c = parse_rdata_any(dns::rrtype::MX, "[10, \"mail.example.com\"]", root);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  auto soa = parse_rdata_any(dns::rrtype::SOA, " [\"ns1.example.com\", \"hm.example.com\", 5, \"1h\"] ", root);
  ASSERT_TRUE(soa.ok()) << soa.error().message;
  auto f = dns::soa_decode(*soa).value();
  EXPECT_EQ(f.serial, 5u);
  EXPECT_EQ(f.refresh, 3600u);
  EXPECT_EQ(f.retry, 900u);
  EXPECT_EQ(f.minimum, 300u);
  EXPECT_FALSE(parse_rdata_any(dns::rrtype::A, "", root).ok());
  EXPECT_FALSE(parse_rdata_any(dns::rrtype::A, "[]", root).ok());
  EXPECT_FALSE(parse_rdata_any(dns::rrtype::A, "[1.5]", root).ok());
  EXPECT_FALSE(parse_rdata_any(dns::rrtype::A, "[{\"a\":1}]", root).ok());
  EXPECT_FALSE(parse_rdata_any(dns::rrtype::SOA, "[\"a\", \"b\", 1, 2, 3, 4, 5, 6]", root).ok());
  EXPECT_EQ(parse_rdata_any(dns::rrtype::A, "[\"192.0.2.1\"]", root).value(), std::string("\xC0\0\2\1", 4));
}

TEST(DetectFormat, ByContent) {
  EXPECT_EQ(detect_format("$ORIGIN example.com.\nwww A 1.2.3.4\n"), ZoneFileFormat::Master);
  EXPECT_EQ(detect_format("; comment\n@ IN SOA a b 1 2 3 4 5\n"), ZoneFileFormat::Master);
  EXPECT_EQ(detect_format("www IN A 1.2.3.4\n   IN AAAA ::1\n"), ZoneFileFormat::Master);
  EXPECT_EQ(detect_format("# comment\nexample.com A 1.2.3.4\n"), ZoneFileFormat::Legacy);
  EXPECT_EQ(detect_format("example.com MX [\"mail.example.com\", 10]\n"), ZoneFileFormat::Legacy);
  EXPECT_EQ(detect_format("example.com A 1.2.3.4\n"), ZoneFileFormat::Legacy);
  EXPECT_EQ(detect_format(""), ZoneFileFormat::Legacy);
  // Relative single-label owners only occur in master files.
  EXPECT_EQ(detect_format("www A 1.2.3.4\nmail A 1.2.3.5\n"), ZoneFileFormat::Master);
  // Wrapped legacy values are not blank owners.
  EXPECT_EQ(detect_format("a.example.com TXT abc\n    defghijkl\n"), ZoneFileFormat::Legacy);
}

TEST(ReadZoneFile, UnreadableAndLegacyFiles) {
  auto r = read_zone_file("/nonexistent/dir/zone.txt");
  EXPECT_TRUE(r.file_unreadable);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("/nonexistent/dir/zone.txt"), std::string::npos);
  TempDir dir;
  std::string p = dir.write("zf1.txt", "# legacy\nexample.com A 192.0.2.1\nbroken line\n");
  auto l = read_zone_file(p, N("ignored.org."));
  EXPECT_EQ(texts(l), std::vector<std::string>{"example.com. 3600 A 192.0.2.1"});
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_EQ(l.errors[0].rfind(p + ":3: ", 0), 0u);
  std::string m = dir.write("db.example", "$TTL 60\nwww A 192.0.2.1\n");
  auto mr = read_zone_file(m, N("example.com."));
  EXPECT_EQ(texts(mr), std::vector<std::string>{"www.example.com. 60 A 192.0.2.1"});
}

}  // namespace
}  // namespace zone
