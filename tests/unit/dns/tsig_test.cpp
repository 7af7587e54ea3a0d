// TSIG (RFC 8945): signatures identical to dnspython's, verification of
// requests and responses, the BADKEY/BADSIG/BADTIME outcomes, the server's
// signed answers and signed message streams (§5.3.1).
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
  EXPECT_EQ(dns::tsig::make_key("k.", "hmac-md5", kSecret)->algorithm, Algorithm::HmacMd5);
  EXPECT_EQ(dns::tsig::make_key("k.", "HMAC-MD5.SIG-ALG.REG.INT", kSecret)->algorithm, Algorithm::HmacMd5);
  EXPECT_FALSE(dns::tsig::make_key("k.", "hmac-sha3", kSecret));
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

// ---- vectors from tests/unit/dns/make_tsig_vectors.py (dnspython 2.3, clock
// fixed at kSignedAt; the script's docstring says what each one is)

const char* kMd5Query =
    "23450100000100000000000103777777076578616d706c6503636f6d0000010001076d64352d6b65790000fa00ff00000000003a08484d41"
    "432d4d4435075349472d414c470352454703494e540000006553f100012c0010ca2fd30aaaf1f0ea4f3f9853b86d3ed4234500000000";
const char* kMd5Response =
    "23458100000100010000000103777777076578616d706c6503636f6d0000010001c00c000100010000012c0004c0000201076d64352d6b65"
    "790000fa00ff00000000003a08484d41432d4d4435075349472d414c470352454703494e540000006553f100012c001088d6669731eb89d8"
    "60ace7583aa72641234500000000";
const char* kAxfrRequest =
    "345601000001000000000001076578616d706c6503636f6d0000fc0001077866722d6b65790000fa00ff00000000003d0b686d61632d7368"
    "613235360000006553f100012c00206e2829142be059abcd1faa8fab3828215e68b849ad74148960fde977b28f96e2345600000000";
/// The five messages of the answer: 1, 4 and 5 signed, 2 and 3 not.
const char* kStream[] = {
    "345681000001000100000001076578616d706c6503636f6d0000fc0001026830c00c000100010000012c0004c0000201077866722d6b6579"
    "0000fa00ff00000000003d0b686d61632d7368613235360000006553f100012c00207613142bd8b30a4fa57ac6a5c197eb73532af9db38de"
    "7bd300694339925eae54345600000000",
    "345681000000000100000000026831076578616d706c6503636f6d00000100010000012c0004c0000202",
    "345681000000000100000000026832076578616d706c6503636f6d00000100010000012c0004c0000203",
    "345681000000000100000001026833076578616d706c6503636f6d00000100010000012c0004c0000204077866722d6b65790000fa00ff00"
    "000000003d0b686d61632d7368613235360000006553f100012c0020c2099ccdb190b990f79b0cf5ae51ec77f0cdef7e4db8fd78b8765d7d"
    "ec74bf67345600000000",
    "345681000000000100000001026834076578616d706c6503636f6d00000100010000012c0004c0000205077866722d6b65790000fa00ff00"
    "000000003d0b686d61632d7368613235360000006553f100012c002000301632e19fa3f46ba87a8e78d9cf9680bcfa6198a645c882b91a67"
    "b1eb7c38345600000000",
};
constexpr bool kStreamSigned[] = {true, false, false, true, true};

std::string mac_of(const std::string& wire) {
  return dns::tsig::parse_rdata(parse(wire).tsig->rdata).value().mac;
}

TEST(Tsig, HmacMd5QueryAndAnswerMatchDnspython) {
  std::vector<dns::tsig::Key> keys = {key("hmac-md5", "md5-key.")};
  std::string query = unhex(kMd5Query);
  // dnspython writes the algorithm in upper case; names compare without case.
  auto v = verify(query, keys, kSignedAt);
  ASSERT_EQ(v.error, 0) << v.reason;
  dns::tsig::ServerSigning signing(v, kSignedAt);
  ASSERT_FALSE(signing.failed());
  std::string response = strip_tsig(unhex(kMd5Response));
  signing.append(response);
  EXPECT_EQ(mac_of(response), mac_of(unhex(kMd5Response)));
  EXPECT_EQ(signing.mac(), mac_of(unhex(kMd5Response)));
  EXPECT_EQ(verify(unhex(kMd5Response), keys, kSignedAt, v.rdata.mac).error, 0);
}

TEST(Tsig, EveryAlgorithmSignsAndVerifies) {
  for (const char* alg : {"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}) {
    std::vector<dns::tsig::Key> keys = {key(alg)};
    std::string msg = strip_tsig(unhex(kVectors[0].request));
    const size_t before = msg.size();
    std::string mac = dns::tsig::sign(msg, keys[0], kSignedAt);
    EXPECT_EQ(mac.size(), dns::tsig::mac_size(keys[0].algorithm)) << alg;
    EXPECT_EQ(msg.size() - before, dns::tsig::record_size(keys[0])) << alg;
    EXPECT_EQ(verify(msg, keys, kSignedAt).error, 0) << alg;
  }
}

TEST(Tsig, SigningIntoABufferThatIsTooSmallChangesNothing) {
  dns::tsig::Key k = key("hmac-sha256");
  std::string msg = strip_tsig(unhex(kVectors[0].request));
  std::string buf = msg + std::string(dns::tsig::record_size(k) - 1, '\0');
  EXPECT_EQ(dns::tsig::sign(reinterpret_cast<uint8_t*>(buf.data()), msg.size(), buf.size(), k, kSignedAt), 0u);
  EXPECT_EQ(buf.substr(0, msg.size()), msg);
  buf.push_back('\0');
  EXPECT_EQ(dns::tsig::sign(reinterpret_cast<uint8_t*>(buf.data()), msg.size(), buf.size(), k, kSignedAt), buf.size());
}

TEST(Tsig, ServerSigningAnswersAGoodRequestSigned) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string request = unhex(kVectors[0].request);
  auto v = verify(request, keys, kSignedAt);
  ASSERT_EQ(v.error, 0);
  dns::tsig::ServerSigning signing(v, kSignedAt + 5);
  std::string answer = strip_tsig(unhex(kVectors[0].response));
  const size_t before = answer.size();
  signing.append(answer);
  EXPECT_EQ(answer.size() - before, signing.size());
  auto checked = verify(answer, keys, kSignedAt + 5, v.rdata.mac);
  EXPECT_EQ(checked.error, 0) << checked.reason;
  EXPECT_EQ(checked.rdata.time_signed, kSignedAt + 5);
}

TEST(Tsig, ServerSigningAnswersBadKeyAndBadSigUnsigned) {
  std::string request = unhex(kVectors[0].request);
  for (auto [keys, error] : {std::pair{std::vector<dns::tsig::Key>{key("hmac-sha256", "other-key.")}, dns::rcode::BADKEY},
                             std::pair{std::vector<dns::tsig::Key>{key("hmac-sha256", "ddns-key.", "c2VjcmV0c2VjcmV0")},
                                       dns::rcode::BADSIG}}) {
    auto v = verify(request, keys, kSignedAt);
    ASSERT_EQ(v.error, error);
    dns::tsig::ServerSigning signing(v, kSignedAt + 7);
    EXPECT_TRUE(signing.failed());
    std::string answer = strip_tsig(unhex(kVectors[0].response));
    const size_t before = answer.size();
    signing.append(answer);
    EXPECT_EQ(answer.size() - before, signing.size());
    dns::Message m = parse(answer);
    ASSERT_TRUE(m.tsig);
    EXPECT_EQ(m.tsig->owner, dns::Name::from_text("ddns-key.").value());  // the request's key name
    auto rd = dns::tsig::parse_rdata(m.tsig->rdata).value();
    EXPECT_EQ(rd.error, error);
    EXPECT_TRUE(rd.mac.empty());
    EXPECT_EQ(rd.time_signed, kSignedAt + 7);
    EXPECT_EQ(rd.original_id, 0x1234);
  }
}

TEST(Tsig, ServerSigningAnswersBadTimeSignedWithTheServersClock) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string request = unhex(kVectors[0].request);
  const uint64_t server_now = kSignedAt + 1000;
  auto v = verify(request, keys, server_now);
  ASSERT_EQ(v.error, dns::rcode::BADTIME);
  dns::tsig::ServerSigning signing(v, server_now);
  EXPECT_TRUE(signing.failed());
  std::string answer = strip_tsig(unhex(kVectors[0].response));
  const size_t before = answer.size();
  signing.append(answer);
  EXPECT_EQ(answer.size() - before, signing.size());
  // RFC 8945 §5.2.3: signed, with the request's time, ours in Other Data.
  auto checked = verify(answer, keys, kSignedAt, v.rdata.mac);
  ASSERT_EQ(checked.error, 0) << checked.reason;
  EXPECT_EQ(checked.rdata.error, dns::rcode::BADTIME);
  EXPECT_EQ(checked.rdata.time_signed, kSignedAt);
  EXPECT_EQ(checked.rdata.other, std::string("\x00\x00\x65\x53\xf4\xe8", 6));  // kSignedAt + 1000, 48 bits
}

TEST(Tsig, ClientSeesTheServersUnsignedError) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256")};
  std::string answer = strip_tsig(unhex(kVectors[0].response));
  dns::tsig::append_unsigned(answer, keys[0].name, dns::tsig::algorithm_name(Algorithm::HmacSha256), kSignedAt,
                             dns::rcode::BADSIG);
  EXPECT_EQ(verify(answer, keys, kSignedAt, "request mac").error, dns::rcode::BADSIG);
}

/// The request MAC of the stream vectors, as the server verified it.
std::string axfr_request_mac(const std::vector<dns::tsig::Key>& keys) {
  auto v = verify(unhex(kAxfrRequest), keys, kSignedAt);
  EXPECT_EQ(v.error, 0) << v.reason;
  return v.rdata.mac;
}

TEST(TsigStream, SignerReproducesDnspythonsStream) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  dns::tsig::StreamSigner signer(keys[0], axfr_request_mac(keys));
  for (size_t i = 0; i < std::size(kStream); ++i) {
    std::string expected = unhex(kStream[i]);
    std::string msg = kStreamSigned[i] ? strip_tsig(expected) : expected;
    const size_t len = msg.size();
    msg.resize(len + signer.record_size());
    size_t n = signer.add(reinterpret_cast<uint8_t*>(msg.data()), len, msg.size(), kSignedAt, kStreamSigned[i]);
    msg.resize(n);
    EXPECT_EQ(msg, expected) << "message " << i + 1;
  }
}

TEST(TsigStream, VerifierAcceptsDnspythonsStream) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  dns::tsig::StreamVerifier verifier(keys[0], axfr_request_mac(keys));
  for (size_t i = 0; i < std::size(kStream); ++i) {
    std::string wire = unhex(kStream[i]);
    auto v = verifier.add(reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), parse(wire), kSignedAt + 10);
    EXPECT_EQ(v.error, 0) << "message " << i + 1 << ": " << v.reason;
    EXPECT_EQ(verifier.complete(), kStreamSigned[i]) << "message " << i + 1;
  }
}

/// Feeds `wires` to a fresh verifier; returns the index of the first
/// message refused and its error, or (size, 0).
std::pair<size_t, uint16_t> run_verifier(const std::vector<std::string>& wires, uint64_t now = kSignedAt) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  dns::tsig::StreamVerifier verifier(keys[0], axfr_request_mac(keys));
  for (size_t i = 0; i < wires.size(); ++i) {
    auto v = verifier.add(reinterpret_cast<const uint8_t*>(wires[i].data()), wires[i].size(), parse(wires[i]), now);
    if (v.error != 0) return {i, v.error};
  }
  return {wires.size(), 0};
}

std::vector<std::string> stream_wires() {
  std::vector<std::string> out;
  for (const char* hex : kStream) out.push_back(unhex(hex));
  return out;
}

TEST(TsigStream, AnAlteredUnsignedMessageFailsAtTheNextSignature) {
  auto wires = stream_wires();
  wires[1].back() = 9;  // h1's address 192.0.2.2 -> 192.0.2.9
  EXPECT_EQ(run_verifier(wires), std::make_pair(size_t{3}, dns::rcode::BADSIG));
}

TEST(TsigStream, ADroppedOrReorderedMessageFails) {
  auto dropped = stream_wires();
  dropped.erase(dropped.begin() + 2);
  EXPECT_EQ(run_verifier(dropped), std::make_pair(size_t{2}, dns::rcode::BADSIG));
  auto swapped = stream_wires();
  std::swap(swapped[1], swapped[2]);
  EXPECT_EQ(run_verifier(swapped), std::make_pair(size_t{3}, dns::rcode::BADSIG));
  auto late_first = stream_wires();
  std::swap(late_first[0], late_first[3]);
  EXPECT_EQ(run_verifier(late_first).second, dns::rcode::BADSIG);
}

TEST(TsigStream, AnUnsignedFirstMessageFails) {
  auto wires = stream_wires();
  wires.erase(wires.begin());
  EXPECT_EQ(run_verifier(wires), std::make_pair(size_t{0}, dns::rcode::BADSIG));
}

TEST(TsigStream, ClockSkewIsBadTime) {
  EXPECT_EQ(run_verifier(stream_wires(), kSignedAt + 301), std::make_pair(size_t{0}, dns::rcode::BADTIME));
}

TEST(TsigStream, AHundredUnsignedMessagesInARowFail) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  dns::tsig::StreamVerifier verifier(keys[0], axfr_request_mac(keys));
  std::string first = unhex(kStream[0]);
  ASSERT_EQ(verifier.add(reinterpret_cast<const uint8_t*>(first.data()), first.size(), parse(first), kSignedAt).error, 0);
  std::string plain = unhex(kStream[1]);
  dns::Message m = parse(plain);
  for (int i = 0; i < 99; ++i) {
    ASSERT_EQ(verifier.add(reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), m, kSignedAt).error, 0) << i;
  }
  EXPECT_FALSE(verifier.complete());
  EXPECT_EQ(verifier.add(reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), m, kSignedAt).error,
            dns::rcode::BADSIG);
  // Dead from then on, even for a message that would have verified.
  EXPECT_NE(verifier.add(reinterpret_cast<const uint8_t*>(first.data()), first.size(), parse(first), kSignedAt).error, 0);
}

TEST(TsigStream, AServerStartsAStreamFromTheVerifiedRequestAndAClientFollowsIt) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  auto v = verify(unhex(kAxfrRequest), keys, kSignedAt + 1);
  ASSERT_EQ(v.error, 0);
  dns::tsig::ServerSigning signing(v, kSignedAt + 1);
  std::unique_ptr<dns::tsig::StreamSigner> signer = signing.start_stream();
  ASSERT_TRUE(signer);
  // The client knows only its request's MAC.
  dns::tsig::StreamVerifier client(keys[0], mac_of(unhex(kAxfrRequest)));
  for (size_t i = 0; i < std::size(kStream); ++i) {
    std::string msg = kStreamSigned[i] ? strip_tsig(unhex(kStream[i])) : unhex(kStream[i]);
    const size_t len = msg.size();
    msg.resize(len + signer->record_size());
    msg.resize(signer->add(reinterpret_cast<uint8_t*>(msg.data()), len, msg.size(), kSignedAt + 2, i % 2 == 0));
    auto checked = client.add(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), parse(msg), kSignedAt + 3);
    ASSERT_EQ(checked.error, 0) << i << ": " << checked.reason;
  }
  EXPECT_TRUE(client.complete());  // messages 1, 3 and 5 signed
  // A request that failed its check has no stream.
  std::vector<dns::tsig::Key> strangers = {key("hmac-sha256", "other-key.")};
  EXPECT_FALSE(dns::tsig::ServerSigning(verify(unhex(kAxfrRequest), strangers, kSignedAt), kSignedAt).start_stream());
}

TEST(TsigStream, SignerSignsTheFirstAndEveryHundredthMessageWhateverItIsTold) {
  std::vector<dns::tsig::Key> keys = {key("hmac-sha256", "xfr-key.")};
  const std::string request_mac = axfr_request_mac(keys);
  dns::tsig::StreamSigner signer(keys[0], request_mac);
  dns::tsig::StreamVerifier verifier(keys[0], request_mac);
  std::string plain = unhex(kStream[1]);
  size_t signed_count = 0;
  for (int i = 0; i < 250; ++i) {
    std::string msg = plain;
    msg.resize(plain.size() + signer.record_size());
    const bool forced = signer.must_sign_next();
    size_t n = signer.add(reinterpret_cast<uint8_t*>(msg.data()), plain.size(), msg.size(), kSignedAt, false);
    ASSERT_NE(n, 0u);
    msg.resize(n);
    EXPECT_EQ(n != plain.size(), forced) << i;
    signed_count += forced;
    auto v = verifier.add(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), parse(msg), kSignedAt);
    ASSERT_EQ(v.error, 0) << i << ": " << v.reason;
  }
  EXPECT_EQ(signed_count, 3u);  // messages 1, 101 and 201
}

}  // namespace
