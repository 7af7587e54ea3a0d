// DNSSEC computations on wire data that serving needs: the NSEC3 hash of
// RFC 5155 §5 and the layout of the NSEC3 and RRSIG fields read at query time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dns {

/// An NSEC3 hash: SHA-1, the only algorithm RFC 5155 §11 defines.
using Nsec3Hash = std::array<uint8_t, 20>;
inline constexpr uint8_t kNsec3Sha1 = 1;
/// RFC 5155 §3.1.2.1: the Opt-Out flag of an NSEC3 record.
inline constexpr uint8_t kNsec3OptOut = 1;

/// RFC 5155 §5: IH(salt, x, 0) = H(x || salt), IH(salt, x, k) = H(IH(salt,
/// x, k-1) || salt), over the owner's canonical (lower-case) wire form.
Nsec3Hash nsec3_hash(std::string_view name_wire, std::string_view salt, uint16_t iterations);

/// The fixed fields of NSEC3 or NSEC3PARAM rdata (RFC 5155 §3.2, §4.2).
struct Nsec3Params {
  uint8_t algorithm = 0;
  uint8_t flags = 0;
  uint16_t iterations = 0;
  std::string_view salt;
};
/// Reads them; nullopt when the rdata is too short for its salt.
std::optional<Nsec3Params> nsec3_params(std::string_view rdata);

/// The type bit maps field of NSEC and NSEC3 (RFC 4034 §4.1.2) for `types`.
std::string type_bitmap(std::vector<uint16_t> types);

/// The type an RRSIG covers (RFC 4034 §3.1.1); 0 for rdata too short.
inline uint16_t rrsig_type_covered(std::string_view rdata) {
  if (rdata.size() < 2) return 0;
  return static_cast<uint16_t>((static_cast<uint8_t>(rdata[0]) << 8) | static_cast<uint8_t>(rdata[1]));
}

}  // namespace dns
