// DNSSEC signing: RFC 4034's key tag and RFC 4509's DS vector, key storage,
// and RRSIGs that OpenSSL verifies over the canonical RRset.
#include "dns/dnssec_sign.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dns/encoding.h"
#include "dns/rr.h"

namespace {

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

// RFC 4034 §5.4 and RFC 4509 §2.3: dskey.example.com.'s key, tag and DS.
TEST(DnssecSign, KeyTagAndDsMatchTheRfcExamples) {
  const std::string key = dns::base64_decode(
                              "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMm"
                              "mAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==")
                              .value();
  const std::string dnskey = dns::dnskey_rdata(256, 5, key);
  EXPECT_EQ(dns::key_tag(dnskey), 60485);
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::DS, dns::ds_rdata(name("dskey.example.com."), dnskey)),
            "60485 5 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A");
}

/// Verifies `sig` (DNSSEC form) over `data` with the key in `der`.
bool verify(uint8_t algorithm, const std::string& der, const std::string& data, const std::string& sig) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (!pkey) return false;
  std::string raw = sig;
  if (algorithm == dns::kAlgEcdsaP256Sha256) {
    // RFC 6605 §4 r||s back to DER for OpenSSL.
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int n = i2d_ECDSA_SIG(es, &out);
    raw.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, algorithm == dns::kAlgEd25519 ? nullptr : EVP_sha256(), nullptr,
                                       pkey) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

class EachAlgorithm : public ::testing::TestWithParam<uint8_t> {};

TEST_P(EachAlgorithm, AStoredKeySignsAsTheOriginal) {
  auto key = dns::SigningKey::generate(GetParam());
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->public_key().size(), GetParam() == dns::kAlgEd25519 ? 32u : 64u);
  dns::SigningKeyRecord rec;
  rec.flags = dns::kDnskeyZone | dns::kDnskeySep;
  rec.algorithm = GetParam();
  rec.created = 1700000000;
  rec.private_der = key->private_der();
  auto back = dns::SigningKeyRecord::decode(rec.encode());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ksk());
  EXPECT_EQ(back->created, 1700000000u);
  auto again = dns::SigningKey::from_private_der(back->algorithm, back->private_der);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->public_key(), key->public_key());
  EXPECT_FALSE(dns::SigningKey::from_private_der(GetParam() == dns::kAlgEd25519 ? dns::kAlgEcdsaP256Sha256
                                                                                : dns::kAlgEd25519,
                                                 back->private_der));
}

TEST_P(EachAlgorithm, RrsigVerifiesOverTheCanonicalRrset) {
  auto key = dns::SigningKey::generate(GetParam());
  ASSERT_TRUE(key);
  dns::RrsigFields f;
  f.type_covered = dns::rrtype::MX;
  f.algorithm = GetParam();
  f.labels = 3;
  f.original_ttl = 300;
  f.inception = 1700000000;
  f.expiration = 1702000000;
  f.key_tag = dns::key_tag(dns::dnskey_rdata(256, GetParam(), key->public_key()));
  f.signer = name("Example.COM.");
  const std::string a = dns::rdata_from_text(dns::rrtype::MX, "20 Mail2.Example.com.", dns::Name()).value();
  const std::string b = dns::rdata_from_text(dns::rrtype::MX, "10 mail.example.com.", dns::Name()).value();
  auto rrsig = dns::make_rrsig(f, *key, name("WWW.example.com.").wire(), {a, b});
  ASSERT_TRUE(rrsig);
  // The signature is the rdata's tail; what it signs does not depend on the
  // case of names or the order of the records (RFC 4034 §6.2, §6.3).
  const std::string sig = rrsig->substr(rrsig->size() - 64);
  const std::string canonical = dns::rrsig_signed_data(f, name("www.example.com.").wire(), {b, a});
  EXPECT_EQ(canonical, dns::rrsig_signed_data(f, name("WWW.EXAMPLE.COM.").wire(), {a, b}));
  EXPECT_TRUE(verify(GetParam(), key->private_der(), canonical, sig));
  // It prints as an RRSIG should.
  const std::string head = "MX " + std::to_string(GetParam()) + " 3 300 20231208014640 20231114221320 " +
                           std::to_string(f.key_tag) + " Example.COM. ";
  EXPECT_EQ(dns::rdata_to_text(dns::rrtype::RRSIG, *rrsig).substr(0, head.size()), head);
  // A changed record breaks it.
  const std::string changed = dns::rdata_from_text(dns::rrtype::MX, "30 mail.example.com.", dns::Name()).value();
  EXPECT_FALSE(verify(GetParam(), key->private_der(), dns::rrsig_signed_data(f, name("www.example.com.").wire(), {a, changed}), sig));
}

INSTANTIATE_TEST_SUITE_P(Algorithms, EachAlgorithm, ::testing::Values(dns::kAlgEcdsaP256Sha256, dns::kAlgEd25519));

TEST(DnssecSign, StoredKeysAreNeverPrinted) {
  auto key = dns::SigningKey::generate(dns::kAlgEd25519).value();
  dns::SigningKeyRecord rec;
  rec.private_der = key.private_der();
  const std::string text = dns::rdata_to_text(dns::rrtype::SIGNING_KEY, rec.encode());
  EXPECT_NE(text.find("withheld"), std::string::npos) << text;
  EXPECT_EQ(text.find(dns::hex_encode(rec.private_der)), std::string::npos);
  EXPECT_FALSE(dns::rdata_from_text(dns::rrtype::SIGNING_KEY, "1 2 3", dns::Name()));
}

}  // namespace
