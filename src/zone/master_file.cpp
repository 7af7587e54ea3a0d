// RFC 1035 §5 master file reader: entries split over parentheses, comments
// and quoted strings, directives ($ORIGIN, $TTL, $INCLUDE), and records.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "zone/zone_file.h"

namespace zone {
namespace {

constexpr int kMaxIncludeDepth = 8;
constexpr uint32_t kFallbackTtl = 3600;

struct Token {
  std::string text;  // for a quoted string: the text between the quotes, escapes kept
  bool quoted = false;
};

/// One logical entry: a physical line, or several joined by parentheses.
struct Entry {
  size_t line = 0;
  bool blank_owner = false;  // the line began with white space (RFC 1035 §5.1)
  std::vector<Token> tokens;
  std::string error;
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/// Calls `fn` with each entry in turn; one Entry is reused, so a large file
/// is never held as a second, tokenized copy.
template <class Fn>
void for_each_entry(const std::string& text, Fn&& fn) {
  Entry cur;
  size_t line = 1;
  int depth = 0;
  size_t paren_line = 0;
  bool at_line_start = true;
  auto finish = [&] {
    if (!cur.tokens.empty() || !cur.error.empty()) fn(static_cast<const Entry&>(cur));
    cur.line = 0;
    cur.blank_owner = false;
    cur.tokens.clear();  // keeps its capacity for the next entry
    cur.error.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (at_line_start && depth == 0) {
      cur.line = line;
      cur.blank_owner = is_blank(c);
    }
    at_line_start = false;
    if (c == '\n') {
      ++line;
      at_line_start = true;
      if (depth == 0) finish();
      ++i;
      continue;
    }
    if (is_blank(c)) {
      ++i;
      continue;
    }
    if (c == ';') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '(') {
      if (depth == 0) paren_line = line;
      ++depth;
      ++i;
      continue;
    }
    if (c == ')') {
      if (depth == 0) {
        if (cur.error.empty()) cur.error = "')' without a matching '('";
      } else {
        --depth;
      }
      ++i;
      continue;
    }
    if (c == '"') {
      size_t start = ++i;
      while (i < text.size() && text[i] != '"' && text[i] != '\n') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        ++i;
      }
      if (i >= text.size() || text[i] != '"') {
        if (cur.error.empty()) cur.error = "unterminated quoted string";
        continue;  // the newline (or end) is handled by the loop
      }
      cur.tokens.push_back({std::string(text, start, i - start), true});
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size()) {
      char d = text[i];
      if (d == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
        i += 2;
        continue;
      }
      if (is_blank(d) || d == '\n' || d == ';' || d == '(' || d == ')' || d == '"') break;
      ++i;
    }
    cur.tokens.push_back({std::string(text, start, i - start), false});
  }
  if (depth > 0 && cur.error.empty()) {
    cur.error = "'(' opened on line " + std::to_string(paren_line) + " is never closed";
    if (cur.line == 0) cur.line = paren_line;
  }
  finish();
}

/// Parser state that $INCLUDE hands to the included file.
struct State {
  dns::Name origin;
  std::optional<uint32_t> default_ttl;    // from $TTL
  std::optional<uint32_t> soa_minimum;    // RFC 2308 §4 fallback when there is no $TTL
  std::optional<dns::Name> last_owner;
};

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void parse_into(const std::string& text, const std::string& source, const std::string& base_dir, State& st,
                int depth, ZoneFileResult& result);

std::string rdata_text(const std::vector<Token>& toks, size_t from) {
  std::string s;
  for (size_t k = from; k < toks.size(); ++k) {
    if (!s.empty()) s.push_back(' ');
    if (toks[k].quoted) {
      s.push_back('"');
      s += toks[k].text;
      s.push_back('"');
    } else {
      s += toks[k].text;
    }
  }
  return s;
}

/// $ORIGIN, $TTL, $INCLUDE (RFC 1035 §5.1, RFC 2308 §4). Returns an error message or "".
std::string handle_directive(const Entry& e, const std::string& base_dir, State& st, int depth,
                             ZoneFileResult& result) {
  const std::string& d = e.tokens[0].text;
  auto upper = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  };
  std::string name = upper(d);
  if (name == "$ORIGIN") {
    if (e.tokens.size() != 2) return "$ORIGIN needs exactly one domain name";
    auto n = dns::Name::from_text(e.tokens[1].text, &st.origin);
    if (!n) return "$ORIGIN: " + n.error().message;
    st.origin = std::move(n).value();
    return "";
  }
  if (name == "$TTL") {
    if (e.tokens.size() != 2) return "$TTL needs exactly one value";
    auto t = parse_ttl(e.tokens[1].text);
    if (!t) return "$TTL: " + t.error().message;
    st.default_ttl = *t;
    return "";
  }
  if (name == "$INCLUDE") {
    if (e.tokens.size() < 2 || e.tokens.size() > 3) return "$INCLUDE needs a file name and an optional origin";
    if (depth + 1 > kMaxIncludeDepth) {
      return "$INCLUDE nested deeper than " + std::to_string(kMaxIncludeDepth) + " levels";
    }
    std::string path = e.tokens[1].text;
    if (path.empty()) return "$INCLUDE needs a file name";
    if (path.front() != '/') path = base_dir + "/" + path;
    // The included file gets its own copy of the state: an $ORIGIN inside it
    // does not leak back to the including file (RFC 1035 §5.1).
    State inner = st;
    if (e.tokens.size() == 3) {
      auto n = dns::Name::from_text(e.tokens[2].text, &st.origin);
      if (!n) return "$INCLUDE origin: " + n.error().message;
      inner.origin = std::move(n).value();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot read included file '" + path + "': " + std::strerror(errno);
    std::ostringstream ss;
    ss << in.rdbuf();
    parse_into(ss.str(), path, dirname_of(path), inner, depth + 1, result);
    // A SOA seen inside still provides the fallback TTL.
    if (!st.soa_minimum) st.soa_minimum = inner.soa_minimum;
    return "";
  }
  return "unknown directive '" + d + "'";
}

std::string handle_record(const Entry& e, State& st, ZoneFileResult& result) {
  const auto& toks = e.tokens;
  size_t k = 0;
  dns::Name owner;
  if (e.blank_owner) {
    if (!st.last_owner) return "line starts with white space but there is no previous owner name";
    owner = *st.last_owner;
  } else {
    if (toks[0].quoted) return "owner name must not be quoted";
    auto n = dns::Name::from_text(toks[0].text, &st.origin);
    if (!n) return "owner: " + n.error().message;
    owner = std::move(n).value();
    k = 1;
  }
  // TTL and class are both optional and may come in either order (RFC 1035 §5.1).
  std::optional<uint32_t> ttl;
  std::optional<uint16_t> rclass;
  for (int j = 0; j < 2 && k < toks.size() && !toks[k].quoted; ++j) {
    const std::string& t = toks[k].text;
    if (!ttl && !t.empty() && t[0] >= '0' && t[0] <= '9') {
      auto v = parse_ttl(t);
      if (!v) return v.error().message;
      ttl = *v;
      ++k;
      continue;
    }
    if (!rclass) {
      if (auto c = dns::class_from_text(t)) {
        rclass = *c;
        ++k;
        continue;
      }
    }
    break;
  }
  if (rclass && *rclass != dns::rrclass::IN) {
    return "class " + dns::class_to_text(*rclass) + " is not supported (only IN)";
  }
  if (k >= toks.size()) return "missing record type";
  auto type = dns::type_from_text(toks[k].text);
  if (!type || toks[k].quoted) return "unknown record type '" + toks[k].text + "'";
  if (dns::is_meta_type(*type)) return "type " + toks[k].text + " cannot appear in a zone file";
  ++k;
  if (k >= toks.size()) return "missing " + dns::type_to_text(*type) + " data";
  auto rdata = dns::rdata_from_text(*type, rdata_text(toks, k), st.origin);
  if (!rdata) return rdata.error().message;

  st.last_owner = owner;
  if (*type == dns::rrtype::SOA) {
    if (auto soa = dns::soa_decode(*rdata)) st.soa_minimum = soa->minimum;
  }
  uint32_t effective = kFallbackTtl;
  if (ttl) {
    effective = *ttl;
  } else if (st.default_ttl) {
    effective = *st.default_ttl;
  } else if (st.soa_minimum) {
    effective = *st.soa_minimum;
  }
  result.records.push_back(dns::RR{std::move(owner), *type, dns::rrclass::IN, effective, std::move(rdata).value()});
  return "";
}

void parse_into(const std::string& text, const std::string& source, const std::string& base_dir, State& st,
                int depth, ZoneFileResult& result) {
  for_each_entry(text, [&](const Entry& e) {
    std::string err = e.error;
    if (err.empty() && !e.tokens.empty()) {
      bool directive = !e.blank_owner && !e.tokens[0].quoted && !e.tokens[0].text.empty() &&
                       e.tokens[0].text[0] == '$';
      err = directive ? handle_directive(e, base_dir, st, depth, result) : handle_record(e, st, result);
    }
    if (!err.empty()) result.errors.push_back(source + ":" + std::to_string(e.line) + ": " + err);
  });
}

}  // namespace

ZoneFileResult parse_master(const std::string& text, const std::string& source, const dns::Name& origin,
                            const std::string& base_dir) {
  ZoneFileResult result;
  // About one record a line: reserving once spares moving them all as the vector grows.
  result.records.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  State st;
  st.origin = origin;
  parse_into(text, source, base_dir.empty() ? "." : base_dir, st, 0, result);
  return result;
}

}  // namespace zone
