// The leader's key making for online-signed zones (see include/node/dnssec_keys.h).
#include "node/dnssec_keys.h"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "dns/dnssec_sign.h"

namespace node {
namespace {

using State = dns::SigningKeyRecord::State;

/// The KSK in `state`, if any.
dns::SigningKeyRecord* ksk_in(std::vector<dns::SigningKeyRecord>& keys, State state) {
  for (auto& k : keys) {
    if (k.ksk() && k.state == state) return &k;
  }
  return nullptr;
}

uint16_t tag_of(const dns::SigningKeyRecord& k) {
  auto key = dns::SigningKey::from_private_der(k.algorithm, k.private_der);
  return key ? dns::key_tag(dns::dnskey_rdata(k.flags, k.algorithm, key->public_key())) : 0;
}

std::string state_text(State s) {
  switch (s) {
    case State::Published: return "published";
    case State::Active: return "active";
    case State::Retired: return "retired";
    case State::Ready: return "ready";
  }
  return "unknown";
}

/// The zone's key records, or why the zone has none to roll.
util::Result<std::pair<const zone::RRset*, std::vector<dns::SigningKeyRecord>>> zone_keys(const zone::ZoneSet& zones,
                                                                                         const dns::Name& apex) {
  const zone::Zone* z = zones.find_zone(apex);
  if (!z || z->apex() != apex) return util::make_error(util::ErrorKind::NotFound, "no zone " + apex.to_text() + " is served");
  const zone::Node* node = z->apex_node();
  const zone::RRset* records = node ? node->find(dns::rrtype::SIGNING_KEY) : nullptr;
  if (!records) {
    return util::make_error(util::ErrorKind::NotFound,
                            "zone " + apex.to_text() + " is not signed online (its config has no \"dnssec\": "
                            "{\"policy\": \"online\"}, or the leader has not made its keys yet)");
  }
  auto keys = decode_key_set(*records);
  if (!keys) return keys.error();
  return std::make_pair(records, std::move(keys).value());
}

}  // namespace

KskRollPhase ksk_roll_phase(const std::vector<dns::SigningKeyRecord>& keys) {
  bool published = false, ready = false, retired = false;
  for (const auto& k : keys) {
    if (!k.ksk()) continue;
    published |= k.state == State::Published;
    ready |= k.state == State::Ready;
    retired |= k.state == State::Retired;
  }
  if (retired) return KskRollPhase::Retiring;
  if (ready) return KskRollPhase::WaitingForDs;
  if (published) return KskRollPhase::Published;
  return KskRollPhase::None;
}

std::string ksk_roll_phase_text(KskRollPhase phase) {
  switch (phase) {
    case KskRollPhase::None: return "none";
    case KskRollPhase::Published: return "published";
    case KskRollPhase::WaitingForDs: return "waiting for DS";
    case KskRollPhase::Retiring: return "retiring";
  }
  return "unknown";
}

util::Result<std::vector<dns::SigningKeyRecord>> decode_key_set(const zone::RRset& records) {
  std::vector<dns::SigningKeyRecord> keys;
  for (std::string_view r : records.rdatas) {
    auto rec = dns::SigningKeyRecord::decode(r);
    if (!rec) return rec.error();
    keys.push_back(std::move(rec).value());
  }
  return keys;
}

util::Result<std::vector<dns::SigningKeyRecord>> start_ksk_roll(std::vector<dns::SigningKeyRecord> keys,
                                                                uint64_t now) {
  const KskRollPhase phase = ksk_roll_phase(keys);
  if (phase != KskRollPhase::None) {
    return util::make_error(util::ErrorKind::Conflict,
                            "a KSK roll is already under way (" + ksk_roll_phase_text(phase) + ")");
  }
  const dns::SigningKeyRecord* active = ksk_in(keys, State::Active);
  if (!active) return util::make_error(util::ErrorKind::Conflict, "the zone has no active key-signing key to roll");
  auto key = dns::SigningKey::generate(active->algorithm);
  if (!key) return key.error();
  dns::SigningKeyRecord next;
  next.flags = active->flags;
  next.algorithm = active->algorithm;
  next.state = State::Published;
  next.created = next.since = static_cast<uint32_t>(now);
  next.private_der = key->private_der();
  keys.push_back(std::move(next));
  return keys;
}

util::Result<std::vector<dns::SigningKeyRecord>> confirm_ksk_submitted(std::vector<dns::SigningKeyRecord> keys,
                                                                       uint64_t now) {
  switch (ksk_roll_phase(keys)) {
    case KskRollPhase::None:
      return util::make_error(util::ErrorKind::Conflict, "no KSK roll is in progress (KSK ROLL starts one)");
    case KskRollPhase::Published:
      // Its CDS is not out yet: a DS the parent took now could only be a guess.
      return util::make_error(util::ErrorKind::Conflict,
                              "the new KSK is published but not ready: its CDS appears roll_wait after the roll "
                              "started; submit that DS to the parent, then confirm");
    case KskRollPhase::Retiring:
      return util::make_error(util::ErrorKind::Conflict,
                              "the new DS was confirmed already; the old KSK is being retired");
    case KskRollPhase::WaitingForDs:
      break;
  }
  dns::SigningKeyRecord* ready = ksk_in(keys, State::Ready);
  for (auto& k : keys) {
    if (k.ksk() && k.state == State::Active) {
      k.state = State::Retired;
      k.since = static_cast<uint32_t>(now);
    }
  }
  ready->state = State::Active;
  ready->since = static_cast<uint32_t>(now);
  return keys;
}

store::Change key_set_change(const dns::Name& apex, const std::vector<std::string>& current,
                             const std::vector<dns::SigningKeyRecord>& next, uint32_t origin) {
  dns::KeySetChange change;
  change.expected_digest = dns::key_set_digest(current);
  for (const auto& r : next) change.records.push_back(r.encode());
  store::Change c;
  c.origin = origin;
  c.ops.push_back({store::OpKind::SetSigningKeys,
                   dns::RR{apex, dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, change.encode()}});
  return c;
}

util::Result<store::Change> ksk_command_change(const zone::ZoneSet& zones, const dns::Name& apex, KskAction action,
                                               uint64_t now, uint32_t origin) {
  auto found = zone_keys(zones, apex);
  if (!found) return found.error();
  auto& [records, keys] = *found;
  auto next = action == KskAction::Roll ? start_ksk_roll(keys, now) : confirm_ksk_submitted(keys, now);
  if (!next) return util::make_error(next.error().kind, "zone " + apex.to_text() + ": " + next.error().message);
  return key_set_change(apex, std::vector<std::string>(records->rdatas.begin(), records->rdatas.end()), *next, origin);
}

util::Result<nlohmann::json> ksk_status(const zone::ZoneSet& zones, const dns::Name& apex) {
  auto found = zone_keys(zones, apex);
  if (!found) return found.error();
  const auto& keys = found->second;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& k : keys) {
    list.push_back({{"tag", tag_of(k)},
                    {"flags", k.flags},
                    {"algorithm", k.algorithm},
                    {"state", state_text(k.state)},
                    {"created", k.created},
                    {"since", k.since}});
  }
  return nlohmann::json{{"zone", apex.to_text()}, {"ksk_roll", ksk_roll_phase_text(ksk_roll_phase(keys))}, {"keys", list}};
}

void render_dnssec_key_metrics(server::PrometheusWriter& w, const store::Store& store,
                               const std::map<std::string, ZoneConfig>& zones) {
  struct ZoneKeys {
    std::string zone;
    std::vector<dns::SigningKeyRecord> keys;
    const DnssecPolicy* policy;
  };
  std::vector<ZoneKeys> signed_zones;
  auto snap = store.snapshot();
  for (const auto& [apex_text, settings] : zones) {
    auto apex = dns::Name::from_text(apex_text);
    if (!settings.dnssec || !apex || !snap) continue;
    if (auto found = zone_keys(*snap, *apex)) signed_zones.push_back({apex_text, std::move(found->second), &*settings.dnssec});
  }
  if (signed_zones.empty()) return;
  w.family("dnsnode_dnssec_keys", "gauge", "Signing keys of online-signed zones, by kind and state.");
  for (const auto& z : signed_zones) {
    std::map<std::pair<std::string, std::string>, uint64_t> counts;
    for (const auto& k : z.keys) ++counts[{k.ksk() ? "ksk" : "zsk", state_text(k.state)}];
    for (const auto& [kind_state, n] : counts) {
      w.sample("dnsnode_dnssec_keys", {{"zone", z.zone}, {"kind", kind_state.first}, {"state", kind_state.second}}, n);
    }
  }
  w.family("dnsnode_dnssec_ksk_roll", "gauge",
           "1 for the phase of the zone's KSK roll: none, published, waiting_for_ds (KSK SUBMITTED awaited), retiring.");
  for (const auto& z : signed_zones) {
    std::string phase = ksk_roll_phase_text(ksk_roll_phase(z.keys));
    std::replace(phase.begin(), phase.end(), ' ', '_');
    for (char& c : phase) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    w.sample("dnsnode_dnssec_ksk_roll", {{"zone", z.zone}, {"phase", phase}}, uint64_t{1});
  }
  w.family("dnsnode_dnssec_next_roll_timestamp_seconds", "gauge",
           "When the next key roll starts by itself (the active key's creation plus its lifetime).");
  for (const auto& z : signed_zones) {
    for (const auto& k : z.keys) {
      if (k.state != State::Active) continue;
      const uint32_t lifetime = k.ksk() ? z.policy->ksk_lifetime : z.policy->zsk_lifetime;
      if (lifetime == 0) continue;  // a KSK without ksk_lifetime rolls on KSK ROLL only
      w.sample("dnsnode_dnssec_next_roll_timestamp_seconds", {{"zone", z.zone}, {"kind", k.ksk() ? "ksk" : "zsk"}},
               uint64_t{k.created} + lifetime);
    }
  }
}

DnssecKeeper::DnssecKeeper(std::map<std::string, ZoneConfig> zones, const store::Store& store, Submit submit,
                           std::function<bool()> is_leader, uint32_t origin)
    : store_(store),
      submit_(std::move(submit)),
      is_leader_(std::move(is_leader)),
      origin_(origin),
      session_(store::ClientSession::open()) {
  for (auto& [apex, settings] : zones) {
    if (settings.dnssec) zones_.emplace(apex, settings);
  }
}

void DnssecKeeper::tick(uint64_t now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ || zones_.empty()) return;
  }
  if (!is_leader_()) return;
  auto snapshot = store_.snapshot();
  for (const auto& [apex_text, settings] : zones_) {
    auto apex = dns::Name::from_text(apex_text);
    if (!apex) continue;
    const zone::Zone* z = snapshot->find_zone(*apex);
    if (!z || z->apex() != *apex) continue;  // not served (yet): its zone file or first change makes it
    const zone::Node* node = z->apex_node();
    if (const zone::RRset* keys = node ? node->find(dns::rrtype::SIGNING_KEY) : nullptr) {
      const uint32_t ttl = z->soa() ? z->soa()->ttl : 3600;
      if (maybe_roll(apex_text, *apex, *settings.dnssec, *keys, ttl, now)) return;
      continue;
    }

    // A key-signing key (its DS goes to the parent) and a zone-signing key.
    store::Change change;
    change.origin = origin_;
    for (uint16_t flags : {uint16_t(dns::kDnskeyZone | dns::kDnskeySep), dns::kDnskeyZone}) {
      auto key = dns::SigningKey::generate(settings.dnssec->algorithm);
      if (!key) {
        spdlog::error("zone {}: {}", apex_text, key.error().message);
        return;
      }
      dns::SigningKeyRecord record;
      record.flags = flags;
      record.algorithm = settings.dnssec->algorithm;
      record.created = static_cast<uint32_t>(now);
      record.private_der = key->private_der();
      change.ops.push_back({store::OpKind::AddSigningKey,
                            dns::RR{*apex, dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, record.encode()}});
    }
    session_.stamp(change, store_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = true;
    }
    spdlog::info("zone {}: making its DNSSEC keys (a KSK and a ZSK, algorithm {})", apex_text,
                 unsigned{settings.dnssec->algorithm});
    submit_(std::move(change), [this, apex_text = apex_text](SubmitResult r) {
      if (!r) {
        spdlog::warn("zone {}: the DNSSEC keys were not committed: {}", apex_text, r.error().message);
      } else if (!r->all_ok()) {
        // Another leader's keys came first: they are the zone's keys.
        spdlog::info("zone {}: keys not added: {}", apex_text, r->first_error());
      } else {
        spdlog::info("zone {}: DNSSEC keys committed", apex_text);
      }
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = false;
    });
    return;  // one change outstanding at a time
  }
}

bool DnssecKeeper::maybe_roll(const std::string& apex_text, const dns::Name& apex, const DnssecPolicy& policy,
                              const zone::RRset& keys, uint32_t dnskey_ttl, uint64_t now) {
  std::vector<std::string> current(keys.rdatas.begin(), keys.rdatas.end());
  auto decoded = decode_key_set(keys);
  if (!decoded) return false;
  std::vector<dns::SigningKeyRecord> records = std::move(decoded).value();
  const uint64_t wait = policy.roll_wait ? policy.roll_wait : uint64_t{dnskey_ttl} + 600;
  // The parent's DS TTL is not known here: a day (that of most top-level
  // domains) unless roll_wait is set.
  const uint64_t ds_wait = policy.roll_wait ? policy.roll_wait : std::max<uint64_t>(dnskey_ttl, 86400) + 600;
  auto zsk_in = [&](State s) -> dns::SigningKeyRecord* {
    for (auto& r : records) {
      if (!r.ksk() && r.state == s) return &r;
    }
    return nullptr;
  };
  dns::SigningKeyRecord* active = zsk_in(State::Active);
  dns::SigningKeyRecord* published = zsk_in(State::Published);
  dns::SigningKeyRecord* retired = zsk_in(State::Retired);
  dns::SigningKeyRecord* ksk_published = ksk_in(records, State::Published);
  dns::SigningKeyRecord* ksk_retired = ksk_in(records, State::Retired);
  const dns::SigningKeyRecord* ksk_active = ksk_in(records, State::Active);
  std::string step;
  // RFC 6781 §4.1.2, the KSK's double-signature roll, one step per change.
  if (ksk_published && ksk_published->since + wait <= now) {
    // 2. The new DNSKEY has reached the caches: the new KSK signs the key
    //    RRsets too, and the CDS/CDNSKEY name it for the parent.
    ksk_published->state = State::Ready;
    ksk_published->since = static_cast<uint32_t>(now);
    step = "KSK roll: the new key-signing key is ready; its CDS awaits the parent's DS and KSK SUBMITTED";
  } else if (ksk_retired && ksk_retired->since + ds_wait <= now) {
    // 4. After KSK SUBMITTED (3.), the old DS has left caches: remove the old KSK.
    records.erase(records.begin() + (ksk_retired - records.data()));
    step = "KSK roll: removed the old key-signing key";
  } else if (policy.ksk_lifetime && ksk_active && ksk_roll_phase(records) == KskRollPhase::None &&
             ksk_active->created + uint64_t{policy.ksk_lifetime} <= now) {
    // 1. The KSK's lifetime is over: publish the next one.
    auto next = start_ksk_roll(records, now);
    if (!next) return false;
    records = std::move(next).value();
    step = "KSK roll: published the next key-signing key (ksk_lifetime)";
  } else if (retired && retired->since + wait <= now) {
    // RFC 6781 §4.1.1.1, the ZSK's pre-publication roll.
    // 3. Signatures made with the old key have expired from caches: remove it.
    records.erase(records.begin() + (retired - records.data()));
    step = "ZSK roll: removed the retired zone-signing key";
  } else if (published && !retired && published->since + wait <= now) {
    // 2. The new key's DNSKEY has reached the caches: it signs, the old rests.
    published->state = State::Active;
    published->since = static_cast<uint32_t>(now);
    if (active) {
      active->state = State::Retired;
      active->since = static_cast<uint32_t>(now);
    }
    step = "ZSK roll: the new zone-signing key signs; the old one is retired";
  } else if (active && !published && !retired && active->created + uint64_t{policy.zsk_lifetime} <= now) {
    // 1. Publish the next key before it signs.
    auto key = dns::SigningKey::generate(active->algorithm);
    if (!key) return false;
    dns::SigningKeyRecord next;
    next.flags = dns::kDnskeyZone;
    next.algorithm = active->algorithm;
    next.state = State::Published;
    next.created = next.since = static_cast<uint32_t>(now);
    next.private_der = key->private_der();
    records.push_back(std::move(next));
    step = "ZSK roll: published the next zone-signing key";
  } else {
    return false;
  }
  store::Change c = key_set_change(apex, current, records, origin_);
  session_.stamp(c, store_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = true;
  }
  spdlog::info("zone {}: {}", apex_text, step);
  submit_(std::move(c), [this, apex_text](SubmitResult r) {
    if (!r) {
      spdlog::warn("zone {}: the key roll step was not committed: {}", apex_text, r.error().message);
    } else if (!r->all_ok()) {
      spdlog::info("zone {}: key roll step not applied: {}", apex_text, r->first_error());
    }
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = false;
  });
  return true;
}

}  // namespace node
