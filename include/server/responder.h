// Answers one query packet from a zone snapshot: parse, look up, write.
#pragma once

#include <cstddef>
#include <cstdint>

#include "zone/zone_set.h"

namespace server {

/// Counters the responder fills in for metrics; owned by the caller.
struct ResponseInfo {
  uint16_t qtype = 0;
  uint16_t rcode = 0;
  bool truncated = false;
};

/// Builds the response to the query in `query[0..query_len)` into `out`
/// (capacity `out_cap`, at least 65535 for TCP). Returns the response length,
/// or 0 when the packet must be dropped silently (no readable header, or it is
/// itself a response). `over_tcp` lifts the UDP size limit.
size_t respond(const zone::ZoneSet& zones, const uint8_t* query, size_t query_len, uint8_t* out,
               size_t out_cap, bool over_tcp, ResponseInfo* info = nullptr);

}  // namespace server
