// Helpers for zone tests: build records from presentation text and render
// lookup results as lines, so tests can assert whole sections exactly.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "zone/lookup.h"
#include "zone/zone_set.h"

namespace zone_test {

inline dns::Name name(const std::string& text) {
  auto n = dns::Name::from_text(text);
  EXPECT_TRUE(n.ok()) << text;
  return n.ok() ? n.value() : dns::Name();
}

/// "owner TTL TYPE rdata..." with absolute names, e.g. "www.example. 300 A 192.0.2.1".
inline dns::RR rr(const std::string& line) {
  const size_t a = line.find(' ');
  const size_t b = line.find(' ', a + 1);
  const size_t c = line.find(' ', b + 1);
  dns::RR r;
  r.owner = name(line.substr(0, a));
  r.ttl = static_cast<uint32_t>(std::stoul(line.substr(a + 1, b - a - 1)));
  const std::string type = line.substr(b + 1, c == std::string::npos ? std::string::npos : c - b - 1);
  auto t = dns::type_from_text(type);
  EXPECT_TRUE(t.has_value()) << type;
  r.type = t.value_or(0);
  const std::string rdata = c == std::string::npos ? "" : line.substr(c + 1);
  auto rd = dns::rdata_from_text(r.type, rdata, dns::Name());
  EXPECT_TRUE(rd.ok()) << line << ": " << (rd.ok() ? "" : rd.error().message);
  if (rd.ok()) r.rdata = rd.value();
  return r;
}

/// Adds every line, failing the test if one is refused.
inline zone::ZoneSet zones(const std::vector<std::string>& lines) {
  zone::ZoneSet z;
  for (const std::string& l : lines) {
    auto res = z.add(rr(l));
    EXPECT_TRUE(res.ok()) << l << ": " << (res.ok() ? "" : res.error().message);
  }
  return z;
}

/// One line per record: "owner TTL TYPE rdata", owners as written.
template <size_t N>
std::vector<std::string> lines(const zone::RRsetList<N>& list) {
  std::vector<std::string> out;
  for (const zone::RRsetRef& ref : list) {
    for (std::string_view rd : ref.rrset->rdatas) {
      out.push_back(ref.owner->to_text() + " " + std::to_string(ref.ttl) + " " + dns::type_to_text(ref.rrset->type) +
                    " " + dns::rdata_to_text(ref.rrset->type, rd));
    }
  }
  return out;
}

}  // namespace zone_test
