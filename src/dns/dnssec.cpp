// NSEC3 hashing (RFC 5155 §5) with OpenSSL's SHA-1, and NSEC3 field reading.
#include "dns/dnssec.h"

#include <openssl/evp.h>

#include <algorithm>

#include "dns/name.h"

namespace dns {

Nsec3Hash nsec3_hash(std::string_view name_wire, std::string_view salt, uint16_t iterations) {
  // The input of each round: the name (lower-cased) or the last hash, then the salt.
  unsigned char buf[256 + 255];
  size_t n = name_wire.size() < 256 ? name_wire.size() : 256;
  for (size_t i = 0; i < n; ++i) buf[i] = ascii_lower(static_cast<uint8_t>(name_wire[i]));
  Nsec3Hash h{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* sha1 = EVP_sha1();
  for (uint32_t round = 0; round <= iterations; ++round) {
    if (round > 0) {
      std::copy(h.begin(), h.end(), buf);
      n = h.size();
    }
    std::copy(salt.begin(), salt.end(), buf + n);
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, sha1, nullptr);
    EVP_DigestUpdate(ctx, buf, n + salt.size());
    EVP_DigestFinal_ex(ctx, h.data(), &len);
  }
  EVP_MD_CTX_free(ctx);
  return h;
}

std::optional<Nsec3Params> nsec3_params(std::string_view rdata) {
  if (rdata.size() < 5) return std::nullopt;
  const size_t salt_len = static_cast<uint8_t>(rdata[4]);
  if (rdata.size() < 5 + salt_len) return std::nullopt;
  Nsec3Params p;
  p.algorithm = static_cast<uint8_t>(rdata[0]);
  p.flags = static_cast<uint8_t>(rdata[1]);
  p.iterations = static_cast<uint16_t>((static_cast<uint8_t>(rdata[2]) << 8) | static_cast<uint8_t>(rdata[3]));
  p.salt = rdata.substr(5, salt_len);
  return p;
}

}  // namespace dns
