// Answers one query packet from a zone snapshot: parse, check, look up, write.
#include "server/responder.h"

#include <algorithm>

#include "dns/message.h"
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
/// else its advertised size, never below 512 (RFC 6891 §6.2.5).
size_t udp_limit(const std::optional<dns::Edns>& edns) {
  if (!edns) return dns::kClassicUdpSize;
  return std::clamp<size_t>(edns->udp_size, dns::kClassicUdpSize, dns::kMaxUdpPayload);
}

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
/// error without records), OPT. Returns 0 if a record of the answer or
/// authority section did not fit, so the caller can retry truncated.
size_t write_response(const dns::QueryView& q, uint16_t rcode, bool aa, const zone::LookupResult* result,
                      uint8_t* out, size_t limit, bool truncated) {
  dns::MessageWriter w(out, limit);
  dns::Header h;
  h.id = q.header.id;
  h.flags = static_cast<uint16_t>(base_flags(q.header.flags) | (aa ? dns::flag::AA : 0) |
                                  (truncated ? dns::flag::TC : 0) | (rcode & 0xF));
  w.set_header(h);
  if (q.edns) w.reserve(kOptSize);
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
    const size_t room = limit - (q.edns ? kOptSize : 0);
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
    w.add_opt(dns::kAdvertisedUdpSize, static_cast<uint8_t>(rcode >> 4), 0,
              static_cast<uint16_t>(q.edns->flags & dns::kEdnsDo));
  }
  return w.finish();
}

}  // namespace

size_t respond(const zone::ZoneSet& zones, const uint8_t* query, size_t query_len, uint8_t* out, size_t out_cap,
               bool over_tcp, ResponseInfo* info) {
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
  const size_t limit = over_tcp ? cap : std::min(cap, udp_limit(q.edns));

  auto reply = [&](uint16_t rcode, bool aa, const zone::LookupResult* result) -> size_t {
    inf.rcode = rcode;
    size_t n = write_response(q, rcode, aa, result, out, limit, false);
    if (n == 0) {
      // RFC 2181 §9 / RFC 1035 §4.2.1: the answer or authority did not fit;
      // send the question alone with TC so the client retries over TCP.
      inf.truncated = true;
      n = write_response(q, rcode, aa, result, out, limit, true);
    }
    return n;
  };

  const uint8_t opcode = q.header.opcode();
  if (opcode == dns::opcode::UPDATE) {
    // Hook for RFC 2136 UPDATE: it will be handed to the update handler,
    // which proposes a change and answers with the committed outcome.
    return reply(dns::rcode::NOTIMP, false, nullptr);
  }
  if (opcode != dns::opcode::QUERY) return reply(dns::rcode::NOTIMP, false, nullptr);  // NOTIFY, STATUS, IQUERY
  if (q.edns && q.edns->version > 0) return reply(dns::rcode::BADVERS, false, nullptr);  // RFC 6891 §6.1.3
  if (q.question.qclass != dns::rrclass::IN && q.question.qclass != dns::rrclass::ANY) {
    return reply(dns::rcode::REFUSED, false, nullptr);
  }
  // Zone transfers are not served yet. AXFR over UDP is NOTIMP, as Knot and
  // NSD answer; AXFR and IXFR over TCP, and IXFR over UDP, are REFUSED (as
  // NSD refuses IXFR), which tells a secondary to stop asking.
  if (q.question.qtype == dns::rrtype::AXFR && !over_tcp) return reply(dns::rcode::NOTIMP, false, nullptr);
  if (q.question.qtype == dns::rrtype::AXFR || q.question.qtype == dns::rrtype::IXFR) {
    return reply(dns::rcode::REFUSED, false, nullptr);
  }
  // A TSIG-signed query is answered unsigned for now: no keys are configured.

  zone::LookupResult result;
  const bool dnssec_ok = q.edns && (q.edns->flags & dns::kEdnsDo) != 0;  // RFC 3225 §3
  zone::lookup(zones, q.question.name, q.question.qtype, &result, dnssec_ok);
  if (result.status == zone::LookupStatus::NotAuthoritative) return reply(dns::rcode::REFUSED, false, nullptr);
  return reply(result.rcode, result.authoritative, &result);
}

}  // namespace server
