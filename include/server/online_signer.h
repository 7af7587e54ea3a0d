// Online signing: every node signs the answers of a zone whose signing keys
// the cluster holds (SIGNING_KEY records at its apex), at query time, with a
// signature cache, and proves non-existence by compact denial (RFC 9824).
#pragma once

#include <atomic>
#include <cstdint>

#include "zone/lookup.h"
#include "zone/zone_set.h"

namespace server {

/// Counters of the online signer, for /metrics.
struct SigningStats {
  std::atomic<uint64_t> signatures_made{0};
  std::atomic<uint64_t> cache_hits{0};
};
/// The process's counters.
SigningStats& signing_stats();

/// Whether `zone` is signed online: its apex holds the cluster's keys.
bool online_signed(const zone::Zone& zone);

/// Adds to a lookup result for a query with DO in an online-signed zone:
///  - for NXDOMAIN, NODATA and a referral without DS, an NSEC at the name
///    whose next name is "\000.<name>" and whose types are those of the name
///    (RFC 9824 §3: for a name that does not exist, only RRSIG, NSEC and
///    NXNAME, and the rcode becomes NOERROR);
///  - an RRSIG for every RRset of the answer and authority sections, except
///    a delegation's NS (RFC 4035 §2.2), made with the zone-signing key (the
///    key-signing key for DNSKEY, CDS and CDNSKEY). A wildcard answer is
///    signed as the name asked for, so it needs no wildcard proof.
/// Signatures are valid from the start of the week before the current one
/// to the end of the week after it (weeks counted from the epoch), so every
/// node and every restart serves signatures over the same window; they are
/// cached by owner, type, TTL, rdatas, key and window.
/// `now` is seconds since the epoch. Returns false if the keys could not be
/// used (the result is then unchanged and the answer goes out unsigned).
bool sign_online(const zone::Zone& zone, const dns::Name& qname, uint64_t now, zone::LookupResult* result);

/// The validity window sign_online uses at `now`: {inception, expiration}.
std::pair<uint32_t, uint32_t> signature_window(uint64_t now);

}  // namespace server
