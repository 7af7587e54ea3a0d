// Fuzz target: any packet given to respond() over UDP and TCP must yield
// silence or a well-formed response within the size limit, never a crash.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/message.h"
#include "server/responder.h"
#include "zone/zone_file.h"
#include "zone/zone_set.h"

namespace {

// A small zone touching every lookup rule: CNAME chains and loops,
// wildcards, empty non-terminals, a delegation with glue, a large RRset.
const char* kZone = R"($ORIGIN example.
$TTL 300
@ SOA ns1 admin 1 7200 3600 1209600 60
@ NS ns1
@ NS ns.other.test.
@ MX 10 mail
@ A 192.0.2.1
ns1 A 192.0.2.53
mail AAAA 2001:db8::25
_sip._tcp SRV 0 5 5060 ns1
www CNAME web
web A 192.0.2.80
loop1 CNAME loop2
loop2 CNAME loop1
out CNAME www.example.net.
*.wild A 192.0.2.99
*.wc CNAME www
a.b.c TXT "x"
*.c A 192.0.2.8
sub NS ns.sub
ns.sub A 192.0.2.200
tocut CNAME x.sub
big TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
big TXT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
big TXT "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
big TXT "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
big TXT "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
big TXT "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)";

const zone::ZoneSet& zones() {
  static const zone::ZoneSet z = [] {
    zone::ZoneSet s;
    auto origin = dns::Name::from_text("example.");
    zone::ZoneFileResult r = zone::parse_master(kZone, "fuzz-zone", origin.value(), "/nonexistent");
    if (!r.errors.empty()) std::abort();
    for (const dns::RR& rr : r.records) {
      if (!s.add(rr)) std::abort();
    }
    return s;
  }();
  return z;
}

void check(const uint8_t* data, size_t size, bool tcp) {
  static std::vector<uint8_t> out(65535);
  const size_t n = server::respond(zones(), data, size, out.data(), out.size(), tcp);
  if (n == 0) return;
  if (n > out.size()) std::abort();
  // Whatever we send must parse.
  if (!dns::parse_message(out.data(), n).ok()) std::abort();
  if (!tcp) {
    bool header_ok = false;
    auto q = dns::parse_query(data, size, &header_ok);
    size_t limit = 512;
    if (q.ok() && q->edns) limit = q->edns->udp_size < 512 ? 512 : q->edns->udp_size;
    if (n > limit) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(data, size, false);
  check(data, size, true);
  return 0;
}
