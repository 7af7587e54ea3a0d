// Answers one query packet from a zone snapshot: parse, check the TSIG of a
// signed query, look up, write, sign.
#include "server/responder.h"

#include <time.h>

#include <algorithm>

#include "dns/message.h"
#include "server/online_signer.h"
#include "zone/lookup.h"

namespace server {

namespace {

constexpr size_t kOptSize = 11;  // root owner, type, class, TTL, rdlength (RFC 6891 §6.1.2)

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

/// The response flags every answer starts from: QR, the query's opcode, RD
/// echoed (RFC 1035 §4.1.1); RA never, we do not recurse.
uint16_t base_flags(uint16_t query_flags) {
  return static_cast<uint16_t>(dns::flag::QR | (query_flags & 0x7800) | (query_flags & dns::flag::RD));
}

/// The UDP payload the client can take: 512 without EDNS (RFC 1035 §4.2.1),
/// else its advertised size, never below 512 (RFC 6891 §6.2.5), and never
/// above our own cap: a client asking for 65535 octets must not turn a small
/// spoofed query into a large answer to its victim (RFC 6891 §6.2.5 lets
/// the responder choose a smaller size; BIND, Knot and NSD cap at 1232).
size_t udp_limit(const std::optional<dns::Edns>& edns, uint16_t max_payload) {
  if (!edns) return dns::kClassicUdpSize;
  return std::clamp<size_t>(edns->udp_size, dns::kClassicUdpSize,
                            std::max<size_t>(dns::kClassicUdpSize, max_payload));
}

uint64_t system_seconds() { return static_cast<uint64_t>(::time(nullptr)); }

const std::vector<dns::tsig::Key> kNoKeys;

/// A response holding only the header: for packets whose question could not
/// be read (RFC 1035 §4.1.1 FORMERR; the design's "FORMERR where a header can
/// be read").
size_t header_only(uint16_t id, uint16_t query_flags, uint16_t rcode, uint8_t* out) {
  dns::MessageWriter w(out, dns::kHeaderSize);
  dns::Header h;
  h.id = id;
  h.flags = static_cast<uint16_t>(base_flags(query_flags) | (rcode & 0xF));
  w.set_header(h);
  return w.finish();
}

/// Writes one response: header, question, sections from `result` (null for an
/// error without records), OPT advertising `advertised`, leaving `tsig_room`
/// octets free for the TSIG record of a signed answer. Returns 0 if a record
/// of the answer or authority section did not fit, so the caller can retry
/// truncated.
size_t write_response(const dns::QueryView& q, uint16_t rcode, bool aa, const zone::LookupResult* result,
                      uint8_t* out, size_t limit, bool truncated, size_t tsig_room, uint16_t advertised) {
  dns::MessageWriter w(out, limit);
  dns::Header h;
  h.id = q.header.id;
  h.flags = static_cast<uint16_t>(base_flags(q.header.flags) | (aa ? dns::flag::AA : 0) |
                                  (truncated ? dns::flag::TC : 0) | (rcode & 0xF));
  w.set_header(h);
  if (q.edns) w.reserve(kOptSize);
  if (tsig_room > 0) w.reserve(tsig_room);
  // The question is echoed as it came, case included (RFC 1035 §7.3 lets
  // resolvers match on it; RFC 4343 keeps case).
  if (!w.add_question(q.question.name, q.question.qtype, q.question.qclass)) return 0;

  if (result && !truncated) {
    const uint16_t qclass = dns::rrclass::IN;
    auto write_section = [&](dns::Section section, const auto& list) {
      for (const zone::RRsetRef& ref : list) {
        for (std::string_view rd : ref.rrset->rdatas) {
          if (!ref.writes(rd)) continue;  // an RRSIG of another type
          if (!w.add_rr(section, *ref.owner, ref.rrset->type, qclass, ref.ttl, rd)) return false;
        }
      }
      return true;
    };
    if (!write_section(dns::Section::Answer, result->answer)) return 0;
    if (!write_section(dns::Section::Authority, result->authority)) return 0;
    // Additional data is optional: an RRset that might not fit (sized
    // without compression, so it surely fits when written) is left out
    // whole, without TC (RFC 2181 §9).
    const size_t room = limit - (q.edns ? kOptSize : 0) - tsig_room;
    for (const zone::RRsetRef& ref : result->additional) {
      size_t need = 0;
      for (std::string_view rd : ref.rrset->rdatas) need += ref.owner->wire_length() + 10 + rd.size();
      if (w.size() + need > room) continue;
      for (std::string_view rd : ref.rrset->rdatas) {
        if (!w.add_rr(dns::Section::Additional, *ref.owner, ref.rrset->type, qclass, ref.ttl, rd)) break;
      }
    }
  }
  if (q.edns) {
    // RFC 6891 §6.1.3: the upper 8 bits of a 12-bit rcode go in the OPT TTL.
    // RFC 3225 §3: the DO bit of the query is copied into the response.
    w.add_opt(advertised, static_cast<uint8_t>(rcode >> 4), 0, static_cast<uint16_t>(q.edns->flags & dns::kEdnsDo));
  }
  return w.finish();
}

/// What to answer, before it is written.
struct Outcome {
  uint16_t rcode = dns::rcode::NOERROR;
  bool aa = false;
  const zone::LookupResult* result = nullptr;  // records to write, if any
};

/// RFC 1995 §2: IXFR over UDP is answered with the zone's SOA alone (the
/// client then asks over TCP). The SOA is public, so no transfer ACL applies.
[[gnu::noinline]] Outcome ixfr_over_udp(const zone::ZoneSet& zones, const dns::QueryView& q, zone::LookupResult* result) {
  const zone::Zone* z = zones.find_zone(q.question.name);
  if (!z || z->apex() != q.question.name || !z->soa()) return {dns::rcode::NOTAUTH};
  zone::lookup(zones, q.question.name, dns::rrtype::SOA, result);
  result->authority.clear();
  result->additional.clear();
  return {dns::rcode::NOERROR, true, result};
}

/// RFC 1034 §4.3.2 and the checks before it: the answer to a parsed query.
[[gnu::always_inline]] inline Outcome decide(const zone::ZoneSet& zones, const dns::QueryView& q, bool over_tcp,
                                             zone::LookupResult* result) {
  const uint8_t opcode = q.header.opcode();
  if (opcode == dns::opcode::UPDATE) {
    // Hook for RFC 2136 UPDATE: it will be handed to the update handler,
    // which proposes a change and answers with the committed outcome.
    return {dns::rcode::NOTIMP};
  }
  if (opcode != dns::opcode::QUERY) return {dns::rcode::NOTIMP};  // NOTIFY, STATUS, IQUERY
  if (q.edns && q.edns->version > 0) return {dns::rcode::BADVERS};  // RFC 6891 §6.1.3
  if (q.question.qclass != dns::rrclass::IN && q.question.qclass != dns::rrclass::ANY) return {dns::rcode::REFUSED};
  // Zone transfers go to the transfer handler over TCP (server/xfr.h).
  // AXFR over UDP is NOTIMP, as Knot and NSD answer; IXFR over UDP gets the
  // SOA alone. A transfer that reaches this point over TCP (no handler
  // configured) is REFUSED.
  if (q.question.qtype == dns::rrtype::AXFR && !over_tcp) return {dns::rcode::NOTIMP};
  if (q.question.qtype == dns::rrtype::IXFR && !over_tcp) return ixfr_over_udp(zones, q, result);
  if (q.question.qtype == dns::rrtype::AXFR || q.question.qtype == dns::rrtype::IXFR) return {dns::rcode::REFUSED};
  const bool dnssec_ok = q.edns && (q.edns->flags & dns::kEdnsDo) != 0;  // RFC 3225 §3
  zone::lookup(zones, q.question.name, q.question.qtype, result, dnssec_ok);
  if (result->status == zone::LookupStatus::NotAuthoritative) return {dns::rcode::REFUSED};
  // A zone whose keys the cluster holds is signed here, at query time.
  if (dnssec_ok && result->zone && online_signed(*result->zone)) {
    sign_online(*result->zone, q.question.name, system_seconds(), result);
  }
  return {result->rcode, result->authoritative, result};
}

/// Writes the answer, truncated (question and OPT only, TC) when a record of
/// the answer or authority section does not fit (RFC 2181 §9, RFC 1035
/// §4.2.1), with `tsig_room` octets left free.
[[gnu::always_inline]] inline size_t write_answer(const dns::QueryView& q, const Outcome& o, uint8_t* out, size_t limit,
                                                  size_t tsig_room, uint16_t advertised, ResponseInfo& inf) {
  inf.rcode = o.rcode;
  size_t n = write_response(q, o.rcode, o.aa, o.result, out, limit, false, tsig_room, advertised);
  if (n == 0) {
    inf.truncated = true;
    n = write_response(q, o.rcode, o.aa, o.result, out, limit, true, tsig_room, advertised);
  }
  return n;
}

/// A query whose last record is a TSIG (RFC 8945): verified before anything
/// else (§5.2), then answered like any query but signed, or NOTAUTH with the
/// TSIG error (§5.3.2, §5.2.3). Kept apart so the unsigned path carries none
/// of its state.
[[gnu::noinline]] size_t respond_signed(const zone::ZoneSet& zones, const dns::QueryView& q, const uint8_t* query,
                                        size_t query_len, uint8_t* out, size_t limit, uint16_t advertised,
                                        const RespondOptions& options, ResponseInfo& inf) {
  inf.signed_query = true;
  auto full = dns::parse_message(query, query_len);
  if (!full) return write_answer(q, {dns::rcode::FORMERR}, out, limit, 0, advertised, inf);
  const uint64_t now = options.now ? options.now() : system_seconds();
  dns::tsig::Verification v =
      dns::tsig::verify(query, query_len, full.value(), options.tsig_keys ? *options.tsig_keys : kNoKeys, now);
  inf.tsig_error = v.error;
  // A malformed TSIG cannot be answered with one: FORMERR, unsigned.
  if (v.error == dns::rcode::FORMERR) return write_answer(q, {dns::rcode::FORMERR}, out, limit, 0, advertised, inf);
  dns::tsig::ServerSigning signing(v, now);
  zone::LookupResult result;
  // BADKEY, BADSIG, BADTRUNC: NOTAUTH, unsigned; BADTIME: NOTAUTH, signed.
  const Outcome o = signing.failed() ? Outcome{dns::rcode::NOTAUTH} : decide(zones, q, options.over_tcp, &result);
  size_t n = write_answer(q, o, out, limit, signing.size(), advertised, inf);
  // A signed answer, truncated or not, carries its TSIG (RFC 8945 §5.3).
  if (n > 0) {
    if (size_t signed_len = signing.append(out, n, limit); signed_len > 0) return signed_len;
  }
  // Not even the question and the TSIG fit (a long key name in 512
  // octets): the truncated answer goes unsigned, and TC sends the client
  // to TCP, where it fits.
  inf.truncated = true;
  return write_response(q, o.rcode, o.aa, o.result, out, limit, true, 0, advertised);
}

}  // namespace

size_t respond(const zone::ZoneSet& zones, const uint8_t* query, size_t query_len, uint8_t* out, size_t out_cap,
               const RespondOptions& options, ResponseInfo* info) {
  ResponseInfo scratch;
  ResponseInfo& inf = info ? *info : scratch;
  inf = ResponseInfo{};
  // No readable header: nothing to answer to. A response: never answer it
  // (that is how reflection loops start).
  if (query == nullptr || query_len < dns::kHeaderSize || out_cap < dns::kHeaderSize) return 0;
  const uint16_t id = rd16(query);
  const uint16_t qflags = rd16(query + 2);
  if (qflags & dns::flag::QR) return 0;

  bool header_ok = false;
  auto parsed = dns::parse_query(query, query_len, &header_ok);
  if (!parsed) {
    // Covers QDCOUNT != 1, a truncated question, bad names, misplaced OPT.
    inf.rcode = dns::rcode::FORMERR;
    return header_only(id, qflags, dns::rcode::FORMERR, out);
  }
  const dns::QueryView& q = parsed.value();
  inf.qtype = q.question.qtype;
  const size_t cap = std::min<size_t>(out_cap, dns::kMaxUdpPayload);
  const size_t limit = options.over_tcp ? cap : std::min(cap, udp_limit(q.edns, options.max_udp_payload));
  const uint16_t advertised = std::max<uint16_t>(dns::kClassicUdpSize, options.max_udp_payload);
  // The signature is looked at only when parse_query saw a TSIG as the last
  // record: one flag test on the unsigned path.
  if (q.has_tsig) return respond_signed(zones, q, query, query_len, out, limit, advertised, options, inf);

  zone::LookupResult result;
  const Outcome o = decide(zones, q, options.over_tcp, &result);
  return write_answer(q, o, out, limit, 0, advertised, inf);
}

}  // namespace server
