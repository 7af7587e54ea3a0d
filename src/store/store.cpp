// The record store: applies committed changes, publishes immutable
// snapshots for readers, and serializes its whole state for checkpoints.
#include "store/store.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "dns/message.h"

#include "util/bytes.h"
#include "util/file.h"

namespace store {
namespace {

// Version 2 added the rcode of each dedupe entry; version 3 the sessions'
// place in time (for expiry), the kind of each failed op, and keeps only
// the failed ops. Version 2 is still read.
constexpr std::string_view kStateMagic = "DNSNODE-STATE\x03";
constexpr std::string_view kStateMagicV2 = "DNSNODE-STATE\x02";
constexpr std::string_view kCheckpointMagic = "DNSNODE-CKPT\x01";

bool is_soa_add(const Op& op) { return op.kind == OpKind::Add && op.rr.type == dns::rrtype::SOA; }

/// A node's owner as the zone spells it (a member of the node, or read
/// through owner() where nodes are stored packed).
template <typename NodeT>
dns::Name node_owner(const NodeT& n) {
  if constexpr (requires { n.owner(); }) {
    return n.owner();
  } else {
    return n.name;
  }
}

std::optional<uint32_t> soa_serial(const zone::Zone& z) {
  const zone::RRset* soa = z.soa();
  if (!soa || soa->rdatas.empty()) return std::nullopt;
  auto fields = dns::soa_decode(soa->rdatas.front());
  if (!fields) return std::nullopt;
  return fields->serial;
}

/// Edits a ZoneSet on behalf of one change and keeps track of which zones the
/// change modified, so finish() can advance each one's SOA serial once
/// (DESIGN.md: every committed change to a zone advances its serial). Being
/// part of apply, this happens identically on every node.
class ZoneEditor {
 public:
  explicit ZoneEditor(zone::ZoneSet& zones) : zones_(zones) {}

  /// From now on, remember each RRset as it was before this editor first
  /// changes it, so rollback() can put every one back (an UPDATE is all or
  /// nothing without copying the zone). Zone creation is not undone: an
  /// UPDATE never creates a zone (an SOA is accepted only at its apex).
  void keep_undo() { undo_enabled_ = true; }

  /// Restores every RRset changed since keep_undo(), newest first, so each
  /// step returns to a state the zone really held. Returns "" or why a step
  /// failed (which would be a bug: the zone held that state a moment ago).
  std::string rollback() {
    std::string failure;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      const Saved& s = *it;
      if (s.type == dns::rrtype::SOA) {
        // Exactly one SOA per zone: adding the old one replaces the new one.
        if (!s.existed) continue;
        auto r = zones_.add(dns::RR{s.owner, s.type, dns::rrclass::IN, s.ttl, s.rdatas.front()});
        if (!r && failure.empty()) failure = r.error().message;
        continue;
      }
      if (auto r = zones_.remove_rrset(s.owner, s.type); !r && failure.empty()) failure = r.error().message;
      for (const std::string& rdata : s.rdatas) {
        auto r = zones_.add(dns::RR{s.owner, s.type, dns::rrclass::IN, s.ttl, rdata});
        if (!r && failure.empty()) failure = r.error().message;
      }
    }
    undo_.clear();
    return failure;
  }

  /// Adds a record; returns whether anything changed. An SOA whose serial is
  /// not newer than the current one keeps the current serial, so re-adding
  /// an older SOA (a zone file seeding again) never moves it backwards.
  util::Result<bool> add(const dns::RR& rr) {
    const zone::Zone* z = zones_.zone_for(rr.owner, rr.type);
    if (rr.type == dns::rrtype::SOA && (!z || z->apex() != rr.owner)) {
      // A new zone (possibly nested in `z`, which then loses records to it).
      Touched* parent = z ? &touch(*z) : nullptr;
      auto added = zones_.add(rr);
      if (!added) return added.error();
      if (parent) parent->modified = true;
      Touched& created = touched_[key(rr.owner)];
      created.apex = rr.owner;
      created.created = true;
      return true;
    }
    if (!z) {
      auto added = zones_.add(rr);  // refused with the reason ("outside every zone")
      if (!added) return added.error();
      return true;
    }
    Touched& t = touch(*z);
    dns::RR to_add = rr;
    if (rr.type == dns::rrtype::SOA) {
      auto fields = dns::soa_decode(rr.rdata);
      if (fields && t.serial_before && !serial_newer(fields->serial, *t.serial_before)) {
        fields->serial = *t.serial_before;
        to_add.rdata = dns::soa_encode(*fields);
      } else if (fields) {
        t.explicit_serial = true;
      }
    }
    if (const zone::Node* n = z->find(rr.owner)) {
      if (const zone::RRset* rs = n->find(rr.type); rs && rs->ttl == to_add.ttl &&
                                                   std::find(rs->rdatas.begin(), rs->rdatas.end(), to_add.rdata) !=
                                                       rs->rdatas.end()) {
        return false;  // already there, same TTL
      }
    }
    save(rr.owner, rr.type);
    auto added = zones_.add(to_add);
    if (!added) return added.error();
    t.modified = true;
    return true;
  }

  util::Result<bool> remove(const dns::RR& rr) {
    Touched* t = touch_owner(rr.owner, rr.type);
    save(rr.owner, rr.type);
    auto removed = zones_.remove(rr);
    if (!removed) return removed.error();
    if (t && removed.value()) t->modified = true;
    return removed.value();
  }

  util::Result<size_t> remove_rrset(const dns::Name& owner, uint16_t type) {
    Touched* t = touch_owner(owner, type);
    save(owner, type);
    auto removed = zones_.remove_rrset(owner, type);
    if (!removed) return removed.error();
    if (t && removed.value() > 0) t->modified = true;
    return removed.value();
  }

  /// Records that records of the zone at `apex` changed outside add() (a
  /// bulk add), so finish() advances its serial as for any other change.
  void note_modified(const dns::Name& apex) {
    const zone::Zone* z = zones_.find_zone(apex);
    if (z && z->apex() == apex) touch(*z).modified = true;
  }

  /// Advances the serial of every zone this change modified, unless the
  /// change created the zone or set a newer serial itself.
  void finish() {
    for (auto& [k, t] : touched_) {
      if (t.created || t.explicit_serial || !t.modified || !t.serial_before) continue;
      const zone::Zone* z = zones_.find_zone(t.apex);
      if (!z || z->apex() != t.apex || !z->soa() || z->soa()->rdatas.empty()) continue;  // zone removed
      auto fields = dns::soa_decode(z->soa()->rdatas.front());
      if (!fields) continue;
      fields->serial = *t.serial_before + 1;  // RFC 1982 §3.1: addition modulo 2^32
      dns::RR soa;
      soa.owner = z->apex();
      soa.type = dns::rrtype::SOA;
      soa.ttl = z->soa()->ttl;
      soa.rdata = dns::soa_encode(*fields);
      (void)zones_.add(soa);  // replaces the apex SOA; valid since it was stored before
    }
  }

 private:
  struct Touched {
    dns::Name apex;
    std::optional<uint32_t> serial_before;
    bool created = false;          // the change made this zone
    bool explicit_serial = false;  // the change set a newer serial itself
    bool modified = false;
  };

  /// An RRset as it was before this change touched it (absent: existed false).
  struct Saved {
    dns::Name owner;  // as the zone spells it, when it existed
    uint16_t type = 0;
    bool existed = false;
    uint32_t ttl = 0;
    std::vector<std::string> rdatas;
  };

  static std::string key(const dns::Name& apex) { return apex.lowercased().wire(); }

  /// The RRset of `type` at `owner`, looked up in the zone that holds it:
  /// DS at a nested zone's apex lives on the parent side (RFC 4035 §2.4).
  const zone::Node* find_node(const dns::Name& owner, uint16_t type) const {
    const zone::Zone* z = zones_.zone_for(owner, type);
    return z ? z->find(owner) : nullptr;
  }

  void save(const dns::Name& owner, uint16_t type) {
    if (!undo_enabled_) return;
    Saved s;
    s.owner = owner;
    s.type = type;
    const zone::Node* n = find_node(owner, type);
    if (const zone::RRset* rs = n ? n->find(type) : nullptr) {
      s.owner = node_owner(*n);
      s.existed = true;
      s.ttl = rs->ttl;
      s.rdatas = std::vector<std::string>(rs->rdatas);
    }
    undo_.push_back(std::move(s));
  }

  Touched& touch(const zone::Zone& z) {
    auto [it, fresh] = touched_.try_emplace(key(z.apex()));
    if (fresh) {
      it->second.apex = z.apex();
      it->second.serial_before = soa_serial(z);
    }
    return it->second;
  }

  Touched* touch_owner(const dns::Name& owner, uint16_t type) {
    const zone::Zone* z = zones_.zone_for(owner, type);
    return z ? &touch(*z) : nullptr;
  }

  zone::ZoneSet& zones_;
  std::map<std::string, Touched> touched_;
  bool undo_enabled_ = false;
  std::vector<Saved> undo_;
};

/// Applies one op: nullopt when it applied, else why not (the zone's own
/// error, or NotFound for a record or RRset that is not there to remove).
std::optional<util::Error> apply_op(ZoneEditor& zones, const Op& op) {
  switch (op.kind) {
    case OpKind::Add: {
      auto r = zones.add(op.rr);
      if (!r) return r.error();
      return std::nullopt;
    }
    case OpKind::Remove: {
      auto r = zones.remove(op.rr);
      if (!r) return r.error();
      if (!r.value()) {
        return util::make_error(util::ErrorKind::NotFound, "no such record: " + op.rr.owner.to_text() + " " +
                                                               dns::type_to_text(op.rr.type) + " " +
                                                               dns::rdata_to_text(op.rr.type, op.rr.rdata));
      }
      return std::nullopt;
    }
    case OpKind::RemoveRRset: {
      auto r = zones.remove_rrset(op.rr.owner, op.rr.type);
      if (!r) return r.error();
      if (r.value() == 0) {
        return util::make_error(util::ErrorKind::NotFound,
                                "no " + dns::type_to_text(op.rr.type) + " records at " + op.rr.owner.to_text());
      }
      return std::nullopt;
    }
  }
  return util::make_error("unknown operation");
}

/// Non-SOA adds from which a change of adds only is applied in bulk.
constexpr size_t kBulkAddMin = 64;

/// Whether the change is adds only, enough of them to build the zones' new
/// names at once (a zone file seeding the cluster, a large import).
bool adds_in_bulk(const Change& change) {
  size_t non_soa = 0;
  for (const Op& op : change.ops) {
    if (op.kind != OpKind::Add) return false;
    if (op.rr.type != dns::rrtype::SOA) ++non_soa;
  }
  return non_soa >= kBulkAddMin;
}

/// The non-SOA adds of an adds-only change, applied at once
/// (zone::ZoneSet::add_all) with the outcome and the serials one op at a time
/// would give: the same records, the same refusals, the same zones advanced.
void apply_adds_in_bulk(zone::ZoneSet& zones, ZoneEditor& editor, const Change& change, ApplyResult& result) {
  std::vector<const dns::RR*> records;
  std::vector<size_t> op_of;
  records.reserve(change.ops.size());
  op_of.reserve(change.ops.size());
  for (size_t i = 0; i < change.ops.size(); ++i) {
    if (is_soa_add(change.ops[i])) continue;
    records.push_back(&change.ops[i].rr);
    op_of.push_back(i);
  }
  zone::ZoneSet::BulkAddResult bulk = zones.add_all(records);
  for (auto& [at, error] : bulk.refused) {
    result.op_errors[op_of[at]] = std::move(error.message);
    result.op_kinds[op_of[at]] = error.kind;
  }
  for (const dns::Name& apex : bulk.modified_zones) editor.note_modified(apex);
}

struct UpdateOutcome {
  uint16_t rcode = dns::rcode::NOERROR;
  std::string reason;
};

std::string describe(const dns::RR& rr) { return rr.owner.to_text() + " " + dns::type_to_text(rr.type); }

/// RFC 2136 §3.2: the prerequisites, checked against the zone as it is now.
UpdateOutcome check_prerequisites(const zone::ZoneSet& zones, const zone::Zone& z, const Update& u) {
  // §3.2.3: value-dependent prerequisites of one name and type form one
  // RRset, compared as a whole once all are collected.
  std::map<std::pair<std::string, uint16_t>, std::pair<dns::Name, std::vector<std::string>>> expected;
  for (const Prereq& p : u.prereqs) {
    const zone::Zone* owner_zone = zones.zone_for(p.rr.owner, p.rr.type);
    if (!owner_zone || owner_zone->apex() != z.apex()) {
      return {dns::rcode::NOTZONE, "prerequisite name " + p.rr.owner.to_text() + " is not in zone " + z.apex().to_text()};
    }
    const zone::Node* n = z.find(p.rr.owner);
    const bool in_use = n && !n->rrsets.empty();
    const bool has_rrset = n && n->find(p.rr.type);
    switch (p.kind) {
      case PrereqKind::NameInUse:
        if (!in_use) return {dns::rcode::NXDOMAIN, "prerequisite failed: " + p.rr.owner.to_text() + " has no records"};
        break;
      case PrereqKind::NameNotInUse:
        if (in_use) return {dns::rcode::YXDOMAIN, "prerequisite failed: " + p.rr.owner.to_text() + " has records"};
        break;
      case PrereqKind::RRsetExists:
        if (!has_rrset) return {dns::rcode::NXRRSET, "prerequisite failed: no " + describe(p.rr) + " RRset"};
        break;
      case PrereqKind::RRsetAbsent:
        if (has_rrset) return {dns::rcode::YXRRSET, "prerequisite failed: " + describe(p.rr) + " RRset exists"};
        break;
      case PrereqKind::RRsetExistsValue: {
        auto& e = expected[{p.rr.owner.lowercased().wire(), p.rr.type}];
        e.first = p.rr.owner;
        e.second.push_back(p.rr.rdata);
        break;
      }
    }
  }
  for (auto& [k, e] : expected) {
    std::vector<std::string>& want = e.second;
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    const zone::Node* n = z.find(e.first);
    const zone::RRset* rs = n ? n->find(k.second) : nullptr;
    std::vector<std::string> have = rs ? std::vector<std::string>(rs->rdatas) : std::vector<std::string>{};
    std::sort(have.begin(), have.end());
    if (have != want) {
      return {dns::rcode::NXRRSET,
              "prerequisite failed: the " + e.first.to_text() + " " + dns::type_to_text(k.second) +
                  " RRset differs from the one required"};
    }
  }
  return {};
}

/// RFC 2136 §3.4.2: the updates, with the apex SOA and NS rules and the
/// CNAME rules, into `zones`; stops at the first failure, leaving `editor`
/// holding what rollback() needs.
UpdateOutcome apply_updates(zone::ZoneSet& zones, ZoneEditor& editor, const Update& u) {
  auto node_at = [&](const dns::Name& name, uint16_t type) -> const zone::Node* {
    const zone::Zone* z = zones.zone_for(name, type);
    return z ? z->find(name) : nullptr;
  };
  for (const UpdateOp& op : u.updates) {
    const zone::Zone* z = zones.zone_for(op.rr.owner, op.rr.type);
    if (!z || z->apex() != u.zone) {
      return {dns::rcode::NOTZONE, "update name " + op.rr.owner.to_text() + " is not in zone " + u.zone.to_text()};
    }
    const bool at_apex = op.rr.owner == u.zone;
    dns::RR rr = op.rr;
    rr.rclass = dns::rrclass::IN;
    switch (op.kind) {
      case UpdateKind::Add: {
        const zone::Node* n = node_at(rr.owner, rr.type);
        if (rr.type == dns::rrtype::SOA) {
          // §3.4.2.2: an SOA only at the apex, and only with a newer serial.
          if (!at_apex) continue;
          auto fields = dns::soa_decode(rr.rdata);
          auto current = soa_serial(*z);
          if (!fields || (current && !serial_newer(fields->serial, *current))) continue;
        } else if (rr.type == dns::rrtype::CNAME) {
          // §3.4.2.2: a CNAME beside other data is ignored; one CNAME
          // replaces another.
          bool other_data = false;
          const zone::RRset* cname = nullptr;
          if (n) {
            for (const zone::RRset& rs : n->rrsets) {
              if (rs.type == dns::rrtype::CNAME) cname = &rs;
              else if (!dns::allowed_beside_cname(rs.type)) other_data = true;
            }
          }
          if (other_data) continue;
          if (cname && !(cname->rdatas.size() == 1 && cname->rdatas.front() == rr.rdata)) {
            if (auto r = editor.remove_rrset(rr.owner, dns::rrtype::CNAME); !r) {
              return {dns::rcode::SERVFAIL, r.error().message};
            }
          }
        } else if (n && n->find(dns::rrtype::CNAME) && !dns::allowed_beside_cname(rr.type)) {
          continue;  // §3.4.2.2: other data beside a CNAME is ignored (RFC 4035 §2.5: RRSIG and NSEC are not)
        }
        if (auto r = editor.add(rr); !r) return {dns::rcode::SERVFAIL, r.error().message};
        break;
      }
      case UpdateKind::DeleteRRset:
        // §3.4.2.3: the apex SOA and NS RRsets are never deleted this way.
        if (at_apex && (rr.type == dns::rrtype::SOA || rr.type == dns::rrtype::NS)) continue;
        if (auto r = editor.remove_rrset(rr.owner, rr.type); !r) return {dns::rcode::SERVFAIL, r.error().message};
        break;
      case UpdateKind::DeleteName: {
        std::vector<uint16_t> types;
        if (const zone::Node* n = node_at(rr.owner, rr.type)) {
          for (const zone::RRset& rs : n->rrsets) types.push_back(rs.type);
        }
        for (uint16_t type : types) {
          // §3.4.2.3: at the apex, SOA and NS stay.
          if (at_apex && (type == dns::rrtype::SOA || type == dns::rrtype::NS)) continue;
          if (auto r = editor.remove_rrset(rr.owner, type); !r) return {dns::rcode::SERVFAIL, r.error().message};
        }
        break;
      }
      case UpdateKind::DeleteRR: {
        // §3.4.2.4: the SOA is never deleted, nor the last apex NS.
        if (rr.type == dns::rrtype::SOA) continue;
        if (at_apex && rr.type == dns::rrtype::NS) {
          const zone::Node* n = node_at(rr.owner, rr.type);
          const zone::RRset* ns = n ? n->find(dns::rrtype::NS) : nullptr;
          if (ns && ns->rdatas.size() == 1 && ns->rdatas.front() == rr.rdata) continue;
        }
        if (auto r = editor.remove(rr); !r) return {dns::rcode::SERVFAIL, r.error().message};
        break;
      }
    }
  }
  return {};
}

/// RFC 2136 §3: zone check, prerequisites, then updates, all or nothing.
UpdateOutcome apply_update(zone::ZoneSet& zones, const Update& u) {
  const zone::Zone* z = zones.find_zone(u.zone);
  if (!z || z->apex() != u.zone) {
    return {dns::rcode::NOTAUTH, "not authoritative for zone " + u.zone.to_text()};  // §3.1.1
  }
  if (UpdateOutcome pre = check_prerequisites(zones, *z, u); pre.rcode != dns::rcode::NOERROR) return pre;
  // Applied in place with an undo list rather than to a copy of the zone:
  // a refused update costs what it changed, not the size of the zone.
  ZoneEditor editor(zones);
  editor.keep_undo();
  UpdateOutcome out = apply_updates(zones, editor, u);
  if (out.rcode == dns::rcode::NOERROR) {
    editor.finish();
    return out;
  }
  if (std::string failed = editor.rollback(); !failed.empty()) {
    // Every node rolls back the same way, so replicas stay identical even then.
    out.reason += "; undoing the earlier updates of this message failed: " + failed;
  }
  return out;
}

}  // namespace

bool ApplyResult::all_ok() const {
  for (const auto& e : op_errors) {
    if (!e.empty()) return false;
  }
  return true;
}

std::string ApplyResult::first_error() const {
  for (const auto& e : op_errors) {
    if (!e.empty()) return e;
  }
  return "";
}

std::optional<util::Error> ApplyResult::first_failure() const {
  for (size_t i = 0; i < op_errors.size(); ++i) {
    if (!op_errors[i].empty()) return util::make_error(kind(i), op_errors[i]);
  }
  return std::nullopt;
}

void Store::Session::keep(const ApplyResult& result) {
  op_count = static_cast<uint32_t>(result.op_errors.size());
  rcode = result.rcode;
  failed_ops.clear();
  for (uint32_t i = 0; i < op_count; ++i) {
    if (!result.op_errors[i].empty()) failed_ops.push_back({i, result.kind(i), result.op_errors[i]});
  }
}

void Store::Session::answer(ApplyResult& result) const {
  result.op_errors.assign(op_count, "");
  result.op_kinds.assign(op_count, util::ErrorKind::Invalid);
  for (const Failed& f : failed_ops) {
    result.op_errors[f.op] = f.reason;
    result.op_kinds[f.op] = f.kind;
  }
  result.rcode = rcode;
}

Store::Store(SessionLimits limits) : current_(std::make_shared<const zone::ZoneSet>()), limits_(limits) {}

namespace {

/// Refuses a whole change: every op (or the UPDATE) fails with `why`.
void refuse(ApplyResult& result, const Change& change, util::ErrorKind kind, const std::string& why) {
  if (change.update) {
    result.rcode = dns::rcode::SERVFAIL;
    result.op_errors.assign(1, why);
    result.op_kinds.assign(1, kind);
  } else {
    result.op_errors.assign(std::max<size_t>(change.ops.size(), 1), why);
    result.op_kinds.assign(result.op_errors.size(), kind);
  }
}

}  // namespace

void Store::forget_least_recently_used() {
  auto oldest = lru_.begin();
  const SessionKey key = std::get<2>(*oldest);
  forgotten_through_ = std::max(forgotten_through_, std::get<1>(*oldest));
  lru_.erase(oldest);
  sessions_.erase(key);
}

bool Store::check_session(const Change& change, ApplyResult& result) {
  // Only stamped changes move the clock and forget sessions: a change of the
  // older encoding is applied as it was when first written, so a node that
  // replays an old log reaches the state its peers checkpointed then.
  const bool stamped = change.time_ms != 0;
  if (stamped) {
    clock_ms_ = std::max(clock_ms_, change.time_ms);
    while (!lru_.empty() && std::get<0>(*lru_.begin()) + limits_.idle_ms < clock_ms_) forget_least_recently_used();
  }
  const SessionKey key{change.origin, change.client_id};
  auto it = sessions_.find(key);
  if (it == sessions_.end()) {
    // A session apply does not know: new, or forgotten. If a copy of this
    // change had been applied, its session would have been remembered at
    // that copy's index, which is above stamped_after (every copy lands
    // above it); forgetting it would have raised forgotten_through_ to at
    // least that index. So when forgotten_through_ <= stamped_after, no copy
    // was ever applied and applying this one is safe; otherwise it may
    // have been, and the change is refused.
    if (stamped && change.stamped_after < forgotten_through_) {
      result.expired = true;
      refuse(result, change, util::ErrorKind::SessionExpired,
             "session expired: the client session of this change was idle too long or evicted, and the change "
             "was not applied; submit it again (a new session)");
      return true;
    }
    return false;
  }
  const Session& session = it->second;
  if (change.sequence == session.sequence) {
    // A retry of the session's last change (exactly-once across leader
    // changes): not applied again, answered with the kept outcome.
    result.duplicate = true;
    session.answer(result);
    return true;
  }
  if (change.sequence < session.sequence) {
    // The session has moved past this change. Under the one-outstanding
    // rule (store/session.h) nobody waits for it any more: it is a late
    // copy of a change applied before, or of one its caller gave up on
    // (outcome unknown) before stamping the next. Applying it now would
    // run it after a later change of its session, so it is refused; and
    // its answer must not be success, since only the last outcome is kept
    // and an earlier copy may or may not have been applied. Every node
    // refuses it alike, so replicas stay identical.
    result.stale = true;
    refuse(result, change, util::ErrorKind::OutcomeUnknown,
           "stale change: sequence " + std::to_string(change.sequence) + " is below its session's last applied sequence " +
               std::to_string(session.sequence) + "; not applied by this copy");
    return true;
  }
  return false;
}

void Store::remember(const Change& change, uint64_t index, const ApplyResult& result) {
  const SessionKey key{change.origin, change.client_id};
  auto [it, fresh] = sessions_.try_emplace(key);
  Session& session = it->second;
  if (!fresh) lru_.erase(lru_key(key, session));
  session.sequence = change.sequence;
  session.keep(result);
  // A change without a stamp leaves its session least recently used of all,
  // at index 0: the same on a node that replayed it and on one that
  // restored a state saved before sessions had a place in time.
  const bool stamped = change.time_ms != 0;
  session.last_index = stamped ? index : 0;
  session.last_active_ms = stamped ? clock_ms_ : 0;
  lru_.insert(lru_key(key, session));
  if (stamped) {
    while (sessions_.size() > limits_.max_sessions && !lru_.empty()) forget_least_recently_used();
  }
}

ApplyResult Store::apply_one(zone::ZoneSet& next, const Change& change, uint64_t index) {
  ApplyResult result;
  if (change.sequence != 0 && check_session(change, result)) return result;
  if (change.update) {
    UpdateOutcome out = apply_update(next, *change.update);
    result.rcode = out.rcode;
    if (out.rcode != dns::rcode::NOERROR) result.op_errors.push_back(out.reason);
  } else {
    result.op_errors.resize(change.ops.size());
    result.op_kinds.resize(change.ops.size(), util::ErrorKind::Invalid);
    ZoneEditor editor(next);
    auto run = [&](size_t i) {
      if (auto failed = apply_op(editor, change.ops[i])) {
        result.op_errors[i] = std::move(failed->message);
        result.op_kinds[i] = failed->kind;
      }
    };
    // SOA additions go first so that a batch which creates a zone (a zone file
    // seeding the cluster) can hold the zone's other records in any order.
    for (size_t i = 0; i < change.ops.size(); ++i) {
      if (is_soa_add(change.ops[i])) run(i);
    }
    if (adds_in_bulk(change)) {
      apply_adds_in_bulk(next, editor, change, result);
    } else {
      for (size_t i = 0; i < change.ops.size(); ++i) {
        if (!is_soa_add(change.ops[i])) run(i);
      }
    }
    editor.finish();
  }
  if (change.sequence != 0) remember(change, index, result);
  return result;
}

void Store::publish(zone::ZoneSet next, uint64_t index) {
  current_.store(std::make_shared<const zone::ZoneSet>(std::move(next)), std::memory_order_release);
  applied_index_.store(index, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

ApplyResult Store::apply(const Change& change, uint64_t index) {
  zone::ZoneSet next = *snapshot();
  ApplyResult result = apply_one(next, change, index);
  publish(std::move(next), index);
  return result;
}

std::vector<ApplyResult> Store::apply_batch(const std::vector<std::pair<Change, uint64_t>>& changes) {
  std::vector<ApplyResult> results;
  if (changes.empty()) return results;
  results.reserve(changes.size());
  zone::ZoneSet next = *snapshot();
  for (const auto& [change, index] : changes) results.push_back(apply_one(next, change, index));
  publish(std::move(next), changes.back().second);
  return results;
}

std::string Store::serialize() const {
  auto zones = snapshot();
  std::string out;
  util::ByteWriter w(out);
  w.raw(kStateMagic);
  w.u64(applied_index());
  w.u64(clock_ms_);
  w.u64(forgotten_through_);
  w.u32(static_cast<uint32_t>(sessions_.size()));
  for (const auto& [key, session] : sessions_) {
    w.u32(key.first);
    w.u64(key.second);
    w.u64(session.sequence);
    w.u64(session.last_index);
    w.u64(session.last_active_ms);
    w.u16(session.rcode);
    w.u32(session.op_count);
    w.u32(static_cast<uint32_t>(session.failed_ops.size()));
    for (const Session::Failed& f : session.failed_ops) {
      w.u32(f.op);
      w.u8(static_cast<uint8_t>(f.kind));
      w.str(f.reason);
    }
  }
  w.u64(zones->record_count());
  zones->for_each_record([&](const dns::RR& rr) {
    w.u8(static_cast<uint8_t>(rr.owner.wire_length()));
    w.raw(rr.owner.wire());
    w.u16(rr.type);
    w.u32(rr.ttl);
    w.u16(static_cast<uint16_t>(rr.rdata.size()));
    w.raw(rr.rdata);
  });
  return out;
}

namespace {

/// The sessions of a version-2 state: one string per op, no place in time
/// (index and time 0: the least recently used of all, as for a change
/// without a stamp).
template <typename Session>
util::Result<void> read_sessions_v2(util::ByteReader& r, std::map<std::pair<uint32_t, uint64_t>, Session>& sessions) {
  uint32_t count = r.u32();
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    uint32_t origin = r.u32();
    uint64_t client = r.u64();
    Session s;
    s.sequence = r.u64();
    uint32_t n = r.u32();
    if (n > r.remaining()) return util::make_error("state: dedupe entry " + std::to_string(i) + " is corrupt");
    s.op_count = n;
    for (uint32_t j = 0; j < n && r.ok(); ++j) {
      std::string_view e = r.str();
      if (!e.empty()) s.failed_ops.push_back({j, util::ErrorKind::Invalid, std::string(e)});
    }
    s.rcode = r.u16();
    sessions[{origin, client}] = std::move(s);
  }
  return {};
}

template <typename Session>
util::Result<void> read_sessions_v3(util::ByteReader& r, std::map<std::pair<uint32_t, uint64_t>, Session>& sessions) {
  uint32_t count = r.u32();
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    uint32_t origin = r.u32();
    uint64_t client = r.u64();
    Session s;
    s.sequence = r.u64();
    s.last_index = r.u64();
    s.last_active_ms = r.u64();
    s.rcode = r.u16();
    s.op_count = r.u32();
    uint32_t failed = r.u32();
    if (!r.ok() || failed > s.op_count || failed > r.remaining()) {
      return util::make_error("state: session " + std::to_string(i) + " is corrupt");
    }
    for (uint32_t j = 0; j < failed && r.ok(); ++j) {
      uint32_t op = r.u32();
      uint8_t kind = r.u8();
      std::string_view reason = r.str();
      // Increasing op positions below op_count, and a known kind: anything
      // else is a corrupt image, never an out-of-range answer later.
      if (op >= s.op_count || (!s.failed_ops.empty() && op <= s.failed_ops.back().op) ||
          kind > static_cast<uint8_t>(util::ErrorKind::SessionExpired)) {
        return util::make_error("state: session " + std::to_string(i) + " has a corrupt failed op");
      }
      s.failed_ops.push_back({op, static_cast<util::ErrorKind>(kind), std::string(reason)});
    }
    sessions[{origin, client}] = std::move(s);
  }
  return {};
}

/// The zones of a state image: the SOAs first (they make the zones), then
/// every other record at once (zone::ZoneSet::add_all).
util::Result<zone::ZoneSet> restore_records(const std::vector<dns::RR>& records) {
  auto refusal = [](const dns::RR& rr, const util::Error& e) {
    return util::make_error("state: record " + rr.owner.to_text() + " " + dns::type_to_text(rr.type) +
                            " does not load: " + e.message);
  };
  zone::ZoneSet zones;
  std::vector<const dns::RR*> rest;
  rest.reserve(records.size());
  for (const dns::RR& rr : records) {
    if (rr.type != dns::rrtype::SOA) {
      rest.push_back(&rr);
    } else if (auto added = zones.add(rr); !added) {
      return refusal(rr, added.error());
    }
  }
  zone::ZoneSet::BulkAddResult bulk = zones.add_all(rest);
  if (!bulk.refused.empty()) return refusal(*rest[bulk.refused.front().first], bulk.refused.front().second);
  return zones;
}

}  // namespace

util::Result<void> Store::restore(std::string_view bytes) {
  util::ByteReader r(bytes);
  const std::string_view magic = r.raw(kStateMagic.size());
  const bool v2 = magic == kStateMagicV2;
  if (!v2 && magic != kStateMagic) return util::make_error("state: not a dns-node state image");
  uint64_t index = r.u64();
  uint64_t clock_ms = 0;
  uint64_t forgotten_through = 0;
  if (!v2) {
    clock_ms = r.u64();
    forgotten_through = r.u64();
  }
  std::map<SessionKey, Session> sessions;
  if (auto read = v2 ? read_sessions_v2(r, sessions) : read_sessions_v3(r, sessions); !read) return read.error();
  uint64_t record_count = r.u64();
  if (!r.ok()) return util::make_error("state: truncated header");
  std::vector<dns::RR> records;
  records.reserve(std::min<uint64_t>(record_count, r.remaining() / 10));
  for (uint64_t i = 0; i < record_count; ++i) {
    dns::RR rr;
    std::string_view owner_wire = r.raw(r.u8());
    rr.type = r.u16();
    rr.ttl = r.u32();
    rr.rdata = std::string(r.raw(r.u16()));
    if (!r.ok()) return util::make_error("state: record " + std::to_string(i) + " is truncated");
    auto owner = dns::Name::from_wire(owner_wire);
    if (!owner) return util::make_error("state: record " + std::to_string(i) + ": " + owner.error().message);
    rr.owner = std::move(owner.value());
    records.push_back(std::move(rr));
  }
  if (!r.at_end()) return util::make_error("state: trailing bytes");
  auto zones = restore_records(records);
  if (!zones) return zones.error();
  std::vector<dns::RR>().swap(records);
  sessions_ = std::move(sessions);
  lru_.clear();
  for (const auto& [key, session] : sessions_) lru_.insert(lru_key(key, session));
  clock_ms_ = clock_ms;
  forgotten_through_ = forgotten_through;
  publish(std::move(zones.value()), index);
  return {};
}

util::Result<void> Store::save_checkpoint(const std::string& path) const {
  std::string state = serialize();
  std::string file;
  util::ByteWriter w(file);
  w.raw(kCheckpointMagic);
  w.u64(state.size());
  w.raw(state);
  w.u32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(state.data()), static_cast<uInt>(state.size()))));
  return util::write_file_atomically(path, file);
}

util::Result<bool> Store::load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) return false;
  auto contents = util::read_file(path);
  if (!contents) return contents.error();
  const std::string& file = contents.value();
  util::ByteReader r(file);
  if (r.raw(kCheckpointMagic.size()) != kCheckpointMagic) {
    return util::make_error("checkpoint " + path + " is not a dns-node checkpoint (bad magic at offset 0)");
  }
  uint64_t size = r.u64();
  std::string_view state = r.raw(size);
  uint32_t stored_crc = r.u32();
  if (!r.ok() || !r.at_end()) {
    return util::make_error("checkpoint " + path + " is truncated or has trailing bytes (" +
                            std::to_string(file.size()) + " bytes)");
  }
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(state.data()), static_cast<uInt>(state.size())));
  if (crc != stored_crc) {
    return util::make_error("checkpoint " + path + " is corrupt: checksum mismatch over bytes " +
                            std::to_string(kCheckpointMagic.size() + 8) + ".." +
                            std::to_string(kCheckpointMagic.size() + 8 + size));
  }
  if (auto restored = restore(state); !restored) {
    return util::make_error("checkpoint " + path + ": " + restored.error().message);
  }
  return true;
}

std::string Store::digest() const {
  auto zones = snapshot();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string buf;
  zones->for_each_record([&](const dns::RR& rr) {
    buf.clear();
    util::ByteWriter w(buf);
    w.raw(rr.owner.lowercased().wire());
    w.u16(rr.type);
    w.u32(rr.ttl);
    w.str(rr.rdata);
    EVP_DigestUpdate(ctx, buf.data(), buf.size());
  });
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xF]);
  }
  return hex;
}

}  // namespace store
