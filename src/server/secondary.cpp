// The secondary's timers, its SOA query and transfer exchange, and the change
// a received transfer makes: no sockets, no clock (server/secondary.h).
#include "server/secondary.h"

#include <algorithm>
#include <unordered_map>

namespace server {

namespace {

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

/// A request: header with `id`, one question, and `held` in the authority
/// section when given (IXFR, RFC 1995 §3); signed with `key` when given.
/// Returns the message and puts its MAC in `mac`.
std::string build_request(const dns::Name& zone, uint16_t qtype, const std::optional<dns::RR>& held,
                          const dns::tsig::Key* key, uint16_t id, uint64_t now, std::string* mac) {
  uint8_t buf[1024];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = id;
  w.set_header(h);
  w.add_question(zone, qtype, dns::rrclass::IN);
  if (held) w.add_rr(dns::Section::Authority, held->owner, held->type, dns::rrclass::IN, held->ttl, held->rdata);
  std::string msg(reinterpret_cast<const char*>(buf), w.finish());
  if (key) *mac = dns::tsig::sign(msg, *key, now);
  return msg;
}

std::string describe(const dns::RR& rr) {
  return rr.owner.to_text() + " " + dns::type_to_text(rr.type) + " " + dns::rdata_to_text(rr.type, rr.rdata);
}

TransferError error(TransferError::Kind kind, std::string message, uint16_t rcode = 0) {
  return TransferError{kind, rcode, std::move(message)};
}

/// The header checks every answer gets: a response (QR), the opcode of a
/// query, and NOERROR (else Kind::Rcode).
std::optional<TransferError> check_header(const dns::Message& m) {
  if (!(m.header.flags & dns::flag::QR) || m.header.opcode() != dns::opcode::QUERY) {
    return error(TransferError::Kind::Malformed, "the answer is not a response to a query");
  }
  if (m.rcode() != dns::rcode::NOERROR) {
    return error(TransferError::Kind::Rcode, "the primary answered " + std::to_string(m.rcode()), m.rcode());
  }
  return std::nullopt;
}

/// Where a record of a transfer of `apex` belongs: in the zone, or skipped
/// because it lies outside it or in a zone nested in it that the cluster
/// serves on its own (except DS at that zone's apex, which is the parent's,
/// RFC 4035 §2.4).
bool belongs(const zone::ZoneSet& zones, const dns::Name& apex, const dns::RR& rr) {
  if (!rr.owner.is_subdomain_of(apex)) return false;
  const zone::Zone* z = zones.find_zone(rr.owner);
  if (!z || z->apex() == apex || !z->apex().is_subdomain_of(apex)) return true;
  return rr.type == 43 && z->apex() == rr.owner;  // DS
}

/// The key of an RRset: the owner's lower-cased wire form and the type.
std::string rrset_key(const dns::Name& owner, uint16_t type) {
  std::string k = owner.lowercased().wire();
  k.push_back(static_cast<char>(type >> 8));
  k.push_back(static_cast<char>(type & 0xFF));
  return k;
}

bool holds(const zone::RRset& set, std::string_view rdata) {
  // RdataList is sorted by octets (zone/node.h).
  for (std::string_view rd : set.rdatas) {
    if (rd == rdata) return true;
    if (rd > rdata) return false;
  }
  return false;
}

/// The records of the zone held at (owner, type), or null.
const zone::RRset* held_rrset(const zone::Zone* z, const dns::Name& owner, uint16_t type) {
  if (!z) return nullptr;
  const zone::Node* n = z->find(owner);
  return n ? n->find(type) : nullptr;
}

/// A whole zone received: the difference from the records held, RRset by RRset.
void plan_full(const zone::ZoneSet& zones, const dns::Name& apex, const zone::Zone* held, const TransferReader& reader,
               TransferPlan& plan) {
  struct Target {
    dns::Name owner;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<std::string> rdatas;
    bool seen = false;
  };
  std::unordered_map<std::string, size_t> index;
  std::vector<Target> targets;
  for (const dns::RR& rr : reader.records()) {
    if (rr.type == dns::rrtype::SOA) continue;
    if (!belongs(zones, apex, rr)) {
      ++plan.skipped;
      continue;
    }
    auto [it, fresh] = index.try_emplace(rrset_key(rr.owner, rr.type), targets.size());
    if (fresh) targets.push_back(Target{rr.owner, rr.type, rr.ttl, {}, false});
    Target& t = targets[it->second];
    t.ttl = rr.ttl;  // RFC 2181 §5.2: one TTL per RRset, the last wins as in the store
    t.rdatas.push_back(rr.rdata);
  }
  for (Target& t : targets) {
    std::sort(t.rdatas.begin(), t.rdatas.end());
    t.rdatas.erase(std::unique(t.rdatas.begin(), t.rdatas.end()), t.rdatas.end());
  }
  std::vector<store::Op> removals, additions;
  if (held) {
    held->nodes().for_each([&](const zone::Node& n) {
      if (n.rrsets.empty()) return;
      const dns::Name owner = n.owner();
      for (const zone::RRset& s : n.rrsets) {
        if (s.type == dns::rrtype::SOA) continue;
        auto it = index.find(rrset_key(owner, s.type));
        if (it == index.end()) {
          plan.removed += s.rdatas.size();
          removals.push_back({store::OpKind::RemoveRRset, dns::RR{owner, s.type, dns::rrclass::IN, s.ttl, {}}});
          continue;
        }
        Target& t = targets[it->second];
        t.seen = true;
        for (std::string_view rd : s.rdatas) {
          if (std::binary_search(t.rdatas.begin(), t.rdatas.end(), rd)) continue;
          ++plan.removed;
          removals.push_back({store::OpKind::Remove, dns::RR{owner, s.type, dns::rrclass::IN, s.ttl, std::string(rd)}});
        }
        const bool ttl_changed = s.ttl != t.ttl;
        for (const std::string& rd : t.rdatas) {
          if (!ttl_changed && holds(s, rd)) continue;
          if (!holds(s, rd)) ++plan.added;
          additions.push_back({store::OpKind::Add, dns::RR{t.owner, t.type, dns::rrclass::IN, t.ttl, rd}});
        }
      }
    });
  }
  for (const Target& t : targets) {
    if (t.seen) continue;
    for (const std::string& rd : t.rdatas) {
      ++plan.added;
      additions.push_back({store::OpKind::Add, dns::RR{t.owner, t.type, dns::rrclass::IN, t.ttl, rd}});
    }
  }
  for (store::Op& op : removals) plan.change.ops.push_back(std::move(op));
  for (store::Op& op : additions) plan.change.ops.push_back(std::move(op));
}

/// Diffs received (RFC 1995 §4): their net effect on the records held,
/// each step checked against the state it applies to.
std::optional<TransferError> plan_incremental(const zone::ZoneSet& zones, const dns::Name& apex,
                                              const zone::Zone& held, const TransferReader& reader,
                                              TransferPlan& plan) {
  struct Entry {
    dns::RR rr;            // owner, type, rdata (and the TTL of the last step)
    bool initially = false;
    uint32_t initial_ttl = 0;
    bool now = false;
  };
  std::unordered_map<std::string, size_t> index;
  std::vector<Entry> entries;
  auto entry = [&](const dns::RR& rr) -> Entry& {
    std::string key = rrset_key(rr.owner, rr.type);
    key += rr.rdata;
    auto [it, fresh] = index.try_emplace(std::move(key), entries.size());
    if (fresh) {
      Entry e;
      e.rr = rr;
      if (const zone::RRset* s = held_rrset(&held, rr.owner, rr.type); s && holds(*s, rr.rdata)) {
        e.initially = e.now = true;
        e.initial_ttl = e.rr.ttl = s->ttl;
      }
      entries.push_back(std::move(e));
    }
    return entries[it->second];
  };
  for (const store::Diff& d : reader.diffs()) {
    for (const dns::RR& rr : d.removed) {
      if (!belongs(zones, apex, rr)) {
        ++plan.skipped;
        continue;
      }
      Entry& e = entry(rr);
      if (!e.now) {
        return error(TransferError::Kind::Diverged, "the diff to serial " + std::to_string(d.to_serial()) +
                                                        " removes " + describe(rr) + ", which the zone does not hold");
      }
      e.now = false;
    }
    for (const dns::RR& rr : d.added) {
      if (!belongs(zones, apex, rr)) {
        ++plan.skipped;
        continue;
      }
      Entry& e = entry(rr);
      if (e.now) {
        return error(TransferError::Kind::Diverged, "the diff to serial " + std::to_string(d.to_serial()) + " adds " +
                                                        describe(rr) + ", which the zone already holds");
      }
      e.now = true;
      e.rr.ttl = rr.ttl;
      e.rr.owner = rr.owner;
    }
  }
  std::vector<store::Op> additions;
  for (Entry& e : entries) {
    if (e.initially && !e.now) {
      ++plan.removed;
      dns::RR rr = e.rr;
      rr.ttl = e.initial_ttl;
      plan.change.ops.push_back({store::OpKind::Remove, std::move(rr)});
    } else if (e.now && (!e.initially || e.rr.ttl != e.initial_ttl)) {
      if (!e.initially) ++plan.added;
      additions.push_back({store::OpKind::Add, e.rr});
    }
  }
  for (store::Op& op : additions) plan.change.ops.push_back(std::move(op));
  return std::nullopt;
}

}  // namespace

// --- RefreshTimer ---

void RefreshTimer::schedule(uint64_t now_ms, uint32_t seconds) {
  next_ms_ = now_ms + uint64_t{std::max(seconds, kMinIntervalSeconds)} * 1000;
}

void RefreshTimer::lead(uint64_t now_ms) {
  if (leading_) return;
  leading_ = true;
  checking_ = false;
  recheck_ = false;
  last_ok_ = false;
  last_success_ms_ = now_ms;
  next_ms_ = now_ms;
}

void RefreshTimer::stand_by() {
  leading_ = false;
  checking_ = false;
  recheck_ = false;
  next_ms_ = UINT64_MAX;
}

void RefreshTimer::notified(uint64_t now_ms) {
  if (!leading_) return;
  if (checking_) {
    recheck_ = true;
  } else {
    next_ms_ = std::min(next_ms_, now_ms);
  }
}

bool RefreshTimer::begin(uint64_t now_ms) {
  if (!leading_ || checking_ || now_ms < next_ms_) return false;
  checking_ = true;
  recheck_ = false;
  next_ms_ = UINT64_MAX;
  return true;
}

void RefreshTimer::succeeded(uint64_t now_ms, const SoaTimers& timers) {
  if (!leading_) return;
  checking_ = false;
  last_ok_ = true;
  last_success_ms_ = now_ms;
  expire_s_ = timers.expire;
  schedule(now_ms, timers.refresh);
  if (recheck_) next_ms_ = now_ms;
  recheck_ = false;
}

void RefreshTimer::failed(uint64_t now_ms, const std::optional<SoaTimers>& timers) {
  if (!leading_) return;
  checking_ = false;
  last_ok_ = false;
  expire_s_ = timers ? timers->expire : 0;
  schedule(now_ms, timers ? timers->retry : kRetryWithoutZoneSeconds);
  // A NOTIFY during a failed check does not hurry the retry: the primary
  // just failed us, and a NOTIFY storm must not become a query storm.
  recheck_ = false;
}

void RefreshTimer::again(uint64_t now_ms) {
  if (!leading_) return;
  checking_ = false;
  recheck_ = false;
  next_ms_ = now_ms;
}

RefreshTimer::State RefreshTimer::state(uint64_t now_ms) const {
  if (!leading_) return State::Standby;
  if (expire_s_ > 0 && now_ms >= last_success_ms_ + uint64_t{expire_s_} * 1000) return State::Expired;
  if (checking_) return State::Checking;
  return last_ok_ ? State::Current : State::Retrying;
}

uint64_t RefreshTimer::next_check_ms() const { return leading_ && !checking_ ? next_ms_ : UINT64_MAX; }

const char* state_name(RefreshTimer::State state) {
  switch (state) {
    case RefreshTimer::State::Standby: return "standby";
    case RefreshTimer::State::Checking: return "checking";
    case RefreshTimer::State::Current: return "current";
    case RefreshTimer::State::Retrying: return "retrying";
    case RefreshTimer::State::Expired: return "expired";
  }
  return "?";
}

// --- SoaQuery ---

SoaQuery::SoaQuery(const dns::Name& zone, const dns::tsig::Key* key, uint16_t id, uint64_t now)
    : zone_(zone), key_(key), id_(id) {
  request_ = build_request(zone, dns::rrtype::SOA, std::nullopt, key, id, now, &request_mac_);
}

bool SoaQuery::matches(const uint8_t* msg, size_t len) const {
  return len >= dns::kHeaderSize && rd16(msg) == id_ && (msg[2] & 0x80);
}

std::optional<TransferError> SoaQuery::read(const uint8_t* msg, size_t len, uint64_t now) {
  auto parsed = dns::parse_message(msg, len);
  if (!parsed) return error(TransferError::Kind::Malformed, "unreadable SOA answer: " + parsed.error().message);
  const dns::Message& m = parsed.value();
  if (key_) {
    // RFC 8945 §5.3: the answer to a signed request must be signed.
    if (!m.tsig) return error(TransferError::Kind::Tsig, "the SOA answer is not signed");
    dns::tsig::Verification v = dns::tsig::verify(msg, len, m, {*key_}, now, request_mac_);
    if (v.error != 0 || v.rdata.error != 0) {
      return error(TransferError::Kind::Tsig, "the SOA answer does not verify: " + v.reason);
    }
  }
  if (auto bad = check_header(m)) return bad;
  if (m.header.flags & dns::flag::TC) {
    truncated_ = true;
    return error(TransferError::Kind::Malformed, "the SOA answer is truncated");
  }
  if (m.questions.size() != 1 || m.questions.front().name != zone_ || m.questions.front().qtype != dns::rrtype::SOA) {
    return error(TransferError::Kind::Malformed, "the SOA answer is for another question");
  }
  // RFC 1034 §4.3.5: an authoritative answer carrying the zone's SOA.
  if (!(m.header.flags & dns::flag::AA)) {
    return error(TransferError::Kind::Malformed, "the primary's SOA answer is not authoritative (is the zone loaded there?)");
  }
  for (const dns::RR& rr : m.answers) {
    if (rr.type == dns::rrtype::SOA && rr.owner == zone_ && dns::soa_decode(rr.rdata)) {
      soa_ = rr;
      return std::nullopt;
    }
  }
  return error(TransferError::Kind::Malformed, "the SOA answer holds no SOA of " + zone_.to_text());
}

// --- TransferExchange ---

TransferExchange::TransferExchange(const dns::Name& zone, const std::optional<dns::RR>& held,
                                   const dns::tsig::Key* key, uint16_t id, uint64_t now)
    : zone_(zone), ixfr_(held.has_value()), key_(key), id_(id),
      reader_(held ? std::optional<uint32_t>(dns::soa_decode(held->rdata).value().serial) : std::nullopt) {
  std::string mac;
  request_ = build_request(zone, ixfr_ ? dns::rrtype::IXFR : dns::rrtype::AXFR, held, key, id, now, &mac);
  if (key) verifier_ = std::make_unique<dns::tsig::StreamVerifier>(*key, mac);
}

std::optional<TransferError> TransferExchange::add(const uint8_t* msg, size_t len, uint64_t now) {
  const char* kind = ixfr_ ? "IXFR" : "AXFR";
  if (len < dns::kHeaderSize || rd16(msg) != id_) {
    return error(TransferError::Kind::Malformed, std::string(kind) + " answer with another message ID");
  }
  auto parsed = dns::parse_message(msg, len);
  if (!parsed) {
    return error(TransferError::Kind::Malformed,
                 std::string(kind) + " message " + std::to_string(messages_ + 1) + ": " + parsed.error().message);
  }
  const dns::Message& m = parsed.value();
  ++messages_;
  if (verifier_) {
    // RFC 8945 §5.3.1: the first message and at least every 100th signed,
    // each covering those before it.
    dns::tsig::Verification v = verifier_->add(msg, len, m, now);
    if (v.error != 0) {
      return error(TransferError::Kind::Tsig,
                   std::string(kind) + " message " + std::to_string(messages_) + " does not verify: " + v.reason);
    }
  }
  if (auto bad = check_header(m)) {
    bad->message = std::string(kind) + ": " + bad->message;
    return bad;
  }
  if (messages_ == 1 && !m.questions.empty() &&
      (m.questions.front().name != zone_ ||
       m.questions.front().qtype != (ixfr_ ? dns::rrtype::IXFR : dns::rrtype::AXFR))) {
    return error(TransferError::Kind::Malformed, std::string(kind) + " answer is for another question");
  }
  if (auto added = reader_.add(m.answers); !added) {
    return error(TransferError::Kind::Malformed, std::string(kind) + ": " + added.error().message);
  }
  if (reader_.done() && verifier_ && !verifier_->complete()) {
    return error(TransferError::Kind::Tsig, std::string(kind) + ": the last message is not signed");
  }
  return std::nullopt;
}

// --- plan_transfer ---

std::optional<TransferError> plan_transfer(const zone::ZoneSet& zones, const dns::Name& apex,
                                           const TransferReader& reader, TransferPlan& plan) {
  plan = TransferPlan{};
  const zone::Zone* found = zones.find_zone(apex);
  const zone::Zone* held = found && found->apex() == apex && found->soa() && !found->soa()->rdatas.empty() ? found : nullptr;
  if (held) plan.from_serial = dns::soa_decode(held->soa()->rdatas.front()).value().serial;
  const dns::RR& soa = reader.soa();
  if (soa.owner != apex) return error(TransferError::Kind::Malformed, "the transfer's SOA is not at " + apex.to_text());
  plan.to_serial = dns::soa_decode(soa.rdata).value().serial;
  plan.change.transfer = store::TransferIn{apex, plan.from_serial};
  // The SOA as the primary sent it, owner spelt as the zone's apex.
  plan.change.ops.push_back({store::OpKind::Add, dns::RR{held ? held->apex() : apex, dns::rrtype::SOA,
                                                         dns::rrclass::IN, soa.ttl, soa.rdata}});
  switch (reader.kind()) {
    case TransferReader::Kind::Full:
      plan_full(zones, apex, held, reader, plan);
      return std::nullopt;
    case TransferReader::Kind::Incremental: {
      if (!held) return error(TransferError::Kind::Diverged, "diffs for a zone the cluster does not hold");
      const uint32_t from = reader.diffs().front().from_serial();
      if (from != *plan.from_serial) {
        return error(TransferError::Kind::Diverged, "the diffs start at serial " + std::to_string(from) +
                                                        ", the zone held is at " + std::to_string(*plan.from_serial));
      }
      return plan_incremental(zones, apex, *held, reader, plan);
    }
    case TransferReader::Kind::UpToDate:
    case TransferReader::Kind::Pending:
      break;
  }
  return error(TransferError::Kind::Malformed, "no transfer to apply");
}

}  // namespace server
