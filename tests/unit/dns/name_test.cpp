// Unit tests for dns::Name: presentation parsing, wire checks, comparison and order.
#include "dns/name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace dns {
namespace {

Name N(std::string_view s) {
  auto r = Name::from_text(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : Name();
}

TEST(Name, RootIsOneZeroOctet) {
  Name root;
  EXPECT_TRUE(root.is_root());
  EXPECT_EQ(root.wire(), std::string(1, '\0'));
  EXPECT_EQ(root.to_text(), ".");
  EXPECT_EQ(N(".").wire(), root.wire());
  EXPECT_EQ(root.label_count(), 0u);
}

TEST(Name, FromTextBuildsLengthPrefixedLabels) {
  Name n = N("www.Example.com.");
  EXPECT_EQ(n.wire(), std::string("\3www\7Example\3com\0", 17));
  EXPECT_EQ(n.to_text(), "www.Example.com.");
  EXPECT_EQ(n.label_count(), 3u);
  EXPECT_EQ(n.label(1), "Example");
}

TEST(Name, RelativeNameIsCompletedWithOrigin) {
  Name origin = N("example.com.");
  auto r = Name::from_text("www", &origin);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->to_text(), "www.example.com.");
  auto at = Name::from_text("@", &origin);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, origin);
  auto abs = Name::from_text("other.org.", &origin);
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(abs->to_text(), "other.org.");
}

TEST(Name, RelativeWithoutOriginBecomesAbsolute) {
  EXPECT_EQ(N("example.com").to_text(), "example.com.");
}

TEST(Name, EscapesAreDecodedAndPrinted) {
  Name n = N("a\\.b.c\\065\\032d.");
  EXPECT_EQ(n.label_count(), 2u);
  EXPECT_EQ(n.label(0), "a.b");
  EXPECT_EQ(n.label(1), "cA d");
  EXPECT_EQ(n.to_text(), "a\\.b.cA\\032d.");
}

TEST(Name, RejectsMalformedText) {
  EXPECT_FALSE(Name::from_text("").ok());
  EXPECT_FALSE(Name::from_text("a..b").ok());
  EXPECT_FALSE(Name::from_text(".a").ok());
  EXPECT_FALSE(Name::from_text("a\\").ok());
  EXPECT_FALSE(Name::from_text("a\\25").ok());
  EXPECT_FALSE(Name::from_text("a\\256").ok());
  EXPECT_FALSE(Name::from_text(std::string(64, 'x') + ".com").ok());
  EXPECT_TRUE(Name::from_text(std::string(63, 'x') + ".com").ok());
}

TEST(Name, RejectsNamesOver255Octets) {
  std::string label(63, 'a');
  // 4 labels of 63 = 256 wire octets with root: too long.
  std::string text = label + "." + label + "." + label + "." + label + ".";
  EXPECT_FALSE(Name::from_text(text).ok());
  // 3*64 + 62 + 1 + 1 = 256: still too long; 61 makes 255.
  EXPECT_TRUE(Name::from_text(label + "." + label + "." + label + "." + std::string(61, 'a') + ".").ok());
  EXPECT_FALSE(Name::from_text(label + "." + label + "." + label + "." + std::string(62, 'a') + ".").ok());
  Name origin = N(label + "." + label + "." + label + ".");
  EXPECT_FALSE(Name::from_text(std::string(62, 'b'), &origin).ok());
}

TEST(Name, FromWireValidates) {
  EXPECT_TRUE(Name::from_wire(std::string("\3com\0", 5)).ok());
  EXPECT_FALSE(Name::from_wire(std::string("\3com", 4)).ok());
  EXPECT_FALSE(Name::from_wire(std::string("\3com\0x", 6)).ok());
  EXPECT_FALSE(Name::from_wire(std::string("\xC0\x0c", 2)).ok());
  EXPECT_FALSE(Name::from_wire("").ok());
}

TEST(Name, EqualityAndHashIgnoreCase) {
  Name a = N("WWW.Example.COM."), b = N("www.example.com.");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a, N("www.example.org."));
  EXPECT_NE(N("ab.c."), N("a.bc."));
  EXPECT_EQ(a.to_text(), "WWW.Example.COM.");  // case preserved
  EXPECT_EQ(a.lowercased().to_text(), "www.example.com.");
}

TEST(Name, ParentSuffixAndSubdomain) {
  Name n = N("a.b.example.com.");
  EXPECT_EQ(n.parent(), N("b.example.com."));
  EXPECT_EQ(n.suffix(2), N("example.com."));
  EXPECT_EQ(n.suffix(0), Name());
  EXPECT_EQ(Name().parent(), Name());
  EXPECT_TRUE(n.is_subdomain_of(N("EXAMPLE.com.")));
  EXPECT_TRUE(n.is_subdomain_of(n));
  EXPECT_TRUE(n.is_subdomain_of(Name()));
  EXPECT_FALSE(n.is_subdomain_of(N("ample.com.")));
  EXPECT_FALSE(N("com.").is_subdomain_of(n));
}

TEST(Name, WildcardAndPrepend) {
  Name z = N("example.com.");
  EXPECT_EQ(z.wildcard_child().to_text(), "*.example.com.");
  EXPECT_TRUE(z.wildcard_child().is_wildcard());
  EXPECT_FALSE(z.is_wildcard());
  auto p = z.prepend("www");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, N("www.example.com."));
  EXPECT_FALSE(z.prepend("").ok());
  EXPECT_FALSE(z.prepend(std::string(64, 'a')).ok());
}

TEST(Name, CanonicalOrderFollowsRfc4034Example) {
  // RFC 4034 §6.1 example, already in canonical order.
  std::vector<std::string> expected = {"example.",       "a.example.",       "yljkjljk.a.example.",
                                       "Z.a.example.",   "zABC.a.EXAMPLE.",  "z.example.",
                                       "\\001.z.example.", "*.z.example.",   "\\200.z.example."};
  std::vector<Name> names;
  for (auto it = expected.rbegin(); it != expected.rend(); ++it) names.push_back(N(*it));
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), expected.size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], N(expected[i])) << i;
  EXPECT_EQ(N("A.example.").canonical_compare(N("a.EXAMPLE.")), 0);
}

}  // namespace
}  // namespace dns
