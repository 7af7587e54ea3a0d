// Domain names in uncompressed wire form (RFC 1035 §3.1), compared without regard to case.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace dns {

inline constexpr size_t kMaxNameLength = 255;  // RFC 1035 §2.3.4, wire octets
inline constexpr size_t kMaxLabelLength = 63;

/// ASCII-only lower-casing, as DNS compares names (RFC 4343).
inline constexpr uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/// An absolute domain name. Keeps the case it was given (so answers can echo
/// the question's case) but compares, hashes and orders case-insensitively.
class Name {
 public:
  /// The root name ".".
  Name() : wire_(1, '\0') {}

  /// Parses presentation form (RFC 1035 §5.1): "\." and "\DDD" escapes, a
  /// trailing dot for an absolute name, "@" for the origin. A relative name
  /// is appended to `origin`; with no origin, a relative name is made absolute.
  static util::Result<Name> from_text(std::string_view text, const Name* origin = nullptr);

  /// Takes already-validated uncompressed wire bytes (length-prefixed labels,
  /// ending with the zero label). Checks lengths; returns an error if malformed.
  static util::Result<Name> from_wire(std::string_view wire);

  /// Uncompressed wire form, including the final zero octet.
  const std::string& wire() const { return wire_; }
  size_t wire_length() const { return wire_.size(); }

  /// Presentation form with a trailing dot; non-printable octets as \DDD.
  std::string to_text() const;

  bool is_root() const { return wire_.size() == 1; }
  /// Number of labels, not counting the root label.
  size_t label_count() const;
  /// The i-th label from the left (0 = leftmost), without its length octet.
  std::string_view label(size_t i) const;
  bool is_wildcard() const { return wire_.size() >= 2 && wire_[0] == 1 && wire_[1] == '*'; }

  /// The name with its leftmost label removed. The root's parent is the root.
  Name parent() const;
  /// The last `n` labels of this name (n <= label_count()).
  Name suffix(size_t n) const;
  /// "*." + parent-or-self as needed: returns `*.<this>`.
  Name wildcard_child() const;
  /// Prepends one label (must be <= 63 octets and fit in 255).
  util::Result<Name> prepend(std::string_view label) const;

  /// True if this name equals `ancestor` or lies below it.
  bool is_subdomain_of(const Name& ancestor) const;

  /// Same name with ASCII letters lower-cased.
  Name lowercased() const;

  /// Case-insensitive equality (RFC 4343).
  bool operator==(const Name& other) const;
  bool operator!=(const Name& other) const { return !(*this == other); }

  /// Canonical DNS order (RFC 4034 §6.1): by labels from the right, each
  /// compared as lower-cased octet strings. Returns <0, 0, >0.
  int canonical_compare(const Name& other) const;
  bool operator<(const Name& other) const { return canonical_compare(other) < 0; }

  /// Case-insensitive hash, consistent with operator==.
  size_t hash() const;

 private:
  explicit Name(std::string wire) : wire_(std::move(wire)) {}
  std::string wire_;
};

struct NameHash {
  size_t operator()(const Name& n) const { return n.hash(); }
};

}  // namespace dns
