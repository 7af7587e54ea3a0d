// Resource records: type and class codes, and the rdata codecs between
// presentation text (RFC 1035 §5, RFC 3597 §5) and uncompressed wire form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dns/name.h"
#include "util/result.h"

namespace dns {

/// RR type codes (RFC 1035 §3.2.2 and later RFCs).
namespace rrtype {
inline constexpr uint16_t A = 1;
inline constexpr uint16_t NS = 2;
inline constexpr uint16_t CNAME = 5;
inline constexpr uint16_t SOA = 6;
inline constexpr uint16_t PTR = 12;
inline constexpr uint16_t HINFO = 13;
inline constexpr uint16_t MX = 15;
inline constexpr uint16_t TXT = 16;
inline constexpr uint16_t AAAA = 28;
inline constexpr uint16_t SRV = 33;
inline constexpr uint16_t DNAME = 39;
inline constexpr uint16_t OPT = 41;
inline constexpr uint16_t DS = 43;          // RFC 4034 §5
inline constexpr uint16_t RRSIG = 46;       // RFC 4034 §3
inline constexpr uint16_t NSEC = 47;        // RFC 4034 §4
inline constexpr uint16_t DNSKEY = 48;      // RFC 4034 §2
inline constexpr uint16_t NSEC3 = 50;       // RFC 5155 §3
inline constexpr uint16_t NSEC3PARAM = 51;  // RFC 5155 §4
inline constexpr uint16_t CDS = 59;         // RFC 7344 §3.1
inline constexpr uint16_t CDNSKEY = 60;     // RFC 7344 §3.2
inline constexpr uint16_t TSIG = 250;
inline constexpr uint16_t IXFR = 251;
inline constexpr uint16_t AXFR = 252;
inline constexpr uint16_t ANY = 255;
inline constexpr uint16_t CAA = 257;
/// A zone's DNSSEC private key for online signing, kept at the zone apex as a
/// record of a private-use type (RFC 6895 §3.1) so that it is replicated,
/// checkpointed and sent in snapshots like the zone's records. Never answered,
/// listed or transferred; only the store's AddSigningKey operation adds one.
inline constexpr uint16_t SIGNING_KEY = 65300;
}  // namespace rrtype

/// Classes (RFC 1035 §3.2.4, RFC 2136 §2.4 for NONE and ANY).
namespace rrclass {
inline constexpr uint16_t IN = 1;
inline constexpr uint16_t CH = 3;
inline constexpr uint16_t NONE = 254;
inline constexpr uint16_t ANY = 255;
}  // namespace rrclass

/// "A", "AAAA", ..., or "TYPE65280" for a type without a mnemonic (RFC 3597 §5).
std::string type_to_text(uint16_t type);
/// Accepts mnemonics in any case and the generic "TYPEnnn" form.
std::optional<uint16_t> type_from_text(std::string_view text);
/// True for meta and question-only types (OPT, TSIG, IXFR, AXFR, ANY, ...)
/// that can never be stored in a zone.
bool is_meta_type(uint16_t type);

/// RFC 4035 §2.4 (and RFC 4034 §5): a DS RRset at a zone cut belongs to the
/// parent side, not to the child zone whose apex owns it. The one rule every
/// module uses to decide which zone holds a record (see zone::ZoneSet::zone_for).
inline constexpr bool parent_side_type(uint16_t type) { return type == rrtype::DS; }

/// Types that may stand beside a CNAME: RRSIG and NSEC (RFC 4035 §2.5,
/// RFC 2181 §10.1). They are not "other data" for RFC 1034 §3.6.2.
inline constexpr bool allowed_beside_cname(uint16_t type) { return type == rrtype::RRSIG || type == rrtype::NSEC; }

std::string class_to_text(uint16_t rclass);
std::optional<uint16_t> class_from_text(std::string_view text);

/// One resource record with its rdata in uncompressed wire form.
struct RR {
  Name owner;
  uint16_t type = 0;
  uint16_t rclass = rrclass::IN;
  uint32_t ttl = 0;
  std::string rdata;

  bool operator==(const RR& o) const {
    return owner == o.owner && type == o.type && rclass == o.rclass && rdata == o.rdata;
  }
};

/// Parses the rdata part of a presentation-form record (the tokens after the
/// type, parentheses and comments already removed, quoted strings intact).
/// Relative names in the rdata are completed with `origin`. Every type also
/// accepts the RFC 3597 generic form "\# <length> <hex>". TXT accepts one or
/// more quoted or bare strings with escapes; a string over 255 octets is split.
util::Result<std::string> rdata_from_text(uint16_t type, std::string_view text, const Name& origin);

/// Presentation form of rdata; unknown types in the generic form.
std::string rdata_to_text(uint16_t type, std::string_view rdata);

/// Reads rdata of `rdlength` octets at `offset` in a whole message, expanding
/// compression pointers in the names of the RFC 1035 types (RFC 3597 §4) and
/// checking the layout of every known type. The result is uncompressed wire.
util::Result<std::string> rdata_from_wire(uint16_t type, const uint8_t* msg, size_t msg_len,
                                          size_t offset, uint16_t rdlength);

/// Checks that stored-form rdata has the layout its type requires.
util::Result<void> rdata_validate(uint16_t type, std::string_view rdata);

/// The domain name an rdata points at, for additional-section processing and
/// CNAME chasing: NS/CNAME/PTR target, MX exchange, SRV target. nullopt otherwise.
std::optional<Name> rdata_target(uint16_t type, std::string_view rdata);

/// Offset, within the rdata, of the name rdata_target() returns (0 for NS,
/// CNAME, PTR; 2 for MX; 6 for SRV), or nullopt.
std::optional<size_t> rdata_target_offset(uint16_t type);

/// Whether names in this type's rdata may be compressed when writing a
/// message (RFC 3597 §4: only the well-known types of RFC 1035).
bool rdata_names_compressible(uint16_t type);

/// SOA fields (RFC 1035 §3.3.13). The rdata must be valid SOA rdata.
struct SoaFields {
  Name mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};
util::Result<SoaFields> soa_decode(std::string_view rdata);
std::string soa_encode(const SoaFields& soa);

}  // namespace dns
