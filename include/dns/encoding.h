// Binary-to-text encodings of RFC 4648 as DNS uses them: base64 (DNSKEY,
// RRSIG, TSIG secrets), base16 (DS digests, NSEC3 salts) and base32hex
// (NSEC3 hashed owner names). The one implementation of each in the tree.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace dns {

/// Whether base64 text must carry its '=' padding (RFC 4648 §3.2). Zone files,
/// key files and the config always pad; an HTTP Basic credential may not.
enum class Base64Padding : bool { Required, Optional };

/// RFC 4648 §4 base64, with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes RFC 4648 §4 base64 without white space. Only the canonical
/// spelling is accepted (§3.5: the unused bits of the last character are
/// zero), so one value has exactly one text form.
util::Result<std::string> base64_decode(std::string_view text, Base64Padding padding = Base64Padding::Required);

/// RFC 4648 §8 base16 in upper case, as Knot and BIND print digests.
std::string hex_encode(std::string_view bytes);
/// Decodes base16 in either case; an odd number of digits is an error.
util::Result<std::string> hex_decode(std::string_view text);

/// RFC 4648 §7 base32 with the extended hex alphabet, no padding (RFC 5155
/// §3.3), in upper case as Knot and BIND print NSEC3 next hashed names.
std::string base32hex_encode(std::string_view bytes);
/// Decodes unpadded base32hex in either case; unused trailing bits must be zero.
util::Result<std::string> base32hex_decode(std::string_view text);

}  // namespace dns
