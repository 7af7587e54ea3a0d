// TSIG (RFC 8945): signatures identical to dnspython's, verification of
// requests and responses, and the BADKEY/BADSIG/BADTIME outcomes.
#include "dns/tsig.h"

#include "dns/encoding.h"

#include <gtest/gtest.h>

namespace {

using dns::tsig::Algorithm;

constexpr uint64_t kSignedAt = 1700000000;  // the time the vectors were made
const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

/// Vectors made with dnspython 2.3 (time fixed at kSignedAt): an UPDATE of
/// example.com. adding "www 300 A 192.0.2.1", id 0x1234, key ddns-key., and
/// dnspython's response to it.
struct Vector {
  const char* algorithm;
  const char* request;
  const char* response;
};
const Vector kVectors[] = {
    {"hmac-sha256",
     "123428000001000000010001076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002010864646e732d6b"
     "65790000fa00ff00000000003d0b686d61632d7368613235360000006553f100012c0020c65d269872d76a75faafcb5810c2329f98e9db33"
     "eba7ad6099674451a272b035123400000000",
     "1234a8000001000000000001076578616d706c6503636f6d00000600010864646e732d6b65790000fa00ff00000000003d0b686d61632d73"
     "68613235360000006553f100012c002010accdacdc9ea0d035b7c03db19d8356fee69c63ec564955c09d0b56058b4f95123400000000"},
    {"hmac-sha512",
     "123428000001000000010001076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002010864646e732d6b"
     "65790000fa00ff00000000005d0b686d61632d7368613531320000006553f100012c00409610a6c805c6254fb93e8baf4adac907dce52ca4"
     "3d5e2c8d2ffe18a160d528f22cdd656aad54e24c2ebb39d01d46b6f287d5aa9998f7de4387a571e50777ba3d123400000000",
     "1234a8000001000000000001076578616d706c6503636f6d00000600010864646e732d6b65790000fa00ff00000000005d0b686d61632d73"
     "68613531320000006553f100012c00401512e70541b0ff2f36df7bbd0c546ff2cb2932bbc488b6cb833c1974f33b336956064881d9c4db46"
     "bffcf647521502294ce1d24e69a39f8bb24503383cb0e54f123400000000"},
    {"hmac-sha1",
     "123428000001000000010001076578616d706c6503636f6d000006000103777777c00c000100010000012c0004c00002010864646e732d6b"
     "65790000fa00ff00000000002f09686d61632d736861310000006553f100012c0014dfb2368b16996506eddf117b7914a528c547cc511234"
     "00000000",
     "1234a8000001000000000001076578616d706c6503636f6d00000600010864646e732d6b65790000fa00ff00000000002f09686d61632d73"
     "6861310000006553f100012c0014fd7d1e6e1b3eba462de7a4f690f85668acfdb707123400000000"},
};

dns::tsig::Key key(const char* algorithm, const char* name = "ddns-key.", const char* secret = kSecret) {
  auto k = dns::tsig::make_key(name, algorithm, secret);
  EXPECT_TRUE(k) << k.error().message;
  return k.value();
}

dns::Message parse(const std::string& wire) {
  auto m = dns::parse_message(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  EXPECT_TRUE(m) << m.error().message;
  return m.value();
}

/// The message as it was before its TSIG record was appended.
std::string strip_tsig(const std::string& wire) {
  dns::Message m = parse(wire);
  std::string out = wire.substr(0, m.tsig_offset);
  out[11] = static_cast<char>(out[11] - 1);
  return out;
}

dns::tsig::Verification verify(const std::string& wire, const std::vector<dns::tsig::Key>& keys, uint64_t now,
                               std::string_view request_mac = {}) {
  dns::Message m = parse(wire);
  return dns::tsig::verify(reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), m, keys, now, request_mac);
}

TEST(Tsig, RequestSignatureMatchesDnspython) {
  for (const Vector& v : kVectors) {
    std::string expected = unhex(v.request);
    std::string msg = strip_tsig(expected);
    dns::tsig::sign(msg, key(v.algorithm), kSignedAt);
    EXPECT_EQ(msg, expected) << v.algorithm;
  }
}

TEST(Tsig, VerifiesRequestAndResponseWithTheRequestMac) {
  for (const Vector& v : kVectors) {
    std::vector<dns::tsig::Key> keys = {key(v.algorithm)};
    std::string request = unhex(v.request);
    auto checked = verify(request, keys, kSignedAt + 10);
    ASSERT_EQ(checked.error, 0) << v.algorithm << ": " << checked.reason;
    EXPECT_EQ(checked.key, &keys[0]);
    // The response digest starts with the request MAC (RFC 8945 §4.3.1).
    std::string response = unhex(v.response);
    std::string unsigned_response = strip_tsig(response);
    dns::tsig::sign(unsigned_response, keys[0], kSignedAt, checked.rdata.mac);
    EXPECT_EQ(unsigned_response, response) << v.algorithm;
    EXPECT_EQ(verify(response, keys, kSignedAt, checked.rdata.mac).error, 0);
    // Without the request MAC the response does not verify.
    EXPECT_EQ(verify(response, keys, kSignedAt).error, dns::rcode::BADSIG);
  }
}

TEST(Tsig, UnknownKeyIsBadKey) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "other-key.")};
  auto v = verify(unhex(kVectors[0].request), keys, kSignedAt);
  EXPECT_EQ(v.error, dns::rcode::BADKEY);
  EXPECT_EQ(v.key, nullptr);
}

TEST(Tsig, AlgorithmMismatchIsBadKey) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha512")};
  EXPECT_EQ(verify(unhex(kVectors[0].request), keys, kSignedAt).error, dns::rcode::BADKEY);
}

TEST(Tsig, WrongSecretIsBadSig) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "ddns-key.", "c2VjcmV0c2VjcmV0c2VjcmV0")};
  EXPECT_EQ(verify(unhex(kVectors[0].request), keys, kSignedAt).error, dns::rcode::BADSIG);
}

TEST(Tsig, ModifiedMessageIsBadSig) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string request = unhex(kVectors[0].request);
  // The last octet of the A record's address: 192.0.2.1 -> 192.0.2.2.
  size_t at = request.find(std::string("\xc0\x00\x02\x01", 4));
  ASSERT_NE(at, std::string::npos);
  request[at + 3] = 2;
  EXPECT_EQ(verify(request, keys, kSignedAt).error, dns::rcode::BADSIG);
}

TEST(Tsig, TimeOutsideFudgeIsBadTimeAfterTheMacChecks) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string request = unhex(kVectors[0].request);
  EXPECT_EQ(verify(request, keys, kSignedAt + 300).error, 0);
  EXPECT_EQ(verify(request, keys, kSignedAt - 300).error, 0);
  auto late = verify(request, keys, kSignedAt + 301);
  EXPECT_EQ(late.error, dns::rcode::BADTIME);
  EXPECT_EQ(late.key, &keys[0]);  // known: the BADTIME answer is signed with it
  EXPECT_EQ(verify(request, keys, kSignedAt - 301).error, dns::rcode::BADTIME);
}

TEST(Tsig, TruncatedMacIsRefused) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string msg = strip_tsig(unhex(kVectors[0].request));
  std::string base = msg;
  dns::tsig::sign(msg, keys[0], kSignedAt);
  dns::Message m = parse(msg);
  auto rd = dns::tsig::parse_rdata(m.tsig->rdata).value();
  // Rebuild the record with only 16 of the 32 MAC octets.
  rd.mac.resize(16);
  std::string rdata = dns::tsig::encode_rdata(rd);
  std::string truncated = base;
  truncated += keys[0].name.wire();
  truncated += std::string("\x00\xfa\x00\xff\x00\x00\x00\x00", 8);
  truncated.push_back(static_cast<char>(rdata.size() >> 8));
  truncated.push_back(static_cast<char>(rdata.size() & 0xFF));
  truncated += rdata;
  truncated[11] = static_cast<char>(truncated[11] + 1);
  EXPECT_EQ(verify(truncated, keys, kSignedAt).error, dns::tsig::BADTRUNC);
  rd.mac.resize(8);  // below 10 octets: malformed
  rdata = dns::tsig::encode_rdata(rd);
  truncated = base + keys[0].name.wire() + std::string("\x00\xfa\x00\xff\x00\x00\x00\x00", 8);
  truncated.push_back(0);
  truncated.push_back(static_cast<char>(rdata.size()));
  truncated += rdata;
  truncated[11] = static_cast<char>(truncated[11] + 1);
  EXPECT_EQ(verify(truncated, keys, kSignedAt).error, dns::rcode::FORMERR);
}

TEST(Tsig, UnsignedErrorRecordHasAnEmptyMac) {
  std::string msg = strip_tsig(unhex(kVectors[0].response));
  dns::tsig::append_unsigned(msg, dns::Name::from_text("ddns-key.").value(),
                             dns::tsig::algorithm_name(Algorithm::HmacSha256), kSignedAt, dns::rcode::BADKEY);
  dns::Message m = parse(msg);
  ASSERT_TRUE(m.tsig);
  auto rd = dns::tsig::parse_rdata(m.tsig->rdata);
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_TRUE(rd->mac.empty());
  EXPECT_EQ(rd->error, dns::rcode::BADKEY);
  EXPECT_EQ(rd->original_id, 0x1234);
}

TEST(Tsig, KeysFromConfigText) {
  EXPECT_TRUE(dns::tsig::make_key("k.", "HMAC-SHA512", kSecret));
  EXPECT_TRUE(dns::tsig::make_key("k", "hmac-sha1.", kSecret));
  EXPECT_FALSE(dns::tsig::make_key("k.", "hmac-md5", kSecret));
  EXPECT_FALSE(dns::tsig::make_key("k.", "hmac-sha256", "not base64!"));
  EXPECT_FALSE(dns::tsig::make_key("k.", "hmac-sha256", "abc"));
  EXPECT_EQ(dns::base64_decode(kSecret).value(), "0123456789abcdef0123456789abcdef");
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x00\x10"}) {
    EXPECT_EQ(dns::base64_decode(dns::base64_encode(s)).value(), s);
  }
}

TEST(Tsig, MalformedRdataIsRejected) {
  std::string rdata = dns::tsig::encode_rdata(dns::tsig::Rdata{dns::tsig::algorithm_name(Algorithm::HmacSha256),
                                                               kSignedAt, 300, std::string(32, 'x'), 1, 0, ""});
  ASSERT_TRUE(dns::tsig::parse_rdata(rdata));
  for (size_t len = 0; len < rdata.size(); ++len) {
    EXPECT_FALSE(dns::tsig::parse_rdata(std::string_view(rdata).substr(0, len))) << len;
  }
  EXPECT_FALSE(dns::tsig::parse_rdata(rdata + "x"));
}

}  // namespace
