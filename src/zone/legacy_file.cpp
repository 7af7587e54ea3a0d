// Reader for the legacy zone-file format: "name [TTL] TYPE value" per line,
// '#' comments, absolute names, MX and SOA values as JSON lists.
#include <string_view>
#include <vector>

#include "zone/zone_file.h"

namespace zone {
namespace {

constexpr uint32_t kLegacyDefaultTtl = 3600;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

/// Cuts a '#' comment: at the start of the line, or after white space when
/// outside quotes and JSON brackets (so "\# 4 ..." and "a#b" stay intact).
std::string_view strip_comment(std::string_view line) {
  bool quoted = false;
  int brackets = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
      continue;
    }
    if (c == '"') quoted = true;
    else if (c == '[') ++brackets;
    else if (c == ']' && brackets > 0) --brackets;
    else if (c == '#' && brackets == 0 && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

/// Takes the next white-space separated field off the front of `s`.
std::string_view next_field(std::string_view& s) {
  s = trim(s);
  size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  std::string_view f = s.substr(0, end);
  s.remove_prefix(end);
  s = trim(s);
  return f;
}

bool is_ttl_field(std::string_view f) { return !f.empty() && f[0] >= '0' && f[0] <= '9'; }

}  // namespace

ZoneFileResult parse_legacy(const std::string& text, const std::string& source) {
  ZoneFileResult result;
  const dns::Name root;

  // Join continuation lines first: a line that starts with white space is
  // stripped and appended, without a separator, to the line before it (so a
  // long TXT value can be wrapped). A continuation of a comment stays a comment.
  struct Logical {
    size_t line;
    std::string text;
  };
  std::vector<Logical> lines;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view raw(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    std::string_view body = trim(raw);
    if (body.empty()) continue;
    if (is_blank(raw.front()) && body.front() != '#' && !lines.empty()) {
      lines.back().text += body;
      continue;
    }
    lines.push_back({line_no, std::string(body)});
  }

  for (const Logical& l : lines) {
    auto fail = [&](const std::string& why) {
      result.errors.push_back(source + ":" + std::to_string(l.line) + ": " + why);
    };
    std::string_view rest = trim(strip_comment(l.text));
    if (rest.empty()) continue;

    std::string_view name_f = next_field(rest);
    std::string_view f = next_field(rest);
    std::optional<uint32_t> ttl;
    if (is_ttl_field(f)) {
      auto t = parse_ttl(f);
      if (!t) {
        fail(t.error().message);
        continue;
      }
      ttl = *t;
      f = next_field(rest);
    }
    if (f == "IN" || f == "in") f = next_field(rest);  // an optional class is tolerated
    if (f.empty()) {
      fail("expected 'name [TTL] TYPE value'");
      continue;
    }
    auto type = dns::type_from_text(f);
    if (!type) {
      fail("unknown record type '" + std::string(f) + "'");
      continue;
    }
    if (dns::is_meta_type(*type)) {
      fail("type " + std::string(f) + " cannot appear in a zone file");
      continue;
    }
    if (name_f == "@") {
      fail("'@' has no meaning here: every name in this format is absolute");
      continue;
    }
    // Every name is absolute, with or without the trailing dot.
    auto owner = dns::Name::from_text(name_f, &root);
    if (!owner) {
      fail("owner: " + owner.error().message);
      continue;
    }
    if (rest.empty()) {
      fail("missing " + dns::type_to_text(*type) + " value");
      continue;
    }
    auto rdata = parse_rdata_any(*type, rest, root);
    if (!rdata) {
      fail(rdata.error().message);
      continue;
    }
    result.records.push_back(dns::RR{std::move(owner).value(), *type, dns::rrclass::IN,
                                     ttl.value_or(kLegacyDefaultTtl), std::move(rdata).value()});
  }
  return result;
}

}  // namespace zone
