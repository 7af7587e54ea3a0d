// Fuzz target: any packet given to respond() over UDP and TCP, with and
// without TSIG keys, must yield silence or a well-formed response within the
// size limit (max_udp_payload included), never a crash.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/message.h"
#include "dns/tsig.h"
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

/// A key signed queries may use, so that inputs ending in a TSIG record
/// reach the verification and the signing of the answer.
const std::vector<dns::tsig::Key>& keys() {
  static const std::vector<dns::tsig::Key> k = {
      dns::tsig::make_key("key.", "hmac-sha256", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").value()};
  return k;
}

uint64_t fixed_clock() { return 1700000000; }

void check(const uint8_t* data, size_t size, bool tcp, bool with_keys) {
  static std::vector<uint8_t> out(65535);
  server::RespondOptions options;
  options.over_tcp = tcp;
  if (with_keys) {
    options.tsig_keys = &keys();
    options.now = fixed_clock;
  }
  const size_t n = server::respond(zones(), data, size, out.data(), out.size(), options);
  if (n == 0) return;
  if (n > out.size()) std::abort();
  // Whatever we send must parse.
  if (!dns::parse_message(out.data(), n).ok()) std::abort();
  if (!tcp) {
    // 512 without EDNS, else the client's size, never above max_udp_payload.
    bool header_ok = false;
    auto q = dns::parse_query(data, size, &header_ok);
    size_t limit = 512;
    if (q.ok() && q->edns) limit = q->edns->udp_size < 512 ? 512 : q->edns->udp_size;
    if (limit > options.max_udp_payload) limit = options.max_udp_payload;
    if (n > limit) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(data, size, false, false);
  check(data, size, true, false);
  check(data, size, false, true);
  return 0;
}
