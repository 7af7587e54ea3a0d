// Helpers shared by the rdata codecs of this module; not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "util/result.h"

namespace dns::detail {

/// End offset of the uncompressed wire name starting at `pos` in `rdata`,
/// or npos when it is truncated, uses a pointer, or is too long.
size_t wire_name_end(std::string_view rdata, size_t pos);

uint16_t read16(std::string_view s, size_t pos);
uint32_t read32(std::string_view s, size_t pos);
void put16(std::string& s, uint16_t v);
void put32(std::string& s, uint32_t v);

/// One whitespace-separated field of rdata text. `raw` keeps escapes; for a
/// quoted string it is the text between the quotes.
struct Token {
  std::string_view raw;
  bool quoted = false;
};
util::Result<std::vector<Token>> tokenize(std::string_view text);
/// Decodes "\X" and "\DDD" escapes of a character-string (RFC 1035 §5.1).
util::Result<std::string> unescape(std::string_view s);
/// A decimal number of at most `max`, digits only.
std::optional<uint32_t> parse_uint(std::string_view s, uint32_t max);
/// Appends `s` as a quoted character-string, escaping '"', '\' and
/// non-printable octets as \DDD.
void quote_into(std::string& out, std::string_view s);
/// The presentation form of the name at `pos` in `rdata`; `*end` is set past it.
std::string name_at(std::string_view rdata, size_t pos, size_t* end);

// The codecs of the types described field by field (rdata_fields.cpp): the
// DNSSEC types, the service and certificate types, LOC and SVCB/HTTPS.

/// The type bit maps field of NSEC, NSEC3 and CSYNC for `types` (RFC 4034 §4.1.2).
util::Result<std::string> bitmap_from_types(std::vector<uint16_t> types);

/// Whether `type` is one of them.
bool has_field_codec(uint16_t type);
/// Presentation tokens to wire; the type must have a field codec.
util::Result<std::string> fields_from_text(uint16_t type, const std::vector<Token>& tokens, const Name& origin);
/// Checks the wire layout; types without a field codec always pass.
util::Result<void> fields_validate(uint16_t type, std::string_view rdata);
/// Wire to presentation; the rdata must have passed fields_validate.
std::string fields_to_text(uint16_t type, std::string_view rdata);

}  // namespace dns::detail
