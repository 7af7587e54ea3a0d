// Fuzz target: legacy zone-file text must parse into records or line errors,
// and every record accepted must load into a ZoneSet, never crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "zone/zone_file.h"
#include "zone/zone_set.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const zone::ZoneFileResult r = zone::parse_legacy(text, "fuzz");
  zone::ZoneSet zones;
  for (const dns::RR& rr : r.records) {
    if (rr.type == dns::rrtype::SOA) (void)zones.add(rr);
  }
  for (const dns::RR& rr : r.records) {
    (void)zones.add(rr);
    (void)dns::rdata_to_text(rr.type, rr.rdata);
  }
  size_t n = 0;
  zones.for_each_record([&](const dns::RR&) { ++n; });
  if (n != zones.record_count()) std::abort();
  return 0;
}
