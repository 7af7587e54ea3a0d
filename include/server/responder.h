// Answers one query packet from a zone snapshot: parse, look up, write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dns/message.h"
#include "dns/tsig.h"
#include "zone/zone_set.h"

namespace server {

/// Counters the responder fills in for metrics; owned by the caller.
struct ResponseInfo {
  uint16_t qtype = 0;
  uint16_t rcode = 0;
  bool truncated = false;
  /// The query carried a TSIG record; `tsig_error` is the outcome of its
  /// check (0: verified, and the answer is signed).
  bool signed_query = false;
  uint16_t tsig_error = 0;
};

/// How to answer: transport, size limits and the TSIG keys.
struct RespondOptions {
  bool over_tcp = false;  // lifts the UDP size limit
  /// The largest UDP answer, whatever size the client advertises, and the
  /// size our OPT advertises (the config's "max_udp_payload"). An answer
  /// that does not fit is sent truncated, with TC (RFC 1035 §4.2.1).
  uint16_t max_udp_payload = dns::kAdvertisedUdpSize;
  /// The keys a signed query may use (RFC 8945); null or empty: every signed
  /// query gets NOTAUTH/BADKEY.
  const std::vector<dns::tsig::Key>* tsig_keys = nullptr;
  /// Seconds since the epoch, for the TSIG time check; null: the system
  /// clock. Read only for signed queries.
  uint64_t (*now)() = nullptr;
};

/// Builds the response to the query in `query[0..query_len)` into `out`
/// (capacity `out_cap`, at least 65535 for TCP). Returns the response length,
/// or 0 when the packet must be dropped silently (no readable header, or it is
/// itself a response). An unsigned query costs no more than before TSIG:
/// the signature is looked at only when the query's last record is a TSIG.
size_t respond(const zone::ZoneSet& zones, const uint8_t* query, size_t query_len, uint8_t* out,
               size_t out_cap, const RespondOptions& options, ResponseInfo* info = nullptr);

/// The same with default options over UDP or TCP (no TSIG keys).
inline size_t respond(const zone::ZoneSet& zones, const uint8_t* query, size_t query_len, uint8_t* out,
                      size_t out_cap, bool over_tcp, ResponseInfo* info = nullptr) {
  RespondOptions options;
  options.over_tcp = over_tcp;
  return respond(zones, query, query_len, out, out_cap, options, info);
}

}  // namespace server
