// RFC 2136 UPDATE front end: TSIG (RFC 8945 §5.2), zone section (§3.1),
// prerequisite and update section checks (§3.2, §3.4.1), key policy (§3.3),
// then a store::Change whose committed outcome is the response's rcode.
#include "server/update.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <ctime>
#include <iterator>

#include <spdlog/spdlog.h>

#include "dns/message.h"

namespace server {

namespace {

constexpr size_t kMaxResponse = 4096;

/// The result of checking the message before it goes to apply: either a
/// change to submit, or the rcode to answer at once.
struct Checked {
  uint16_t rcode = dns::rcode::NOERROR;
  std::string reason;
  store::Update update;
};

Checked fail(uint16_t rcode, std::string reason) { return Checked{rcode, std::move(reason), {}}; }

std::string describe(const dns::RR& rr) {
  return rr.owner.to_text() + " " + dns::class_to_text(rr.rclass) + " " + dns::type_to_text(rr.type);
}

/// RFC 2136 §3.2.1-§3.2.3 (prerequisite forms) and §3.4.1.2-§3.4.1.3
/// (update forms): everything that can be checked without the zone data.
Checked check_sections(const dns::Message& m, const zone::ZoneSet& zones) {
  // §3.1.1: exactly one zone, of type SOA.
  if (m.questions.size() != 1) return fail(dns::rcode::FORMERR, "the zone section must hold exactly one zone");
  const dns::Question& z = m.questions.front();
  if (z.qtype != dns::rrtype::SOA) return fail(dns::rcode::FORMERR, "the zone section's type must be SOA");
  if (z.qclass != dns::rrclass::IN) return fail(dns::rcode::NOTAUTH, "class " + dns::class_to_text(z.qclass) + " is not served");
  const zone::Zone* served = zones.find_zone(z.name);
  if (!served || served->apex() != z.name) return fail(dns::rcode::NOTAUTH, "zone " + z.name.to_text() + " is not served here");
  Checked out;
  out.update.zone = served->apex();
  // §3.2: prerequisites.
  for (const dns::RR& rr : m.answers) {
    if (rr.ttl != 0) return fail(dns::rcode::FORMERR, "prerequisite " + describe(rr) + " has a TTL other than 0");
    if (!rr.owner.is_subdomain_of(z.name)) return fail(dns::rcode::NOTZONE, "prerequisite " + describe(rr) + " is outside the zone");
    store::Prereq p;
    p.rr = rr;
    if (rr.rclass == dns::rrclass::ANY || rr.rclass == dns::rrclass::NONE) {
      if (!rr.rdata.empty()) return fail(dns::rcode::FORMERR, "prerequisite " + describe(rr) + " must have no rdata");
      const bool any_type = rr.type == dns::rrtype::ANY;
      if (!any_type && dns::is_meta_type(rr.type)) return fail(dns::rcode::FORMERR, "prerequisite " + describe(rr) + " names a meta type");
      if (rr.rclass == dns::rrclass::ANY) {
        p.kind = any_type ? store::PrereqKind::NameInUse : store::PrereqKind::RRsetExists;
      } else {
        p.kind = any_type ? store::PrereqKind::NameNotInUse : store::PrereqKind::RRsetAbsent;
      }
    } else if (rr.rclass == z.qclass) {
      if (dns::is_meta_type(rr.type)) return fail(dns::rcode::FORMERR, "prerequisite " + describe(rr) + " names a meta type");
      p.kind = store::PrereqKind::RRsetExistsValue;
    } else {
      return fail(dns::rcode::FORMERR, "prerequisite " + describe(rr) + " has a bad class");
    }
    p.rr.rclass = dns::rrclass::IN;
    out.update.prereqs.push_back(std::move(p));
  }
  // §3.4.1: updates.
  for (const dns::RR& rr : m.authorities) {
    if (!rr.owner.is_subdomain_of(z.name)) return fail(dns::rcode::NOTZONE, "update " + describe(rr) + " is outside the zone");
    store::UpdateOp op;
    op.rr = rr;
    if (rr.rclass == z.qclass) {
      if (dns::is_meta_type(rr.type)) return fail(dns::rcode::FORMERR, "update " + describe(rr) + " adds a meta type");
      op.kind = store::UpdateKind::Add;
    } else if (rr.rclass == dns::rrclass::ANY) {
      if (rr.ttl != 0 || !rr.rdata.empty()) return fail(dns::rcode::FORMERR, "update " + describe(rr) + " must have TTL 0 and no rdata");
      if (rr.type == dns::rrtype::ANY) {
        op.kind = store::UpdateKind::DeleteName;
      } else if (dns::is_meta_type(rr.type)) {
        return fail(dns::rcode::FORMERR, "update " + describe(rr) + " names a meta type");
      } else {
        op.kind = store::UpdateKind::DeleteRRset;
      }
    } else if (rr.rclass == dns::rrclass::NONE) {
      if (rr.ttl != 0) return fail(dns::rcode::FORMERR, "update " + describe(rr) + " must have TTL 0");
      if (dns::is_meta_type(rr.type)) return fail(dns::rcode::FORMERR, "update " + describe(rr) + " names a meta type");
      op.kind = store::UpdateKind::DeleteRR;
    } else {
      return fail(dns::rcode::FORMERR, "update " + describe(rr) + " has a bad class");
    }
    op.rr.rclass = dns::rrclass::IN;
    if (op.kind != store::UpdateKind::Add) op.rr.ttl = 0;
    out.update.updates.push_back(std::move(op));
  }
  return out;
}

/// RFC 2136 §3.3: may this key make these updates?
bool grant_allows(const UpdateGrant& g, const dns::Name& key_name, const store::UpdateOp& op) {
  const dns::Name& owner = op.rr.owner;
  switch (g.match) {
    case UpdateGrant::Match::Subdomain:
      if (!owner.is_subdomain_of(g.name)) return false;
      break;
    case UpdateGrant::Match::Name:
      if (owner != g.name) return false;
      break;
    case UpdateGrant::Match::Self:
      if (owner != key_name) return false;
      break;
  }
  if (g.types.empty()) return true;
  // Deleting every RRset at a name touches every type: only an unrestricted rule allows it.
  if (op.kind == store::UpdateKind::DeleteName) return false;
  return std::find(g.types.begin(), g.types.end(), op.rr.type) != g.types.end();
}

std::string check_policy(const UpdateKey& key, const store::Update& u) {
  if (!key.restricted) return "";
  for (const store::UpdateOp& op : u.updates) {
    bool allowed = false;
    for (const UpdateGrant& g : key.grants) {
      if (grant_allows(g, key.key.name, op)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) {
      return "key " + key.key.name.to_text() + " may not change " + op.rr.owner.to_text() + " " +
             (op.kind == store::UpdateKind::DeleteName ? std::string("(all types)") : dns::type_to_text(op.rr.type));
    }
  }
  return "";
}

std::string peer_text(const sockaddr* peer) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (!peer) return buf;
  if (peer->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr, buf, sizeof buf);
  } else if (peer->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string rcode_name(uint16_t rcode) {
  static const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                 "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
  return rcode < std::size(kNames) ? kNames[rcode] : "rcode " + std::to_string(rcode);
}

}  // namespace

/// Shared with the callbacks of changes in flight, so they stay valid
/// whatever happens to the handler.
struct UpdateHandler::State {
  const store::Store& store;
  SubmitFn submit;
  UpdateOptions options;
  std::vector<dns::tsig::Key> keys;  // options.keys[i].key, for tsig::verify
  std::function<uint64_t()> now;

  /// Concurrent updates each take a session of their own (store/session.h).
  store::SessionPool sessions;

  State(const store::Store& s, SubmitFn f, UpdateOptions o, std::function<uint64_t()> n)
      : store(s), submit(std::move(f)), options(std::move(o)), now(std::move(n)), sessions(s) {
    for (const UpdateKey& k : options.keys) keys.push_back(k.key);
    if (!now) now = [] { return static_cast<uint64_t>(::time(nullptr)); };
  }
};

namespace {

/// How the response is to be signed (RFC 8945 §5.3).
struct Signing {
  const dns::tsig::Key* key = nullptr;  // null: unsigned
  std::string request_mac;
};

/// RFC 2136 §3.8: the header (ID, opcode, rcode) and the zone section.
std::string build_response(uint16_t id, uint16_t query_flags, const dns::Question* zone, uint16_t rcode) {
  uint8_t buf[kMaxResponse];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = id;
  h.flags = static_cast<uint16_t>(dns::flag::QR | (query_flags & 0x7800) | (rcode & 0xF));
  w.set_header(h);
  if (zone) w.add_question(zone->name, zone->qtype, zone->qclass);
  size_t n = w.finish();
  return std::string(reinterpret_cast<const char*>(buf), n);
}

/// The rcode of an UPDATE whose change could not be submitted or whose
/// outcome is not known, the one place it is chosen: REFUSED when this node
/// refuses changes (RFC 2136 §3.3: "not permitted"), otherwise SERVFAIL
/// (§3.4: the server could not complete it; no quorum, outcome unknown,
/// storage, shutting down, an expired session). A client retries SERVFAIL.
uint16_t rcode_for(util::ErrorKind kind) {
  switch (kind) {
    case util::ErrorKind::Refused: return dns::rcode::REFUSED;
    case util::ErrorKind::Invalid:
    case util::ErrorKind::NotFound:
    case util::ErrorKind::Conflict:
    case util::ErrorKind::NoQuorum:
    case util::ErrorKind::OutcomeUnknown:
    case util::ErrorKind::StorageFailed:
    case util::ErrorKind::ShuttingDown:
    case util::ErrorKind::SessionExpired: return dns::rcode::SERVFAIL;
  }
  return dns::rcode::SERVFAIL;
}

std::string finish_response(std::string msg, const Signing& signing, uint64_t now, uint16_t fudge) {
  if (signing.key) dns::tsig::sign(msg, *signing.key, now, signing.request_mac, 0, {}, fudge);
  return msg;
}

}  // namespace

UpdateHandler::UpdateHandler(const store::Store& store, SubmitFn submit, UpdateOptions options,
                             std::function<uint64_t()> now)
    : state_(std::make_shared<State>(store, std::move(submit), std::move(options), std::move(now))) {}

UpdateHandler::~UpdateHandler() = default;

void UpdateHandler::handle(const uint8_t* packet, size_t len, const sockaddr* peer,
                           std::function<void(std::string)> reply) {
  State& s = *state_;
  if (!is_update(packet, len)) return reply({});
  const uint16_t id = static_cast<uint16_t>((packet[0] << 8) | packet[1]);
  const uint16_t flags = static_cast<uint16_t>((packet[2] << 8) | packet[3]);
  const std::string who = peer_text(peer);
  const uint64_t now = s.now();

  auto parsed = dns::parse_message(packet, len);
  if (!parsed) {
    spdlog::info("update from {}: FORMERR: {}", who, parsed.error().message);
    return reply(build_response(id, flags, nullptr, dns::rcode::FORMERR));
  }
  const dns::Message& m = parsed.value();
  const dns::Question* zone = m.questions.size() == 1 ? &m.questions.front() : nullptr;

  // RFC 8945 §5.2: the signature is checked before anything else.
  Signing signing;
  const UpdateKey* key = nullptr;
  if (m.tsig) {
    dns::tsig::Verification v = dns::tsig::verify(packet, len, m, s.keys, now);
    if (v.error == dns::rcode::FORMERR) {
      spdlog::info("update from {}: FORMERR: {}", who, v.reason);
      return reply(build_response(id, flags, zone, dns::rcode::FORMERR));
    }
    if (v.error != 0) {
      // NOTAUTH, with the unsigned BADKEY/BADSIG (§5.3.2) or the signed
      // BADTIME carrying our clock (§5.2.3).
      spdlog::info("update from {}: NOTAUTH: {}", who, v.reason);
      std::string msg = build_response(id, flags, zone, dns::rcode::NOTAUTH);
      dns::tsig::ServerSigning(v, now, s.options.fudge).append(msg);
      return reply(std::move(msg));
    }
    key = &s.options.keys[static_cast<size_t>(v.key - s.keys.data())];
    signing.key = v.key;
    signing.request_mac = v.rdata.mac;
  } else {
    bool allowed = false;
    for (const Network& n : s.options.allow_unsigned_from) allowed = allowed || n.contains(peer);
    if (!allowed) {
      spdlog::info("update from {}: REFUSED: not signed (configure a TSIG key, or update.allow_unsigned_from)", who);
      return reply(build_response(id, flags, zone, dns::rcode::REFUSED));
    }
  }
  const uint16_t fudge = s.options.fudge;
  auto answer = [&](uint16_t rcode) { return finish_response(build_response(id, flags, zone, rcode), signing, now, fudge); };

  Checked checked = check_sections(m, *s.store.snapshot());
  if (checked.rcode != dns::rcode::NOERROR) {
    spdlog::info("update from {}: {}: {}", who, rcode_name(checked.rcode), checked.reason);
    return reply(answer(checked.rcode));
  }
  if (key) {
    if (std::string denied = check_policy(*key, checked.update); !denied.empty()) {
      spdlog::info("update from {}: REFUSED: {}", who, denied);
      return reply(answer(dns::rcode::REFUSED));
    }
  }

  store::Change change;
  change.update = std::move(checked.update);
  const std::string zone_text = zone->name.to_text();
  std::string response_head = build_response(id, flags, zone, 0);
  s.sessions.submit(s.submit, std::move(change),
                    [state = state_, signing = std::move(signing), response_head, who, zone_text, fudge,
                     reply = std::move(reply)](util::Result<store::ApplyResult> result) {
    uint16_t rcode = dns::rcode::SERVFAIL;
    if (result) {
      rcode = result->rcode;
      if (rcode == dns::rcode::NOERROR) {
        spdlog::info("update from {} for {}: committed", who, zone_text);
      } else {
        spdlog::info("update from {} for {}: {}: {}", who, zone_text, rcode_name(rcode), result->first_error());
      }
    } else {
      rcode = rcode_for(result.error().kind);
      spdlog::warn("update from {} for {}: {}: {} [{}]", who, zone_text, rcode_name(rcode), result.error().message,
                   util::kind_name(result.error().kind));
    }
    std::string msg = response_head;
    msg[3] = static_cast<char>((msg[3] & 0xF0) | (rcode & 0xF));
    reply(finish_response(std::move(msg), signing, state->now(), fudge));
  });
}

}  // namespace server
