// DNSSEC signing with OpenSSL: key generation and storage, DNSKEY/DS/key
// tag computation, and RRSIGs over canonical RRsets (RFC 4034 §3, §6).
#include "dns/dnssec_sign.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>

#include "dns/rr.h"

namespace dns {

struct SigningKey::Holder {
  EVP_PKEY* pkey = nullptr;
  ~Holder() { EVP_PKEY_free(pkey); }
};

namespace {

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v));
}

std::string lower(std::string_view wire) {
  std::string out(wire);
  for (char& c : out) c = static_cast<char>(ascii_lower(static_cast<uint8_t>(c)));
  return out;
}

/// Lower-cases the uncompressed name at `pos` of `rdata` in place; returns its end.
size_t lower_name_at(std::string& rdata, size_t pos) {
  while (pos < rdata.size()) {
    const size_t len = static_cast<uint8_t>(rdata[pos]);
    if (len == 0) return pos + 1;
    for (size_t i = pos + 1; i <= pos + len && i < rdata.size(); ++i) {
      rdata[i] = static_cast<char>(ascii_lower(static_cast<uint8_t>(rdata[i])));
    }
    pos += 1 + len;
  }
  return rdata.size();
}

/// RFC 4034 §6.2 item 3 as amended by RFC 6840 §5.1: the names in the rdata
/// of these types are lower-cased in the canonical form.
std::string canonical_rdata(uint16_t type, std::string_view rdata) {
  std::string r(rdata);
  switch (type) {
    case rrtype::NS: case rrtype::CNAME: case rrtype::PTR: case rrtype::DNAME:
    case 3: case 4: case 7: case 8: case 9:  // MD MF MB MG MR
      lower_name_at(r, 0);
      break;
    case rrtype::MX: case 18: case 21: case 36:  // MX AFSDB RT KX
      lower_name_at(r, 2);
      break;
    case rrtype::SRV:
      lower_name_at(r, 6);
      break;
    case rrtype::SOA: case 14: case 17:  // SOA MINFO RP
      lower_name_at(r, lower_name_at(r, 0));
      break;
    case 35: {  // NAPTR: the replacement after three character-strings
      size_t p = 4;
      for (int i = 0; i < 3 && p < r.size(); ++i) p += 1 + static_cast<uint8_t>(r[p]);
      lower_name_at(r, p);
      break;
    }
    default:
      break;
  }
  return r;
}

}  // namespace

util::Result<SigningKey> SigningKey::generate(uint8_t algorithm) {
  EVP_PKEY* pkey = nullptr;
  if (algorithm == kAlgEcdsaP256Sha256) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (algorithm == kAlgEd25519) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    return util::make_error("DNSSEC algorithm " + std::to_string(algorithm) + " is not supported for signing");
  }
  if (!pkey) return util::make_error("generating a DNSSEC key failed (OpenSSL)");
  SigningKey k;
  k.key_ = std::make_shared<Holder>();
  k.key_->pkey = pkey;
  k.algorithm_ = algorithm;
  return k;
}

util::Result<SigningKey> SigningKey::from_private_der(uint8_t algorithm, std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (!pkey) return util::make_error("a stored DNSSEC private key does not decode");
  const int id = EVP_PKEY_get_base_id(pkey);
  if ((algorithm == kAlgEcdsaP256Sha256 && id != EVP_PKEY_EC) || (algorithm == kAlgEd25519 && id != EVP_PKEY_ED25519)) {
    EVP_PKEY_free(pkey);
    return util::make_error("a stored DNSSEC private key is not of algorithm " + std::to_string(algorithm));
  }
  SigningKey k;
  k.key_ = std::make_shared<Holder>();
  k.key_->pkey = pkey;
  k.algorithm_ = algorithm;
  return k;
}

std::string SigningKey::private_der() const {
  unsigned char* buf = nullptr;
  const int n = i2d_PrivateKey(key_->pkey, &buf);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  return out;
}

std::string SigningKey::public_key() const {
  if (algorithm_ == kAlgEd25519) {
    unsigned char buf[32];
    size_t len = sizeof buf;
    if (EVP_PKEY_get_raw_public_key(key_->pkey, buf, &len) != 1) return {};
    return std::string(reinterpret_cast<char*>(buf), len);
  }
  unsigned char* point = nullptr;
  const size_t n = EVP_PKEY_get1_encoded_public_key(key_->pkey, &point);
  std::string out;
  // An uncompressed point: 0x04, then X and Y (RFC 6605 §4 keeps X and Y).
  if (n == 65 && point[0] == 0x04) out.assign(reinterpret_cast<char*>(point) + 1, 64);
  OPENSSL_free(point);
  return out;
}

util::Result<std::string> SigningKey::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return util::make_error("out of memory signing");
  const EVP_MD* md = algorithm_ == kAlgEd25519 ? nullptr : EVP_sha256();
  std::string sig;
  size_t len = 0;
  bool ok = EVP_DigestSignInit(ctx, nullptr, md, nullptr, key_->pkey) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return util::make_error("signing failed (OpenSSL)");
  if (algorithm_ == kAlgEd25519) return sig;
  // RFC 6605 §4: r and s, each 32 octets, in place of the DER structure.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (!es) return util::make_error("signing produced no ECDSA signature");
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(es, &r, &s);
  std::string out(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return out;
}

std::string dnskey_rdata(uint16_t flags, uint8_t algorithm, std::string_view public_key) {
  std::string out;
  put16(out, flags);
  out.push_back(3);  // protocol (RFC 4034 §2.1.2)
  out.push_back(static_cast<char>(algorithm));
  out += public_key;
  return out;
}

uint16_t key_tag(std::string_view rdata) {
  uint32_t ac = 0;
  for (size_t i = 0; i < rdata.size(); ++i) {
    const uint32_t octet = static_cast<uint8_t>(rdata[i]);
    ac += (i & 1) ? octet : octet << 8;
  }
  ac += (ac >> 16) & 0xFFFF;
  return static_cast<uint16_t>(ac & 0xFFFF);
}

std::string ds_rdata(const Name& owner, std::string_view dnskey) {
  const std::string data = lower(owner.wire()) + std::string(dnskey);
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  put16(out, key_tag(dnskey));
  out.push_back(static_cast<char>(dnskey.size() > 3 ? dnskey[3] : 0));
  out.push_back(2);  // SHA-256 (RFC 4509)
  out.append(reinterpret_cast<char*>(digest), len);
  return out;
}

std::string SigningKeyRecord::encode() const {
  std::string out(1, '\x01');  // version
  put16(out, flags);
  out.push_back(static_cast<char>(algorithm));
  out.push_back(static_cast<char>(state));
  put32(out, created);
  put32(out, since);
  out += private_der;
  return out;
}

util::Result<SigningKeyRecord> SigningKeyRecord::decode(std::string_view r) {
  if (r.size() < 14 || r[0] != 1 || static_cast<uint8_t>(r[4]) > 3) {
    return util::make_error("not a version 1 signing key record");
  }
  SigningKeyRecord k;
  k.flags = static_cast<uint16_t>((static_cast<uint8_t>(r[1]) << 8) | static_cast<uint8_t>(r[2]));
  k.algorithm = static_cast<uint8_t>(r[3]);
  k.state = static_cast<SigningKeyRecord::State>(r[4]);
  auto u32 = [&r](size_t p) {
    return (uint32_t{static_cast<uint8_t>(r[p])} << 24) | (uint32_t{static_cast<uint8_t>(r[p + 1])} << 16) |
           (uint32_t{static_cast<uint8_t>(r[p + 2])} << 8) | uint32_t{static_cast<uint8_t>(r[p + 3])};
  };
  k.created = u32(5);
  k.since = u32(9);
  k.private_der = std::string(r.substr(13));
  return k;
}

std::string KeySetChange::encode() const {
  std::string out;
  out += expected_digest;
  put16(out, static_cast<uint16_t>(records.size()));
  for (const std::string& r : records) {
    put16(out, static_cast<uint16_t>(r.size()));
    out += r;
  }
  return out;
}

util::Result<KeySetChange> KeySetChange::decode(std::string_view b) {
  if (b.size() < 34) return util::make_error("a key set change is truncated");
  KeySetChange c;
  c.expected_digest = std::string(b.substr(0, 32));
  auto u16 = [&b](size_t p) { return static_cast<size_t>((static_cast<uint8_t>(b[p]) << 8) | static_cast<uint8_t>(b[p + 1])); };
  const size_t n = u16(32);
  size_t p = 34;
  for (size_t i = 0; i < n; ++i) {
    if (b.size() - p < 2 || b.size() - p - 2 < u16(p)) return util::make_error("a key set change is truncated");
    c.records.emplace_back(b.substr(p + 2, u16(p)));
    p += 2 + u16(p);
  }
  if (p != b.size()) return util::make_error("a key set change has trailing octets");
  return c;
}

std::string key_set_digest(std::vector<std::string> records) {
  std::sort(records.begin(), records.end());
  std::string data;
  for (const std::string& r : records) {
    put16(data, static_cast<uint16_t>(r.size()));
    data += r;
  }
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string rrsig_signed_data(const RrsigFields& f, std::string_view owner_wire, const std::vector<std::string_view>& rdatas) {
  std::string data;
  put16(data, f.type_covered);
  data.push_back(static_cast<char>(f.algorithm));
  data.push_back(static_cast<char>(f.labels));
  put32(data, f.original_ttl);
  put32(data, f.expiration);
  put32(data, f.inception);
  put16(data, f.key_tag);
  data += lower(f.signer.wire());
  // RFC 4034 §6.3: the records in canonical order of their canonical rdata.
  std::vector<std::string> canon;
  canon.reserve(rdatas.size());
  for (std::string_view rd : rdatas) canon.push_back(canonical_rdata(f.type_covered, rd));
  std::sort(canon.begin(), canon.end());
  canon.erase(std::unique(canon.begin(), canon.end()), canon.end());
  const std::string owner = lower(owner_wire);
  for (const std::string& rd : canon) {
    data += owner;
    put16(data, f.type_covered);
    put16(data, rrclass::IN);
    put32(data, f.original_ttl);
    put16(data, static_cast<uint16_t>(rd.size()));
    data += rd;
  }
  return data;
}

util::Result<std::string> make_rrsig(const RrsigFields& f, const SigningKey& key, std::string_view owner_wire,
                                     const std::vector<std::string_view>& rdatas) {
  auto sig = key.sign(rrsig_signed_data(f, owner_wire, rdatas));
  if (!sig) return sig.error();
  std::string out;
  put16(out, f.type_covered);
  out.push_back(static_cast<char>(f.algorithm));
  out.push_back(static_cast<char>(f.labels));
  put32(out, f.original_ttl);
  put32(out, f.expiration);
  put32(out, f.inception);
  put16(out, f.key_tag);
  out += f.signer.wire();
  out += *sig;
  return out;
}

}  // namespace dns
