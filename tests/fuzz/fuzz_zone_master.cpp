// Fuzz target: RFC 1035 master-file text must parse into records or line
// errors, and every record accepted must load into a ZoneSet and round-trip
// through its presentation form, never crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "zone/zone_file.h"
#include "zone/zone_set.h"

namespace {
void load_and_round_trip(const zone::ZoneFileResult& r) {
  zone::ZoneSet zones;
  for (const dns::RR& rr : r.records) {
    if (rr.type == dns::rrtype::SOA) (void)zones.add(rr);
  }
  for (const dns::RR& rr : r.records) {
    (void)zones.add(rr);
    const std::string text = dns::rdata_to_text(rr.type, rr.rdata);
    auto back = dns::rdata_from_text(rr.type, text, dns::Name());
    if (!back.ok() || back.value() != rr.rdata) std::abort();
  }
  size_t n = 0;
  zones.for_each_record([&](const dns::RR&) { ++n; });
  if (n != zones.record_count()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // $INCLUDE reads files; a fuzzer must not wander the file system.
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(dns::ascii_lower(static_cast<uint8_t>(c))));
  if (lower.find("$include") != std::string::npos) return 0;
  auto origin = dns::Name::from_text("example.");
  load_and_round_trip(zone::parse_master(text, "fuzz", origin.value(), "/nonexistent"));
  return 0;
}
