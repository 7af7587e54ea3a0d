// Domain names: presentation parsing and printing, wire validation, and the
// case-insensitive comparisons and hashing the lookup path relies on.
#include "dns/name.h"

#include <array>
#include <cstdio>

namespace dns {
namespace {

// Offsets of each label's length octet, left to right. A valid name has at
// most 127 labels (255 octets / 2), so a fixed array never overflows.
struct LabelOffsets {
  std::array<uint8_t, 128> at{};
  size_t count = 0;
};

LabelOffsets label_offsets(const std::string& wire) {
  LabelOffsets lo;
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    lo.at[lo.count++] = static_cast<uint8_t>(pos);
    pos += 1 + static_cast<uint8_t>(wire[pos]);
  }
  return lo;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

util::Result<Name> Name::from_text(std::string_view text, const Name* origin) {
  if (text.empty()) return util::make_error("empty domain name");
  if (text == "@") {
    if (origin == nullptr) return Name();
    return *origin;
  }
  if (text == ".") return Name();

  std::string wire;
  wire.reserve(text.size() + 2);
  std::string label;
  bool absolute = false;
  auto flush = [&]() -> util::Result<void> {
    if (label.empty()) {
      return util::make_error("empty label in domain name '" + std::string(text) + "'");
    }
    if (label.size() > kMaxLabelLength) {
      return util::make_error("label longer than 63 octets in '" + std::string(text) + "'");
    }
    wire.push_back(static_cast<char>(label.size()));
    wire += label;
    label.clear();
    return {};
  };

  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      // RFC 1035 §5.1: \X quotes X, \DDD is a decimal octet value.
      if (i + 1 >= text.size()) {
        return util::make_error("dangling backslash in domain name '" + std::string(text) + "'");
      }
      if (is_digit(text[i + 1])) {
        if (i + 3 >= text.size() || !is_digit(text[i + 2]) || !is_digit(text[i + 3])) {
          return util::make_error("bad \\DDD escape in '" + std::string(text) + "'");
        }
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return util::make_error("\\DDD escape over 255 in '" + std::string(text) + "'");
        label.push_back(static_cast<char>(v));
        i += 3;
      } else {
        label.push_back(text[i + 1]);
        i += 1;
      }
    } else if (c == '.') {
      auto r = flush();
      if (!r) return r.error();
      if (i + 1 == text.size()) absolute = true;
    } else {
      label.push_back(c);
    }
    if (label.size() > kMaxLabelLength) {
      return util::make_error("label longer than 63 octets in '" + std::string(text) + "'");
    }
  }
  if (!absolute) {
    auto r = flush();
    if (!r) return r.error();
    if (origin != nullptr) {
      wire += origin->wire();
    } else {
      wire.push_back('\0');
    }
  } else {
    wire.push_back('\0');
  }
  if (wire.size() > kMaxNameLength) {
    return util::make_error("domain name longer than 255 octets: '" + std::string(text) + "'");
  }
  return Name(std::move(wire));
}

util::Result<Name> Name::from_wire(std::string_view wire) {
  size_t pos = 0;
  while (true) {
    if (pos >= wire.size()) return util::make_error("domain name wire form is truncated");
    uint8_t len = static_cast<uint8_t>(wire[pos]);
    if (len == 0) break;
    if (len > kMaxLabelLength) return util::make_error("label length over 63 in wire name");
    pos += 1 + len;
  }
  if (pos + 1 != wire.size()) return util::make_error("trailing octets after wire name");
  if (wire.size() > kMaxNameLength) return util::make_error("wire name longer than 255 octets");
  return Name(std::string(wire));
}

std::string Name::to_text() const {
  if (is_root()) return ".";
  std::string out;
  out.reserve(wire_.size() + 8);
  size_t pos = 0;
  while (pos < wire_.size() && wire_[pos] != 0) {
    size_t len = static_cast<uint8_t>(wire_[pos]);
    for (size_t i = 1; i <= len; ++i) {
      auto c = static_cast<unsigned char>(wire_[pos + i]);
      // Escape what would otherwise change the meaning when read back.
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' ||
          c == '$') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
    pos += 1 + len;
  }
  return out;
}

size_t Name::label_count() const {
  size_t n = 0;
  size_t pos = 0;
  while (pos < wire_.size() && wire_[pos] != 0) {
    ++n;
    pos += 1 + static_cast<uint8_t>(wire_[pos]);
  }
  return n;
}

std::string_view Name::label(size_t i) const {
  size_t pos = 0;
  while (pos < wire_.size() && wire_[pos] != 0) {
    size_t len = static_cast<uint8_t>(wire_[pos]);
    if (i == 0) return std::string_view(wire_).substr(pos + 1, len);
    --i;
    pos += 1 + len;
  }
  return {};
}

Name Name::parent() const {
  if (is_root()) return Name();
  size_t len = static_cast<uint8_t>(wire_[0]);
  return Name(wire_.substr(1 + len));
}

Name Name::suffix(size_t n) const {
  size_t total = label_count();
  if (n >= total) return *this;
  size_t pos = 0;
  for (size_t skip = total - n; skip > 0; --skip) pos += 1 + static_cast<uint8_t>(wire_[pos]);
  return Name(wire_.substr(pos));
}

Name Name::wildcard_child() const {
  std::string w;
  w.reserve(wire_.size() + 2);
  w.push_back('\1');
  w.push_back('*');
  w += wire_;
  return Name(std::move(w));
}

util::Result<Name> Name::prepend(std::string_view label) const {
  if (label.empty()) return util::make_error("cannot prepend an empty label");
  if (label.size() > kMaxLabelLength) return util::make_error("label longer than 63 octets");
  if (wire_.size() + 1 + label.size() > kMaxNameLength) {
    return util::make_error("domain name would exceed 255 octets");
  }
  std::string w;
  w.reserve(wire_.size() + 1 + label.size());
  w.push_back(static_cast<char>(label.size()));
  w += label;
  w += wire_;
  return Name(std::move(w));
}

bool Name::is_subdomain_of(const Name& ancestor) const {
  size_t a = ancestor.wire_.size();
  if (a > wire_.size()) return false;
  // The ancestor's wire must be a suffix that starts on a label boundary.
  size_t start = wire_.size() - a;
  size_t pos = 0;
  while (pos < start) pos += 1 + static_cast<uint8_t>(wire_[pos]);
  if (pos != start) return false;
  for (size_t i = 0; i < a; ++i) {
    if (ascii_lower(static_cast<uint8_t>(wire_[start + i])) !=
        ascii_lower(static_cast<uint8_t>(ancestor.wire_[i]))) {
      return false;
    }
  }
  return true;
}

Name Name::lowercased() const {
  std::string w = wire_;
  for (auto& c : w) c = static_cast<char>(ascii_lower(static_cast<uint8_t>(c)));
  return Name(std::move(w));
}

bool Name::operator==(const Name& other) const {
  size_t n = wire_.size();
  if (n != other.wire_.size()) return false;
  const auto* a = reinterpret_cast<const uint8_t*>(wire_.data());
  const auto* b = reinterpret_cast<const uint8_t*>(other.wire_.data());
  // Length octets are below 64 and so unaffected by ascii_lower; comparing
  // the whole wire case-insensitively therefore compares label by label.
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

int Name::canonical_compare(const Name& other) const {
  // RFC 4034 §6.1: compare labels right to left, each as a lower-cased octet
  // string where a shorter label sorts first when it is a prefix of a longer one.
  LabelOffsets la = label_offsets(wire_);
  LabelOffsets lb = label_offsets(other.wire_);
  size_t ia = la.count, ib = lb.count;
  while (ia > 0 && ib > 0) {
    --ia;
    --ib;
    size_t pa = la.at[ia], pb = lb.at[ib];
    size_t na = static_cast<uint8_t>(wire_[pa]);
    size_t nb = static_cast<uint8_t>(other.wire_[pb]);
    size_t n = na < nb ? na : nb;
    for (size_t i = 1; i <= n; ++i) {
      uint8_t ca = ascii_lower(static_cast<uint8_t>(wire_[pa + i]));
      uint8_t cb = ascii_lower(static_cast<uint8_t>(other.wire_[pb + i]));
      if (ca != cb) return ca < cb ? -1 : 1;
    }
    if (na != nb) return na < nb ? -1 : 1;
  }
  if (ia == 0 && ib == 0) return 0;
  return ia == 0 ? -1 : 1;
}

size_t Name::hash() const {
  // FNV-1a over lower-cased octets: cheap, allocation-free, matches operator==.
  uint64_t h = 1469598103934665603ULL;
  for (char c : wire_) {
    h ^= ascii_lower(static_cast<uint8_t>(c));
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h);
}

}  // namespace dns
