// RR type and class tables, rdata layout checks and wire decoding, and the
// helpers other modules use to look inside rdata (targets, SOA fields).
#include "dns/rr.h"

#include <array>
#include <charconv>

#include "dns/message.h"
#include "rdata_internal.h"

namespace dns {
namespace {

struct TypeName {
  uint16_t code;
  const char* name;
};

// Mnemonics from the IANA registry for the types an operator is likely to
// meet. Types without a codec of their own use the RFC 3597 generic form.
constexpr TypeName kTypes[] = {
    {1, "A"},          {2, "NS"},       {3, "MD"},        {4, "MF"},         {5, "CNAME"},
    {6, "SOA"},        {7, "MB"},       {8, "MG"},        {9, "MR"},         {10, "NULL"},
    {11, "WKS"},       {12, "PTR"},     {13, "HINFO"},    {14, "MINFO"},     {15, "MX"},
    {16, "TXT"},       {17, "RP"},      {18, "AFSDB"},    {24, "SIG"},       {25, "KEY"},
    {28, "AAAA"},      {29, "LOC"},     {33, "SRV"},      {35, "NAPTR"},     {36, "KX"},
    {37, "CERT"},      {39, "DNAME"},   {41, "OPT"},      {42, "APL"},       {43, "DS"},
    {44, "SSHFP"},     {45, "IPSECKEY"}, {46, "RRSIG"},   {47, "NSEC"},      {48, "DNSKEY"},
    {49, "DHCID"},     {50, "NSEC3"},   {51, "NSEC3PARAM"}, {52, "TLSA"},    {53, "SMIMEA"},
    {55, "HIP"},       {59, "CDS"},     {60, "CDNSKEY"},  {61, "OPENPGPKEY"}, {62, "CSYNC"},
    {63, "ZONEMD"},    {64, "SVCB"},    {65, "HTTPS"},    {99, "SPF"},       {108, "EUI48"},
    {109, "EUI64"},    {249, "TKEY"},   {250, "TSIG"},    {251, "IXFR"},     {252, "AXFR"},
    {253, "MAILB"},    {254, "MAILA"},  {255, "ANY"},     {256, "URI"},         {257, "CAA"},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<uint8_t>(a[i])) != ascii_lower(static_cast<uint8_t>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "TYPE123" / "CLASS123" generic forms (RFC 3597 §5).
std::optional<uint16_t> generic_code(std::string_view text, std::string_view prefix) {
  if (text.size() <= prefix.size() || !iequals(text.substr(0, prefix.size()), prefix)) {
    return std::nullopt;
  }
  std::string_view digits = text.substr(prefix.size());
  if (digits.size() > 5) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

uint16_t get16(std::string_view s, size_t pos) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[pos]) << 8) | static_cast<uint8_t>(s[pos + 1]));
}

uint32_t get32(std::string_view s, size_t pos) {
  return (uint32_t{static_cast<uint8_t>(s[pos])} << 24) | (uint32_t{static_cast<uint8_t>(s[pos + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[pos + 2])} << 8) | uint32_t{static_cast<uint8_t>(s[pos + 3])};
}

util::Error bad(uint16_t type, const std::string& why) {
  return util::make_error(type_to_text(type) + " rdata: " + why);
}

}  // namespace

namespace detail {

void put32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

size_t wire_name_end(std::string_view rdata, size_t pos) {
  size_t start = pos;
  while (true) {
    if (pos >= rdata.size()) return std::string_view::npos;
    auto len = static_cast<uint8_t>(rdata[pos]);
    if (len == 0) break;
    if (len > kMaxLabelLength) return std::string_view::npos;  // also rejects pointers
    pos += 1 + len;
  }
  ++pos;
  if (pos - start > kMaxNameLength) return std::string_view::npos;
  return pos;
}

}  // namespace detail

std::string type_to_text(uint16_t type) {
  for (const auto& t : kTypes) {
    if (t.code == type) return t.name;
  }
  return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> type_from_text(std::string_view text) {
  for (const auto& t : kTypes) {
    if (iequals(text, t.name)) return t.code;
  }
  return generic_code(text, "TYPE");
}

bool is_meta_type(uint16_t type) {
  // RFC 6895 §3.1: 0 is reserved, OPT is a pseudo-RR, 128-255 are
  // question/meta types (TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY).
  return type == 0 || type == rrtype::OPT || (type >= 128 && type <= 255);
}

std::string class_to_text(uint16_t rclass) {
  switch (rclass) {
    case rrclass::IN: return "IN";
    case rrclass::CH: return "CH";
    case 4: return "HS";
    case rrclass::NONE: return "NONE";
    case rrclass::ANY: return "ANY";
    default: return "CLASS" + std::to_string(rclass);
  }
}

std::optional<uint16_t> class_from_text(std::string_view text) {
  if (iequals(text, "IN")) return rrclass::IN;
  if (iequals(text, "CH") || iequals(text, "CHAOS")) return rrclass::CH;
  if (iequals(text, "HS")) return uint16_t{4};
  if (iequals(text, "NONE")) return rrclass::NONE;
  if (iequals(text, "ANY")) return rrclass::ANY;
  return generic_code(text, "CLASS");
}

util::Result<void> rdata_validate(uint16_t type, std::string_view rdata) {
  using detail::wire_name_end;
  constexpr size_t npos = std::string_view::npos;
  if (rdata.size() > 65535) return bad(type, "longer than 65535 octets");
  switch (type) {
    case rrtype::A:
      if (rdata.size() != 4) return bad(type, "must be 4 octets");
      return {};
    case rrtype::AAAA:
      if (rdata.size() != 16) return bad(type, "must be 16 octets");
      return {};
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
    case 3: case 4: case 7: case 8: case 9: case 39:  // MD MF MB MG MR DNAME
      if (wire_name_end(rdata, 0) != rdata.size()) return bad(type, "not a single domain name");
      return {};
    case rrtype::MX:
    case 36:  // KX has the MX layout
      if (rdata.size() < 3 || wire_name_end(rdata, 2) != rdata.size()) {
        return bad(type, "expected preference and domain name");
      }
      return {};
    case rrtype::SOA: {
      size_t p = wire_name_end(rdata, 0);
      if (p == npos) return bad(type, "bad MNAME");
      p = wire_name_end(rdata, p);
      if (p == npos) return bad(type, "bad RNAME");
      if (p + 20 != rdata.size()) return bad(type, "expected five 32-bit fields after the names");
      return {};
    }
    case 14: {  // MINFO
      size_t p = wire_name_end(rdata, 0);
      if (p == npos || wire_name_end(rdata, p) != rdata.size()) return bad(type, "expected two names");
      return {};
    }
    case rrtype::SRV:
      if (rdata.size() < 7 || wire_name_end(rdata, 6) != rdata.size()) {
        return bad(type, "expected priority, weight, port and target");
      }
      return {};
    case rrtype::TXT:
    case 99:  // SPF
    case rrtype::HINFO: {
      size_t p = 0, n = 0;
      while (p < rdata.size()) {
        p += 1 + static_cast<uint8_t>(rdata[p]);
        ++n;
      }
      if (p != rdata.size()) return bad(type, "character-string runs past the end");
      if (type == rrtype::HINFO && n != 2) return bad(type, "expected two character-strings");
      if (type != rrtype::HINFO && n == 0) return bad(type, "expected at least one character-string");
      return {};
    }
    case rrtype::CAA: {
      // RFC 8659 §4.1: flags, tag length (1-15), tag, value.
      if (rdata.size() < 2) return bad(type, "too short");
      size_t taglen = static_cast<uint8_t>(rdata[1]);
      if (taglen == 0 || taglen > 15) return bad(type, "tag length must be 1 to 15");
      if (2 + taglen > rdata.size()) return bad(type, "tag runs past the end");
      for (size_t i = 0; i < taglen; ++i) {
        char c = rdata[2 + i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum) return bad(type, "tag must be letters and digits");
      }
      return {};
    }
    case rrtype::OPT:
    case rrtype::TSIG:
      return {};
    default:
      return detail::fields_validate(type, rdata);
  }
}

util::Result<std::string> rdata_from_wire(uint16_t type, const uint8_t* msg, size_t msg_len, size_t offset,
                                          uint16_t rdlength) {
  if (offset > msg_len || msg_len - offset < rdlength) {
    return bad(type, "rdata runs past the end of the message");
  }
  const size_t end = offset + rdlength;
  // Names in these types may be compressed (RFC 3597 §4); SRV is accepted
  // compressed too, as RFC 3597 §4 asks receivers to tolerate it.
  int fixed_before = -1;  // octets before the first name
  int names = 0;
  int fixed_after = 0;
  switch (type) {
    case rrtype::NS: case rrtype::CNAME: case rrtype::PTR:
    case 3: case 4: case 7: case 8: case 9:
      fixed_before = 0; names = 1; break;
    case rrtype::MX:
    case 18:  // AFSDB; RFC 3597 §4 asks receivers to decompress it and the rest below
    case 36:  // KX
      fixed_before = 2; names = 1; break;
    case rrtype::SRV:
      fixed_before = 6; names = 1; break;
    case 17:  // RP
      fixed_before = 0; names = 2; break;
    case 35: {  // NAPTR: order, preference, three character-strings, then the name
      size_t p = offset + 4;
      for (int i = 0; i < 3 && p < end; ++i) p += 1 + msg[p];
      if (p >= end) return bad(type, "rdata too short");
      fixed_before = static_cast<int>(p - offset);
      names = 1;
      break;
    }
    case rrtype::SOA:
      fixed_before = 0; names = 2; fixed_after = 20; break;
    case 14:  // MINFO
      fixed_before = 0; names = 2; break;
    default: break;
  }
  if (fixed_before < 0) {
    std::string out(reinterpret_cast<const char*>(msg + offset), rdlength);
    auto v = rdata_validate(type, out);
    if (!v) return v.error();
    return out;
  }
  if (rdlength < static_cast<size_t>(fixed_before)) return bad(type, "rdata too short");
  std::string out(reinterpret_cast<const char*>(msg + offset), static_cast<size_t>(fixed_before));
  size_t pos = offset + static_cast<size_t>(fixed_before);
  for (int i = 0; i < names; ++i) {
    // Bounding the read at `end` keeps the in-rdata part inside rdlength;
    // pointers only go backwards, so their targets lie before `end` too.
    auto n = read_name(msg, end, &pos);
    if (!n) return bad(type, n.error().message);
    out += n->wire();
  }
  if (end - pos != static_cast<size_t>(fixed_after)) return bad(type, "rdata length does not match its fields");
  out.append(reinterpret_cast<const char*>(msg + pos), static_cast<size_t>(fixed_after));
  return out;
}

std::optional<size_t> rdata_target_offset(uint16_t type) {
  switch (type) {
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
      return 0;
    case rrtype::MX:
      return 2;
    case rrtype::SRV:
      return 6;
    default:
      return std::nullopt;
  }
}

std::optional<Name> rdata_target(uint16_t type, std::string_view rdata) {
  auto off = rdata_target_offset(type);
  if (!off) return std::nullopt;
  size_t end = detail::wire_name_end(rdata, *off);
  if (end == std::string_view::npos) return std::nullopt;
  auto n = Name::from_wire(rdata.substr(*off, end - *off));
  if (!n) return std::nullopt;
  return std::move(n).value();
}

bool rdata_names_compressible(uint16_t type) {
  switch (type) {
    case rrtype::NS: case rrtype::CNAME: case rrtype::SOA: case rrtype::PTR: case rrtype::MX:
    case 3: case 4: case 7: case 8: case 9: case 14:  // MD MF MB MG MR MINFO
      return true;
    default:
      return false;
  }
}

util::Result<SoaFields> soa_decode(std::string_view rdata) {
  auto v = rdata_validate(rrtype::SOA, rdata);
  if (!v) return v.error();
  size_t p1 = detail::wire_name_end(rdata, 0);
  size_t p2 = detail::wire_name_end(rdata, p1);
  auto m = Name::from_wire(rdata.substr(0, p1));
  auto r = Name::from_wire(rdata.substr(p1, p2 - p1));
  if (!m) return m.error();
  if (!r) return r.error();
  SoaFields f;
  f.mname = std::move(m).value();
  f.rname = std::move(r).value();
  f.serial = get32(rdata, p2);
  f.refresh = get32(rdata, p2 + 4);
  f.retry = get32(rdata, p2 + 8);
  f.expire = get32(rdata, p2 + 12);
  f.minimum = get32(rdata, p2 + 16);
  return f;
}

std::string soa_encode(const SoaFields& soa) {
  std::string out = soa.mname.wire() + soa.rname.wire();
  detail::put32(out, soa.serial);
  detail::put32(out, soa.refresh);
  detail::put32(out, soa.retry);
  detail::put32(out, soa.expire);
  detail::put32(out, soa.minimum);
  return out;
}

namespace detail {
uint16_t read16(std::string_view s, size_t pos) { return get16(s, pos); }
uint32_t read32(std::string_view s, size_t pos) { return get32(s, pos); }
void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}
}  // namespace detail

}  // namespace dns
