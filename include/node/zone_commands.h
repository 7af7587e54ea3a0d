// The zone commands of the control socket and stdin: ZONES, ZONE SHOW,
// ZONE EXPORT and ZONE IMPORT, read from (or planned against) one snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns/name.h"
#include "dns/rr.h"
#include "store/change.h"
#include "util/result.h"
#include "zone/zone_set.h"

namespace node {

/// Largest zone text ZONE IMPORT takes (the text, its records and the
/// change are all held in memory at once).
inline constexpr size_t kMaxZoneImportBytes = size_t{512} << 20;

/// Every record of the zone at `apex` (not those of zones nested in it), in
/// RFC 4034 §6.1 canonical order, the SOA first, unless `canonical_order` is
/// false (names in no particular order: faster, for comparisons). Empty if
/// no such zone.
std::vector<dns::RR> zone_records(const zone::ZoneSet& zones, const dns::Name& apex, bool canonical_order = true);

/// ZONES: [{"zone": apex, "serial": n, "records": n}, ...] in canonical order.
nlohmann::json zone_list(const zone::ZoneSet& zones);

/// ZONE SHOW: {"zone", "serial", "records", "soa": {...}, "rrsets": [{"name",
/// "ttl", "type", "data": [text...]}]}; an error if no zone has that apex.
util::Result<nlohmann::json> zone_show(const zone::ZoneSet& zones, const dns::Name& apex);

/// ZONE EXPORT: the zone as an RFC 1035 §5 master file ($ORIGIN, then one
/// record a line with absolute names, the SOA first), which ZONE IMPORT and
/// `dns-node -z` read back to the same records.
util::Result<std::string> zone_export(const zone::ZoneSet& zones, const dns::Name& apex);

/// What ZONE IMPORT is about to do: the zone the text describes and the
/// ops that turn the zone's current records into the text's.
struct ZoneImportPlan {
  dns::Name apex;
  size_t records_in_file = 0;
  size_t adds = 0;     // records new or with a new TTL
  size_t removes = 0;  // records no longer in the file
  bool new_zone = false;
  std::vector<store::Op> ops;  // the SOA first when it changes
  double parse_seconds = 0;    // reading the text
  double diff_seconds = 0;     // comparing it with the zone
};

/// Parses `text` (master format; `origin` for relative names when the text
/// has no $ORIGIN) and plans the difference against `zones`. The text must
/// hold exactly one SOA, whose owner is the zone, and no record outside it.
/// A line that does not parse fails the whole import: applying part of a
/// file would leave the zone in a state nobody wrote. The SOA is replaced,
/// never removed (the store keeps one SOA per zone).
util::Result<ZoneImportPlan> plan_zone_import(const zone::ZoneSet& zones, std::string_view text,
                                              const dns::Name& origin);

}  // namespace node
