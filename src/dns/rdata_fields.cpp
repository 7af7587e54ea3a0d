// Rdata codecs of the types described field by field: the DNSSEC types
// (RFC 4034, RFC 5155, RFC 7344, RFC 7477, RFC 8976), TLSA/SMIMEA, SSHFP,
// NAPTR, URI, CERT, OPENPGPKEY and a few more, plus the two types with a
// grammar of their own, LOC (RFC 1876) and SVCB/HTTPS (RFC 9460). Text is
// printed as Knot DNS prints it.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>

#include "dns/dnssec.h"
#include "dns/encoding.h"
#include "dns/rr.h"
#include "rdata_internal.h"

namespace dns::detail {
namespace {

/// The kinds of field a layout is made of.
enum class F : uint8_t {
  U8,
  U16,
  U32,
  Alg,       // 8-bit DNSSEC algorithm number, or its mnemonic (RFC 4034 Appendix A.1)
  CertType,  // 16-bit CERT type, or its mnemonic (RFC 4398 §2.1)
  Type,      // 16-bit RR type, printed as its mnemonic (RRSIG type covered)
  Time,      // 32-bit time, YYYYMMDDHHmmSS or seconds (RFC 4034 §3.2)
  Name,      // uncompressed domain name, never compressed in messages
  CharStr,   // one <character-string> (RFC 1035 §3.3)
  Salt,      // 8-bit length, then hex; "-" when empty (RFC 5155 §3.3)
  Hash,      // 8-bit length, then base32hex (RFC 5155 §3.3)
  Eui48,     // six octets as xx-xx-xx-xx-xx-xx (RFC 7043 §3)
  Eui64,     // eight octets, likewise (RFC 7043 §4)
  // The rest of the rdata (last field only):
  Base64,  // base64, may be split into several words
  Hex,     // base16, may be split into several words
  Bitmap,  // type bit maps (RFC 4034 §4.1.2), zero or more type mnemonics
  Text,    // one quoted string without a length octet (URI target, RFC 7553 §4.5)
};

struct Layout {
  uint16_t type;
  std::initializer_list<F> fields;
};

// The types handled here, each with its fields in rdata order.
const Layout kLayouts[] = {
    {14, {F::Name, F::Name}},                     // MINFO (RFC 1035 §3.3.7)
    {17, {F::Name, F::Name}},                     // RP (RFC 1183 §2.2)
    {18, {F::U16, F::Name}},                      // AFSDB (RFC 1183 §1)
    {35, {F::U16, F::U16, F::CharStr, F::CharStr, F::CharStr, F::Name}},  // NAPTR (RFC 3403 §4.1)
    {36, {F::U16, F::Name}},                      // KX (RFC 2230 §3)
    {37, {F::CertType, F::U16, F::Alg, F::Base64}},  // CERT (RFC 4398 §2)
    {rrtype::DS, {F::U16, F::Alg, F::U8, F::Hex}},   // RFC 4034 §5.1
    {44, {F::U8, F::U8, F::Hex}},                    // SSHFP (RFC 4255 §3.1)
    {rrtype::RRSIG, {F::Type, F::Alg, F::U8, F::U32, F::Time, F::Time, F::U16, F::Name, F::Base64}},  // RFC 4034 §3.1
    {rrtype::NSEC, {F::Name, F::Bitmap}},                          // RFC 4034 §4.1
    {rrtype::DNSKEY, {F::U16, F::U8, F::Alg, F::Base64}},          // RFC 4034 §2.1
    {49, {F::Base64}},                                             // DHCID (RFC 4701 §3)
    {rrtype::NSEC3, {F::U8, F::U8, F::U16, F::Salt, F::Hash, F::Bitmap}},  // RFC 5155 §3.2
    {rrtype::NSEC3PARAM, {F::U8, F::U8, F::U16, F::Salt}},                 // RFC 5155 §4.2
    {52, {F::U8, F::U8, F::U8, F::Hex}},                           // TLSA (RFC 6698 §2.1)
    {53, {F::U8, F::U8, F::U8, F::Hex}},                           // SMIMEA (RFC 8162 §2)
    {rrtype::CDS, {F::U16, F::Alg, F::U8, F::Hex}},                // RFC 7344 §3.1
    {rrtype::CDNSKEY, {F::U16, F::U8, F::Alg, F::Base64}},         // RFC 7344 §3.2
    {61, {F::Base64}},                                             // OPENPGPKEY (RFC 7929 §2.1)
    {62, {F::U32, F::U16, F::Bitmap}},                             // CSYNC (RFC 7477 §2.1)
    {63, {F::U32, F::U8, F::U8, F::Hex}},                          // ZONEMD (RFC 8976 §2.2)
    {108, {F::Eui48}},                                             // EUI48
    {109, {F::Eui64}},                                             // EUI64
    {256, {F::U16, F::U16, F::Text}},                              // URI (RFC 7553 §4.5)
};

constexpr uint16_t kLoc = 29, kSvcb = 64, kHttps = 65;

const Layout* layout_of(uint16_t type) {
  for (const Layout& l : kLayouts) {
    if (l.type == type) return &l;
  }
  return nullptr;
}

util::Error bad(uint16_t type, const std::string& why) {
  return util::make_error("bad " + type_to_text(type) + " rdata: " + why);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<uint8_t>(a[i])) != ascii_lower(static_cast<uint8_t>(b[i]))) return false;
  }
  return true;
}

struct Mnemonic {
  uint16_t code;
  const char* name;
};

// RFC 4034 Appendix A.1 and the IANA registry of DNSSEC algorithm numbers.
constexpr Mnemonic kAlgorithms[] = {
    {1, "RSAMD5"},  {2, "DH"},         {3, "DSA"},         {5, "RSASHA1"},         {6, "DSA-NSEC3-SHA1"},
    {7, "RSASHA1-NSEC3-SHA1"},         {8, "RSASHA256"},   {10, "RSASHA512"},      {12, "ECC-GOST"},
    {13, "ECDSAP256SHA256"},           {14, "ECDSAP384SHA384"}, {15, "ED25519"},   {16, "ED448"},
    {252, "INDIRECT"}, {253, "PRIVATEDNS"}, {254, "PRIVATEOID"},
};

// RFC 4398 §2.1.
constexpr Mnemonic kCertTypes[] = {
    {1, "PKIX"}, {2, "SPKI"}, {3, "PGP"}, {4, "IPKIX"}, {5, "ISPKI"}, {6, "IPGP"}, {7, "ACPKIX"}, {8, "IACPKIX"},
    {253, "URI"}, {254, "OID"},
};

template <size_t N>
std::optional<uint32_t> number_or_mnemonic(std::string_view text, const Mnemonic (&table)[N], uint32_t max) {
  if (auto v = parse_uint(text, max)) return v;
  for (const Mnemonic& m : table) {
    if (iequals(text, m.name)) return m.code;
  }
  return std::nullopt;
}

// --- time (RFC 4034 §3.2) ----------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string time_to_text(uint32_t t) {
  // The inverse of days_from_civil, for t seconds after the epoch.
  const int64_t z = t / 86400 + 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  const uint32_t s = t % 86400;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u%02u%02u%02u", static_cast<long long>(y), m, d, s / 3600,
                (s / 60) % 60, s % 60);
  return buf;
}

/// "YYYYMMDDHHmmSS" (UTC, taken modulo 2^32 as RFC 4034 §3.1.5 counts), or
/// a number of seconds of at most ten digits.
std::optional<uint32_t> time_from_text(std::string_view s) {
  if (s.size() != 14) return parse_uint(s, 0xFFFFFFFFu);
  unsigned v[6];
  const size_t widths[6] = {4, 2, 2, 2, 2, 2};
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    auto n = parse_uint(s.substr(pos, widths[i]), 9999);
    if (!n) return std::nullopt;
    v[i] = *n;
    pos += widths[i];
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60) return std::nullopt;
  const int64_t secs = days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
  if (secs < 0) return std::nullopt;
  return static_cast<uint32_t>(static_cast<uint64_t>(secs) & 0xFFFFFFFFu);
}

// --- type bit maps (RFC 4034 §4.1.2) ------------------------------------------

}  // namespace

util::Result<std::string> bitmap_from_types(std::vector<uint16_t> types) {
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::string out;
  size_t i = 0;
  while (i < types.size()) {
    const uint8_t window = static_cast<uint8_t>(types[i] >> 8);
    uint8_t bits[32] = {0};
    size_t len = 0;
    for (; i < types.size() && (types[i] >> 8) == window; ++i) {
      const uint8_t low = static_cast<uint8_t>(types[i]);
      bits[low / 8] = static_cast<uint8_t>(bits[low / 8] | (0x80 >> (low % 8)));
      len = low / 8 + 1;
    }
    out.push_back(static_cast<char>(window));
    out.push_back(static_cast<char>(len));
    out.append(reinterpret_cast<const char*>(bits), len);
  }
  return out;
}

namespace {

/// Checks windows in increasing order, each 1 to 32 octets long.
bool bitmap_valid(std::string_view b) {
  int last = -1;
  size_t p = 0;
  while (p < b.size()) {
    if (b.size() - p < 2) return false;
    const int window = static_cast<uint8_t>(b[p]);
    const size_t len = static_cast<uint8_t>(b[p + 1]);
    if (window <= last || len == 0 || len > 32 || b.size() - p - 2 < len) return false;
    last = window;
    p += 2 + len;
  }
  return true;
}

std::string bitmap_to_text(std::string_view b) {
  std::string out;
  size_t p = 0;
  while (p + 2 <= b.size()) {
    const unsigned window = static_cast<uint8_t>(b[p]);
    const size_t len = static_cast<uint8_t>(b[p + 1]);
    for (size_t i = 0; i < len; ++i) {
      const auto octet = static_cast<uint8_t>(b[p + 2 + i]);
      for (unsigned bit = 0; bit < 8; ++bit) {
        if (octet & (0x80 >> bit)) {
          if (!out.empty()) out.push_back(' ');
          out += type_to_text(static_cast<uint16_t>(window * 256 + i * 8 + bit));
        }
      }
    }
    p += 2 + len;
  }
  return out;
}

// --- EUI-48/64 ---------------------------------------------------------------

std::optional<std::string> eui_from_text(std::string_view s, size_t octets) {
  if (s.size() != octets * 3 - 1) return std::nullopt;
  std::string hex;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2) {
      if (s[i] != '-') return std::nullopt;
    } else {
      hex.push_back(s[i]);
    }
  }
  auto v = hex_decode(hex);
  if (!v) return std::nullopt;
  return std::move(v).value();
}

std::string eui_to_text(std::string_view b) {
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i > 0) out.push_back('-');
    out += hex_encode(b.substr(i, 1));
  }
  return out;
}

// --- LOC (RFC 1876) ----------------------------------------------------------

/// "12.34" metres (optionally with a trailing 'm') as centimetres; negative
/// values allowed when `allow_negative`.
std::optional<int64_t> loc_metres(std::string_view s, bool allow_negative) {
  if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    if (!allow_negative) return std::nullopt;
    negative = true;
    s.remove_prefix(1);
  }
  const size_t dot = s.find('.');
  auto whole = parse_uint(s.substr(0, dot), 99999999);
  if (!whole) return std::nullopt;
  int64_t cm = int64_t{*whole} * 100;
  if (dot != std::string_view::npos) {
    std::string_view frac = s.substr(dot + 1);
    if (frac.empty() || frac.size() > 2) return std::nullopt;
    auto f = parse_uint(frac, 99);
    if (!f) return std::nullopt;
    cm += frac.size() == 1 ? *f * 10 : *f;
  }
  return negative ? -cm : cm;
}

/// RFC 1876 §2: size and precisions as a mantissa and a power of ten of centimetres.
std::optional<uint8_t> loc_precsize(int64_t cm) {
  if (cm < 0) return std::nullopt;
  uint8_t exponent = 0;
  while (cm >= 10 && cm % 10 == 0 && exponent < 9) {
    cm /= 10;
    ++exponent;
  }
  while (cm >= 10 && exponent < 9) {  // not representable exactly: round down, as BIND does
    cm /= 10;
    ++exponent;
  }
  if (cm > 9) return std::nullopt;
  return static_cast<uint8_t>((cm << 4) | exponent);
}

std::string loc_cm_text(int64_t cm) {
  std::string out = cm < 0 ? "-" : "";
  const int64_t a = cm < 0 ? -cm : cm;
  out += std::to_string(a / 100);
  if (a % 100 != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%02lld", static_cast<long long>(a % 100));
    out += buf;
  }
  return out + "m";
}

int64_t loc_precsize_cm(uint8_t v) {
  int64_t cm = v >> 4;
  for (int i = 0; i < (v & 15); ++i) cm *= 10;
  return cm;
}

util::Result<std::string> loc_from_text(const std::vector<Token>& t) {
  size_t i = 0;
  auto coordinate = [&](const char* pos_hemi, const char* neg_hemi, uint32_t max_deg) -> std::optional<uint32_t> {
    // d [m [s[.fff]]] hemisphere, in thousandths of an arc second from 2^31.
    uint32_t deg = 0, min = 0, ms = 0;
    if (i >= t.size()) return std::nullopt;
    auto d = parse_uint(t[i++].raw, max_deg);
    if (!d) return std::nullopt;
    deg = *d;
    auto is_hemi = [&](size_t k) { return k < t.size() && (iequals(t[k].raw, pos_hemi) || iequals(t[k].raw, neg_hemi)); };
    if (!is_hemi(i)) {
      if (i >= t.size()) return std::nullopt;
      auto m = parse_uint(t[i++].raw, 59);
      if (!m) return std::nullopt;
      min = *m;
      if (!is_hemi(i)) {
        if (i >= t.size()) return std::nullopt;
        std::string_view sec = t[i++].raw;
        const size_t dot = sec.find('.');
        auto s = parse_uint(sec.substr(0, dot), 59);
        if (!s) return std::nullopt;
        ms = *s * 1000;
        if (dot != std::string_view::npos) {
          std::string_view frac = sec.substr(dot + 1);
          if (frac.empty() || frac.size() > 3) return std::nullopt;
          auto f = parse_uint(frac, 999);
          if (!f) return std::nullopt;
          uint32_t scaled = *f;
          for (size_t k = frac.size(); k < 3; ++k) scaled *= 10;
          ms += scaled;
        }
      }
    }
    if (!is_hemi(i)) return std::nullopt;
    const bool negative = iequals(t[i++].raw, neg_hemi);
    const uint64_t offset = (uint64_t{deg} * 3600 + uint64_t{min} * 60) * 1000 + ms;
    if (offset > uint64_t{max_deg} * 3600 * 1000) return std::nullopt;
    return static_cast<uint32_t>(negative ? (1ULL << 31) - offset : (1ULL << 31) + offset);
  };
  auto lat = coordinate("N", "S", 90);
  if (!lat) return bad(kLoc, "bad latitude (expected d [m [s]] N|S)");
  auto lon = coordinate("E", "W", 180);
  if (!lon) return bad(kLoc, "bad longitude (expected d [m [s]] E|W)");
  if (i >= t.size()) return bad(kLoc, "missing altitude");
  auto alt = loc_metres(t[i++].raw, true);
  if (!alt || *alt < -10000000 || *alt > 4284967295LL) return bad(kLoc, "bad altitude");
  // RFC 1876 §3 defaults: size 1m, horizontal precision 10000m, vertical 10m.
  int64_t sizes[3] = {100, 1000000, 1000};
  for (int k = 0; k < 3 && i < t.size(); ++k) {
    auto v = loc_metres(t[i++].raw, false);
    if (!v || *v > 9000000000LL) return bad(kLoc, "bad size or precision");
    sizes[k] = *v;
  }
  if (i != t.size()) return bad(kLoc, "too many fields");
  std::string out(1, '\0');  // version 0
  for (int64_t cm : sizes) {
    auto p = loc_precsize(cm);
    if (!p) return bad(kLoc, "size or precision out of range");
    out.push_back(static_cast<char>(*p));
  }
  put32(out, *lat);
  put32(out, *lon);
  put32(out, static_cast<uint32_t>(*alt + 10000000));
  return out;
}

std::string loc_to_text(std::string_view r) {
  std::string out;
  auto coordinate = [&](uint32_t v, char pos, char neg) {
    const bool negative = v < (1u << 31);
    const uint32_t off = negative ? (1u << 31) - v : v - (1u << 31);
    const uint32_t deg = off / 3600000, min = (off / 60000) % 60, sec = (off / 1000) % 60, frac = off % 1000;
    char buf[48];
    if (frac != 0) {
      std::snprintf(buf, sizeof buf, "%u %u %u.%03u %c", deg, min, sec, frac, negative ? neg : pos);
    } else {
      std::snprintf(buf, sizeof buf, "%u %u %u %c", deg, min, sec, negative ? neg : pos);
    }
    if (!out.empty()) out.push_back(' ');
    out += buf;
  };
  coordinate(read32(r, 4), 'N', 'S');
  coordinate(read32(r, 8), 'E', 'W');
  out += " " + loc_cm_text(int64_t{read32(r, 12)} - 10000000);
  for (size_t k = 1; k <= 3; ++k) out += " " + loc_cm_text(loc_precsize_cm(static_cast<uint8_t>(r[k])));
  return out;
}

bool loc_valid(std::string_view r) {
  if (r.size() != 16 || r[0] != 0) return false;
  for (size_t k = 1; k <= 3; ++k) {
    const auto v = static_cast<uint8_t>(r[k]);
    if ((v >> 4) > 9 || (v & 15) > 9) return false;
  }
  return true;
}

// --- SVCB and HTTPS (RFC 9460) ------------------------------------------------

// RFC 9460 §14.3.2 and RFC 9461 §5: the SvcParamKeys with a name.
constexpr Mnemonic kSvcKeys[] = {
    {0, "mandatory"}, {1, "alpn"}, {2, "no-default-alpn"}, {3, "port"}, {4, "ipv4hint"},
    {5, "ech"},       {6, "ipv6hint"}, {7, "dohpath"},
};

std::optional<uint16_t> svc_key_from_text(std::string_view s) {
  for (const Mnemonic& m : kSvcKeys) {
    if (s == m.name) return m.code;
  }
  if (s.size() > 3 && s.substr(0, 3) == "key") {
    if (auto v = parse_uint(s.substr(3), 65535)) return static_cast<uint16_t>(*v);
  }
  return std::nullopt;
}

std::string svc_key_to_text(uint16_t key) {
  for (const Mnemonic& m : kSvcKeys) {
    if (m.code == key) return m.name;
  }
  return "key" + std::to_string(key);
}

/// Splits a value list at unescaped commas (RFC 9460 Appendix A.1), unescaping each item.
util::Result<std::vector<std::string>> svc_list(std::string_view v) {
  std::vector<std::string> items;
  std::string cur;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      // Keep the escape for unescape(), but an escaped comma is data.
      size_t n = (v[i + 1] >= '0' && v[i + 1] <= '9') ? 4 : 2;
      cur.append(v.substr(i, n));
      i += n - 1;
      continue;
    }
    if (v[i] == ',') {
      items.push_back(cur);
      cur.clear();
      continue;
    }
    cur.push_back(v[i]);
  }
  items.push_back(cur);
  for (std::string& item : items) {
    auto u = unescape(item);
    if (!u) return u.error();
    item = std::move(u).value();
  }
  return items;
}

util::Result<std::string> svc_value(uint16_t type, uint16_t key, std::string_view text, bool has_value) {
  std::string out;
  switch (key) {
    case 0: {  // mandatory: a list of keys, sorted on the wire (§8)
      auto items = svc_list(text);
      if (!items || !has_value) return bad(type, "mandatory needs a list of keys");
      std::vector<uint16_t> keys;
      for (const std::string& k : *items) {
        auto code = svc_key_from_text(k);
        if (!code || *code == 0) return bad(type, "bad key '" + k + "' in mandatory");
        keys.push_back(*code);
      }
      std::sort(keys.begin(), keys.end());
      if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return bad(type, "a key repeated in mandatory");
      for (uint16_t k : keys) put16(out, k);
      return out;
    }
    case 1: {  // alpn: a list of protocol ids (§7.1.1)
      auto items = svc_list(text);
      if (!items || !has_value) return bad(type, "alpn needs a list of protocol ids");
      for (const std::string& id : *items) {
        if (id.empty() || id.size() > 255) return bad(type, "an alpn id must be 1 to 255 octets");
        out.push_back(static_cast<char>(id.size()));
        out += id;
      }
      return out;
    }
    case 2:  // no-default-alpn has no value (§7.1.1)
      if (has_value) return bad(type, "no-default-alpn takes no value");
      return out;
    case 3: {  // port
      auto p = parse_uint(text, 65535);
      if (!p) return bad(type, "bad port '" + std::string(text) + "'");
      put16(out, static_cast<uint16_t>(*p));
      return out;
    }
    case 4:
    case 6: {  // ipv4hint, ipv6hint: lists of addresses (§7.3)
      auto items = svc_list(text);
      if (!items || !has_value) return bad(type, "an address hint needs a list of addresses");
      for (const std::string& a : *items) {
        unsigned char buf[16];
        if (inet_pton(key == 4 ? AF_INET : AF_INET6, a.c_str(), buf) != 1) {
          return bad(type, "'" + a + "' is not an IPv" + (key == 4 ? "4" : "6") + " address");
        }
        out.append(reinterpret_cast<const char*>(buf), key == 4 ? 4 : 16);
      }
      return out;
    }
    case 5: {  // ech: base64 (§7.3 of RFC 9460, with the ECH draft's value)
      auto b = base64_decode(text);
      if (!b || !has_value) return bad(type, "ech needs a base64 value");
      return std::move(b).value();
    }
    default: {  // dohpath and unknown keys: a character-string without length
      auto u = unescape(text);
      if (!u) return bad(type, u.error().message);
      return std::move(u).value();
    }
  }
}

util::Result<std::string> svcb_from_text(uint16_t type, const std::vector<Token>& t, const Name& origin) {
  if (t.size() < 2) return bad(type, "expected priority, target and parameters");
  auto prio = parse_uint(t[0].raw, 65535);
  if (!prio) return bad(type, "bad priority '" + std::string(t[0].raw) + "'");
  auto target = Name::from_text(t[1].raw, &origin);
  if (!target) return bad(type, target.error().message);
  std::map<uint16_t, std::string> params;
  for (size_t i = 2; i < t.size(); ++i) {
    std::string_view tok = t[i].raw;
    const size_t eq = tok.find('=');
    std::string_view key_text = tok.substr(0, eq);
    std::string_view value;
    bool has_value = eq != std::string_view::npos;
    if (has_value) {
      value = tok.substr(eq + 1);
      if (value.empty() && i + 1 < t.size() && t[i + 1].quoted) {
        value = t[++i].raw;  // key= "quoted value", as a zone file splits it
      } else if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);  // key="quoted value" in one word
      }
    }
    auto key = svc_key_from_text(key_text);
    if (!key || key_text.empty()) return bad(type, "unknown parameter '" + std::string(key_text) + "'");
    if (*key == 65535) return bad(type, "key65535 is reserved");
    auto v = svc_value(type, *key, value, has_value);
    if (!v) return v.error();
    if (!params.emplace(*key, std::move(v).value()).second) {
      return bad(type, "parameter " + svc_key_to_text(*key) + " given twice");
    }
  }
  std::string out;
  put16(out, static_cast<uint16_t>(*prio));
  out += target->wire();
  for (const auto& [key, value] : params) {  // §2.2: in increasing key order
    if (value.size() > 65535) return bad(type, "parameter too long");
    put16(out, key);
    put16(out, static_cast<uint16_t>(value.size()));
    out += value;
  }
  if (out.size() > 65535) return bad(type, "longer than 65535 octets");
  return out;
}

/// The value of a known key has the layout §7 gives it.
bool svc_value_valid(uint16_t key, std::string_view v) {
  switch (key) {
    case 0:
      return !v.empty() && v.size() % 2 == 0;
    case 1: {
      size_t p = 0;
      while (p < v.size()) {
        const size_t n = static_cast<uint8_t>(v[p]);
        if (n == 0 || v.size() - p - 1 < n) return false;
        p += 1 + n;
      }
      return !v.empty();
    }
    case 2:
      return v.empty();
    case 3:
      return v.size() == 2;
    case 4:
      return !v.empty() && v.size() % 4 == 0;
    case 6:
      return !v.empty() && v.size() % 16 == 0;
    default:
      return true;
  }
}

bool svcb_valid(std::string_view r) {
  if (r.size() < 3) return false;
  size_t p = wire_name_end(r, 2);
  if (p == std::string_view::npos) return false;
  int last = -1;
  while (p < r.size()) {
    if (r.size() - p < 4) return false;
    const uint16_t key = read16(r, p);
    const size_t len = read16(r, p + 2);
    if (static_cast<int>(key) <= last || r.size() - p - 4 < len) return false;
    if (!svc_value_valid(key, r.substr(p + 4, len))) return false;
    last = key;
    p += 4 + len;
  }
  return true;
}

/// An item of a value list, escaped so that it reads back the same.
void svc_escape_item(std::string& out, std::string_view s, bool in_list) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ',' && in_list) {
      out += "\\,";  // RFC 9460 Appendix A.1: a comma inside an item
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c <= 0x20 || c >= 0x7f || c == ';' || c == '(' || c == ')') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

std::string svcb_to_text(std::string_view r) {
  size_t p = 0;
  std::string out = std::to_string(read16(r, 0)) + " " + name_at(r, 2, &p);
  while (p < r.size()) {
    const uint16_t key = read16(r, p);
    const std::string_view v = r.substr(p + 4, read16(r, p + 2));
    p += 4 + v.size();
    out += " " + svc_key_to_text(key);
    switch (key) {
      case 0:
        out.push_back('=');
        for (size_t i = 0; i < v.size(); i += 2) {
          if (i > 0) out.push_back(',');
          out += svc_key_to_text(read16(v, i));
        }
        break;
      case 1: {
        out.push_back('=');
        size_t q = 0;
        while (q < v.size()) {
          if (q > 0) out.push_back(',');
          const size_t n = static_cast<uint8_t>(v[q]);
          svc_escape_item(out, v.substr(q + 1, n), true);
          q += 1 + n;
        }
        break;
      }
      case 2:
        break;
      case 3:
        out += "=" + std::to_string(read16(v, 0));
        break;
      case 4:
      case 6: {
        out.push_back('=');
        const size_t step = key == 4 ? 4 : 16;
        for (size_t i = 0; i < v.size(); i += step) {
          char buf[INET6_ADDRSTRLEN];
          inet_ntop(key == 4 ? AF_INET : AF_INET6, v.data() + i, buf, sizeof buf);
          if (i > 0) out.push_back(',');
          out += buf;
        }
        break;
      }
      case 5:
        out += "=" + base64_encode(v);
        break;
      default:
        out += "=\"";
        svc_escape_item(out, v, false);
        out.push_back('"');
        break;
    }
  }
  return out;
}

// --- the field layouts ---------------------------------------------------------

bool is_rest(F f) { return f == F::Base64 || f == F::Hex || f == F::Bitmap || f == F::Text; }

util::Result<std::string> layout_from_text(const Layout& l, const std::vector<Token>& t, const Name& origin) {
  const uint16_t type = l.type;
  std::string out;
  size_t i = 0;
  auto next = [&](const char* what) -> util::Result<std::string_view> {
    if (i >= t.size()) return bad(type, std::string("missing ") + what);
    return t[i++].raw;
  };
  size_t field_no = 0;
  for (F f : l.fields) {
    ++field_no;
    const std::string what = "field " + std::to_string(field_no);
    if (is_rest(f)) {
      std::vector<Token> rest(t.begin() + static_cast<std::ptrdiff_t>(i), t.end());
      i = t.size();
      std::string joined;
      for (const Token& tok : rest) joined += tok.raw;
      switch (f) {
        case F::Base64: {
          if (rest.empty()) return bad(type, "missing base64 data");
          auto b = base64_decode(joined);
          if (!b) return bad(type, b.error().message);
          out += *b;
          break;
        }
        case F::Hex: {
          if (rest.empty()) return bad(type, "missing hex data");
          auto h = hex_decode(joined);
          if (!h) return bad(type, h.error().message);
          out += *h;
          break;
        }
        case F::Bitmap: {
          std::vector<uint16_t> types;
          for (const Token& tok : rest) {
            auto code = type_from_text(tok.raw);
            if (!code || tok.quoted) return bad(type, "unknown type '" + std::string(tok.raw) + "' in the type list");
            types.push_back(*code);
          }
          auto b = bitmap_from_types(std::move(types));
          if (!b) return b.error();
          out += *b;
          break;
        }
        case F::Text: {
          if (rest.size() != 1) return bad(type, "expected one quoted string");
          auto s = unescape(rest[0].raw);
          if (!s) return bad(type, s.error().message);
          out += *s;
          break;
        }
        default:
          break;
      }
      break;
    }
    auto tok = next(what.c_str());
    if (!tok) return tok.error();
    const std::string_view s = *tok;
    auto number = [&](uint32_t max) -> util::Result<uint32_t> {
      auto v = parse_uint(s, max);
      if (!v) return bad(type, "bad number '" + std::string(s) + "' (" + what + ")");
      return *v;
    };
    switch (f) {
      case F::U8: {
        auto v = number(255);
        if (!v) return v.error();
        out.push_back(static_cast<char>(*v));
        break;
      }
      case F::U16: {
        auto v = number(65535);
        if (!v) return v.error();
        put16(out, static_cast<uint16_t>(*v));
        break;
      }
      case F::U32: {
        auto v = number(0xFFFFFFFFu);
        if (!v) return v.error();
        put32(out, *v);
        break;
      }
      case F::Alg: {
        auto v = number_or_mnemonic(s, kAlgorithms, 255);
        if (!v) return bad(type, "bad algorithm '" + std::string(s) + "'");
        out.push_back(static_cast<char>(*v));
        break;
      }
      case F::CertType: {
        auto v = number_or_mnemonic(s, kCertTypes, 65535);
        if (!v) return bad(type, "bad certificate type '" + std::string(s) + "'");
        put16(out, static_cast<uint16_t>(*v));
        break;
      }
      case F::Type: {
        auto v = type_from_text(s);
        if (!v) return bad(type, "unknown type '" + std::string(s) + "'");
        put16(out, *v);
        break;
      }
      case F::Time: {
        auto v = time_from_text(s);
        if (!v) return bad(type, "bad time '" + std::string(s) + "' (expected YYYYMMDDHHmmSS)");
        put32(out, *v);
        break;
      }
      case F::Name: {
        auto n = Name::from_text(s, &origin);
        if (!n) return bad(type, n.error().message);
        out += n->wire();
        break;
      }
      case F::CharStr: {
        auto u = unescape(s);
        if (!u) return bad(type, u.error().message);
        if (u->size() > 255) return bad(type, "string longer than 255 octets");
        out.push_back(static_cast<char>(u->size()));
        out += *u;
        break;
      }
      case F::Salt: {
        if (s == "-") {
          out.push_back('\0');
          break;
        }
        auto h = hex_decode(s);
        if (!h || h->empty() || h->size() > 255) return bad(type, "bad salt '" + std::string(s) + "'");
        out.push_back(static_cast<char>(h->size()));
        out += *h;
        break;
      }
      case F::Hash: {
        auto h = base32hex_decode(s);
        if (!h || h->empty() || h->size() > 255) return bad(type, "bad hashed owner name '" + std::string(s) + "'");
        out.push_back(static_cast<char>(h->size()));
        out += *h;
        break;
      }
      case F::Eui48:
      case F::Eui64: {
        auto e = eui_from_text(s, f == F::Eui48 ? 6 : 8);
        if (!e) return bad(type, "bad address '" + std::string(s) + "' (expected xx-xx-...)");
        out += *e;
        break;
      }
      default:
        break;
    }
  }
  if (i != t.size()) return bad(type, "too many fields");
  if (out.size() > 65535) return bad(type, "longer than 65535 octets");
  return out;
}

/// Walks the layout over wire rdata: the end of each field, or npos when
/// the rdata does not have the layout. `fn(field, start, end)` sees each one.
template <class Fn>
bool walk(const Layout& l, std::string_view r, Fn&& fn) {
  size_t p = 0;
  for (F f : l.fields) {
    const size_t start = p;
    switch (f) {
      case F::U8: case F::Alg: p += 1; break;
      case F::U16: case F::CertType: case F::Type: p += 2; break;
      case F::U32: case F::Time: p += 4; break;
      case F::Eui48: p += 6; break;
      case F::Eui64: p += 8; break;
      case F::Name:
        p = wire_name_end(r, p);
        if (p == std::string_view::npos) return false;
        break;
      case F::CharStr:
      case F::Salt:
      case F::Hash:
        if (p >= r.size()) return false;
        if (f == F::Hash && r[p] == 0) return false;
        p += 1 + static_cast<uint8_t>(r[p]);
        break;
      case F::Bitmap:
        if (!bitmap_valid(r.substr(p))) return false;
        p = r.size();
        break;
      case F::Base64: case F::Hex: case F::Text:
        p = r.size();
        break;
    }
    if (p > r.size()) return false;
    fn(f, start, p);
  }
  return p == r.size();
}

}  // namespace

bool has_field_codec(uint16_t type) {
  return type == kLoc || type == kSvcb || type == kHttps || type == rrtype::SIGNING_KEY || layout_of(type) != nullptr;
}

util::Result<std::string> fields_from_text(uint16_t type, const std::vector<Token>& tokens, const Name& origin) {
  if (type == rrtype::SIGNING_KEY) return bad(type, "signing keys are made by the cluster, not written");
  if (type == kLoc) return loc_from_text(tokens);
  if (type == kSvcb || type == kHttps) return svcb_from_text(type, tokens, origin);
  return layout_from_text(*layout_of(type), tokens, origin);
}

util::Result<void> fields_validate(uint16_t type, std::string_view rdata) {
  if (type == rrtype::SIGNING_KEY) {
    return rdata.size() >= 14 && rdata[0] == 1 ? util::Result<void>() : bad(type, "not a version 1 signing key");
  }
  if (type == kLoc) return loc_valid(rdata) ? util::Result<void>() : bad(type, "not the 16-octet version 0 layout");
  if (type == kSvcb || type == kHttps) {
    return svcb_valid(rdata) ? util::Result<void>() : bad(type, "malformed priority, target or parameters");
  }
  const Layout* l = layout_of(type);
  if (!l) return {};
  if (!walk(*l, rdata, [](F, size_t, size_t) {})) return bad(type, "fields do not match the type's layout");
  return {};
}

std::string fields_to_text(uint16_t type, std::string_view r) {
  if (type == rrtype::SIGNING_KEY) {
    // The private key never reaches a log line, a reply or a listing.
    return "v1 flags " + std::to_string(read16(r, 1)) + " algorithm " + std::to_string(static_cast<uint8_t>(r[3])) +
           (r[4] == 1 ? " active" : r[4] == 0 ? " published" : " retired") + " (private key withheld)";
  }
  if (type == kLoc) return loc_to_text(r);
  if (type == kSvcb || type == kHttps) return svcb_to_text(r);
  std::string out;
  walk(*layout_of(type), r, [&](F f, size_t start, size_t end) {
    const std::string_view v = r.substr(start, end - start);
    std::string text;
    switch (f) {
      case F::U8: case F::Alg: text = std::to_string(static_cast<uint8_t>(v[0])); break;
      case F::U16: case F::CertType: text = std::to_string(read16(v, 0)); break;
      case F::U32: text = std::to_string(read32(v, 0)); break;
      case F::Type: text = type_to_text(read16(v, 0)); break;
      case F::Time: text = time_to_text(read32(v, 0)); break;
      case F::Name: {
        size_t e = 0;
        text = name_at(v, 0, &e);
        break;
      }
      case F::CharStr: quote_into(text, v.substr(1)); break;
      case F::Salt: text = v.size() == 1 ? "-" : hex_encode(v.substr(1)); break;
      case F::Hash: {
        // Knot DNS and RFC 5155's examples print the hash in lower case.
        text = base32hex_encode(v.substr(1));
        for (char& c : text) c = static_cast<char>(ascii_lower(static_cast<uint8_t>(c)));
        break;
      }
      case F::Eui48: case F::Eui64: text = eui_to_text(v); break;
      case F::Base64: text = base64_encode(v); break;
      case F::Hex: text = hex_encode(v); break;
      case F::Bitmap: text = bitmap_to_text(v); break;
      case F::Text: quote_into(text, v); break;
    }
    if (text.empty()) return;  // an empty type bit map prints nothing
    if (!out.empty()) out.push_back(' ');
    out += text;
  });
  return out;
}

}  // namespace dns::detail

namespace dns {
std::string type_bitmap(std::vector<uint16_t> types) { return detail::bitmap_from_types(std::move(types)).value(); }
}  // namespace dns
