// Making DNSSEC signatures: keys for ECDSA P-256 (RFC 6605) and Ed25519
// (RFC 8080) held by OpenSSL, DNSKEY and DS rdata, key tags, and RRSIGs
// over the canonical form of an RRset (RFC 4034 §3.1.8.1, §6).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "util/result.h"

namespace dns {

/// The DNSSEC algorithms we sign with (RFC 8624 §3.1: both MUST/RECOMMENDED).
inline constexpr uint8_t kAlgEcdsaP256Sha256 = 13;
inline constexpr uint8_t kAlgEd25519 = 15;
/// DNSKEY flags (RFC 4034 §2.1.1, RFC 3757): a zone key, and the SEP bit of a KSK.
inline constexpr uint16_t kDnskeyZone = 0x0100;
inline constexpr uint16_t kDnskeySep = 0x0001;

/// A private key able to sign for one algorithm. Copies share the key.
class SigningKey {
 public:
  /// A fresh key from the system's random source.
  static util::Result<SigningKey> generate(uint8_t algorithm);
  /// A key from the bytes private_der() produced.
  static util::Result<SigningKey> from_private_der(uint8_t algorithm, std::string_view der);

  uint8_t algorithm() const { return algorithm_; }
  /// The private key in DER (SEC 1 for ECDSA, PKCS #8 for Ed25519).
  std::string private_der() const;
  /// The DNSKEY public key field: X and Y for P-256 (RFC 6605 §4), the 32
  /// octets of the key for Ed25519 (RFC 8080 §3).
  std::string public_key() const;
  /// Signs `data`: r and s for ECDSA (RFC 6605 §4), the 64 octets for Ed25519.
  util::Result<std::string> sign(std::string_view data) const;

 private:
  struct Holder;
  std::shared_ptr<Holder> key_;
  uint8_t algorithm_ = 0;
};

/// DNSKEY rdata (RFC 4034 §2.1): flags, protocol 3, algorithm, public key.
std::string dnskey_rdata(uint16_t flags, uint8_t algorithm, std::string_view public_key);
/// The key tag of DNSKEY rdata (RFC 4034 Appendix B).
uint16_t key_tag(std::string_view dnskey_rdata);
/// DS rdata for a DNSKEY (RFC 4034 §5.1.4) with SHA-256 (digest type 2, RFC 4509).
std::string ds_rdata(const Name& owner, std::string_view dnskey_rdata);

/// The fields of an RRSIG other than its signature (RFC 4034 §3.1).
struct RrsigFields {
  uint16_t type_covered = 0;
  uint8_t algorithm = 0;
  uint8_t labels = 0;  // of the owner, not counting a leading "*" (§3.1.3)
  uint32_t original_ttl = 0;
  uint32_t expiration = 0;
  uint32_t inception = 0;
  uint16_t key_tag = 0;
  Name signer;
};

/// RRSIG rdata signing `rdatas` (the RRset of `type_covered` at `owner_wire`,
/// class IN) with `key`: the signature covers the RRSIG fields and the RRset
/// in canonical form and order (RFC 4034 §3.1.8.1, §6.2, §6.3).
util::Result<std::string> make_rrsig(const RrsigFields& fields, const SigningKey& key, std::string_view owner_wire,
                                     const std::vector<std::string_view>& rdatas);

/// One key of an online-signed zone, as stored in a SIGNING_KEY record:
/// version 1, the DNSKEY flags (256 ZSK, 257 KSK), the algorithm, its state,
/// when it was made and when it entered that state, and the private key
/// (SigningKey::private_der). Every key of every state is in the DNSKEY RRset.
struct SigningKeyRecord {
  /// A ZSK roll (RFC 6781 §4.1.1.1, pre-publication) takes a key through
  /// Published (in DNSKEY, not signing), Active (signing), Retired (in DNSKEY
  /// until signatures made with it have left caches), then away.
  ///
  /// A KSK roll (RFC 6781 §4.1.2, double signature) takes the new KSK through
  /// Published (in DNSKEY, not signing), Ready (signs the key RRsets beside
  /// the old KSK; the CDS and CDNSKEY name it alone) and Active once the
  /// operator confirms the parent's DS; the old KSK is then Retired: it still
  /// signs the key RRsets, for validators holding the old DS, until it goes.
  enum class State : uint8_t { Published = 0, Active = 1, Retired = 2, Ready = 3 };

  uint16_t flags = kDnskeyZone;
  uint8_t algorithm = kAlgEcdsaP256Sha256;
  State state = State::Active;
  uint32_t created = 0;  // seconds since the epoch
  uint32_t since = 0;    // when it entered `state`
  std::string private_der;

  bool ksk() const { return (flags & kDnskeySep) != 0; }
  bool active() const { return state == State::Active; }
  /// Whether it signs DNSKEY, CDS and CDNSKEY: a KSK that is active, ready
  /// or retired (a KSK roll signs them with both keys).
  bool signs_keys() const {
    return ksk() && (state == State::Active || state == State::Ready || state == State::Retired);
  }
  std::string encode() const;
  static util::Result<SigningKeyRecord> decode(std::string_view rdata);
};

/// A change of a zone's whole key set (a key roll), as the store's
/// SetSigningKeys operation carries it: the digest of the key set it replaces
/// and the records of the new one.
struct KeySetChange {
  std::string expected_digest;      // key_set_digest() of the records it replaces
  std::vector<std::string> records;  // SigningKeyRecord::encode() of each new key
  std::string encode() const;
  static util::Result<KeySetChange> decode(std::string_view bytes);
};
/// SHA-256 over a key set's records, in sorted order (an empty set has one too).
std::string key_set_digest(std::vector<std::string> records);

/// The data make_rrsig signs, exposed for tests that verify with OpenSSL.
std::string rrsig_signed_data(const RrsigFields& fields, std::string_view owner_wire,
                              const std::vector<std::string_view>& rdatas);

}  // namespace dns
