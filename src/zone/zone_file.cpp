// Zone file entry points: reading a file, telling the two formats apart,
// TTL parsing, and record values in either master or legacy JSON syntax.
#include "zone/zone_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace zone {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

/// A JSON item as one presentation-form field; strings are quoted when the
/// field is a character-string, so spaces and quotes in them survive.
util::Result<std::string> json_field(const nlohmann::json& item, bool as_char_string) {
  if (item.is_number_unsigned() || (item.is_number_integer() && item.get<int64_t>() >= 0)) {
    return std::to_string(item.get<uint64_t>());
  }
  if (!item.is_string()) return util::make_error("list items must be strings or non-negative integers");
  std::string s = item.get<std::string>();
  if (!as_char_string) {
    if (s.empty()) return util::make_error("empty string in list");
    return s;
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

util::Result<uint32_t> json_u32(const nlohmann::json& item, const char* what, bool time_units) {
  if (item.is_number_unsigned() || (item.is_number_integer() && item.get<int64_t>() >= 0)) {
    uint64_t v = item.get<uint64_t>();
    if (v > 0xFFFFFFFFu) return util::make_error(std::string(what) + " out of range");
    return static_cast<uint32_t>(v);
  }
  if (time_units && item.is_string()) {
    auto t = parse_ttl(item.get<std::string>());
    if (t) return t;
  }
  return util::make_error(std::string(what) + " must be a non-negative integer");
}

/// The legacy JSON-list values: MX ["exchange", preference] (either order),
/// SOA ["mname", "rname", serial?, refresh?, retry?, expire?, minimum?], and
/// for other types the list items as the fields of the master syntax.
util::Result<std::string> rdata_from_json(uint16_t type, std::string_view value, const dns::Name& origin) {
  auto j = nlohmann::json::parse(value.begin(), value.end(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return util::make_error("value '" + std::string(value) + "' is not a valid JSON list");
  }
  const std::string tname = dns::type_to_text(type);
  if (type == dns::rrtype::MX) {
    if (j.size() != 2) return util::make_error("MX list must be [\"exchange\", preference]");
    const auto* exch = &j[0];
    const auto* pref = &j[1];
    if (exch->is_number() && pref->is_string()) std::swap(exch, pref);
    if (!exch->is_string()) return util::make_error("MX list must be [\"exchange\", preference]");
    auto p = json_u32(*pref, "MX preference", false);
    if (!p) return p.error();
    if (*p > 65535) return util::make_error("MX preference over 65535");
    auto n = dns::Name::from_text(exch->get<std::string>(), &origin);
    if (!n) return util::make_error("MX exchange: " + n.error().message);
    std::string out;
    out.push_back(static_cast<char>(*p >> 8));
    out.push_back(static_cast<char>(*p));
    out += n->wire();
    return out;
  }
  if (type == dns::rrtype::SOA) {
    if (j.size() < 2 || j.size() > 7 || !j[0].is_string() || !j[1].is_string()) {
      return util::make_error(
          "SOA list must be [\"mname\", \"rname\", serial, refresh, retry, expire, minimum] "
          "(the numbers optional)");
    }
    dns::SoaFields f;
    auto m = dns::Name::from_text(j[0].get<std::string>(), &origin);
    if (!m) return util::make_error("SOA mname: " + m.error().message);
    auto r = dns::Name::from_text(j[1].get<std::string>(), &origin);
    if (!r) return util::make_error("SOA rname: " + r.error().message);
    f.mname = std::move(m).value();
    f.rname = std::move(r).value();
    // Defaults for the fields the list leaves out.
    uint32_t* fields[5] = {&f.serial, &f.refresh, &f.retry, &f.expire, &f.minimum};
    const uint32_t defaults[5] = {1, 3600, 900, 604800, 300};
    static const char* kNames[5] = {"SOA serial", "SOA refresh", "SOA retry", "SOA expire", "SOA minimum"};
    for (size_t i = 0; i < 5; ++i) {
      *fields[i] = defaults[i];
      if (2 + i < j.size()) {
        auto v = json_u32(j[2 + i], kNames[i], i > 0);
        if (!v) return v.error();
        *fields[i] = *v;
      }
    }
    return dns::soa_encode(f);
  }
  if (j.empty()) return util::make_error(tname + " list is empty");
  std::string text;
  for (size_t i = 0; i < j.size(); ++i) {
    bool char_string = type == dns::rrtype::TXT || type == 99 || type == dns::rrtype::HINFO ||
                       (type == dns::rrtype::CAA && i == 2);
    auto f = json_field(j[i], char_string);
    if (!f) return util::make_error(tname + " list: " + f.error().message);
    if (!text.empty()) text.push_back(' ');
    text += *f;
  }
  return dns::rdata_from_text(type, text, origin);
}

}  // namespace

util::Result<uint32_t> parse_ttl(std::string_view text) {
  // Seconds, or BIND-style units w/d/h/m/s in any case ("1h30m"); a final
  // number without a unit counts as seconds. RFC 2181 §8 caps TTLs at 2^31-1.
  constexpr uint64_t kMax = 0x7FFFFFFF;
  if (text.empty()) return util::make_error("empty TTL");
  uint64_t total = 0, cur = 0;
  bool digits = false;
  for (char c : text) {
    if (is_digit(c)) {
      cur = cur * 10 + static_cast<uint64_t>(c - '0');
      if (cur > kMax) return util::make_error("TTL '" + std::string(text) + "' is over 2147483647");
      digits = true;
      continue;
    }
    uint64_t mult = 0;
    switch (dns::ascii_lower(static_cast<uint8_t>(c))) {
      case 'w': mult = 604800; break;
      case 'd': mult = 86400; break;
      case 'h': mult = 3600; break;
      case 'm': mult = 60; break;
      case 's': mult = 1; break;
      default: return util::make_error("bad TTL '" + std::string(text) + "'");
    }
    if (!digits) return util::make_error("bad TTL '" + std::string(text) + "': unit without a number");
    total += cur * mult;
    if (total > kMax) return util::make_error("TTL '" + std::string(text) + "' is over 2147483647");
    cur = 0;
    digits = false;
  }
  total += cur;
  if (total > kMax) return util::make_error("TTL '" + std::string(text) + "' is over 2147483647");
  return static_cast<uint32_t>(total);
}

util::Result<std::string> parse_rdata_any(uint16_t type, std::string_view value, const dns::Name& origin) {
  value = trim(value);
  if (value.empty()) return util::make_error("missing " + dns::type_to_text(type) + " value");
  if (value.front() == '[') return rdata_from_json(type, value, origin);
  // Legacy TXT: an unquoted value is one string, spaces included ("hello
  // this is some text"); over 255 octets it is split by rdata_from_text.
  bool txt = type == dns::rrtype::TXT || type == 99;
  if (txt && value.front() != '"' && value.substr(0, 2) != "\\#") {
    std::string quoted = "\"";
    for (char c : value) {
      if (c == '"') quoted.push_back('\\');
      quoted.push_back(c);
    }
    quoted.push_back('"');
    return dns::rdata_from_text(type, quoted, origin);
  }
  return dns::rdata_from_text(type, value, origin);
}

ZoneFileFormat detect_format(const std::string& text) {
  // Count the features only one of the formats has; plain "name TYPE value"
  // lines are valid in both and decide nothing. Lines are views into the
  // text: a large zone is not copied line by line.
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  int master = 0, legacy = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = trim(line);
    if (t.empty()) continue;
    if (t.front() == '$') {
      master += 10;
      continue;
    }
    if (t.front() == ';') {
      ++master;
      continue;
    }
    if (t.front() == '#') {
      ++legacy;
      continue;
    }
    // A line starting with white space is a blank owner in master files
    // ("   IN NS ns2") and a wrapped value in legacy files.
    std::string_view first_field = t.substr(0, t.find_first_of(" \t"));
    if (is_blank(line.front())) {
      std::string first{first_field};
      bool record_like = dns::type_from_text(first) || dns::class_from_text(first) ||
                         (!first.empty() && first[0] >= '0' && first[0] <= '9');
      record_like ? ++master : ++legacy;
      continue;
    }
    // Legacy names are absolute, so a single-label owner is a relative name.
    if (first_field.find('.') == std::string_view::npos && first_field != "@") ++master;
    if (t.find('(') != std::string_view::npos && t.find('[') == std::string_view::npos) ++master;
    if (t.front() == '@') ++master;
    // Fields: a class field or a JSON list value.
    size_t k = 0;
    for (int idx = 0; idx < 4; ++idx) {
      while (k < t.size() && is_space(t[k])) ++k;
      if (k >= t.size()) break;
      size_t end = k;
      while (end < t.size() && !is_space(t[end])) ++end;
      std::string_view f = t.substr(k, end - k);
      k = end;
      if (idx > 0 && (f == "IN" || f == "in")) ++master;
      if (idx >= 2 && f.front() == '[') {
        ++legacy;
        break;
      }
    }
  }
  return master > legacy ? ZoneFileFormat::Master : ZoneFileFormat::Legacy;
}

ZoneFileResult read_zone_file(const std::string& path, const dns::Name& default_origin) {
  ZoneFileResult result;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    result.file_unreadable = true;
    result.errors.push_back(path + ": cannot open zone file: " + std::strerror(errno));
    return result;
  }
  // Read straight into one string when the size is known (a regular file).
  std::string text;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > 0 && in) {
    text.resize(static_cast<size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<size_t>(in.gcount()));
  } else {
    in.clear();
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (in.bad()) {
    result.file_unreadable = true;
    result.errors.push_back(path + ": cannot read zone file");
    return result;
  }
  if (detect_format(text) == ZoneFileFormat::Legacy) return parse_legacy(text, path);
  std::string dir = ".";
  if (auto slash = path.find_last_of('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  return parse_master(text, path, default_origin, dir);
}

}  // namespace zone
