// TSIG (RFC 8945): MAC computation over the digest components of §4.3.3,
// signing, and the verification steps of §5.2 with OpenSSL's HMAC.
#include "dns/tsig.h"

#include "dns/encoding.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>
#include <cstdlib>

namespace dns::tsig {
namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  const char* name;
  size_t size;
};

constexpr std::array<AlgorithmInfo, 5> kAlgorithms = {{
    {Algorithm::HmacSha1, "hmac-sha1.", 20},
    {Algorithm::HmacSha224, "hmac-sha224.", 28},
    {Algorithm::HmacSha256, "hmac-sha256.", 32},
    {Algorithm::HmacSha384, "hmac-sha384.", 48},
    {Algorithm::HmacSha512, "hmac-sha512.", 64},
}};

const EVP_MD* evp_md(Algorithm a) {
  switch (a) {
    case Algorithm::HmacSha1: return EVP_sha1();
    case Algorithm::HmacSha224: return EVP_sha224();
    case Algorithm::HmacSha256: return EVP_sha256();
    case Algorithm::HmacSha384: return EVP_sha384();
    case Algorithm::HmacSha512: return EVP_sha512();
  }
  return EVP_sha256();
}

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v & 0xFFFF));
}
void put48(std::string& s, uint64_t v) {
  put16(s, static_cast<uint16_t>((v >> 32) & 0xFFFF));
  put32(s, static_cast<uint32_t>(v & 0xFFFFFFFF));
}

/// RFC 8945 §4.3.3: the TSIG variables that follow the message in the digest.
void append_variables(std::string& buf, const Name& key_name, const Name& algorithm, uint64_t time_signed,
                      uint16_t fudge, uint16_t error, std::string_view other) {
  buf += key_name.lowercased().wire();  // canonical form: lower case, uncompressed
  put16(buf, rrclass::ANY);
  put32(buf, 0);  // TTL
  buf += algorithm.lowercased().wire();
  put48(buf, time_signed);
  put16(buf, fudge);
  put16(buf, error);
  put16(buf, static_cast<uint16_t>(other.size()));
  buf += other;
}

std::string hmac(const Key& key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(evp_md(key.algorithm), key.secret.data(), static_cast<int>(key.secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

/// RFC 8945 §4.3.1-§4.3.3: [request MAC] + message (with the original ID,
/// without the TSIG record) + TSIG variables.
std::string digest_input(std::string_view request_mac, std::string_view message, uint16_t original_id,
                         uint16_t arcount, const Name& key_name, const Rdata& rd) {
  std::string buf;
  buf.reserve(request_mac.size() + message.size() + 128);
  if (!request_mac.empty()) {
    put16(buf, static_cast<uint16_t>(request_mac.size()));
    buf += request_mac;
  }
  size_t at = buf.size();
  buf += message;
  buf[at] = static_cast<char>(original_id >> 8);
  buf[at + 1] = static_cast<char>(original_id & 0xFF);
  buf[at + 10] = static_cast<char>(arcount >> 8);
  buf[at + 11] = static_cast<char>(arcount & 0xFF);
  append_variables(buf, key_name, rd.algorithm, rd.time_signed, rd.fudge, rd.error, rd.other);
  return buf;
}

void append_tsig_record(std::string& msg, const Name& key_name, const Rdata& rd) {
  std::string rdata = encode_rdata(rd);
  msg += key_name.wire();  // not compressed (RFC 8945 §4.2)
  put16(msg, rrtype::TSIG);
  put16(msg, rrclass::ANY);
  put32(msg, 0);
  put16(msg, static_cast<uint16_t>(rdata.size()));
  msg += rdata;
  uint16_t arcount = rd16(reinterpret_cast<const uint8_t*>(msg.data()) + 10);
  ++arcount;
  msg[10] = static_cast<char>(arcount >> 8);
  msg[11] = static_cast<char>(arcount & 0xFF);
}

}  // namespace

std::optional<Algorithm> algorithm_from_text(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.empty() || lower.back() != '.') lower += '.';
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (lower == info.name) return info.algorithm;
  }
  return std::nullopt;
}

const Name& algorithm_name(Algorithm algorithm) {
  static const std::array<Name, 5> names = [] {
    std::array<Name, 5> n;
    for (size_t i = 0; i < kAlgorithms.size(); ++i) n[i] = Name::from_text(kAlgorithms[i].name).value();
    return n;
  }();
  return names[static_cast<size_t>(algorithm)];
}

size_t mac_size(Algorithm algorithm) { return kAlgorithms[static_cast<size_t>(algorithm)].size; }

util::Result<Key> make_key(std::string_view name, std::string_view algorithm, std::string_view secret_base64) {
  Key key;
  auto n = Name::from_text(name);
  if (!n) return util::make_error("key name '" + std::string(name) + "': " + n.error().message);
  key.name = std::move(n.value());
  auto a = algorithm_from_text(algorithm);
  if (!a) {
    return util::make_error("key " + key.name.to_text() + ": unsupported algorithm '" + std::string(algorithm) +
                            "' (use hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1)");
  }
  key.algorithm = *a;
  auto secret = base64_decode(secret_base64);
  if (!secret) return util::make_error("key " + key.name.to_text() + ": secret is " + secret.error().message);
  if (secret->empty()) return util::make_error("key " + key.name.to_text() + ": secret is empty");
  key.secret = std::move(secret.value());
  return key;
}

util::Result<Rdata> parse_rdata(std::string_view rdata) {
  const auto* p = reinterpret_cast<const uint8_t*>(rdata.data());
  size_t len = rdata.size(), pos = 0;
  // The algorithm name is never compressed (RFC 8945 §4.2).
  while (pos < len && p[pos] != 0) {
    if (p[pos] > 63) return util::make_error("TSIG algorithm name is malformed");
    pos += 1 + p[pos];
  }
  if (pos >= len) return util::make_error("TSIG RDATA truncated in the algorithm name");
  ++pos;
  Rdata rd;
  auto alg = Name::from_wire(rdata.substr(0, pos));
  if (!alg) return util::make_error("TSIG algorithm name: " + alg.error().message);
  rd.algorithm = std::move(alg.value());
  auto need = [&](size_t n) { return len - pos >= n; };
  if (!need(10)) return util::make_error("TSIG RDATA truncated");
  rd.time_signed = (uint64_t(rd16(p + pos)) << 32) | (uint64_t(rd16(p + pos + 2)) << 16) | rd16(p + pos + 4);
  rd.fudge = rd16(p + pos + 6);
  uint16_t mac_len = rd16(p + pos + 8);
  pos += 10;
  if (!need(mac_len)) return util::make_error("TSIG MAC runs past the RDATA");
  rd.mac.assign(rdata.substr(pos, mac_len));
  pos += mac_len;
  if (!need(6)) return util::make_error("TSIG RDATA truncated after the MAC");
  rd.original_id = rd16(p + pos);
  rd.error = rd16(p + pos + 2);
  uint16_t other_len = rd16(p + pos + 4);
  pos += 6;
  if (len - pos != other_len) return util::make_error("TSIG other data length does not match the RDATA");
  rd.other.assign(rdata.substr(pos, other_len));
  return rd;
}

std::string encode_rdata(const Rdata& rd) {
  std::string out = rd.algorithm.lowercased().wire();
  put48(out, rd.time_signed);
  put16(out, rd.fudge);
  put16(out, static_cast<uint16_t>(rd.mac.size()));
  out += rd.mac;
  put16(out, rd.original_id);
  put16(out, rd.error);
  put16(out, static_cast<uint16_t>(rd.other.size()));
  out += rd.other;
  return out;
}

std::string sign(std::string& msg, const Key& key, uint64_t time_signed, std::string_view request_mac,
                 uint16_t error, std::string_view other, uint16_t fudge) {
  Rdata rd;
  rd.algorithm = algorithm_name(key.algorithm);
  rd.time_signed = time_signed;
  rd.fudge = fudge;
  rd.original_id = rd16(reinterpret_cast<const uint8_t*>(msg.data()));
  rd.error = error;
  rd.other = std::string(other);
  uint16_t arcount = rd16(reinterpret_cast<const uint8_t*>(msg.data()) + 10);
  rd.mac = hmac(key, digest_input(request_mac, msg, rd.original_id, arcount, key.name, rd));
  append_tsig_record(msg, key.name, rd);
  return rd.mac;
}

void append_unsigned(std::string& msg, const Name& key_name, const Name& algorithm, uint64_t time_signed,
                     uint16_t error, uint16_t fudge) {
  Rdata rd;
  rd.algorithm = algorithm;
  rd.time_signed = time_signed;
  rd.fudge = fudge;
  rd.original_id = rd16(reinterpret_cast<const uint8_t*>(msg.data()));
  rd.error = error;
  append_tsig_record(msg, key_name, rd);
}

Verification verify(const uint8_t* msg, size_t len, const Message& parsed, const std::vector<Key>& keys,
                    uint64_t now, std::string_view request_mac) {
  Verification v;
  if (!parsed.tsig || parsed.tsig_offset < kHeaderSize || parsed.tsig_offset > len) {
    v.error = rcode::FORMERR;
    v.reason = "no TSIG record";
    return v;
  }
  const RR& rr = *parsed.tsig;
  v.key_name = rr.owner;
  auto rd = parse_rdata(rr.rdata);
  if (!rd || rr.rclass != rrclass::ANY || rr.ttl != 0) {
    v.error = rcode::FORMERR;
    v.reason = rd ? "TSIG record must have class ANY and TTL 0" : rd.error().message;
    return v;
  }
  v.rdata = std::move(rd.value());
  // §5.2.1: the key must be known, with the algorithm the message names.
  for (const Key& k : keys) {
    if (k.name == rr.owner) {
      v.key = &k;
      break;
    }
  }
  if (!v.key || algorithm_name(v.key->algorithm) != v.rdata.algorithm) {
    v.error = rcode::BADKEY;
    v.reason = v.key ? "key " + rr.owner.to_text() + " is not a " + v.rdata.algorithm.to_text() + " key"
                     : "unknown key " + rr.owner.to_text();
    v.key = nullptr;
    return v;
  }
  // §5.2.2.1: a MAC longer than the hash, or truncated below 10 octets or
  // half the hash, is malformed; we ask for the full MAC (local policy).
  const size_t full = mac_size(v.key->algorithm);
  const size_t got = v.rdata.mac.size();
  if (got > full || got < 10 || got < full / 2) {
    v.error = rcode::FORMERR;
    v.reason = "TSIG MAC of " + std::to_string(got) + " octets is not valid for " + v.rdata.algorithm.to_text();
    return v;
  }
  // §5.2.2: the MAC over the message as it was before the TSIG was added.
  uint16_t arcount = static_cast<uint16_t>(parsed.header.arcount - 1);
  std::string_view message(reinterpret_cast<const char*>(msg), parsed.tsig_offset);
  std::string mac = hmac(*v.key, digest_input(request_mac, message, v.rdata.original_id, arcount, rr.owner, v.rdata));
  if (CRYPTO_memcmp(mac.data(), v.rdata.mac.data(), got) != 0) {
    v.error = rcode::BADSIG;
    v.reason = "TSIG signature does not verify with key " + rr.owner.to_text();
    return v;
  }
  if (got < full) {
    v.error = BADTRUNC;
    v.reason = "truncated TSIG MAC (" + std::to_string(got) + " of " + std::to_string(full) + " octets) not accepted";
    return v;
  }
  // §5.2.3: the time check, after the MAC, so a forged message cannot learn
  // the server's clock.
  uint64_t signed_at = v.rdata.time_signed;
  uint64_t skew = now > signed_at ? now - signed_at : signed_at - now;
  if (skew > v.rdata.fudge) {
    v.error = rcode::BADTIME;
    v.reason = "TSIG time " + std::to_string(signed_at) + " is " + std::to_string(skew) + " s from ours (fudge " +
               std::to_string(v.rdata.fudge) + " s)";
    return v;
  }
  return v;
}

}  // namespace dns::tsig
