// Parser for the `--unreliable` fault-injection spec of the peer transport.
#include <charconv>
#include <cmath>
#include <string>

#include "raft/transport.h"

namespace raft {
namespace {

util::Error spec_error(const std::string& why) { return util::make_error("unreliable: " + why); }

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_probability(std::string_view s, double& out) {
  if (s.empty()) return false;
  // std::from_chars for double is available in GCC 11+; digits, '.', 'e' only.
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

util::Result<uint32_t> parse_ms(std::string_view s, std::string_view whole) {
  uint64_t v = 0;
  if (!parse_u64(s, v) || v > 3'600'000) {
    return spec_error("delay must be milliseconds in 0..3600000, as 'A-Bms' or 'Ams'; got '" + std::string(whole) +
                      "'");
  }
  return static_cast<uint32_t>(v);
}

}  // namespace

util::Result<UnreliableOptions> parse_unreliable_spec(std::string_view spec) {
  UnreliableOptions out;
  if (spec.empty()) return spec_error("empty spec; expected e.g. 'drop=0.2,dup=0.05,delay=5-50ms'");
  bool seen_drop = false, seen_dup = false, seen_delay = false, seen_seed = false;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    std::size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) return spec_error("empty item in '" + std::string(spec) + "'");
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return spec_error("expected key=value, got '" + std::string(item) + "'");
    }
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    auto once = [&](bool& seen) {
      bool first = !seen;
      seen = true;
      return first;
    };
    if (key == "drop" || key == "dup") {
      if (!once(key == "drop" ? seen_drop : seen_dup)) return spec_error(std::string(key) + " given twice");
      double p = 0;
      if (!parse_probability(value, p) || p < 0.0 || p > 1.0) {
        return spec_error(std::string(key) + " must be in [0,1], got '" + std::string(value) + "'");
      }
      (key == "drop" ? out.drop : out.dup) = p;
    } else if (key == "delay") {
      if (!once(seen_delay)) return spec_error("delay given twice");
      std::string_view range = value;
      if (range.size() >= 2 && range.substr(range.size() - 2) == "ms") range.remove_suffix(2);
      std::size_t dash = range.find('-');
      auto lo = parse_ms(range.substr(0, dash), value);
      if (!lo) return lo.error();
      uint32_t hi_v = *lo;
      if (dash != std::string_view::npos) {
        auto hi = parse_ms(range.substr(dash + 1), value);
        if (!hi) return hi.error();
        hi_v = *hi;
      }
      if (hi_v < *lo) return spec_error("delay range '" + std::string(value) + "' has its maximum below its minimum");
      out.delay_min_ms = *lo;
      out.delay_max_ms = hi_v;
    } else if (key == "seed") {
      if (!once(seen_seed)) return spec_error("seed given twice");
      if (!parse_u64(value, out.seed)) {
        return spec_error("seed must be a non-negative integer, got '" + std::string(value) + "'");
      }
    } else {
      return spec_error("unknown key '" + std::string(key) + "'; expected drop, dup, delay or seed");
    }
    if (comma == spec.size()) break;
  }
  return out;
}

}  // namespace raft
