// Rdata presentation codecs: text (RFC 1035 §5.1, RFC 3597 §5) to wire and
// back, printing what dig and Knot print so answers and logs read the same.
#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <vector>

#include "dns/encoding.h"
#include "dns/rr.h"
#include "rdata_internal.h"

namespace dns {
namespace {

using detail::parse_uint;
using detail::put16;
using detail::put32;
using detail::Token;
using detail::quote_into;
using detail::tokenize;
using detail::unescape;
using detail::name_at;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// A time value in seconds or BIND-style units ("1h30m", RFC 2308 §4 usage).
std::optional<uint32_t> parse_time(std::string_view s) {
  if (auto plain = parse_uint(s, 0xFFFFFFFFu)) return plain;
  if (s.empty()) return std::nullopt;
  uint64_t total = 0, cur = 0;
  bool have_digits = false;
  for (char c : s) {
    if (is_digit(c)) {
      cur = cur * 10 + static_cast<uint64_t>(c - '0');
      if (cur > 0xFFFFFFFFu) return std::nullopt;
      have_digits = true;
      continue;
    }
    uint64_t mult = 0;
    switch (ascii_lower(static_cast<uint8_t>(c))) {
      case 'w': mult = 604800; break;
      case 'd': mult = 86400; break;
      case 'h': mult = 3600; break;
      case 'm': mult = 60; break;
      case 's': mult = 1; break;
      default: return std::nullopt;
    }
    if (!have_digits) return std::nullopt;
    total += cur * mult;
    if (total > 0xFFFFFFFFu) return std::nullopt;
    cur = 0;
    have_digits = false;
  }
  total += cur;  // a final number without a unit counts as seconds ("1h30")
  if (total > 0xFFFFFFFFu) return std::nullopt;
  return static_cast<uint32_t>(total);
}

util::Error bad(uint16_t type, const std::string& why) {
  return util::make_error("bad " + type_to_text(type) + " rdata: " + why);
}

util::Result<Name> name_field(uint16_t type, const Token& t, const Name& origin) {
  auto n = Name::from_text(t.raw, &origin);
  if (!n) return bad(type, n.error().message);
  return n;
}

/// RFC 3597 §5: "\# <length> <hex words>".
util::Result<std::string> generic_from_text(uint16_t type, const std::vector<Token>& toks) {
  if (toks.size() < 2) return bad(type, "\\# needs a length");
  auto len = parse_uint(toks[1].raw, 65535);
  if (!len) return bad(type, "bad \\# length '" + std::string(toks[1].raw) + "'");
  std::string hex;
  for (size_t i = 2; i < toks.size(); ++i) hex += toks[i].raw;
  auto decoded = hex_decode(hex);
  if (!decoded) return bad(type, "\\# data: " + decoded.error().message);
  std::string out = std::move(decoded).value();
  if (out.size() != *len) {
    return bad(type, "\\# length " + std::to_string(*len) + " but " + std::to_string(out.size()) +
                         " octets of data");
  }
  auto v = rdata_validate(type, out);
  if (!v) return v.error();
  return out;
}

/// Appends character-strings, splitting one longer than 255 octets.
void append_char_strings(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('\0');
    return;
  }
  while (!s.empty()) {
    size_t n = s.size() < 255 ? s.size() : 255;
    out.push_back(static_cast<char>(n));
    out.append(s.substr(0, n));
    s.remove_prefix(n);
  }
}

util::Result<std::string> expect_count(uint16_t type, const std::vector<Token>& toks, size_t n,
                                       const char* layout) {
  if (toks.size() != n) {
    return bad(type, "expected " + std::string(layout) + ", got " + std::to_string(toks.size()) + " field(s)");
  }
  return std::string();
}

std::string generic_to_text(std::string_view rdata) {
  std::string out = "\\# " + std::to_string(rdata.size());
  if (!rdata.empty()) out.push_back(' ');
  return out + hex_encode(rdata);
}

}  // namespace

namespace detail {

util::Result<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size()) break;
    if (text[i] == '"') {
      size_t start = ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\') ++i;  // an escaped quote does not end the string
        ++i;
      }
      if (i >= text.size()) return util::make_error("unterminated quoted string");
      out.push_back({text.substr(start, i - start), true});
      ++i;
    } else {
      size_t start = i;
      while (i < text.size() && !is_space(text[i])) {
        if (text[i] == '\\') ++i;
        ++i;
      }
      if (i > text.size()) i = text.size();
      out.push_back({text.substr(start, i - start), false});
    }
  }
  return out;
}

/// Decodes "\X" and "\DDD" escapes of a character-string (RFC 1035 §5.1).
util::Result<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size()) return util::make_error("dangling backslash");
    if (is_digit(s[i + 1])) {
      if (i + 3 >= s.size() || !is_digit(s[i + 2]) || !is_digit(s[i + 3])) {
        return util::make_error("bad \\DDD escape");
      }
      int v = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');
      if (v > 255) return util::make_error("\\DDD escape over 255");
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i + 1]);
      ++i;
    }
  }
  return out;
}

std::optional<uint32_t> parse_uint(std::string_view s, uint32_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<uint32_t>(v);
}

void quote_into(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

std::string name_at(std::string_view rdata, size_t pos, size_t* end) {
  *end = detail::wire_name_end(rdata, pos);
  auto n = Name::from_wire(rdata.substr(pos, *end - pos));
  return n ? n->to_text() : std::string("?");
}

}  // namespace detail

util::Result<std::string> rdata_from_text(uint16_t type, std::string_view text, const Name& origin) {
  auto tr = tokenize(text);
  if (!tr) return bad(type, tr.error().message);
  const std::vector<Token>& t = *tr;
  if (!t.empty() && !t[0].quoted && t[0].raw == "\\#") return generic_from_text(type, t);
  if (is_meta_type(type)) return bad(type, "meta type cannot hold data");

  std::string out;
  switch (type) {
    case rrtype::A:
    case rrtype::AAAA: {
      if (auto e = expect_count(type, t, 1, "one address"); !e) return e;
      std::string addr(t[0].raw);
      unsigned char buf[16];
      int af = type == rrtype::A ? AF_INET : AF_INET6;
      if (inet_pton(af, addr.c_str(), buf) != 1) {
        return bad(type, "'" + addr + "' is not an IPv" + (type == rrtype::A ? "4" : "6") + " address");
      }
      out.assign(reinterpret_cast<char*>(buf), type == rrtype::A ? 4 : 16);
      return out;
    }
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
    case 39: {  // DNAME
      if (auto e = expect_count(type, t, 1, "one domain name"); !e) return e;
      auto n = name_field(type, t[0], origin);
      if (!n) return n.error();
      return n->wire();
    }
    case rrtype::MX: {
      if (auto e = expect_count(type, t, 2, "preference and exchange"); !e) return e;
      auto pref = parse_uint(t[0].raw, 65535);
      if (!pref) return bad(type, "bad preference '" + std::string(t[0].raw) + "'");
      auto n = name_field(type, t[1], origin);
      if (!n) return n.error();
      put16(out, static_cast<uint16_t>(*pref));
      out += n->wire();
      return out;
    }
    case rrtype::SOA: {
      if (auto e = expect_count(type, t, 7, "mname rname serial refresh retry expire minimum"); !e) return e;
      auto m = name_field(type, t[0], origin);
      if (!m) return m.error();
      auto r = name_field(type, t[1], origin);
      if (!r) return r.error();
      out = m->wire() + r->wire();
      auto serial = parse_uint(t[2].raw, 0xFFFFFFFFu);
      if (!serial) return bad(type, "bad serial '" + std::string(t[2].raw) + "'");
      put32(out, *serial);
      static const char* kFields[] = {"refresh", "retry", "expire", "minimum"};
      for (size_t i = 3; i < 7; ++i) {
        auto v = parse_time(t[i].raw);
        if (!v) return bad(type, std::string("bad ") + kFields[i - 3] + " '" + std::string(t[i].raw) + "'");
        put32(out, *v);
      }
      return out;
    }
    case rrtype::TXT:
    case 99: {  // SPF
      if (t.empty()) return bad(type, "expected at least one string");
      for (const auto& tok : t) {
        auto s = unescape(tok.raw);
        if (!s) return bad(type, s.error().message);
        append_char_strings(out, *s);
      }
      if (out.size() > 65535) return bad(type, "longer than 65535 octets");
      return out;
    }
    case rrtype::HINFO: {
      if (auto e = expect_count(type, t, 2, "cpu and os strings"); !e) return e;
      for (const auto& tok : t) {
        auto s = unescape(tok.raw);
        if (!s) return bad(type, s.error().message);
        if (s->size() > 255) return bad(type, "string longer than 255 octets");
        out.push_back(static_cast<char>(s->size()));
        out += *s;
      }
      return out;
    }
    case rrtype::SRV: {
      if (auto e = expect_count(type, t, 4, "priority weight port target"); !e) return e;
      static const char* kFields[] = {"priority", "weight", "port"};
      for (size_t i = 0; i < 3; ++i) {
        auto v = parse_uint(t[i].raw, 65535);
        if (!v) return bad(type, std::string("bad ") + kFields[i] + " '" + std::string(t[i].raw) + "'");
        put16(out, static_cast<uint16_t>(*v));
      }
      auto n = name_field(type, t[3], origin);
      if (!n) return n.error();
      out += n->wire();
      return out;
    }
    case rrtype::CAA: {
      // RFC 8659 §4.1.1: <flags> <tag> <value>.
      if (auto e = expect_count(type, t, 3, "flags tag value"); !e) return e;
      auto flags = parse_uint(t[0].raw, 255);
      if (!flags) return bad(type, "bad flags '" + std::string(t[0].raw) + "'");
      std::string_view tag = t[1].raw;
      auto value = unescape(t[2].raw);
      if (!value) return bad(type, value.error().message);
      out.push_back(static_cast<char>(*flags));
      out.push_back(static_cast<char>(tag.size() > 255 ? 255 : tag.size()));
      out += tag;
      out += *value;
      auto v = rdata_validate(type, out);
      if (!v) return v.error();
      return out;
    }
    default:
      if (detail::has_field_codec(type)) return detail::fields_from_text(type, t, origin);
      return bad(type, "no presentation format known for this type; use \\# <length> <hex>");
  }
}

std::string rdata_to_text(uint16_t type, std::string_view rdata) {
  if (!rdata_validate(type, rdata)) return generic_to_text(rdata);
  std::string out;
  size_t end = 0;
  switch (type) {
    case rrtype::A:
    case rrtype::AAAA: {
      char buf[INET6_ADDRSTRLEN];
      int af = type == rrtype::A ? AF_INET : AF_INET6;
      if (inet_ntop(af, rdata.data(), buf, sizeof buf) == nullptr) return generic_to_text(rdata);
      return buf;
    }
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
    case 39:
      return name_at(rdata, 0, &end);
    case rrtype::MX:
      return std::to_string(detail::read16(rdata, 0)) + " " + name_at(rdata, 2, &end);
    case rrtype::SOA: {
      out = name_at(rdata, 0, &end);
      size_t p = end;
      out += " " + name_at(rdata, p, &end);
      for (size_t i = 0; i < 5; ++i) out += " " + std::to_string(detail::read32(rdata, end + 4 * i));
      return out;
    }
    case rrtype::TXT:
    case 99:
    case rrtype::HINFO: {
      size_t p = 0;
      while (p < rdata.size()) {
        size_t n = static_cast<uint8_t>(rdata[p]);
        if (!out.empty()) out.push_back(' ');
        quote_into(out, rdata.substr(p + 1, n));
        p += 1 + n;
      }
      return out;
    }
    case rrtype::SRV:
      return std::to_string(detail::read16(rdata, 0)) + " " + std::to_string(detail::read16(rdata, 2)) + " " +
             std::to_string(detail::read16(rdata, 4)) + " " + name_at(rdata, 6, &end);
    case rrtype::CAA: {
      size_t taglen = static_cast<uint8_t>(rdata[1]);
      out = std::to_string(static_cast<uint8_t>(rdata[0])) + " ";
      out.append(rdata.substr(2, taglen));
      out.push_back(' ');
      quote_into(out, rdata.substr(2 + taglen));
      return out;
    }
    default:
      if (detail::has_field_codec(type)) return detail::fields_to_text(type, rdata);
      return generic_to_text(rdata);
  }
}

}  // namespace dns
