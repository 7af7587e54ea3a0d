// The record store: applies committed changes, publishes immutable
// snapshots for readers, and serializes its whole state for checkpoints.
#include "store/store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "dns/message.h"

#include "util/bytes.h"
#include "dns/dnssec_sign.h"

namespace store {
namespace {

// Version 2 added the rcode of each dedupe entry; version 3 the sessions'
// place in time (for expiry), the kind of each failed op, and keeps only
// the failed ops; version 4 the settings and the journals after the records.
// Versions 2 and 3 are still read (no journals, default settings).
constexpr std::string_view kStateMagic = "DNSNODE-STATE\x04";
constexpr std::string_view kStateMagicV3 = "DNSNODE-STATE\x03";
constexpr std::string_view kStateMagicV2 = "DNSNODE-STATE\x02";

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

/// The apex SOA of a zone as a record, or nullopt.
std::optional<dns::RR> soa_record(const zone::Zone& z) {
  const zone::RRset* soa = z.soa();
  if (!soa || soa->rdatas.empty()) return std::nullopt;
  return dns::RR{z.apex(), dns::rrtype::SOA, dns::rrclass::IN, soa->ttl, std::string(soa->rdatas.front())};
}

std::string zone_key(const dns::Name& apex) { return apex.lowercased().wire(); }

/// What apply works on: the next version being built, and the inputs every
/// node shares (the change's timestamp) or that only bound local memory
/// (the journal limits).
struct ApplyContext {
  Version& next;
  uint64_t time_ms = 0;  // the change's Change::time_ms
  const JournalLimits& limits;
  bool verbatim_soa = false;  // a transfer from an outside primary: its SOA is stored as sent
};

/// Edits a ZoneSet on behalf of one change and keeps track of which zones the
/// change modified and how, so finish() can advance each one's SOA serial
/// once, by the zone's serial policy, and record the exact difference in the
/// zone's journal (docs/design.md: every committed change to a zone advances
/// its serial). Being part of apply, this happens identically on every node.
class ZoneEditor {
 public:
  explicit ZoneEditor(ApplyContext& ctx) : ctx_(ctx), zones_(ctx.next.zones) {}

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
    before_.clear();
    return failure;
  }

  /// Adds a record; returns whether anything changed. An SOA whose serial is
  /// not newer than the current one keeps the current serial, so re-adding
  /// an older SOA (a zone file seeding again) never moves it backwards.
  util::Result<bool> add(const dns::RR& rr) {
    const zone::Zone* z = zones_.zone_for(rr.owner, rr.type);
    if (rr.type == dns::rrtype::SOA && (!z || z->apex() != rr.owner)) {
      // A new zone (possibly nested in `z`, which then loses records to it:
      // that loss is not a diff the journal can hold, so it starts again).
      Touched* parent = z ? &touch(*z) : nullptr;
      auto added = zones_.add(rr);
      if (!added) return added.error();
      if (parent) {
        parent->modified = true;
        parent->reset_journal = true;
      }
      Touched& created = touched_[zone_key(rr.owner)];
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
      if (fields && t.serial_before && !serial_newer(fields->serial, *t.serial_before) && !ctx_.verbatim_soa) {
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

  /// OpKind::AddSigningKey: the key record, then its DNSKEY (and for a KSK
  /// its CDS and CDNSKEY), all at the apex with the SOA's TTL.
  util::Result<void> add_signing_key(const dns::RR& rr) {
    const zone::Zone* z = zones_.find_zone(rr.owner);
    if (!z || z->apex() != rr.owner) {
      return util::make_error(util::ErrorKind::Invalid, "a signing key belongs at a zone apex, not at " + rr.owner.to_text());
    }
    auto record = dns::SigningKeyRecord::decode(rr.rdata);
    if (!record) return record.error();
    auto key = dns::SigningKey::from_private_der(record->algorithm, record->private_der);
    if (!key) return key.error();
    Touched& t = touch(*z);
    const zone::Node* apex = z->apex_node();
    if (apex && apex->find(dns::rrtype::SIGNING_KEY) && !t.keys_added) {
      return util::make_error(util::ErrorKind::Conflict, "the zone " + rr.owner.to_text() + " already has its signing keys");
    }
    t.keys_added = true;
    t.modified = true;
    return publish_key(*z, rr.owner, rr.rdata, *record, *key, record->ksk() && record->active());
  }

  /// OpKind::SetSigningKeys: compare the zone's key set with the one the
  /// change expects, then replace it and everything derived from it.
  util::Result<void> set_signing_keys(const dns::RR& rr) {
    const zone::Zone* z = zones_.find_zone(rr.owner);
    if (!z || z->apex() != rr.owner) {
      return util::make_error(util::ErrorKind::Invalid, "signing keys belong at a zone apex, not at " + rr.owner.to_text());
    }
    auto change = dns::KeySetChange::decode(rr.rdata);
    if (!change) return change.error();
    const zone::Node* apex = z->apex_node();
    const zone::RRset* current = apex ? apex->find(dns::rrtype::SIGNING_KEY) : nullptr;
    std::vector<std::string> have = current ? std::vector<std::string>(current->rdatas) : std::vector<std::string>{};
    if (dns::key_set_digest(have) != change->expected_digest) {
      return util::make_error(util::ErrorKind::Conflict,
                              "the keys of " + rr.owner.to_text() + " changed meanwhile; this key change is void");
    }
    // Everything checked before anything changes: all or nothing.
    std::vector<std::pair<dns::SigningKeyRecord, dns::SigningKey>> keys;
    for (const std::string& r : change->records) {
      auto record = dns::SigningKeyRecord::decode(r);
      if (!record) return record.error();
      auto key = dns::SigningKey::from_private_der(record->algorithm, record->private_der);
      if (!key) return key.error();
      keys.emplace_back(std::move(record).value(), std::move(key).value());
    }
    Touched& t = touch(*z);
    for (uint16_t type : {dns::rrtype::SIGNING_KEY, dns::rrtype::DNSKEY, dns::rrtype::CDS, dns::rrtype::CDNSKEY}) {
      save(rr.owner, type);
      if (auto removed = zones_.remove_rrset(rr.owner, type); !removed) return removed.error();
    }
    t.keys_added = true;
    // The CDS and CDNSKEY name the KSK the parent's DS should point to
    // (RFC 7344 §4): a KSK made ready by a roll, else the active ones.
    const bool rolling = std::any_of(keys.begin(), keys.end(), [](const auto& k) {
      return k.first.ksk() && k.first.state == dns::SigningKeyRecord::State::Ready;
    });
    for (size_t i = 0; i < keys.size(); ++i) {
      const dns::SigningKeyRecord& record = keys[i].first;
      const auto wanted = rolling ? dns::SigningKeyRecord::State::Ready : dns::SigningKeyRecord::State::Active;
      const bool in_cds = record.ksk() && record.state == wanted;
      if (auto r = publish_key(*zones_.find_zone(rr.owner), rr.owner, change->records[i], record, keys[i].second,
                               in_cds);
          !r) {
        return r;
      }
    }
    t.modified = true;
    return {};
  }

  /// Adds a key record and what it publishes: its DNSKEY (in every state),
  /// and when `in_cds` its CDS and CDNSKEY (RFC 7344), with the SOA's TTL.
  util::Result<void> publish_key(const zone::Zone& z, const dns::Name& apex, const std::string& rdata,
                                 const dns::SigningKeyRecord& record, const dns::SigningKey& key, bool in_cds) {
    const uint32_t ttl = z.soa() ? z.soa()->ttl : 3600;
    const std::string dnskey = dns::dnskey_rdata(record.flags, record.algorithm, key.public_key());
    std::vector<dns::RR> records = {dns::RR{apex, dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, rdata},
                                    dns::RR{apex, dns::rrtype::DNSKEY, dns::rrclass::IN, ttl, dnskey}};
    if (in_cds) {
      records.push_back(dns::RR{apex, dns::rrtype::CDNSKEY, dns::rrclass::IN, ttl, dnskey});
      records.push_back(dns::RR{apex, dns::rrtype::CDS, dns::rrclass::IN, ttl, dns::ds_rdata(apex, dnskey)});
    }
    for (const dns::RR& r : records) {
      save(r.owner, r.type);
      if (auto added = zones_.add(r); !added) return added.error();
    }
    return {};
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

  /// Whether the change's non-SOA adds (its SOA adds already applied) may go
  /// through zone::ZoneSet::add_all instead of add() one at a time. Only when
  /// no RRset's earlier state is needed: no undo is kept (an UPDATE), and
  /// every record falls in a zone this change created (no journal, no
  /// serial to advance), in no zone (refused alike either way), or in a zone
  /// whose journal could not keep the difference anyway: its records alone
  /// are over the journal's byte bound, which would empty the journal
  /// (ZoneJournal::append). A zone file of 10,000,000 records seeds its zone
  /// in eight changes; all but the first add to a zone that exists. Never for
  /// a transfer, and never with a SIGNING_KEY record, which apply_op refuses.
  bool may_add_in_bulk(const Change& change) const {
    if (undo_enabled_ || ctx_.verbatim_soa) return false;
    const zone::Zone* last = nullptr;  // the zone of the previous record
    bool last_created = false;
    std::map<const zone::Zone*, size_t> grown;  // zones that exist: the diff bytes the change adds to each
    for (const Op& op : change.ops) {
      if (op.kind != OpKind::Add || op.rr.type == dns::rrtype::SIGNING_KEY) return false;
      if (op.rr.type == dns::rrtype::SOA) continue;
      const zone::Zone* z = zones_.zone_for(op.rr.owner, op.rr.type);
      if (!z) continue;
      if (z != last) {
        last = z;
        last_created = is_created(zone_key(z->apex()));
      }
      if (!last_created) grown[z] += diff_bytes(op.rr);
    }
    for (const auto& [z, bytes] : grown) {
      if (bytes <= ctx_.limits.max_bytes) return false;
    }
    return true;
  }

  /// Marks the zone at `apex` modified by a bulk add, as add() would have
  /// (finish() then treats it as any zone the change touched; a zone the
  /// change created keeps the serial its SOA gave it, and one that existed
  /// advances its serial and starts its journal again, as a difference over
  /// the journal's bound would have left it).
  void note_modified(const dns::Name& apex) {
    const zone::Zone* z = zones_.find_zone(apex);
    if (!z || z->apex() != apex) return;
    Touched& t = touch(*z);
    t.modified = true;
    if (!t.created) t.reset_journal = true;
  }

  /// Removes the zone whose apex is `apex` with every record it holds;
  /// zones nested in it stay, served on their own.
  util::Result<void> remove_zone(const dns::Name& apex) {
    const zone::Zone* z = zones_.find_zone(apex);
    if (!z || z->apex() != apex) return util::make_error(util::ErrorKind::NotFound, "no zone " + apex.to_text() + " is served");
    touch(*z).modified = true;
    std::vector<std::pair<dns::Name, uint16_t>> rrsets;
    z->nodes().for_each([&](const zone::Node& n) {
      for (const zone::RRset& s : n.rrsets) {
        if (s.type != dns::rrtype::SOA) rrsets.emplace_back(n.owner(), s.type);
      }
    });
    for (const auto& [owner, type] : rrsets) {
      // Parent-side types at a nested apex (DS) live in this zone; the rest there in the nested one.
      const zone::Zone* holder = zones_.zone_for(owner, type);
      if (holder && holder->apex() != apex) continue;
      if (auto r = zones_.remove_rrset(owner, type); !r) return r.error();
    }
    auto gone = zones_.remove_rrset(apex, dns::rrtype::SOA);
    if (!gone) return gone.error();
    return {};
  }

  /// Brings the catalog zone (RFC 9432), when one is configured, in line
  /// with the zones served: creates it if missing, adds a member for every
  /// zone and removes members of zones no longer served. Called when the
  /// settings change; finish() keeps it current change by change.
  void sync_catalog() {
    const std::optional<dns::Name>& catalog = ctx_.next.settings.catalog;
    if (!catalog) return;
    ensure_catalog(*catalog);
    const zone::Zone* cz = zones_.find_zone(*catalog);
    if (!cz || cz->apex() != *catalog) return;
    std::set<std::string> wanted;
    for (const dns::Name& apex : zones_.zone_names()) {
      if (apex == *catalog) continue;
      wanted.insert(catalog_member_id(apex));
      set_member(*catalog, apex, true);
    }
    // Members of zones no longer served.
    std::vector<dns::Name> stale;
    const dns::Name zones_label = catalog->prepend("zones").value();
    cz->nodes().for_each([&](const zone::Node& n) {
      dns::Name owner = n.owner();
      if (n.find(dns::rrtype::PTR) && owner.label_count() == zones_label.label_count() + 1 &&
          owner.is_subdomain_of(zones_label) && !wanted.count(std::string(owner.label(0)))) {
        stale.push_back(std::move(owner));
      }
    });
    for (const dns::Name& owner : stale) (void)remove_rrset(owner, dns::rrtype::PTR);
  }

  /// Keeps the catalog in line with the zones this change created or
  /// removed, then, for every zone the change modified, advances the serial
  /// by the zone's policy (unless the change set a newer one itself) and
  /// appends the exact difference to the zone's journal.
  void finish() {
    update_catalog_members();
    // The RRsets saved before their first change, grouped by zone.
    std::map<std::string, std::vector<const Saved*>> saved_by_zone;
    for (const auto& [k, s] : before_) saved_by_zone[s.zone].push_back(&s);
    auto& journals = ctx_.next.journals;
    for (auto& [key, t] : touched_) {
      const zone::Zone* z = zones_.find_zone(t.apex);
      if (!z || z->apex() != t.apex) {
        journals.erase(key);  // the zone is gone
        continue;
      }
      if (t.created) {
        journals.erase(key);  // a zone made by this change starts with no history
        continue;
      }
      if (!t.modified || !t.serial_before || !t.soa_before) continue;
      auto diff = std::make_shared<Diff>();
      for (const Saved* s : saved_by_zone[key]) add_difference(*s, *diff);
      std::optional<dns::RR> soa_now = soa_record(*z);
      if (!soa_now) continue;
      const bool soa_changed = soa_now->rdata != t.soa_before->rdata || soa_now->ttl != t.soa_before->ttl;
      if (diff->removed.empty() && diff->added.empty() && !soa_changed && !t.reset_journal) {
        continue;  // the change's operations cancelled out: no new version
      }
      if (!t.explicit_serial) {
        auto fields = dns::soa_decode(soa_now->rdata);
        if (!fields) continue;
        fields->serial = next_serial(policy_for(t.apex), *t.serial_before, ctx_.time_ms);
        soa_now->rdata = dns::soa_encode(*fields);
        (void)zones_.add(*soa_now);  // replaces the apex SOA; valid since it was stored before
      }
      if (t.reset_journal) {
        journals.erase(key);
        continue;
      }
      diff->old_soa = *t.soa_before;
      diff->new_soa = *soa_now;
      auto it = journals.find(key);
      auto journal = it == journals.end() ? std::make_shared<ZoneJournal>() : std::make_shared<ZoneJournal>(*it->second);
      journal->append(std::move(diff), ctx_.limits);
      if (journal->size() == 0) {
        journals.erase(key);  // a difference over the byte bound emptied it: as if reset
      } else {
        journals[key] = std::move(journal);
      }
    }
  }

 private:
  struct Touched {
    dns::Name apex;
    std::optional<uint32_t> serial_before;
    std::optional<dns::RR> soa_before;
    bool created = false;          // the change made this zone
    bool explicit_serial = false;  // the change set a newer serial itself
    bool modified = false;
    bool reset_journal = false;    // changed in a way no diff records (a nested zone took records)
    bool keys_added = false;  // this change added signing keys (more may follow in it)
  };

  /// An RRset as it was before this change touched it (absent: existed false).
  struct Saved {
    std::string zone;  // key of the zone holding it
    dns::Name owner;   // as the zone spells it, when it existed
    uint16_t type = 0;
    bool existed = false;
    uint32_t ttl = 0;
    std::vector<std::string> rdatas;
  };

  SerialPolicy policy_for(const dns::Name& apex) const {
    const auto& policies = ctx_.next.settings.serial_policies;
    auto it = policies.find(apex);
    return it == policies.end() ? SerialPolicy::Increment : it->second;
  }

  /// The zone that holds the RRset of `type` at `owner`: DS at a nested
  /// zone's apex lives on the parent side (RFC 4035 §2.4).
  const zone::Zone* holder(const dns::Name& owner, uint16_t type) const { return zones_.zone_for(owner, type); }

  const zone::Node* find_node(const dns::Name& owner, uint16_t type) const {
    const zone::Zone* z = holder(owner, type);
    return z ? z->find(owner) : nullptr;
  }

  void save(const dns::Name& owner, uint16_t type) {
    const zone::Zone* z = holder(owner, type);
    // The journal needs each RRset as it was before the change, once; a
    // zone the change created has no journal, and the SOA is diffed on its
    // own. Checked before anything is copied: a zone file seeding a new
    // zone adds a million records through here.
    bool for_journal = false;
    std::string zkey;
    std::pair<std::string, uint16_t> before_key;
    if (z && type != dns::rrtype::SOA) {
      zkey = zone_key(z->apex());
      if (!is_created(zkey)) {
        before_key = {owner.lowercased().wire(), type};
        for_journal = !before_.count(before_key);
      }
    }
    if (!undo_enabled_ && !for_journal) return;
    Saved s;
    s.owner = owner;
    s.type = type;
    s.zone = z ? (zkey.empty() ? zone_key(z->apex()) : zkey) : std::string();
    const zone::Node* n = z ? z->find(owner) : nullptr;
    if (const zone::RRset* rs = n ? n->find(type) : nullptr) {
      s.owner = node_owner(*n);
      s.existed = true;
      s.ttl = rs->ttl;
      s.rdatas = std::vector<std::string>(rs->rdatas);
    }
    if (for_journal) before_.emplace(std::move(before_key), s);
    if (undo_enabled_) undo_.push_back(std::move(s));
  }

  bool is_created(const std::string& key) const {
    auto it = touched_.find(key);
    return it != touched_.end() && it->second.created;
  }

  /// Adds to `diff` how the RRset saved in `s` differs from what the zone
  /// holds now: whole RRsets when the TTL changed, else record by record.
  void add_difference(const Saved& s, Diff& diff) const {
    // The private signing keys are not zone data a secondary may receive;
    // the DNSKEY, CDS and CDNSKEY published from them are.
    if (s.type == dns::rrtype::SIGNING_KEY) return;
    const zone::Node* n = find_node(s.owner, s.type);
    const zone::RRset* now = n ? n->find(s.type) : nullptr;
    std::vector<std::string> after;
    uint32_t after_ttl = 0;
    dns::Name after_owner = s.owner;
    if (now) {
      after = std::vector<std::string>(now->rdatas);
      after_ttl = now->ttl;
      after_owner = node_owner(*n);
    }
    const std::vector<std::string> none;
    const std::vector<std::string>& before = s.existed ? s.rdatas : none;
    const bool same_ttl = !s.existed || !now || s.ttl == after_ttl;
    for (const std::string& rd : before) {
      if (same_ttl && std::find(after.begin(), after.end(), rd) != after.end()) continue;
      diff.removed.push_back(dns::RR{s.owner, s.type, dns::rrclass::IN, s.ttl, rd});
    }
    for (const std::string& rd : after) {
      if (same_ttl && std::find(before.begin(), before.end(), rd) != before.end()) continue;
      diff.added.push_back(dns::RR{after_owner, s.type, dns::rrclass::IN, after_ttl, rd});
    }
  }

  /// RFC 9432 §4.1: the catalog's SOA, its NS "invalid." and its version.
  void ensure_catalog(const dns::Name& catalog) {
    const zone::Zone* cz = zones_.find_zone(catalog);
    if (cz && cz->apex() == catalog) return;
    dns::SoaFields soa;
    soa.mname = dns::Name::from_text("invalid.").value();
    soa.rname = soa.mname;
    soa.serial = 1;
    soa.refresh = 3600;
    soa.retry = 600;
    soa.expire = 2147483646;
    soa.minimum = 0;
    if (!add(dns::RR{catalog, dns::rrtype::SOA, dns::rrclass::IN, 0, dns::soa_encode(soa)})) return;
    (void)add(dns::RR{catalog, dns::rrtype::NS, dns::rrclass::IN, 0, soa.mname.wire()});
    if (auto version = catalog.prepend("version")) {
      (void)add(dns::RR{*version, dns::rrtype::TXT, dns::rrclass::IN, 0, std::string("\x01" "2", 2)});
    }
  }

  /// Adds (or removes) the member record of zone `apex` in the catalog.
  void set_member(const dns::Name& catalog, const dns::Name& apex, bool present) {
    auto zones_label = catalog.prepend("zones");
    if (!zones_label) return;
    auto owner = zones_label->prepend(catalog_member_id(apex));
    if (!owner) return;
    if (present) {
      (void)add(dns::RR{*owner, dns::rrtype::PTR, dns::rrclass::IN, 0, apex.wire()});
    } else {
      (void)remove_rrset(*owner, dns::rrtype::PTR);
    }
  }

  /// Members for the zones this change created, none for those it removed.
  void update_catalog_members() {
    const std::optional<dns::Name>& catalog = ctx_.next.settings.catalog;
    if (!catalog) return;
    std::vector<std::pair<dns::Name, bool>> members;
    for (const auto& [key, t] : touched_) {
      if (t.apex == *catalog) continue;
      const zone::Zone* z = zones_.find_zone(t.apex);
      const bool exists = z && z->apex() == t.apex;
      if (t.created && exists) members.emplace_back(t.apex, true);
      if (!exists) members.emplace_back(t.apex, false);
    }
    if (members.empty()) return;
    ensure_catalog(*catalog);
    for (const auto& [apex, present] : members) set_member(*catalog, apex, present);
  }

  Touched& touch(const zone::Zone& z) {
    auto [it, fresh] = touched_.try_emplace(zone_key(z.apex()));
    if (fresh) {
      it->second.apex = z.apex();
      it->second.serial_before = soa_serial(z);
      it->second.soa_before = soa_record(z);
    }
    return it->second;
  }

  Touched* touch_owner(const dns::Name& owner, uint16_t type) {
    const zone::Zone* z = zones_.zone_for(owner, type);
    return z ? &touch(*z) : nullptr;
  }

  ApplyContext& ctx_;
  zone::ZoneSet& zones_;
  std::map<std::string, Touched> touched_;
  std::map<std::pair<std::string, uint16_t>, Saved> before_;  // (owner, type) -> RRset before the change
  bool undo_enabled_ = false;
  std::vector<Saved> undo_;
};

/// nullopt when `r` holds a value, else its error.
template <typename T>
std::optional<util::Error> error_of(const util::Result<T>& r) {
  if (r) return std::nullopt;
  return r.error();
}

/// Applies one op: nullopt when it applied, else why not (the zone's own
/// error, or NotFound for a record or RRset that is not there to remove).
std::optional<util::Error> apply_op(ZoneEditor& zones, const Op& op) {
  if (op.rr.type == dns::rrtype::SIGNING_KEY && op.kind != OpKind::AddSigningKey && op.kind != OpKind::SetSigningKeys) {
    return util::make_error(util::ErrorKind::Refused,
                            dns::type_to_text(op.rr.type) + " holds the cluster's DNSSEC keys; it cannot be changed directly");
  }
  switch (op.kind) {
    case OpKind::AddSigningKey:
      return error_of(zones.add_signing_key(op.rr));
    case OpKind::SetSigningKeys:
      return error_of(zones.set_signing_keys(op.rr));
    case OpKind::Add:
      return error_of(zones.add(op.rr));
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
    case OpKind::RemoveZone:
      return error_of(zones.remove_zone(op.rr.owner));
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
/// (zone::ZoneSet::add_all) with the outcome one op at a time would give:
/// the same records, the same refusals at the same ops. Only where
/// ZoneEditor::may_add_in_bulk allows it, since no RRset's earlier state is
/// saved for a journal or an undo on this path.
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
    if (op.rr.type == dns::rrtype::SIGNING_KEY) {
      return {dns::rcode::REFUSED, "TYPE65300 holds the cluster's DNSSEC keys; UPDATE cannot change it"};
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
          // §3.4.2.3: at the apex, SOA and NS stay; so do the signing keys.
          if (at_apex && (type == dns::rrtype::SOA || type == dns::rrtype::NS)) continue;
          if (type == dns::rrtype::SIGNING_KEY) continue;
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

/// Why a transfer's ops no longer fit its zone (the zone moved since the
/// leader computed them), or "" when the zone is still at the transfer's base.
std::string transfer_base_moved(const zone::ZoneSet& zones, const TransferIn& t) {
  const zone::Zone* z = zones.find_zone(t.zone);
  const bool exists = z && z->apex() == t.zone;
  const std::optional<uint32_t> serial = exists ? soa_serial(*z) : std::nullopt;
  if (exists == t.from_serial.has_value() && serial == t.from_serial) return "";
  auto text = [](bool present, std::optional<uint32_t> s) {
    return !present ? std::string("absent") : s ? "at serial " + std::to_string(*s) : std::string("without an SOA");
  };
  return "transfer of " + t.zone.to_text() + " not applied: it was computed against the zone " +
         text(t.from_serial.has_value(), t.from_serial) + ", which is now " + text(exists, serial);
}

/// RFC 2136 §3: zone check, prerequisites, then updates, all or nothing.
UpdateOutcome apply_update(ApplyContext& ctx, const Update& u) {
  zone::ZoneSet& zones = ctx.next.zones;
  const zone::Zone* z = zones.find_zone(u.zone);
  if (!z || z->apex() != u.zone) {
    return {dns::rcode::NOTAUTH, "not authoritative for zone " + u.zone.to_text()};  // §3.1.1
  }
  if (UpdateOutcome pre = check_prerequisites(zones, *z, u); pre.rcode != dns::rcode::NOERROR) return pre;
  // Applied in place with an undo list rather than to a copy of the zone:
  // a refused update costs what it changed, not the size of the zone.
  ZoneEditor editor(ctx);
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

Store::Store(SessionLimits limits, JournalLimits journal)
    : journal_limits_(journal), current_(std::make_shared<const Version>()), limits_(limits) {}

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
    // Idle longer than idle_ms, said without adding to a time that may be
    // near 2^64 (a change's stamp is whatever its encoding holds).
    auto idle_too_long = [&](uint64_t last_active_ms) {
      return clock_ms_ > last_active_ms && clock_ms_ - last_active_ms > limits_.idle_ms;
    };
    while (!lru_.empty() && idle_too_long(std::get<0>(*lru_.begin()))) forget_least_recently_used();
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

ApplyResult Store::apply_one(Version& next, const Change& change, uint64_t index) {
  ApplyResult result;
  if (change.sequence != 0 && check_session(change, result)) return result;
  if (change.transfer) {
    if (std::string moved = transfer_base_moved(next.zones, *change.transfer); !moved.empty()) {
      // Every node sees the same zone here, so every node refuses alike.
      result.rcode = dns::rcode::NXRRSET;
      result.op_errors.assign(std::max<size_t>(change.ops.size(), 1), moved);
      result.op_kinds.assign(result.op_errors.size(), util::ErrorKind::Conflict);
      if (change.sequence != 0) remember(change, index, result);
      return result;
    }
  }
  ApplyContext ctx{next, change.time_ms, journal_limits_, change.transfer.has_value()};
  if (change.settings) {
    const bool catalog_changed = next.settings.catalog != change.settings->catalog;
    next.settings = *change.settings;
    if (catalog_changed) {
      ZoneEditor editor(ctx);
      editor.sync_catalog();
      editor.finish();
    }
  }
  if (change.update) {
    UpdateOutcome out = apply_update(ctx, *change.update);
    result.rcode = out.rcode;
    if (out.rcode != dns::rcode::NOERROR) result.op_errors.push_back(out.reason);
  } else {
    result.op_errors.resize(change.ops.size());
    result.op_kinds.resize(change.ops.size(), util::ErrorKind::Invalid);
    ZoneEditor editor(ctx);
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
    if (adds_in_bulk(change) && editor.may_add_in_bulk(change)) {
      apply_adds_in_bulk(next.zones, editor, change, result);
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

void Store::publish(Version next, uint64_t index) {
  current_.store(std::make_shared<const Version>(std::move(next)), std::memory_order_release);
  applied_index_.store(index, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

ApplyResult Store::apply(const Change& change, uint64_t index) {
  Version next = *version();
  ApplyResult result = apply_one(next, change, index);
  publish(std::move(next), index);
  return result;
}

std::vector<ApplyResult> Store::apply_batch(const std::vector<std::pair<Change, uint64_t>>& changes) {
  std::vector<ApplyResult> results;
  if (changes.empty()) return results;
  results.reserve(changes.size());
  Version next = *version();
  for (const auto& [change, index] : changes) results.push_back(apply_one(next, change, index));
  publish(std::move(next), changes.back().second);
  return results;
}

const ZoneJournal* Version::journal(const dns::Name& apex) const {
  auto it = journals.find(zone_key(apex));
  return it == journals.end() ? nullptr : it->second.get();
}

std::string catalog_member_id(const dns::Name& zone) {
  const std::string wire = zone.lowercased().wire();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(wire.data(), wire.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xF]);
  }
  return hex;
}

Store::Image Store::capture() const {
  Image image;
  image.version_ = version();
  image.applied_index_ = applied_index();
  image.clock_ms_ = clock_ms_;
  image.forgotten_through_ = forgotten_through_;
  image.sessions_ = sessions_;
  return image;
}

std::string Store::serialize() const { return capture().encode(); }

std::string Store::Image::encode() const {
  const Version* version = version_.get();
  const zone::ZoneSet* zones = &version->zones;
  std::string out;
  util::ByteWriter w(out);
  w.raw(kStateMagic);
  w.u64(applied_index_);
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
  // Version 4: the settings, then each zone's journal.
  const Settings& settings = version->settings;
  w.u8(settings.catalog ? 1 : 0);
  if (settings.catalog) {
    w.u8(static_cast<uint8_t>(settings.catalog->wire_length()));
    w.raw(settings.catalog->wire());
  }
  w.u32(static_cast<uint32_t>(settings.serial_policies.size()));
  for (const auto& [apex, policy] : settings.serial_policies) {
    w.u8(static_cast<uint8_t>(apex.wire_length()));
    w.raw(apex.wire());
    w.u8(static_cast<uint8_t>(policy));
  }
  w.u32(static_cast<uint32_t>(version->journals.size()));
  for (const auto& [key, journal] : version->journals) {
    w.u8(static_cast<uint8_t>(key.size()));
    w.raw(key);
    w.u32(static_cast<uint32_t>(journal->size()));
    for (const auto& diff : *journal) write_diff(w, *diff);
  }
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
  const bool v4 = magic == kStateMagic;
  if (!v2 && !v4 && magic != kStateMagicV3) return util::make_error("state: not a dns-node state image");
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
  Version next;
  if (v4) {
    auto read_name = [&r](const std::string& where) -> util::Result<dns::Name> {
      std::string_view wire = r.raw(r.u8());
      if (!r.ok()) return util::make_error("state: " + where + " is truncated");
      auto name = dns::Name::from_wire(wire);
      if (!name) return util::make_error("state: " + where + ": " + name.error().message);
      return name;
    };
    uint8_t has_catalog = r.u8();
    if (has_catalog) {
      auto catalog = read_name("catalog name");
      if (!catalog) return catalog.error();
      next.settings.catalog = std::move(catalog.value());
    }
    uint32_t policies = r.u32();
    if (!r.ok() || policies > r.remaining()) return util::make_error("state: truncated settings");
    for (uint32_t i = 0; i < policies; ++i) {
      auto apex = read_name("serial policy " + std::to_string(i));
      if (!apex) return apex.error();
      uint8_t policy = r.u8();
      if (policy > static_cast<uint8_t>(SerialPolicy::DateSerial)) return util::make_error("state: unknown serial policy");
      next.settings.serial_policies[std::move(apex.value())] = static_cast<SerialPolicy>(policy);
    }
    uint32_t journals = r.u32();
    if (!r.ok() || journals > r.remaining()) return util::make_error("state: truncated journals");
    for (uint32_t i = 0; i < journals; ++i) {
      auto apex = read_name("journal " + std::to_string(i));
      if (!apex) return apex.error();
      uint32_t count = r.u32();
      if (!r.ok() || count > r.remaining()) return util::make_error("state: journal of " + apex->to_text() + " is truncated");
      auto journal = std::make_shared<ZoneJournal>();
      for (uint32_t j = 0; j < count; ++j) {
        auto diff = read_diff(r);
        if (!diff) return util::make_error("state: journal of " + apex->to_text() + ": " + diff.error().message);
        journal->restore(std::make_shared<const Diff>(std::move(diff.value())));
      }
      next.journals[zone_key(*apex)] = std::move(journal);
    }
  }
  if (!r.ok()) return util::make_error("state: truncated");
  if (!r.at_end()) return util::make_error("state: trailing bytes");
  auto restored = restore_records(records);
  if (!restored) return restored.error();
  next.zones = std::move(restored.value());
  std::vector<dns::RR>().swap(records);
  sessions_ = std::move(sessions);
  lru_.clear();
  for (const auto& [key, session] : sessions_) lru_.insert(lru_key(key, session));
  clock_ms_ = clock_ms;
  forgotten_through_ = forgotten_through;
  publish(std::move(next), index);
  return {};
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
