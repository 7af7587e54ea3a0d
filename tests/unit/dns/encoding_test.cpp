// RFC 4648 encodings: the test vectors of §10, and the spellings we refuse.
#include "dns/encoding.h"

#include <gtest/gtest.h>

namespace {

TEST(Encoding, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(dns::base64_encode(plain), encoded);
    EXPECT_EQ(dns::base64_decode(encoded).value(), plain);
  }
}

TEST(Encoding, Base64PaddingIsRequiredUnlessOptional) {
  EXPECT_FALSE(dns::base64_decode("Zm8"));
  EXPECT_EQ(dns::base64_decode("Zm8", dns::Base64Padding::Optional).value(), "fo");
  EXPECT_EQ(dns::base64_decode("Zm8=", dns::Base64Padding::Optional).value(), "fo");
  EXPECT_FALSE(dns::base64_decode("Zm8==", dns::Base64Padding::Optional));
}

TEST(Encoding, Base64RefusesNonCanonicalAndStrayCharacters) {
  EXPECT_FALSE(dns::base64_decode("Zh=="));  // the unused bits of 'h' are not zero (RFC 4648 §3.5)
  EXPECT_FALSE(dns::base64_decode("Zm 9v"));
  EXPECT_FALSE(dns::base64_decode("Zm9v!A=="));
  EXPECT_FALSE(dns::base64_decode("Z==="));
  EXPECT_FALSE(dns::base64_decode("Zm=v"));
}

TEST(Encoding, HexIsUpperCaseAndDecodesEitherCase) {
  EXPECT_EQ(dns::hex_encode(std::string("\x00\xab\xff", 3)), "00ABFF");
  EXPECT_EQ(dns::hex_decode("00abFF").value(), std::string("\x00\xab\xff", 3));
  EXPECT_FALSE(dns::hex_decode("abc"));
  EXPECT_FALSE(dns::hex_decode("0g"));
}

TEST(Encoding, Base32HexMatchesRfc4648VectorsWithoutPadding) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "CO"}, {"fo", "CPNG"}, {"foo", "CPNMU"}, {"foob", "CPNMUOG"}, {"fooba", "CPNMUOJ1"},
      {"foobar", "CPNMUOJ1E8"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(dns::base32hex_encode(plain), encoded);
    EXPECT_EQ(dns::base32hex_decode(encoded).value(), plain);
    std::string lower(encoded);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(dns::base32hex_decode(lower).value(), plain);
  }
  EXPECT_FALSE(dns::base32hex_decode("C"));    // 5 bits: not an octet
  EXPECT_FALSE(dns::base32hex_decode("CPN"));  // 15 bits
  EXPECT_FALSE(dns::base32hex_decode("CP"));   // spare bits set
  EXPECT_FALSE(dns::base32hex_decode("W0"));   // outside the alphabet
}

}  // namespace
